"""The machine a benchmark ran on, printed with every benchmark's figures."""

from __future__ import annotations

import os
import platform
import resource
import sys


def describe() -> str:
    try:
        import duckdb

        duck = duckdb.__version__
    except ImportError:  # pragma: no cover - duckdb is a dependency
        duck = "absent"
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kb = int(fh.readline().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
            f"{os.cpu_count()} cpu{mem}, python {sys.version.split()[0]}, duckdb {duck}")


def peak_rss_mib() -> float:
    """Peak resident memory of this process and its finished children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024

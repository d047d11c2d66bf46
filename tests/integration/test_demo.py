"""The one-command demo, small: it runs end to end, writes its outputs, and stops every
process it started — also when interrupted with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DEMO = [sys.executable, "-m", "behindglass.cli.main", "demo"]


def children_of(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run([*DEMO, "--sites", "2", "--persons", "1500", "--out", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["state"] == "complete"
    sites = results["demo"]["sites"]
    assert sites == ["midwest-academic", "rural-community"]
    persons = results["combined"]["Population"]["tables"]["persons"]["rows"][0]
    assert persons["pooled"] == 3000 and persons["complete"]
    page = (out / "report.html").read_text()
    assert "<svg" in page and "Type 2 diabetes" in page
    for site in sites:
        assert (out / "sites" / site / "cdm.duckdb").exists()
        verify = subprocess.run([sys.executable, "-m", "behindglass.cli.main", "audit",
                                 "verify", str(out / "sites" / site / "audit" / "audit.jsonl")],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "finished in" in proc.stdout


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.Popen([*DEMO, "--sites", "2", "--persons", "1500", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        started: list[int] = []
        while time.monotonic() < deadline:
            started = children_of(proc.pid)
            hub_up = any(b"hub" in Path(f"/proc/{p}/cmdline").read_bytes()
                         for p in started if Path(f"/proc/{p}/cmdline").exists())
            if hub_up and len(started) >= 3:
                break
            time.sleep(0.1)
        assert len(started) >= 3, "the demo never started its hub and site agents"
        # Ctrl-C in a terminal signals the whole foreground process group
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        assert proc.returncode != 0
        time.sleep(0.5)
        alive = [p for p in started if Path(f"/proc/{p}").exists()
                 and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
        assert alive == [], f"processes left running: {alive}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

"""A throwaway PostgreSQL server for the tests and for CI, from the Debian binaries.

Standard library only, so ``.ci/run`` can call it with the system ``python3`` before the
virtualenv exists::

    eval "$(python3 tests/pg_server.py start)"   # sets BEHINDGLASS_TEST_PG_URL and BG_PG_DIR
    python3 tests/pg_server.py stop "$BG_PG_DIR"

The server listens on a free loopback port with trust authentication, keeps its data and
its unix socket in one temporary directory, and trades durability for speed (``fsync=off``):
it lives for one test run. initdb refuses to run as root, so as root every server process
runs as the ``postgres`` system user (which owns the temporary directory).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"


class Unavailable(RuntimeError):
    """No server could be started here; the message says why."""


def find_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian layout first, then PATH)."""
    found = [p for p in Path("/").glob(BIN_GLOB.lstrip("/")) if (p / "pg_ctl").exists()]
    found.sort(key=lambda p: _version(p.parent.name))
    if found:
        return found[-1]
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in name.split(".") if x.isdigit())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    root: Path
    bin: Path
    port: int
    prefix: tuple[str, ...]  # runs a command as the server's user

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        stop(self.root, self.bin, self.prefix)


def _run(prefix: tuple[str, ...], *args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [*prefix, *(str(a) for a in args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _prefix() -> tuple[str, ...]:
    if os.geteuid() != 0:
        return ()
    if shutil.which("runuser") is None:
        raise Unavailable("running as root and runuser is missing (initdb refuses root)")
    return ("runuser", "-u", SERVER_USER, "--")


def start(bin_dir: Path | None = None) -> Server:
    """Initialise and start a server; raises :class:`Unavailable` saying why it could not."""
    bin_dir = bin_dir or find_bin()
    if bin_dir is None:
        raise Unavailable(f"no PostgreSQL binaries ({BIN_GLOB}/pg_ctl not found)")
    prefix = _prefix()
    root = Path(tempfile.mkdtemp(prefix="behindglass-pg-"))
    try:
        if prefix:
            try:
                user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise Unavailable(f"running as root and there is no {SERVER_USER!r} user") from None
            os.chown(root, user.pw_uid, user.pw_gid)
        init = _run(prefix, bin_dir / "initdb", "-D", root / "data", "-U", "postgres",
                    "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        if init.returncode != 0:
            raise Unavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        return _start_on_free_port(root, bin_dir, prefix)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _start_on_free_port(root: Path, bin_dir: Path, prefix: tuple[str, ...]) -> Server:
    # Another process may take the port between our probe and the server's bind: retry.
    last = ""
    for _ in range(3):
        port = _free_port()
        opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off")
        done = _run(prefix, bin_dir / "pg_ctl", "-D", root / "data", "-l", root / "server.log",
                    "-w", "-t", "60", "-o", opts, "start")
        if done.returncode == 0:
            return Server(root, bin_dir, port, prefix)
        log = root / "server.log"
        last = log.read_text(errors="replace")[-500:] if log.exists() else done.stderr
    raise Unavailable(f"pg_ctl start failed: {last.strip()}")


def stop(root: Path, bin_dir: Path | None = None, prefix: tuple[str, ...] | None = None) -> None:
    """Stop the server living in ``root`` and delete its files."""
    bin_dir = bin_dir or find_bin()
    prefix = _prefix() if prefix is None else prefix
    if bin_dir is not None and (root / "data" / "postmaster.pid").exists():
        _run(prefix, bin_dir / "pg_ctl", "-D", root / "data", "-m", "fast", "-w", "stop")
    shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        try:
            server = start()
        except Unavailable as exc:
            print(f"cannot start PostgreSQL: {exc}", file=sys.stderr)
            return 1
        print(f"export BEHINDGLASS_TEST_PG_URL={shlex.quote(server.url)}")
        print(f"export BG_PG_DIR={shlex.quote(str(server.root))}")
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        stop(Path(argv[1]))
        return 0
    print("usage: pg_server.py start | stop DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A whole network on this machine: a real hub and one real site agent per site database,
each its own OS process talking HTTP on loopback. For dry runs, demos, tests and
benchmarks; the processes are exactly the ones a real deployment runs.

It is a signed network by default, like a real one: ``network init`` makes its identities in
``workdir/identity``, the hub is started with the roster and its key, each site finds its
key, the roster and the hub's public key in its home (where ``network init`` would put them),
and :meth:`LocalNetwork.connect` signs studies and checks releases. ``signed=False`` runs the
hub in development mode instead.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from behindglass.core.errors import NetworkError
from behindglass.hub.state import HubState

RESEARCHER = "researcher"


def _is_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.lower().startswith(("postgresql://",
                                                                   "postgres://"))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def local_policy(min_cell: int) -> str:
    """The policy of a dry-run site: the defaults, with the local researcher trusted."""
    return (f'version = 1\nrevision = "local network"\n\n[disclosure]\nmin_cell = {min_cell}\n'
            f'\n[approvals]\ntrusted_researchers = ["{RESEARCHER}"]\n')


class LocalNetwork:
    """Start with ``with LocalNetwork({...}, workdir=...) as net:``; stops on exit, Ctrl-C too.

    ``sites`` maps site names to OMOP stores: DuckDB files or ``postgresql://...?schema=``
    URLs (handed to the site process in a file, not its argv, as a URL may hold a
    password). Tokens are created in the hub's state
    before it starts. Each site has its home in ``workdir/sites/NAME`` (its audit log in
    ``audit/audit.jsonl``); its policy is ``policies[NAME]`` if given, otherwise the defaults
    with ``min_cell`` and this network's researcher trusted, so studies run without waiting
    for a steward
    and each process's output to ``workdir/logs/NAME.log``.
    """

    def __init__(self, sites: Mapping[str, str | Path], *, workdir: str | Path,
                 min_cell: int = 11, host: str = "127.0.0.1", port: int | None = None,
                 poll_wait: float = 20.0,
                 policies: Mapping[str, str | Path] | None = None,
                 signed: bool = True) -> None:
        if not sites:
            raise NetworkError("a local network needs at least one site database")
        self.sites: dict[str, str | Path] = {
            name: db if _is_url(db) else Path(db) for name, db in sites.items()}
        missing = [str(db) for db in self.sites.values()
                   if isinstance(db, Path) and not db.exists()]
        if missing:
            raise NetworkError(f"site database(s) not found: {missing}")
        self.workdir = Path(workdir)
        self.min_cell = min_cell
        self.policies = dict(policies or {})
        stray = sorted(set(self.policies) - set(self.sites))
        if stray:
            raise NetworkError(f"policy file(s) given for unknown site(s) {stray}")
        self.signed = signed
        self.host = host
        self.port = port or free_port(host)
        self.poll_wait = poll_wait
        self.url = f"http://{host}:{self.port}"
        self.researcher_token = ""
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def home(self, site: str) -> Path:
        """The site's home (policy, approvals, ledgers, audit): ``workdir/sites/NAME``."""
        return self.workdir / "sites" / site

    def audit_path(self, site: str) -> Path:
        from behindglass.site.home import SiteHome  # the site package pulls in the engine

        return SiteHome(self.home(site)).audit_path

    def _init_home(self, site: str) -> Path:
        """A home whose policy trusts this network's one researcher (you), unless a policy
        file was given for the site."""
        from behindglass.site.home import SiteHome

        given = self.policies.get(site)
        text = (Path(given).read_text(encoding="utf-8") if given is not None
                else local_policy(self.min_cell))
        home = SiteHome.init(self.home(site), text)
        if given is not None:  # a re-used workdir keeps no stale policy
            home.policy_path.write_text(text, encoding="utf-8")
        return home.root

    @property
    def identity(self) -> Path:
        """``network init``'s output for this network: keys, certificates, the roster."""
        return self.workdir / "identity"

    def _init_identity(self) -> list[str]:
        """Make this network's identities, or keep those of an earlier start in the same
        workdir if they name the same members (a site's audit log stays signed by one key),
        and return the hub's signing options."""
        from behindglass.core.errors import BehindGlassError
        from behindglass.core.signing import VerifyKey
        from behindglass.governance.identity import init_network, load_roster

        wanted = {("hub", "hub"), ("researcher", RESEARCHER),
                  *(("site", name) for name in self.sites)}
        try:
            roster = load_roster(self.identity / "network.json",
                                 VerifyKey.load(self.identity / "hub.pub"))
            # identities made before sealed results existed lack the researcher's key
            keep = ({(m.role, m.name) for m in roster.members} == wanted and
                    roster.member(RESEARCHER, "researcher").encryption_key is not None)
        except BehindGlassError:
            keep = False
        if not keep:
            init_network(self.identity, hub_host=self.host, sites=list(self.sites),
                         researchers=[RESEARCHER], force=True)
        hub = self.identity / "hub"
        return ["--roster", str(hub / "network.json"), "--signing-key", str(hub / "signing.key")]

    def _give_keys(self, site: str, home: Path) -> None:
        """Put the site's signing key, the roster and the hub's public key into its home,
        where ``network init`` lays them out and the agent looks for them."""
        given = self.identity / "sites" / site
        (home / "keys").mkdir(mode=0o700, exist_ok=True)
        for src, dst in ((given / "keys" / "signing.key", home / "keys" / "signing.key"),
                         (given / "keys" / "signing.pub", home / "keys" / "signing.pub"),
                         (given / "network.json", home / "network.json"),
                         (given / "hub.pub", home / "hub.pub")):
            tmp = dst.with_name(dst.name + ".tmp")
            shutil.copy2(src, tmp)  # keeps the key's 0600
            tmp.replace(dst)

    def _spawn(self, name: str, args: list[str]) -> None:
        log_dir = self.workdir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        self._procs[name] = subprocess.Popen(
            [sys.executable, "-m", "behindglass.cli.main", *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hub = self._procs["hub"]
            if hub.poll() is not None:
                raise NetworkError(f"the hub exited with code {hub.returncode}; see "
                                   f"{self.workdir / 'logs' / 'hub.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise NetworkError(f"the hub did not answer on {self.url} within {timeout:.0f} s")

    def _wait_polling(self, timeout: float) -> None:
        """Until every agent has asked the hub for work once: a study submitted after
        start() then waits for no agent's start-up."""
        deadline = time.monotonic() + timeout
        waiting = set(self.sites)
        headers = {"Authorization": f"Bearer {self.researcher_token}"}
        while time.monotonic() < deadline:
            self.check_running()
            with contextlib.suppress(httpx.HTTPError):
                reply = httpx.get(f"{self.url}/api/v1/sites", headers=headers, timeout=1.0)
                if reply.status_code == 200:
                    waiting -= {s["name"] for s in reply.json() if s.get("last_seen")}
            if not waiting:
                return
            time.sleep(0.05)
        raise NetworkError(f"site agent(s) {sorted(waiting)} did not reach the hub within "
                           f"{timeout:.0f} s; logs in {self.workdir / 'logs'}")

    def start(self, timeout: float = 30.0) -> LocalNetwork:
        state_dir = self.workdir / "hub"
        state = HubState(state_dir)
        try:
            site_tokens = {name: state.add_principal(name, "site") for name in self.sites}
            self.researcher_token = state.add_principal(RESEARCHER, "researcher")
        finally:
            state.close()
        try:
            signing = self._init_identity() if self.signed else []
            self._spawn("hub", ["hub", "serve", "--state", str(state_dir), "--host", self.host,
                                "--port", str(self.port), *signing])
            self._wait_healthy(timeout)
            for name, db in self.sites.items():
                site_dir = self._init_home(name)
                if self.signed:
                    self._give_keys(name, site_dir)
                # a token file, not an argument: argv is visible to every local user
                token_file = site_dir / "site.token"
                token_file.touch(mode=0o600)
                token_file.write_text(site_tokens[name], encoding="utf-8")
                db_file = site_dir / "site.db"
                db_file.touch(mode=0o600)
                db_file.write_text(str(db), encoding="utf-8")
                self._spawn(name, [
                    "site", "serve", "--db-file", str(db_file), "--hub", self.url,
                    "--name", name, "--token-file", str(token_file),
                    "--home", str(site_dir), "--wait", str(self.poll_wait),
                    "--threads", "1",  # all agents share this machine's cores
                ])
            self._wait_polling(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def check_running(self) -> None:
        dead = {n: p.returncode for n, p in self._procs.items() if p.poll() is not None}
        if dead:
            raise NetworkError(f"process(es) exited: {dead}; logs in {self.workdir / 'logs'}")

    def connect(self):  # -> behindglass.client.network.Network
        """A researcher connection; on a signed network it signs studies with the
        researcher's key, checks every release against the roster and opens sealed
        results with the researcher's encryption key."""
        from behindglass.client.network import connect

        if not self.signed:
            return connect(self.url, self.researcher_token)
        from behindglass.core.sealing import EncryptionKey
        from behindglass.core.signing import SigningKey, VerifyKey
        from behindglass.governance.identity import load_roster

        mine = self.identity / "researchers" / RESEARCHER
        roster = load_roster(mine / "network.json", VerifyKey.load(mine / "hub.pub"))
        return connect(self.url, self.researcher_token, roster=roster,
                       signing_key=SigningKey.load(mine / "keys" / "signing.key"),
                       encryption_key=EncryptionKey.load(mine / "keys" / "encryption.key"))

    def stop(self, grace: float = 5.0) -> None:
        """Stop site agents first, then the hub: SIGTERM, then SIGKILL after ``grace``."""
        order = [n for n in self._procs if n != "hub"] + (["hub"] if "hub" in self._procs else [])
        for name in order:
            proc = self._procs[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name in order:
            proc = self._procs[name]
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> LocalNetwork:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

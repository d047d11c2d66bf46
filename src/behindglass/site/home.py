"""A site's home directory: everything the site keeps for its governance, in one place.

::

    SITE_HOME/
      policy.toml          the steward's policy (docs/policy.md)
      approvals.sqlite     study requests, decisions, held outputs
      ledger.sqlite        what was released to whom (membership fingerprints only)
      tables.sqlite        the person tables released (scope, counts, cells hidden)
      budget.sqlite        differential-privacy epsilon spent per researcher and study
      audit/audit.jsonl    the hash-chained audit log (signed when keys/signing.key exists)
      keys/ledger.key      the key of the ledger's membership fingerprints (never leaves)
      keys/signing.key     the site's Ed25519 key from `behindglass network init` (optional):
                           it signs the audit log and the site's releases
      keys/tls.crt, .key   the site's client certificate, for a hub that asks for mutual TLS
      ca.crt, hub.pub      the network's CA and the hub's public key
      network.json         the network's roster, signed by the hub

``behindglass network init`` lays out ``OUT/sites/NAME`` exactly so: run ``site init`` on that
directory and the site finds its keys without any option.

``behindglass site init DIR`` creates it; ``behindglass site serve --home DIR`` and the
steward's commands use it.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from behindglass.core.errors import PolicyError
from behindglass.core.keyfiles import write_atomic

POLICY = "policy.toml"
LEDGER_KEY_BYTES = 32


class SiteHome:
    """Paths of one site's home directory, and its one-time set-up."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def policy_path(self) -> Path:
        return self.root / POLICY

    @property
    def approvals_path(self) -> Path:
        return self.root / "approvals.sqlite"

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.sqlite"

    @property
    def tables_path(self) -> Path:
        return self.root / "tables.sqlite"

    @property
    def budget_path(self) -> Path:
        return self.root / "budget.sqlite"

    @property
    def audit_path(self) -> Path:
        return self.root / "audit" / "audit.jsonl"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def signing_key_path(self) -> Path:
        return self.keys / "signing.key"

    @property
    def ca_path(self) -> Path:
        return self.root / "ca.crt"

    @property
    def roster_path(self) -> Path:
        return self.root / "network.json"

    @property
    def hub_key_path(self) -> Path:
        return self.root / "hub.pub"

    @property
    def client_cert(self) -> tuple[Path, Path]:
        return self.keys / "tls.crt", self.keys / "tls.key"

    def existing(self, path: Path) -> Path | None:
        return path if path.is_file() else None

    def check(self) -> SiteHome:
        """Fail with what to do when the directory was never set up."""
        if not self.policy_path.is_file():
            raise PolicyError(f"{self.root}: not a site home (no {POLICY}); create one with "
                              f"'behindglass site init {self.root}'")
        if not (self.keys / "ledger.key").is_file():
            raise PolicyError(f"{self.keys / 'ledger.key'}: missing; 'behindglass site init "
                              f"{self.root}' creates it")
        return self

    def ledger_key(self) -> bytes:
        return (self.keys / "ledger.key").read_bytes()

    @classmethod
    def init(cls, root: str | Path, policy_text: str) -> SiteHome:
        """Create the directory, a policy file (kept if one exists) and the ledger key.
        Running it again changes nothing that exists."""
        home = cls(root)
        home.root.mkdir(parents=True, exist_ok=True)
        (home.root / "audit").mkdir(exist_ok=True)
        home.keys.mkdir(mode=0o700, exist_ok=True)
        if not home.policy_path.exists():
            _write_new(home.policy_path, policy_text.encode("utf-8"), 0o644)
        if not (home.keys / "ledger.key").exists():
            _write_new(home.keys / "ledger.key", secrets.token_bytes(LEDGER_KEY_BYTES), 0o600)
        return home


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write then rename, so a crash leaves no half-written key or policy."""
    write_atomic(path, data, mode)

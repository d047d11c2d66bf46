"""Sites publish their audit chain heads to the hub, which keeps every one: a site cannot
publish a second, different head for an entry it already published (its log was rewritten),
and the network admin can list what each site's log must still contain."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from behindglass.governance.audit import AuditLog, read_entries, verify
from behindglass.hub import create_app

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def hub(tmp_path: Path):
    app = create_app(tmp_path / "state")
    tokens = {name: app.state.hub.add_principal(name, role) for name, role in (
        ("site-a", "site"), ("site-b", "site"), ("alice", "researcher"), ("root", "admin"))}
    with TestClient(app) as client:
        yield client, tokens, tmp_path / "state"


def test_a_sites_published_heads_prove_a_later_rewrite(hub, tmp_path: Path) -> None:
    client, tokens, state = hub
    log = tmp_path / "site-a.jsonl"
    with AuditLog(log) as audit:
        for n in range(3):
            entry = audit.append("release", {"n": n})
            r = client.post(f"{API}/audit/head", json={"seq": entry["seq"],
                                                       "head": entry["hash"]},
                            headers=bearer(tokens["site-a"]))
            assert r.status_code == 204, r.text
    # the same head again is fine (a retry); another hash for entry 1 is a rewritten log
    first = [e for _, e in read_entries(log)][1]
    again = client.post(f"{API}/audit/head", json={"seq": 1, "head": first["hash"]},
                        headers=bearer(tokens["site-a"]))
    assert again.status_code == 204
    forged = client.post(f"{API}/audit/head", json={"seq": 1, "head": "f" * 64},
                         headers=bearer(tokens["site-a"]))
    assert forged.status_code == 409 and "rewritten" in forged.json()["detail"]

    heads = client.get(f"{API}/sites/site-a/audit-heads", headers=bearer(tokens["root"]))
    assert heads.status_code == 200
    assert [h["seq"] for h in heads.json()] == [0, 1, 2]
    # each published head is in the site's log; after a cut of the last entry it is not
    for h in heads.json():
        assert verify(log, expect_hash=h["head"]).ok
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]))
    assert not verify(log, expect_hash=heads.json()[-1]["head"]).ok
    # the hub's own log recorded each head it was sent
    hub_events = [e for _, e in read_entries(state / "audit" / "hub.jsonl")]
    assert sum(e["event"] == "site_audit_head" for e in hub_events) == 4


def test_only_the_admin_lists_a_sites_heads_and_a_site_only_its_own(hub) -> None:
    client, tokens, _ = hub
    client.post(f"{API}/audit/head", json={"seq": 0, "head": "a" * 64},
                headers=bearer(tokens["site-b"]))
    assert client.get(f"{API}/sites/site-b/audit-heads",
                      headers=bearer(tokens["alice"])).status_code == 403
    assert client.get(f"{API}/sites/site-b/audit-heads",
                      headers=bearer(tokens["site-a"])).status_code == 403
    assert client.get(f"{API}/sites/nowhere/audit-heads",
                      headers=bearer(tokens["root"])).status_code == 404
    own = client.get(f"{API}/audit/heads", headers=bearer(tokens["site-a"]))
    assert own.status_code == 200 and own.json() == []
    assert client.get(f"{API}/audit/heads",
                      headers=bearer(tokens["site-b"])).json()[0]["head"] == "a" * 64

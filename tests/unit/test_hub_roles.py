"""Roles at the hub: every endpoint but /health wants a token; admins manage principals and
see progress but never results; viewers read only what was shared with them; revocation
bites on the very next request; another researcher's study looks like a missing one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from behindglass.governance.audit import read_entries
from behindglass.hub import create_app
from behindglass.hub.tokens import check_name

API = "/api/v1"
STUDY = {"title": "Who is in the network", "cohorts": {"all": {}},
         "analyses": [{"kind": "cohort_count", "name": "CohortCount", "cohort": "all"}]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Net:
    """A hub with a site, two researchers, a viewer and an admin."""

    def __init__(self, app: FastAPI, client: TestClient, tokens: dict[str, str]) -> None:
        self.app = app
        self.c = client
        self.tokens = tokens

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])

    def submit(self, who: str = "alice") -> str:
        r = self.c.post(f"{API}/studies", json=STUDY, headers=self.as_(who))
        assert r.status_code == 201, r.text
        return r.json()["study_id"]


@pytest.fixture
def net(tmp_path: Path):
    app = create_app(tmp_path / "state")
    state = app.state.hub
    tokens = {name: state.add_principal(name, role) for name, role in (
        ("site-a", "site"), ("alice", "researcher"), ("bob", "researcher"),
        ("vera", "viewer"), ("root", "admin"))}
    with TestClient(app) as client:
        yield Net(app, client, tokens)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_endpoint_but_health_needs_a_token(net: Net) -> None:
    paths = net.app.openapi()["paths"]
    operations = [(method.upper(), path) for path, ops in paths.items() for method in ops]
    assert len(operations) >= 12  # the check below must actually cover the API
    for method, path in operations:
        r = net.c.request(method, _concrete(path), json={})
        if path == f"{API}/health":
            assert r.status_code == 200
            continue
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        bad = net.c.request(method, _concrete(path), json={}, headers=bearer("not-a-token"))
        assert bad.status_code == 401, (method, path)


def test_no_token_is_401_before_the_body_is_read_or_a_route_is_matched(net: Net) -> None:
    garbage = {"Content-Type": "application/json"}
    r = net.c.post(f"{API}/studies", content=b"{not json", headers=garbage)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    r = net.c.post(f"{API}/studies", content=b"{not json",
                   headers={**garbage, **bearer("not-a-token")})
    assert r.status_code == 401 and "unknown" in r.json()["detail"]
    # which paths exist is not told to strangers either
    assert net.c.get(f"{API}/no-such-thing").status_code == 401
    assert net.c.get(f"{API}/studies", headers={"Authorization": "Basic YTpi"}).status_code == 401
    # with a token, the same broken body is the caller's mistake, said as such
    r = net.c.post(f"{API}/studies", content=b"{not json", headers={**garbage, **net.as_("alice")})
    assert r.status_code == 422


def test_wrong_role_is_403_naming_the_role_wanted(net: Net) -> None:
    r = net.c.post(f"{API}/studies", json=STUDY, headers=net.as_("vera"))
    assert r.status_code == 403 and "for researchers" in r.json()["detail"]
    assert "viewer 'vera'" in r.json()["detail"]
    r = net.c.get(f"{API}/principals", headers=net.as_("alice"))
    assert r.status_code == 403 and "for admins" in r.json()["detail"]
    r = net.c.get(f"{API}/studies", headers=net.as_("site-a"))
    assert r.status_code == 403 and "researchers" in r.json()["detail"]
    r = net.c.get(f"{API}/tasks/next", headers=net.as_("root"))
    assert r.status_code == 403 and "for sites" in r.json()["detail"]


def test_admin_sees_every_status_but_never_a_result(net: Net) -> None:
    mine, theirs = net.submit("alice"), net.submit("bob")
    listed = net.c.get(f"{API}/studies", headers=net.as_("root")).json()
    assert [s["study_id"] for s in listed] == [mine, theirs]
    r = net.c.get(f"{API}/studies/{theirs}", headers=net.as_("root"))
    assert r.status_code == 200 and r.json()["researcher"] == "bob"
    r = net.c.get(f"{API}/studies/{theirs}/results", headers=net.as_("root"))
    assert r.status_code == 403 and "researchers or viewers" in r.json()["detail"]
    # an admin cannot share or submit either: sharing is the owner's decision
    r = net.c.post(f"{API}/studies/{mine}/viewers", json={"viewer": "vera"},
                   headers=net.as_("root"))
    assert r.status_code == 403


def test_viewer_reads_only_what_was_shared(net: Net) -> None:
    sid, other = net.submit("alice"), net.submit("alice")
    vera = net.as_("vera")
    assert net.c.get(f"{API}/studies", headers=vera).json() == []
    for path in (f"/studies/{sid}", f"/studies/{sid}/results"):
        assert net.c.get(API + path, headers=vera).status_code == 404
    r = net.c.post(f"{API}/studies/{sid}/viewers", json={"viewer": "vera"},
                   headers=net.as_("alice"))
    assert r.status_code == 201 and r.json() == {"study_id": sid, "viewers": ["vera"]}
    assert [s["study_id"] for s in net.c.get(f"{API}/studies", headers=vera).json()] == [sid]
    assert net.c.get(f"{API}/studies/{sid}", headers=vera).status_code == 200
    results = net.c.get(f"{API}/studies/{sid}/results", headers=vera)
    assert results.status_code == 200 and results.json()["study_id"] == sid
    # the other study of the same owner stays closed; the viewer cannot widen the share
    assert net.c.get(f"{API}/studies/{other}/results", headers=vera).status_code == 404
    r = net.c.post(f"{API}/studies/{other}/viewers", json={"viewer": "vera"}, headers=vera)
    assert r.status_code == 403
    # unsharing closes it again at once
    r = net.c.delete(f"{API}/studies/{sid}/viewers/vera", headers=net.as_("alice"))
    assert r.status_code == 200 and r.json()["viewers"] == []
    assert net.c.get(f"{API}/studies/{sid}/results", headers=vera).status_code == 404
    assert net.c.get(f"{API}/studies", headers=vera).json() == []


def test_only_the_owner_shares_and_another_study_looks_missing(net: Net) -> None:
    sid = net.submit("alice")
    bob = net.as_("bob")
    missing = net.c.post(f"{API}/studies/st-000000000000/viewers", json={"viewer": "vera"},
                         headers=bob)
    foreign = net.c.post(f"{API}/studies/{sid}/viewers", json={"viewer": "vera"}, headers=bob)
    assert missing.status_code == foreign.status_code == 404
    # the same answer, word for word, as for a study that does not exist
    assert (foreign.json()["detail"].replace(sid, "ID")
            == missing.json()["detail"].replace("st-000000000000", "ID"))
    assert "alice" not in foreign.text
    assert net.c.get(f"{API}/studies/{sid}/viewers", headers=bob).status_code == 404
    assert net.c.get(f"{API}/studies/{sid}/results", headers=bob).status_code == 404
    # only viewers can be shared with: not a researcher, not an unknown name
    for name in ("bob", "nobody"):
        r = net.c.post(f"{API}/studies/{sid}/viewers", json={"viewer": name},
                       headers=net.as_("alice"))
        assert r.status_code == 422 and name in r.json()["detail"]


def test_admin_registers_and_revocation_is_immediate(net: Net, tmp_path: Path) -> None:
    root = net.as_("root")
    r = net.c.post(f"{API}/principals", json={"name": "carol", "role": "researcher"},
                   headers=root)
    assert r.status_code == 201
    carol = bearer(r.json()["token"])
    assert net.c.get(f"{API}/studies", headers=carol).status_code == 200
    assert r.json()["token"].encode() not in (tmp_path / "state" / "hub.sqlite").read_bytes()
    again = net.c.post(f"{API}/principals", json={"name": "carol", "role": "researcher"},
                       headers=root)
    assert again.status_code == 409
    r = net.c.delete(f"{API}/principals/carol", headers=root)
    assert r.status_code == 200 and r.json()["revoked"]
    r = net.c.get(f"{API}/studies", headers=carol)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert net.c.delete(f"{API}/principals/carol", headers=root).status_code == 409
    listed = {(p["role"], p["name"]): p for p in
              net.c.get(f"{API}/principals", headers=root).json()}
    assert listed[("researcher", "carol")]["revoked"]
    assert listed[("viewer", "vera")]["revoked"] is None
    assert "token" not in str(listed)
    # the hub's audit log says who changed access
    events = [e["event"] for _, e in read_entries(tmp_path / "state" / "audit" / "hub.jsonl")]
    assert {"principal_added", "principal_revoked"} <= set(events)


def test_revoked_site_and_viewer_lose_access(net: Net) -> None:
    sid = net.submit("alice")
    net.c.post(f"{API}/studies/{sid}/viewers", json={"viewer": "vera"},
               headers=net.as_("alice"))
    root = net.as_("root")
    assert net.c.delete(f"{API}/principals/vera", headers=root).status_code == 200
    assert net.c.get(f"{API}/studies/{sid}/results", headers=net.as_("vera")).status_code == 401
    # a revoked viewer cannot be shared with again
    r = net.c.post(f"{API}/studies/{sid}/viewers", json={"viewer": "vera"},
                   headers=net.as_("alice"))
    assert r.status_code == 422
    assert net.c.delete(f"{API}/principals/site-a", headers=root).status_code == 200
    assert net.c.get(f"{API}/tasks/next", headers=net.as_("site-a")).status_code == 401


def test_revoke_needs_a_role_for_shared_names_and_never_oneself(net: Net) -> None:
    root = net.as_("root")
    for role in ("site", "researcher"):
        r = net.c.post(f"{API}/principals", json={"name": "twin", "role": role}, headers=root)
        assert r.status_code == 201
    r = net.c.delete(f"{API}/principals/twin", headers=root)
    assert r.status_code == 409 and "role" in r.json()["detail"]
    r = net.c.delete(f"{API}/principals/twin", params={"role": "site"}, headers=root)
    assert r.status_code == 200 and r.json()["role"] == "site"
    assert net.c.delete(f"{API}/principals/nobody", headers=root).status_code == 404
    r = net.c.delete(f"{API}/principals/root", headers=root)
    assert r.status_code == 409 and "own token" in r.json()["detail"]
    assert net.c.get(f"{API}/principals", headers=root).status_code == 200


@pytest.mark.parametrize("name", ["a\n", "", "-lead", "a b", "x" * 64, "../etc"])
def test_bad_principal_names_are_refused(net: Net, name: str) -> None:
    with pytest.raises(ValueError):
        check_name(name, "viewer")
    r = net.c.post(f"{API}/principals", json={"name": name, "role": "viewer"},
                   headers=net.as_("root"))
    assert r.status_code == 422


def test_cli_adds_admins_and_viewers_and_revokes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from behindglass.cli.hub_cmd import hub as hub_cli

    runner = CliRunner()
    state = str(tmp_path / "state")
    tokens = {}
    for command, name in (("add-admin", "ops"), ("add-viewer", "vic")):
        done = runner.invoke(hub_cli, [command, name, "--state", state])
        assert done.exit_code == 0, done.output
        tokens[name] = done.stdout.strip().splitlines()[-1]
    revoked = runner.invoke(hub_cli, ["revoke", "vic", "--role", "viewer", "--state", state])
    assert revoked.exit_code == 0, revoked.output
    listed = runner.invoke(hub_cli, ["list", "--state", state]).output
    assert "ops" in listed and "REVOKED" in listed and tokens["ops"] not in listed
    assert runner.invoke(hub_cli, ["revoke", "ghost", "--role", "viewer",
                                   "--state", state]).exit_code != 0
    with TestClient(create_app(tmp_path / "state")) as client:
        assert client.get(f"{API}/principals", headers=bearer(tokens["ops"])).status_code == 200
        assert client.get(f"{API}/studies", headers=bearer(tokens["vic"])).status_code == 401


def test_a_viewer_reads_shared_results_with_the_sdk(net: Net) -> None:
    from behindglass.client import connect
    from behindglass.core.errors import NotFoundError

    sid, private = net.submit("alice"), net.submit("alice")
    net.c.post(f"{API}/studies/{sid}/viewers", json={"viewer": "vera"},
               headers=net.as_("alice"))
    sdk = connect("http://testserver", net.tokens["vera"],
                  transport=net.c._transport)  # the app in process, no socket
    assert [s.study_id for s in sdk.studies()] == [sid]
    assert sdk.get(sid).results() is not None
    with pytest.raises(NotFoundError):
        sdk.get(private)

"""The hub's HTTP API: auth and roles, researcher isolation, task hand-out with long-poll
and leases, releases, durable state, and the import rule that keeps rows out of the hub."""

from __future__ import annotations

import ast
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.canonical import canonical_json, digest
from behindglass.core.messages import Release
from behindglass.hub import HubServer, create_app

SRC = Path(__file__).resolve().parents[2] / "src" / "behindglass"
API = "/api/v1"


def study_json(sites: list[str] | None = None, **params: object) -> dict:
    spec: dict = {
        "title": "Who is in the network",
        "cohorts": {"all": {}},
        "analyses": [{"kind": "cohort_count", "name": "CohortCount", "cohort": "all"},
                     {"kind": "characterize", "name": "Characterize", "cohort": "all",
                      "params": {"by": ["sex"], "top_n": 0, **params}}],
    }
    if sites is not None:
        spec["sites"] = sites
    return spec


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_json(token: str) -> dict[str, str]:
    """Headers for posting a release body as raw bytes, as the site agent does."""
    return {**bearer(token), "Content-Type": "application/json"}


class Hub:
    """A hub app with two sites and two researchers, and their tokens."""

    def __init__(self, state_dir: Path, lease: float = 600.0) -> None:
        self.app = create_app(state_dir, lease_seconds=lease)
        state = self.app.state.hub
        self.tokens = {name: state.add_principal(name, role) for name, role in (
            ("site-a", "site"), ("site-b", "site"), ("alice", "researcher"),
            ("bob", "researcher"))} if not state.site_names() else {}


@pytest.fixture
def hub(tmp_path: Path):
    h = Hub(tmp_path / "state")
    with TestClient(h.app) as client:
        h.client = client  # type: ignore[attr-defined]
        yield h


def _submit(hub: Hub, who: str = "alice", **kw: object) -> dict:
    r = hub.client.post(f"{API}/studies", json=study_json(**kw), headers=bearer(hub.tokens[who]))
    assert r.status_code == 201, r.text
    return r.json()


def _release(task: dict, site: str, n: int = 40) -> bytes:
    aggs = [SiteAggregate(analysis=a["name"], kind=a["kind"], tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=n),)),))
        for a in task["study"]["analyses"]]
    release = Release(task_id=task["task_id"], site=site, aggregates=tuple(aggs))
    return canonical_json(release.model_dump(mode="json")).encode()


def test_health_and_docs_need_no_token(hub: Hub) -> None:
    assert hub.client.get(f"{API}/health").json()["sites"] == 2
    assert hub.client.get("/docs").status_code == 200
    paths = hub.client.get("/openapi.json").json()["paths"]
    ok = paths[f"{API}/studies/{{study_id}}"]["get"]["responses"]["200"]
    assert "StudyStatus" in str(ok)  # response models are documented


def test_tokens_are_required_and_roles_checked(hub: Hub) -> None:
    c = hub.client
    assert c.get(f"{API}/studies").status_code == 401
    assert c.get(f"{API}/studies", headers=bearer("not-a-token")).status_code == 401
    r = c.get(f"{API}/studies", headers=bearer(hub.tokens["site-a"]))
    assert r.status_code == 403 and "researcher" in r.json()["detail"]
    r = c.get(f"{API}/tasks/next", headers=bearer(hub.tokens["alice"]))
    assert r.status_code == 403 and "site" in r.json()["detail"]
    # tokens are stored only as hashes
    raw = (Path(hub.app.state.hub.path)).read_bytes()
    assert all(t.encode() not in raw for t in hub.tokens.values())


def test_unknown_site_and_bad_params_are_422(hub: Hub) -> None:
    r = hub.client.post(f"{API}/studies", json=study_json(sites=["site-a", "site-z"]),
                        headers=bearer(hub.tokens["alice"]))
    assert r.status_code == 422
    assert "site-z" in r.json()["detail"] and "site-a" in r.json()["detail"]
    r = hub.client.post(f"{API}/studies", json=study_json(top_n=-3),
                        headers=bearer(hub.tokens["alice"]))
    assert r.status_code == 422 and "top_n" in r.json()["detail"]
    spec = study_json()
    spec["analyses"][0]["kind"] = "mind_reading"
    r = hub.client.post(f"{API}/studies", json=spec, headers=bearer(hub.tokens["alice"]))
    assert r.status_code == 422 and "mind_reading" in r.json()["detail"]


def test_researchers_see_only_their_own_studies(hub: Hub) -> None:
    study = _submit(hub, "alice")
    assert [t["site"] for t in study["tasks"]] == ["site-a", "site-b"]
    sid = study["study_id"]
    bob = bearer(hub.tokens["bob"])
    assert hub.client.get(f"{API}/studies", headers=bob).json() == []
    assert hub.client.get(f"{API}/studies/{sid}", headers=bob).status_code == 404
    assert hub.client.get(f"{API}/studies/{sid}/results", headers=bob).status_code == 404
    alice = bearer(hub.tokens["alice"])
    assert [s["study_id"] for s in hub.client.get(f"{API}/studies", headers=alice).json()] == [sid]


def test_task_release_and_results(hub: Hub) -> None:
    study = _submit(hub, sites=["site-a", "site-b"])
    got = {}
    for site in ("site-a", "site-b"):
        r = hub.client.get(f"{API}/tasks/next", headers=bearer(hub.tokens[site]))
        assert r.status_code == 200
        got[site] = r.json()
        assert got[site]["site"] == site and got[site]["researcher"] == "alice"
    # a site may release only its own task
    body = _release(got["site-a"], "site-a")
    r = hub.client.post(f"{API}/tasks/{got['site-a']['task_id']}/release", content=body,
                        headers=as_json(hub.tokens["site-b"]))
    assert r.status_code == 422  # body names site-a, token is site-b
    body_b_as_a = _release(got["site-a"], "site-b")
    r = hub.client.post(f"{API}/tasks/{got['site-a']['task_id']}/release", content=body_b_as_a,
                        headers=as_json(hub.tokens["site-b"]))
    assert r.status_code == 404
    r = hub.client.post(f"{API}/tasks/{got['site-a']['task_id']}/release", content=body,
                        headers=as_json(hub.tokens["site-a"]))
    assert r.status_code == 200
    assert r.json()["digest"] == digest(Release.model_validate_json(body).model_dump(mode="json"))
    again = hub.client.post(f"{API}/tasks/{got['site-a']['task_id']}/release", content=body,
                            headers=as_json(hub.tokens["site-a"]))
    assert again.status_code == 409
    alice = bearer(hub.tokens["alice"])
    status = hub.client.get(f"{API}/studies/{study['study_id']}", headers=alice).json()
    assert status["state"] == "running"
    assert {t["site"]: t["state"] for t in status["tasks"]} == {"site-a": "released",
                                                               "site-b": "running"}
    r = hub.client.post(f"{API}/tasks/{got['site-b']['task_id']}/release",
                        content=_release(got["site-b"], "site-b", n=25),
                        headers=as_json(hub.tokens["site-b"]))
    assert r.status_code == 200
    results = hub.client.get(f"{API}/studies/{study['study_id']}/results", headers=alice).json()
    assert results["state"] == "complete"
    row = results["combined"]["CohortCount"]["tables"]["persons"]["rows"][0]
    assert row["pooled"] == 65 and row["sites"] == {"site-a": 40, "site-b": 25}
    digests = {t["site"]: t["release_digest"] for t in
               hub.client.get(f"{API}/studies/{study['study_id']}", headers=alice).json()["tasks"]}
    assert digests["site-b"] == r.json()["digest"]
    assert digests["site-a"] == digest(json.loads(body))


def test_lease_expiry_offers_the_task_again(tmp_path: Path) -> None:
    h = Hub(tmp_path / "state", lease=0.3)
    with TestClient(h.app) as client:
        h.client = client  # type: ignore[attr-defined]
        _submit(h, sites=["site-a"])
        site = bearer(h.tokens["site-a"])
        first = client.get(f"{API}/tasks/next", headers=site).json()
        assert client.get(f"{API}/tasks/next", headers=site).status_code == 204
        # a waiting poll is woken by the lease running out, not by the full wait
        start = time.monotonic()
        again = client.get(f"{API}/tasks/next", params={"wait": 5}, headers=site)
        assert again.status_code == 200 and time.monotonic() - start < 2
        assert again.json()["task_id"] == first["task_id"]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    h = Hub(tmp_path / "state")
    with TestClient(h.app) as client:
        h.client = client  # type: ignore[attr-defined]
        sid = _submit(h, sites=["site-a", "site-b"])["study_id"]
        task = client.get(f"{API}/tasks/next", headers=bearer(h.tokens["site-a"])).json()
        client.post(f"{API}/tasks/{task['task_id']}/release", content=_release(task, "site-a"),
                    headers=as_json(h.tokens["site-a"]))
    restarted = create_app(tmp_path / "state")
    with TestClient(restarted) as client:
        status = client.get(f"{API}/studies/{sid}", headers=bearer(h.tokens["alice"])).json()
        assert {t["site"]: t["state"] for t in status["tasks"]} == {"site-a": "released",
                                                                   "site-b": "pending"}
        task_b = client.get(f"{API}/tasks/next", headers=bearer(h.tokens["site-b"])).json()
        assert task_b["study_id"] == sid


def test_long_poll_waits_then_204_and_wakes_promptly(tmp_path: Path) -> None:
    h = Hub(tmp_path / "state")
    with HubServer(h.app) as server, httpx.Client(base_url=server.url + API) as http:
        site = bearer(h.tokens["site-a"])
        start = time.monotonic()
        r = http.get("/tasks/next", params={"wait": 0.6}, headers=site)
        waited = time.monotonic() - start
        assert r.status_code == 204 and 0.5 < waited < 2.0

        answer: dict = {}

        def poll() -> None:
            t0 = time.monotonic()
            resp = http.get("/tasks/next", params={"wait": 20}, headers=site, timeout=30)
            answer.update(status=resp.status_code, at=time.monotonic(), took=time.monotonic() - t0)

        waiter = threading.Thread(target=poll)
        waiter.start()
        time.sleep(0.5)  # the poll is parked at the hub now
        submitted = time.monotonic()
        r = http.post("/studies", json=study_json(sites=["site-a"]),
                      headers=bearer(h.tokens["alice"]))
        assert r.status_code == 201
        waiter.join(timeout=10)
        assert answer["status"] == 200
        assert answer["at"] - submitted < 0.5, "the parked poll must wake when a task arrives"


def _imports(package: str, files: tuple[str, ...] | None = None) -> set[str]:
    found: set[str] = set()
    for path in (SRC / package).glob("*.py"):
        if files is not None and path.name not in files:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
    return found


def test_hub_cannot_touch_rows_and_hub_and_site_are_apart() -> None:
    hub_imports = _imports("hub")
    for forbidden in ("behindglass.engine", "behindglass.omop", "behindglass.deid",
                      "behindglass.site", "duckdb"):
        assert not any(m == forbidden or m.startswith(forbidden + ".") for m in hub_imports)
    assert not any(m.startswith("behindglass.hub") for m in _imports("site"))
    sdk = ("network.py", "connection.py", "results.py", "render.py", "progress.py")
    assert not any(m.startswith(("behindglass.hub", "behindglass.site"))
                   for m in _imports("client", sdk))


def test_study_status_long_poll_wakes_on_progress(tmp_path: Path) -> None:
    h = Hub(tmp_path / "state")
    with HubServer(h.app) as server, httpx.Client(base_url=server.url + API) as http:
        alice = bearer(h.tokens["alice"])
        study = http.post("/studies", json=study_json(sites=["site-a"]), headers=alice).json()
        sid, updated = study["study_id"], study["tasks"][0]["updated"]
        start = time.monotonic()
        r = http.get(f"/studies/{sid}", params={"wait": 0.5, "after": updated}, headers=alice)
        assert r.json()["tasks"][0]["state"] == "pending"
        assert time.monotonic() - start >= 0.45  # nothing changed: held for the whole wait

        def claim_soon() -> None:
            time.sleep(0.4)
            http.get("/tasks/next", headers=bearer(h.tokens["site-a"]))

        claimer = threading.Thread(target=claim_soon)
        claimer.start()
        start = time.monotonic()
        r = http.get(f"/studies/{sid}", params={"wait": 10, "after": updated}, headers=alice,
                     timeout=20)
        assert r.json()["tasks"][0]["state"] == "running"
        assert time.monotonic() - start < 2, "a parked status poll wakes when a task changes"
        claimer.join()  # its reply read before the client closes


def test_admin_commands_print_a_token_once_and_list_without_it(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from behindglass.cli.hub_cmd import hub as hub_cli

    runner = CliRunner()
    state = str(tmp_path / "state")
    added = runner.invoke(hub_cli, ["add-site", "site-x", "--state", state])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert len(token) >= 40
    again = runner.invoke(hub_cli, ["add-site", "site-x", "--state", state])
    assert again.exit_code != 0
    runner.invoke(hub_cli, ["add-researcher", "alice", "--state", state])
    listed = runner.invoke(hub_cli, ["list", "--state", state])
    assert "site-x" in listed.output and "alice" in listed.output
    assert token not in listed.output
    with TestClient(create_app(tmp_path / "state")) as client:
        r = client.get(f"{API}/tasks/next", headers=bearer(token))
        assert r.status_code == 204


def test_the_documented_example_study_is_accepted(hub: Hub) -> None:
    import re

    text = (SRC.parents[1] / "docs" / "study-format.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))  # type: ignore[union-attr]
    alice = bearer(hub.tokens["alice"])
    r = hub.client.post(f"{API}/studies", json=example, headers=alice)
    assert r.status_code == 422 and "site-c" in r.json()["detail"]  # only a and b here
    example.pop("sites")
    assert hub.client.post(f"{API}/studies", json=example, headers=alice).status_code == 201

"""Promise 6: tasks are signed by the researcher and the hub, releases by the site; an
unsigned, altered, wrongly signed or replayed message is refused with a clear error.

Each refusal is tried here on a signed hub (a roster from ``network init``): the study
submission and the release at the hub, the task at the site (:class:`TaskVerifier`), and
the results at the researcher (:meth:`Network.verify`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from behindglass.analyses.requests import Characterize, CohortCount
from behindglass.client import connect
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SignatureError
from behindglass.core.messages import (
    REFUSAL_HEADER,
    SIGNATURE_HEADER,
    Release,
    StudyResults,
    Task,
    release_body,
    study_payload,
    task_payload,
    to_header,
)
from behindglass.core.signing import SigningKey, sign_envelope
from behindglass.core.study import StudySpec
from behindglass.governance.identity import Roster, init_network
from behindglass.hub import HubServer, create_app
from behindglass.hub.signatures import HubSigning, SignatureRefused
from behindglass.hub.state import HubState
from behindglass.site import SiteAgent
from behindglass.site.hublink import HubLink
from behindglass.site.signatures import NonceBook, TaskVerifier, sign_release
from tests.unit.test_hub_api import study_json
from tests.unit.test_site_agent import build_site

API = "/api/v1"
SITES = ("site-a", "site-b")


@pytest.fixture(scope="module")
def ids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One network's identities: the roster and every member's signing key."""
    out = tmp_path_factory.mktemp("ids") / "net"
    made = init_network(out, hub_host="127.0.0.1", sites=SITES, researchers=("alice", "bob"))
    keys = {"hub": SigningKey.load(out / "hub" / "signing.key")}
    for site in SITES:
        keys[site] = SigningKey.load(out / "sites" / site / "keys" / "signing.key")
    for r in ("alice", "bob"):
        keys[r] = SigningKey.load(out / "researchers" / r / "keys" / "signing.key")
    return {"out": out, "roster": made.roster, "keys": keys}


class SignedHub:
    def __init__(self, state_dir: Path, ids: dict[str, Any], lease: float = 600.0) -> None:
        self.ids = ids
        self.app = create_app(state_dir, lease_seconds=lease,
                              signing=HubSigning(ids["roster"], ids["keys"]["hub"]))
        st = self.app.state.hub
        self.tokens = {n: st.add_principal(n, r) for n, r in (
            ("site-a", "site"), ("site-b", "site"), ("alice", "researcher"),
            ("bob", "researcher"))}

    def headers(self, who: str, signature: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.tokens[who]}"}
        if signature is not None:
            h[SIGNATURE_HEADER] = signature
        return h


@pytest.fixture
def hub(tmp_path: Path, ids: dict[str, Any]) -> Iterator[SignedHub]:
    h = SignedHub(tmp_path / "state", ids)
    with TestClient(h.app) as client:
        h.client = client  # type: ignore[attr-defined]
        yield h


def signed_study(ids: dict[str, Any], spec: dict, key: str = "alice", signer: str = "alice",
                 now: dt.datetime | None = None) -> str:
    payload = study_payload(StudySpec.from_dict(spec))
    return to_header(sign_envelope(payload, ids["keys"][key], signer=signer, now=now))


def submit(hub: SignedHub, spec: dict | None = None, signature: str | None = None,
           who: str = "alice") -> httpx.Response:
    spec = spec or study_json(sites=["site-a"])
    sig = signature if signature is not None else signed_study(hub.ids, spec)
    return hub.client.post(f"{API}/studies", json=spec, headers=hub.headers(who, sig))


def claim(hub: SignedHub, site: str = "site-a") -> Task:
    r = hub.client.get(f"{API}/tasks/next", headers=hub.headers(site))
    assert r.status_code == 200, r.text
    return Task.model_validate_json(r.content)


def verifier(ids: dict[str, Any], seen: set[str] | None = None) -> TaskVerifier:
    book = set() if seen is None else seen

    def used(nonce: str) -> bool:
        if nonce in book:
            return True
        book.add(nonce)
        return False

    return TaskVerifier(ids["roster"], used)


def body_for(task: Task, site: str = "site-a", n: int = 40) -> bytes:
    aggs = tuple(SiteAggregate(analysis=a.name, kind=a.kind, tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=n),)),)) for a in task.study.analyses)
    return release_body(Release(task_id=task.task_id, site=site, aggregates=aggs))


def post_release(hub: SignedHub, task: Task, body: bytes, signature: str | None,
                 site: str = "site-a") -> httpx.Response:
    headers = {**hub.headers(site, signature), "Content-Type": "application/json"}
    return hub.client.post(f"{API}/tasks/{task.task_id}/release", content=body, headers=headers)


def refused(r: httpx.Response, status: int, match: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers.get(REFUSAL_HEADER) == "signature"
    assert match in r.json()["detail"], r.json()["detail"]


# -- study submissions -------------------------------------------------------------------
def test_a_signed_study_is_accepted_and_its_tasks_verify(hub: SignedHub) -> None:
    r = submit(hub)
    assert r.status_code == 201, r.text
    task = claim(hub)
    assert set(task.signatures or {}) == {"researcher", "hub"}
    assert "payload" not in task.signatures["hub"]  # detached: the task itself is the payload
    verifier(hub.ids).check(task)


def test_an_unsigned_study_is_refused(hub: SignedHub) -> None:
    r = hub.client.post(f"{API}/studies", json=study_json(), headers=hub.headers("alice"))
    refused(r, 401, "unsigned")
    assert hub.app.state.hub.studies_of("alice") == []


def test_a_study_altered_after_signing_is_refused(hub: SignedHub) -> None:
    signed = study_json(sites=["site-a"])
    altered = study_json(sites=["site-a"], top_n=50)
    refused(submit(hub, altered, signed_study(hub.ids, signed)), 401, "does not match")


def test_a_study_signed_with_another_researchers_key_is_refused(hub: SignedHub) -> None:
    spec = study_json(sites=["site-a"])
    bob_as_alice = signed_study(hub.ids, spec, key="bob", signer="alice")
    refused(submit(hub, spec, bob_as_alice), 401, "key of researcher 'bob'")
    # bob's own, valid signature does not let alice's token submit it either
    refused(submit(hub, spec, signed_study(hub.ids, spec, key="bob", signer="bob")), 401,
            "key of researcher 'bob'")


def test_a_study_signed_by_a_stranger_or_a_site_is_refused(hub: SignedHub) -> None:
    spec = study_json(sites=["site-a"])
    stranger = to_header(sign_envelope(study_payload(StudySpec.from_dict(spec)),
                                       SigningKey.generate(), signer="alice"))
    refused(submit(hub, spec, stranger), 401, "in no member's name")
    refused(submit(hub, spec, signed_study(hub.ids, spec, key="site-a", signer="alice")),
            401, "key of site 'site-a'")


def test_an_old_or_malformed_signature_is_refused(hub: SignedHub) -> None:
    spec = study_json(sites=["site-a"])
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    refused(submit(hub, spec, signed_study(hub.ids, spec, now=old)), 401, "expired")
    refused(submit(hub, spec, "not json"), 422, "not JSON")


def test_a_replayed_submission_is_refused(hub: SignedHub) -> None:
    spec = study_json(sites=["site-a"])
    sig = signed_study(hub.ids, spec)
    assert submit(hub, spec, sig).status_code == 201
    refused(submit(hub, spec, sig), 409, "replayed")
    assert len(hub.app.state.hub.studies_of("alice")) == 1


def test_nonces_outlive_a_restart_of_the_hub(tmp_path: Path, ids: dict[str, Any]) -> None:
    signing = HubSigning(ids["roster"], ids["keys"]["hub"])
    body = b'{"task_id":"tk-1"}'
    header = sign_release(body, ids["keys"]["site-a"], "site-a")
    state = HubState(tmp_path / "hub")
    signing.check_release(state, header, body, "site-a", "tk-1")
    state.close()
    state = HubState(tmp_path / "hub")
    with pytest.raises(SignatureRefused, match="replayed") as err:
        signing.check_release(state, header, body, "site-a", "tk-1")
    assert err.value.status == 409
    state.close()


# -- tasks at the site ---------------------------------------------------------------------
def test_a_task_altered_on_the_way_is_refused(hub: SignedHub) -> None:
    submit(hub)
    task = claim(hub)
    for change in ({"round": 1}, {"states": {"x": {"beta": [9.0]}}}, {"site": "site-b"},
                   {"analyses": ("CohortCount",)}):
        with pytest.raises(SignatureError, match="hub signature refused: signature does not"):
            verifier(hub.ids).check(task.model_copy(update=change))
    other = StudySpec.from_dict(study_json(sites=["site-a"], top_n=99))
    with pytest.raises(SignatureError, match="researcher's signature does not cover"):
        verifier(hub.ids).check(task.model_copy(update={"study": other}))
    with pytest.raises(SignatureError, match="comes from 'bob'"):
        verifier(hub.ids).check(task.model_copy(update={"researcher": "bob"}))


def test_an_unsigned_or_half_signed_task_is_refused(hub: SignedHub) -> None:
    submit(hub)
    task = claim(hub)
    with pytest.raises(SignatureError, match="is unsigned"):
        verifier(hub.ids).check(task.model_copy(update={"signatures": None}))
    only_hub = {"hub": task.signatures["hub"]}
    with pytest.raises(SignatureError, match="no researcher signature"):
        verifier(hub.ids).check(task.model_copy(update={"signatures": only_hub}))


def test_a_task_signed_by_a_key_that_is_not_the_hubs_is_refused(hub: SignedHub) -> None:
    submit(hub)
    task = claim(hub)
    ids = hub.ids
    for key, match in (("site-b", "key of site 'site-b', not of a hub"),
                       (None, "belongs to no member")):
        forger = ids["keys"][key] if key else SigningKey.generate()
        forged = sign_envelope(task_payload(task), forger, signer="hub")
        sigs = {**task.signatures, "hub": {k: v for k, v in forged.items() if k != "payload"}}
        with pytest.raises(SignatureError, match=match):
            verifier(ids).check(task.model_copy(update={"signatures": sigs}))


def test_a_replayed_or_stale_task_is_refused(hub: SignedHub, tmp_path: Path) -> None:
    submit(hub)
    task = claim(hub)
    book = NonceBook(tmp_path / "nonces.jsonl")
    TaskVerifier(hub.ids["roster"], book).check(task)
    again = TaskVerifier(hub.ids["roster"], NonceBook(tmp_path / "nonces.jsonl"))  # restart
    with pytest.raises(SignatureError, match="replayed"):
        again.check(task)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    with pytest.raises(SignatureError, match="expired"):
        verifier(hub.ids).check(task, now=later)
    # a task the site kept for its steward is re-checked later: signatures, not freshness
    again.recheck(task, now=later + dt.timedelta(days=3))
    with pytest.raises(SignatureError, match="signature does not match"):
        again.recheck(task.model_copy(update={"round": 2}), now=later)


def test_a_task_offered_again_carries_a_fresh_hub_signature(tmp_path: Path,
                                                           ids: dict[str, Any]) -> None:
    h = SignedHub(tmp_path / "state", ids, lease=0.2)
    with TestClient(h.app) as client:
        h.client = client  # type: ignore[attr-defined]
        submit(h)
        first = claim(h)
        time.sleep(0.3)  # the lease runs out; the hub offers the task again
        second = claim(h)
    assert second.task_id == first.task_id
    assert second.signatures["hub"]["nonce"] != first.signatures["hub"]["nonce"]
    seen: set[str] = set()
    verifier(ids, seen).check(first)
    verifier(ids, seen).check(second)


def test_a_task_survives_the_trip_as_json(hub: SignedHub) -> None:
    """The site checks the task it parsed, not the object the hub signed."""
    submit(hub)
    task = claim(hub)
    assert task_payload(Task.model_validate_json(task.model_dump_json())) == task_payload(task)


# -- releases ------------------------------------------------------------------------------
def test_a_signed_release_is_stored_and_the_researcher_can_check_it(hub: SignedHub) -> None:
    study_id = submit(hub).json()["study_id"]
    task = claim(hub)
    body = body_for(task)
    r = post_release(hub, task, body, sign_release(body, hub.ids["keys"]["site-a"], "site-a"))
    assert r.status_code == 200, r.text
    got = hub.client.get(f"{API}/studies/{study_id}/results", headers=hub.headers("alice"))
    results = StudyResults.model_validate(got.json())
    assert set(results.release_signatures) == {task.task_id}
    net = connect("http://unused", "token", roster=hub.ids["roster"])
    net.verify(results)
    # the hub (or anyone on the way) changes a count after the site signed it
    agg = results.releases[0].aggregates[0]
    bigger = agg.model_copy(update={"tables": (CountTable(
        name="persons", cells=(Cell(key=(), count=41),)),)})
    cooked = results.model_copy(update={"releases": (results.releases[0].model_copy(
        update={"aggregates": (bigger, *results.releases[0].aggregates[1:])}),)})
    with pytest.raises(SignatureError, match=r"site 'site-a'.*does not match"):
        net.verify(cooked)
    with pytest.raises(SignatureError, match=r"site 'site-a'.*unsigned"):
        net.verify(results.model_copy(update={"release_signatures": {}}))


def test_a_release_without_a_valid_site_signature_is_refused(hub: SignedHub) -> None:
    submit(hub)
    task = claim(hub)
    body, keys = body_for(task), hub.ids["keys"]
    refused(post_release(hub, task, body, None), 401, "unsigned")
    refused(post_release(hub, task, body, sign_release(body, keys["site-b"], "site-b")), 401,
            "key of site 'site-b'")
    refused(post_release(hub, task, body, sign_release(body, keys["site-b"], "site-a")), 401,
            "key of site 'site-b'")
    altered = body_for(task, n=400)
    refused(post_release(hub, task, altered, sign_release(body, keys["site-a"], "site-a")), 401,
            "does not match")
    assert hub.app.state.hub.releases(task.study_id) == []
    good = sign_release(body, keys["site-a"], "site-a")
    assert post_release(hub, task, body, good).status_code == 200


# -- the SDK and a real agent, wired as the lead wires them ------------------------------
class SigningLink(HubLink):
    """A HubLink that checks each task and signs each release, as the agent will."""

    def __init__(self, url: str, token: str, roster: Roster, key: SigningKey, site: str,
                 book: Path) -> None:
        super().__init__(url, token)
        self.verifier = TaskVerifier(roster, NonceBook(book))
        self.key, self.site = key, site

    def next_task(self, wait: float) -> Task | None:
        task = super().next_task(wait)
        if task is not None:
            self.verifier.check(task)
        return task

    def post_release(self, task_id: str, body: bytes,
                     signature: str | None = None) -> dict[str, Any]:
        self.posted = getattr(self, "posted", 0) + 1
        return super().post_release(task_id, body, sign_release(body, self.key, self.site))


def test_the_sdk_signs_studies_and_checks_releases(tmp_path: Path, ids: dict[str, Any]) -> None:
    h = SignedHub(tmp_path / "state", ids)
    server = HubServer(h.app).start()
    link = SigningLink(server.url, h.tokens["site-a"], ids["roster"], ids["keys"]["site-a"],
                       "site-a", tmp_path / "nonces.jsonl")
    agent = SiteAgent(hub_url=server.url, name="site-a", token=h.tokens["site-a"],
                      db_path=build_site(tmp_path / "a.duckdb"), poll_wait=2, link=link)
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        unsigned = connect(server.url, h.tokens["alice"])
        draft = unsigned.study("n", cohorts={"all": Cohort.everyone()}, sites=["site-a"])
        with pytest.raises(SignatureError, match=r"refused the signature.*unsigned"):
            draft.add(CohortCount("all")).submit()
        net = connect(server.url, h.tokens["alice"], signing_key=ids["keys"]["alice"],
                      roster=ids["roster"])
        assert net.name == "alice"  # found in the roster by the key
        draft = net.study("n", cohorts={"all": Cohort.everyone()}, sites=["site-a"])
        draft.add(CohortCount("all")).add(Characterize("all", by=["sex", "race"], top_n=3,
                                                       window_days=None))
        result = draft.run(timeout=20, progress=False)  # checks every release's signature
        assert result["CohortCount"].to_pandas()["count"].iloc[0] == 40
        assert result["Characterize"].to_pandas(table="race")["suppressed"].any()
        assert set(result.raw.release_signatures) == {r.task_id for r in result.raw.releases}
        assert link.posted == 1
    finally:
        agent.stop()
        server.stop()
        thread.join(timeout=10)
        agent.close()


def test_the_sdk_refuses_a_key_the_roster_gives_someone_else(ids: dict[str, Any]) -> None:
    with pytest.raises(SignatureError, match="belongs to researcher 'bob'"):
        connect("http://unused", "t", signing_key=ids["keys"]["bob"], name="alice",
                roster=ids["roster"])
    with pytest.raises(SignatureError, match="site 'site-a''s"):
        connect("http://unused", "t", signing_key=ids["keys"]["site-a"], roster=ids["roster"])
    with pytest.raises(SignatureError, match="needs your researcher name"):
        connect("http://unused", "t", signing_key=ids["keys"]["alice"])


def test_a_hub_without_a_roster_is_development_mode(tmp_path: Path) -> None:
    app = create_app(tmp_path / "dev")
    alice = app.state.hub.add_principal("alice", "researcher")
    site = app.state.hub.add_principal("site-a", "site")
    with TestClient(app) as client:
        r = client.post(f"{API}/studies", json=study_json(),
                        headers={"Authorization": f"Bearer {alice}"})
        assert r.status_code == 201
        task = client.get(f"{API}/tasks/next", headers={"Authorization": f"Bearer {site}"})
        assert task.json()["signatures"] is None


def test_a_hub_refuses_a_roster_its_key_did_not_sign(ids: dict[str, Any]) -> None:
    with pytest.raises(SignatureError, match="not by the hub key"):
        HubSigning.load(ids["out"] / "hub" / "network.json",
                        ids["out"] / "sites" / "site-a" / "keys" / "signing.key")


def test_a_state_file_of_schema_2_gains_the_signature_columns(tmp_path: Path) -> None:
    import sqlite3

    from behindglass.hub import state as hub_state

    old = hub_state.SCHEMA.replace(", signature TEXT", "").split("CREATE TABLE IF NOT "
                                                                   "EXISTS nonces")[0]
    (tmp_path / "hub").mkdir()
    con = sqlite3.connect(tmp_path / "hub" / hub_state.STATE_FILE)
    con.executescript(old + "PRAGMA user_version=2;")
    con.close()
    st = HubState(tmp_path / "hub")
    st.add_principal("site-a", "site")
    st.add_principal("alice", "researcher")
    study_id, _ = st.create_study("alice", StudySpec.from_dict(study_json()),
                                  signature={"nonce": "n1"})
    assert st.get_study(study_id).signature == {"nonce": "n1"}
    assert st.use_nonce("n1", "study", "alice") is False
    assert st.use_nonce("n1", "study", "alice") is True
    st.close()

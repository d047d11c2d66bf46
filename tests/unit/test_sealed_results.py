"""Sealed results: a study that asks for it has every site encrypt its release to the
researcher, so the hub stores and relays only ciphertext.

Each promise is attacked here: the wrong key, an altered blob, a blob moved to another
task or site, a hub asked to store plaintext for a sealed study, and a search of the hub's
SQLite bytes for a label that was released sealed. The 429 retry of the SDK is at the end.
"""

from __future__ import annotations

import base64
import json
import shutil
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from behindglass.analyses.requests import Characterize, CohortCount, Glm
from behindglass.client import connect
from behindglass.client.connection import HubConnection
from behindglass.client.local_network import local_policy
from behindglass.client.results import open_results
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.canonical import canonical_json
from behindglass.core.cohort import Cohort
from behindglass.core.errors import NetworkError, SignatureError
from behindglass.core.messages import (
    Refusal,
    Release,
    StudyResults,
    Task,
    open_release,
    release_body,
    seal_release,
)
from behindglass.core.sealing import EncryptionKey, open_sealed, seal, sealed_to
from behindglass.core.signing import SigningKey
from behindglass.core.study import StudySpec
from behindglass.governance.identity import Roster, init_network, load_roster, sign_roster
from behindglass.hub import HubServer, create_app
from behindglass.hub.combine import SEALED_NOTE
from behindglass.site import SiteAgent
from behindglass.site.hublink import HubLink
from behindglass.site.sealing import seal_outgoing
from behindglass.site.signatures import sign_release
from tests.unit.test_hub_api import study_json
from tests.unit.test_signed_messages import (
    API,
    SignedHub,
    claim,
    hub,
    post_release,
    signed_study,
)
from tests.unit.test_site_agent import build_site

__all__ = ["hub"]  # a fixture, shared with the signed-message tests

CANARY = "CANARY-LABEL-5531"  # a released label: must never reach the hub in clear


@pytest.fixture(scope="module")
def ids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One network's identities (as in test_signed_messages): roster and signing keys."""
    out = tmp_path_factory.mktemp("ids") / "net"
    made = init_network(out, hub_host="127.0.0.1", sites=("site-a", "site-b"),
                        researchers=("alice", "bob"))
    keys = {"hub": SigningKey.load(out / "hub" / "signing.key"),
            "site-a": SigningKey.load(out / "sites/site-a/keys/signing.key"),
            "alice": SigningKey.load(out / "researchers/alice/keys/signing.key")}
    return {"out": out, "roster": made.roster, "keys": keys}


# -- the box ------------------------------------------------------------------------------
def test_seal_and_open_round_trip() -> None:
    key = EncryptionKey.generate()
    blob = seal(b"counts: 40", key.public(), task_id="tk-1", site="site-a")
    base64.b64decode(blob, validate=True)  # text, safe in JSON
    assert b"counts" not in base64.b64decode(blob)
    assert open_sealed(blob, key, task_id="tk-1", site="site-a") == b"counts: 40"
    # an ephemeral key per blob: sealing the same bytes twice gives two blobs
    assert blob != seal(b"counts: 40", key.public(), task_id="tk-1", site="site-a")
    assert sealed_to(blob) == key.key_id


def test_the_wrong_key_cannot_open() -> None:
    alice, mallory = EncryptionKey.generate(), EncryptionKey.generate()
    blob = seal(b"secret", alice.public(), task_id="tk-1", site="site-a")
    with pytest.raises(SignatureError, match=r"sealed to encryption key .* not to yours"):
        open_sealed(blob, mallory, task_id="tk-1", site="site-a")
    # mallory rewrites the recipient id to her own: the key agreement still fails
    raw = bytearray(base64.b64decode(blob))
    raw[4:12] = bytes.fromhex(mallory.key_id)
    with pytest.raises(SignatureError, match="altered"):
        open_sealed(base64.b64encode(bytes(raw)).decode(), mallory, task_id="tk-1",
                    site="site-a")


def test_an_altered_blob_is_refused() -> None:
    key = EncryptionKey.generate()
    blob = seal(b'{"count": 40}', key.public(), task_id="tk-1", site="site-a")
    raw = bytearray(base64.b64decode(blob))
    for at in (20, 60, len(raw) - 1):  # ephemeral key, ciphertext, tag
        bad = bytearray(raw)
        bad[at] ^= 1
        with pytest.raises(SignatureError, match="altered"):
            open_sealed(base64.b64encode(bytes(bad)).decode(), key, task_id="tk-1",
                        site="site-a")
    with pytest.raises(SignatureError, match="malformed"):
        open_sealed(base64.b64encode(bytes(raw[:40])).decode(), key, task_id="tk-1",
                    site="site-a")
    with pytest.raises(SignatureError, match="not base64"):
        open_sealed(blob[:-3] + "!!!", key, task_id="tk-1", site="site-a")


def test_a_blob_moved_to_another_task_or_site_is_refused() -> None:
    key = EncryptionKey.generate()
    blob = seal(b"site-a's counts", key.public(), task_id="tk-1", site="site-a")
    with pytest.raises(SignatureError, match="moved here from another task or site"):
        open_sealed(blob, key, task_id="tk-2", site="site-a")
    with pytest.raises(SignatureError, match="moved here from another task or site"):
        open_sealed(blob, key, task_id="tk-1", site="site-b")


def test_key_files(tmp_path: Path) -> None:
    key = EncryptionKey.generate()
    key.save(tmp_path / "encryption.key")
    key.public().save(tmp_path / "encryption.pub")
    assert stat.S_IMODE((tmp_path / "encryption.key").stat().st_mode) == 0o600
    loaded = EncryptionKey.load(tmp_path / "encryption.key")
    assert loaded.public() == key.public()
    assert "PRIVATE" not in repr(loaded)
    with pytest.raises(SignatureError, match="not an X25519 private key"):
        EncryptionKey.from_pem(SigningKey.generate().to_pem())


# -- releases and studies -----------------------------------------------------------------
def _release(task_id: str = "tk-1", site: str = "site-a") -> Release:
    agg = SiteAggregate(analysis="Characterize", kind="characterize", tables=(
        CountTable(name="label", dims=("label",), cells=(
            Cell(key=(CANARY,), count=40),)),))
    return Release(task_id=task_id, site=site, aggregates=(agg,),
                   refusals=(Refusal(analysis="CohortCount", reason="below 11"),),
                   audit_head="ab" * 32)


def test_a_sealed_release_carries_nothing_in_clear() -> None:
    key = EncryptionKey.generate()
    plain = _release()
    sealed = seal_release(plain, key.public())
    assert sealed.aggregates == () and sealed.refusals == () and sealed.sealed
    assert CANARY not in release_body(sealed).decode()
    assert sealed.audit_head == plain.audit_head  # the hub still records the audit head
    assert open_release(Release.model_validate_json(release_body(sealed)), key) == plain
    with pytest.raises(ValueError, match="only inside 'sealed'"):
        Release(task_id="t", site="s", aggregates=plain.aggregates, sealed=sealed.sealed)
    # an unsealed release serialises as before sealing existed: old signatures still hold
    assert "sealed" not in json.loads(release_body(plain))


def test_a_study_opts_in_and_old_studies_keep_their_digest() -> None:
    spec = StudySpec.from_dict(study_json())
    assert spec.seal_results is False and "seal_results" not in spec.to_dict()
    sealed = StudySpec.from_dict({**study_json(), "seal_results": True})
    assert sealed.to_dict()["seal_results"] is True
    assert StudySpec.from_dict(sealed.to_dict()).seal_results


# -- identities -----------------------------------------------------------------------------
def test_network_init_gives_researchers_an_encryption_key(ids: dict[str, Any]) -> None:
    out = ids["out"]
    folder = out / "researchers" / "alice" / "keys"
    assert stat.S_IMODE((folder / "encryption.key").stat().st_mode) == 0o600
    key = EncryptionKey.load(folder / "encryption.key")
    loaded = load_roster(out / "network.json", ids["keys"]["hub"].public())
    assert loaded.member("alice", "researcher").encryption_public() == key.public()
    assert loaded.member("site-a", "site").encryption_key is None
    with pytest.raises(SignatureError, match="no encryption key"):
        loaded.member("site-a", "site").encryption_public()


def test_a_roster_from_before_sealing_still_loads(ids: dict[str, Any], tmp_path: Path
                                                  ) -> None:
    old = Roster(**{**ids["roster"].__dict__, "members": tuple(
        m.__class__(**{**m.__dict__, "encryption_key": None}) for m in ids["roster"].members)})
    doc = sign_roster(old, ids["keys"]["hub"])
    assert all("encryption_key" not in m for m in doc["roster"]["members"])
    (tmp_path / "network.json").write_text(canonical_json(doc), encoding="utf-8")
    loaded = load_roster(tmp_path / "network.json", ids["keys"]["hub"].public())
    with pytest.raises(SignatureError, match="re-run `behindglass network init`"):
        loaded.member("alice", "researcher").encryption_public()


# -- the hub ------------------------------------------------------------------------------
def sealed_json(**extra: Any) -> dict[str, Any]:
    return {**study_json(sites=["site-a"]), "seal_results": True, **extra}


def submit_sealed(hub: SignedHub, spec: dict[str, Any]) -> httpx.Response:
    return hub.client.post(f"{API}/studies", json=spec,
                           headers=hub.headers("alice", signed_study(hub.ids, spec)))


def test_a_sealed_iterative_study_is_refused(hub: SignedHub) -> None:
    glm = Glm("all", outcome="all", covariates=["age"], family="binomial").to_spec()
    spec = sealed_json()
    spec["analyses"] = [*spec["analyses"], glm.model_dump(mode="json")]
    r = submit_sealed(hub, spec)
    assert r.status_code == 422, r.text
    assert "iterative" in r.json()["detail"] and "must read each round" in r.json()["detail"]


def test_a_sealed_study_needs_a_hub_with_a_roster(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    app = create_app(tmp_path / "dev")
    alice = app.state.hub.add_principal("alice", "researcher")
    app.state.hub.add_principal("site-a", "site")
    with TestClient(app) as client:
        r = client.post(f"{API}/studies", json=sealed_json(),
                        headers={"Authorization": f"Bearer {alice}"})
    assert r.status_code == 422 and "development mode" in r.json()["detail"]


def _hub_bytes(state_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(state_dir.glob("hub.sqlite*")))


def _post(hub: SignedHub, task: Task, release: Release) -> httpx.Response:
    body = release_body(release)
    return post_release(hub, task, body, sign_release(body, hub.ids["keys"]["site-a"],
                                                      "site-a"))


def test_the_hub_stores_only_ciphertext_and_the_sdk_opens_it(hub: SignedHub,
                                                             tmp_path: Path) -> None:
    r = submit_sealed(hub, sealed_json())
    assert r.status_code == 201, r.text
    study_id, task = r.json()["study_id"], claim(hub)
    assert task.study.seal_results
    # a plaintext release for a sealed study is not stored
    refused = _post(hub, task, _release(task.task_id))
    assert refused.status_code == 422 and "only sealed releases" in refused.json()["detail"]
    alice = EncryptionKey.load(hub.ids["out"] / "researchers/alice/keys/encryption.key")
    sealed = seal_release(_release(task.task_id), alice.public())
    r = _post(hub, task, sealed)
    assert r.status_code == 200 and r.json()["state"] == "released", r.text
    state_dir = Path(hub.app.state.hub.dir)
    stored = _hub_bytes(state_dir)
    assert sealed.sealed.encode() in stored  # the search reads what the hub stored
    assert CANARY.encode() not in stored and b"below 11" not in stored
    got = hub.client.get(f"{API}/studies/{study_id}/results", headers=hub.headers("alice"))
    received = StudyResults.model_validate(got.json())
    assert received.combined["Characterize"]["detail"] == SEALED_NOTE
    assert CANARY not in got.text

    net = connect("http://unused", "t", roster=hub.ids["roster"], encryption_key=alice)
    net.verify(received)  # the site's signature covers the ciphertext
    opened = open_results(received, alice)
    assert opened.raw.releases[0] == _release(task.task_id)
    assert opened.sealed and opened.received is received
    net.verify(opened)  # verify checks what was received, not what was opened
    assert opened["CohortCount"].refusals[0].reason == "below 11"
    with pytest.raises(SignatureError, match="connect with encryption_key"):
        open_results(received, None)
    bob = EncryptionKey.load(hub.ids["out"] / "researchers/bob/keys/encryption.key")
    with pytest.raises(SignatureError, match="sealed for someone else"):
        open_results(received, bob)
    # the hub could pass off a plaintext release as a sealed study's: the SDK refuses it
    cooked = received.model_copy(update={"releases": (_release(task.task_id),)})
    with pytest.raises(SignatureError, match="not sealed"):
        open_results(cooked, alice)


def test_a_sealed_study_refused_at_a_site_shows_refused(hub: SignedHub) -> None:
    r = submit_sealed(hub, sealed_json())
    study_id, task = r.json()["study_id"], claim(hub)
    refused = _release(task.task_id).model_copy(update={"aggregates": ()})
    r = _post(hub, task, refused)
    assert r.status_code == 200 and r.json()["state"] == "refused", r.text
    got = hub.client.get(f"{API}/studies/{study_id}/results", headers=hub.headers("alice"))
    received = StudyResults.model_validate(got.json())
    alice = EncryptionKey.load(hub.ids["out"] / "researchers/alice/keys/encryption.key")
    opened = open_results(received, alice)
    assert opened["CohortCount"].refusals[0].reason == "below 11"


def test_a_sealed_release_for_an_unsealed_study_is_refused(hub: SignedHub) -> None:
    spec = study_json(sites=["site-a"])
    assert submit_sealed(hub, spec).status_code == 201
    task = claim(hub)
    r = _post(hub, task, seal_release(_release(task.task_id), EncryptionKey.generate().public()))
    assert r.status_code == 422 and "without sealed results" in r.json()["detail"]


# -- the site -----------------------------------------------------------------------------
def _task(seal: bool, researcher: str = "alice") -> Task:
    spec = StudySpec.from_dict({**study_json(sites=["site-a"]), "seal_results": seal})
    return Task(task_id="tk-9", study_id="st-9", site="site-a", researcher=researcher,
                study=spec, created="2026-01-01T00:00:00+00:00")


def test_a_site_never_sends_a_sealed_study_in_clear(ids: dict[str, Any]) -> None:
    plain = _release("tk-9")
    body = release_body(plain)
    assert seal_outgoing(_task(False), plain, body, ids["roster"]).body == body
    out = seal_outgoing(_task(True), plain, body, ids["roster"])
    assert CANARY.encode() not in out.body and out.release == plain  # audit sees shapes
    assert out.sealed_to == ids["roster"].member("alice", "researcher").encryption_public(
        ).key_id
    # refusals alone hide nothing (reasons come from the spec and the policy): in clear,
    # so the hub can show the task refused
    refused = plain.model_copy(update={"aggregates": ()})
    out = seal_outgoing(_task(True), refused, release_body(refused), ids["roster"])
    assert out.sealed_to is None and out.body == release_body(refused)
    for roster, task in ((None, _task(True)), (ids["roster"], _task(True, "mallory"))):
        failed = seal_outgoing(task, plain, body, roster)
        assert CANARY.encode() not in failed.body and failed.sealed_to is None
        assert "cannot seal" in (failed.release.error or "")
        assert failed.release.aggregates == ()


def _site_home(root: Path, ids: dict[str, Any]) -> Path:
    from behindglass.site.home import SiteHome

    home = SiteHome.init(root, local_policy(11).replace('"researcher"', '"alice"')).root
    given = ids["out"] / "sites" / "site-a"
    shutil.copy2(given / "keys" / "signing.key", home / "keys" / "signing.key")
    shutil.copy2(given / "network.json", home / "network.json")
    shutil.copy2(given / "hub.pub", home / "hub.pub")
    return home


def test_an_agent_seals_and_the_sdk_combines_as_the_hub_would(tmp_path: Path,
                                                              ids: dict[str, Any]) -> None:
    h = SignedHub(tmp_path / "state", ids)
    server = HubServer(h.app).start()
    home, db = _site_home(tmp_path / "home", ids), build_site(tmp_path / "a.duckdb")
    made: list[SiteAgent] = []

    def serve() -> None:  # the agent's ledgers belong to the thread that opens them
        agent = SiteAgent(hub_url=server.url, name="site-a", token=h.tokens["site-a"],
                          db_path=db, poll_wait=1, home=home,
                          link=HubLink(server.url, h.tokens["site-a"]))
        made.append(agent)
        try:
            agent.run()
        finally:
            agent.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    alice = EncryptionKey.load(ids["out"] / "researchers/alice/keys/encryption.key")
    try:
        net = connect(server.url, h.tokens["alice"], signing_key=ids["keys"]["alice"],
                      roster=ids["roster"], encryption_key=alice)
        results = {}
        for seal_results in (True, False):
            draft = net.study("n", cohorts={"all": Cohort.everyone()}, sites=["site-a"],
                              seal_results=seal_results)
            draft.add(CohortCount("all")).add(Characterize("all", by=["sex", "race"],
                                                           top_n=3, window_days=None))
            results[seal_results] = draft.run(timeout=30, progress=False)
            if seal_results:  # the hub held only ciphertext of the sealed study
                assert b"Metformin" not in _hub_bytes(tmp_path / "state")
        sealed, plain = results[True], results[False]
        assert sealed.received.releases[0].sealed and not plain.raw.releases[0].sealed
        assert (canonical_json(sealed.raw.combined) == canonical_json(plain.raw.combined))
        assert b"Metformin" in _hub_bytes(tmp_path / "state")  # the search can fail
        assert sealed["CohortCount"].to_pandas()["count"].iloc[0] == 40
        keyless = connect(server.url, h.tokens["alice"], roster=ids["roster"])
        with pytest.raises(SignatureError, match="encryption_key"):
            keyless.get(sealed.study_id).results()
        hub_digest = net.get(sealed.study_id).status().tasks[0].release_digest
    finally:
        for agent in made:
            agent.stop()
        thread.join(timeout=10)
        server.stop()
    entries = [json.loads(line) for line in
               (home / "audit" / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    sent = [e for e in entries if e.get("event") == "release"]
    assert len(sent) == 2
    first = sent[0]["data"]
    assert first["sealed_to"] == alice.key_id  # the steward sees to whom, and what shapes
    assert {s["analysis"] for s in first["released"]} == {"CohortCount", "Characterize"}
    assert first["digest"] == hub_digest  # the audit digest covers the ciphertext sent
    assert "sealed_to" not in sent[1]["data"]


# -- the SDK waits out a rate limit -----------------------------------------------------------
def _limited(answers: list[httpx.Response]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    return httpx.MockTransport(handle)


def test_the_sdk_retries_a_429_after_retry_after() -> None:
    slept: list[float] = []
    answers = [httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "slow"}),
               httpx.Response(429, headers={"Retry-After": "1"}, json={"detail": "slow"}),
               httpx.Response(200, json={"status": "ok"})]
    conn = HubConnection("http://hub", "t", transport=_limited(answers), sleep=slept.append)
    assert conn.get("/health") == {"status": "ok"}
    assert slept == [2.0, 1.0]


def test_the_sdk_gives_up_on_a_lasting_or_long_rate_limit() -> None:
    slept: list[float] = []
    always = [httpx.Response(429, headers={"Retry-After": "1"}, json={"detail": "slow"})
              for _ in range(10)]
    conn = HubConnection("http://hub", "t", transport=_limited(always), sleep=slept.append,
                         rate_limit_retries=2)
    with pytest.raises(NetworkError, match=r"rate-limiting GET /studies \(429, 3 time"):
        conn.get("/studies")
    assert slept == [1.0, 1.0]
    long = [httpx.Response(429, headers={"Retry-After": "3600"})]
    conn = HubConnection("http://hub", "t", transport=_limited(long), sleep=slept.append)
    with pytest.raises(NetworkError, match="asks to wait 3600 s"):
        conn.get("/studies")
    assert slept == [1.0, 1.0]  # never waited an hour

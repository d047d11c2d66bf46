"""A signed network on real processes: ``LocalNetwork`` makes the identities, starts the hub
with the roster and its key and gives every site its key; a study runs end to end with
every message signed and checked, and a release posted straight to the hub without the
site's signature is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from behindglass.analyses.requests import CohortCount
from behindglass.client import connect
from behindglass.client.local_network import LocalNetwork
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SignatureError
from behindglass.core.messages import (
    REFUSAL_HEADER,
    SIGNATURE_HEADER,
    Release,
    Task,
    release_body,
)
from behindglass.core.signing import SigningKey
from behindglass.site.signatures import sign_release
from tests.unit.test_site_agent import build_site

SITES = ("site-a", "site-b")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    work = tmp_path_factory.mktemp("signed")
    dbs = {s: build_site(work / f"{s}.duckdb") for s in SITES}
    with LocalNetwork(dbs, workdir=work / "net", min_cell=11, poll_wait=2.0) as local:
        yield local


def test_a_signed_network_runs_a_study_end_to_end(net: LocalNetwork) -> None:
    assert "--roster" in " ".join(net._procs["hub"].args)  # the hub runs signed
    with net.connect() as researcher:
        assert researcher.roster is not None and researcher.signing_key is not None
        draft = researcher.study("signed", cohorts={"all": Cohort.everyone()})
        result = draft.add(CohortCount("all")).run(timeout=60, progress=False)
    # run() checked every release against its site's key before returning it
    assert result.complete and sorted(r.site for r in result.raw.releases) == list(SITES)
    assert set(result.raw.release_signatures) == {r.task_id for r in result.raw.releases}
    assert result["CohortCount"].to_pandas()["count"].iloc[0] == 80
    for site in SITES:  # each agent checked its task (and keeps the hub's nonce)
        assert (net.home(site) / "nonces.jsonl").read_text(encoding="utf-8").strip()


def test_an_unsigned_study_is_refused_by_the_signed_hub(net: LocalNetwork) -> None:
    with connect(net.url, net.researcher_token) as unsigned:
        draft = unsigned.study("unsigned", cohorts={"all": Cohort.everyone()})
        with pytest.raises(SignatureError, match="unsigned"):
            draft.add(CohortCount("all")).submit()


def _claim(url: str, token: str, timeout: float = 20.0) -> Task:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/api/v1/tasks/next", params={"wait": 2},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if r.status_code == 200:
            return Task.model_validate_json(r.content)
    raise AssertionError("no task for the stopped site")


def test_a_forged_release_is_refused(net: LocalNetwork) -> None:
    """site-b's agent is stopped; someone holding its token (not its key) claims its task
    and posts releases of their own making."""
    proc = net._procs["site-b"]
    proc.terminate()
    proc.wait(timeout=10)
    token = (net.home("site-b") / "site.token").read_text(encoding="utf-8")
    with net.connect() as researcher:
        handle = researcher.submit(researcher.study(
            "forged", cohorts={"all": Cohort.everyone()}, sites=["site-b"]).add(
            CohortCount("all")).spec)
        task = _claim(net.url, token)
        agg = SiteAggregate(analysis="CohortCount", kind="cohort_count", tables=(
            CountTable(name="persons", cells=(Cell(key=(), count=999),)),))
        body = release_body(Release(task_id=task.task_id, site="site-b", aggregates=(agg,)))
        other = SigningKey.load(net.identity / "sites" / "site-a" / "keys" / "signing.key")
        for signature, status, reason in (
                (None, 401, "unsigned"),
                (sign_release(body, other, "site-b"), 401, "key of site 'site-a'"),
                (sign_release(body, SigningKey.generate(), "site-b"), 401, "no member")):
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            if signature is not None:
                headers[SIGNATURE_HEADER] = signature
            r = httpx.post(f"{net.url}/api/v1/tasks/{task.task_id}/release", content=body,
                           headers=headers, timeout=10)
            assert r.status_code == status, r.text
            assert r.headers[REFUSAL_HEADER] == "signature" and reason in r.json()["detail"]
        status = handle.status()
        assert [t.state for t in status.tasks] == ["running"]  # nothing was recorded
        assert handle.results().raw.releases == ()


def test_every_audit_log_is_signed_by_its_owner(net: LocalNetwork) -> None:
    """The sites' and the hub's audit logs verify with their owners' public keys, entry by
    entry; checked with another member's key, every entry is refused."""
    from behindglass.core.signing import VerifyKey
    from behindglass.governance.audit import verify

    hub_key = VerifyKey.load(net.identity / "hub" / "signing.pub")
    hub_log = net.workdir / "hub" / "audit" / "hub.jsonl"
    assert verify(hub_log, key=hub_key).ok
    for site in SITES:
        site_key = VerifyKey.load(net.home(site) / "keys" / "signing.pub")
        report = verify(net.audit_path(site), key=site_key)
        assert report.ok and report.entries > 0
        assert not verify(net.audit_path(site), key=hub_key).ok

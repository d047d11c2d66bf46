"""Promise 4 on real processes: a site runs only what its steward approved.

Three GiBleed sites, one of which (the first) trusts no one: a study reaches every site, the
two trusting sites release at once, and the first holds it as ``awaiting_approval`` until its
steward runs ``behindglass site approve`` in another process. A second study is rejected there
with a reason, which the researcher reads as a refusal. Everything the steward decided is in
the site's audit log, which still verifies.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

import behindglass as bg
from behindglass.governance.audit import read_entries, verify
from tests.integration.harness import bg as bg_cli

pytestmark = pytest.mark.integration

STRICT = 'version = 1\nrevision = "strict"\n\n[disclosure]\nmin_cell = 11\n'


def steward(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BEHINDGLASS_STEWARD": "sam"}
    return subprocess.run(bg_cli("site", *args, "--home", str(home)), env=env,
                          capture_output=True, text=True, timeout=120)


def wait_for_state(handle, site: str, state: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {t.site: t.state for t in handle.status(wait=2.0).tasks}
        if states.get(site) == state:
            return
    raise AssertionError(f"{site} never reached {state}: {states}")


def test_a_study_waits_for_the_steward_of_a_strict_site(site_dbs: dict[str, Path],
                                                        tmp_path: Path) -> None:
    strict = sorted(site_dbs)[0]
    policy = tmp_path / "strict.toml"
    policy.write_text(STRICT, encoding="utf-8")
    with bg.LocalNetwork(site_dbs, workdir=tmp_path / "net", poll_wait=2.0,
                         policies={strict: policy}) as network:
        home = network.home(strict)
        net = network.connect()
        study = net.study("approval", cohorts={"all": bg.Cohort.everyone()})
        study.add(bg.analyses.Characterize("all", by=["sex"], top_n=5))
        handle = study.submit()
        wait_for_state(handle, strict, "awaiting_approval")
        time.sleep(3)  # the strict site's steward is away: it stays held
        assert {t.site: t.state for t in handle.status().tasks}[strict] == "awaiting_approval"
        listed = steward(home, "requests")
        assert listed.returncode == 0 and handle.study_id in listed.stdout
        approved = steward(home, "approve", handle.study_id, "--note", "IRB 2026-114")
        assert approved.returncode == 0, approved.stderr
        result = handle.wait(timeout=120, progress=False)
        assert result.state == "complete"
        assert {t.site: t.state for t in result.tasks}[strict] == "released"

        second = net.study("rejected", cohorts={"all": bg.Cohort.everyone()})
        second.add(bg.analyses.Characterize("all", by=["sex"], top_n=5))
        handle2 = second.submit()
        wait_for_state(handle2, strict, "awaiting_approval")
        rejected = steward(home, "reject", handle2.study_id, "--reason", "no protocol on file")
        assert rejected.returncode == 0, rejected.stderr
        out = handle2.wait(timeout=120, progress=False)
        assert {t.site: t.state for t in out.tasks}[strict] == "refused"
        refusals = [r for r in handle2.results().refusals if r.site == strict]
        assert refusals and all("no protocol on file" in r.reason for r in refusals)
        # approving a rejected study is refused, with a clear message and no traceback
        again = steward(home, "approve", handle2.study_id)
        assert again.returncode == 1 and "rejected" in again.stderr
        assert "Traceback" not in again.stderr
    audit = network.audit_path(strict)
    events = [e["event"] for _, e in read_entries(audit)]
    assert events.count("approval_requested") == 2
    assert "steward_study_approved" in events and "steward_study_rejected" in events
    assert verify(audit).ok

"""The agent's memo of study populations: a refit of the same population skips the build,
and anything that defines the population (cohorts, settings, the store file) is part of
its key, so a memo never answers with another population's rows."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from behindglass.analyses.requests import Glm
from behindglass.core.cohort import Cohort
from behindglass.core.messages import Task
from behindglass.core.population import PopulationSettings
from behindglass.core.study import StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.site import SiteAgent
from behindglass.site.memo import PopulationMemo, store_version

CELECOXIB, DICLOFENAC, GI_BLEED = 1118084, 1124300, 192671
COHORTS = {"celecoxib": Cohort.drug(CELECOXIB), "diclofenac": Cohort.drug(DICLOFENAC),
           "gib": Cohort.condition(GI_BLEED)}
SETTINGS = PopulationSettings.from_dict({"washout_days": 365})


class Counting:
    """A store that counts how often it builds a population."""

    def __init__(self, store: SiteStore) -> None:
        self.store, self.builds = store, 0

    def population(self, *args: Any) -> pd.DataFrame:
        self.builds += 1
        return self.store.population(*args)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def store(gibleed_db: Path):
    with SiteStore.open(gibleed_db) as s:
        yield s


def build(data: Any, target: str = "celecoxib", settings: PopulationSettings = SETTINGS
          ) -> pd.DataFrame:
    return data.population(COHORTS[target], COHORTS["diclofenac"], COHORTS["gib"], settings)


def test_the_same_population_is_built_once_and_equal(store: SiteStore) -> None:
    counting, memo = Counting(store), PopulationMemo()
    first = build(memo.wrap(counting, "v1"))  # type: ignore[arg-type]
    again = build(memo.wrap(counting, "v1"))  # type: ignore[arg-type]
    assert counting.builds == 1 and (memo.hits, memo.misses) == (1, 1)
    assert again.equals(first) and again.equals(build(store))


def test_a_frame_changed_by_one_analysis_is_not_what_the_next_gets(store: SiteStore) -> None:
    memo = PopulationMemo()
    first = build(memo.wrap(store, None))
    first["treatment"] = 7
    assert set(build(memo.wrap(store, None))["treatment"]) == {0, 1}


def test_what_defines_a_population_is_in_its_key(store: SiteStore) -> None:
    counting, memo = Counting(store), PopulationMemo(max_frames=10)
    base = build(memo.wrap(counting, "v1"))  # type: ignore[arg-type]
    other_cohort = build(memo.wrap(counting, "v1"), target="gib")  # type: ignore[arg-type]
    other_settings = build(memo.wrap(counting, "v1"),  # type: ignore[arg-type]
                           settings=PopulationSettings.from_dict(
                               {"washout_days": 365, "risk_window_end": 30,
                                "end_anchor": "cohort start"}))
    other_store = build(memo.wrap(counting, "v2"))  # type: ignore[arg-type]
    assert counting.builds == 4
    assert not other_settings.equals(base) and not other_cohort.equals(base)
    assert other_store.equals(base)


def test_old_frames_expire_and_the_memo_holds_at_most_its_size(store: SiteStore) -> None:
    clock = Clock()
    counting, memo = Counting(store), PopulationMemo(max_frames=1, ttl=60, clock=clock)
    build(memo.wrap(counting, None))  # type: ignore[arg-type]
    clock.now = 59
    build(memo.wrap(counting, None))  # type: ignore[arg-type]
    assert counting.builds == 1
    clock.now = 121
    build(memo.wrap(counting, None))  # type: ignore[arg-type]
    assert counting.builds == 2
    build(memo.wrap(counting, None), target="gib")  # type: ignore[arg-type]
    assert len(memo) == 1  # the newest only
    build(memo.wrap(counting, None))  # type: ignore[arg-type]
    assert counting.builds == 4


class CountingIds:
    """A store that counts how often it instantiates a cohort's members."""

    def __init__(self, store: SiteStore) -> None:
        self.store, self.builds = store, 0

    def person_ids(self, cohort: Cohort) -> Any:
        self.builds += 1
        return self.store.person_ids(cohort)


def test_a_cohorts_person_ids_are_kept_apart_from_the_frames(store: SiteStore) -> None:
    memo = PopulationMemo(max_frames=1)
    counting = CountingIds(store)
    data = memo.wrap(counting, version="v1")  # type: ignore[arg-type]
    first = data.person_ids(COHORTS["celecoxib"])
    first[:] = -1  # a caller that changes its copy changes nothing kept
    again = data.person_ids(COHORTS["celecoxib"])
    assert counting.builds == 1 and (again == store.person_ids(COHORTS["celecoxib"])).all()
    build(memo.wrap(Counting(store), version="v1"))  # a frame does not push the ids out
    data.person_ids(COHORTS["celecoxib"])
    assert counting.builds == 1
    memo.wrap(counting, version="v2").person_ids(COHORTS["celecoxib"])  # type: ignore[arg-type]
    assert counting.builds == 2  # another store version: built again


def test_a_memo_of_no_time_keeps_nothing(store: SiteStore) -> None:
    memo = PopulationMemo(ttl=0)
    assert memo.wrap(store, None) is store and not memo.enabled
    with pytest.raises(ValueError, match="must not be negative"):
        PopulationMemo(max_frames=-1)


def test_a_rewritten_store_file_has_another_version(tmp_path: Path, gibleed_db: Path) -> None:
    copy = tmp_path / "site.duckdb"
    shutil.copy(gibleed_db, copy)
    before = store_version(copy)
    os.utime(copy, ns=(1, 1))
    assert store_version(copy) != before and store_version(copy) is not None
    assert store_version("postgresql://u@h/db?schema=s") is None


class Link:
    hub_url = "http://hub.invalid"

    def post_release(self, task_id: str, body: bytes, signature: str | None = None) -> dict:
        import hashlib

        return {"task_id": task_id, "state": "released",
                "digest": hashlib.sha256(body).hexdigest()}

    def close(self) -> None:
        pass


def test_the_agent_refits_a_population_without_rebuilding_it(gibleed_db: Path,
                                                              tmp_path: Path) -> None:
    """Two studies of the same population at one agent: the second starts from the memo
    (its cohorts are not even generated) and releases exactly what the first did."""
    copy = tmp_path / "site.duckdb"
    shutil.copy(gibleed_db, copy)
    memo = PopulationMemo()
    agent = SiteAgent(hub_url=Link.hub_url, name="site-a", token="t", db_path=copy,
                      link=Link(), memo=memo)  # type: ignore[arg-type]
    spec = Glm("celecoxib", "gib", comparator="diclofenac", covariates=["treatment", "age"],
               population={"washout_days": 365}, name="Logistic").to_spec()
    study = StudySpec(title="memo", cohorts=COHORTS, analyses=(spec,))
    releases = []
    for n in (1, 2):
        task = Task(task_id=f"tk-{n}", study_id=f"st-{n}", site="site-a", researcher="alice",
                    study=study, created=dt.datetime.now(dt.UTC))
        releases.append(agent.handle(task))
    assert (memo.hits, memo.misses) == (1, 1)
    assert releases[0].aggregates == releases[1].aggregates and releases[0].aggregates
    os.utime(copy, ns=(1, 1))  # the site refreshed its store: build afresh
    agent.handle(Task(task_id="tk-3", study_id="st-3", site="site-a", researcher="alice",
                      study=study, created=dt.datetime.now(dt.UTC)))
    assert memo.misses == 2
    agent.close()


def test_a_later_round_does_not_open_the_store(gibleed_db: Path) -> None:
    """Round 0 opens the store (and a store that cannot be opened fails the task there);
    the fit's later rounds answer from what the analysis kept, without opening it."""
    from behindglass.analyses.catalog import get_analysis

    opened: list[int] = []

    def open_data() -> SiteStore:
        opened.append(1)
        return SiteStore.open(gibleed_db)

    agent = SiteAgent(hub_url=Link.hub_url, name="site-a", token="t", open_data=open_data,
                      link=Link())  # type: ignore[arg-type]
    spec = Glm("celecoxib", "gib", comparator="diclofenac", covariates=["treatment"],
               population={"washout_days": 365}, name="Logistic").to_spec()
    study = StudySpec(title="lazy", cohorts=COHORTS, analyses=(spec,))
    glm = get_analysis("glm")
    state = glm.start(spec)  # type: ignore[attr-defined]
    for n in range(3):
        task = Task(task_id=f"tk-{n}", study_id="st", site="site-a", researcher="alice",
                    study=study, created=dt.datetime.now(dt.UTC), round=n,
                    analyses=None if n == 0 else ("Logistic",), states={"Logistic": state})
        release = agent.handle(task)
        assert release.error is None and release.refusals == ()
        state, done = glm.step(spec, state, [("site-a", release.aggregates[0])])  # type: ignore[attr-defined]
        assert not done
    assert len(opened) == 1
    agent.close()

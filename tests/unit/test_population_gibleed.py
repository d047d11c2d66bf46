"""The study population on Eunomia GiBleed (celecoxib vs diclofenac, outcome GI bleed),
against an independent pandas computation from the raw CDM tables; and the validation of
the settings.

The reference re-implements both halves from scratch: the builder cohorts' Circe semantics
(first exposure ever to the concept or a descendant known to the vocabulary, kept when it
lies in an observation period, ending at that period's end) and CohortMethod's
createStudyPopulation (see behindglass.core.population), row by row in Python.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from pydantic import ValidationError

from behindglass.core.cohort import Cohort
from behindglass.core.errors import SpecError
from behindglass.core.population import CovariateSpec, PopulationSettings
from behindglass.engine.site_store import SiteStore

CELECOXIB, DICLOFENAC, GI_BLEED = 1118084, 1124300, 192671
ACETAMINOPHEN = 1125315
OSTEOARTHRITIS, VIRAL_SINUSITIS, ASPIRIN_81 = 80180, 40481087, 19059056

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "eunomia-gibleed"
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared data absent")


# -- the independent reference -----------------------------------------------------------
class Raw:
    """The raw GiBleed tables, read with duckdb."""

    def __init__(self, db: Path) -> None:
        con = duckdb.connect(str(db), read_only=True)
        try:
            def read(sql: str) -> pd.DataFrame:
                return con.sql(sql).df()

            self.person = read("SELECT person_id, gender_concept_id, year_of_birth FROM person")
            self.op = read("SELECT person_id, observation_period_start_date AS s,"
                           " observation_period_end_date AS e FROM observation_period")
            self.events = {
                "drug": read("SELECT person_id, drug_concept_id AS c,"
                             " drug_exposure_start_date AS d FROM drug_exposure"),
                "condition": read("SELECT person_id, condition_concept_id AS c,"
                                  " condition_start_date AS d FROM condition_occurrence"),
            }
            self.concepts = set(read("SELECT concept_id FROM concept")["concept_id"])
            self.ancestor = read("SELECT ancestor_concept_id AS a, descendant_concept_id AS d"
                                 " FROM concept_ancestor")
        finally:
            con.close()
        for frame in (self.op, *self.events.values()):
            for c in frame.columns:
                if c in ("s", "e", "d"):
                    frame[c] = pd.to_datetime(frame[c]).dt.date
        self.periods: dict[int, list[tuple[dt.date, dt.date]]] = {}
        for pid, s, e in self.op.itertuples(index=False):
            self.periods.setdefault(int(pid), []).append((s, e))

    def family(self, concept: int, descendants: bool = True) -> set[int]:
        ids = {concept}
        if descendants:
            ids |= set(self.ancestor.loc[self.ancestor["a"] == concept, "d"])
        return ids

    def period_of(self, pid: int, day: dt.date) -> tuple[dt.date, dt.date] | None:
        for s, e in self.periods.get(pid, []):
            if s <= day <= e:
                return s, e
        return None

    def cohort(self, domain: str, concept: int) -> dict[int, tuple[dt.date, dt.date]]:
        """Builder cohort: person -> (first event ever, end of its observation period)."""
        ev = self.events[domain]
        ids = self.family(concept) & self.concepts  # Circe: only concepts the site knows
        first = ev[ev["c"].isin(ids)].groupby("person_id")["d"].min()
        out = {}
        for pid, day in first.items():
            period = self.period_of(int(pid), day)
            if period is not None:
                out[int(pid)] = (day, period[1])
        return out

    def record_days(self, cov: CovariateSpec) -> dict[int, list[dt.date]]:
        ev = self.events[cov.domain]
        ids: set[int] = set()
        for c in cov.concept_ids:
            ids |= self.family(c, cov.descendants)
        out: dict[int, list[dt.date]] = {}
        for pid, day in ev.loc[ev["c"].isin(ids), ["person_id", "d"]].itertuples(index=False):
            out.setdefault(int(pid), []).append(day)
        return out


def reference(raw: Raw, target: tuple[str, int], comparator: tuple[str, int],
              outcome: tuple[str, int], s: PopulationSettings) -> pd.DataFrame:
    persons = {int(r.person_id): r for r in raw.person.itertuples(index=False)}
    rows: list[dict[str, Any]] = []
    for treatment, (domain, concept) in ((1, target), (0, comparator)):
        for pid, (start, end) in raw.cohort(domain, concept).items():
            if pid in persons:
                op_start, op_end = raw.period_of(pid, start)  # type: ignore[misc]
                rows.append({"pid": pid, "treatment": treatment, "start": start, "end": end,
                             "op_start": op_start, "op_end": op_end})
    by_person: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_person.setdefault(r["pid"], []).append(r)
    if s.remove_duplicate_subjects == "remove_all":
        rows = [r for r in rows if len(by_person[r["pid"]]) == 1]
    elif s.remove_duplicate_subjects == "keep_first":
        rows = [r for r in rows if all(o is r or o["start"] > r["start"]
                                       for o in by_person[r["pid"]])]
    rows = [r for r in rows if (r["start"] - r["op_start"]).days >= s.washout_days]
    outcome_days = {pid: sorted({start}) for pid, (start, _) in
                    raw.cohort(*outcome).items()}
    covariate_days = [raw.record_days(c) for c in s.covariates]
    out = []
    for r in rows:
        to_end = (r["end"] - r["start"]).days
        to_obs_end = (r["op_end"] - r["start"]).days
        from_obs_start = (r["op_start"] - r["start"]).days
        risk_start = s.risk_window_start + (to_end if s.start_anchor == "cohort end" else 0)
        risk_end = s.risk_window_end + (to_end if s.end_anchor == "cohort end" else 0)
        risk_end = min(risk_end, to_obs_end)
        days = [(o - r["start"]).days for o in outcome_days.get(r["pid"], [])]
        days = [d for d in days if from_obs_start <= d <= to_obs_end]
        if s.remove_prior_outcome and any(-s.prior_outcome_lookback < d < risk_start
                                          for d in days):
            continue
        if s.min_days_at_risk != 0 and risk_end - risk_start < s.min_days_at_risk:
            continue
        inside = [d for d in days if risk_start <= d <= risk_end]
        tar = risk_end - risk_start + 1
        p = persons[r["pid"]]
        row = {"pid": r["pid"], "treatment": r["treatment"], "time_at_risk": tar,
               "outcome_count": len(inside), "event": int(bool(inside)),
               "survival_time": min(inside) - risk_start + 1 if inside else tar}
        if s.demographics:
            row |= {"age": r["start"].year - int(p.year_of_birth),
                    "male": int(p.gender_concept_id == 8507), "index_year": r["start"].year}
        for cov, recorded in zip(s.covariates, covariate_days, strict=True):
            low, high = cov.window
            row[cov.name] = int(any((low is None or (d - r["start"]).days >= low)
                                    and (d - r["start"]).days <= high
                                    for d in recorded.get(r["pid"], [])))
        out.append(row)
    frame = pd.DataFrame(out, columns=["pid", *s.columns])
    frame = frame.sort_values(["pid", "treatment"], ascending=[True, False])
    return frame.drop(columns="pid").reset_index(drop=True).astype("int64")


@pytest.fixture(scope="module")
def raw(gibleed_db: Path) -> Raw:
    return Raw(gibleed_db)


@pytest.fixture(scope="module")
def store(gibleed_db: Path) -> Any:
    with SiteStore.open(gibleed_db) as s:
        yield s


COVARIATES = (
    CovariateSpec(name="osteoarthritis", domain="condition", concept_ids=(OSTEOARTHRITIS,)),
    CovariateSpec(name="sinusitis_year", domain="condition", concept_ids=(VIRAL_SINUSITIS,),
                  window=(-365, 0)),
    CovariateSpec(name="aspirin_decade", domain="drug", concept_ids=(ASPIRIN_81,),
                  descendants=False, window=(-3650, -1)),
    CovariateSpec(name="acetaminophen", domain="drug", concept_ids=(ACETAMINOPHEN,)),
    CovariateSpec(name="acetaminophen_30", domain="drug", concept_ids=(ACETAMINOPHEN,),
                  window=(-30, 0)),
)
NON_DEFAULT = PopulationSettings(
    washout_days=365, remove_duplicate_subjects="keep_first", prior_outcome_lookback=365,
    risk_window_start=1, risk_window_end=365, end_anchor="cohort start",
    min_days_at_risk=30, covariates=COVARIATES)


def population(store: SiteStore, comparator: int, s: PopulationSettings) -> pd.DataFrame:
    return store.population(Cohort.drug(CELECOXIB), Cohort.drug(comparator),
                            Cohort.condition(GI_BLEED), s)


def test_default_settings_match_the_reference(store: SiteStore, raw: Raw) -> None:
    s = PopulationSettings()
    got = population(store, DICLOFENAC, s)
    want = reference(raw, ("drug", CELECOXIB), ("drug", DICLOFENAC),
                     ("condition", GI_BLEED), s)
    assert len(got) > 2000 and got["event"].sum() > 100  # a meaningful comparison
    assert set(got["treatment"]) == {0, 1}
    pd.testing.assert_frame_equal(got, want)


def test_non_default_settings_match_the_reference(store: SiteStore, raw: Raw) -> None:
    got = population(store, DICLOFENAC, NON_DEFAULT)
    want = reference(raw, ("drug", CELECOXIB), ("drug", DICLOFENAC),
                     ("condition", GI_BLEED), NON_DEFAULT)
    assert len(got) > 500 and got["event"].sum() > 0
    for name in ("sinusitis_year", "aspirin_decade", "acetaminophen", "acetaminophen_30"):
        assert 0 < got[name].sum() < len(got), name  # each covariate separates persons
    pd.testing.assert_frame_equal(got, want)
    default = population(store, DICLOFENAC, PopulationSettings())
    assert len(got) < len(default)  # the washout and the risk window removed persons


@pytest.mark.parametrize("rule", ["keep_all", "keep_first", "remove_all"])
def test_duplicate_rules_match_the_reference(store: SiteStore, raw: Raw, rule: str) -> None:
    """Celecoxib and diclofenac share no person in GiBleed; acetaminophen shares many."""
    s = PopulationSettings(remove_duplicate_subjects=rule)  # type: ignore[arg-type]
    got = population(store, ACETAMINOPHEN, s)
    want = reference(raw, ("drug", CELECOXIB), ("drug", ACETAMINOPHEN),
                     ("condition", GI_BLEED), s)
    pd.testing.assert_frame_equal(got, want)


def test_duplicate_rules_differ_on_overlapping_cohorts(store: SiteStore) -> None:
    sizes = {rule: len(population(store, ACETAMINOPHEN, PopulationSettings(
        remove_duplicate_subjects=rule))) for rule in ("keep_all", "keep_first", "remove_all")}
    assert sizes["keep_all"] > sizes["keep_first"] > sizes["remove_all"] > 0


def test_target_only_population(store: SiteStore) -> None:
    f = store.population(Cohort.drug(CELECOXIB), None, Cohort.condition(GI_BLEED),
                         PopulationSettings(demographics=False))
    both = population(store, DICLOFENAC, PopulationSettings(demographics=False))
    assert set(f["treatment"]) == {1}
    pd.testing.assert_frame_equal(
        f, both[both["treatment"] == 1].reset_index(drop=True))


# -- validation ----------------------------------------------------------------------------
def cov(**changes: Any) -> dict[str, Any]:
    return {"name": "x", "domain": "condition", "concept_ids": [1], **changes}


@pytest.mark.parametrize(("data", "message"), [
    ({"washout_days": -1}, "washout_days: Input should be greater than or equal to 0"),
    ({"prior_outcome_lookback": -5}, "prior_outcome_lookback: Input should be greater"),
    ({"min_days_at_risk": -1}, "min_days_at_risk: Input should be greater"),
    ({"remove_duplicate_subjects": "keep first"}, "remove_duplicate_subjects: Input should be"),
    ({"start_anchor": "start"}, "start_anchor: Input should be 'cohort start' or 'cohort end'"),
    ({"end_anchor": "cohort_end"}, "end_anchor: Input should be"),
    ({"risk_window_start": 1.5}, "risk_window_start: Input should be a valid integer"),
    ({"risk_window_end": True}, "risk_window_end: Input should be a valid integer"),
    ({"remove_prior_outcome": "yes"}, "remove_prior_outcome: Input should be a valid boolean"),
    ({"washout": 30}, "washout: Extra inputs are not permitted"),
    ({"covariates": [cov(), cov()]}, "covariate names repeat: ['x']"),
    ({"covariates": [cov(name="Age2")]}, "covariate name 'Age2' must be a lower-case"),
    ({"covariates": [cov(name="a" * 41)]}, "must be a lower-case identifier"),
    ({"covariates": [cov(name="event")]}, "'event' is a column of the frame already"),
    ({"covariates": [cov(domain="visit")]}, "covariates.0.domain: Input should be"),
    ({"covariates": [cov(concept_ids=[])]}, "covariates.0.concept_ids: Tuple should have at"),
    ({"covariates": [cov(concept_ids=[5, 0])]}, "concept ids must be positive integers, got [0]"),
    ({"covariates": [cov(window=[0, -30])]}, "window (0, -30) starts after it ends"),
    ({"covariates": [cov(window=[None])]}, "covariates.0.window"),
    ({"covariates": [cov(descendants=1)]}, "descendants: Input should be a valid boolean"),
    ({"covariates": [cov(concepts=[1])]}, "concepts: Extra inputs are not permitted"),
])
def test_settings_validation(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as err:
        PopulationSettings.from_dict(data, where="study.json analysis 'cm'")
    assert str(err.value).startswith("study.json analysis 'cm': ")
    assert message in str(err.value)
    with pytest.raises(ValidationError):
        PopulationSettings.model_validate(data)


def test_settings_defaults_round_trip_and_freeze() -> None:
    s = PopulationSettings.from_dict({"covariates": [cov(window=[-365, 0])]})
    assert s.covariates[0].window == (-365, 0)
    assert s.covariates[0].descendants is True
    assert s.columns == ("treatment", "time_at_risk", "outcome_count", "event",
                         "survival_time", "age", "male", "index_year", "x")
    assert PopulationSettings.model_validate(s.model_dump(mode="json")) == s
    d = PopulationSettings()
    assert (d.washout_days, d.remove_duplicate_subjects, d.remove_prior_outcome,
            d.prior_outcome_lookback, d.risk_window_start, d.start_anchor, d.risk_window_end,
            d.end_anchor, d.min_days_at_risk, d.covariates, d.demographics) == (
        0, "keep_all", True, 99999, 0, "cohort start", 0, "cohort end", 1, (), True)
    with pytest.raises(ValidationError):
        d.washout_days = 5  # type: ignore[misc]

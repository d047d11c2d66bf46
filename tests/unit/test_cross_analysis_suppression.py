"""Suppression across the analyses of one release: an attacker who holds every table a site
released for one task, and knows that a characterization and a contingency table of the same
cohort count the same persons, pins no hidden cell narrower than the minimum cell.

The attack is real on GiBleed: suppressed one analysis at a time, a characterization by
index year beside a contingency table of index year x GI bleed gives a hidden cell's exact
count back (the row sum is shown in the characterization). The site now suppresses the
analyses of a task together (``privacy.suppression.enforce_release``), tying tables by what
they count (``TableScope``, ``privacy.linkage``), and by whom, not by how a cohort is written
(``site.scopes.by_members``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from behindglass.analyses.base import scope, with_scopes
from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.covariate_scopes import release_scopes
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, TableScope
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError
from behindglass.core.messages import Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.privacy import suppression
from behindglass.privacy.linkage import Scoped, cross_relations, qualify
from behindglass.privacy.protection import (
    CellRef,
    Unprotectable,
)
from behindglass.privacy.suppression import enforce, enforce_release
from behindglass.site.execute import execute_task
from behindglass.site.scopes import by_members
from tests.unit.attacker_support import attacker

POLICY = DisclosurePolicy()  # min_cell 11
CEL = Cohort.drug(1118084)
# the same persons, written differently (every index date lies in this window)
CEL_AGAIN = CEL.index_between("1900-01-01", "2100-01-01")
COHORTS = {"cel": CEL, "cel_again": CEL_AGAIN, "gib": Cohort.condition(192671)}


def characterize(cohort: str = "cel", by: Sequence[str] = ("index_year", "sex")) -> AnalysisSpec:
    return AnalysisSpec(kind="characterize", name="Who", cohort=cohort,
                        params={"by": list(by), "top_n": 0})


def contingency(cohort: str = "cel", rows: str = "index_year", cols: str = "cohort:gib"
                ) -> AnalysisSpec:
    return AnalysisSpec(kind="contingency", name="Table", cohort=cohort, outcomes=["gib"],
                        params={"rows": rows, "cols": cols})


def raw(data: SiteStore, spec: AnalysisSpec) -> SiteAggregate:
    site = SiteContext(data=data, cohorts=COHORTS, policy=POLICY)
    return get_analysis(spec.kind).local(site, spec)


def true_count(raws: Sequence[SiteAggregate], ref: CellRef) -> int | None:
    pos, table = ref[0].split("\x1f")
    return raws[int(pos)].table(table).value(*ref[1])


@pytest.fixture(scope="module")
def store(gibleed_db: Path) -> SiteStore:
    with SiteStore.open(gibleed_db) as data:
        yield data


# -- the attack, and the defence ------------------------------------------------------------
def test_one_analysis_at_a_time_a_hidden_cell_is_read_off_the_other(store: SiteStore) -> None:
    raws = [raw(store, characterize()), raw(store, contingency())]
    alone = [enforce(a, POLICY) for a in raws]
    pinned = {ref: iv for ref, iv in attacker(raws, alone).items() if iv.width == 0}
    assert pinned, "the attack this defends against no longer reproduces on GiBleed"
    ref, iv = next((r, iv) for r, iv in pinned.items() if 0 < (true_count(raws, r) or 0) < 11)
    assert iv.lo == true_count(raws, ref)  # the exact small count, recovered


@pytest.mark.parametrize(("by", "rows", "cols"), [
    ("index_year", "index_year", "cohort:gib"),
    ("index_year", "index_year", "sex"),
    ("index_year", "sex", "index_year"),  # axes in the other order
])
def test_suppressed_together_no_hidden_cell_narrower_than_min_cell(
        store: SiteStore, by: str, rows: str, cols: str) -> None:
    raws = [raw(store, characterize(by=(by, "sex"))), raw(store, contingency(rows=rows, cols=cols))]
    released = enforce_release(raws, POLICY)
    assert all(isinstance(r, SiteAggregate) for r in released)
    widths = {ref: iv.width for ref, iv in attacker(raws, released).items()}
    assert widths and min(widths.values()) >= POLICY.min_cell


def test_scopes_tell_the_truth_on_real_data(store: SiteStore) -> None:
    """A relation that is false of the data is dropped before protecting (it helps no
    attacker), so a scope naming the wrong axis would silently tie nothing: every
    relation the scopes give must hold."""
    specs = [characterize(by=("sex", "age_band", "race", "ethnicity", "index_year")),
             contingency(rows="sex", cols="cohort:gib"),
             contingency(rows="age_band", cols="race"),
             contingency(rows="ethnicity", cols="index_year"),
             AnalysisSpec(kind="cohort_count", name="N", cohort="cel"),
             AnalysisSpec(kind="covariates", name="Cov", cohort="cel",
                          params={"domains": [], "count_domains": []})]
    raws = [raw(store, s) for s in specs]
    scoped = [Scoped(pos, t) for pos, a in enumerate(raws) for t in a.tables if t.scope]
    relations = cross_relations(scoped)
    values = {(qualify(pos, t.name), c.key): c.count for pos, a in enumerate(raws)
              for t in a.tables for c in t.cells}
    assert len(relations) > 40
    assert [r.why for r in relations if not r.holds(values)] == []
    # covariates' demographics are tied to the characterization on all five axes
    pairs = {(r.why.split("'")[1], r.why.split("'")[3]) for r in relations}
    assert {coarse for fine, coarse in pairs if "binary:" in fine} >= {
        "sex", "age_band", "race", "ethnicity", "index_year"}


def test_two_descriptive_analyses_of_one_variable_are_tied(store: SiteStore) -> None:
    params = {"variables": [{"name": "age", "variable": "age", "edges": [20, 40, 60, 80]}]}
    a = raw(store, AnalysisSpec(kind="descriptive", name="D1", cohort="cel", params=params))
    b = raw(store, AnalysisSpec(kind="descriptive", name="D2", cohort="cel", params=params))
    relations = cross_relations([Scoped(p, t) for p, x in enumerate((a, b)) for t in x.tables])
    assert {r.why for r in relations} == {"'hist:age' counts the persons of 'hist:age'",
                                          "'hist:age' counts the persons of 'n:age'",
                                          "'n:age' counts the persons of 'n:age'"}


def test_five_year_age_groups_cannot_be_read_off_ten_year_bands() -> None:
    """Covariates hide the one small group (40-44) and its cheapest partner, which lies in
    another ten-year band; the characterization shows 40-49, so 40-44 = 43 - 40."""
    cohort = Cohort.everyone()
    groups = {"40-44": 3, "45-49": 40, "50-54": 20, "55-59": 37}
    cov = SiteAggregate(analysis="Cov", kind="covariates", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=100),)),
        CountTable(name="binary:3:age_group", dims=("covariate_id",), margin="persons",
                   cells=tuple(Cell(key=(f"{8 + i}003",), count=n)
                               for i, n in enumerate(groups.values())),
                   labels={f"{8 + i}003": f"age group: {g}" for i, g in enumerate(groups)})))
    cov = with_scopes(cov, release_scopes(cohort, cov))
    who = SiteAggregate(analysis="Who", kind="characterize", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=100),), scope=scope(cohort)),
        CountTable(name="age_band", dims=("age_band",), margin="persons",
                   cells=(Cell(key=("40-49",), count=43), Cell(key=("50-59",), count=57)),
                   scope=scope(cohort, "age_band"))))
    raws = [who, cov]
    alone = attacker(raws, [enforce(a, POLICY) for a in raws])
    assert alone[(qualify(1, "binary:3:age_group"), ("8003",))] == (3, 3)
    together = attacker(raws, enforce_release(raws, POLICY))
    assert together and min(iv.width for iv in together.values()) >= POLICY.min_cell


# -- the site's real path ---------------------------------------------------------------------
def run_task(store: SiteStore, specs: Sequence[AnalysisSpec]) -> list[SiteAggregate]:
    study = StudySpec(title="t", cohorts=COHORTS, analyses=tuple(specs))
    task = Task(task_id="t", study_id="s", site="x", researcher="r", study=study,
                created=dt.datetime.now(dt.UTC))
    done = execute_task(task, store, POLICY)
    assert done.refusals == []
    return done.aggregates


@pytest.mark.parametrize("cohort", ["cel", "cel_again"])
def test_a_task_is_suppressed_as_one_release_whoever_wrote_the_cohort(
        store: SiteStore, cohort: str) -> None:
    """The contingency table's cohort is the characterization's, or another definition
    with the same members: the site ties them either way."""
    specs = [characterize(), contingency(cohort=cohort)]
    released = run_task(store, specs)
    raws = by_members([raw(store, s) for s in specs], COHORTS, store.person_ids)
    widths = [iv.width for iv in attacker(raws, released).values()]
    assert widths and min(widths) >= POLICY.min_cell
    # and what left the site carries no scope: not in the bytes, not on the objects
    for agg in released:
        assert all(t.scope is None for t in agg.tables)
        assert "scope" not in json.dumps(agg.to_dict()) and "members:" not in agg.model_dump_json()


def test_by_members_ties_only_cohorts_with_the_same_persons(store: SiteStore) -> None:
    other = {**COHORTS, "gib_only": Cohort.condition(192671)}
    specs = [characterize(), contingency(cohort="cel_again"),
             AnalysisSpec(kind="cohort_count", name="G", cohort="gib_only")]
    site = SiteContext(data=store, cohorts=other, policy=POLICY)
    raws = [get_analysis(s.kind).local(site, s) for s in specs]
    assert raws[0].table("persons").scope != raws[1].table("persons").scope
    tied = by_members(raws, other, store.person_ids)
    who = [a.table("persons").scope.cohort for a in tied]  # type: ignore[union-attr]
    assert who[0] == who[1] != who[2] and who[0].startswith("members:")
    # the outcome cohort's axis is renamed by its members too
    assert tied[1].table("table").scope.axes[1] == "member_of:" + who[2]  # type: ignore[union-attr]


# -- one analysis that cannot be protected is refused alone -----------------------------------
def scoped_table(name: str, cells: dict[str, int], cohort: str = "c") -> list[CountTable]:
    return [CountTable(name="persons", cells=(Cell(key=(), count=sum(cells.values())),),
                       scope=TableScope(cohort=cohort)),
            CountTable(name=name, dims=(name,), margin="persons",
                       cells=tuple(Cell(key=(k,), count=v) for k, v in cells.items()),
                       scope=TableScope(cohort=cohort, axes=("sex",)))]


def test_an_unprotectable_analysis_is_refused_and_the_others_protected_without_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    a = SiteAggregate(analysis="A", kind="characterize",
                      tables=tuple(scoped_table("sex", {"female": 5, "male": 95})))
    b = SiteAggregate(analysis="B", kind="characterize",
                      tables=tuple(scoped_table("sex", {"female": 40, "male": 60}, "d")))
    real = suppression.complement
    calls = []

    def stubborn(values, primary, relations, width, *rest, **more):  # type: ignore[no-untyped-def]
        calls.append(sorted({r[0] for r in values}))
        if any(r[0] == qualify(0, "sex") for r in primary):
            raise Unprotectable((qualify(0, "sex"), ("female",)))
        return real(values, primary, relations, width, *rest, **more)

    monkeypatch.setattr(suppression, "complement", stubborn)
    out = enforce_release([a, b], POLICY)
    assert isinstance(out[0], DisclosureError)
    assert str(out[0]) == ("table 'sex': no further cell can be suppressed to protect a "
                           "small cell; refused")  # the analysis's own table name
    assert isinstance(out[1], SiteAggregate) and out[1].table("sex").value("female") == 40
    assert len(calls) == 1  # B alone has nothing to hide: no second program


def test_a_single_analysis_is_suppressed_exactly_as_before() -> None:
    a = SiteAggregate(analysis="A", kind="characterize",
                      tables=tuple(scoped_table("sex", {"female": 5, "male": 95})))
    (alone,) = enforce_release([a], POLICY)
    assert alone == enforce(a, POLICY)
    assert isinstance(alone, SiteAggregate)
    assert alone.table("sex").value("female") is None and alone.table("sex").value("male") is None
    assert alone.table("persons").value() == 100

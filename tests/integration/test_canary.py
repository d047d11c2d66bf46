"""Privacy promise 1: no row-level value leaves a site, whatever analysis runs.

Eunomia GiBleed, split over three sites, gets canaries planted in its patient rows
(:mod:`tests.integration.canary_data`: source values, notes, shifted person ids, a lone
centenarian born on a unique date, an extreme measurement, a condition two persons have).
One real network (a hub and three site processes) runs two studies: one holding every
analysis kind of the catalog, then one of probes aimed at the two persons of the rare
condition, which each site must refuse or suppress (second, because the site's differencing
defence rightly refuses them and then locks the researcher out of further rounds). Then
every byte that left the sites or was written outside them is searched: each response body
the researcher received, the result JSON, its text summary and HTML report, the hub's state
(SQLite and its WAL, read while the hub runs and after it stops), the hub's audit log, every
process log and every site's audit log.

The first study must have released every analysis at one site at least, so the test cannot
pass by everything being refused. Run with ``-s`` to see which site refused what.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

import behindglass as bg
from behindglass.analyses import CATALOG
from behindglass.web.report import render_report
from tests.integration.canary_data import (
    CANARY,
    CELECOXIB,
    EXTREME,
    OLD_BIRTH,
    PERSON_ID,
    RARE_CONCEPT,
    RARE_NAME,
    TEMPERATURE,
    leaks,
    plant,
)

pytestmark = pytest.mark.integration

MIN_CELL = 11
POPULATION: dict[str, Any] = {"washout_days": 365, "remove_prior_outcome": True,
                              "risk_window_end": 0, "end_anchor": "cohort end"}
CM_POPULATION: dict[str, Any] = {
    "washout_days": 365, "remove_duplicate_subjects": "remove_all",
    "remove_prior_outcome": True, "risk_window_end": 365, "end_anchor": "cohort start",
    "min_days_at_risk": 1, "demographics": True}
YEAR = {"start_offset": 0, "start_anchor": "start", "end_offset": 365, "end_anchor": "start"}
COHORTS = {
    "everyone": bg.Cohort.everyone(),
    "celecoxib": bg.Cohort.drug(CELECOXIB),
    "diclofenac": bg.Cohort.drug(1124300),
    "gi_bleed": bg.Cohort.condition(192671),
    "rare": bg.Cohort.condition(RARE_CONCEPT),
}
A = bg.analyses
# every kind of the catalog, each released by some site
REQUESTS = (
    A.CohortCount("celecoxib", name="Count"),
    A.Characterize("everyone", top_n=100, window_days=None,
                   by=["sex", "age_band", "race", "ethnicity", "index_year"]),
    A.Characterize("celecoxib", top_n=100, window_days=None,
                   domains=["condition", "drug", "procedure", "measurement"],
                   by=["sex", "age_band", "index_year"], name="CharacterizeCelecoxib"),
    A.Covariates("celecoxib", comparator="diclofenac"),
    A.Incidence("celecoxib", "gi_bleed", comparator="diclofenac", tars=[YEAR],
                rate_ratios={"reference": {"sex": "female"}}),
    A.DataQuality("everyone", detail=True),
    A.Glm("celecoxib", "gi_bleed", comparator="diclofenac",
          covariates=["treatment", "age", "male"], population=POPULATION, name="Logistic"),
    A.Cox("celecoxib", "gi_bleed", comparator="diclofenac", population=POPULATION),
    A.KaplanMeier("celecoxib", "diclofenac", "gi_bleed", population=POPULATION),
    A.CohortMethod("celecoxib", "diclofenac", "gi_bleed", population=CM_POPULATION,
                   ps_covariates=["age", "male", "index_year"]),
    A.Descriptive("celecoxib", variables=[{"variable": "age"}], quantiles=[0.0, 0.5, 1.0]),
    # any temperature of the user's life, the one nearest the index (the extreme one's are
    # all extreme); the celecoxib cohort again, as a near-copy of another released cohort
    # would rightly be refused by the differencing defence
    A.Descriptive("celecoxib", variables=[
        {"variable": "measurement", "name": "temperature", "concept_ids": [TEMPERATURE],
         "window": [-36500, 36500], "edges": [35, 36, 37, 38, 39, 40]}],
        quantiles=[0.0, 0.5, 1.0], name="DescribeTemperature"),
    A.Contingency("celecoxib", "treatment", "outcome", outcomes=["gi_bleed"],
                  comparator="diclofenac", population=POPULATION),
)
# aimed at the two persons with the canary condition: refused or suppressed at every site
PROBES = (
    A.CohortCount("rare", name="RareCount"),
    A.Characterize("rare", top_n=100, window_days=None, name="RareCharacterize"),
    A.Incidence("everyone", "rare", name="RareIncidence"),
    A.Descriptive("rare", variables=[{"variable": "age"}], name="RareDescriptive"),
    A.Contingency("everyone", "sex", "cohort:rare", outcomes=["rare"], name="SexByRare"),
)


def _response_bodies(network: Any, study_ids: list[str]) -> dict[str, str]:
    """Every researcher endpoint of the hub, as the researcher's client receives it."""
    paths = ["/health", "/sites", "/studies"]
    paths += [f"/studies/{s}{tail}" for s in study_ids for tail in ("", "/results")]
    headers = {"Authorization": f"Bearer {network.researcher_token}"}
    with httpx.Client(base_url=f"{network.url}/api/v1", headers=headers, timeout=30) as client:
        replies = {path: client.get(path) for path in paths}
    assert all(r.status_code == 200 for r in replies.values()), {
        p: r.status_code for p, r in replies.items()}
    return {f"response {p}": r.content.decode("latin-1") for p, r in replies.items()}


@dataclass
class Run:
    result: Any  # the study of every analysis kind
    probes: Any  # the study of the probes
    dbs: dict[str, Path]
    audits: dict[str, Path]
    outside: dict[str, str] = field(default_factory=dict)  # where -> text

    @property
    def data(self) -> dict[str, Any]:
        return self.result.to_dict()


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root.parent)): p.read_bytes().decode("latin-1")
            for p in sorted(root.rglob("*")) if p.is_file()}


def _run_study(net: Any, title: str, requests: tuple[Any, ...]) -> Any:
    study = net.study(title, cohorts=COHORTS)
    for request in requests:
        study.add(request)
    started = time.perf_counter()
    result = study.run(timeout=150, progress=False)
    print(f"\n{title}: round-trip {time.perf_counter() - started:.1f} s")
    for name, sites in sorted(_refused_by(result.to_dict()).items()):
        print(f"  refused {name}: " + "; ".join(f"{k}: {v}" for k, v in sorted(sites.items())))
    return result


@pytest.fixture(scope="module")
def run(site_dbs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("canary")
    dbs = {site: Path(shutil.copy(db, work / db.name)) for site, db in site_dbs.items()}
    plant(dbs)
    outside: dict[str, str] = {}
    network = bg.LocalNetwork(dbs, workdir=work / "net", min_cell=MIN_CELL)
    network.start(timeout=120)  # four processes start on two shared cores: allow for it
    try:
        net = network.connect()
        result = _run_study(net, "canary: every analysis", REQUESTS)
        # the probes come second: the site's differencing defence rightly refuses them and,
        # after a few such refusals, locks the researcher out of further rounds
        probes = _run_study(net, "canary: probes of two persons", PROBES)
        outside |= _response_bodies(network, [result.study_id, probes.study_id])
        # the hub's state while it runs: SQLite's WAL still holds recent writes
        outside |= {f"live {k}": v for k, v in _files(work / "net" / "hub").items()}
        audits = {site: network.audit_path(site) for site in dbs}
    finally:
        network.stop()
    for label, study in (("every analysis", result), ("probes", probes)):
        data = study.to_dict()
        outside[f"{label}: result json"] = json.dumps(data)
        outside[f"{label}: report html"] = render_report(data)
        outside[f"{label}: summary"] = study.summary()
    outside |= _files(work / "net" / "hub")
    outside |= _files(work / "net" / "logs")
    outside |= {f"audit {site}": path.read_text(errors="replace")
                for site, path in audits.items()}
    yield Run(result, probes, dbs, audits, outside)


def _released_by(data: dict[str, Any]) -> dict[str, set[str]]:
    """Analysis name -> sites whose release holds its aggregate."""
    out: dict[str, set[str]] = {}
    for release in data["releases"]:
        for agg in release.get("aggregates", []):
            out.setdefault(agg["analysis"], set()).add(release["site"])
    return out


def _refused_by(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for release in data["releases"]:
        for refusal in release.get("refusals", []):
            out.setdefault(refusal["analysis"], {})[release["site"]] = refusal["reason"]
    return out


def test_the_search_covers_every_place_bytes_went(run: Run) -> None:
    places = set(run.outside)
    assert {"probes: result json", "every analysis: report html", "probes: summary"} <= places
    assert any(p.startswith("response ") for p in places)
    # read while the hub ran: with SQLite's WAL (if the hub uses one) among them
    assert any(p.startswith("live hub/") and p.endswith(".sqlite") for p in places), places
    assert any(p.endswith("hub.jsonl") for p in places), sorted(places)
    assert any(p.startswith("logs/") for p in places)
    for site, path in run.audits.items():
        assert path.stat().st_size > 0, site


def test_the_canaries_are_in_the_rows_and_the_search_finds_them(run: Run) -> None:
    """Searching for values that are not in the data would prove nothing."""
    first, second = list(run.dbs.values())[:2]
    with duckdb.connect(str(first), read_only=True) as con:
        rows = con.execute(
            "SELECT p.person_id, p.person_source_value, p.birth_datetime, m.value_as_number"
            " FROM person p JOIN measurement m USING (person_id)"
            " WHERE p.year_of_birth = 1905 OR m.value_as_number > 900000").fetchall()
    assert len({r[0] for r in rows}) == 2  # the old person and the extreme one
    assert set(leaks(json.dumps(rows, default=str))) >= {CANARY, OLD_BIRTH, "987654.32"}
    assert PERSON_ID.search(str(rows[0][0]))
    with duckdb.connect(str(second), read_only=True) as con:
        (rare,) = con.execute("SELECT count(DISTINCT person_id) FROM condition_occurrence"
                              " WHERE condition_concept_id = ?", [RARE_CONCEPT]).fetchone()
    assert rare == 2


def test_no_canary_appears_outside_a_site(run: Run) -> None:
    found = {where: hits for where, text in run.outside.items() if (hits := leaks(text))}
    assert found == {}, f"canaries outside the sites: {found}"


def test_the_rare_condition_is_never_named(run: Run) -> None:
    named = [where for where, text in run.outside.items() if RARE_NAME in text]
    assert named == []


def test_every_analysis_kind_released_at_a_site(run: Run) -> None:
    released = _released_by(run.data)
    refused = _refused_by(run.data)
    kinds = {r.to_spec().kind for r in REQUESTS}
    assert kinds == set(CATALOG), f"kinds not exercised: {set(CATALOG) - kinds}"
    missing = {r.name: refused.get(r.name) for r in REQUESTS if not released.get(r.name)}
    assert missing == {}, f"analyses no site released: {missing}"
    for request in REQUESTS:
        combined = run.result[request.name].combined
        assert combined.get("error") is None, (request.name, combined.get("error"))


def test_no_count_below_the_minimum_cell_left_a_site(run: Run) -> None:
    """The two persons of the canary condition, and the lone old person, are counts of 1
    or 2 wherever a table would list them: none may leave (an exact zero may)."""
    releases = run.result.raw.releases + run.probes.raw.releases
    for release in releases:
        for agg in release.aggregates:
            small = [(t.name, c.count) for t in agg.tables for c in t.cells if t.unit == "persons"
                     and c.count is not None and 0 < c.count < MIN_CELL]
            assert small == [], (release.site, agg.analysis, small)


def test_every_site_answered_every_probe(run: Run) -> None:
    """The probes ran (a release, with the two persons suppressed, or a refusal) at
    every site: none was skipped, so the searches above covered what they produced."""
    data = run.probes.to_dict()
    released, refused = _released_by(data), _refused_by(data)
    for probe in PROBES:
        sites = released.get(probe.name, set()) | set(refused.get(probe.name, {}))
        assert sites == set(run.dbs), (probe.name, sites)


def test_the_lone_old_person_is_a_suppressed_cell(run: Run) -> None:
    """Over 100 among celecoxib users no older than 47: alone in the 90+ band at the first
    site, which must show that cell as suppressed (and no other site has anyone there)."""
    table = run.result["CharacterizeCelecoxib"].table("age_band")
    rows = {tuple(r["key"]): r["sites"] for r in table["rows"]}
    first, *others = run.dbs
    assert rows[("90+",)][first] == "suppressed", rows[("90+",)]
    assert all(rows[("90+",)].get(site) in (0, None) for site in others), rows[("90+",)]


def test_an_extreme_value_cannot_be_solved_for_from_released_moments(run: Run) -> None:
    first = next(iter(run.dbs))
    (release,) = [r for r in run.result.raw.releases
                  if r.site == first and any(a.analysis == "DescribeTemperature"
                                             for a in r.aggregates)]
    (agg,) = [a for a in release.aggregates if a.analysis == "DescribeTemperature"]
    blocks = [b for b in agg.stats if b.name == "moments:temperature"]
    if not blocks:  # withheld by the site's dominance rule: nothing to solve from
        assert any(n.startswith("temperature: ") and "withheld" in n for n in agg.notes)
        return
    (block,) = blocks
    n, total, ssd = (float(v) for v in block.values)
    # one value far above the rest: it is the mean plus the whole spread
    solved = total / n + math.sqrt(ssd * (n - 1) / n)
    within_a_percent = abs(solved - EXTREME) <= 0.01 * EXTREME
    assert not within_a_percent, "the extreme value was solved for from the moments"

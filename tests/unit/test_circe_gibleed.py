"""The shared OHDSI definitions on Eunomia GiBleed: the two published answers, hand-written
SQL for the rest of what GiBleed can exercise, and the ``cohort generate`` command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from behindglass.cli.main import cli
from behindglass.core.circe import load_circe
from behindglass.engine.circe import generate_cohort
from behindglass.engine.duckdb_backend import DuckDBBackend

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DEFS = DATA / "ohdsi-cohort-definitions"
ALL_DEFS = sorted(p for p in DEFS.rglob("*.json")
                  if not p.name.startswith(("Subset", "CohortsTo")))

pytestmark = pytest.mark.skipif(not (DATA / "eunomia-gibleed").exists(),
                                reason="shared data absent")


@pytest.fixture(scope="module")
def gibleed(gibleed_db: Path) -> Path:
    return gibleed_db


@pytest.fixture()
def backend(gibleed: Path) -> Iterator[DuckDBBackend]:
    with DuckDBBackend(gibleed) as b:
        yield b


def rows(backend: DuckDBBackend, table: str) -> list[tuple]:
    return backend.fetchall(
        f"SELECT subject_id, cohort_start_date, cohort_end_date FROM {table} ORDER BY 1, 2")


def test_published_counts(backend: DuckDBBackend) -> None:
    """CDMConnector's documented answers on GiBleed."""
    example = DEFS / "cdmconnector" / "example_cohorts"
    assert generate_cohort(backend, load_circe(example / "GiBleed_default.json")).persons == 479
    assert generate_cohort(backend, load_circe(example / "GIBleed_male.json")).persons == 237


_FIRST_GIB = """
    SELECT e.person_id, e.d, op.observation_period_end_date AS op_end FROM (
      SELECT person_id, MIN(condition_start_date) AS d FROM condition_occurrence
      WHERE condition_concept_id = 192671 GROUP BY person_id) e
    JOIN observation_period op ON op.person_id = e.person_id
     AND e.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date"""
_FIRST_CELECOXIB = """
    SELECT e.person_id, e.d, op.observation_period_end_date AS op_end FROM (
      SELECT person_id, MIN(drug_era_start_date) AS d FROM drug_era
      WHERE drug_concept_id = 1118084 GROUP BY person_id) e
    JOIN observation_period op ON op.person_id = e.person_id
     AND e.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date"""

HAND_WRITTEN = {
    "cdmconnector/cohorts3/GiBleed_default.json":
        f"SELECT person_id, d, op_end FROM ({_FIRST_GIB}) x",
    "cdmconnector/cohorts3/gibleed_end_10.json":
        f"SELECT person_id, d, LEAST(d + 10, op_end) FROM ({_FIRST_GIB}) x",
    "cohortgenerator-testdata/celecoxib.json":
        f"SELECT person_id, d, op_end FROM ({_FIRST_CELECOXIB}) x",
    "cohortgenerator-testdata/celecoxibCensored.json":
        f"SELECT person_id, GREATEST(d, DATE '2000-01-01'), op_end FROM ({_FIRST_CELECOXIB}) x"
        " WHERE GREATEST(d, DATE '2000-01-01') <= op_end",
    "cohortgenerator-testdata/celecoxibAge40Male.json":
        f"SELECT x.person_id, d, op_end FROM ({_FIRST_CELECOXIB}) x JOIN person p"
        " ON p.person_id = x.person_id WHERE year(d) - p.year_of_birth > 40"
        " AND p.gender_concept_id = 8507",
    "cdmconnector/cohorts5/viral_sinusitus.json": """
        SELECT co.person_id, MIN(co.condition_start_date),
               MAX(LEAST(co.condition_start_date + 1, op.observation_period_end_date))
        FROM condition_occurrence co JOIN person p ON p.person_id = co.person_id
        JOIN observation_period op ON op.person_id = co.person_id
         AND co.condition_start_date BETWEEN op.observation_period_start_date
                                         AND op.observation_period_end_date
        WHERE co.condition_concept_id = 40481087 AND p.gender_concept_id = 8507
        GROUP BY co.person_id""",
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_rows_equal_hand_written_sql(backend: DuckDBBackend, name: str) -> None:
    g = generate_cohort(backend, load_circe(DEFS / name))
    expected = sorted(backend.fetchall(HAND_WRITTEN[name]))
    assert g.entries > 100  # a meaningful comparison, not two empty sets
    assert rows(backend, g.table) == expected


@pytest.mark.parametrize("path", ALL_DEFS, ids=lambda p: p.name)
def test_every_shared_definition_runs(backend: DuckDBBackend, path: Path) -> None:
    """The large ATLAS exports (lung cancer, ACE inhibitors, ...) use concepts GiBleed does
    not have; they must still compile and run, giving consistent statistics."""
    g = generate_cohort(backend, load_circe(path))
    assert g.persons <= g.entries
    assert g.person.final <= g.person.base
    assert len(g.person.rules) == len(load_circe(path).inclusion_rules)
    assert all(r.count <= r.total for r in g.event.rules)


def test_inclusion_statistics_as_cohort_generator_reports(backend: DuckDBBackend) -> None:
    """celecoxibAge40Male, with the counts OHDSI's reference SQL writes to
    cohort_inclusion_result / _stats / cohort_summary_stats on GiBleed."""
    g = generate_cohort(backend, load_circe(
        DEFS / "cohortgenerator-testdata" / "celecoxibAge40Male.json"))
    assert g.person.masks == {0: 603, 1: 303, 2: 628, 3: 266}
    assert [(r.count, r.gain, r.total) for r in g.person.rules] == [
        (569, 628, 1800), (894, 303, 1800)]
    assert (g.person.base, g.person.final) == (1800, 266)
    assert [n for _, n in g.person.attrition] == [1800, 569, 266]


def test_cli_generate_json(gibleed: Path) -> None:
    example = DEFS / "cdmconnector" / "example_cohorts"
    out = CliRunner().invoke(cli, ["cohort", "generate", str(example / "GiBleed_default.json"),
                                   str(example / "GIBleed_male.json"), "--db", str(gibleed),
                                   "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    first, male = doc["cohorts"]
    assert (first["cohort_id"], first["persons"], first["entries"]) == (1, 479, 479)
    assert (male["cohort_id"], male["persons"]) == (2, 237)
    rules = male["inclusion"]["persons"]["rules"]
    assert [(r["name"], r["count"], r["gain"]) for r in rules] == [
        ("Male", 237, 242), ("30 days prior observation", 479, 0)]
    assert [a["count"] for a in male["inclusion"]["persons"]["attrition"]] == [479, 237, 237]


def test_cli_generate_text_and_bad_definition(gibleed: Path, tmp_path: Path) -> None:
    example = DEFS / "cdmconnector" / "example_cohorts"
    out = CliRunner().invoke(cli, ["cohort", "generate", str(example / "GIBleed_male.json"),
                                   "--db", str(gibleed)])
    assert out.exit_code == 0 and "237 persons" in out.output
    bad = tmp_path / "bad.json"
    definition = json.loads((example / "GIBleed_male.json").read_text())
    definition["PrimaryCriteria"]["CriteriaList"][0]["ConditionOccurrence"]["Colour"] = "red"
    bad.write_text(json.dumps(definition))
    from behindglass.core.errors import SpecError

    out = CliRunner().invoke(cli, ["cohort", "generate", str(bad), "--db", str(gibleed)])
    assert isinstance(out.exception, SpecError)
    assert "PrimaryCriteria.CriteriaList[0].ConditionOccurrence.Colour" in str(out.exception)

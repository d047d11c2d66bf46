"""The PostgreSQL engine on a real server: the Backend contract on both engines, the copy
from a DuckDB store, and the ``omop to-postgres`` command as a user runs it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from behindglass.core.errors import BehindGlassError, EngineError, LoadError
from behindglass.engine.backend import Backend, temp_table
from behindglass.engine.connect import open_backend, split_schema
from behindglass.engine.duckdb_backend import DuckDBBackend
from behindglass.engine.postgres_backend import PostgresBackend, pg_connect
from behindglass.omop.postgres_copy import copy_cdm_to_postgres
from behindglass.omop.schema import cdm_tables, existing_row_counts, quote
from tests.pg_server import _free_port
from tests.spec.cdm_builder import drop_postgres_cdm, duckdb_cdm, postgres_cdm

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SECRET = "s3cr3t-Pw0rd"

PERIODS = [
    {"observation_period_id": 1, "person_id": 1, "observation_period_start_date": "2020-01-31",
     "observation_period_end_date": "2020-03-01", "period_type_concept_id": 44814724},
    {"observation_period_id": 2, "person_id": 2, "observation_period_start_date": "2019-12-25",
     "observation_period_end_date": "2024-02-29", "period_type_concept_id": 44814724},
]
TINY = {
    "person": [{"person_id": 1, "gender_concept_id": 8532, "year_of_birth": 1950},
               {"person_id": 2, "gender_concept_id": 8507, "year_of_birth": 1999}],
    "observation_period": PERIODS,
}


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "duckdb":
        b: Backend = duckdb_cdm(TINY)
        yield b
        b.close()
        return
    pg = postgres_cdm(TINY, url=request.getfixturevalue("pg_url"))
    yield pg
    drop_postgres_cdm(pg)


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    """A schema name nobody uses; dropped afterwards whatever the test made of it."""
    name = f"copy_{uuid.uuid4().hex[:10]}"
    yield name
    con = pg_connect(pg_url)
    con.execute(f"DROP SCHEMA IF EXISTS {quote(name)} CASCADE".encode())
    con.close()


@pytest.fixture(scope="module")
def gibleed(gibleed_db: Path) -> Path:
    return gibleed_db


# -- the Backend contract, same answers on every engine ---------------------------------------
def test_tables_lists_the_whole_cdm_and_no_temp_table(backend: Backend) -> None:
    temp_table(backend, "scratch_t", "SELECT 1 AS x")
    assert backend.tables() == set(cdm_tables())


def test_fetchall_gives_python_dates_and_plain_numbers(backend: Backend) -> None:
    rows = backend.fetchall(
        "SELECT person_id, observation_period_start_date FROM observation_period"
        " ORDER BY person_id")
    assert rows == [(1, dt.date(2020, 1, 31)), (2, dt.date(2019, 12, 25))]
    ((total, mean, n),) = backend.fetchall(
        "SELECT sum(year_of_birth), avg(year_of_birth), count(*) FROM person")
    assert (total, mean, n) == (3949, 1974.5, 2)
    assert type(total) is int and type(mean) is float and type(n) is int


def test_columns_names_without_rows(backend: Backend) -> None:
    cols = backend.columns("SELECT person_id AS Pid, year_of_birth FROM person WHERE 1 = 0")
    assert cols == ["pid", "year_of_birth"]
    assert backend.columns("SELECT * FROM death") == list(cdm_tables()["death"].columns)


def test_temp_table_is_recreated_and_queryable(backend: Backend) -> None:
    temp_table(backend, "cohort_t", "SELECT person_id FROM person WHERE year_of_birth < 1960")
    assert backend.fetchall("SELECT person_id FROM cohort_t") == [(1,)]
    temp_table(backend, "cohort_t", "SELECT person_id FROM person ORDER BY person_id")
    assert backend.fetchall("SELECT person_id FROM cohort_t ORDER BY 1") == [(1,), (2,)]


def test_failures_are_engine_errors_naming_the_store(backend: Backend) -> None:
    with pytest.raises(EngineError, match="no_such_table") as caught:
        backend.fetchall("SELECT * FROM no_such_table")
    assert str(caught.value).startswith(backend.label)
    with pytest.raises(EngineError):
        backend.execute("CREATE TEMPORARY TABLE")
    with pytest.raises(EngineError):
        backend.columns("SELECT nope FROM person")
    # After a failed statement the connection still works (no aborted transaction).
    assert backend.fetchall("SELECT count(*) FROM person") == [(2,)]


def test_date_arithmetic_through_the_dialect(backend: Backend) -> None:
    d = backend.dialect
    start, end = "observation_period_start_date", "observation_period_end_date"
    rows = backend.fetchall(
        f"SELECT {d.date_add(start, 30)}, {d.date_add(start, -31)}, {d.date_add(start, 0)},"
        f" {d.date_add(start, 'person_id')}, {d.days_between(start, end)},"
        f" {d.days_between(end, start)}, {d.year(end)},"
        f" {d.date_add(d.date(dt.date(2024, 2, 28)), 1)}"
        " FROM observation_period ORDER BY person_id")
    expected = []
    for p in PERIODS:
        s = dt.date.fromisoformat(p["observation_period_start_date"])
        e = dt.date.fromisoformat(p["observation_period_end_date"])
        expected.append((s + dt.timedelta(30), s - dt.timedelta(31), s,
                         s + dt.timedelta(p["person_id"]), (e - s).days, (s - e).days, e.year,
                         dt.date(2024, 2, 29)))
    assert rows == expected
    assert all(type(v) is int for r in rows for v in (r[4], r[5], r[6]))


# -- opening a store from a string ------------------------------------------------------------
def test_open_backend_picks_the_engine_from_the_target(pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "site.duckdb"
    duckdb.connect(str(path)).close()
    for target in (path, str(path)):
        local = open_backend(target)
        assert isinstance(local, DuckDBBackend)
        local.close()
    pg = open_backend(pg_url + ("&" if "?" in pg_url else "?") + "schema=information_schema")
    try:
        assert isinstance(pg, PostgresBackend)
        assert pg.schema == "information_schema" and "schema=information_schema" in pg.label
        assert "tables" in pg.tables()  # search_path and tables() follow the schema
        assert pg.fetchall("SELECT count(*) > 0 FROM columns") == [(True,)]
    finally:
        pg.close()


def test_split_schema_removes_only_our_parameter() -> None:
    url, schema = split_schema("postgresql://u@h:5433/db?sslmode=require&schema=cdm")
    assert (url, schema) == ("postgresql://u@h:5433/db?sslmode=require", "cdm")
    assert split_schema("postgres://u@h/db") == ("postgres://u@h/db", "public")
    with pytest.raises(EngineError, match="schema"):
        split_schema("postgresql://u@h/db?schema=")


def test_missing_schema_is_a_clear_error(pg_url: str) -> None:
    with pytest.raises(EngineError, match="no such schema 'not_there'"):
        open_backend(pg_url + ("&" if "?" in pg_url else "?") + "schema=not_there")


@pytest.mark.parametrize("target", [
    "postgresql://alice:{pw}@127.0.0.1:{port}/cdm",
    "postgresql://alice:{pw}@127.0.0.1:notaport/cdm",
    "postgres://alice:{pw}@127.0.0.1:{port}/cdm?sslmode=bogus",
])
def test_errors_never_show_the_password(target: str) -> None:
    url = target.format(pw=SECRET, port=_free_port())  # nothing listens on a free port
    with pytest.raises(EngineError) as caught:
        open_backend(url)
    assert SECRET not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_keyword_conninfo_errors_never_show_the_password() -> None:
    with pytest.raises(EngineError) as caught:
        pg_connect(f"host=127.0.0.1 port={_free_port()} password={SECRET} dbname=x bogus")
    assert SECRET not in str(caught.value)


def test_label_and_query_errors_never_show_the_password(pg_url: str) -> None:
    with_pw = pg_url.replace("postgres@", f"postgres:{SECRET}@", 1)  # trust auth ignores it
    assert SECRET in with_pw
    pg = open_backend(with_pw)
    try:
        with pytest.raises(EngineError) as caught:
            pg.fetchall("SELECT * FROM nowhere")
        assert SECRET not in str(caught.value) and SECRET not in pg.label
    finally:
        pg.close()


# -- copying a DuckDB store into PostgreSQL ---------------------------------------------------
def _pg_counts(url: str, schema: str) -> dict[str, int]:
    pg = PostgresBackend(url, schema=schema)
    try:
        return {t: pg.fetchall(f"SELECT count(*) FROM {quote(t)}")[0][0] for t in pg.tables()}
    finally:
        pg.close()


def _duck_counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return existing_row_counts(con)
    finally:
        con.close()


def test_copy_gibleed_row_for_row(gibleed: Path, pg_url: str, schema: str) -> None:
    seen: list[tuple[str, int, int]] = []
    report = copy_cdm_to_postgres(gibleed, pg_url, schema,
                                  progress=lambda t, d, n: seen.append((t, d, n)))
    expected = _duck_counts(gibleed)
    assert expected["person"] == 2694 and expected["condition_occurrence"] == 65332
    assert report.rows == expected
    counts = _pg_counts(pg_url, schema)
    assert set(counts) == set(cdm_tables())  # the whole CDM exists, empty tables too
    assert {t: counts[t] for t in expected} == expected
    assert ("person", 2694, 2694) in seen
    # Values, not only counts: a whole table and a text-heavy one compare equal.
    query = ("SELECT * FROM person ORDER BY person_id",
             "SELECT * FROM concept ORDER BY concept_id",
             "SELECT * FROM cdm_source")
    with DuckDBBackend(gibleed) as local, PostgresBackend(pg_url, schema=schema) as pg:
        for q in query:
            assert pg.fetchall(q) == local.fetchall(q), q


def test_copy_refuses_a_schema_holding_cdm_rows(gibleed: Path, pg_url: str,
                                                schema: str) -> None:
    copy_cdm_to_postgres(gibleed, pg_url, schema)
    with pytest.raises(LoadError, match=r"already holds CDM rows.*replace"):
        copy_cdm_to_postgres(gibleed, pg_url, schema)
    assert _pg_counts(pg_url, schema)["person"] == 2694
    report = copy_cdm_to_postgres(gibleed, pg_url, schema, replace=True)
    assert _pg_counts(pg_url, schema)["person"] == report.rows["person"] == 2694


def test_failed_copy_leaves_the_schema_as_it_was(tmp_path: Path, pg_url: str,
                                                 schema: str) -> None:
    good, bad = tmp_path / "good.duckdb", tmp_path / "bad.duckdb"
    for path, end in ((good, "DATE '2020-12-31'"), (bad, "NULL")):
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE person AS SELECT range AS person_id, 0 AS gender_concept_id,"
                    " 1970 AS year_of_birth, 0 AS race_concept_id, 0 AS ethnicity_concept_id"
                    " FROM range(1, 4)")
        # A missing period end is refused by the CDM's NOT NULL, after person was copied.
        con.execute("CREATE TABLE observation_period AS SELECT range AS observation_period_id,"
                    " range AS person_id, DATE '2010-01-01' AS observation_period_start_date,"
                    f" {end} AS observation_period_end_date, 0 AS period_type_concept_id"
                    " FROM range(1, 4)")
        con.close()
    copy_cdm_to_postgres(good, pg_url, schema)
    con = duckdb.connect(str(bad))
    con.execute("INSERT INTO person SELECT range, 0, 1980, 0, 0 FROM range(10, 20)")
    con.close()
    with pytest.raises(LoadError, match="nothing written"):
        copy_cdm_to_postgres(bad, pg_url, schema, replace=True)
    counts = _pg_counts(pg_url, schema)
    assert counts["person"] == 3 and counts["observation_period"] == 3


def test_copy_errors_name_the_store_not_the_password(gibleed: Path, pg_url: str) -> None:
    with pytest.raises(BehindGlassError) as caught:
        copy_cdm_to_postgres(gibleed, f"postgresql://bob:{SECRET}@127.0.0.1:{_free_port()}/x",
                             "cdm")
    assert SECRET not in str(caught.value) and "127.0.0.1" in str(caught.value)
    with pytest.raises(LoadError, match="no such DuckDB"):
        copy_cdm_to_postgres(gibleed.with_name("absent.duckdb"), pg_url, "cdm")


# -- the command a site's operator runs -------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "behindglass.cli.main", "omop", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def test_cli_to_postgres_end_to_end(gibleed: Path, pg_url: str, schema: str) -> None:
    sep = "&" if "?" in pg_url else "?"
    done = _cli("to-postgres", str(gibleed), f"{pg_url}{sep}schema={schema}")
    assert done.returncode == 0, done.stderr
    assert f"schema={schema}" in done.stderr and "person: 2,694 rows" in done.stderr
    assert _pg_counts(pg_url, schema) == {**dict.fromkeys(cdm_tables(), 0),
                                          **_duck_counts(gibleed)}
    again = _cli("to-postgres", str(gibleed), pg_url, "--schema", schema)
    assert again.returncode == 2 and "--replace" in again.stderr
    forced = _cli("to-postgres", str(gibleed), pg_url, "--schema", schema, "--replace", "-q")
    assert forced.returncode == 0 and forced.stderr == ""
    assert _pg_counts(pg_url, schema)["person"] == 2694


def test_cohort_generate_on_postgres_gives_the_published_counts(
        gibleed: Path, pg_url: str, schema: str) -> None:
    """The whole path a site on PostgreSQL takes: GiBleed copied in, then the CDMConnector
    definitions through ``behindglass cohort generate --db URL`` (479 and 237 persons),
    with the same inclusion statistics as on DuckDB."""
    from behindglass.omop.postgres_copy import copy_cdm_to_postgres

    copy_cdm_to_postgres(gibleed, pg_url, schema)
    example = DATA / "ohdsi-cohort-definitions" / "cdmconnector" / "example_cohorts"
    defs = [str(example / "GiBleed_default.json"), str(example / "GIBleed_male.json")]
    sep = "&" if "?" in pg_url else "?"
    outputs = {}
    for target in (f"{pg_url}{sep}schema={schema}", str(gibleed)):
        done = subprocess.run(
            [sys.executable, "-m", "behindglass.cli.main", "cohort", "generate", *defs,
             "--db", target, "--json"], capture_output=True, text=True, timeout=300,
            check=False)
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        outputs[target] = [{k: c[k] for k in ("persons", "entries", "inclusion")}
                           for c in doc["cohorts"]]
    on_pg, on_duck = outputs.values()
    assert [c["persons"] for c in on_pg] == [479, 237]
    assert on_pg == on_duck

"""The one transaction that moves the checked, de-identified staged rows into the store.

Everything before this step writes only to the ingest's private in-memory DuckDB database
(spilling to a temporary folder beside the store); this step attaches the site store to it
and, in **one transaction**, upserts persons, care sites and providers (a
later extract's row replaces the earlier one: same keyed id), adds events whose keyed ids
the store does not have yet (re-ingesting an extract adds nothing), adds the vocabulary
rows the store lacks, and rebuilds the observation period of every person it touched from
*all* of their events in the store. Any error rolls the whole merge back: the store is
never half-loaded.
"""

from __future__ import annotations

import duckdb

from behindglass import __version__
from behindglass.omop.schema import cdm_tables, create_cdm, literal, quote

#: Event tables and their primary keys, merged by anti-join on the key.
EVENT_KEYS = {
    "visit_occurrence": "visit_occurrence_id", "condition_occurrence": "condition_occurrence_id",
    "drug_exposure": "drug_exposure_id", "procedure_occurrence": "procedure_occurrence_id",
    "measurement": "measurement_id", "observation": "observation_id",
    "device_exposure": "device_exposure_id", "payer_plan_period": "payer_plan_period_id",
    "location": "location_id", "note": "note_id",
}
#: Site tables upserted on their key: the newest extract's row of a care site or provider
#: replaces the earlier one (a clinician may have changed specialty or organisation).
UPSERT_KEYS = {"care_site": "care_site_id", "provider": "provider_id"}
#: Vocabulary tables and the columns that identify a row.
VOCAB_KEYS = {
    "concept": ("concept_id",), "vocabulary": ("vocabulary_id",), "domain": ("domain_id",),
    "concept_class": ("concept_class_id",), "relationship": ("relationship_id",),
    "concept_relationship": ("concept_id_1", "concept_id_2", "relationship_id"),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
}
#: (table, person column, start date, end date) spanning each person's observed time.
_SPANS = (
    ("visit_occurrence", "visit_start_date", "visit_end_date"),
    ("condition_occurrence", "condition_start_date", "condition_end_date"),
    ("drug_exposure", "drug_exposure_start_date", "drug_exposure_end_date"),
    ("procedure_occurrence", "procedure_date", "procedure_end_date"),
    ("measurement", "measurement_date", "measurement_date"),
    ("observation", "observation_date", "observation_date"),
    ("device_exposure", "device_exposure_start_date", "device_exposure_end_date"),
    ("death", "death_date", "death_date"),
)
EHR = 32817
PROVENANCE_NAME = "behindglass.ingest.synthea"


def _columns(table: str) -> str:
    return ", ".join(quote(c) for c in cdm_tables()[table].columns)


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0])


def merge_staged(con: duckdb.DuckDBPyConnection, stage: str, provenance: str) -> dict[str, int]:
    """Merge the staged tables (schema ``stage``, e.g. ``memory.main``) into the store that
    is the current database of ``con``; rows added per table. One transaction; rolled back
    on any error."""
    create_cdm(con)
    added: dict[str, int] = {}
    text = f"{provenance}; behindglass={__version__}"
    con.execute("BEGIN TRANSACTION")
    try:
        _merge(con, stage, added)
        con.execute(
            "INSERT INTO metadata (metadata_id, metadata_concept_id, "
            "metadata_type_concept_id, name, value_as_string, metadata_date, "
            "metadata_datetime) SELECT coalesce(max(metadata_id), 0) + 1, 0, 0, "
            f"{literal(PROVENANCE_NAME)}, {literal(text)}, "
            "current_date, CAST(current_timestamp AS TIMESTAMP) FROM metadata")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return added


def _merge(con: duckdb.DuckDBPyConnection, stage: str, added: dict[str, int]) -> None:
    cols = _columns("person")
    # Upsert: the newest extract's view of a person wins (death may have been recorded).
    for table in ("person", "death"):
        before = _count(con, table)
        con.execute(f"DELETE FROM {table} WHERE person_id IN "
                    f"(SELECT person_id FROM {stage}.person)")
        cols = _columns(table)
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}.{table}")
        added[table] = _count(con, table) - before
    for table, key in UPSERT_KEYS.items():
        cols = _columns(table)
        before = _count(con, table)
        con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {stage}.{table})")
        con.execute(f"INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({key}) {cols} "
                    f"FROM {stage}.{table} ORDER BY {key}, _ord")
        added[table] = _count(con, table) - before
    for table, key in EVENT_KEYS.items():
        cols = _columns(table)
        before = _count(con, table)
        con.execute(
            f"INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({key}) {cols} "
            f"FROM {stage}.{table} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{key} = s.{key})")
        added[table] = _count(con, table) - before
    for table, keys in VOCAB_KEYS.items():
        cols = _columns(table)
        match = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}.{table} s "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})")
    _observation_periods(con, stage, added)


def _observation_periods(con: duckdb.DuckDBPyConnection, stage: str,
                         added: dict[str, int]) -> None:
    """One period per touched person, from their earliest to their latest date in the store."""
    touched = " UNION ".join(
        f"SELECT person_id FROM {stage}.{t}" for t in ("person", *(s[0] for s in _SPANS)))
    spans = " UNION ALL ".join(
        f"SELECT person_id, {start} AS s, coalesce({end}, {start}) AS e FROM {t}"
        for t, start, end in _SPANS)
    con.execute(f"CREATE TEMP TABLE bg_touched AS {touched}")
    before = _count(con, "observation_period")
    con.execute("DELETE FROM observation_period WHERE person_id IN "
                "(SELECT person_id FROM bg_touched)")
    con.execute(
        "INSERT INTO observation_period (observation_period_id, person_id, "
        "observation_period_start_date, observation_period_end_date, period_type_concept_id) "
        f"SELECT person_id, person_id, min(s), max(greatest(s, e)), {EHR} FROM ({spans}) "
        "WHERE person_id IN (SELECT person_id FROM bg_touched) GROUP BY person_id")
    con.execute("DROP TABLE bg_touched")
    added["observation_period"] = _count(con, "observation_period") - before

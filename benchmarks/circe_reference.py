"""Run a Circe definition through the reference SQL (ohdsi-circepy's port of CIRCE-BE,
rendered and translated by its SqlRender port) on a DuckDB CDM.

Used by ``bench_circe.py`` to time the reference SQL, and during development as an oracle
for our own engine. circepy is not a dependency of behindglass: install it with
``pip install -r benchmarks/requirements-circepy.lock`` in a separate environment.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

RESULT_TABLES = """
CREATE TABLE IF NOT EXISTS {s}.cohort (cohort_definition_id BIGINT, subject_id BIGINT,
  cohort_start_date DATE, cohort_end_date DATE);
CREATE TABLE IF NOT EXISTS {s}.cohort_inclusion (cohort_definition_id BIGINT,
  rule_sequence INT, name VARCHAR, description VARCHAR);
CREATE TABLE IF NOT EXISTS {s}.cohort_inclusion_result (cohort_definition_id BIGINT,
  inclusion_rule_mask BIGINT, person_count BIGINT, mode_id INT);
CREATE TABLE IF NOT EXISTS {s}.cohort_inclusion_stats (cohort_definition_id BIGINT,
  rule_sequence INT, person_count BIGINT, gain_count BIGINT, person_total BIGINT, mode_id INT);
CREATE TABLE IF NOT EXISTS {s}.cohort_summary_stats (cohort_definition_id BIGINT,
  base_count BIGINT, final_count BIGINT, mode_id INT);
CREATE TABLE IF NOT EXISTS {s}.cohort_censor_stats (cohort_definition_id BIGINT,
  lost_count BIGINT);
"""


def reference_sql(definition: str, cohort_id: int = 1, schema: str = "main",
                  results: str | None = None) -> list[str]:
    from circe.api import build_cohort_query, cohort_expression_from_json
    from circe.cohortdefinition.cohort_expression_query_builder import (
        BuildExpressionQueryOptions,
    )
    from circe.sqlrender import render, split_sql, translate

    options = BuildExpressionQueryOptions()
    options.cdm_schema = schema
    options.vocabulary_schema = schema
    options.result_schema = results or schema
    options.target_table = f"{results or schema}.cohort"
    options.cohort_id = cohort_id
    options.generate_stats = True
    sql = build_cohort_query(cohort_expression_from_json(definition), options)
    sql = translate(render(sql), "duckdb")
    return [s for s in split_sql(sql) if s.strip()]


def run(con: object, definition: str, cohort_id: int = 1, results: str = "main"
        ) -> tuple[list[tuple], float]:
    """Execute the reference SQL on a DuckDB connection whose default schema holds the CDM;
    result tables go to ``results``. Returns cohort rows and seconds."""
    for stmt in RESULT_TABLES.format(s=results).split(";"):
        if stmt.strip():
            con.execute(stmt)  # type: ignore[attr-defined]
    con.execute(f"DELETE FROM {results}.cohort")  # type: ignore[attr-defined]
    statements = reference_sql(definition, cohort_id, results=results)
    began = time.perf_counter()
    for stmt in statements:
        con.execute(stmt)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - began
    rows = con.execute(  # type: ignore[attr-defined]
        f"SELECT subject_id, cohort_start_date, cohort_end_date FROM {results}.cohort"
        f" WHERE cohort_definition_id = {int(cohort_id)} ORDER BY 1, 2, 3").fetchall()
    return rows, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("db", help="DuckDB CDM (copied to memory; the file is not changed)")
    ap.add_argument("definitions", nargs="+")
    ap.add_argument("--rows", help="write each cohort's rows as JSON to this folder")
    args = ap.parse_args()
    import duckdb

    for path in args.definitions:
        con = duckdb.connect(":memory:")
        con.execute(f"ATTACH '{args.db}' AS src (READ_ONLY)")
        con.execute("COPY FROM DATABASE src TO memory")
        con.execute("DETACH src")
        rows, seconds = run(con, Path(path).read_text(encoding="utf-8"))
        print(f"{Path(path).name}\t{len(rows)}\t{len({r[0] for r in rows})}\t{seconds:.3f}")
        if args.rows:
            out = Path(args.rows) / (Path(path).stem + ".json")
            out.write_text(json.dumps([[r[0], str(r[1]), str(r[2])] for r in rows]))
        con.close()


if __name__ == "__main__":
    sys.exit(main())

"""Eunomia GiBleed at any size: replicas with fresh ids, for the benchmarks that need scale."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb

from behindglass.omop.loader import load_omop
from behindglass.omop.schema import cdm_tables

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
STRIDE = 10_000_000  # id offset per replica; GiBleed's ids are all below it


def build(db: Path, persons: int) -> None:
    """Replicate GiBleed until ``persons``; every person-linked id gets a replica offset."""
    base = db.with_name("gibleed-base.duckdb")
    if not base.exists():
        load_omop(DATA / "eunomia-gibleed", base)
    src = duckdb.connect(str(base), read_only=True)
    n_base = src.execute("SELECT count(*) FROM person").fetchone()[0]
    src.close()
    copies = math.ceil(persons / n_base)
    tmp = db.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    con.execute(f"ATTACH '{base}' AS src (READ_ONLY)")
    for name, spec in cdm_tables().items():
        cols = spec.columns
        exprs = []
        for col in cols:
            linked = col == "person_id" or col == spec.primary_key or col in (
                "visit_occurrence_id", "visit_detail_id", "preceding_visit_occurrence_id")
            exprs.append(f'"{col}" + r.k * {STRIDE} AS "{col}"' if linked and "person_id" in cols
                         else f'"{col}"')
        if "person_id" in cols:
            sql = (f"CREATE TABLE {name} AS SELECT {', '.join(exprs)} FROM src.{name},"
                   f" range({copies}) r(k)")
        else:
            sql = f"CREATE TABLE {name} AS SELECT * FROM src.{name}"
        con.execute(sql)
    con.execute("DETACH src")
    con.close()
    tmp.rename(db)



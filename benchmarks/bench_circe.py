"""Circe cohorts at scale: behindglass's engine against OHDSI's reference SQL.

    python benchmarks/bench_circe.py --persons 1000000

Builds (once, cached under benchmarks/out/) a synthetic CDM of about ``--persons``
persons by replicating Eunomia GiBleed with fresh ids, so the shared definitions find the
same kind of patients at scale. Then, for every shared definition, times our
``generate_cohort`` (cohort rows plus inclusion statistics) and the SQL that OHDSI's
CIRCE-BE generates for it (through ohdsi-circepy, rendered and translated for DuckDB,
statistics on), in the same process and DuckDB version, on the same file; checks that the
cohort rows are identical, and prints the ratio. Needs
``pip install --no-deps -r benchmarks/requirements-circepy.lock``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from circe_reference import run as run_reference
from gibleed_scale import build
from machine import describe

from behindglass.core.circe import load_circe
from behindglass.engine.circe import generate_cohort
from behindglass.engine.duckdb_backend import DuckDBBackend

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
DEFS = DATA / "ohdsi-cohort-definitions"


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args()
    args.out.mkdir(exist_ok=True)
    db = args.out / f"circe-{args.persons}.duckdb"
    if not db.exists():
        began = time.perf_counter()
        build(db, args.persons)
        print(f"built {db.name} in {time.perf_counter() - began:.0f} s")
    print(describe())
    # the CDM read-only and the default catalog; the reference's result tables in memory
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{db}' AS cdm (READ_ONLY)")
    con.execute("USE cdm")
    n = con.execute("SELECT count(*) FROM person").fetchone()[0]
    rows = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
               for t in ("condition_occurrence", "drug_exposure", "drug_era", "condition_era",
                         "measurement", "procedure_occurrence", "observation_period"))
    print(f"{n:,} persons, {rows:,} event rows")
    ours = DuckDBBackend.from_connection(con, db.name)
    paths = sorted(p for p in DEFS.rglob("*.json")
                   if not p.name.startswith(("Subset", "CohortsTo")))
    ratios = []
    print(f"{'definition':<48} {'persons':>9} {'ours s':>8} {'reference s':>12} {'ratio':>6}")
    for path in paths:
        expression = load_circe(path)
        text = path.read_text(encoding="utf-8")
        result: dict[str, object] = {}

        def ours_once(expression=expression, result=result) -> None:  # type: ignore[no-untyped-def]
            g = generate_cohort(ours, expression)
            result["rows"] = ours.fetchall(
                "SELECT subject_id, cohort_start_date, cohort_end_date FROM"
                f" {g.table} ORDER BY 1, 2, 3")
            result["persons"] = g.persons
            ours.execute(f"DROP TABLE {g.table}")

        def reference_once(text=text, result=result) -> None:  # type: ignore[no-untyped-def]
            result["reference"] = run_reference(con, text, results="memory.main")[0]

        t_ours = best(ours_once, args.repeat)
        t_ref = best(reference_once, args.repeat)
        same = result["rows"] == result["reference"]
        ratios.append(t_ref / t_ours)
        print(f"{path.name[:48]:<48} {result['persons']:>9,} {t_ours:>8.2f} {t_ref:>12.2f}"
              f" {t_ref / t_ours:>6.2f}{'' if same else '  ROWS DIFFER'}")
    print(f"geometric mean speed-up (reference / ours): "
          f"{statistics.geometric_mean(ratios):.2f}x over {len(ratios)} definitions")


if __name__ == "__main__":
    main()

"""Suppression with the site's memory of released tables: how the cost of one release grows
with the studies of the same cohort released before to the same researcher.

    python benchmarks/bench_table_memory.py

On GiBleed (loaded from ../shared/data into a temporary DuckDB file), one researcher asks
for a characterization of celecoxib users by five dimensions, then, one study at a time,
a contingency table of the same persons for every pair of sex, age band, race, ethnicity,
index year and GI bleed (16 studies). Each release is suppressed together with every
earlier table of those persons (``privacy.table_memory``). Prints the seconds of each
release (the whole site path: analysis, suppression, memory) and the machine.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe

from behindglass.core.cohort import Cohort
from behindglass.core.messages import Task
from behindglass.core.policy import SitePolicy
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.omop.loader import load_omop
from behindglass.privacy.table_memory import TableMemory
from behindglass.site.execute import execute_task
from behindglass.site.guard import SiteGuard

GIBLEED = Path(__file__).resolve().parents[2] / "shared" / "data" / "eunomia-gibleed"
COHORTS = {"cel": Cohort.drug(1118084), "gib": Cohort.condition(192671)}
VARIABLES = ("sex", "age_band", "race", "ethnicity", "index_year", "cohort:gib")


def studies() -> list[AnalysisSpec]:
    out = [AnalysisSpec(kind="characterize", name="Who", cohort="cel",
                        params={"by": list(VARIABLES[:5]), "top_n": 0})]
    out += [AnalysisSpec(kind="contingency", name="Table", cohort="cel", outcomes=["gib"],
                         params={"rows": r, "cols": c}) for r, c in combinations(VARIABLES, 2)]
    return out


def main() -> None:
    print(describe())
    policy = SitePolicy()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gibleed.duckdb"
        load_omop(GIBLEED, db)
        with SiteStore.open(db) as store, TableMemory(Path(tmp) / "tables.sqlite") as memory:
            guard = SiteGuard(policy, memory=memory)
            for i, spec in enumerate(studies()):
                task = Task(task_id=f"t{i}", study_id=f"s{i}", site="x", researcher="alice",
                            study=StudySpec(title="t", cohorts=COHORTS, analyses=(spec,)),
                            created=dt.datetime.now(dt.UTC))
                started = time.perf_counter()
                done = execute_task(task, store, policy.disclosure, guard=guard)
                spent = time.perf_counter() - started
                what = (f"{spec.params['rows']} x {spec.params['cols']}"
                        if spec.kind == "contingency" else "by five dimensions")
                refused = f" (refused: {done.refusals[0].reason})" if done.refusals else ""
                print(f"study {i + 1:2d}: {spec.kind} {what}: {spent:.2f} s{refused}")


if __name__ == "__main__":
    main()

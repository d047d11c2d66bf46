"""Privacy promise 1: no row-level value leaves a site.

Unique canary values are planted in patient rows (source values, a rare condition only
two persons have, a lone 105-year-old). A study runs through a real hub and real site
processes; then every byte that left the sites (the hub's state, every process log, the
researcher's result and the HTML report) is searched for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import behindglass as bg
from behindglass.web.report import render_report
from tests.unit.conftest import build_tiny_cdm

pytestmark = pytest.mark.integration

CANARY = "CANARY7Q4Z"
RARE_CONCEPT = 999_999_001


def plant(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute(f"UPDATE person SET person_source_value = '{CANARY}-MRN-' || person_id")
    con.execute("UPDATE person SET year_of_birth = 1905 WHERE person_id = 40")
    con.execute("INSERT INTO condition_occurrence (condition_occurrence_id, person_id,"
                " condition_concept_id, condition_start_date) VALUES"
                " (900, 11, ?, DATE '2012-03-04'), (901, 12, ?, DATE '2012-03-04')",
                [RARE_CONCEPT, RARE_CONCEPT])
    con.execute("INSERT INTO concept (concept_id, concept_name) VALUES (?, ?)",
                [RARE_CONCEPT, f"{CANARY} syndrome"])
    con.close()


def test_no_canary_leaves_any_site(tmp_path: Path) -> None:
    dbs = {}
    for name in ("north", "south", "east"):
        db = build_tiny_cdm(tmp_path / f"{name}.duckdb")
        plant(db)
        dbs[name] = db
    work = tmp_path / "net"
    with bg.LocalNetwork(dbs, workdir=work) as network:
        net = network.connect()
        study = net.study("canary", cohorts={"all": bg.Cohort.everyone()})
        study.add(bg.analyses.Characterize("all", top_n=50, window_days=None,
                                           by=["sex", "age_band", "race", "ethnicity",
                                               "index_year"]))
        result = study.run(timeout=60, progress=False)
    data = result.to_dict()
    page = render_report(data)
    released = json.dumps(data)
    # every byte that left a site, or was written by the hub or any process
    outside = [released, page]
    outside += [p.read_text(errors="replace") for p in (work / "logs").glob("*.log")]
    outside += [p.read_bytes().decode("latin-1") for p in (work / "hub").rglob("*")
                if p.is_file()]
    for text in outside:
        assert CANARY not in text
        assert str(RARE_CONCEPT) not in text
    age = {tuple(r["key"]): r for r in data["combined"]["Characterize"]["tables"]["age_band"]
           ["rows"]}
    # the lone 105-year-old is a suppressed cell (in the 90+ band) at every site
    assert all(v == "suppressed" for v in age[("90+",)]["sites"].values())
    for table in data["combined"]["Characterize"]["tables"].values():
        for row in table["rows"]:
            for value in row["sites"].values():
                assert not isinstance(value, int) or value >= 11

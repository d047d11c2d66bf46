"""The shipped vocabulary subset: reproducible from the shared data, and standard-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from behindglass.ingest import vocab_derive, vocab_shipped

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not (DATA / "eunomia-gibleed").exists(), reason="shared data absent")
def test_shipped_files_are_what_the_derivation_makes(tmp_path: Path) -> None:
    counts = vocab_derive.derive(DATA, tmp_path)
    assert counts["concept.csv"] > 2000
    for name in vocab_derive.FILES:
        assert (tmp_path / name).read_bytes() == (vocab_shipped.HERE / name).read_bytes(), name


def test_codes_map_to_standard_concepts_only() -> None:
    rows = {int(r["concept_id"]): r for r in vocab_shipped.concepts()}
    mapping = vocab_shipped.code_map()
    targets = {cid for cid in mapping.values() if cid}
    assert targets and all(rows[cid]["standard_concept"] == "S" for cid in targets)
    assert mapping[("CVX", "140")] == 40213154  # influenza, seasonal, preservative free
    assert mapping[("SNOMED", "10509002")] == 260139  # acute bronchitis


def test_non_standard_codes_follow_maps_to() -> None:
    rows = {int(r["concept_id"]): r for r in vocab_shipped.concepts()}
    mapping = vocab_shipped.code_map()
    followed = [(key, cid) for key, cid in mapping.items()
                if cid and rows[cid]["concept_code"] != key[1]]
    assert followed, "the subset has non-standard codes with a 'Maps to' target"
    for (vocabulary, code), cid in followed:
        source = next(r for r in rows.values()
                      if r["vocabulary_id"] == vocabulary and r["concept_code"] == code)
        assert source["standard_concept"] != "S"
        assert rows[cid]["standard_concept"] == "S"


def test_tables_have_cdm_columns_and_honour_exclusions() -> None:
    table = vocab_shipped.concept_table()
    assert table.column_names[:7] == list(vocab_shipped.CONCEPT_FIELDS)
    assert table.num_rows == len(vocab_shipped.concepts())
    fewer = vocab_shipped.concept_table(exclude={40213154})
    assert fewer.num_rows == table.num_rows - 1
    assert 40213154 not in fewer["concept_id"].to_pylist()
    ancestors = vocab_shipped.ancestor_table()
    first = (ancestors["ancestor_concept_id"][0].as_py(),
             ancestors["descendant_concept_id"][0].as_py())
    assert vocab_shipped.ancestor_table({first}).num_rows == ancestors.num_rows - 1


def test_a_real_synthea_code_outside_our_catalogue_is_mapped_and_described(
        tmp_path: Path) -> None:
    import csv

    import duckdb

    from behindglass.ingest import ingest_synthea
    from tests.unit.ingest_support import SECRET, config, write_extract

    src = write_extract(tmp_path / "src", people=2)
    rows = {
        "conditions.csv": [
            ["", "10509002", "pat-aaaa-0001", "enc-0-0", "2019-03-04", "", "x"],  # bronchitis
            ["", "275272006", "pat-aaaa-0001", "enc-0-0", "2019-03-05", "", "x"],  # non-std
        ],
        "medications.csv": [["2020-02-01", "", "pat-aaaa-0001", "payer-1", "enc-0-0",
                             "200252", "x", "1", "1", "1", "1", "", ""]],
    }
    for name, extra in rows.items():
        with (src / name).open("a", newline="") as f:
            csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(extra)
    db = tmp_path / "site.duckdb"
    report = ingest_synthea(src, db, SECRET, config())
    assert ("conditions.csv", "10509002") not in report.unmapped
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM condition_occurrence WHERE "
                           "condition_concept_id = 260139").fetchone() == (1,)
        assert con.execute("SELECT drug_concept_id, drug_source_concept_id FROM drug_exposure "
                           "WHERE drug_source_value = '200252'").fetchall() == [(19023423,) * 2]
        # a non-standard code follows 'Maps to'; its own concept is the source concept
        assert con.execute("SELECT condition_concept_id, condition_source_concept_id FROM "
                           "condition_occurrence WHERE condition_source_value = '275272006'"
                           ).fetchall() == [(4132546, 4166590)]
        assert con.execute("SELECT concept_name FROM concept WHERE concept_id = 260139"
                           ).fetchone() == ("Acute bronchitis",)
        # shipped ancestor pairs land too, once each
        assert con.execute("SELECT count(*) - count(DISTINCT (ancestor_concept_id, "
                           "descendant_concept_id)) FROM concept_ancestor").fetchone() == (0,)
        assert con.execute("SELECT count(*) - count(DISTINCT concept_id) FROM concept"
                           ).fetchone() == (0,)
    finally:
        con.close()

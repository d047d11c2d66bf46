"""Regenerate the vocabulary subset shipped for real Synthea and FHIR extracts.

The synthetic generator's catalogue (:mod:`behindglass.synth.concepts`) covers the codes
*our* generator writes. Extracts from the Synthea tool itself, or FHIR from an EHR, use many
more SNOMED, RxNorm, LOINC and CVX codes. The two OHDSI Eunomia data sets (Synthea output run
through ETL-Synthea, Apache-2.0) carry the standard concepts for exactly those codes, so we
ship their union, plus the 'Maps to' links between them and the ancestor pairs whose both
ends are in the subset::

    python -m behindglass.ingest.vocab_derive ../shared/data

Only selection happens here; nothing is invented. Where both data sets hold a concept the
newer vocabulary (Synthea27Nj, v5.0 2022) wins.
"""

from __future__ import annotations

import csv
import sys
import tempfile
import zipfile
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent / "shipped_vocabulary"
FILES = ("concept.csv", "maps_to.csv", "concept_ancestor.csv")
ORIGIN = (
    "# Derived from OHDSI EunomiaDatasets Synthea27Nj_5.4 (commit 3efd533e) and Eunomia\n"
    "# GiBleed (commit 67776f9d), Apache License 2.0: CONCEPT rows, 'Maps to' pairs and\n"
    "# CONCEPT_ANCESTOR pairs within the subset. Regenerate: python -m "
    "behindglass.ingest.vocab_derive\n"
)
_CONCEPT_COLUMNS = ("concept_id, concept_name, domain_id, vocabulary_id, concept_class_id, "
                    "standard_concept, concept_code")


def _read(con: duckdb.DuckDBPyConnection, name: str, path: str) -> None:
    # Both sources are text CSVs with header rows; upper-case headers are folded.
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv(?, all_varchar=true, "
                "header=true, normalize_names=true)", [path])


def derive(data: Path, out: Path = HERE) -> dict[str, int]:
    """Write the three subset files into ``out``; returns their row counts."""
    zipped = data / "eunomia-synthea27nj" / "Synthea27Nj_5.4.zip"
    gibleed = data / "eunomia-gibleed"
    con = duckdb.connect()
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(zipped) as archive:
            for member in ("CONCEPT.csv", "CONCEPT_RELATIONSHIP.csv"):
                archive.extract(member, tmp)
        _read(con, "c27", f"{tmp}/CONCEPT.csv")
        _read(con, "r27", f"{tmp}/CONCEPT_RELATIONSHIP.csv")
    _read(con, "cgi", str(gibleed / "CONCEPT.csv.gz"))
    _read(con, "agi", str(gibleed / "CONCEPT_ANCESTOR.csv.gz"))
    con.execute(f"""
        CREATE TABLE subset AS
        SELECT {_CONCEPT_COLUMNS} FROM c27
        UNION ALL
        SELECT {_CONCEPT_COLUMNS} FROM cgi WHERE concept_id NOT IN (SELECT concept_id FROM c27)
    """)
    queries = {
        "concept.csv": f"SELECT {_CONCEPT_COLUMNS} FROM subset "
                       "ORDER BY CAST(concept_id AS BIGINT)",
        "maps_to.csv": """
            SELECT DISTINCT r.concept_id_1 AS source_concept_id,
                   r.concept_id_2 AS standard_concept_id
            FROM r27 r JOIN subset a ON a.concept_id = r.concept_id_1
                       JOIN subset b ON b.concept_id = r.concept_id_2
            WHERE r.relationship_id = 'Maps to' AND r.concept_id_1 <> r.concept_id_2
              AND b.standard_concept = 'S'
            ORDER BY CAST(source_concept_id AS BIGINT), CAST(standard_concept_id AS BIGINT)""",
        "concept_ancestor.csv": """
            SELECT x.ancestor_concept_id, x.descendant_concept_id,
                   x.min_levels_of_separation, x.max_levels_of_separation
            FROM agi x JOIN subset a ON a.concept_id = x.ancestor_concept_id
                       JOIN subset d ON d.concept_id = x.descendant_concept_id
            ORDER BY CAST(x.ancestor_concept_id AS BIGINT),
                     CAST(x.descendant_concept_id AS BIGINT)""",
    }
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, sql in queries.items():
        rows = con.execute(sql)
        header = [d[0] for d in rows.description]
        body = rows.fetchall()
        tmp_path = out / f".{name}.tmp"
        with tmp_path.open("w", encoding="utf-8", newline="") as f:
            f.write(ORIGIN)
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(body)
        tmp_path.replace(out / name)
        counts[name] = len(body)
    return counts


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data")
    for file, n in derive(root).items():
        print(f"{file}: {n} rows")

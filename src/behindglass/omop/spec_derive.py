"""Regenerate the compact CDM v5.4 field list shipped inside the package.

The installed package must not need the official specification at run time, so we ship
``cdm54_fields.csv`` (table, field, required, datatype, primary_key) and ``cdm54_tables.csv``
(table, schema, required), both derived from the official OHDSI CSVs by this module::

    python -m behindglass.omop.spec_derive \\
        ../shared/data/omop-cdm-v5.4-spec/OMOP_CDMv5.4_Field_Level.csv \\
        ../shared/data/omop-cdm-v5.4-spec/OMOP_CDMv5.4_Table_Level.csv

Only column *selection* and light normalisation happen here (lower-case names, the
spec's quoted ``"offset"`` unquoted, ``Yes``/``No`` to ``yes``/``no``); nothing is invented.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS_FILE = HERE / "cdm54_fields.csv"
TABLES_FILE = HERE / "cdm54_tables.csv"

ORIGIN = (
    "# Derived from the official OMOP CDM v5.4 specification, OHDSI/CommonDataModel\n"
    "# inst/csv/{name} (commit f853f6e39c61b4eb8b3e5287fd573a1ced36c0e4),\n"
    "# Apache License 2.0. Regenerate with: python -m behindglass.omop.spec_derive\n"
)


def _clean_name(name: str) -> str:
    # The spec quotes reserved words (note_nlp."offset"); we quote every identifier in DDL.
    return name.strip().strip('"').lower()


def _yes(value: str) -> str:
    return "yes" if value.strip().lower() == "yes" else "no"


def derive_fields(field_level_csv: Path) -> str:
    """The text of ``cdm54_fields.csv`` for the official field-level CSV."""
    out = io.StringIO()
    out.write(ORIGIN.format(name="OMOP_CDMv5.4_Field_Level.csv"))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["table", "field", "required", "datatype", "primary_key"])
    with field_level_csv.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            writer.writerow(
                [
                    _clean_name(row["cdmTableName"]),
                    _clean_name(row["cdmFieldName"]),
                    _yes(row["isRequired"]),
                    row["cdmDatatype"].strip().lower(),
                    _yes(row["isPrimaryKey"]),
                ]
            )
    return out.getvalue()


def derive_tables(table_level_csv: Path) -> str:
    """The text of ``cdm54_tables.csv`` for the official table-level CSV."""
    out = io.StringIO()
    out.write(ORIGIN.format(name="OMOP_CDMv5.4_Table_Level.csv"))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["table", "schema", "required"])
    with table_level_csv.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            writer.writerow(
                [_clean_name(row["cdmTableName"]), row["schema"].strip(), _yes(row["isRequired"])]
            )
    return out.getvalue()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    FIELDS_FILE.write_text(derive_fields(Path(argv[0])), encoding="utf-8")
    TABLES_FILE.write_text(derive_tables(Path(argv[1])), encoding="utf-8")
    print(f"wrote {FIELDS_FILE} and {TABLES_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Foreign keys of the CDM v5.4 specification: which table a field points to, and the
domain or concept class its concepts must have.

The package schema (:mod:`behindglass.omop.schema`) keeps only types, required flags and
primary keys; the data-quality checks also need the links, so they are derived here from
the same official specification into ``cdm54_links.csv`` (regenerate with
``python -m behindglass.engine.quality.links SPEC_FIELD_LEVEL.csv``).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

RESOURCE = "cdm54_links.csv"
_HEADER = ("table", "field", "fk_table", "fk_field", "fk_domain", "fk_class")


@dataclass(frozen=True)
class Link:
    """``table.field`` refers to ``fk_table.fk_field``; concept links may further require
    one of ``domains`` (the concept's ``domain_id``) or one ``concept_class``."""

    table: str
    field: str
    fk_table: str
    fk_field: str
    domains: tuple[str, ...] = ()
    concept_class: str | None = None

    @property
    def is_concept(self) -> bool:
        return self.fk_table == "concept" and self.fk_field == "concept_id"


@cache
def cdm_links() -> Mapping[tuple[str, str], Link]:
    """Every foreign key of CDM v5.4, by ``(table, field)`` (read-only)."""
    text = resources.files(__package__).joinpath(RESOURCE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    out: dict[tuple[str, str], Link] = {}
    for row in rows:
        domains = tuple(d.strip() for d in row["fk_domain"].split(",") if d.strip())
        out[(row["table"], row["field"])] = Link(
            table=row["table"], field=row["field"], fk_table=row["fk_table"],
            fk_field=row["fk_field"], domains=domains, concept_class=row["fk_class"] or None,
        )
    return MappingProxyType(out)


def _clean(value: str) -> str:
    value = (value or "").strip()
    return "" if value.upper() == "NA" else value


def derive(spec_csv: Path) -> str:
    """The text of ``cdm54_links.csv`` from the official ``OMOP_CDMv5.4_Field_Level.csv``."""
    with spec_csv.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    lines = [
        "# Derived from the official OMOP CDM v5.4 specification, OHDSI/CommonDataModel",
        "# inst/csv/OMOP_CDMv5.4_Field_Level.csv, Apache License 2.0.",
        "# Regenerate with: python -m behindglass.engine.quality.links SPEC.csv",
        ",".join(_HEADER),
    ]
    for row in rows:
        if _clean(row["isForeignKey"]).lower() != "yes":
            continue
        values = (
            row["cdmTableName"].lower(), row["cdmFieldName"].lower(),
            _clean(row["fkTableName"]).lower(), _clean(row["fkFieldName"]).lower(),
            _clean(row["fkDomain"]), _clean(row["fkClass"]),
        )
        lines.append(",".join(f'"{v}"' if "," in v else v for v in values))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - a maintenance tool
    target = Path(__file__).with_name(RESOURCE)
    target.write_text(derive(Path(sys.argv[1])), encoding="utf-8")
    print(f"wrote {target}")

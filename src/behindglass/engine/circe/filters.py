"""SQL for Circe's value filters: numeric and date ranges, text, concept lists, codesets."""

from __future__ import annotations

from dataclasses import dataclass

from behindglass.core.circe.model import CodesetIn, DateRange, NumericRange, TextFilter
from behindglass.engine.backend import int_list
from behindglass.engine.dialect import SqlDialect

_OPS = {"lt": "<", "lte": "<=", "eq": "=", "!eq": "<>", "gt": ">", "gte": ">="}


@dataclass(frozen=True)
class Ctx:
    """What every piece of a compiled cohort needs: the dialect and the codeset table."""

    dialect: SqlDialect
    codesets: str

    def in_codeset(self, column: str, codeset_id: int, exclude: bool = False) -> str:
        neg = "NOT " if exclude else ""
        return (f"{column} {neg}IN (SELECT concept_id FROM {self.codesets}"
                f" WHERE codeset_id = {int(codeset_id)})")

    def codeset_in(self, column: str, value: CodesetIn) -> str:
        return self.in_codeset(column, value.codeset_id, value.is_exclusion)


def numeric(expr: str, rng: NumericRange, *, decimal: bool) -> str:
    def lit(v: float) -> str:
        return f"{v:.4f}" if decimal else str(int(v))

    if rng.op.endswith("bt"):
        assert rng.extent is not None
        neg = "NOT " if rng.op.startswith("!") else ""
        return f"{neg}({expr} >= {lit(rng.value)} AND {expr} <= {lit(rng.extent)})"
    return f"{expr} {_OPS[rng.op]} {lit(rng.value)}"


def dates(expr: str, rng: DateRange, dialect: SqlDialect) -> str:
    if rng.op.endswith("bt"):
        assert rng.extent is not None
        neg = "NOT " if rng.op.startswith("!") else ""
        return (f"{neg}({expr} >= {dialect.date(rng.value)} AND "
                f"{expr} <= {dialect.date(rng.extent)})")
    return f"{expr} {_OPS[rng.op]} {dialect.date(rng.value)}"


def text(expr: str, flt: TextFilter) -> str:
    t = flt.text.replace("'", "''")
    return {
        "eq": f"{expr} = '{t}'",
        "!eq": f"{expr} <> '{t}'",
        "startsWith": f"{expr} LIKE '{t}%'",
        "endsWith": f"{expr} LIKE '%{t}'",
        "contains": f"{expr} LIKE '%{t}%'",
        "!contains": f"{expr} NOT LIKE '%{t}%'",
    }[flt.op]


def concepts(expr: str, ids: tuple[int, ...], exclude: bool = False) -> str:
    return f"{expr} {'NOT ' if exclude else ''}IN ({int_list(list(ids))})"

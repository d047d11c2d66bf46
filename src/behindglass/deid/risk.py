"""Re-identification risk of a site's OMOP store: k-anonymity, l-diversity, prosecutor risk.

Everything is computed inside the store with SQL (one ``GROUP BY`` over person-level
quasi-identifiers), so a million persons take seconds and no row is pulled into Python
except the capped list of violating records, which the caller shows *inside the site only*.

Vocabulary (see ``docs/risk.md``):

* an **equivalence class** is a set of persons sharing every quasi-identifier value
  (NULL counts as one value, "unknown");
* **k** of the store is the size of its smallest class; a class *violates k* if smaller
  than the configured k;
* **prosecutor risk** of a record is 1 / (size of its class): the chance an attacker who
  knows the person is in the data picks the right row;
* **distinct l** of a class is the number of distinct values of the sensitive attribute in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import duckdb

from behindglass.core.errors import EngineError, SpecError


@dataclass(frozen=True)
class QuasiIdentifier:
    """A person-level attribute an attacker may know; ``sql`` reads aliases p, l, d."""

    name: str
    sql: str
    table: str | None  # the extra table it needs besides person
    description: str


QUASI_IDENTIFIERS: Mapping[str, QuasiIdentifier] = MappingProxyType({
    q.name: q for q in (
        QuasiIdentifier("year_of_birth", "p.year_of_birth", None, "person.year_of_birth"),
        QuasiIdentifier("month_of_birth", "p.month_of_birth", None, "person.month_of_birth"),
        QuasiIdentifier("sex", "p.gender_concept_id", None, "person.gender_concept_id"),
        QuasiIdentifier("race", "p.race_concept_id", None, "person.race_concept_id"),
        QuasiIdentifier("ethnicity", "p.ethnicity_concept_id", None,
                        "person.ethnicity_concept_id"),
        QuasiIdentifier("zip3", "left(l.zip, 3)", "location",
                        "first 3 characters of location.zip (via person.location_id)"),
        QuasiIdentifier("state", "l.state", "location", "location.state"),
        QuasiIdentifier("death_year", "d.death_year", "death", "year of death.death_date"),
    )
})

BASE_TABLE = "bg_risk_base"  # temporary: lives in the connection only, never in the file
VIOLATING_KEY = "violating_records_local_only"
LOCAL_ONLY_NOTE = (
    "row-level: these records identify persons at risk and must stay inside the site; "
    "behindglass never sends them anywhere"
)


def parse_quasi(names: Sequence[str] | str) -> tuple[str, ...]:
    """Validated, de-duplicated quasi-identifier names (a comma-separated string is fine)."""
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    cleaned = tuple(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    if not cleaned:
        raise SpecError(f"no quasi-identifiers given; choose from {', '.join(QUASI_IDENTIFIERS)}")
    unknown = [n for n in cleaned if n not in QUASI_IDENTIFIERS]
    if unknown:
        raise SpecError(
            f"unknown quasi-identifier {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(QUASI_IDENTIFIERS)}"
        )
    return cleaned


def check_targets(k: int, l_target: int | None, sensitive: str | None) -> None:
    """Refuse meaningless targets before touching the store."""
    if k < 2:
        raise SpecError(f"k must be at least 2 (k=1 protects nobody), got {k}")
    if l_target is not None and l_target < 2:
        raise SpecError(f"l must be at least 2, got {l_target}")
    if (l_target is None) != (sensitive is None):
        raise SpecError("l-diversity needs both --l and --sensitive")


def column(name: str) -> str:
    """The column of a quasi-identifier in the base and working tables."""
    return f'"q_{name}"'


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
    ).fetchall()
    return {r[0].lower() for r in rows}


def _sensitive_sql(sensitive: str, quasi: tuple[str, ...], tables: set[str]) -> tuple[str, str]:
    """(join clause, value expression) of the sensitive attribute, as VARCHAR, never NULL."""
    if sensitive.lower().startswith("condition:"):
        raw = sensitive.split(":", 1)[1].strip()
        if not raw.isdigit():
            raise SpecError(f"sensitive {sensitive!r}: expected condition:CONCEPT_ID")
        if "condition_occurrence" not in tables:
            raise EngineError("sensitive condition needs a condition_occurrence table")
        concepts = f"SELECT {int(raw)}"
        if "concept_ancestor" in tables:  # descendants count as having the condition
            concepts += (f" UNION SELECT descendant_concept_id FROM concept_ancestor"
                         f" WHERE ancestor_concept_id = {int(raw)}")
        join = (" LEFT JOIN (SELECT DISTINCT person_id FROM condition_occurrence"
                f" WHERE condition_concept_id IN ({concepts})) sc ON sc.person_id = p.person_id")
        return join, "CASE WHEN sc.person_id IS NULL THEN 'no' ELSE 'yes' END"
    name = sensitive.strip().lower()
    if name not in QUASI_IDENTIFIERS:
        raise SpecError(f"unknown sensitive attribute {sensitive!r}; use condition:CONCEPT_ID "
                        f"or one of {', '.join(QUASI_IDENTIFIERS)}")
    if name in quasi:
        raise SpecError(f"{name} cannot be both a quasi-identifier and the sensitive attribute")
    return "", f"coalesce(CAST({QUASI_IDENTIFIERS[name].sql} AS VARCHAR), 'NULL')"


def build_base(con: duckdb.DuckDBPyConnection, quasi: tuple[str, ...],
               sensitive: str | None, table: str = BASE_TABLE) -> None:
    """Materialise one row per person: person_id, the QI columns and ``s`` (sensitive)."""
    tables = _tables(con)
    if "person" not in tables:
        raise EngineError("the store has no person table; load an OMOP CDM first")
    names = [QUASI_IDENTIFIERS[q] for q in quasi]
    if sensitive and not sensitive.lower().startswith("condition:"):
        names.append(QUASI_IDENTIFIERS.get(sensitive.strip().lower(), names[0]))
    needed = {q.table for q in names if q.table}
    missing = sorted(needed - tables)
    if missing:
        raise EngineError(f"quasi-identifiers need table(s) {', '.join(missing)}, "
                          "absent from the store")
    joins = ""
    if "location" in needed:
        joins += " LEFT JOIN location l ON l.location_id = p.location_id"
    if "death" in needed:
        joins += (" LEFT JOIN (SELECT person_id, min(year(death_date)) AS death_year"
                  " FROM death GROUP BY person_id) d ON d.person_id = p.person_id")
    s_join, s_expr = _sensitive_sql(sensitive, quasi, tables) if sensitive else ("", "''")
    cols = ", ".join(f"{QUASI_IDENTIFIERS[q].sql} AS {column(q)}" for q in quasi)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT p.person_id, {cols}, "
                    f"{s_expr} AS s FROM person p{joins}{s_join}")
    except duckdb.Error as exc:
        raise EngineError(f"cannot read quasi-identifiers from the store: {exc}") from None


def class_window(quasi: tuple[str, ...]) -> str:
    return f"PARTITION BY {', '.join(column(q) for q in quasi)}"


def violation_flag(quasi: tuple[str, ...], k: int, l_target: int | None) -> str:
    """Window expression: TRUE for every record of a class violating k (or l)."""
    window = class_window(quasi)
    flag = f"count(*) OVER ({window}) < {int(k)}"
    if l_target is not None:
        flag += f" OR count(DISTINCT s) OVER ({window}) < {int(l_target)}"
    return f"({flag})"


@dataclass(frozen=True)
class ClassStats:
    """Figures of one relation's equivalence classes (the raw material of a report)."""

    n_persons: int
    n_classes: int
    k_min: int
    classes_below_k: int
    persons_below_k: int
    l_min: int | None
    classes_below_l: int
    persons_below_l: int
    n_violating: int  # persons in classes violating k or l


def class_stats(con: duckdb.DuckDBPyConnection, relation: str, quasi: tuple[str, ...],
                k: int, l_target: int | None) -> ClassStats:
    """One aggregate query over ``relation`` (a table name or parenthesised subquery)."""
    cols = ", ".join(column(q) for q in quasi)
    lt = int(l_target) if l_target is not None else 0
    k = int(k)
    row = con.execute(
        f"WITH c AS (SELECT count(*) AS n, count(DISTINCT s) AS ls FROM {relation} GROUP BY {cols})"
        f" SELECT coalesce(sum(n), 0), count(*), coalesce(min(n), 0),"
        f" count(*) FILTER (WHERE n < {k}), coalesce(sum(n) FILTER (WHERE n < {k}), 0),"
        f" min(ls), count(*) FILTER (WHERE ls < {lt}),"
        f" coalesce(sum(n) FILTER (WHERE ls < {lt}), 0),"
        f" coalesce(sum(n) FILTER (WHERE n < {k} OR ls < {lt}), 0) FROM c"
    ).fetchone()
    assert row is not None
    vals = [int(v) if v is not None else None for v in row]
    return ClassStats(
        n_persons=vals[0] or 0, n_classes=vals[1] or 0, k_min=vals[2] or 0,
        classes_below_k=vals[3] or 0, persons_below_k=vals[4] or 0,
        l_min=vals[5] if l_target is not None else None,
        classes_below_l=vals[6] or 0, persons_below_l=vals[7] or 0, n_violating=vals[8] or 0,
    )


@dataclass(frozen=True)
class ViolatingRecord:
    """One person in a class violating k or l, with its quasi-identifier values."""

    person_id: int
    values: Mapping[str, Any]
    class_size: int
    class_l: int | None


@dataclass(frozen=True)
class RiskReport:
    """The re-identification risk of one store for one choice of quasi-identifiers."""

    quasi: tuple[str, ...]
    k_target: int
    l_target: int | None
    sensitive: str | None
    n_persons: int
    n_classes: int
    k_min: int
    classes_below_k: int
    persons_below_k: int
    prosecutor_max: float  # 1 / smallest class
    prosecutor_avg: float  # mean over records of 1 / class size = classes / persons
    share_at_risk: float  # share of records whose risk exceeds 1 / k_target
    l_min: int | None
    classes_below_l: int
    persons_below_l: int
    n_violating: int
    violating: tuple[ViolatingRecord, ...]  # capped list; row-level, stays in the site

    @property
    def k_holds(self) -> bool:
        return self.k_min >= self.k_target

    @property
    def l_holds(self) -> bool:
        return self.l_target is None or (self.l_min or 0) >= self.l_target

    @property
    def ok(self) -> bool:
        return self.k_holds and self.l_holds

    def to_dict(self, *, include_records: bool = True) -> dict[str, Any]:
        """Plain JSON-able dict; the violating records sit under :data:`VIOLATING_KEY`."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "violating"}
        out["quasi"] = list(self.quasi)
        out.update(k_holds=self.k_holds, l_holds=self.l_holds, ok=self.ok)
        if include_records:
            out[VIOLATING_KEY] = {
                "note": LOCAL_ONLY_NOTE, "total": self.n_violating,
                "listed": [{"person_id": r.person_id, "values": dict(r.values),
                            "class_size": r.class_size, "class_l": r.class_l}
                           for r in self.violating],
            }
        return out


def violating_records(con: duckdb.DuckDBPyConnection, relation: str, quasi: tuple[str, ...],
                      k: int, l_target: int | None, limit: int) -> tuple[ViolatingRecord, ...]:
    """Up to ``limit`` persons of violating classes, smallest classes first."""
    if limit <= 0:
        return ()
    window = class_window(quasi)
    cols = ", ".join(column(q) for q in quasi)
    rows = con.execute(
        f"SELECT * FROM (SELECT person_id, {cols}, count(*) OVER ({window}) AS n,"
        f" count(DISTINCT s) OVER ({window}) AS ls, {violation_flag(quasi, k, l_target)} AS v"
        f" FROM {relation}) WHERE v ORDER BY n, {cols}, person_id LIMIT {int(limit)}"
    ).fetchall()
    return tuple(
        ViolatingRecord(
            person_id=int(r[0]), values=MappingProxyType(dict(zip(quasi, r[1:-3], strict=True))),
            class_size=int(r[-3]), class_l=int(r[-2]) if l_target is not None else None,
        )
        for r in rows
    )


def report_on(con: duckdb.DuckDBPyConnection, quasi: Sequence[str] | str, k: int, *,
              l_target: int | None = None, sensitive: str | None = None,
              list_limit: int = 1000, relation: str | None = None) -> RiskReport:
    """The report on an open connection (builds the base table unless ``relation`` given)."""
    qi = parse_quasi(quasi)
    check_targets(k, l_target, sensitive)
    if relation is None:
        build_base(con, qi, sensitive)
        relation = BASE_TABLE
    st = class_stats(con, relation, qi, k, l_target)
    if st.n_persons == 0:
        raise EngineError("the person table is empty: there is no risk to report")
    return RiskReport(
        quasi=qi, k_target=k, l_target=l_target, sensitive=sensitive,
        n_persons=st.n_persons, n_classes=st.n_classes, k_min=st.k_min,
        classes_below_k=st.classes_below_k, persons_below_k=st.persons_below_k,
        prosecutor_max=1.0 / st.k_min, prosecutor_avg=st.n_classes / st.n_persons,
        share_at_risk=st.persons_below_k / st.n_persons,
        l_min=st.l_min, classes_below_l=st.classes_below_l, persons_below_l=st.persons_below_l,
        n_violating=st.n_violating,
        violating=violating_records(con, relation, qi, k, l_target, list_limit),
    )


def open_store(db_path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open a site store, with the error tree's messages for the usual mistakes."""
    from pathlib import Path

    if not Path(db_path).is_file():
        raise EngineError(f"{db_path}: no such site database")
    try:
        return duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.Error as exc:
        raise EngineError(f"{db_path}: cannot open as DuckDB: {exc}") from None


def assess(db_path: str, quasi: Sequence[str] | str, k: int, *, l_target: int | None = None,
           sensitive: str | None = None, list_limit: int = 1000) -> RiskReport:
    """Risk report of the store at ``db_path``, opened read-only (nothing is written)."""
    qi = parse_quasi(quasi)
    check_targets(k, l_target, sensitive)
    con = open_store(db_path, read_only=True)
    try:
        return report_on(con, qi, k, l_target=l_target, sensitive=sensitive,
                         list_limit=list_limit)
    finally:
        con.close()

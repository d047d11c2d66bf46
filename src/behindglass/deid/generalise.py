"""Make a store k-anonymous (and l-diverse): generalise or suppress quasi-identifiers.

Both methods work on a temporary copy of the quasi-identifiers first; the store is written
only when the target holds on that copy, and then in **one transaction** (all or nothing).

* ``generalise`` (global recoding): each quasi-identifier has a ladder of coarser versions
  (:data:`LADDERS`). At every round each QI's next rung is tried on the copy, and the rung that
  removes the most violating records per changed record is applied to *every* person.
* ``suppress`` (local recoding): only persons in violating classes change. Their QIs become
  the least informative value (:data:`SUPPRESSED`); if some classes are still too small,
  their year of birth is widened to 5, 10, 20, 40, 100-year bands until k holds.

Year of birth is required by the CDM, so it is never blanked: it is stored as the **midpoint
of its band** (1950-1954 -> 1952), which keeps mean ages unbiased. Every fix adds a row to
the CDM ``metadata`` table (name ``behindglass.deid.risk``) saying what was generalised.
``death_year`` is reported but never changed (it would mean moving clinical dates).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from behindglass.core.errors import EngineError, SpecError
from behindglass.deid import risk
from behindglass.deid.risk import RiskReport, column
from behindglass.omop.schema import create_table_sql, table_spec

YEAR_BANDS = (5, 10, 20, 40, 100)
# the last rung: every (affected) person gets the store's mean year of birth, one class
ONE_BAND = "CAST(round(avg({c}) OVER ()) AS INTEGER)"
METADATA_NAME = "behindglass.deid.risk"


def _year_band(width: int) -> str:
    # floor to the band and store its midpoint; bands nest (5 in 10 in 20 ...) so applying
    # a wider band to an already banded midpoint gives the right wider band
    return f"({{c}} // {width}) * {width} + {width // 2}"


def _rare(replacement: str) -> str:
    # a category held by fewer than k persons in the whole store goes to "unknown"
    return f"CASE WHEN count(*) OVER (PARTITION BY {{c}}) < {{k}} THEN {replacement} ELSE {{c}} END"


# QI -> rungs (label, SQL template over {c} the column and {k} the target)
LADDERS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "year_of_birth": (*((f"{w}-year bands (midpoint)", _year_band(w)) for w in YEAR_BANDS),
                      ("one band (mean year)", ONE_BAND)),
    "month_of_birth": (("removed", "NULL"),),
    "sex": (("rare categories -> 0", _rare("0")), ("all -> 0", "0")),
    "race": (("rare categories -> 0", _rare("0")), ("all -> 0", "0")),
    "ethnicity": (("rare categories -> 0", _rare("0")), ("all -> 0", "0")),
    "zip3": (("rare ZIP3 -> '000'", _rare("'000'")), ("all -> '000'", "'000'")),
    "state": (("rare states -> NULL", _rare("NULL")), ("all -> NULL", "NULL")),
    "death_year": (),
}

# least informative value of each QI, for suppression (year_of_birth: see module docstring)
SUPPRESSED: Mapping[str, str] = {
    "month_of_birth": "NULL", "sex": "0", "race": "0", "ethnicity": "0",
    "zip3": "'000'", "state": "NULL",
}


@dataclass(frozen=True)
class FixResult:
    """What a fix did: the steps taken, records changed per QI, and reports before/after."""

    method: str
    before: RiskReport
    after: RiskReport
    steps: tuple[str, ...] = ()
    changed: Mapping[str, int] = field(default_factory=dict)

    @property
    def written(self) -> bool:
        return bool(self.changed)

    def to_dict(self, *, include_records: bool = True) -> dict[str, Any]:
        return {"method": self.method, "steps": list(self.steps), "changed": dict(self.changed),
                "before": self.before.to_dict(include_records=include_records),
                "after": self.after.to_dict(include_records=include_records)}


class _Work:
    """The temporary working copy, replaced table by table (DuckDB cannot UPDATE with windows)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, quasi: tuple[str, ...], k: int,
                 l_target: int | None) -> None:
        self.con, self.quasi, self.k, self.l = con, quasi, k, l_target
        self.n = 0
        self.name = "bg_risk_work_0"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self.name} AS SELECT * FROM {risk.BASE_TABLE}")

    def violating(self, relation: str | None = None) -> int:
        stats = risk.class_stats(self.con, relation or self.name, self.quasi, self.k, self.l)
        return stats.n_violating

    def recoded(self, qi: str, template: str) -> str:
        """Subquery: the working copy with one QI recoded for everybody."""
        expr = template.format(c=column(qi), k=int(self.k))
        return f"(SELECT * REPLACE ({expr} AS {column(qi)}) FROM {self.name})"

    def changes(self, relation: str, qi: str) -> int:
        row = self.con.execute(
            f"SELECT count(*) FROM {self.name} a JOIN {relation} b USING (person_id)"
            f" WHERE a.{column(qi)} IS DISTINCT FROM b.{column(qi)}").fetchone()
        return int(row[0]) if row else 0

    def replace(self, select: str) -> None:
        self.n += 1
        name = f"bg_risk_work_{self.n}"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")
        self.con.execute(f"DROP TABLE {self.name}")
        self.name = name

    def suppress(self, exprs: Mapping[str, str]) -> None:
        """Recode the given QIs of persons in violating classes only."""
        flag = risk.violation_flag(self.quasi, self.k, self.l)
        sets = ", ".join(f"CASE WHEN __v THEN {e.format(c=column(q))} ELSE {column(q)} END"
                         f" AS {column(q)}" for q, e in exprs.items())
        self.replace(f"SELECT * EXCLUDE (__v) REPLACE ({sets})"
                     f" FROM (SELECT *, {flag} AS __v FROM {self.name})")


def _generalise(work: _Work) -> list[str]:
    rung = dict.fromkeys(work.quasi, 0)
    steps: list[str] = []
    while (before := work.violating()) > 0:
        best: tuple[tuple[float, int], str, int] | None = None
        for qi in work.quasi:
            ladder = LADDERS[qi]
            if rung[qi] >= len(ladder):
                continue
            relation = work.recoded(qi, ladder[rung[qi]][1])
            changed = work.changes(relation, qi)
            fixed = before - work.violating(relation)
            # most violations removed per record changed; free rungs (nothing changes) first
            score = (fixed / changed if changed else float("inf"), -changed)
            if best is None or score > best[0]:
                best = (score, qi, changed)
        if best is None:
            break  # every ladder is at its top
        _, qi, changed = best
        label, template = LADDERS[qi][rung[qi]]
        rung[qi] += 1
        if changed:
            work.replace(work.recoded(qi, template)[1:-1])
            steps.append(f"{qi}: {label}")
    return steps


def _suppress(work: _Work) -> list[str]:
    steps: list[str] = []
    exprs = {q: SUPPRESSED[q] for q in work.quasi if q in SUPPRESSED}
    if exprs and work.violating():
        work.suppress(exprs)
        steps.append(f"violating records: {', '.join(exprs)} suppressed")
    if "year_of_birth" in work.quasi:
        for width in YEAR_BANDS:
            if not work.violating():
                break
            work.suppress({"year_of_birth": _year_band(width)})
            steps.append(f"violating records: year_of_birth in {width}-year bands (midpoint)")
        if work.violating():
            work.suppress({"year_of_birth": ONE_BAND})
            steps.append("violating records: year_of_birth set to the store's mean year")
    return steps


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ?"
                       " AND database_name <> 'temp'", [table]).fetchall()
    return {r[0].lower() for r in rows}


# person columns rewritten when a QI changes; source values would otherwise leak the original
_PERSON_WRITES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "year_of_birth": (("year_of_birth", "new"), ("day_of_birth", "NULL"),
                      ("birth_datetime", "NULL")),
    "month_of_birth": (("month_of_birth", "NULL"), ("day_of_birth", "NULL"),
                       ("birth_datetime", "NULL")),
    "sex": (("gender_concept_id", "new"), ("gender_source_value", "NULL"),
            ("gender_source_concept_id", "0")),
    "race": (("race_concept_id", "new"), ("race_source_value", "NULL"),
             ("race_source_concept_id", "0")),
    "ethnicity": (("ethnicity_concept_id", "new"), ("ethnicity_source_value", "NULL"),
                  ("ethnicity_source_concept_id", "0")),
}


def write_back(con: duckdb.DuckDBPyConnection, work_table: str, quasi: tuple[str, ...],
               note: Mapping[str, Any]) -> dict[str, int]:
    """Copy the recoded QIs into the CDM tables; the caller holds the transaction."""
    changed: dict[str, int] = {}
    con.execute("CREATE OR REPLACE TEMP TABLE bg_risk_diff AS SELECT w.*, "
                + ", ".join(f"w.{column(q)} IS DISTINCT FROM b.{column(q)} AS \"ch_{q}\""
                            for q in quasi)
                + f" FROM {work_table} w JOIN {risk.BASE_TABLE} b USING (person_id)")
    person_cols = _columns(con, "person")
    for qi in quasi:
        row = con.execute(f'SELECT count(*) FROM bg_risk_diff WHERE "ch_{qi}"').fetchone()
        changed[qi] = int(row[0]) if row else 0
        if not changed[qi] or qi not in _PERSON_WRITES:
            continue
        sets = ", ".join(f"{col} = " + (f"d.{column(qi)}" if val == "new" else val)
                         for col, val in _PERSON_WRITES[qi] if col in person_cols)
        con.execute(f'UPDATE person SET {sets} FROM bg_risk_diff d'
                    f' WHERE person.person_id = d.person_id AND d."ch_{qi}"')
    if changed.get("zip3") or changed.get("state"):
        _relocate(con, quasi)
    _record_metadata(con, dict(note, changed=changed))
    return {q: n for q, n in changed.items() if n}


def _relocate(con: duckdb.DuckDBPyConnection, quasi: tuple[str, ...]) -> None:
    """Point changed persons at new location rows holding only the generalised ZIP3/state
    (other persons may share the old row, and address, city and county must not survive)."""
    zip_expr = f"d.{column('zip3')}" if "zip3" in quasi else "l.zip"
    state_expr = f"d.{column('state')}" if "state" in quasi else "l.state"
    flags = " OR ".join(f'd."ch_{q}"' for q in ("zip3", "state") if q in quasi)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE bg_risk_loc AS SELECT d.person_id, {zip_expr} AS zip,"
        f" {state_expr} AS state FROM bg_risk_diff d JOIN person p USING (person_id)"
        f" LEFT JOIN location l ON l.location_id = p.location_id WHERE {flags}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE bg_risk_newloc AS SELECT zip, state,"
        " (SELECT coalesce(max(location_id), 0) FROM location)"
        " + row_number() OVER (ORDER BY zip NULLS FIRST, state NULLS FIRST) AS location_id"
        " FROM (SELECT DISTINCT zip, state FROM bg_risk_loc)")
    con.execute("INSERT INTO location (location_id, zip, state)"
                " SELECT location_id, zip, state FROM bg_risk_newloc")
    con.execute(
        "UPDATE person SET location_id = m.location_id FROM (SELECT c.person_id, n.location_id"
        " FROM bg_risk_loc c JOIN bg_risk_newloc n ON c.zip IS NOT DISTINCT FROM n.zip"
        " AND c.state IS NOT DISTINCT FROM n.state) m WHERE person.person_id = m.person_id")


def _record_metadata(con: duckdb.DuckDBPyConnection, note: Mapping[str, Any]) -> None:
    """One CDM metadata row per fix, so analysts know the values are generalised."""
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}
    if "metadata" not in tables:
        con.execute(create_table_sql(table_spec("metadata")))
    con.execute(
        "INSERT INTO metadata (metadata_id, metadata_concept_id, metadata_type_concept_id,"
        " name, value_as_string, metadata_date) SELECT coalesce(max(metadata_id), 0) + 1, 0, 0,"
        " ?, ?, ? FROM metadata",
        [METADATA_NAME, json.dumps(note, sort_keys=True), dt.date.today()])


def fix(db_path: str, quasi: Sequence[str] | str, k: int, *, method: str,
        l_target: int | None = None, sensitive: str | None = None,
        list_limit: int = 1000) -> FixResult:
    """Generalise or suppress until k (and l) hold, then write in one transaction.

    Raises :class:`SpecError` (and writes nothing) when the target cannot be reached.
    """
    if method not in ("generalise", "suppress"):
        raise SpecError(f"unknown fix {method!r}; use generalise or suppress")
    qi = risk.parse_quasi(quasi)
    risk.check_targets(k, l_target, sensitive)
    con = risk.open_store(db_path, read_only=False)
    try:
        before = risk.report_on(con, qi, k, l_target=l_target, sensitive=sensitive,
                                list_limit=list_limit)
        if before.ok:
            return FixResult(method=method, before=before, after=before)
        if before.n_persons < k:
            raise SpecError(f"the store holds {before.n_persons} persons, fewer than k={k}: "
                            "no generalisation can reach k")
        work = _Work(con, qi, k, l_target)
        steps = _generalise(work) if method == "generalise" else _suppress(work)
        left = work.violating()
        if left:
            raise SpecError(
                f"{method} could not reach k={k}" + (f", l={l_target}" if l_target else "")
                + f": {left} persons would still be in violating classes; nothing was written"
                + ("; death_year is never changed" if "death_year" in qi else ""))
        note = {"method": method, "quasi": list(qi), "k": k, "l": l_target,
                "sensitive": sensitive, "steps": steps}
        con.execute("BEGIN TRANSACTION")
        try:
            changed = write_back(con, work.name, qi, note)
            con.execute("COMMIT")
        except BaseException as exc:
            con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error):
                raise EngineError(f"fix failed, nothing was written: {exc}") from None
            raise
        after = risk.report_on(con, qi, k, l_target=l_target, sensitive=sensitive,
                               list_limit=list_limit)
        return FixResult(method=method, before=before, after=after, steps=tuple(steps),
                         changed=changed)
    finally:
        con.close()

"""A site's OMOP store in DuckDB, answering the :class:`~behindglass.core.sitedata.SiteData`
questions analyses may ask. Every answer is a person count; no row leaves this module."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import duckdb

from behindglass.core.cohort import Cohort
from behindglass.core.errors import EngineError
from behindglass.core.sitedata import ConceptDomain, Dimension
from behindglass.engine.circe import generate_cohort
from behindglass.engine.cohort_sql import DOMAIN_TABLES, cohort_sql
from behindglass.engine.duckdb_backend import DuckDBBackend

AGE_BAND_WIDTH = 10
AGE_BAND_TOP = 90  # Safe Harbor: every age of 90 and above is one band

_SEX_LABEL = (
    "CASE p.gender_concept_id WHEN 8507 THEN 'male' WHEN 8532 THEN 'female' ELSE 'unknown' END"
)


def _concept_label(column: str) -> str:
    # the label join is added by count_by; ``c`` is the concept row of ``column``
    return (
        f"CASE WHEN p.{column} IS NULL OR p.{column} = 0 THEN 'unknown' "
        f"ELSE coalesce(c.concept_name, 'concept ' || p.{column}) END"
    )


_AGE = "year(m.index_date) - p.year_of_birth"
DIMENSION_SQL: dict[str, str] = {
    "sex": _SEX_LABEL,
    "age_band": (
        f"CASE WHEN {_AGE} >= {AGE_BAND_TOP} THEN '{AGE_BAND_TOP}+' "
        f"WHEN {_AGE} < 0 THEN 'unknown' "
        f"ELSE CAST(({_AGE}) // {AGE_BAND_WIDTH} * {AGE_BAND_WIDTH} AS VARCHAR) || '-' || CAST("
        f"({_AGE}) // {AGE_BAND_WIDTH} * {AGE_BAND_WIDTH} + {AGE_BAND_WIDTH - 1} AS VARCHAR) END"
    ),
    "race": _concept_label("race_concept_id"),
    "ethnicity": _concept_label("ethnicity_concept_id"),
    "index_year": "CAST(year(m.index_date) AS VARCHAR)",
}
_LABEL_COLUMN = {"race": "race_concept_id", "ethnicity": "ethnicity_concept_id"}


class DuckDBSiteData:
    """Read-only view of one site's DuckDB OMOP store.

    Cohorts are materialised once per connection into temporary tables keyed by the
    cohort's fingerprint, so several analyses on one cohort pay for it once.
    """

    def __init__(self, db_path: str | Path, *, read_only: bool = True) -> None:
        self.path = Path(db_path)
        if not self.path.exists():
            raise EngineError(f"{self.path}: no such site database")
        self._backend = DuckDBBackend(self.path, read_only=read_only)
        self._materialised: dict[str, str] = {}

    @classmethod
    def from_connection(cls, con: duckdb.DuckDBPyConnection) -> DuckDBSiteData:
        self = cls.__new__(cls)
        self.path = Path("<connection>")
        self._backend = DuckDBBackend.from_connection(con, str(self.path))
        self._materialised = {}
        return self

    def __enter__(self) -> DuckDBSiteData:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._backend.close()

    def _query(self, sql: str) -> list[tuple]:
        return self._backend.fetchall(sql)

    def members(self, cohort: Cohort) -> str:
        """Name of a temporary table holding (person_id, index_date) for the cohort."""
        key = cohort.fingerprint
        if key not in self._materialised:
            name = f"bg_cohort_{key}"
            self._query(f"CREATE OR REPLACE TEMP TABLE {name} AS {self._members_sql(cohort)}")
            self._materialised[key] = name
        return self._materialised[key]

    def _members_sql(self, cohort: Cohort) -> str:
        expression = cohort.expression
        if expression is None:
            return cohort_sql(cohort)
        # a Circe cohort may enter a person more than once; person-level questions use
        # the person's first entry as the index date
        generated = generate_cohort(self._backend, expression)
        return (f"SELECT subject_id AS person_id, MIN(cohort_start_date) AS index_date"
                f" FROM {generated.table} GROUP BY subject_id")

    def count_persons(self, cohort: Cohort) -> int:
        table = self.members(cohort)
        return int(self._query(f"SELECT count(*) FROM {table}")[0][0])

    def count_by(self, cohort: Cohort, dimension: Dimension) -> list[tuple[str, int]]:
        if dimension not in DIMENSION_SQL:
            raise EngineError(f"unknown dimension {dimension!r}; known: {sorted(DIMENSION_SQL)}")
        table = self.members(cohort)
        label_join = ""
        if dimension in _LABEL_COLUMN:
            label_join = f" LEFT JOIN concept c ON c.concept_id = p.{_LABEL_COLUMN[dimension]}"
        rows = self._query(
            f"SELECT {DIMENSION_SQL[dimension]} AS value, count(*) AS n FROM {table} m"
            f" JOIN person p ON p.person_id = m.person_id{label_join}"
            " GROUP BY value ORDER BY value"
        )
        return [(str(v), int(n)) for v, n in rows]

    def top_concepts(self, cohort: Cohort, domain: ConceptDomain, limit: int,
                     window_days: int | None) -> list[tuple[int, str, int]]:
        if domain not in ("condition", "drug", "procedure", "measurement"):
            raise EngineError(f"top concepts are not available for domain {domain!r}")
        table, concept_col, date_col = DOMAIN_TABLES[domain]
        window = "" if window_days is None else (
            f" AND e.{date_col} >= m.index_date - INTERVAL {int(window_days)} DAY"
        )
        members = self.members(cohort)
        rows = self._query(
            f"SELECT e.{concept_col} AS concept_id, count(DISTINCT e.person_id) AS n"
            f" FROM {table} e JOIN {members} m ON m.person_id = e.person_id"
            f" WHERE e.{concept_col} <> 0 AND e.{date_col} <= m.index_date{window}"
            f" GROUP BY concept_id ORDER BY n DESC, concept_id LIMIT {int(limit)}"
        )
        ids = [int(r[0]) for r in rows]
        counts = [int(r[1]) for r in rows]
        names: dict[int, str] = {}
        if ids:
            names = dict(self._query(
                "SELECT concept_id, concept_name FROM concept WHERE concept_id IN "
                f"({', '.join(map(str, ids))})"
            ))
        return [
            (cid, names.get(cid) or f"concept {cid}", n)
            for cid, n in zip(ids, counts, strict=True)
        ]

"""The few SQL constructs that differ between engines, one class per dialect.

Every query of the engine layer is written in the portable core of SQL (joins, CTEs,
window functions, ``CASE``), and calls a :class:`SqlDialect` for the rest: date arithmetic,
the year of a date, temporary tables. Adding an engine means adding a subclass here and a
:class:`~behindglass.engine.backend.Backend` that runs its SQL; the spec tests then run
every cohort case on it.
"""

from __future__ import annotations

import datetime as dt


class SqlDialect:
    """DuckDB and PostgreSQL agree on everything below: ``date + integer`` is a date and
    ``date - date`` is a whole number of days."""

    name = "duckdb"

    def date_add(self, date_sql: str, days: int | str) -> str:
        if isinstance(days, int):
            return date_sql if days == 0 else f"({date_sql} + {days})"
        return f"({date_sql} + CAST({days} AS INTEGER))"

    def days_between(self, start_sql: str, end_sql: str) -> str:
        """Whole days from ``start`` to ``end`` (negative when end is earlier)."""
        return f"({end_sql} - {start_sql})"

    def year(self, date_sql: str) -> str:
        return f"CAST(EXTRACT(YEAR FROM {date_sql}) AS INTEGER)"

    def date(self, value: dt.date) -> str:
        return f"DATE '{value.isoformat()}'"

    def create_temp_table(self, name: str, select_sql: str) -> str:
        return f"CREATE TEMPORARY TABLE {name} AS {select_sql}"

    def drop_table(self, name: str) -> str:
        return f"DROP TABLE IF EXISTS {name}"

    def greatest(self, *parts: str) -> str:
        return f"GREATEST({', '.join(parts)})"

    def least(self, *parts: str) -> str:
        return f"LEAST({', '.join(parts)})"


class DuckDBDialect(SqlDialect):
    name = "duckdb"


class PostgresDialect(SqlDialect):
    name = "postgres"


DIALECTS: dict[str, SqlDialect] = {
    d.name: d for d in (DuckDBDialect(), PostgresDialect())
}

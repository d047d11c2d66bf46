"""The embedded default engine: a DuckDB file holding the site's CDM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from behindglass.core.errors import EngineError
from behindglass.engine.backend import ClosesOnExit
from behindglass.engine.dialect import DuckDBDialect


class DuckDBBackend(ClosesOnExit):
    def __init__(self, path: str | Path, *, read_only: bool = True,
                 threads: int | None = None) -> None:
        self.path = Path(path)
        self.label = self.path.name
        self.dialect = DuckDBDialect()
        if not self.path.exists():
            raise EngineError(f"{self.path}: no such DuckDB database")
        try:
            # a thread cap matters where several sites share one machine's cores
            config = {} if threads is None else {"threads": threads}
            self.con = duckdb.connect(str(self.path), read_only=read_only, config=config)
        except duckdb.Error as exc:
            raise EngineError(f"{self.path}: cannot open as DuckDB: {exc}") from None

    @classmethod
    def from_connection(cls, con: duckdb.DuckDBPyConnection, label: str = "<connection>"
                        ) -> DuckDBBackend:
        self = cls.__new__(cls)
        self.path = Path(label)
        self.label = label
        self.dialect = DuckDBDialect()
        self.con = con
        return self

    def execute(self, sql: str) -> None:
        try:
            self.con.execute(sql)
        except duckdb.Error as exc:
            raise EngineError(f"{self.label}: query failed: {exc}") from None

    def fetchall(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise EngineError(f"{self.label}: query failed: {exc}") from None

    def fetch_frame(self, sql: str) -> pd.DataFrame:
        try:
            return self.con.execute(sql).df()
        except duckdb.Error as exc:
            raise EngineError(f"{self.label}: query failed: {exc}") from None

    def columns(self, sql: str) -> list[str]:
        try:
            rel = self.con.sql(f"SELECT * FROM ({sql}) AS q LIMIT 0")
        except duckdb.Error as exc:
            raise EngineError(f"{self.label}: query failed: {exc}") from None
        return [c.lower() for c in rel.columns]

    def tables(self) -> set[str]:
        rows = self.fetchall(
            "SELECT lower(table_name) FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_catalog = current_database()"
        )
        return {r[0] for r in rows}

    def close(self) -> None:
        self.con.close()

"""An Achilles-style profile of a store, as a releasable aggregate.

Persons by sex, year of birth, race and ethnicity; observation periods (how many, how long);
and for each domain table its records, persons with records, records per person, coverage
by standard concepts, top concepts and records per calendar month. Every count goes through
:mod:`~behindglass.engine.quality.disclosure`; lengths and records per person are given as
bands, never as a minimum or maximum (which would be one person's value); a top concept
whose person count is small is left out, since even its id would say that a few persons
here have it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from behindglass.engine.backend import Backend, int_list
from behindglass.engine.quality.disclosure import cell, distribution, ratio
from behindglass.engine.quality.plausibility import anchor_date
from behindglass.omop.schema import cdm_tables, quote

# domain table -> its main concept field
DOMAINS: dict[str, str] = {
    "visit_occurrence": "visit_concept_id", "visit_detail": "visit_detail_concept_id",
    "condition_occurrence": "condition_concept_id", "drug_exposure": "drug_concept_id",
    "procedure_occurrence": "procedure_concept_id", "device_exposure": "device_concept_id",
    "measurement": "measurement_concept_id", "observation": "observation_concept_id",
    "death": "cause_concept_id", "note": "note_type_concept_id",
    "specimen": "specimen_concept_id", "condition_era": "condition_concept_id",
    "drug_era": "drug_concept_id",
}
PER_PERSON_BANDS = ((1, "1"), (5, "2-5"), (10, "6-10"), (50, "11-50"))
YEAR_BANDS = ((365, "<1y"), (730, "1-2y"), (1826, "2-5y"), (3652, "5-10y"))


def _ordered(shown: Mapping[str, Any], labels: list[str]) -> dict[str, Any]:
    return {k: shown[k] for k in [*labels, *sorted(shown)] if k in shown}


def _band_case(expr: str, bands: tuple[tuple[int, str], ...], last: str, op: str) -> str:
    whens = " ".join(f"WHEN {expr} {op} {limit} THEN '{label}'" for limit, label in bands)
    return f"CASE {whens} ELSE '{last}' END"


class Profiler:
    def __init__(self, backend: Backend, min_cell: int, top: int) -> None:
        self.backend, self.min_cell, self.top = backend, min_cell, top
        self.tables = backend.tables()
        self.names: dict[int, str] = {}

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.backend.fetchall(sql)

    def counts(self, sql: str) -> dict[str, int]:
        """``sql`` returns (key, count) rows."""
        return {("null" if k is None else str(k)): int(n) for k, n in self.rows(sql)}

    def name_concepts(self, ids: list[int]) -> None:
        ids = [i for i in ids if i not in self.names]
        if ids and "concept" in self.tables:
            for cid, name in self.rows("SELECT concept_id, concept_name FROM concept"
                                       f" WHERE concept_id IN ({int_list(ids)})"):
                self.names[int(cid)] = str(name)

    def by_concept(self, column: str) -> list[dict[str, Any]]:
        counts = {k: int(n) for k, n in self.rows(
            f"SELECT {quote(column)}, COUNT(*) FROM person GROUP BY {quote(column)}")}
        self.name_concepts([int(k) for k in counts if k is not None])
        shown = distribution(counts, self.min_cell)
        return [{"concept_id": k, "concept_name": self.names.get(k) if k is not None else None,
                 "persons": shown[k]}
                for k in sorted(counts, key=lambda k: (-counts[k], k is None, k or 0))]

    def persons(self) -> dict[str, Any]:
        total = int(self.rows("SELECT COUNT(*) FROM person")[0][0])
        years = self.counts("SELECT year_of_birth, COUNT(*) FROM person GROUP BY year_of_birth")
        return {
            "persons": cell(total, self.min_cell),
            "by_gender": self.by_concept("gender_concept_id"),
            "by_race": self.by_concept("race_concept_id"),
            "by_ethnicity": self.by_concept("ethnicity_concept_id"),
            "by_year_of_birth": dict(sorted(distribution(years, self.min_cell).items())),
        }

    def observation_periods(self) -> dict[str, Any]:
        d = self.backend.dialect
        days = d.days_between("observation_period_start_date", "observation_period_end_date")
        n, persons = self.rows("SELECT COUNT(*), COUNT(DISTINCT person_id)"
                               " FROM observation_period")[0]
        per_person = self.counts(
            f"SELECT b, COUNT(*) FROM (SELECT {_band_case('n', ((1, '1'), (2, '2')), '3+', '=')}"
            " AS b FROM (SELECT person_id, COUNT(*) AS n FROM observation_period"
            " GROUP BY person_id) x) y GROUP BY b")
        lengths = self.counts(
            f"SELECT b, COUNT(*) FROM (SELECT {_band_case(days, YEAR_BANDS, '10y+', '<')} AS b"
            " FROM observation_period) x GROUP BY b")
        start = d.year("observation_period_start_date")
        years = self.counts(f"SELECT y, COUNT(*) FROM (SELECT {start} AS y"
                            " FROM observation_period) x GROUP BY y")
        return {
            "periods": cell(int(n), self.min_cell),
            "persons_with_period": cell(int(persons), self.min_cell),
            "periods_per_person": _ordered(distribution(per_person, self.min_cell),
                                           ["1", "2", "3+"]),
            "length": _ordered(distribution(lengths, self.min_cell),
                               [label for _, label in YEAR_BANDS] + ["10y+"]),
            "by_start_year": dict(sorted(distribution(years, self.min_cell).items())),
        }

    def domain(self, table: str, concept: str, persons_total: int) -> dict[str, Any]:
        t, c = quote(table), quote(concept)
        records, persons = (int(v) for v in self.rows(
            f"SELECT COUNT(*), COUNT(DISTINCT person_id) FROM {t}")[0])
        out: dict[str, Any] = {
            "records": cell(records, self.min_cell), "persons": cell(persons, self.min_cell),
            "pct_persons": ratio(persons, persons_total, self.min_cell),
        }
        if records == 0:
            return out
        small = min(records, persons) < self.min_cell
        out["records_per_person_mean"] = None if small else round(records / persons, 2)
        bands = self.counts(
            f"SELECT b, COUNT(*) FROM (SELECT {_band_case('n', PER_PERSON_BANDS, '51+', '<=')}"
            f" AS b FROM (SELECT person_id, COUNT(*) AS n FROM {t} GROUP BY person_id) x) y"
            " GROUP BY b")
        out["records_per_person"] = _ordered(distribution(bands, self.min_cell),
                                             [label for _, label in PER_PERSON_BANDS] + ["51+"])
        out["concept_coverage"] = self.coverage(t, c)
        out["top_concepts"] = self.top_concepts(t, c)
        anchor = anchor_date(cdm_tables()[table])
        if anchor:
            out["by_month"] = self.by_month(t, quote(anchor))
        return out

    def coverage(self, t: str, c: str) -> dict[str, Any]:
        if "concept" in self.tables:
            kind = (f"CASE WHEN t.{c} IS NULL THEN 'null' WHEN t.{c} = 0 THEN 'zero'"
                    " WHEN k.concept_id IS NULL THEN 'not_in_vocabulary'"
                    " WHEN k.standard_concept = 'S' THEN 'standard' ELSE 'non_standard' END")
            sql = (f"SELECT kind, COUNT(*) FROM (SELECT {kind} AS kind FROM {t} t LEFT JOIN"
                   f" (SELECT DISTINCT concept_id, standard_concept FROM concept) k"
                   f" ON k.concept_id = t.{c}) x GROUP BY kind")
        else:
            sql = (f"SELECT kind, COUNT(*) FROM (SELECT CASE WHEN {c} = 0 THEN 'zero'"
                   f" ELSE 'unchecked' END AS kind FROM {t}) x GROUP BY kind")
        counts = self.counts(sql)
        total = sum(counts.values())
        shown: dict[str, Any] = dict(distribution(counts, self.min_cell))
        shown["pct_standard"] = ratio(counts.get("standard", 0), total, self.min_cell)
        shown["pct_zero"] = ratio(counts.get("zero", 0), total, self.min_cell)
        return shown

    def top_concepts(self, t: str, c: str) -> list[dict[str, Any]]:
        rows = self.rows(f"SELECT {c}, COUNT(*), COUNT(DISTINCT person_id) FROM {t}"
                         f" WHERE {c} IS NOT NULL GROUP BY {c}")
        keep = [(int(k), int(n), int(p)) for k, n, p in rows if int(p) >= self.min_cell]
        keep.sort(key=lambda r: (-r[1], r[0]))
        keep = keep[: self.top]
        self.name_concepts([k for k, _, _ in keep])
        return [{"concept_id": k, "concept_name": self.names.get(k),
                 "records": cell(n, self.min_cell), "persons": cell(p, self.min_cell)}
                for k, n, p in keep]

    def by_month(self, t: str, date: str) -> dict[str, Any]:
        y = self.backend.dialect.year(date)
        rows = self.rows(f"SELECT y, m, COUNT(*) FROM (SELECT {y} AS y, CAST(EXTRACT(MONTH"
                         f" FROM {date}) AS INTEGER) AS m FROM {t} WHERE {date} IS NOT NULL) x"
                         " GROUP BY y, m")
        counts = {f"{int(yy):04d}-{int(mm):02d}": int(n) for yy, mm, n in rows}
        return dict(sorted(distribution(counts, self.min_cell).items()))


def profile_store(backend: Backend, *, min_cell: int = 11, top: int = 10) -> dict[str, Any]:
    """The store's profile; every count is suppressed below ``min_cell``."""
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    p = Profiler(backend, min_cell, top)
    out: dict[str, Any] = {"min_cell": min_cell}
    if "person" not in p.tables:
        return out
    out["persons"] = p.persons()
    persons_total = int(p.rows("SELECT COUNT(*) FROM person")[0][0])
    if "observation_period" in p.tables:
        out["observation_periods"] = p.observation_periods()
    domains: dict[str, Any] = {}
    for table, concept in DOMAINS.items():
        if table in p.tables:
            domains[table] = p.domain(table, concept, persons_total)
    out["domains"] = domains
    return out

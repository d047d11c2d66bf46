"""FeatureExtraction-style covariates of a cohort's members, as per-site sums.

For the persons of one cohort (each at their first entry, see :mod:`.members`):

* demographics, binary: sex, age group (5-year bands at index, 90+ top-coded), race,
  ethnicity, index year; continuous: age at index, days of observation before index,
  days of observation after index, days in cohort;
* binary "any record of concept X in window W" for condition_occurrence, condition_era,
  drug_exposure, drug_era, procedure_occurrence, measurement and observation (records
  dated in the window; eras overlapping it; concept 0 left out, as FeatureExtraction does);
* continuous: distinct concepts per domain in each window, and visits in each window.

Covariate ids follow FeatureExtraction: ``concept_id * 1000 + analysis_id`` for concept
covariates; analysis ids are ``domain base + window position + 1`` (condition_occurrence
100, condition_era 200, drug_exposure 300, drug_era 400, procedure_occurrence 500,
measurement 700, observation 800), so with the default windows 101 is "any time prior",
102 long term (-365..0), 103 medium term (-180..0), 104 short term (-30..0).

Everything returned is a count of persons or a sum over persons (n, sum, sum of squares,
min, max); min and max are single persons' values and stay at the site unless the site
itself chooses to release them (see :mod:`behindglass.analyses.covariates`).
"""

from __future__ import annotations

import dataclasses

from behindglass.core.errors import SpecError
from behindglass.engine.backend import Backend
from behindglass.engine.characterization.members import (
    DEFAULT_WINDOWS,
    MEMBERS_TABLE,
    SEX_NAMES,
    Window,
    age_band_label,
    age_band_sql,
    build_members,
    check_windows,
    span_condition,
    window_condition,
    window_label,
)

# domain table -> (analysis id base, concept column, start date column, end date column
# for eras or None)
CONCEPT_DOMAINS: dict[str, tuple[int, str, str, str | None]] = {
    "condition_occurrence": (100, "condition_concept_id", "condition_start_date", None),
    "condition_era": (200, "condition_concept_id", "condition_era_start_date",
                      "condition_era_end_date"),
    "drug_exposure": (300, "drug_concept_id", "drug_exposure_start_date", None),
    "drug_era": (400, "drug_concept_id", "drug_era_start_date", "drug_era_end_date"),
    "procedure_occurrence": (500, "procedure_concept_id", "procedure_date", None),
    "measurement": (700, "measurement_concept_id", "measurement_date", None),
    "observation": (800, "observation_concept_id", "observation_date", None),
}
# count covariates: table -> (analysis id, concept column, date column)
COUNT_DOMAINS: dict[str, tuple[int, str, str]] = {
    "condition_occurrence": (910, "condition_concept_id", "condition_start_date"),
    "drug_exposure": (911, "drug_concept_id", "drug_exposure_start_date"),
    "procedure_occurrence": (912, "procedure_concept_id", "procedure_date"),
    "measurement": (913, "measurement_concept_id", "measurement_date"),
    "observation": (914, "observation_concept_id", "observation_date"),
    "visit_occurrence": (920, "visit_occurrence_id", "visit_start_date"),
}


@dataclasses.dataclass(frozen=True)
class CovariateSettings:
    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    domains: tuple[str, ...] = tuple(CONCEPT_DOMAINS)
    count_domains: tuple[str, ...] = tuple(COUNT_DOMAINS)
    demographics: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", check_windows(self.windows))
        for name, allowed in (("domains", CONCEPT_DOMAINS), ("count_domains", COUNT_DOMAINS)):
            bad = [d for d in getattr(self, name) if d not in allowed]
            if bad:
                raise SpecError(f"unknown {name} {bad}; accepted: {sorted(allowed)}")


@dataclasses.dataclass(frozen=True)
class BinaryCovariate:
    covariate_id: int
    covariate_name: str
    analysis_id: int
    analysis_name: str  # "sex", "age_group", ... or "<domain>:<start|any>:<end>"
    concept_id: int
    persons: int


@dataclasses.dataclass(frozen=True)
class ContinuousCovariate:
    covariate_id: int
    covariate_name: str
    analysis_id: int
    analysis_name: str
    n: int  # persons with a value
    total: int  # sum of the values
    total_sq: int  # sum of their squares
    minimum: int | None
    maximum: int | None


@dataclasses.dataclass(frozen=True)
class CohortCovariates:
    """A cohort's covariates at one site, before any disclosure control."""

    persons: int
    binary: tuple[BinaryCovariate, ...]
    continuous: tuple[ContinuousCovariate, ...]


def _concept_names(backend: Backend, ids: set[int]) -> dict[int, str]:
    if not ids or "concept" not in backend.tables():
        return {}
    out: dict[int, str] = {}
    ordered = sorted(ids)
    for i in range(0, len(ordered), 1000):
        chunk = ", ".join(str(c) for c in ordered[i:i + 1000])
        out.update((int(c), str(n)) for c, n in backend.fetchall(
            f"SELECT concept_id, concept_name FROM concept WHERE concept_id IN ({chunk})"))
    return out


def _demographics(backend: Backend, m: str) -> tuple[list[BinaryCovariate],
                                                     list[ContinuousCovariate]]:
    d = backend.dialect
    binary: list[BinaryCovariate] = []
    groups = (("sex", 1, "gender_concept_id"), ("race", 4, "race_concept_id"),
              ("ethnicity", 5, "ethnicity_concept_id"))
    names_needed: list[tuple[str, int, int, int]] = []
    for name, aid, col in groups:
        for value, n in backend.fetchall(
                f"SELECT COALESCE({col}, 0), COUNT(*) FROM {m} GROUP BY COALESCE({col}, 0)"):
            names_needed.append((name, aid, int(value), int(n)))
    labels = _concept_names(backend, {v for _, _, v, _ in names_needed})
    for name, aid, value, n in names_needed:
        label = SEX_NAMES.get(value) if name == "sex" else None
        label = label or labels.get(value) or ("no matching concept" if value == 0
                                               else f"concept {value}")
        binary.append(BinaryCovariate(value * 1000 + aid, f"{name} = {label}", aid, name,
                                      value, n))
    for band, n in backend.fetchall(
            f"SELECT {age_band_sql('age')} AS band, COUNT(*) FROM {m} "
            f"WHERE age IS NOT NULL GROUP BY {age_band_sql('age')}"):
        binary.append(BinaryCovariate(int(band) * 1000 + 3,
                                      f"age group: {age_band_label(int(band))}", 3,
                                      "age_group", 0, int(n)))
    for year, n in backend.fetchall(
            f"SELECT {d.year('index_date')}, COUNT(*) FROM {m} GROUP BY {d.year('index_date')}"):
        binary.append(BinaryCovariate(int(year) * 1000 + 6, f"index year: {int(year)}", 6,
                                      "index_year", 0, int(n)))
    values = {
        (2, "age", "age at index (years)"): "age",
        (8, "prior_observation_days", "days of observation before index"):
            d.days_between("op_start", "index_date"),
        (9, "post_observation_days", "days of observation after index"):
            d.days_between("index_date", "op_end"),
        (10, "time_in_cohort_days", "days from cohort start to cohort end"):
            d.days_between("index_date", "end_date"),
    }
    continuous = [_moments(backend, m, expr, 1000 + aid, label, aid, name)
                  for (aid, name, label), expr in values.items()]
    return binary, continuous


def _moments(backend: Backend, table: str, expr: str, covariate_id: int, label: str,
             analysis_id: int, analysis_name: str) -> ContinuousCovariate:
    """n, sum, sum of squares, min, max of a non-negative integer expression."""
    v = f"CAST({expr} AS BIGINT)"
    n, s, s2, lo, hi = backend.fetchall(
        f"SELECT COUNT({v}), SUM({v}), SUM({v} * {v}), MIN({v}), MAX({v}) FROM {table} "
        f"WHERE {expr} >= 0")[0]
    return ContinuousCovariate(covariate_id, label, analysis_id, analysis_name, int(n),
                               int(s or 0), int(s2 or 0),
                               None if lo is None else int(lo), None if hi is None else int(hi))


def _concept_covariates(backend: Backend, m: str, domain: str,
                        windows: tuple[Window, ...]) -> list[tuple[int, str, int, int]]:
    """(analysis id, analysis name, concept id, persons) for one domain, every window."""
    base, concept, start, end = CONCEPT_DOMAINS[domain]
    if domain not in backend.tables():
        return []
    cols = []
    for w in windows:
        cond = (window_condition(backend, "c.index_date", f"x.{start}", w) if end is None
                else span_condition(backend, "c.index_date", f"x.{start}", f"x.{end}", w))
        cols.append(f"COUNT(DISTINCT CASE WHEN {cond} THEN c.person_id END)")
    latest = max(w[1] for w in windows)
    reach = f"{backend.dialect.days_between('c.index_date', f'x.{start}')} <= {latest}"
    rows = backend.fetchall(
        f"SELECT x.{concept}, {', '.join(cols)} FROM {m} c "
        f"JOIN {domain} x ON x.person_id = c.person_id AND {reach} "
        f"WHERE x.{concept} IS NOT NULL AND x.{concept} <> 0 GROUP BY x.{concept}")
    out = []
    for row in rows:
        for i, w in enumerate(windows):
            if row[1 + i]:
                out.append((base + i + 1, f"{domain}:{window_label(w)}", int(row[0]),
                            int(row[1 + i])))
    return out


def _count_covariates(backend: Backend, m: str, domain: str,
                      windows: tuple[Window, ...]) -> list[ContinuousCovariate]:
    """Per person: distinct concepts (visits: records) of a domain in each window."""
    aid, concept, date = COUNT_DOMAINS[domain]
    if domain not in backend.tables():
        return []
    what = "visits" if domain == "visit_occurrence" else "distinct concepts"
    filt = "" if domain == "visit_occurrence" else f" AND x.{concept} <> 0"
    latest = max(w[1] for w in windows)
    reach = f"{backend.dialect.days_between('c.index_date', f'x.{date}')} <= {latest}"
    cols = [f"COUNT(DISTINCT CASE WHEN {window_condition(backend, 'c.index_date', f'x.{date}', w)}"
            f" THEN x.{concept} END) AS v{i}" for i, w in enumerate(windows)]
    per_person = (f"SELECT c.person_id, {', '.join(cols)} FROM {m} c "
                  f"LEFT JOIN {domain} x ON x.person_id = c.person_id AND {reach}{filt} "
                  f"GROUP BY c.person_id")
    out = []
    for i, w in enumerate(windows):
        out.append(_moments(backend, f"({per_person}) pp", f"pp.v{i}", (i + 1) * 1000 + aid,
                            f"{domain} {what} in window {window_label(w)}", aid,
                            f"{domain}_count:{window_label(w)}"))
    return out


def compute_covariates(backend: Backend, cohort_table: str, cohort_id: int,
                       settings: CovariateSettings | None = None) -> CohortCovariates:
    """Covariates of the persons of cohort ``cohort_id`` in ``cohort_table``."""
    settings = settings or CovariateSettings()
    m = build_members(backend, cohort_table, cohort_id, MEMBERS_TABLE)
    try:
        persons = int(backend.fetchall(f"SELECT COUNT(*) FROM {m}")[0][0])
        binary: list[BinaryCovariate] = []
        continuous: list[ContinuousCovariate] = []
        if settings.demographics:
            b, c = _demographics(backend, m)
            binary += b
            continuous += c
        if settings.windows:
            found = [r for domain in settings.domains
                     for r in _concept_covariates(backend, m, domain, settings.windows)]
            names = _concept_names(backend, {cid for _, _, cid, _ in found})
            for aid, aname, cid, n in found:
                label = names.get(cid, f"concept {cid}")
                binary.append(BinaryCovariate(cid * 1000 + aid, f"{aname}: {label}", aid,
                                              aname, cid, n))
            for domain in settings.count_domains:
                continuous += _count_covariates(backend, m, domain, settings.windows)
    finally:
        backend.execute(backend.dialect.drop_table(m))
    return CohortCovariates(persons, tuple(binary), tuple(continuous))

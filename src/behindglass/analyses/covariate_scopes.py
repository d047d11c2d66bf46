"""What the covariates analysis's demographic tables count, in the characterization's words.

A covariates release of cohort C says how many of C's persons have each sex, race,
ethnicity, five-year age group and index year, keyed by FeatureExtraction covariate ids
(``concept_id * 1000 + analysis_id``; a band or year in place of the concept for age
groups and index years). A characterization of C says the same by ``male``/``female``/
``unknown``, concept names and ten-year bands. So each demographic table is scoped on its
own axis (two covariates releases of C are tied cell by cell) and, through a key map, on the
characterization's coarser axis (:class:`~behindglass.core.aggregates.TableScope`), so that
a cell hidden in one release cannot be read off the other.
"""

from __future__ import annotations

from collections.abc import Callable

from behindglass.analyses.base import scope
from behindglass.core.aggregates import CountTable, SiteAggregate, TableScope
from behindglass.core.cohort import Cohort

AGE_BAND_WIDTH, AGE_BAND_TOP = 10, 90  # the characterization's bands (engine/site_store.py)
AGE_GROUP_WIDTH = 5  # the covariates' groups (engine/characterization/members.py)
SEX = {8507: "male", 8532: "female"}


def _sex(value: int, label: str) -> str:
    return SEX.get(value, "unknown")


def _concept(value: int, label: str) -> str:
    # the characterization's label: the concept's name, "concept N" without one, or unknown
    return "unknown" if value == 0 else label.split(" = ", 1)[-1]


def _age_band(band: int, label: str) -> str:
    low = band * AGE_GROUP_WIDTH
    if low >= AGE_BAND_TOP:
        return f"{AGE_BAND_TOP}+"
    low -= low % AGE_BAND_WIDTH
    return f"{low}-{low + AGE_BAND_WIDTH - 1}"


def _year(year: int, label: str) -> str:
    return str(year)


# covariates' demographic analysis name -> (characterization dimension, key map)
COARSER: dict[str, tuple[str, Callable[[int, str], str]]] = {
    "sex": ("sex", _sex), "race": ("race", _concept), "ethnicity": ("ethnicity", _concept),
    "age_group": ("age_band", _age_band), "index_year": ("index_year", _year),
}


def release_scopes(cohort: Cohort, part: SiteAggregate) -> dict[str, TableScope]:
    """The scopes of one cohort's covariates release (``release_covariates``): its persons
    table and its demographic tables (``binary:ID:NAME``) count the cohort's persons."""
    out = {"persons": scope(cohort)}
    for t in part.tables:
        kind, _, rest = t.name.partition(":")
        name = rest.partition(":")[2]
        if kind == "binary" and name in COARSER and t.margin == "persons":
            out[t.name] = _demographic(cohort, name, t)
    return out


def _demographic(cohort: Cohort, analysis_name: str, table: CountTable) -> TableScope:
    native = scope(cohort, f"covariate:{analysis_name}")
    axis, key = COARSER[analysis_name]
    keys = {c.key[0]: key(int(c.key[0]) // 1000, table.labels.get(c.key[0], ""))
            for c in table.cells}
    return native.model_copy(update={"coarser": {axis: keys}})

"""The pieces of a data-quality summary that decide what leaves a site: suppression,
threshold resolution and error scrubbing."""

from __future__ import annotations

import pytest

from behindglass.core.errors import SpecError
from behindglass.engine.dialect import DuckDBDialect
from behindglass.engine.quality import Thresholds, catalog
from behindglass.engine.quality.disclosure import cell, distribution, ratio
from behindglass.engine.quality.report import scrub


def test_cell_never_shows_a_small_count() -> None:
    assert [cell(n, 11) for n in (0, 1, 10, 11, None)] == [0, "<11", "<11", 11, None]


def test_distribution_hides_a_complement() -> None:
    # one small cell alone could be recovered from the total: the next smallest goes too
    assert distribution({"a": 3, "b": 40, "c": 500}, 11) == {"a": "<11", "b": "<11", "c": 500}
    # two small cells that together reach min_cell are enough
    assert distribution({"a": 5, "b": 6, "c": 90}, 11) == {"a": "<11", "b": "<11", "c": 90}
    assert distribution({"a": 0, "b": 20}, 11) == {"a": 0, "b": 20}


def test_ratio_withheld_when_it_reveals_a_small_count() -> None:
    assert ratio(5, 1000, 11) is None
    assert ratio(995, 1000, 11) is None
    assert ratio(500, 1000, 11) == 50.0
    assert ratio(0, 1000, 11) == 0.0


def test_thresholds_most_specific_prefix_wins() -> None:
    t = Thresholds({"isRequired": 5, "isRequired.person": 2,
                    "isRequired.person.gender_concept_id": 1})
    assert t.for_check("isRequired.person.gender_concept_id", 0) == 1
    assert t.for_check("isRequired.person.year_of_birth", 0) == 2
    assert t.for_check("isRequired.measurement.person_id", 0) == 5
    assert t.for_check("isRequiredX.person.year_of_birth", 0) == 0  # whole parts only
    assert t.for_check("cdmTable.person", 0) == 0
    with pytest.raises(SpecError):
        Thresholds({"isRequired": -1})
    with pytest.raises(SpecError):
        Thresholds({"isRequired": "5"})  # type: ignore[dict-item]


def test_scrub_drops_quoted_values_and_numbers() -> None:
    msg = "site.duckdb: query failed: Conversion Error: invalid date 'JOHN DOE 1970-01-02' at 12"
    out = scrub(msg)
    assert "JOHN" not in out and "1970" not in out and "12" not in out
    assert "Conversion Error" in out


def test_catalog_is_generated_and_unique() -> None:
    checks = catalog(DuckDBDialect())
    ids = [c.check_id for c in checks]
    assert len(ids) == len(set(ids))
    names = {c.name for c in checks}
    for expected in ("isRequired", "cdmDatatype", "isPrimaryKey", "isForeignKey", "fkDomain",
                     "fkClass", "isStandardValidConcept", "measureValueCompleteness",
                     "standardConceptRecordCompleteness", "sourceConceptRecordCompleteness",
                     "sourceValueCompleteness", "measurePersonCompleteness",
                     "plausibleValueLow", "plausibleValueHigh", "plausibleGender",
                     "plausibleTemporalAfter", "plausibleDuringLife",
                     "plausibleStartBeforeEnd", "withinObservationPeriod", "withinVisitDates"):
        assert expected in names
    # one isRequired per required field of the specification
    from behindglass.omop.schema import cdm_tables
    required = sum(f.required for t in cdm_tables().values() for f in t.fields)
    assert sum(c.name == "isRequired" for c in checks) == required

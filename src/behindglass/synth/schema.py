"""The CDM v5.4 columns of every table the generator writes, in specification order.

Generated once from the official field-level specification
(``OMOP_CDMv5.4_Field_Level.csv``) and kept here so that generation never depends on
another module's copy of the spec being present. Each column carries a one-letter kind
taken from the spec's datatype: ``i`` integer, ``f`` float, ``d`` date, ``t`` datetime,
``s`` varchar. The unit tests compare these lists with the spec file.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pyarrow as pa

_SPEC: dict[str, str] = {
    "person": "person_id:i gender_concept_id:i year_of_birth:i month_of_birth:i day_of_birth:i birth_datetime:t race_concept_id:i ethnicity_concept_id:i location_id:i provider_id:i care_site_id:i person_source_value:s gender_source_value:s gender_source_concept_id:i race_source_value:s race_source_concept_id:i ethnicity_source_value:s ethnicity_source_concept_id:i",  # noqa: E501
    "observation_period": "observation_period_id:i person_id:i observation_period_start_date:d observation_period_end_date:d period_type_concept_id:i",  # noqa: E501
    "visit_occurrence": "visit_occurrence_id:i person_id:i visit_concept_id:i visit_start_date:d visit_start_datetime:t visit_end_date:d visit_end_datetime:t visit_type_concept_id:i provider_id:i care_site_id:i visit_source_value:s visit_source_concept_id:i admitted_from_concept_id:i admitted_from_source_value:s discharged_to_concept_id:i discharged_to_source_value:s preceding_visit_occurrence_id:i",  # noqa: E501
    "condition_occurrence": "condition_occurrence_id:i person_id:i condition_concept_id:i condition_start_date:d condition_start_datetime:t condition_end_date:d condition_end_datetime:t condition_type_concept_id:i condition_status_concept_id:i stop_reason:s provider_id:i visit_occurrence_id:i visit_detail_id:i condition_source_value:s condition_source_concept_id:i condition_status_source_value:s",  # noqa: E501
    "drug_exposure": "drug_exposure_id:i person_id:i drug_concept_id:i drug_exposure_start_date:d drug_exposure_start_datetime:t drug_exposure_end_date:d drug_exposure_end_datetime:t verbatim_end_date:d drug_type_concept_id:i stop_reason:s refills:i quantity:f days_supply:i sig:s route_concept_id:i lot_number:s provider_id:i visit_occurrence_id:i visit_detail_id:i drug_source_value:s drug_source_concept_id:i route_source_value:s dose_unit_source_value:s",  # noqa: E501
    "procedure_occurrence": "procedure_occurrence_id:i person_id:i procedure_concept_id:i procedure_date:d procedure_datetime:t procedure_end_date:d procedure_end_datetime:t procedure_type_concept_id:i modifier_concept_id:i quantity:i provider_id:i visit_occurrence_id:i visit_detail_id:i procedure_source_value:s procedure_source_concept_id:i modifier_source_value:s",  # noqa: E501
    "measurement": "measurement_id:i person_id:i measurement_concept_id:i measurement_date:d measurement_datetime:t measurement_time:s measurement_type_concept_id:i operator_concept_id:i value_as_number:f value_as_concept_id:i unit_concept_id:i range_low:f range_high:f provider_id:i visit_occurrence_id:i visit_detail_id:i measurement_source_value:s measurement_source_concept_id:i unit_source_value:s unit_source_concept_id:i value_source_value:s measurement_event_id:i meas_event_field_concept_id:i",  # noqa: E501
    "observation": "observation_id:i person_id:i observation_concept_id:i observation_date:d observation_datetime:t observation_type_concept_id:i value_as_number:f value_as_string:s value_as_concept_id:i qualifier_concept_id:i unit_concept_id:i provider_id:i visit_occurrence_id:i visit_detail_id:i observation_source_value:s observation_source_concept_id:i unit_source_value:s qualifier_source_value:s value_source_value:s observation_event_id:i obs_event_field_concept_id:i",  # noqa: E501
    "death": "person_id:i death_date:d death_datetime:t death_type_concept_id:i cause_concept_id:i cause_source_value:s cause_source_concept_id:i",  # noqa: E501
    "location": "location_id:i address_1:s address_2:s city:s state:s zip:s county:s location_source_value:s country_concept_id:i country_source_value:s latitude:f longitude:f",  # noqa: E501
    "care_site": "care_site_id:i care_site_name:s place_of_service_concept_id:i location_id:i care_site_source_value:s place_of_service_source_value:s",  # noqa: E501
    "provider": "provider_id:i provider_name:s npi:s dea:s specialty_concept_id:i care_site_id:i year_of_birth:i gender_concept_id:i provider_source_value:s specialty_source_value:s specialty_source_concept_id:i gender_source_value:s gender_source_concept_id:i",  # noqa: E501
    "payer_plan_period": "payer_plan_period_id:i person_id:i payer_plan_period_start_date:d payer_plan_period_end_date:d payer_concept_id:i payer_source_value:s payer_source_concept_id:i plan_concept_id:i plan_source_value:s plan_source_concept_id:i sponsor_concept_id:i sponsor_source_value:s sponsor_source_concept_id:i family_source_value:s stop_reason_concept_id:i stop_reason_source_value:s stop_reason_source_concept_id:i",  # noqa: E501
    "cost": "cost_id:i cost_event_id:i cost_domain_id:s cost_type_concept_id:i currency_concept_id:i total_charge:f total_cost:f total_paid:f paid_by_payer:f paid_by_patient:f paid_patient_copay:f paid_patient_coinsurance:f paid_patient_deductible:f paid_by_primary:f paid_ingredient_cost:f paid_dispensing_fee:f payer_plan_period_id:i amount_allowed:f revenue_code_concept_id:i revenue_code_source_value:s drg_concept_id:i drg_source_value:s",  # noqa: E501
    "drug_era": "drug_era_id:i person_id:i drug_concept_id:i drug_era_start_date:d drug_era_end_date:d drug_exposure_count:i gap_days:i",  # noqa: E501
    "condition_era": "condition_era_id:i person_id:i condition_concept_id:i condition_era_start_date:d condition_era_end_date:d condition_occurrence_count:i",  # noqa: E501
    "cdm_source": "cdm_source_name:s cdm_source_abbreviation:s cdm_holder:s source_description:s source_documentation_reference:s cdm_etl_reference:s source_release_date:d cdm_release_date:d cdm_version:s cdm_version_concept_id:i vocabulary_version:s",  # noqa: E501
    "concept": "concept_id:i concept_name:s domain_id:s vocabulary_id:s concept_class_id:s standard_concept:s concept_code:s valid_start_date:d valid_end_date:d invalid_reason:s",  # noqa: E501
    "vocabulary": "vocabulary_id:s vocabulary_name:s vocabulary_reference:s vocabulary_version:s vocabulary_concept_id:i",  # noqa: E501
    "domain": "domain_id:s domain_name:s domain_concept_id:i",
    "concept_class": "concept_class_id:s concept_class_name:s concept_class_concept_id:i",
    "concept_relationship": "concept_id_1:i concept_id_2:i relationship_id:s valid_start_date:d valid_end_date:d invalid_reason:s",  # noqa: E501
    "relationship": "relationship_id:s relationship_name:s is_hierarchical:s defines_ancestry:s reverse_relationship_id:s relationship_concept_id:i",  # noqa: E501
    "concept_ancestor": "ancestor_concept_id:i descendant_concept_id:i min_levels_of_separation:i max_levels_of_separation:i",  # noqa: E501
}

# The arrow type each column kind is written from; the CSV writer turns these into the
# CDM text forms (ISO dates, "YYYY-MM-DD HH:MM:SS", empty for NULL).
ARROW_TYPES: Mapping[str, pa.DataType] = MappingProxyType(
    {
        "i": pa.int64(),
        "f": pa.float64(),
        "d": pa.date32(),
        "t": pa.timestamp("s"),
        "s": pa.string(),
    }
)


def _parse(spec: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, kind) for name, kind in (part.split(":") for part in spec.split()))


COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {table: _parse(spec) for table, spec in _SPEC.items()}
)

# Tables in the order they are written; clinical tables stream, the rest are written once.
CLINICAL_TABLES: tuple[str, ...] = (
    "person", "observation_period", "visit_occurrence", "condition_occurrence",
    "drug_exposure", "procedure_occurrence", "measurement", "observation", "death",
    "payer_plan_period", "cost", "drug_era", "condition_era",
)  # fmt: skip
SITE_TABLES: tuple[str, ...] = ("location", "care_site", "provider", "cdm_source")
VOCABULARY_TABLES: tuple[str, ...] = (
    "concept", "vocabulary", "domain", "concept_class", "concept_relationship",
    "relationship", "concept_ancestor",
)  # fmt: skip


def column_names(table: str) -> tuple[str, ...]:
    """The lower-case CDM column names of ``table`` in specification order."""
    return tuple(name for name, _ in COLUMNS[table])


def arrow_schema(table: str) -> pa.Schema:
    """The arrow schema the writer builds ``table`` with."""
    return pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in COLUMNS[table]])

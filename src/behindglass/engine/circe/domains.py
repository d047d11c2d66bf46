"""Where each Circe criteria domain lives in the CDM, and the SQL of each attribute.

Every domain reads one table into rows with Circe's event columns (``person_id,
event_id, start_date, end_date, visit_occurrence_id, sort_date, domain_concept_id``).
End dates follow Circe: a missing end becomes the day after the start (drug exposures
first try ``days_supply``), point events end the day after they happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from behindglass.engine.dialect import SqlDialect


@dataclass(frozen=True)
class DomainTable:
    table: str
    id: str | None  # None: the person id stands in (death has no id of its own)
    concept: str | None  # column the criterion's CodesetId matches
    start: str
    end: str | None  # None: the start date; "+1": the day after the start
    end_may_be_missing: bool = False  # COALESCE(end, start + fallback columns, start + 1)
    end_fallback: tuple[str, ...] = ()
    visit: str | None = "visit_occurrence_id"
    source: str | None = None  # attribute name matched against the source concept column
    source_column: str | None = None
    # attribute -> column of the table row (C.*), or a SQL expression naming it
    columns: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def end_sql(self, dialect: SqlDialect, alias: str) -> str:
        start = f"{alias}.{self.start}"
        if self.end is None:
            return start
        if self.end == "+1":
            return dialect.date_add(start, 1)
        if not self.end_may_be_missing:
            return f"{alias}.{self.end}"
        parts = [f"{alias}.{self.end}"]
        parts += [dialect.date_add(start, f"{alias}.{col}") for col in self.end_fallback]
        parts.append(dialect.date_add(start, 1))
        return f"COALESCE({', '.join(parts)})"


def _cols(**kw: str) -> MappingProxyType[str, str]:
    return MappingProxyType(kw)


TABLES: MappingProxyType[str, DomainTable] = MappingProxyType({
    "ConditionOccurrence": DomainTable(
        "condition_occurrence", "condition_occurrence_id", "condition_concept_id",
        "condition_start_date", "condition_end_date", end_may_be_missing=True,
        source="ConditionSourceConcept", source_column="condition_source_concept_id",
        columns=_cols(ConditionType="condition_type_concept_id",
                      ConditionStatus="condition_status_concept_id", StopReason="stop_reason"),
    ),
    "ConditionEra": DomainTable(
        "condition_era", "condition_era_id", "condition_concept_id",
        "condition_era_start_date", "condition_era_end_date", visit=None,
        columns=_cols(OccurrenceCount="condition_occurrence_count"),
    ),
    "DrugExposure": DomainTable(
        "drug_exposure", "drug_exposure_id", "drug_concept_id",
        "drug_exposure_start_date", "drug_exposure_end_date", end_may_be_missing=True,
        end_fallback=("days_supply",),
        source="DrugSourceConcept", source_column="drug_source_concept_id",
        columns=_cols(DrugType="drug_type_concept_id", RouteConcept="route_concept_id",
                      StopReason="stop_reason", Refills="refills", Quantity="quantity",
                      DaysSupply="days_supply", LotNumber="lot_number"),
    ),
    "DrugEra": DomainTable(
        "drug_era", "drug_era_id", "drug_concept_id", "drug_era_start_date",
        "drug_era_end_date", visit=None,
        columns=_cols(OccurrenceCount="drug_exposure_count", GapDays="gap_days"),
    ),
    "DoseEra": DomainTable(
        "dose_era", "dose_era_id", "drug_concept_id", "dose_era_start_date",
        "dose_era_end_date", visit=None,
        columns=_cols(Unit="unit_concept_id", DoseValue="dose_value"),
    ),
    "ProcedureOccurrence": DomainTable(
        "procedure_occurrence", "procedure_occurrence_id", "procedure_concept_id",
        "procedure_date", "+1",
        source="ProcedureSourceConcept", source_column="procedure_source_concept_id",
        columns=_cols(ProcedureType="procedure_type_concept_id",
                      Modifier="modifier_concept_id", Quantity="quantity"),
    ),
    "Measurement": DomainTable(
        "measurement", "measurement_id", "measurement_concept_id", "measurement_date", "+1",
        source="MeasurementSourceConcept", source_column="measurement_source_concept_id",
        columns=_cols(MeasurementType="measurement_type_concept_id",
                      Operator="operator_concept_id", ValueAsConcept="value_as_concept_id",
                      Unit="unit_concept_id", ValueAsNumber="value_as_number",
                      RangeLow="range_low", RangeHigh="range_high"),
    ),
    "Observation": DomainTable(
        "observation", "observation_id", "observation_concept_id", "observation_date", "+1",
        source="ObservationSourceConcept", source_column="observation_source_concept_id",
        columns=_cols(ObservationType="observation_type_concept_id",
                      ValueAsConcept="value_as_concept_id", Qualifier="qualifier_concept_id",
                      Unit="unit_concept_id", ValueAsNumber="value_as_number",
                      ValueAsString="value_as_string"),
    ),
    "VisitOccurrence": DomainTable(
        "visit_occurrence", "visit_occurrence_id", "visit_concept_id", "visit_start_date",
        "visit_end_date",
        source="VisitSourceConcept", source_column="visit_source_concept_id",
        columns=_cols(VisitType="visit_type_concept_id"),
    ),
    "VisitDetail": DomainTable(
        "visit_detail", "visit_detail_id", "visit_detail_concept_id",
        "visit_detail_start_date", "visit_detail_end_date",
        source="VisitDetailSourceConcept", source_column="visit_detail_source_concept_id",
        columns=_cols(VisitDetailType="visit_detail_type_concept_id"),
    ),
    "DeviceExposure": DomainTable(
        "device_exposure", "device_exposure_id", "device_concept_id",
        "device_exposure_start_date", "device_exposure_end_date", end_may_be_missing=True,
        source="DeviceSourceConcept", source_column="device_source_concept_id",
        columns=_cols(DeviceType="device_type_concept_id", UniqueDeviceId="unique_device_id",
                      Quantity="quantity"),
    ),
    "Specimen": DomainTable(
        "specimen", "specimen_id", "specimen_concept_id", "specimen_date", None,
        visit=None,
        columns=_cols(SpecimenType="specimen_type_concept_id", Unit="unit_concept_id",
                      AnatomicSite="anatomic_site_concept_id",
                      DiseaseStatus="disease_status_concept_id", Quantity="quantity",
                      SourceId="specimen_source_id"),
    ),
    "Death": DomainTable(
        "death", None, "cause_concept_id", "death_date", "+1", visit=None,
        source="DeathSourceConcept", source_column="cause_source_concept_id",
        columns=_cols(DeathType="death_type_concept_id"),
    ),
    "ObservationPeriod": DomainTable(
        "observation_period", "observation_period_id", None,
        "observation_period_start_date", "observation_period_end_date", visit=None,
        columns=_cols(PeriodType="period_type_concept_id"),
    ),
    "PayerPlanPeriod": DomainTable(
        "payer_plan_period", "payer_plan_period_id", None, "payer_plan_period_start_date",
        "payer_plan_period_end_date", visit=None,
        columns=_cols(PayerConcept="payer_concept_id", PlanConcept="plan_concept_id",
                      SponsorConcept="sponsor_concept_id",
                      StopReasonConcept="stop_reason_concept_id",
                      PayerSourceConcept="payer_source_concept_id",
                      PlanSourceConcept="plan_source_concept_id",
                      SponsorSourceConcept="sponsor_source_concept_id",
                      StopReasonSourceConcept="stop_reason_source_concept_id"),
    ),
})

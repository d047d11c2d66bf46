"""Which attributes each Circe criteria domain accepts, and what kind of value each is.

The parser refuses any attribute not listed here, naming it, so a definition is never run
with a filter silently dropped. The engine maps every (domain, attribute) listed here to
SQL; a unit test checks that the two agree.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal

Kind = Literal[
    "first",      # bool: only the person's earliest event of the codeset
    "date",       # DateRange on a date
    "int",        # NumericRange compared as integers
    "decimal",    # NumericRange compared as decimals
    "concepts",   # list of concepts: column IN (ids)
    "exclude",    # bool: turns the matching "concepts" attribute into NOT IN
    "codeset_in",  # {CodesetId, IsExclusion}: column IN / NOT IN a concept set
    "source",     # int codeset id matched against the source concept column
    "text",       # TextFilter on a string column
    "flag",       # bool filter
    "date_adjustment",
    "correlated",  # a nested criteria group evaluated on this criterion's own events
    "period",     # user-defined period {StartDate, EndDate}
]

_PERSON: dict[str, Kind] = {"Gender": "concepts", "GenderCS": "codeset_in"}
_OCCURRENCE_DATES: dict[str, Kind] = {"OccurrenceStartDate": "date", "OccurrenceEndDate": "date"}
_CLINICAL: dict[str, Kind] = {
    **_PERSON, "Age": "int",
    "ProviderSpecialty": "concepts", "ProviderSpecialtyCS": "codeset_in",
    "VisitType": "concepts", "VisitTypeCS": "codeset_in",
}
_ERA: dict[str, Kind] = {
    **_PERSON, "EraStartDate": "date", "EraEndDate": "date", "EraLength": "int",
    "AgeAtStart": "int", "AgeAtEnd": "int",
}


def _typed(prefix: str, *, exclude: bool = True) -> dict[str, Kind]:
    out: dict[str, Kind] = {prefix: "concepts", f"{prefix}CS": "codeset_in"}
    if exclude:
        out[f"{prefix}Exclude"] = "exclude"
    return out


def _cs(*names: str) -> dict[str, Kind]:
    out: dict[str, Kind] = {}
    for name in names:
        out[name] = "concepts"
        out[f"{name}CS"] = "codeset_in"
    return out


_BASE: dict[str, Kind] = {
    "CodesetId": "source", "First": "first", "CorrelatedCriteria": "correlated",
    "DateAdjustment": "date_adjustment",
}

DOMAINS: MappingProxyType[str, MappingProxyType[str, Kind]] = MappingProxyType({
    name: MappingProxyType(attrs) for name, attrs in {
        "ConditionOccurrence": {
            **_BASE, **_OCCURRENCE_DATES, **_CLINICAL, **_typed("ConditionType"),
            **_cs("ConditionStatus"), "StopReason": "text", "ConditionSourceConcept": "source",
        },
        "ConditionEra": {**_BASE, **_ERA, "OccurrenceCount": "int"},
        "DrugExposure": {
            **_BASE, **_OCCURRENCE_DATES, **_CLINICAL, **_typed("DrugType"),
            **_cs("RouteConcept"), "StopReason": "text", "Refills": "int",
            "Quantity": "decimal", "DaysSupply": "int", "LotNumber": "text",
            "DrugSourceConcept": "source",
        },
        "DrugEra": {**_BASE, **_ERA, "OccurrenceCount": "int", "GapDays": "int"},
        "DoseEra": {**_BASE, **_ERA, **_cs("Unit"), "DoseValue": "decimal"},
        "ProcedureOccurrence": {
            **_BASE, **_OCCURRENCE_DATES, **_CLINICAL, **_typed("ProcedureType"),
            **_cs("Modifier"), "Quantity": "int", "ProcedureSourceConcept": "source",
        },
        "Measurement": {
            **_BASE, **_OCCURRENCE_DATES, **_CLINICAL, **_typed("MeasurementType"),
            **_cs("Operator", "ValueAsConcept", "Unit"), "ValueAsNumber": "decimal",
            "RangeLow": "decimal", "RangeHigh": "decimal", "RangeLowRatio": "decimal",
            "RangeHighRatio": "decimal", "Abnormal": "flag",
            "MeasurementSourceConcept": "source",
        },
        "Observation": {
            **_BASE, **_OCCURRENCE_DATES, **_CLINICAL, **_typed("ObservationType"),
            **_cs("ValueAsConcept", "Qualifier", "Unit"), "ValueAsNumber": "decimal",
            "ValueAsString": "text", "ObservationSourceConcept": "source",
        },
        "VisitOccurrence": {
            **_BASE, **_OCCURRENCE_DATES, **_PERSON, "Age": "int",
            **_typed("VisitType"), **_cs("ProviderSpecialty", "PlaceOfService"),
            "VisitSourceConcept": "source", "VisitLength": "int",
        },
        "VisitDetail": {
            **_BASE, "VisitDetailStartDate": "date", "VisitDetailEndDate": "date",
            **_PERSON, "Age": "int", "VisitDetailTypeCS": "codeset_in",
            "ProviderSpecialtyCS": "codeset_in", "PlaceOfServiceCS": "codeset_in",
            "VisitDetailSourceConcept": "source", "VisitDetailLength": "int",
        },
        "DeviceExposure": {
            **_BASE, **_OCCURRENCE_DATES, **_CLINICAL, **_typed("DeviceType"),
            "UniqueDeviceId": "text", "Quantity": "int", "DeviceSourceConcept": "source",
        },
        "Specimen": {
            **_BASE, "OccurrenceStartDate": "date", **_PERSON, "Age": "int",
            **_typed("SpecimenType"), **_cs("Unit", "AnatomicSite", "DiseaseStatus"),
            "Quantity": "decimal", "SourceId": "text",
        },
        "Death": {
            "CodesetId": "source", "CorrelatedCriteria": "correlated",
            "DateAdjustment": "date_adjustment", "OccurrenceStartDate": "date",
            **_PERSON, "Age": "int", **_typed("DeathType"), "DeathSourceConcept": "source",
        },
        "ObservationPeriod": {
            "First": "first", "CorrelatedCriteria": "correlated",
            "DateAdjustment": "date_adjustment", "PeriodStartDate": "date",
            "PeriodEndDate": "date", "UserDefinedPeriod": "period", **_cs("PeriodType"),
            "PeriodLength": "int", "AgeAtStart": "int", "AgeAtEnd": "int",
        },
        "PayerPlanPeriod": {
            "First": "first", "CorrelatedCriteria": "correlated",
            "DateAdjustment": "date_adjustment", "PeriodStartDate": "date",
            "PeriodEndDate": "date", "UserDefinedPeriod": "period", "PeriodLength": "int",
            "AgeAtStart": "int", "AgeAtEnd": "int", **_PERSON,
            "PayerConcept": "source", "PlanConcept": "source", "SponsorConcept": "source",
            "StopReasonConcept": "source", "PayerSourceConcept": "source",
            "PlanSourceConcept": "source", "SponsorSourceConcept": "source",
            "StopReasonSourceConcept": "source",
        },
    }.items()
})

# Attributes Circe defines that this engine refuses, with the reason given to the user.
UNSUPPORTED: MappingProxyType[str, str] = MappingProxyType({
    "LocationRegion": "location-region criteria need the CDM location history table, "
                      "which behindglass stores do not carry",
    "PlaceOfServiceLocation": "place-of-service location needs the location history table",
    "PlaceOfServiceDistance": "place-of-service distance needs geocoded locations",
    "EffectiveDrugDose": "CDM v5 drug_exposure has no effective dose column",
    "DoseUnit": "CDM v5 drug_exposure has no dose unit concept column",
    "DoseUnitCS": "CDM v5 drug_exposure has no dose unit concept column",
    "Episode": "episode criteria (CDM 5.4 oncology episodes) are not supported yet",
})

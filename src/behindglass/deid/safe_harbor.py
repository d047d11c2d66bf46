"""The structured rule catalogue: the 18 Safe Harbor identifier classes and what we do to them.

45 CFR 164.514(b)(2)(i) lists 18 classes of identifiers "of the individual or of relatives,
employers, or household members". Each class below has one documented rule, and every
source field we know is mapped to the class it carries and the action taken on it.
Ingest asks :func:`rule_for` for every column it meets. **A field not in this catalogue is
dropped** (deny by default): a new Synthea column or FHIR extension can never slip through
because nobody thought about it; adding it here, with a reason, is the only way in.

Safe Harbor also requires (b)(2)(ii) that the site has no actual knowledge that what remains
could identify someone; no rule catalogue can certify that, the steward does.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from behindglass.core.errors import DeidError
from behindglass.deid.dates import DateMode
from behindglass.deid.rule_specs import Action, IdentifierClass, Spec
from behindglass.deid.rules_fhir import FHIR
from behindglass.deid.rules_synthea import SYNTHEA

__all__ = ["Action", "DeidConfig", "IdentifierClass", "Rule", "catalogue", "rule_for"]

Source = Literal["synthea-csv", "fhir"]


class Rule(BaseModel):
    """The rule for one source field."""

    model_config = ConfigDict(frozen=True)

    field: str
    action: Action
    identifier_class: IdentifierClass | None = None  # None: not a Safe Harbor identifier
    namespace: str | None = None  # pseudonym namespace, for PSEUDONYMIZE
    reason: str = ""


class DeidConfig(BaseModel):
    """A site's structured de-identification settings (frozen, validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date_mode: DateMode = "year"
    max_shift_days: int = Field(default=365, ge=1, le=3650)
    reference_date: dt.date  # the extract's "today" for ages: explicit, so loads reproduce
    restricted_zip3_version: str = "2020-census"

    @model_validator(mode="after")
    def _known_zip3_version(self) -> DeidConfig:
        from behindglass.deid.geography import load_restricted_zip3

        load_restricted_zip3(self.restricted_zip3_version)  # raises DeidError if unknown
        return self

    @property
    def is_safe_harbor(self) -> bool:
        """Only 'year' mode is Safe Harbor; 'shift' is a limited data set / expert method."""
        return self.date_mode == "year"


#: One line per class: the structured rule applied to it.
CLASS_RULES: dict[IdentifierClass, str] = {
    IdentifierClass.NAMES: "removed (patient, relatives, maiden, contacts; provider names too)",
    IdentifierClass.GEOGRAPHY: "street, city, county, FIPS, lat/lon, birthplace removed; ZIP → "
    "ZIP3, '000' for restricted prefixes, NULL for non-US/invalid; state kept",
    IdentifierClass.DATES: "generalised to the year (July 1) in 'year' mode; shifted per "
    "person in 'shift' mode (not Safe Harbor); ages > 89 aggregated to 90",
    IdentifierClass.TELEPHONE: "removed",
    IdentifierClass.FAX: "removed",
    IdentifierClass.EMAIL: "removed",
    IdentifierClass.SSN: "removed",
    IdentifierClass.MRN: "source patient key pseudonymised into person_id; other MRNs removed",
    IdentifierClass.HEALTH_PLAN_ID: "removed (payer/plan kept only as a coded concept)",
    IdentifierClass.ACCOUNT_NUMBER: "encounter/claim keys pseudonymised into ids; others removed",
    IdentifierClass.LICENSE_NUMBER: "removed (driver's licence, passport, provider licences)",
    IdentifierClass.VEHICLE_ID: "removed",
    IdentifierClass.DEVICE_ID: "removed (UDI, serial numbers); device type kept as a code",
    IdentifierClass.URL: "removed",
    IdentifierClass.IP_ADDRESS: "removed",
    IdentifierClass.BIOMETRIC: "removed",
    IdentifierClass.PHOTO: "removed (Patient.photo, Media, attachments)",
    IdentifierClass.OTHER_UNIQUE_ID: "row keys pseudonymised into OMOP ids; any other "
    "identifier removed; free text goes to the text PHI pipeline, never loaded raw",
}

_INDEX = re.compile(r"\[[^\]]*\]")


def _rule(field: str, spec: Spec) -> Rule:
    action, cls, ns, why = spec
    return Rule(field=field, action=action, identifier_class=cls, namespace=ns, reason=why)


def _deny(field: str) -> Rule:
    return Rule(field=field, action=Action.DROP,
                reason="not in the rule catalogue: dropped by default (deny by default)")


def rule_for(source: Source, field: str) -> Rule:
    """The rule for one source field; unknown fields get a DROP rule.

    Synthea fields are ``"patients.SSN"`` or ``"patients.csv:SSN"`` (file stem in any case,
    column as in the header). FHIR fields are element paths (``"Patient.name.given"``,
    array indices ignored); the longest catalogued prefix decides, so ``Patient.address``
    is dropped while ``Patient.address.postalCode`` becomes ZIP3.
    """
    if source == "synthea-csv":
        stem, sep, column = field.replace(".csv:", ".").partition(".")
        table = SYNTHEA.get(stem.lower()) if sep else None
        spec = table.get(column) or table.get(column.upper()) if table else None
        return _rule(field, spec) if spec else _deny(field)
    if source == "fhir":
        parts = _INDEX.sub("", field).split(".")
        for end in range(len(parts), 1, -1):
            spec = FHIR.get(".".join(parts[:end]))
            if spec:
                return _rule(field, spec)
        return _deny(field)
    raise DeidError(f"unknown source {source!r}; expected 'synthea-csv' or 'fhir'")


def catalogue(source: Source) -> list[Rule]:
    """Every catalogued rule of ``source`` (for documentation and review)."""
    if source == "synthea-csv":
        return [_rule(f"{t}.{c}", s) for t, cols in SYNTHEA.items() for c, s in cols.items()]
    if source == "fhir":
        return [_rule(path, spec) for path, spec in FHIR.items()]
    raise DeidError(f"unknown source {source!r}; expected 'synthea-csv' or 'fhir'")

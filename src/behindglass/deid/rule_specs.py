"""The building blocks of the rule catalogue: the 18 identifier classes, the actions, and
the specs shared by the per-source catalogues (:mod:`.rules_synthea`, :mod:`.rules_fhir`)."""

from __future__ import annotations

from enum import StrEnum


class IdentifierClass(StrEnum):
    """The 18 classes, lettered as in 164.514(b)(2)(i)(A)–(R)."""

    NAMES = "A"
    GEOGRAPHY = "B"
    DATES = "C"
    TELEPHONE = "D"
    FAX = "E"
    EMAIL = "F"
    SSN = "G"
    MRN = "H"
    HEALTH_PLAN_ID = "I"
    ACCOUNT_NUMBER = "J"
    LICENSE_NUMBER = "K"
    VEHICLE_ID = "L"
    DEVICE_ID = "M"
    URL = "N"
    IP_ADDRESS = "O"
    BIOMETRIC = "P"
    PHOTO = "Q"
    OTHER_UNIQUE_ID = "R"


class Action(StrEnum):
    """What happens to a field."""

    DROP = "drop"  # the column is not loaded at all
    PSEUDONYMIZE = "pseudonymize"  # keyed HMAC id (pseudonym.py), namespace given
    DATE = "date"  # the configured date mode (dates.py)
    BIRTH_DATE = "birth_date"  # date mode + the over-89 rule (ages.py)
    ZIP3 = "zip3"  # geography.zip3
    KEEP = "keep"  # not an identifier: loaded as is


C = IdentifierClass


Spec = tuple[Action, IdentifierClass | None, str | None, str]


def r(
    action: Action, cls: IdentifierClass | None = None, ns: str | None = None, why: str = ""
) -> Spec:
    return action, cls, ns, why


DROP_NAME = r(Action.DROP, C.NAMES)
DROP_GEO = r(Action.DROP, C.GEOGRAPHY)
ZIP = r(Action.ZIP3, C.GEOGRAPHY)
DATE = r(Action.DATE, C.DATES)
KEEP = r(Action.KEEP)
PERSON = r(Action.PSEUDONYMIZE, C.MRN, "person", "source patient key")
VISIT = r(Action.PSEUDONYMIZE, C.ACCOUNT_NUMBER, "visit", "encounter key")
PROVIDER = r(Action.PSEUDONYMIZE, C.OTHER_UNIQUE_ID, "provider", "provider key")
CARE_SITE = r(Action.PSEUDONYMIZE, C.OTHER_UNIQUE_ID, "care_site", "organisation key")
PAYER = r(Action.PSEUDONYMIZE, C.OTHER_UNIQUE_ID, "payer", "payer key (an organisation)")
DEVICE = r(Action.DROP, C.DEVICE_ID)
CODED = ("CODE", "SYSTEM", "DESCRIPTION", "REASONCODE", "REASONDESCRIPTION")
COSTS = ("BASE_COST", "PAYER_COVERAGE", "TOTALCOST", "DISPENSES", "BASE_ENCOUNTER_COST",
          "TOTAL_CLAIM_COST")
EVENT = {"START": DATE, "STOP": DATE, "PATIENT": PERSON, "ENCOUNTER": VISIT,
          "PAYER": PAYER, **dict.fromkeys(CODED + COSTS, KEEP)}
POINT = {"DATE": DATE, "PATIENT": PERSON, "ENCOUNTER": VISIT,
          **dict.fromkeys(("CODE", "DESCRIPTION"), KEEP)}

"""Settings of a DICOM de-identification run."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from behindglass.core.errors import DeidError
from behindglass.deid.dicom.profile import SIMPLE_ACTIONS, Profile, basic_profile
from behindglass.deid.secret import SiteSecret

DicomDateMode = Literal["shift", "remove"]
PatientIdMode = Literal["empty", "person_id"]
ShiftSource = Callable[[str], int] | Mapping[str, int]

_PLAIN = re.compile(r"^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$")
_BLOCK = re.compile(r"^\(?([0-9A-Fa-f]{4}),(.+),([0-9A-Fa-f]{2})\)?$")


@dataclass(frozen=True)
class PrivateTag:
    """A private element by (group, private creator, element offset in its block).

    Private element numbers move between files (the block ``gggg,10xx`` vs ``gggg,11xx`` is
    assigned per file), so the creator string plus the low byte is the stable address.
    """

    group: int
    creator: str
    offset: int

    def __post_init__(self) -> None:
        if self.group % 2 == 0 or not 0 <= self.offset <= 0xFF:
            raise DeidError(
                f"private tag ({self.group:04X},{self.creator},{self.offset:02X}): the group "
                "must be odd and the offset 00-FF"
            )


KeepPrivate = int | PrivateTag


def parse_private_tag(text: str) -> KeepPrivate:
    """``"0019,100A"`` / ``"(0019,100A)"`` / ``"0019100A"`` (a plain tag) or
    ``"0019,GEMS_ACQU_01,0A"`` (group, private creator, offset)."""
    s = text.strip()
    m = _PLAIN.match(s)
    if m:
        tag = int(m.group(1) + m.group(2), 16)
        if (tag >> 16) % 2 == 0:
            raise DeidError(f"--keep-private {text}: not a private tag (its group is even)")
        return tag
    m = _BLOCK.match(s)
    if m:
        return PrivateTag(int(m.group(1), 16), m.group(2).strip(), int(m.group(3), 16))
    raise DeidError(
        f"--keep-private {text}: expected gggg,eeee or gggg,PRIVATE CREATOR,xx "
        "(hex group, creator string, hex element offset)"
    )


@dataclass(frozen=True)
class DicomDeidConfig:
    """How to de-identify: secret, dates, private allow-list, per-tag overrides.

    ``dates="shift"`` applies the Retain Longitudinal Temporal Information with Modified
    Dates Option (every date of a patient moves by that patient's day offset);
    ``"remove"`` applies the plain Basic Profile to dates. ``shift_days`` maps the original
    PatientID to its offset: a callable or a mapping; by default the offset of
    :func:`behindglass.deid.dates.shift_days` for that key, so images move exactly like the
    same person's structured data when the same person key is used. ``overrides`` maps a
    tag to a simple action code and wins over the table (e.g. ``K`` to keep an attribute).
    ``patient_id="person_id"`` uses the D branch that the table's ``Z/D`` allows for Patient ID:
    the value becomes the OMOP ``person_id`` the structured-data ingest gives the same key
    (:func:`behindglass.deid.pseudonym.pseudonymize`, namespace ``person``), so images link
    to the person's de-identified record; the default ``"empty"`` applies Z.
    """

    secret: SiteSecret
    dates: DicomDateMode = "shift"
    max_shift_days: int = 365
    shift_days: ShiftSource | None = None
    keep_private: tuple[KeepPrivate, ...] = ()
    overrides: Mapping[int, str] = field(default_factory=dict)
    patient_id: PatientIdMode = "empty"
    profile: Profile = field(default_factory=basic_profile)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, SiteSecret):
            raise DeidError("DicomDeidConfig.secret must be a SiteSecret")
        if self.dates not in ("shift", "remove"):
            raise DeidError(f"dates must be 'shift' or 'remove', got {self.dates!r}")
        if self.patient_id not in ("empty", "person_id"):
            raise DeidError(
                f"patient_id must be 'empty' or 'person_id', got {self.patient_id!r}"
            )
        if not 1 <= self.max_shift_days <= 36_500:
            raise DeidError(f"max_shift_days must be 1..36500, got {self.max_shift_days}")
        for tag, action in self.overrides.items():
            if action not in SIMPLE_ACTIONS:
                raise DeidError(
                    f"override for ({tag >> 16:04X},{tag & 0xFFFF:04X}): {action!r} is not "
                    f"one of {sorted(SIMPLE_ACTIONS)}"
                )
        object.__setattr__(self, "keep_private", tuple(
            parse_private_tag(k) if isinstance(k, str) else k for k in self.keep_private
        ))

"""The PS3.15 Table E.1-1 Basic Profile, loaded from the shipped ``profile_basic.csv``.

The table is data, not code, so that a new edition of the standard is a CSV diff that can be
reviewed row by row. Loading validates it: a malformed tag, an unknown action code or a
duplicate tag is a :class:`ProfileError`, because a silently ignored row is an identifier
that silently stays in the output.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from behindglass.core.errors import DeidError

#: Which edition of PS3.15 the shipped table follows (see the CSV's header comment).
TABLE_EDITION = "DICOM PS3.15 Table E.1-1 as published September 2024 (2024c/d)"

#: Every action code Table E.1-1 uses in its Basic Profile column.
SIMPLE_ACTIONS = frozenset({"D", "Z", "X", "K", "C", "U"})
COMPOUND_ACTIONS = frozenset({"Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})
ACTION_CODES = SIMPLE_ACTIONS | COMPOUND_ACTIONS

_TAG = re.compile(r"^\(([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)$")


class ProfileError(DeidError):
    """The profile table is malformed; nothing was de-identified with it."""


@dataclass(frozen=True)
class ProfileRow:
    """One row of Table E.1-1."""

    tag: str  # as written in the standard, e.g. "(0010,0010)" or "(60xx,4000)"
    name: str
    action: str  # the Basic Profile code, possibly compound
    dates_option: str | None  # the Modified Dates Option column ("C") or None

    @property
    def is_pattern(self) -> bool:
        return "x" in self.tag.lower()


def _parse_tag(text: str) -> tuple[int, int]:
    """(value, mask) of a tag; ``x`` digits are wildcards (mask nibble 0)."""
    m = _TAG.match(text.strip())
    if not m:
        raise ProfileError(f"profile table: {text!r} is not a tag of the form (gggg,eeee)")
    digits = (m.group(1) + m.group(2)).lower()
    value = mask = 0
    for ch in digits:
        value <<= 4
        mask <<= 4
        if ch != "x":
            value |= int(ch, 16)
            mask |= 0xF
    return value, mask


def effective_action(code: str, vr: str) -> str:
    """The one simple action applied for a (possibly compound) table code and a VR.

    The compound codes leave the choice to the IOD's attribute Type; this engine does not
    know the IOD, so it takes the most protective choice that keeps the data usable:

    * ``Z/D`` -> ``Z`` (zero length is always allowed where Z/D is listed);
    * ``X/Z``, ``X/D``, ``X/Z/D`` -> ``X`` (removal discloses nothing);
    * ``X/Z/U*`` (reference sequences) -> ``U`` for a UI value, ``K`` for a sequence, so the
      sequence stays and the UIDs inside it are replaced by their own ``U`` rows; ``X`` else.
    """
    if code in SIMPLE_ACTIONS:
        return code
    if code == "Z/D":
        return "Z"
    if code in ("X/Z", "X/D", "X/Z/D"):
        return "X"
    if code == "X/Z/U*":
        if vr == "UI":
            return "U"
        return "K" if vr == "SQ" else "X"
    raise ProfileError(f"unknown action code {code!r}")


class Profile:
    """Tag -> row lookup over exact tags and repeating-group patterns."""

    def __init__(self, rows: list[ProfileRow], source: str = "profile table") -> None:
        self.rows = tuple(rows)
        self._exact: dict[int, ProfileRow] = {}
        self._patterns: list[tuple[int, int, ProfileRow]] = []
        seen: set[tuple[int, int]] = set()
        for row in rows:
            if row.action not in ACTION_CODES:
                raise ProfileError(f"{source}: {row.tag} has unknown action {row.action!r}")
            if row.dates_option not in (None, "C"):
                raise ProfileError(
                    f"{source}: {row.tag} has dates option {row.dates_option!r}; only C"
                )
            value, mask = _parse_tag(row.tag)
            if (value, mask) in seen:
                raise ProfileError(f"{source}: tag {row.tag} is listed twice")
            seen.add((value, mask))
            if mask == 0xFFFFFFFF:
                self._exact[value] = row
            else:
                self._patterns.append((value, mask, row))

    def __len__(self) -> int:
        return len(self.rows)

    def lookup(self, tag: int) -> ProfileRow | None:
        """The row for ``tag``; repeating groups (50xx, 60xx) only match even groups."""
        row = self._exact.get(tag)
        if row is not None:
            return row
        if (tag >> 16) % 2 == 0:
            for value, mask, prow in self._patterns:
                if tag & mask == value:
                    return prow
        return None


def read_profile(path: str | Path) -> Profile:
    """Load and validate a profile table CSV (``tag,name,action,dates_option``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{p}: cannot read the profile table ({exc.strerror})") from None
    return _parse(text, str(p))


def _parse(text: str, source: str) -> Profile:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    expected = ["tag", "name", "action", "dates_option"]
    if reader.fieldnames != expected:
        raise ProfileError(f"{source}: header must be {','.join(expected)}")
    rows = []
    for rec in reader:
        rows.append(ProfileRow(
            tag=rec["tag"].strip(),
            name=rec["name"].strip(),
            action=rec["action"].strip(),
            dates_option=(rec["dates_option"] or "").strip() or None,
        ))
    return Profile(rows, source)


@cache
def basic_profile() -> Profile:
    """The shipped Basic Profile table (parsed once per process)."""
    text = resources.files(__package__).joinpath("profile_basic.csv").read_text("utf-8")
    return _parse(text, "profile_basic.csv")

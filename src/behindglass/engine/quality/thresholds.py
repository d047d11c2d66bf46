"""Failure thresholds: the largest share of violating rows (in percent) a check tolerates.

Every check carries the default of OHDSI's DataQualityDashboard for its kind (mostly 0,
1 for plausibility, 100 for checks that only inform). A site overrides them with a mapping
from a *check-id prefix* to a percentage, most specific prefix winning::

    [thresholds]
    isRequired = 0
    "standardConceptRecordCompleteness.measurement" = 10
    "plausibleValueLow.person.year_of_birth" = 2

(the ``[thresholds]`` table of a TOML file, or the same mapping as a dict).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from behindglass.core.errors import SpecError
from behindglass.core.study import check_thresholds


class Thresholds:
    """Resolves the threshold of a check id from defaults and overrides."""

    def __init__(self, overrides: Mapping[str, float] | None = None) -> None:
        try:  # the rules a study's thresholds are held to at the hub, too
            clean = check_thresholds(dict(overrides or {}))
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        self.overrides: Mapping[str, float] = MappingProxyType(clean)

    def for_check(self, check_id: str, default: float) -> float:
        """The override with the longest prefix (in whole dotted parts) of ``check_id``,
        else ``default``."""
        parts = check_id.split(".")
        for n in range(len(parts), 0, -1):
            key = ".".join(parts[:n])
            if key in self.overrides:
                return self.overrides[key]
        return default

    def unknown_keys(self, check_names: set[str]) -> list[str]:
        """Override keys whose check name is not one we run (likely typos)."""
        return sorted(k for k in self.overrides if k.split(".")[0] not in check_names)

    @classmethod
    def from_toml(cls, path: str | Path) -> Thresholds:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SpecError(f"{path}: cannot read thresholds file: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{path}: not valid TOML: {exc}") from None
        table = data.get("thresholds")
        if not isinstance(table, dict):
            raise SpecError(f"{path}: expected a [thresholds] table of check-id = percent")
        flat: dict[str, float] = {}
        _flatten(table, "", flat, path)
        return cls(flat)


def _flatten(table: Mapping[str, object], prefix: str, out: dict[str, float], path: Path) -> None:
    # TOML reads the bare key isRequired.person as a nested table; both spellings work.
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(value, full, out, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[full] = float(value)
        else:
            raise SpecError(f"{path}: thresholds.{full} must be a number of percent")

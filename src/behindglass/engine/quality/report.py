"""Results of a data-quality run and their releasable form.

:class:`CheckResult` holds exact counts for use inside the site. :meth:`DqReport.to_dict`
is what may leave it: counts pass through :mod:`~behindglass.engine.quality.disclosure`,
error messages lose any quoted text or number (a failing cast can quote a row's value), and
nothing names a person, a row or a date of an individual.

JSON keys (``to_dict``): ``cdm_version``, ``engine``, ``generated_at``, ``seconds``,
``min_cell``, ``thresholds_overridden``, ``summary`` (``checks``, ``passed``, ``failed``,
``not_applicable``, ``errors``, ``pct_passed``, ``by_category``), ``checks`` (one object per
check: ``check_id``, ``name``, ``level``, ``category``, ``subcategory``, ``context``,
``table``, ``field``, ``concept_id``, ``unit_concept_id``, ``description``, ``status``,
``threshold``, ``num_violated``, ``denominator``, ``pct_violated``, ``note``), and
``profile`` when one was computed.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from behindglass.engine.quality.checks import Check
from behindglass.engine.quality.disclosure import cell, ratio

PASS, FAIL, NOT_APPLICABLE, ERROR = "pass", "fail", "not_applicable", "error"
STATUSES = (PASS, FAIL, NOT_APPLICABLE, ERROR)

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"(?<![A-Za-z_])\d[\d.:-]*")


def scrub(message: str) -> str:
    """An error message without the values it may quote (kept: its first line's words)."""
    first = message.strip().splitlines()[0] if message.strip() else "error"
    first = _QUOTED.sub("…", first)
    return _NUMBER.sub("#", first)[:300]


@dataclass(frozen=True)
class CheckResult:
    check: Check
    status: str
    threshold: float
    num_violated: int | None = None
    denominator: int | None = None
    note: str | None = None  # why not applicable, or what failed

    @property
    def pct_violated(self) -> float | None:
        if self.num_violated is None or not self.denominator:
            return None
        return 100.0 * self.num_violated / self.denominator

    def to_dict(self, min_cell: int) -> dict[str, Any]:
        c = self.check
        return {
            "check_id": c.check_id, "name": c.name, "level": c.level,
            "category": c.category, "subcategory": c.subcategory, "context": c.context,
            "table": c.table, "field": c.field, "concept_id": c.concept_id,
            "unit_concept_id": c.unit_concept_id, "description": c.description,
            "status": self.status, "threshold": self.threshold,
            "num_violated": _shown_numerator(self.num_violated, self.denominator, min_cell),
            "denominator": cell(self.denominator, min_cell),
            "pct_violated": ratio(self.num_violated, self.denominator, min_cell),
            "note": scrub(self.note) if self.status == ERROR and self.note else self.note,
        }


def _shown_numerator(num: int | None, den: int | None, min_cell: int) -> int | str | None:
    if num is not None and 0 < num < min_cell:
        return cell(num, min_cell)
    if num is not None and den is not None and 0 < den - num < min_cell:
        return f"suppressed (<{min_cell} rows not violating)"
    return cell(num, min_cell)


@dataclass
class DqReport:
    results: list[CheckResult]
    engine: str
    cdm_version: str
    generated_at: str
    seconds: float
    thresholds_overridden: list[str] = field(default_factory=list)
    profile: dict[str, Any] | None = None

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == FAIL]

    @property
    def errors(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == ERROR]

    def summary(self) -> dict[str, Any]:
        passed, failed = self.count(PASS), self.count(FAIL)
        by_category: dict[str, dict[str, int]] = {}
        for (cat, status), n in sorted(
                Counter((r.check.category, r.status) for r in self.results).items()):
            by_category.setdefault(cat, dict.fromkeys(STATUSES, 0))[status] = n
        return {
            "checks": len(self.results), "passed": passed, "failed": failed,
            "not_applicable": self.count(NOT_APPLICABLE), "errors": self.count(ERROR),
            "pct_passed": round(100.0 * passed / (passed + failed), 2)
            if passed + failed else None,
            "by_category": by_category,
        }

    def to_dict(self, min_cell: int = 11) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cdm_version": self.cdm_version, "engine": self.engine,
            "generated_at": self.generated_at, "seconds": round(self.seconds, 2),
            "min_cell": min_cell, "thresholds_overridden": self.thresholds_overridden,
            "summary": self.summary(),
            "checks": [r.to_dict(min_cell) for r in self.results],
        }
        if self.profile is not None:
            out["profile"] = self.profile
        return out

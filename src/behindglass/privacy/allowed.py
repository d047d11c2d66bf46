"""Which analyses a site runs, and within which parameter limits (``[analyses]`` of the
policy file), checked before an analysis touches the site's data.

The catalog says what a site *can* run; this says what its steward *lets* it run. A limit
is the steward's word on a parameter, so the check is literal and fails closed:

* ``allowed`` (when set) lists the kinds that may run; any other kind is refused;
* a number limits a numeric parameter (value <= limit) or a list parameter (its length);
* a list is the values allowed (each element, for a list parameter);
* ``false`` forbids the parameter being given at all (even with a harmless value);
* a dotted name limits a field of an object parameter (``"population.washout_days"``);
* a limited parameter the request leaves out is refused: this module cannot see the
  analysis's default (``privacy`` imports only ``core``), and a default outside the
  steward's limit must not slip through by omission.

Refusal reasons are built from the request and the policy only: parameter values are the
researcher's own words, never data from the site.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from behindglass.core.policy import AnalysisRules, SitePolicy
from behindglass.core.study import AnalysisSpec

_SHOWN = 60  # characters of a researcher's value quoted back in a reason
_MISSING = object()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _is_number(value: Any) -> bool:
    # bool is an int in Python; top_n = true is not the number 1
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_number(spec: AnalysisSpec, param: str, value: Any, limit: float) -> str | None:
    where = f"{spec.name}: parameter {param!r} of {spec.kind}"
    if isinstance(value, list | tuple):
        if len(value) > limit:
            return (f"{where} lists {len(value)} values; this site allows at most "
                    f"{limit:g}")
        return None
    if not _is_number(value):
        return f"{where} must be a number of at most {limit:g} at this site, got {_show(value)}"
    if not math.isfinite(value) or value > limit:  # NaN compares false with everything
        return f"{where} is {_show(value)}; this site allows at most {limit:g}"
    return None


def _check_choices(spec: AnalysisSpec, param: str, value: Any,
                   choices: list[Any] | tuple[Any, ...]) -> str | None:
    where = f"{spec.name}: parameter {param!r} of {spec.kind}"
    values = value if isinstance(value, list | tuple) else [value]
    # membership by ==, not hashing: a researcher's element may be a list or an object
    refused = [v for v in values if not any(_same(v, c) for c in choices)]
    if not refused:
        return None
    return (f"{where} uses {_show(refused if isinstance(value, list | tuple) else value)}, "
            f"which this site does not allow; allowed: {_show(list(choices))}")


def _same(value: Any, choice: Any) -> bool:
    if isinstance(value, bool) or isinstance(choice, bool):
        return value is choice  # 1 == True in Python; a limit of [1, 2] must not admit true
    return bool(value == choice)


def _lookup(params: dict[str, Any], param: str) -> Any:
    """A parameter by name; a dotted name reaches into an object parameter
    (``population.washout_days``)."""
    value: Any = params
    for part in param.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def check_allowed(rules: AnalysisRules, spec: AnalysisSpec) -> str | None:
    """Why this site refuses to run ``spec`` under its analysis rules (None: it may run).

    Only the first problem is reported, in a fixed order (kind, then parameters by name),
    so the same request always gets the same reason."""
    if rules.allowed is not None and spec.kind not in rules.allowed:
        allowed = ", ".join(sorted(rules.allowed)) or "none"
        return (f"{spec.name}: analyses of kind {spec.kind!r} are not allowed at this site; "
                f"allowed kinds: {allowed}")
    for param, limit in sorted(rules.limits.get(spec.kind, {}).items()):
        value = _lookup(spec.params, param)
        if limit is False:
            if value is not _MISSING:
                return (f"{spec.name}: parameter {param!r} of {spec.kind} may not be given "
                        "at this site; remove it from the request")
            continue
        if limit is True:
            continue  # rejected when the policy is loaded; sets no limit if built in code
        if value is _MISSING:
            return (f"{spec.name}: this site limits parameter {param!r} of {spec.kind} "
                    f"({_describe_limit(limit)}) and the request leaves it to the "
                    "analysis's default; state it in the request")
        if _is_number(limit):
            reason = _check_number(spec, param, value, limit)
        elif isinstance(limit, list | tuple):
            reason = _check_choices(spec, param, value, limit)
        else:
            reason = (f"{spec.name}: the site's limit on parameter {param!r} of {spec.kind} "
                      "is not a number, a list or false; refused until the policy is fixed")
        if reason:
            return reason
    return None


def _describe_limit(limit: Any) -> str:
    if isinstance(limit, list | tuple):
        return f"one of {_show(list(limit))}"
    return f"at most {limit:g}" if _is_number(limit) else "a limit"


def validate_against_catalog(policy: SitePolicy, kinds: Iterable[str]) -> list[str]:
    """Warnings for kinds the policy names that the site has not installed.

    A misspelt kind in ``analyses.allowed`` silently allows nothing; one in
    ``approvals.review_kinds`` silently skips the review a steward asked for. Either is a
    reason for ``site serve`` to refuse to start. Kinds in ``analyses.limits`` and in
    standing approvals are not checked: a limit on, or an approval of, an analysis the site
    has not installed cannot let anything out."""
    installed = set(kinds)
    warnings: list[str] = []
    for field, named in (("analyses.allowed", policy.analyses.allowed or ()),
                         ("approvals.review_kinds", policy.approvals.review_kinds)):
        for kind in named:
            if kind not in installed:
                warnings.append(f"{field}: {kind!r} is not an installed analysis (misspelt?); "
                                f"installed: {', '.join(sorted(installed))}")
    return warnings

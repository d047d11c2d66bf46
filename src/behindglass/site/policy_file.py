"""The steward's policy file (``policy.toml``): read it, explain what is wrong with it, and
write a commented one to start from.

A policy is the whole of what a site lets leave it, so reading it is strict on purpose:
values are validated in pydantic's strict mode (``min_cell = true`` is an error, not 1;
``secondary_suppression = "no"`` is an error, not ``False``), a misspelt setting is an error
rather than a silently ignored line, and every problem of the file is reported at once,
each with its dotted field path (``disclosure.min_cell``), so a steward fixes the file in one
pass. Nothing here reads the environment: the caller says which file.
"""

from __future__ import annotations

import json
import re
import tomllib
import typing
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from behindglass.core.canonical import digest
from behindglass.core.errors import PolicyError
from behindglass.core.policy import SitePolicy

_TOML_WHERE = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_INPUT_MAX = 60  # characters of an offending policy value quoted back to the steward


def policy_template() -> str:
    """A fully commented policy whose every setting is the default (``behindglass site
    init`` writes it): loading it gives ``SitePolicy()``, so a new site starts safe and
    every rule it may later change is already in front of the steward."""
    return POLICY_TEMPLATE


def policy_digest(policy: SitePolicy) -> str:
    """SHA-256 of the policy's canonical JSON: written to the audit with each release, so
    anyone can tell which rules were in force (the same rules give the same digest however
    the file was laid out or commented)."""
    return digest(policy.model_dump(mode="json"))


def load_policy(path: str | Path) -> SitePolicy:
    """Read and validate a policy file; :class:`PolicyError` naming the file, the field and
    the reason otherwise (every invalid field at once)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such policy file (`behindglass site init` writes a "
                          "commented one with every setting at its default)") from None
    except IsADirectoryError:
        raise PolicyError(f"{path}: is a directory, not a policy file") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: not UTF-8 text; a policy file is TOML") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"
                          ) from None
    return parse_policy(text, where=str(path))


def parse_policy(text: str, where: str = "policy") -> SitePolicy:
    """Validate policy TOML ``text``; ``where`` names it in errors (usually the file)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_WHERE.match(str(exc))
        if match:
            raise PolicyError(f"{where}: line {match['line']}, column {match['col']}: "
                              f"TOML syntax error: {match['msg']}") from None
        raise PolicyError(f"{where}: TOML syntax error: {exc}") from None
    return policy_from_dict(data, where=where)


def policy_from_dict(data: dict[str, Any], where: str = "policy") -> SitePolicy:
    """Validate an already parsed policy (strict types, as from TOML)."""
    clean, dated = _without_dates(data, ())
    problems = [f"{dotted(loc)}: a TOML date or time is not a valid value here (a label "
                "such as a revision date must be quoted text)" for loc in dated]
    try:
        # strict JSON mode: types must match exactly (no "yes" -> True, no true -> 1),
        # while TOML arrays still fill tuple fields and integers fill float ones
        policy = SitePolicy.model_validate_json(json.dumps(clean), strict=True)
    except ValidationError as exc:
        problems += [_describe(err) for err in exc.errors(include_url=False)
                     if tuple(err.get("loc", ())) not in dated]
    if problems:
        head = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise PolicyError(f"{where}: {head} in the policy:\n"
                          + "\n".join(f"  - {p}" for p in problems)) from None
    return policy


def _without_dates(value: Any, loc: tuple[int | str, ...]
                   ) -> tuple[Any, list[tuple[int | str, ...]]]:
    """``value`` with TOML dates and times (which have no JSON form) replaced by null, and
    where they were, so each is reported as such rather than as a puzzling type error."""
    if isinstance(value, datetime | date | time):
        return None, [loc]
    found: list[tuple[int | str, ...]] = []
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out[key], more = _without_dates(item, (*loc, key))
            found += more
        return out, found
    if isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            clean, more = _without_dates(item, (*loc, i))
            items.append(clean)
            found += more
        return items, found
    return value, found


def dotted(loc: Sequence[int | str]) -> str:
    """``("approvals", "standing", 0, "name")`` -> ``approvals.standing[0].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(err: Any) -> str:
    loc = tuple(err.get("loc", ()))
    field = dotted(loc)
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        known = _fields_at(loc[:-1])
        hint = f"; settings here: {', '.join(known)}" if known else ""
        return f"{field}: unknown setting (misspelt?){hint}"
    if kind == "missing":
        return f"{field}: required here"
    if kind in ("model_type", "dict_type"):
        return f"{field}: must be a table (a [section] or {{ key = value }}), got " \
               f"{_shown(err.get('input'))}"
    msg = str(err.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "value_error" or "input" not in err:
        return f"{field}: {msg}"
    return f"{field}: {msg} (got {_shown(err['input'])})"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _INPUT_MAX else text[:_INPUT_MAX - 3] + "..."


def _fields_at(loc: Sequence[int | str]) -> list[str]:
    """The settings of the policy section at ``loc`` (empty where it is not a section),
    so an unknown-setting error can list the right spellings."""
    model: type[BaseModel] | None = SitePolicy
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue  # an element of a list of sections: same model
        info = model.model_fields.get(part)
        model = _model_in(info.annotation) if info is not None else None
    return sorted(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


# The template is plain text rather than generated from the model so its comments can speak
# to a steward; tests pin that it loads to SitePolicy() and names every field of the model.
POLICY_TEMPLATE = """\
# behindglass site policy (docs/policy.md explains every rule)
#
# This file is the whole of what this site lets leave it. Every result, whatever analysis
# produced it, passes these rules here, at the site, before anything is sent to the hub.
# The site agent reads the file when it starts; restart it after a change. The digest of
# the rules in force is written to the audit log with every release.
#
# Every setting below is at its default: delete a line and the default applies. A misspelt
# setting or a value of the wrong type stops the site agent with a message naming it;
# nothing is ever silently ignored.

# The format of this file; this behindglass reads version 1.
version = 1

# Your own label for this revision, written to the audit log next to the digest
# (for example "2026-11, approved by the data access committee").
revision = "default"


[disclosure]
# The smallest number of persons this site ever shows. A count of persons below it is
# released as "suppressed", never as a number. 11 is a common rule (CMS, many registries).
min_cell = 11

# When a small count is hidden in a table whose cells add up to a total that is shown
# (persons by sex adding up to the cohort size), hide further cells as well, so the hidden
# count cannot be worked out by subtraction. Keep this on.
secondary_suppression = true

# A regression model is refused when its parameters per person at this site exceed this
# share: a model nearly as large as the data can describe individuals. 0.33 is DataSHIELD's
# default.
max_param_ratio = 0.33

# 0: counts of persons are released as counted. A base such as 5 or 10: every released
# count of persons is rounded to the nearest multiple of it, never below min_cell. This
# blurs small differences between releases. Model statistics are not rounded (the model
# analyses protect them with their own rules).
rounding = 0

# Means and SDs come from released sums (n, sum, sum of squares). When one person's value
# is so far from the rest that it holds more than this share of the sum of squared
# deviations (two persons: more than halfway from this share to 1), it could be solved
# for, so those sums are withheld (the counts per bin still go). 0.8 leaves ordinary data
# alone; lower is stricter; 1.0 is off.
max_dominance = 0.8


[analyses]
# Which analyses of this site's catalog may run here. Left out: every installed analysis.
# A kind listed here that is not installed stops the site agent (a misspelling would
# otherwise go unnoticed).
# allowed = ["cohort_count", "characterize", "incidence", "data_quality"]

# Limits on the parameters of a request, per analysis kind:
#   a number  the largest value allowed (for a list parameter: the longest list)
#   a list    the only values allowed (for a list parameter: each element must be one)
#   false     the parameter may not be given at all
# A request must state every limited parameter itself: the site does not assume that an
# analysis's default value is within your limit.
[analyses.limits]
# [analyses.limits.characterize]
# top_n = 50
# by = ["sex", "age_band"]
# [analyses.limits.glm]
# covariates = 20


[differencing]
# Remember what was released, and refuse a result that, taken with an earlier one to the
# same researcher or study, would single out fewer than k persons (a differencing attack).
enabled = true

# k: the smallest group the defence protects. Left out: the same as min_cell.
# k = 11

# A researcher whose requests are refused this many times for differencing within the
# window is locked out ...
lockout_after = 3
# ... and so is one who sends this many near-identical requests (the same persons).
max_repeats = 10
# How far back (hours) releases and refusals are counted.
window_hours = 24.0
# How long a lockout lasts (hours); a steward may lift it sooner.
lockout_hours = 24.0


[privacy]
# Differential privacy: calibrated random noise on released counts, sums, means and
# histograms, with a budget. Off by default; the rules above apply either way.
enabled = false
# "laplace", or "gaussian" (which needs delta above 0).
mechanism = "laplace"
# Privacy spent by one release: smaller is more private and noisier.
epsilon = 1.0
# Chance the guarantee fails, per release (gaussian only); keep it far below 1 / persons.
delta = 0.0
# Total epsilon one researcher, and one study, may spend at this site; then refused.
budget_per_researcher = 10.0
budget_per_study = 5.0


[approvals]
# Every study waits for a steward's approval. false: every allowed study runs at once
# (development networks only).
required = true
# Researchers whose studies are approved automatically.
trusted_researchers = []
# Study digests (sha256 of the study specification) approved in advance.
trusted_studies = []
# Analysis kinds whose output is held until stewards have looked at it ...
review_kinds = []
# ... and how many different stewards must pass it.
reviewers = 2

# Standing approvals: rules that approve a study when every analysis in it is of one of
# the kinds listed, from one of the researchers listed (none listed: any researcher), while
# min_cell is at least min_cell_at_least. Repeat the block for each rule.
# [[approvals.standing]]
# name = "characterization by the diabetes team"
# kinds = ["cohort_count", "characterize"]
# researchers = ["a.okafor", "m.lindqvist"]
# min_cell_at_least = 11
"""

"""Optional validation of every resource read against the FHIR R4B models of
``fhir.resources`` (``ingest_fhir(..., validate=True)``, CLI ``--validate``).

Off by default: it parses every resource into a full model in Python, which costs far more
than the flattening itself (docs/ingest-fhir.md gives the measured cost). An invalid
resource is reported as (file, line, reason) under the same error budget as any bad line
and is then left out of the load: its line is blanked in a private copy of the file, so
every other line keeps its number. The reason names the first failing element path and the
kind of failure, never the value (nor the resource id: ids of patients and encounters are
identifiers, and the line already says which resource it is).
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

from behindglass.core.errors import LoadError
from behindglass.ingest.report import Problem

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _model(kind: str) -> Any:
    try:
        module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    except ImportError as exc:
        raise LoadError("validation needs the fhir.resources package (pip install "
                        "'fhir.resources>=8')") from exc
    return getattr(module, kind)


def reason(exc: Exception) -> str:
    """The first error of a pydantic ValidationError as element path and error type."""
    errors = getattr(exc, "errors", None)
    first = errors()[0] if callable(errors) and errors() else {}
    # element names only: a key of the input could in principle carry a value
    loc = ".".join(str(p) if isinstance(p, int) or _NAME.match(str(p)) else "*"
                   for p in first.get("loc", ()))
    kind = first.get("type", "invalid")
    more = len(errors()) - 1 if callable(errors) else 0
    extra = f" and {more} more" if more > 0 else ""
    return f"not valid FHIR R4B ({loc or 'resource'}: {kind}{extra})"


def validate(found: dict[str, list[Path]], work: Path
             ) -> tuple[dict[str, list[Path]], list[Problem]]:
    """Validate every line of the NDJSON files ``found``; the files to flatten instead
    (copies in ``work`` with the invalid lines blanked, where there were any) and the
    problems. Lines that are not JSON objects of the file's type are left to the
    flattening, which reports them."""
    problems: list[Problem] = []
    out: dict[str, list[Path]] = {}
    for kind, paths in found.items():
        model = _model(kind)
        for path in paths:
            bad: set[int] = set()
            with path.open("r", encoding="utf-8", errors="replace", newline="\n") as src:
                for number, line in enumerate(src, start=1):
                    if not line.strip():
                        continue
                    try:
                        resource = json.loads(line)
                    except (ValueError, RecursionError):
                        continue
                    if not isinstance(resource, dict) or resource.get("resourceType") != kind:
                        continue
                    try:
                        model.model_validate(resource)
                    except (ValueError, TypeError) as exc:  # ValidationError is a ValueError
                        problems.append(Problem(path.name, number, reason(exc)))
                        bad.add(number)
            out.setdefault(kind, []).append(_without(path, bad, work) if bad else path)
    return out, problems


def _without(path: Path, bad: set[int], work: Path) -> Path:
    work.mkdir(exist_ok=True)
    copy = work / path.name
    with path.open("rb") as src, copy.open("wb") as dst:
        for number, line in enumerate(src, start=1):
            dst.write(b"\n" if number in bad else line)
    return copy

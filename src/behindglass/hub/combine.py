"""The hub half of every analysis: validate a study on arrival, combine what sites released.

The hub never sees rows; it calls each analysis's ``validate`` on the request parameters
and ``combine`` on released :class:`~behindglass.core.aggregates.SiteAggregate` s. The
catalog is passed in (default: the installed one), so the hub can be tested with stand-in
analyses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from behindglass.analyses.combining import combine_released
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.errors import SignatureError, SpecError
from behindglass.core.messages import Release
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.governance.identity import Roster
from behindglass.hub.rounds import Fit

SEALED_NOTE = "sealed: combined by the researcher"



class HubAnalysis(Protocol):
    """The two methods the hub needs of a catalog entry."""

    def validate(self, spec: AnalysisSpec) -> None: ...

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]: ...


Catalog = Callable[[str], HubAnalysis]


def installed_catalog() -> Catalog:
    from behindglass.analyses.catalog import get_analysis

    return get_analysis


def validate_study(spec: StudySpec, catalog: Catalog) -> None:
    """Raise SpecError naming the first analysis the catalog does not accept."""
    for i, analysis in enumerate(spec.analyses):
        try:
            catalog(analysis.kind).validate(analysis)
        except SpecError as exc:
            raise SpecError(f"analyses[{i}] ({analysis.name}): {exc}") from None


def check_sealing(spec: StudySpec, iterative: Collection[str], roster: Roster | None,
                  researcher: str) -> None:
    """Raise SpecError unless ``spec``, if it asks for sealed results, can have them: no
    iterative analysis (the hub fits those from each round's statistics, so it must read
    them), and a roster giving the researcher an encryption key for sites to seal to."""
    if not spec.seal_results:
        return
    if iterative:
        raise SpecError(f"seal_results: {sorted(iterative)} are iterative analyses: the hub "
                        "must read each round's statistics to fit them, so their results "
                        "cannot be sealed; run them in a study without seal_results")
    if roster is None:
        raise SpecError("seal_results: this hub runs without a roster (development mode), "
                        "so there is no researcher encryption key for sites to seal to")
    try:
        roster.member(researcher, "researcher").encryption_public()
    except SignatureError as exc:
        raise SpecError(f"seal_results: {exc}") from None


def combine_sealed(spec: StudySpec) -> dict[str, dict[str, Any]]:
    """What the hub says of a sealed study: it holds only ciphertext, so it combines
    nothing; the researcher's SDK opens the releases and combines them."""
    return {a.name: {"kind": a.kind, "analysis": a.name, "status": "sealed",
                     "detail": SEALED_NOTE} for a in spec.analyses}


def combine_study(spec: StudySpec, releases: list[Release], catalog: Catalog,
                  fits: Mapping[str, Fit] | None = None) -> dict[str, dict[str, Any]]:
    """Combined result per analysis name, over the aggregates released so far.

    An analysis no site has released yet is left out; one whose combine fails carries an
    ``error`` instead of tables, so one broken analysis does not hide the others. An
    iterative analysis (``fits``) is combined from its final round once it is finished;
    until then it reports the round it is in.
    """
    if spec.seal_results and any(r.sealed is not None for r in releases):
        return combine_sealed(spec)
    fits = fits or {}
    combined: dict[str, dict[str, Any]] = {}
    for analysis in spec.analyses:
        fit = fits.get(analysis.name)
        head = {"kind": analysis.kind, "analysis": analysis.name}
        if fit is not None and fit.error:
            combined[analysis.name] = {**head, "error": fit.error}
            continue
        if fit is not None and not fit.done:
            combined[analysis.name] = {**head, "status": "fitting", "round": fit.round}
            continue
        result = combine_released(analysis, releases, catalog,
                                  round_=fit.round if fit is not None else 0,
                                  state=fit.state if fit is not None else None)
        if result is not None:
            combined[analysis.name] = result
    return combined

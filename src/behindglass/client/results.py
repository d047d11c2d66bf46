"""Result objects a researcher reads: one per study, one per analysis.

Suppressed cells stay suppressed all the way to the researcher's screen: in data frames
they are ``pd.NA`` with ``suppressed=True``, in text they read ``suppressed``; a pooled
number that omits a suppressed or unreported site is flagged ``complete=False``.

A study with sealed results (``seal_results``) reaches the researcher as ciphertext:
:func:`open_results` opens each release with the researcher's encryption key and combines
them here, with the installed catalog, into the same shape the hub gives an unsealed study.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from behindglass.analyses.combining import combine_released
from behindglass.core.errors import SignatureError
from behindglass.core.messages import Release, StudyResults, open_release
from behindglass.core.sealing import EncryptionKey

SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class SiteRefusal:
    site: str
    analysis: str
    reason: str


class AnalysisResult:
    """The combined result of one analysis request (``result["Characterize"]``)."""

    def __init__(self, name: str, combined: dict[str, Any] | None,
                 refusals: list[SiteRefusal]) -> None:
        self.name = name
        self.combined = combined or {"analysis": name, "tables": {}, "sites": []}
        self.refusals = refusals

    @property
    def kind(self) -> str | None:
        return self.combined.get("kind")

    @property
    def error(self) -> str | None:
        """Set when the hub could not combine this analysis."""
        return self.combined.get("error")

    @property
    def sites(self) -> list[str]:
        """Sites that released this analysis."""
        return list(self.combined.get("sites", []))

    @property
    def tables(self) -> tuple[str, ...]:
        """Names of the result's tables, in release order."""
        return tuple(self.combined.get("tables", {}))

    def table(self, name: str) -> dict[str, Any]:
        tables = self.combined.get("tables", {})
        if name not in tables:
            raise KeyError(f"{self.name} has no table {name!r}; tables: {list(tables)}")
        return tables[name]

    def to_pandas(self, level: Literal["pooled", "site"] = "pooled",
                  table: str | None = None) -> pd.DataFrame:
        """One table as a data frame.

        ``level="pooled"``: one row per cell: the dimension columns, ``label`` (for concept
        tables), ``count`` (pooled), ``complete`` and ``suppressed`` (True if any site
        suppressed the cell). ``level="site"``: one row per site and cell, with ``count``
        NA and ``suppressed`` True where the site suppressed it, ``reported`` False where
        the site did not report the cell at all.
        """
        if table is None:
            if len(self.tables) != 1:
                raise ValueError(f"{self.name} has several tables; pass table= one of "
                                 f"{list(self.tables)}")
            table = self.tables[0]
        if level not in ("pooled", "site"):
            raise ValueError(f"level must be 'pooled' or 'site', got {level!r}")
        data = self.table(table)
        dims: list[str] = list(data.get("dims", []))
        labels: dict[str, str] = data.get("labels", {})
        records = []
        for row in data.get("rows", []):
            base: dict[str, Any] = dict(zip(dims, row["key"], strict=True))
            if labels:
                base["label"] = labels.get(row["key"][0]) if row["key"] else None
            if level == "pooled":
                values = row["sites"].values()
                any_suppressed = any(v == SUPPRESSED for v in values)
                all_hidden = not any(isinstance(v, int) for v in values)
                records.append({**base, "count": pd.NA if all_hidden else row["pooled"],
                                "complete": bool(row["complete"]),
                                "suppressed": any_suppressed})
            else:
                for site, value in row["sites"].items():
                    records.append({"site": site, **base,
                                    "count": value if isinstance(value, int) else pd.NA,
                                    "suppressed": value == SUPPRESSED,
                                    "reported": value is not None})
        columns = (["site"] if level == "site" else []) + dims + (["label"] if labels else [])
        columns += ["count", "complete", "suppressed"] if level == "pooled" else [
            "count", "suppressed", "reported"]
        frame = pd.DataFrame.from_records(records, columns=columns)
        frame["count"] = frame["count"].astype("Int64")
        return frame

    def summary(self) -> str:
        """Printable text: every table with its pooled and per-site counts."""
        from behindglass.client.render import render_analysis

        return render_analysis(self)

    def __repr__(self) -> str:
        return f"<AnalysisResult {self.name}: tables {list(self.tables)}, sites {self.sites}>"


class StudyResult:
    """Everything the hub holds for a study: releases, refusals and combined results.

    ``raw`` is what the researcher reads (for a sealed study: opened and combined here);
    ``received`` is what the hub sent, whose bytes the sites' signatures cover.
    """

    def __init__(self, results: StudyResults, *, received: StudyResults | None = None
                 ) -> None:
        self.raw = results
        self.received = results if received is None else received

    @property
    def sealed(self) -> bool:
        """Whether the sites sealed this study's results to the researcher."""
        return self.raw.study.seal_results

    @property
    def study_id(self) -> str:
        return self.raw.study_id

    @property
    def title(self) -> str:
        return self.raw.title

    @property
    def complete(self) -> bool:
        return self.raw.state == "complete"

    @property
    def names(self) -> tuple[str, ...]:
        """Analysis names in the study, in the order they were added."""
        return tuple(a.name for a in self.raw.study.analyses)

    @property
    def refusals(self) -> list[SiteRefusal]:
        """Every analysis a site refused, and every site whose task failed, with reasons."""
        out: list[SiteRefusal] = []
        for release in self.raw.releases:
            out += [SiteRefusal(release.site, r.analysis, r.reason) for r in release.refusals]
            if release.error:
                out += [SiteRefusal(release.site, name, release.error) for name in self.names]
        return out

    def __getitem__(self, name: str) -> AnalysisResult:
        if name not in self.names:
            raise KeyError(f"study {self.study_id} has no analysis {name!r}; "
                           f"analyses: {list(self.names)}")
        return AnalysisResult(name, self.raw.combined.get(name),
                              [r for r in self.refusals if r.analysis == name])

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.names)

    def to_dict(self) -> dict[str, Any]:
        """The hub's StudyResults as JSON-able data."""
        return self.raw.model_dump(mode="json")

    def summary(self) -> str:
        from behindglass.client.render import render_study

        return render_study(self)

    def __repr__(self) -> str:
        state = "complete" if self.complete else "partial"
        return f"<StudyResult {self.study_id} ({state}): {list(self.names)}>"


def open_results(received: StudyResults, key: EncryptionKey | None,
                 catalog: Callable[[str], Any] | None = None) -> StudyResult:
    """Open every sealed release of ``received`` with the researcher's ``key`` and combine
    them with ``catalog`` (default: the installed one), as the hub combines an unsealed
    study. Check the sites' signatures on ``received`` first: sealing hides, it does not
    prove who wrote. Raises :class:`SignatureError` without a key, or if a release does not
    open (sealed to another key, altered, moved from another task or site)."""
    if not received.study.seal_results:
        return StudyResult(received)
    if key is None:
        raise SignatureError(f"study {received.study_id} has sealed results: they are "
                             "encrypted to your encryption key; connect with encryption_key="
                             "EncryptionKey.load('researchers/NAME/keys/encryption.key')")
    opened = []
    for release in received.releases:
        # refusals alone travel in clear (nothing to hide; the hub shows them): results never
        if release.sealed is None and release.aggregates:
            raise SignatureError(f"the release of site {release.site!r} (task "
                                 f"{release.task_id}) is not sealed, but its study seals "
                                 "results: refusing results the hub could have written")
        opened.append(open_release(release, key))
    if catalog is None:
        from behindglass.analyses.catalog import get_analysis

        catalog = get_analysis
    combined = combine_releases(received.study.analyses, opened, catalog)
    raw = received.model_copy(update={"releases": tuple(opened), "combined": combined})
    return StudyResult(raw, received=received)


def combine_releases(analyses: Any, releases: list[Release],
                     catalog: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
    """Each analysis combined over the released aggregates, exactly as the hub combines a
    study without iterative analyses."""
    combined: dict[str, dict[str, Any]] = {}
    for analysis in analyses:
        result = combine_released(analysis, releases, catalog)
        if result is not None:
            combined[analysis.name] = result
    return combined


__all__ = ["AnalysisResult", "SiteRefusal", "StudyResult", "open_results"]

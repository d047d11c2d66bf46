"""What an analysis may ask of a site's store, and what it is given to run at a site.

Analyses import only ``core``; the site's engine implements :class:`SiteData` with queries
on its own store. Every method returns counts or sums over persons, never rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from behindglass.core.cohort import Cohort
from behindglass.core.errors import SpecError
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.population import PopulationSettings

if TYPE_CHECKING:
    import pandas as pd

Dimension = Literal["sex", "age_band", "race", "ethnicity", "index_year"]
ConceptDomain = Literal["condition", "drug", "procedure", "measurement"]
Anchor = Literal["start", "end"]
# time at risk: (start offset, start anchor, end offset, end anchor), days from the
# cohort entry's start or end date, both ends inclusive
Tar = tuple[int, Anchor, int, Anchor]
# a per-person column of :meth:`SiteData.person_frame`
PersonColumnKind = Literal["age", "prior_observation_days", "post_observation_days",
                           "measurement", "sex", "age_band", "race", "ethnicity",
                           "index_year", "member_of"]


@dataclass(frozen=True)
class PersonColumn:
    """One column of :meth:`SiteData.person_frame`: ``kind`` says what; ``measurement``
    uses ``concept_ids`` (with ``descendants``) in ``window`` (days from index, both ends
    included); ``member_of`` uses ``cohort``."""

    kind: PersonColumnKind
    concept_ids: tuple[int, ...] = ()
    descendants: bool = True
    window: tuple[int, int] = (0, 0)
    cohort: Cohort | None = None


class BinaryLike(Protocol):
    """Persons with one binary covariate (FeatureExtraction style)."""

    @property
    def covariate_id(self) -> int: ...
    @property
    def covariate_name(self) -> str: ...
    @property
    def analysis_id(self) -> int: ...
    @property
    def analysis_name(self) -> str: ...
    @property
    def persons(self) -> int: ...


class ContinuousLike(Protocol):
    """n, sum and sum of squares (and extremes, kept at the site) of a continuous one."""

    @property
    def covariate_id(self) -> int: ...
    @property
    def covariate_name(self) -> str: ...
    @property
    def analysis_name(self) -> str: ...
    @property
    def n(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def total_sq(self) -> int: ...
    @property
    def minimum(self) -> int | None: ...
    @property
    def maximum(self) -> int | None: ...


class CovariatesLike(Protocol):
    @property
    def persons(self) -> int: ...
    @property
    def binary(self) -> Sequence[BinaryLike]: ...
    @property
    def continuous(self) -> Sequence[ContinuousLike]: ...


class IncidenceRowLike(Protocol):
    """One target x outcome x time at risk x stratum value of an incidence computation."""

    @property
    def target_id(self) -> int: ...
    @property
    def outcome_id(self) -> int: ...
    @property
    def tar(self) -> str: ...
    @property
    def stratum(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def persons_at_risk(self) -> int: ...
    @property
    def persons_with_outcome(self) -> int: ...
    @property
    def outcomes(self) -> int: ...
    @property
    def person_days(self) -> int: ...


class DqCheckLike(Protocol):
    @property
    def check_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def subcategory(self) -> str: ...
    @property
    def context(self) -> str: ...
    @property
    def table(self) -> str: ...


class DqResultLike(Protocol):
    @property
    def check(self) -> DqCheckLike: ...
    @property
    def status(self) -> str: ...  # "pass", "fail", "not_applicable", "error"
    @property
    def threshold(self) -> float: ...
    @property
    def num_violated(self) -> int | None: ...
    @property
    def denominator(self) -> int | None: ...


class DqReportLike(Protocol):
    @property
    def results(self) -> Sequence[DqResultLike]: ...
    @property
    def engine(self) -> str: ...
    @property
    def cdm_version(self) -> str: ...


class SiteData(Protocol):
    def count_persons(self, cohort: Cohort) -> int:
        """Number of distinct persons in the cohort."""
        ...

    def count_by(self, cohort: Cohort, dimension: Dimension) -> list[tuple[str, int]]:
        """Persons in the cohort per value of a person-level dimension at index."""
        ...

    def top_concepts(
        self, cohort: Cohort, domain: ConceptDomain, limit: int, window_days: int | None
    ) -> list[tuple[int, str, int]]:
        """(concept_id, concept_name, persons) for the most prevalent standard concepts of a
        domain among cohort members, recorded from ``window_days`` before index (None: any
        time) up to index. Largest first; ties by concept id."""
        ...

    def covariates(self, cohort: Cohort, *, windows: Sequence[tuple[int | None, int]],
                   domains: Sequence[str], count_domains: Sequence[str],
                   demographics: bool) -> CovariatesLike:
        """FeatureExtraction-style covariates of the cohort's persons at their first entry:
        binary ones per concept domain table and window, counts per domain, and (when
        ``demographics``) sex, age group, race, ethnicity, index year, age and observation
        time. Windows are (start day or None for any time, end day) around the index."""
        ...

    def incidence(self, target: Cohort, outcomes: Sequence[Cohort], *, tars: Sequence[Tar],
                  washout_days: int | None, age_width: int) -> Sequence[IncidenceRowLike]:
        """CohortIncidence-style counts and person-days of each outcome in the target's time
        at risk, overall and by sex, age group (``age_width`` years) and start year. The
        target is id 1; outcome ``i`` of ``outcomes`` is id ``i + 1``."""
        ...

    def population(self, target: Cohort, comparator: Cohort | None, outcome: Cohort,
                   settings: PopulationSettings) -> pd.DataFrame:
        """The per-person analysis frame of a comparative study (CohortMethod's study
        population), one row per person, no person id and no dates: ``treatment`` (1 target,
        0 comparator; all 1 without a comparator), ``time_at_risk``, ``outcome_count``,
        ``event``, ``survival_time``, then ``age``, ``male``, ``index_year`` when
        ``settings.demographics``, then one 0/1 column per covariate; all int64. The rules
        are those of :mod:`behindglass.core.population`. The frame never leaves the site:
        analyses release aggregates of it only."""
        ...

    def person_frame(self, cohort: Cohort, columns: Mapping[str, PersonColumn]
                     ) -> pd.DataFrame:
        """One row per person of the cohort at their first entry (index), one column per
        entry of ``columns``, no person id and no dates; a person without a value has a
        missing one (NaN or None). Numbers are floats; labels (sex, age band, race,
        ethnicity, index year, membership ``yes``/``no``) are strings. The rules of each
        kind are in :mod:`behindglass.engine.descriptive`. Like :meth:`population`, the
        frame never leaves the site."""
        ...

    def data_quality(self, thresholds: Mapping[str, float] | None = None) -> DqReportLike:
        """The DataQualityDashboard-style checks of the store, with threshold overrides by
        check-id prefix."""
        ...


@dataclass(frozen=True)
class SiteContext:
    """What the site half of an analysis is given: the store, the study's cohorts and the
    site's disclosure policy (analyses whose outputs are linked apply it themselves).

    Iterative analyses (a model fitted over several rounds) also get ``state``, what the hub
    sent for this round (for example the current coefficients), and ``cache``, a dict the
    site keeps for this analysis of this study from one round to the next (so the analysis
    data set is built once); it never leaves the site.
    """

    data: SiteData
    cohorts: Mapping[str, Cohort]
    policy: DisclosurePolicy
    state: Mapping[str, Any] | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    def cohort(self, name: str) -> Cohort:
        try:
            return self.cohorts[name]
        except KeyError:
            raise SpecError(f"the study defines no cohort {name!r}; defined: "
                            f"{sorted(self.cohorts)}") from None

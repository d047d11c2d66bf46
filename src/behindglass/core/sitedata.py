"""What an analysis may ask of a site's store.

Analyses import only ``core``; the site's engine implements this protocol with queries on
its own store. Every method returns counts of persons, never rows.
"""

from __future__ import annotations

from typing import Literal, Protocol

from behindglass.core.cohort import Cohort

Dimension = Literal["sex", "age_band", "race", "ethnicity", "index_year"]
ConceptDomain = Literal["condition", "drug", "procedure", "measurement"]


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

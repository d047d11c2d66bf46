"""The site's own small tables: locations, care sites, providers and CDM_SOURCE.

They are drawn once per data set from a random stream of their own, so they do not
depend on how persons are chunked. ``SiteContext`` hands the block simulation the pools it
assigns visits to (general practitioners, cardiologists, ... and care sites by kind).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import pick
from behindglass.synth.writer import Categorical, Columns

SPECIALTIES: dict[int, str] = {
    c.GENERAL_PRACTICE: "General Practice", c.FAMILY_PRACTICE: "Family Practice",
    c.INTERNAL_MEDICINE: "Internal Medicine", c.CARDIOLOGY: "Cardiology",
    c.GASTROENTEROLOGY: "Gastroenterology", c.NEUROLOGY: "Neurology",
}
_PRIMARY = (c.GENERAL_PRACTICE, c.FAMILY_PRACTICE, c.INTERNAL_MEDICINE)
_SPECIALIST = (c.CARDIOLOGY, c.GASTROENTEROLOGY, c.NEUROLOGY)


def profile_key(profile: Profile) -> int:
    """A stable integer for seeding streams per profile (``hash()`` is salted per run)."""
    return zlib.crc32(profile.name.encode("utf-8"))


@dataclass
class SiteContext:
    """Ids of the site's locations, care sites and providers, grouped for assignment."""

    region_location: np.ndarray  # location_id per profile region
    care_sites: dict[str, np.ndarray]  # kind -> care_site_ids
    providers: dict[str, np.ndarray]  # pool -> provider_ids
    tables: dict[str, Columns] = field(default_factory=dict)

    def pool(self, name: str) -> np.ndarray:
        chosen = self.providers.get(name)
        return chosen if chosen is not None and len(chosen) else self.providers["primary"]

    def sites(self, *kinds: str) -> np.ndarray:
        found = [self.care_sites[k] for k in kinds if k in self.care_sites]
        merged = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
        return merged if len(merged) else np.concatenate(list(self.care_sites.values()))


def build_site(profile: Profile, persons: int, seed: int) -> SiteContext:
    """Draw the site tables for a data set of ``persons`` persons."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, profile_key(profile), 1 << 30]))
    regions = profile.demographics.regions
    n_loc = len(regions)
    location: Columns = {
        "location_id": np.arange(1, n_loc + 1),
        "city": Categorical(np.arange(n_loc), [r.city for r in regions]),
        "state": Categorical(np.arange(n_loc), [r.state for r in regions]),
        "zip": Categorical(np.array([-1 if r.zip3 is None else i for i, r in enumerate(regions)]),
                           [r.zip3 or "" for r in regions]),
        "location_source_value": Categorical(
            np.arange(n_loc), [r.source_value or f"{r.city}, {r.state}" for r in regions]),
        "country_source_value": Categorical(np.zeros(n_loc, dtype=np.int64), [profile.country]),
    }

    n_cs = len(profile.care_sites)
    care_site: Columns = {
        "care_site_id": np.arange(1, n_cs + 1),
        "care_site_name": Categorical(np.arange(n_cs), [s.name for s in profile.care_sites]),
        "place_of_service_concept_id": np.array([s.place_of_service for s in profile.care_sites]),
        "location_id": np.ones(n_cs, dtype=np.int64),
        "care_site_source_value": Categorical(np.arange(n_cs),
                                              [f"CS{i + 1:02d}" for i in range(n_cs)]),
        "place_of_service_source_value": Categorical(np.arange(n_cs),
                                                     [s.kind for s in profile.care_sites]),
    }
    kinds: dict[str, list[int]] = {}
    for i, s in enumerate(profile.care_sites):
        kinds.setdefault(s.kind, []).append(i + 1)

    care = profile.care
    n_prov = max(12, round(persons * care.providers_per_1000 / 1000))
    specialist = rng.random(n_prov) < care.specialist_share
    specialist[:3] = [False, True, True]  # every site has primary care and some specialists
    which = pick(rng, np.ones(3), n_prov)
    specialty = np.where(specialist, np.array(_SPECIALIST)[which], np.array(_PRIMARY)[which])
    provider_ids = np.arange(1, n_prov + 1)
    hospital = np.array(kinds.get("hospital", [1]))
    community = np.array(kinds.get("office", []) + kinds.get("clinic", []) or [1])
    site_of = np.where(specialist, hospital[rng.integers(0, len(hospital), n_prov)],
                       community[rng.integers(0, len(community), n_prov)])
    female = rng.random(n_prov) < 0.5
    names = list(SPECIALTIES)
    provider: Columns = {
        "provider_id": provider_ids,
        "provider_name": Categorical(np.arange(n_prov),
                                     [f"Provider {i:05d}" for i in provider_ids]),
        "specialty_concept_id": specialty,
        "care_site_id": site_of,
        "year_of_birth": rng.integers(1950, 1995, n_prov),
        "gender_concept_id": np.where(female, c.FEMALE, c.MALE),
        "provider_source_value": Categorical(np.arange(n_prov),
                                             [f"P{i:06d}" for i in provider_ids]),
        "specialty_source_value": Categorical(np.searchsorted(np.array(sorted(names)), specialty),
                                              [SPECIALTIES[k] for k in sorted(names)]),
        "gender_source_value": Categorical(female.astype(np.int64), ["M", "F"]),
    }
    pools = {"primary": provider_ids[~specialist], "all": provider_ids}
    for key, concept in (("cardiology", c.CARDIOLOGY), ("neurology", c.NEUROLOGY),
                         ("gastroenterology", c.GASTROENTEROLOGY)):
        pools[key] = provider_ids[specialty == concept]
    pools["hospital"] = provider_ids[specialist | (specialty == c.INTERNAL_MEDICINE)]

    cdm_source: Columns = {
        "cdm_source_name": Categorical(np.zeros(1, dtype=np.int64),
                                       [f"behindglass synthetic site: {profile.name}"]),
        "cdm_source_abbreviation": Categorical(np.zeros(1, dtype=np.int64), [profile.name[:25]]),
        "cdm_holder": Categorical(np.zeros(1, dtype=np.int64), [profile.holder]),
        "source_description": Categorical(np.zeros(1, dtype=np.int64), [profile.description]),
        "cdm_etl_reference": Categorical(np.zeros(1, dtype=np.int64), ["behindglass.synth"]),
        "source_release_date": [profile.extract_date],
        "cdm_release_date": [profile.extract_date],
        "cdm_version": Categorical(np.zeros(1, dtype=np.int64), ["5.4"]),
        "cdm_version_concept_id": np.array([c.CDM_V54]),
        "vocabulary_version": Categorical(np.zeros(1, dtype=np.int64), ["behindglass subset"]),
    }
    tables = {"location": location, "care_site": care_site, "provider": provider,
              "cdm_source": cdm_source}
    return SiteContext(np.arange(1, n_loc + 1),
                       {k: np.array(v, dtype=np.int64) for k, v in kinds.items()}, pools, tables)

"""Study populations (and cohorts' person ids) the site agent keeps between tasks, so a study
does not rebuild them.

Building a study population (two or three cohorts, then the population and its covariate
flags) is the costly part of a model at a site: about a second per 100,000 persons, against
hundredths of a second for each later round. Researchers refit the same population with
other covariates or models, so the agent keeps the last few frames, keyed by everything
that defines them: the cohort definitions (fingerprints), the population settings, and the
store's version.

What is kept never leaves the site process (the same frames an iterative fit already keeps
between its rounds). A frame is dropped when it is older than ``ttl`` seconds, when the
store changed (a DuckDB file's size or modification time; for a PostgreSQL store only the
age counts, see ``docs/network.md``), or when newer frames push it out.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from behindglass.core.cohort import Cohort
from behindglass.core.population import PopulationSettings
from behindglass.core.sitedata import SiteData
from behindglass.engine.connect import is_postgres_url

DEFAULT_FRAMES = 4
DEFAULT_TTL = 900.0  # seconds
MEMBER_SETS = 12  # cohorts whose person ids are kept


def store_version(target: str | Path) -> Hashable:
    """What changes when a DuckDB store file is rewritten; None for a server store."""
    if is_postgres_url(target) or not Path(target).exists():
        return None
    st = Path(target).stat()
    return (st.st_size, st.st_mtime_ns)


@dataclass
class _Entry:
    frame: Any  # a population frame, or a cohort's person ids
    made: float


class PopulationMemo:
    """The agent's last ``max_frames`` study populations, each for at most ``ttl`` s."""

    def __init__(self, max_frames: int = DEFAULT_FRAMES, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_frames < 0 or ttl < 0:
            raise ValueError("max_frames and ttl must not be negative")
        self.max_frames, self.ttl, self._clock = max_frames, ttl, clock
        self._frames: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._members: OrderedDict[Hashable, _Entry] = OrderedDict()
        self.hits = self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_frames > 0 and self.ttl > 0

    def wrap(self, data: SiteData, version: Hashable = None) -> SiteData:
        """``data``, answering ``population`` from this memo where it can."""
        return data if not self.enabled else _Memoised(data, self, version)  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: Hashable, build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        return self._get(self._frames, self.max_frames, key, build)

    def members(self, key: Hashable, build: Callable[[], np.ndarray]) -> np.ndarray:
        """A cohort's person ids (for the differencing ledger), kept like the frames but
        apart from them: a study checks two or three cohorts, and its ids must not push
        its population out."""
        return self._get(self._members, MEMBER_SETS, key, build)

    def _get(self, table: OrderedDict[Hashable, _Entry], limit: int, key: Hashable,
             build: Callable[[], Any]) -> Any:
        now = self._clock()
        for old in [k for k, e in table.items() if now - e.made > self.ttl]:
            del table[old]
        entry = table.get(key)
        if entry is None:
            self.misses += 1
            entry = _Entry(build(), now)
            table[key] = entry
            while len(table) > limit:
                table.popitem(last=False)
        else:
            self.hits += 1
            table.move_to_end(key)
        # a copy: an analysis that changes its frame must not change the next study's
        return entry.frame.copy()


class _Memoised:
    def __init__(self, data: SiteData, memo: PopulationMemo, version: Hashable) -> None:
        self._data, self._memo, self._version = data, memo, version

    def __getattr__(self, name: str) -> Any:
        return getattr(self._data, name)

    def population(self, target: Cohort, comparator: Cohort | None, outcome: Cohort,
                   settings: PopulationSettings) -> pd.DataFrame:
        key = (self._version, target.fingerprint,
               None if comparator is None else comparator.fingerprint, outcome.fingerprint,
               settings.model_dump_json())
        return self._memo.get(key, lambda: self._data.population(target, comparator,
                                                                 outcome, settings))

    def person_ids(self, cohort: Cohort) -> np.ndarray:
        return self._memo.members((self._version, cohort.fingerprint),
                                  lambda: self._data.person_ids(cohort))

"""Vectorised helpers for "a variable number of things per person".

Every table is built as flat numpy arrays with an owner index instead of per-person Python
loops: ``expand(counts)`` turns "person i has counts[i] visits" into the owner of each
visit and its rank within the person, and the rest of the package works on those flat
arrays. Days are float64 "days since 1970-01-01" during the simulation (``NEVER`` = inf
marks an event that does not happen) and become int32 dates only when written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

NEVER = np.inf
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Expanded:
    """The flat view of per-owner counts."""

    owner: np.ndarray  # owner index of each element
    rank: np.ndarray  # 0-based position of each element within its owner
    start: np.ndarray  # per owner: index of its first element in the flat arrays


def expand(counts: np.ndarray) -> Expanded:
    """Owner and within-owner rank of ``counts.sum()`` elements, in owner order."""
    counts = np.asarray(counts, dtype=np.int64)
    start = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    rank = np.arange(len(owner), dtype=np.int64) - start[owner]
    return Expanded(owner, rank, start)


def group_starts(sorted_groups: np.ndarray) -> np.ndarray:
    """Boolean mask: True where a new group begins in an array sorted by group."""
    first = np.ones(len(sorted_groups), dtype=bool)
    if len(sorted_groups) > 1:
        first[1:] = sorted_groups[1:] != sorted_groups[:-1]
    return first


def group_cummax(values: np.ndarray, new_group: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` that restarts wherever ``new_group`` is True."""
    if len(values) == 0:
        return values.astype(np.float64)
    group = np.cumsum(new_group) - 1
    # Lift each group above every earlier one so one global running max serves all groups.
    span = float(np.max(values) - np.min(values)) + 1.0
    lifted = values.astype(np.float64) + group * span
    return np.maximum.accumulate(lifted) - group * span


def pick(rng: np.random.Generator, weights: Mapping[int, float] | np.ndarray,
         size: int) -> np.ndarray:
    """Draw ``size`` keys of ``weights`` (or indices of a weight array) by weight."""
    if isinstance(weights, Mapping):
        keys = np.fromiter(weights.keys(), dtype=np.int64)
        probs = np.fromiter(weights.values(), dtype=np.float64)
    else:
        probs = np.asarray(weights, dtype=np.float64)
        keys = np.arange(len(probs), dtype=np.int64)
    cdf = np.cumsum(probs / probs.sum())
    cdf[-1] = 1.0
    return keys[np.searchsorted(cdf, rng.random(size), side="right")]


def person_day_key(person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """A sortable int64 key for (person, day); days span roughly 1880-2150."""
    return person.astype(np.int64) * 200_000 + (np.floor(day).astype(np.int64) + 100_000)


def logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))

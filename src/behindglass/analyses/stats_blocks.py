"""Model statistics as they travel: numpy arrays to and from :class:`StatsBlock`."""

from __future__ import annotations

from typing import Any

import numpy as np

from behindglass.core.aggregates import StatsBlock


def block(name: str, a: Any) -> StatsBlock:
    """``a`` (any array-like of numbers) as a block; ``tolist`` converts in C."""
    arr = np.asarray(a, dtype=np.float64)
    return StatsBlock(name=name, shape=tuple(arr.shape), values=tuple(arr.ravel().tolist()))


def array(b: StatsBlock) -> np.ndarray:
    return np.asarray(b.values, dtype=np.float64).reshape(b.shape)

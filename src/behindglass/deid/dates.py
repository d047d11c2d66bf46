"""Date de-identification: Safe Harbor 'year' mode and limited-data-set 'shift' mode.

**year** (Safe Harbor, 45 CFR 164.514(b)(2)(i)(C)): every element of a date except the year
is removed. OMOP date columns need a full date, so a date becomes **July 1 of its year**
(datetimes: July 1, 00:00:00, same unit and time zone). Mid-year, because a year-only value
is then off by at most ~6 months in either direction and intervals between independent
events are unbiased on average; Jan 1 would bias every duration. Within-person intervals are
**not** preserved: two visits in March and November of one year become the same day. The map
is monotone, so ``start <= end`` still holds after it.

**shift** (NOT Safe Harbor: for a limited data set under a data use agreement, or for an
expert determination): each person gets one offset of ``d`` days, ``d`` uniform in
``[-max_days, +max_days]`` without 0, from ``HMAC(secret, "date-shift" + person key)``. The
same person key gives the same ``d`` in every table and every load, so every interval within a
person (age at event, length of stay, time to outcome) is preserved exactly. Times of day are
kept.

All functions are vectorised over Arrow ``date32``/``timestamp`` arrays or numpy
``datetime64`` arrays, and return the same kind they were given; nulls stay null.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa

from behindglass.core.errors import DeidError
from behindglass.deid.pseudonym import ArrayLike, as_key_array, keyed_digests
from behindglass.deid.secret import SiteSecret

DateMode = Literal["year", "shift"]

#: HMAC namespace of the per-person shift; distinct from every id namespace on purpose.
SHIFT_NAMESPACE = "date-shift"

DateArray = pa.Array | pa.ChunkedArray | np.ndarray

_UNIT_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def as_date_array(dates: DateArray) -> pa.Array:
    """One Arrow date32/timestamp array from Arrow, chunked Arrow or numpy datetime64."""
    if isinstance(dates, pa.ChunkedArray):
        dates = dates.combine_chunks()
    if isinstance(dates, np.ndarray):
        if dates.dtype.kind != "M":
            raise DeidError(f"dates: expected a datetime64 array, got {dates.dtype}")
        if np.datetime_data(dates.dtype)[0] in ("Y", "M", "W", "D"):
            dates = dates.astype("datetime64[D]")
        dates = pa.array(dates)
    if pa.types.is_date64(dates.type):
        dates = dates.cast(pa.date32())
    if not (pa.types.is_date32(dates.type) or pa.types.is_timestamp(dates.type)):
        raise DeidError(f"dates: expected date32 or timestamp values, got {dates.type}")
    return dates


def _like_input(result: pa.Array, original: DateArray) -> DateArray:
    if isinstance(original, np.ndarray):
        unit = "D" if pa.types.is_date32(result.type) else result.type.unit
        ints = result.cast(pa.int32() if unit == "D" else pa.int64())
        values = ints.fill_null(0).to_numpy().astype(f"datetime64[{unit}]")
        values[~result.is_valid().to_numpy(zero_copy_only=False)] = np.datetime64("NaT")
        return values
    return result


def _ticks(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, str]:
    """(int64 ticks since epoch, validity mask, numpy unit) of a date32/timestamp array."""
    if pa.types.is_date32(arr.type):
        ticks, unit = arr.cast(pa.int32()).cast(pa.int64()), "D"
    else:
        ticks, unit = arr.cast(pa.int64()), arr.type.unit
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return ticks.fill_null(0).to_numpy().copy(), valid, unit


def _from_ticks(ticks: np.ndarray, valid: np.ndarray, like: pa.Array) -> pa.Array:
    storage = pa.int32() if pa.types.is_date32(like.type) else pa.int64()
    return pa.array(ticks.astype(storage.to_pandas_dtype()), type=storage, mask=~valid).cast(
        like.type
    )


def year_only(dates: DateArray) -> DateArray:
    """Safe Harbor: keep only the year; every date becomes July 1 of its year (see module)."""
    arr = as_date_array(dates)
    ticks, valid, unit = _ticks(arr)
    years = ticks.astype(f"datetime64[{unit}]").astype("datetime64[Y]")
    july_first = (years.astype("datetime64[M]") + np.timedelta64(6, "M")).astype(
        f"datetime64[{unit}]"
    )
    return _like_input(_from_ticks(july_first.astype(np.int64), valid, arr), dates)


def shift_days(person_keys: ArrayLike, secret: SiteSecret, max_days: int) -> np.ndarray:
    """Per-person date offsets in days: int32, uniform in [-max_days, max_days] minus {0}.

    Derived from ``HMAC(secret, "date-shift\\x00" + person key)``, so it needs no stored
    table and is identical for a person in every table and load. Null keys raise.
    """
    if not 1 <= max_days <= 36_500:
        raise DeidError(f"max_days must be between 1 and 36500, got {max_days}")
    keys = as_key_array(person_keys, what="person keys for date shifting")
    if keys.null_count:
        raise DeidError(
            f"person keys for date shifting: {keys.null_count} rows are null; every dated row "
            "needs its person key so that all of a person's dates move together"
        )
    codes, digests = keyed_digests(keys, secret, SHIFT_NAMESPACE)
    raw = np.ascontiguousarray(digests).view(">u8").ravel().astype(np.uint64)
    # 2*max_days equally likely outcomes (bias < 2**-50), folded around 0 so 0 never occurs.
    k = (raw % np.uint64(2 * max_days)).astype(np.int64)
    distinct = np.where(k < max_days, k - max_days, k - max_days + 1).astype(np.int32)
    return distinct[codes]


def shift_dates(
    dates: DateArray, person_keys: ArrayLike, secret: SiteSecret, max_days: int
) -> DateArray:
    """Move every date of a person by that person's :func:`shift_days` offset.

    NOT Safe Harbor (see module docstring). ``person_keys`` is row-aligned with ``dates`` and
    must be the same source person key used everywhere else (e.g. Synthea ``PATIENT``).
    """
    arr = as_date_array(dates)
    if len(person_keys) != len(arr):
        raise DeidError(
            f"shift_dates: {len(arr)} dates but {len(person_keys)} person keys; "
            "they must be row-aligned"
        )
    offsets = shift_days(person_keys, secret, max_days).astype(np.int64)
    ticks, valid, unit = _ticks(arr)
    ticks += offsets * (1 if unit == "D" else _UNIT_PER_DAY[unit])
    return _like_input(_from_ticks(ticks, valid, arr), dates)


def deidentify_dates(
    dates: DateArray,
    *,
    mode: DateMode,
    person_keys: ArrayLike | None = None,
    secret: SiteSecret | None = None,
    max_days: int = 365,
) -> DateArray:
    """Apply the configured date mode to one date or datetime column."""
    if mode == "year":
        return year_only(dates)
    if mode == "shift":
        if person_keys is None or secret is None:
            raise DeidError("date mode 'shift' needs the person keys and the site secret")
        return shift_dates(dates, person_keys, secret, max_days)
    raise DeidError(f"unknown date mode {mode!r}; expected 'year' or 'shift'")

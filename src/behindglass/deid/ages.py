"""Ages over 89 (45 CFR 164.514(b)(2)(i)(C)): aggregate them into "90 or older".

A person is *over 89* when their age in completed years at their **anchor date** is 90 or
more; the anchor is the extract's reference date, or the date of death if that is earlier
(a dead person's age stops at death). The decision is always made on the true, unshifted
birth and death dates.

For such a person:

* ``year_of_birth`` becomes ``anchor year - 90``, so every age computed from it (at the
  anchor or at any earlier event) is at most 90: the person is "90 or older" and nothing
  finer. Using 90, not 89, keeps them in the open-ended top band instead of moving them into
  the 85–89 band;
* ``month_of_birth`` and ``day_of_birth`` (and ``birth_datetime``) are removed;
* their other dates need no extra step in 'year' mode (they already carry only the year, and
  against the capped birth year they imply an age of at most 90).

Missing month or day of birth is treated as the earliest possible (January / day 1): when in
doubt, the person is assumed older, so the rule errs towards capping. Someone born on
29 February has their birthday on 1 March in non-leap years.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from behindglass.core.errors import DeidError
from behindglass.deid.dates import DateArray, DateMode, as_date_array
from behindglass.deid.pseudonym import ArrayLike

#: The oldest age Safe Harbor lets through; strictly older persons are aggregated.
MAX_AGE = 89
#: The age the aggregated persons are given.
AGGREGATE_AGE = MAX_AGE + 1


@dataclass(frozen=True)
class CappedBirth:
    """Person-table birth fields after the >89 rule (row-aligned with the input)."""

    year_of_birth: np.ndarray  # int32, never null
    month_of_birth: pa.Array  # int32, null where removed
    day_of_birth: pa.Array  # int32, null where removed
    over_89: np.ndarray  # bool: whose birth year was capped


def _ints(values: ArrayLike | None, n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values with nulls as 0, validity) of an optional integer column."""
    if values is None:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    arr = values if isinstance(values, pa.Array) else pa.array(values, from_pandas=True)
    if len(arr) != n:
        raise DeidError(f"{what}: {len(arr)} rows, expected {n} (columns must be row-aligned)")
    try:
        arr = arr.cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DeidError(f"{what}: expected whole numbers, got {arr.type}") from exc
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return arr.fill_null(0).to_numpy().copy(), valid


def _anchor(reference_date: dt.date, death_dates: DateArray | None, n: int) -> np.ndarray:
    """Per-person anchor date (datetime64[D]): min(reference date, death date)."""
    ref = np.full(n, np.datetime64(reference_date, "D"))
    if death_dates is None:
        return ref
    death = as_date_array(death_dates)
    if len(death) != n:
        raise DeidError(f"death dates: {len(death)} rows, expected {n}")
    if pa.types.is_timestamp(death.type):
        death = death.cast(pa.date32())
    days = death.cast(pa.int32()).fill_null(np.iinfo(np.int32).max).to_numpy()
    return np.minimum(ref, days.astype("datetime64[D]"))


def ages_at(
    year_of_birth: ArrayLike,
    month_of_birth: ArrayLike | None,
    day_of_birth: ArrayLike | None,
    at: np.ndarray,
) -> np.ndarray:
    """Completed years of age at ``at`` (datetime64[D], row-aligned); unknown parts → oldest."""
    n = len(at)
    year, year_ok = _ints(year_of_birth, n, "year_of_birth")
    if not year_ok.all():
        raise DeidError("year_of_birth: null values; OMOP requires a year of birth")
    month, month_ok = _ints(month_of_birth, n, "month_of_birth")
    day, day_ok = _ints(day_of_birth, n, "day_of_birth")
    month = np.where(month_ok, month, 1)
    day = np.where(month_ok & day_ok, day, 1)
    at_year = at.astype("datetime64[Y]").astype(np.int64) + 1970
    at_month = at.astype("datetime64[M]").astype(np.int64) % 12 + 1
    at_day = (at - at.astype("datetime64[M]")).astype(np.int64) + 1
    before_birthday = (at_month < month) | ((at_month == month) & (at_day < day))
    return at_year - year - before_birthday.astype(np.int64)


def over_89(
    year_of_birth: ArrayLike,
    month_of_birth: ArrayLike | None = None,
    day_of_birth: ArrayLike | None = None,
    *,
    reference_date: dt.date,
    death_dates: DateArray | None = None,
) -> np.ndarray:
    """Boolean mask of persons aged more than 89 at their anchor date."""
    anchor = _anchor(reference_date, death_dates, len(year_of_birth))
    return ages_at(year_of_birth, month_of_birth, day_of_birth, anchor) > MAX_AGE


def cap_birth_years(
    year_of_birth: ArrayLike,
    month_of_birth: ArrayLike | None = None,
    day_of_birth: ArrayLike | None = None,
    *,
    reference_date: dt.date,
    death_dates: DateArray | None = None,
    mode: DateMode = "year",
) -> CappedBirth:
    """Apply the >89 rule to person-table birth fields.

    In ``mode='year'`` month and day of birth are removed for *everyone* (they are date
    elements other than the year); in ``mode='shift'`` only for the capped persons, and the
    caller shifts the others' birth dates like every other date of theirs.
    """
    n = len(year_of_birth)
    anchor = _anchor(reference_date, death_dates, n)
    ages = ages_at(year_of_birth, month_of_birth, day_of_birth, anchor)
    mask = ages > MAX_AGE
    year, _ = _ints(year_of_birth, n, "year_of_birth")
    anchor_year = anchor.astype("datetime64[Y]").astype(np.int64) + 1970
    capped_year = np.where(mask, anchor_year - AGGREGATE_AGE, year).astype(np.int32)
    month, month_ok = _ints(month_of_birth, n, "month_of_birth")
    day, day_ok = _ints(day_of_birth, n, "day_of_birth")
    keep = np.zeros(n, dtype=bool) if mode == "year" else ~mask
    return CappedBirth(
        year_of_birth=capped_year,
        month_of_birth=pa.array(month.astype(np.int32), mask=~(month_ok & keep)),
        day_of_birth=pa.array(day.astype(np.int32), mask=~(day_ok & keep)),
        over_89=mask,
    )

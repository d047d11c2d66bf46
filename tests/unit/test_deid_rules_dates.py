"""Date modes and the over-89 rule (behindglass.deid.dates / .ages)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from behindglass.core.errors import DeidError
from behindglass.deid.ages import cap_birth_years, over_89
from behindglass.deid.dates import deidentify_dates, shift_dates, shift_days, year_only
from behindglass.deid.secret import SiteSecret

SECRET = SiteSecret(bytes(range(32)))
D = dt.date


# --- year mode (Safe Harbor) -------------------------------------------------------------


def test_year_mode_keeps_only_the_year():
    dates = pa.array([D(2020, 3, 5), None, D(1999, 12, 31), D(2024, 2, 29)])
    assert year_only(dates).to_pylist() == [D(2020, 7, 1), None, D(1999, 7, 1), D(2024, 7, 1)]


def test_year_mode_on_datetimes_keeps_type_and_zone():
    ts = pa.array([dt.datetime(2021, 11, 2, 13, 45, 7)], type=pa.timestamp("us", tz="UTC"))
    out = year_only(ts)
    assert out.type == ts.type
    assert out[0].as_py() == dt.datetime(2021, 7, 1, tzinfo=dt.UTC)


def test_year_mode_on_numpy_returns_numpy():
    out = year_only(np.array(["2019-05-05", "NaT"], dtype="datetime64[D]"))
    assert out.dtype == np.dtype("datetime64[D]")
    assert str(out[0]) == "2019-07-01" and np.isnat(out[1])


def test_year_mode_does_not_preserve_intervals_but_keeps_order():
    start = pa.array([D(2020, 3, 1), D(2020, 12, 1)])
    end = pa.array([D(2020, 11, 30), D(2021, 1, 2)])
    s, e = year_only(start).to_pylist(), year_only(end).to_pylist()
    assert s[0] == e[0]  # an 8-month stay collapses: documented
    assert all(a <= b for a, b in zip(s, e, strict=True))


# --- shift mode (limited data set) -------------------------------------------------------


def test_shift_is_the_same_for_a_person_in_every_table():
    visits = shift_dates(pa.array([D(2020, 1, 1), D(2020, 6, 1)]), ["p1", "p2"], SECRET, 30)
    conditions = shift_dates(pa.array([D(2020, 1, 11)]), ["p1"], SECRET, 30)
    assert (conditions[0].as_py() - visits[0].as_py()).days == 10


def test_shift_preserves_within_person_intervals_exactly():
    rng = np.random.default_rng(1)
    days = rng.integers(0, 20_000, 5_000).astype("datetime64[D]")
    persons = rng.integers(0, 200, 5_000)
    shifted = shift_dates(days, persons, SECRET, 365)
    delta = (shifted - days).astype(int)
    for p in np.unique(persons):
        assert np.unique(delta[persons == p]).size == 1
    assert np.unique(delta).size > 50  # persons do not share one offset


def test_shift_keeps_time_of_day_and_nulls():
    ts = pa.array([dt.datetime(2020, 1, 1, 8, 30), None], type=pa.timestamp("ms"))
    out = shift_dates(ts, ["a", "a"], SECRET, 10).to_pylist()
    assert out[0].time() == dt.time(8, 30) and out[1] is None


def test_shift_is_stable_across_calls_and_differs_by_secret():
    keys = [str(i) for i in range(1000)]
    np.testing.assert_array_equal(shift_days(keys, SECRET, 365), shift_days(keys, SECRET, 365))
    other = shift_days(keys, SiteSecret(b"\xff" * 32), 365)
    assert (other != shift_days(keys, SECRET, 365)).mean() > 0.9


def test_shift_argument_errors():
    with pytest.raises(DeidError, match="row-aligned"):
        shift_dates(pa.array([D(2020, 1, 1)]), ["a", "b"], SECRET, 10)
    with pytest.raises(DeidError, match="null"):
        shift_days(["a", None], SECRET, 10)
    with pytest.raises(DeidError, match="max_days"):
        shift_days(["a"], SECRET, 0)
    with pytest.raises(DeidError, match="needs the person keys"):
        deidentify_dates(pa.array([D(2020, 1, 1)]), mode="shift")
    with pytest.raises(DeidError, match="date32 or timestamp"):
        year_only(pa.array([1, 2]))


def test_deidentify_dates_dispatches_on_mode():
    d = pa.array([D(2020, 3, 3)])
    assert deidentify_dates(d, mode="year").to_pylist() == [D(2020, 7, 1)]
    out = deidentify_dates(d, mode="shift", person_keys=["a"], secret=SECRET, max_days=5)
    assert 1 <= abs((out[0].as_py() - D(2020, 3, 3)).days) <= 5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=40), st.integers(1, 3650))
def test_property_shift_never_zero_and_within_bounds(keys, max_days):
    shifts = shift_days(keys, SECRET, max_days)
    assert shifts.dtype == np.int32
    assert (shifts != 0).all() and (np.abs(shifts) <= max_days).all()


def test_shift_covers_both_signs_and_the_bounds():
    shifts = shift_days(np.arange(20_000), SECRET, 3)
    assert set(shifts.tolist()) == {-3, -2, -1, 1, 2, 3}


# --- ages over 89 ------------------------------------------------------------------------

REF = D(2026, 6, 15)


@pytest.mark.parametrize(
    ("born", "capped"),
    [
        ((1936, 6, 14), True),  # 90 yesterday
        ((1936, 6, 15), True),  # 90 today
        ((1936, 6, 16), False),  # 89 until tomorrow
        ((1937, 1, 1), False),  # 89
        ((1910, 2, 2), True),  # 116
    ],
)
def test_over_89_boundary_on_birthdays(born, capped):
    y, m, d = born
    out = cap_birth_years([y], [m], [d], reference_date=REF)
    assert out.over_89.tolist() == [capped]
    assert out.year_of_birth.tolist() == [2026 - 90 if capped else y]


def test_capped_persons_compute_to_age_90_and_lose_month_and_day():
    out = cap_birth_years([1920, 1980], [3, 3], [4, 4], reference_date=REF, mode="shift")
    assert out.year_of_birth.tolist() == [1936, 1980]
    assert out.month_of_birth.to_pylist() == [None, 3]
    assert out.day_of_birth.to_pylist() == [None, 4]


def test_year_mode_removes_month_and_day_for_everyone():
    out = cap_birth_years([1980], [3], [4], reference_date=REF, mode="year")
    assert out.month_of_birth.to_pylist() == [None] and out.day_of_birth.to_pylist() == [None]


def test_age_at_death_is_what_counts():
    deaths = pa.array([D(2000, 1, 1), None, D(2009, 5, 1)])
    out = cap_birth_years([1920, 1920, 1920], reference_date=REF, death_dates=deaths)
    assert out.over_89.tolist() == [False, True, False]
    deaths = pa.array([D(2015, 5, 1)])
    out = cap_birth_years([1920], [1], [1], reference_date=REF, death_dates=deaths)
    assert out.over_89.tolist() == [True] and out.year_of_birth.tolist() == [2015 - 90]


def test_unknown_month_or_day_errs_towards_capping():
    # Born some time in 1936: could already be 90 on the reference date → capped.
    assert over_89([1936], reference_date=D(2026, 1, 2)).tolist() == [True]
    assert over_89([1936], [12], [None], reference_date=D(2026, 12, 1)).tolist() == [True]
    assert over_89([1937], reference_date=D(2026, 12, 31)).tolist() == [False]


def test_leap_day_birthday():
    assert over_89([1936], [2], [29], reference_date=D(2026, 2, 28)).tolist() == [False]
    assert over_89([1936], [2], [29], reference_date=D(2026, 3, 1)).tolist() == [True]


def test_null_year_of_birth_is_refused():
    with pytest.raises(DeidError, match="year_of_birth"):
        over_89([1950, None], reference_date=REF)


@settings(max_examples=80, deadline=None)
@given(st.dates(D(1880, 1, 1), D(2026, 6, 15)))
def test_property_no_output_reveals_age_over_89(birth):
    out = cap_birth_years([birth.year], [birth.month], [birth.day], reference_date=REF)
    assert REF.year - out.year_of_birth[0] <= 90
    if out.over_89[0]:
        assert out.year_of_birth[0] == REF.year - 90
    else:
        assert out.year_of_birth[0] == birth.year

"""ZIP3 generalisation (behindglass.deid.geography)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from behindglass.core.errors import DeidError
from behindglass.deid.geography import RESTRICTED, load_restricted_zip3, zip3

RESTRICTED_2020 = [
    "036", "059", "063", "102", "203", "205", "369", "556", "692", "790",
    "821", "823", "830", "831", "878", "879", "884", "890", "893",
]


def test_restricted_list_is_versioned_and_complete():
    lst = load_restricted_zip3()
    assert lst.version == "2020-census"
    assert lst.prefixes == frozenset(RESTRICTED_2020)
    assert lst.population_threshold == 20_000
    assert load_restricted_zip3("2020-census") == lst
    with pytest.raises(DeidError, match="unknown restricted ZIP3 list version"):
        load_restricted_zip3("1990-census")


@pytest.mark.parametrize("prefix", RESTRICTED_2020)
def test_every_restricted_prefix_becomes_000(prefix):
    assert zip3([f"{prefix}12", f"{prefix}45-6789"]).to_pylist() == [RESTRICTED, RESTRICTED]


def test_leading_zeros_are_kept():
    assert zip3(["02139", "00501", "01002-1234"]).to_pylist() == ["021", "005", "010"]


@pytest.mark.parametrize(
    "bad",
    ["", "2139", "021399", "0213", "abcde", "02139-12", "K1A 0B1", "01310-100", "SW1A 1AA",
     "75008", "１２３４５"],
)
def test_invalid_and_non_us_codes_become_null(bad):
    out = zip3([bad]).to_pylist()
    # "75008" is US-shaped: without a country it is treated as a US ZIP.
    assert out == (["750"] if bad == "75008" else [None])


def test_country_column_blocks_non_us_rows():
    out = zip3(["75008", "02139", "02139", "90210"], countries=["FR", "US", None, " usa "])
    assert out.to_pylist() == [None, "021", "021", "902"]


def test_whitespace_and_nulls():
    assert zip3([" 90210 ", None, "90210\n"]).to_pylist() == ["902", None, "902"]


def test_integer_zips_are_zero_padded():
    assert zip3(pa.array([2139, None, 21391234, -5, 3601])).to_pylist() == [
        "021", None, "021", None, RESTRICTED,
    ]
    assert zip3(pd.Series([2139, 90210])).to_pylist() == ["021", "902"]


def test_other_types_are_refused():
    with pytest.raises(DeidError, match="text or integers"):
        zip3(pa.array([1.5]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12),
                          st.from_regex(r"\A[0-9]{5}(-[0-9]{4})?\Z")), max_size=30))
def test_property_output_is_null_000_or_allowed_prefix(values):
    out = zip3(pa.array(values, type=pa.string())).to_pylist()
    assert len(out) == len(values)
    for raw, value in zip(values, out, strict=True):
        if value is None:
            continue
        assert value == RESTRICTED or (
            re.fullmatch(r"[0-9]{3}", value) and value not in RESTRICTED_2020
        )
        assert raw is not None and raw.strip()[:3] in (value, *RESTRICTED_2020)


def test_zip3_vectorised_on_a_large_batch():
    codes = np.char.zfill(np.arange(100_000).astype(str), 5).astype(object)
    out = zip3(pa.array(codes)).to_numpy(zero_copy_only=False)
    assert (out[:100] == "000").all() and out[100] == "001"
    assert set(out[out != "000"]).isdisjoint(RESTRICTED_2020)

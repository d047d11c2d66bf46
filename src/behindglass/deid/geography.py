"""Geography (45 CFR 164.514(b)(2)(i)(B)): nothing smaller than a state, except ZIP3.

Street address, city, county, precinct, census tract/FIPS, latitude/longitude and birthplace
are dropped by the rule catalogue; this module implements the one allowed generalisation:

* a US ZIP (``12345``, ``12345-6789`` or ``123456789``) becomes its first three digits;
* the prefix becomes ``000`` when it is on the versioned restricted list (prefixes whose
  ZIP3 area has ≤ 20,000 people per the Census), see ``restricted_zip3.toml``;
* anything else is NULL: malformed ZIPs and **every non-US postal code**. A Canadian FSA
  (``K1A``) or the first digits of a Brazilian CEP can cover far fewer than 20,000 people and
  we hold no population table for them, so no country-specific rule is applied: deny.

Text ZIPs are taken literally (``'2139'`` is invalid, not ``02139``); integer ZIPs are
zero-padded to five digits, because the integer type itself shows the leading zeros were
lost upstream (a Massachusetts ZIP read as a number).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from behindglass.core.errors import DeidError
from behindglass.deid.pseudonym import ArrayLike

#: The value Safe Harbor prescribes for a restricted prefix.
RESTRICTED = "000"

_US_ZIP = r"^[0-9]{5}(-?[0-9]{4})?$"
#: Country values read as "United States"; compared after trimming and upper-casing.
_US_NAMES = ["US", "USA", "U.S.", "U.S.A.", "UNITED STATES", "UNITED STATES OF AMERICA"]


@dataclass(frozen=True)
class RestrictedZip3:
    """One version of the restricted ZIP3 list."""

    version: str
    prefixes: frozenset[str]
    population_threshold: int


@cache
def _catalogue() -> dict[str, Any]:
    text = resources.files("behindglass.deid").joinpath("restricted_zip3.toml").read_text()
    return tomllib.loads(text)


def load_restricted_zip3(version: str | None = None) -> RestrictedZip3:
    """The restricted prefix list of ``version`` (default: the file's ``default``)."""
    data = _catalogue()
    lists = data["lists"]
    name = version or str(data["default"])
    if name not in lists:
        known = ", ".join(sorted(lists))
        raise DeidError(f"unknown restricted ZIP3 list version {name!r}; known: {known}")
    entry = lists[name]
    prefixes = frozenset(entry["prefixes"])
    bad = sorted(p for p in prefixes if len(p) != 3 or not p.isdigit())
    if bad:
        raise DeidError(f"restricted ZIP3 list {name!r}: not 3-digit prefixes: {bad}")
    return RestrictedZip3(name, prefixes, int(entry["population_threshold"]))


def _zip_text(zip_codes: ArrayLike) -> pa.Array:
    if isinstance(zip_codes, pa.ChunkedArray):
        zip_codes = zip_codes.combine_chunks()
    arr = zip_codes if isinstance(zip_codes, pa.Array) else pa.array(zip_codes, from_pandas=True)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_integer(arr.type):
        ints = arr.cast(pa.int64())
        in_range = pc.and_(pc.greater_equal(ints, 0), pc.less_equal(ints, 999_999_999))
        valid = pc.and_kleene(arr.is_valid(), in_range).to_numpy(zero_copy_only=False)
        raw = ints.fill_null(0).to_numpy()
        # Nine-digit integers are ZIP+4; shorter ones are 5-digit ZIPs that lost zeros.
        five = np.where(raw > 99_999, raw // 10_000, raw)
        text = np.char.zfill(five.astype(str), 5).astype(object)
        return pa.array(text, type=pa.string(), mask=~valid)
    if pa.types.is_null(arr.type):
        return arr.cast(pa.string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise DeidError(f"zip codes: expected text or integers, got {arr.type}")
    return arr.cast(pa.string())


def zip3(
    zip_codes: ArrayLike,
    *,
    countries: ArrayLike | None = None,
    restricted: RestrictedZip3 | None = None,
) -> pa.Array:
    """Safe Harbor ZIP3 of each value: a 3-digit prefix, ``'000'`` or NULL (string array).

    ``countries`` (row-aligned, optional): rows whose country is set and is not the US are
    NULL whatever their postal code looks like. Without it, only US-shaped codes survive.
    """
    restricted = restricted or load_restricted_zip3()
    text = pc.utf8_trim_whitespace(_zip_text(zip_codes))
    ok = pc.match_substring_regex(text, _US_ZIP)
    if countries is not None:
        c = countries.combine_chunks() if isinstance(countries, pa.ChunkedArray) else countries
        c = c if isinstance(c, pa.Array) else pa.array(c, from_pandas=True, type=pa.string())
        if len(c) != len(text):
            raise DeidError(f"countries: {len(c)} rows, expected {len(text)}")
        country = pc.utf8_upper(pc.utf8_trim_whitespace(c.cast(pa.string())))
        is_us = pc.or_kleene(pc.is_null(country), pc.is_in(country, pa.array(_US_NAMES)))
        ok = pc.and_kleene(ok, is_us)
    prefix = pc.utf8_slice_codeunits(text, 0, 3)
    blocked = pc.is_in(prefix, pa.array(sorted(restricted.prefixes), type=pa.string()))
    generalised = pc.if_else(blocked, pa.scalar(RESTRICTED), prefix)
    return pc.if_else(pc.fill_null(ok, False), generalised, pa.scalar(None, pa.string()))

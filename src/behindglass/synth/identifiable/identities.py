"""Fake, locale-appropriate identities for the persons of one simulated block.

Faker is slow per value, so each block builds small pools of names and street
addresses once (Faker seeded from the block's own seed) and draws every person's
identity from them with numpy. Numbers that must look unique per person (SSN, phone,
MRN, licence, passport, account, member id) are composed directly from random digits in
each country's usual layout, which is fast and keeps them distinct.

SSNs are drawn from the *valid* US ranges (area 001–899 except 666, group 01–99, serial
0001–9999): a de-identification pipeline must find numbers that look real, and
recognizers that reject 000/666/9xx areas would otherwise be tested on easy cases.
They are random numbers, not linked to anyone.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from faker import Faker

from behindglass.synth.profiles import Profile

LOCALES: dict[str, str] = {
    "midwest-academic": "en_US", "rural-community": "en_US", "urban-brazil": "pt_BR",
    "israel-centre": "he_IL", "canada-network": "en_CA",
}
COUNTRY_LOCALE = {"USA": "en_US", "Brazil": "pt_BR", "Israel": "he_IL", "Canada": "en_CA"}
POOL = 400  # values per pool and block: enough variety, cheap to build

# Telephone area codes per state / province / city, so phones fit the address.
_AREA = {"IL": ("312", "773", "630", "815", "847"), "IN": ("219",), "WI": ("262",),
         "IA": ("319", "641"), "MO": ("573",), "ON": ("416", "647", "613", "905", "519")}
_RELATIONS = ("spouse", "mother", "father", "daughter", "son", "sister", "brother", "friend")


def locale_for(profile: Profile) -> str:
    """The Faker locale of a profile (by name, else by country, else en_US)."""
    return LOCALES.get(profile.name) or COUNTRY_LOCALE.get(profile.country, "en_US")


@lru_cache(maxsize=8)
def _faker(locale: str) -> Faker:
    # Creating a Faker is costly; one per locale and process, re-seeded per block.
    return Faker(locale)


@dataclass(frozen=True)
class Identities:
    """One entry per person of a block; every field is a list of strings."""

    prefix: list[str]
    first: list[str]
    last: list[str]
    suffix: list[str]
    maiden: list[str]
    marital: list[str]
    ssn: list[str]
    drivers: list[str]
    passport: list[str]
    address: list[str]
    zip: list[str]
    birthplace: list[str]
    phone: list[str]
    email: list[str]
    mrn: list[str]
    account: list[str]
    member: list[str]
    kin_name: list[str]
    kin_relation: list[str]
    kin_phone: list[str]


def _pool(fake: Faker, method: str, size: int = POOL) -> np.ndarray:
    call = getattr(fake, method, None)
    if call is None:
        return np.array([""], dtype=object)
    return np.array([call() for _ in range(size)], dtype=object)


def _digits(rng: np.random.Generator, n: int, width: int) -> list[str]:
    return [f"{v:0{width}d}" for v in rng.integers(0, 10 ** width, n)]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _phones(rng: np.random.Generator, locale: str, states: list[str]) -> list[str]:
    n = len(states)
    line, exchange = _digits(rng, n, 4), rng.integers(200, 1000, n)
    if locale == "pt_BR":
        return [f"(11) 9{e:04d}-{ln}" for e, ln in zip(rng.integers(1000, 10000, n), line,
                                                       strict=True)]
    if locale == "he_IL":
        return [f"05{d}-{e:03d}-{ln}" for d, e, ln in zip(rng.integers(0, 9, n), exchange, line,
                                                          strict=True)]
    pick = rng.random(n)
    codes = [_AREA.get(s, ("312",)) for s in states]
    areas = [c[int(p * len(c))] for c, p in zip(codes, pick, strict=True)]
    exchange = np.where(exchange == 555, 556, exchange)  # 555 numbers look fictional
    if locale == "en_CA":
        return [f"{a}-{e:03d}-{ln}" for a, e, ln in zip(areas, exchange, line, strict=True)]
    return [f"({a}) {e:03d}-{ln}" for a, e, ln in zip(areas, exchange, line, strict=True)]


def _postal(rng: np.random.Generator, locale: str, zip3: list[str | None],
            fake: Faker) -> list[str]:
    n = len(zip3)
    tail2, tail3, tail4 = _digits(rng, n, 2), _digits(rng, n, 3), _digits(rng, n, 4)
    if locale == "pt_BR":  # CEP: 8 digits, NNNNN-NNN
        return [f"{z}{a}-{b}" for z, a, b in zip(zip3, tail2, tail3, strict=True)]
    if locale == "he_IL":  # mikud: 7 digits
        return [f"{z}{b}" for z, b in zip(zip3, tail4, strict=True)]
    if locale == "en_CA":  # no ZIP3 in the OMOP output; an Ontario postal code
        pool = [code.replace(" ", "") for code in (fake.postcode_in_province("ON")
                                                    for _ in range(POOL))]
        pool = [f"{code[:3]} {code[3:]}" for code in pool]  # always "A1A 1A1"
        return [pool[i] for i in rng.integers(0, len(pool), n)]
    return [f"{z}{a}" for z, a in zip(zip3, tail2, strict=True)]


def _national_id(rng: np.random.Generator, locale: str, n: int) -> list[str]:
    """The national number an EHR keeps in Synthea's SSN column, in the country's layout."""
    if locale == "pt_BR":  # CPF
        a, b, c, d = (_digits(rng, n, w) for w in (3, 3, 3, 2))
        return [f"{w}.{x}.{y}-{z}" for w, x, y, z in zip(a, b, c, d, strict=True)]
    if locale == "he_IL":  # teudat zehut: 9 digits
        return _digits(rng, n, 9)
    if locale == "en_CA":  # SIN
        a, b, c = (rng.integers(100, 1000, n) for _ in range(3))
        return [f"{x} {y} {z}" for x, y, z in zip(a, b, c, strict=True)]
    area = rng.integers(1, 900, n)
    area = np.where(area == 666, 665, area)
    group, serial = rng.integers(1, 100, n), rng.integers(1, 10000, n)
    return [f"{a:03d}-{g:02d}-{s:04d}" for a, g, s in zip(area, group, serial, strict=True)]


def draw_identities(rng: np.random.Generator, profile: Profile, male: np.ndarray,
                    age: np.ndarray, region: np.ndarray, block_seed: int) -> Identities:
    """Identities for persons of the given sex, age (years) and profile region index.

    ``rng`` is a stream used only for identities, so the clinical simulation is untouched.
    """
    locale, n = locale_for(profile), len(male)
    fake = _faker(locale)
    fake.seed_instance(block_seed)
    first_m, first_f = _pool(fake, "first_name_male"), _pool(fake, "first_name_female")
    last = _pool(fake, "last_name")
    streets = _pool(fake, "street_address")
    cities = _pool(fake, "city", 60)
    prefix_m, prefix_f = _pool(fake, "prefix_male", 20), _pool(fake, "prefix_female", 20)
    suffixes = _pool(fake, "suffix", 20)
    domains = _pool(fake, "free_email_domain", 20)

    def draw(pool: np.ndarray, size: int = n) -> np.ndarray:
        return pool[rng.integers(0, len(pool), size)]

    male = np.asarray(male, dtype=bool)
    first = np.where(male, draw(first_m), draw(first_f))
    surname = draw(last)
    adult = age >= 18
    marital = np.where(~adult, "", np.where(rng.random(n) < 0.55, "M",
                                            np.where(rng.random(n) < 0.7, "S", "D")))
    marital = np.where(adult & (age > 70) & (rng.random(n) < 0.3), "W", marital)
    # Married and widowed women often carry a maiden name different from the current one.
    has_maiden = ~male & np.isin(marital, ["M", "W"]) & (rng.random(n) < 0.8)
    maiden = np.where(has_maiden, draw(last), "")
    prefix = np.where(adult, np.where(male, draw(prefix_m), draw(prefix_f)), "")
    suffix = np.where(adult & (rng.random(n) < 0.03), draw(suffixes), "")
    regions = profile.demographics.regions
    states = [regions[r].state for r in region]
    zip3 = [regions[r].zip3 for r in region]
    phone, kin_phone = _phones(rng, locale, states), _phones(rng, locale, states)
    number = rng.integers(1, 100, n)
    email = [f"{_ascii(f) or 'user'}.{_ascii(s) or 'mail'}{k}@{d}"
             for f, s, k, d in zip(first, surname, number, draw(domains), strict=True)]
    kin_first = np.where(rng.random(n) < 0.5, draw(first_m), draw(first_f))
    kin_last = np.where(rng.random(n) < 0.7, surname, draw(last))
    letter = "ABCDEFGHJKLMNPRSTVWXYZ"
    initials = [letter[i] for i in rng.integers(0, len(letter), n)]
    return Identities(
        prefix=[str(v) for v in prefix], first=[str(v) for v in first],
        last=[str(v) for v in surname], suffix=[str(v) for v in suffix],
        maiden=[str(v) for v in maiden], marital=[str(v) for v in marital],
        ssn=_national_id(rng, locale, n),
        drivers=[f"{i}{d}" for i, d in zip(initials, _digits(rng, n, 8), strict=True)],
        passport=[f"{i}{d}" for i, d in zip(initials, _digits(rng, n, 8), strict=True)],
        address=[str(v) for v in draw(streets)],
        zip=_postal(rng, locale, zip3, fake),
        birthplace=[str(v) for v in draw(cities)],
        phone=phone, email=email,
        mrn=[f"MRN{d}" for d in _digits(rng, n, 9)],
        account=[f"AC{d}" for d in _digits(rng, n, 10)],
        member=[f"M{d}" for d in _digits(rng, n, 11)],
        kin_name=[f"{a} {b}" for a, b in zip(kin_first, kin_last, strict=True)],
        kin_relation=[_RELATIONS[i] for i in rng.integers(0, len(_RELATIONS), n)],
        kin_phone=kin_phone,
    )


def block_unique(rng: np.random.Generator, index: int, n: int, prefix: str = "") -> np.ndarray:
    """``n`` 14-digit strings (after ``prefix``) unique across the whole extract: 4 random
    digits (so numbers of different sites and seeds differ), then the block index (4
    digits) and the row within the block (6 digits)."""
    number = (rng.integers(0, 10_000, n, dtype=np.int64) * 10 ** 10 + index * 10 ** 6
              + np.arange(n, dtype=np.int64))
    digits = pc.utf8_lpad(pa.array(number).cast(pa.string()), width=14, padding="0")
    if prefix:
        digits = pc.binary_join_element_wise(prefix, digits, "")
    return digits.to_numpy(zero_copy_only=False)

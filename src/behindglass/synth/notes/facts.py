"""Who a note is about: the identifiers of one patient, their relatives and clinicians.

:class:`NoteFacts` is deliberately plain (strings, ints and dates) so that the
identifiable extract can fill it from the very identities it writes to patients.csv,
and the truth file can then point at the offsets where each value was planted.
:func:`facts_from_faker` draws a complete standalone identity for gold corpora.

Faker is slow per call, so each locale's names and places are drawn once per process into
pools (Faker seeded with a fixed seed; Faker is pinned in requirements.lock, so pools are
identical on every machine) and patients are sampled from the pools with the caller's
``random.Random``.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from faker import Faker

from behindglass.synth.notes import identifiers as ids

# Notes are written in English by a US-style health system; patients and staff come from
# many backgrounds, which is what makes names hard (O'Neil, de la Cruz, Jean-Pierre, Müller).
LOCALE_WEIGHTS: dict[str, float] = {
    "en_US": 0.46, "en_GB": 0.08, "en_IE": 0.08, "es_MX": 0.12, "pt_BR": 0.07,
    "nl_NL": 0.05, "de_DE": 0.06, "fr_FR": 0.04, "en_CA": 0.04,
}
POOL = 300
_POOL_SEED = 0x6E6F7465  # fixed: pools are data, patients are drawn from them
RELATIONS = ("wife", "husband", "daughter", "son", "mother", "father", "sister", "brother",
             "niece", "granddaughter", "partner", "friend")
_APOSTROPHE = ("O'Neil", "O'Brien", "D'Angelo", "O'Connor", "D'Souza", "O'Malley",
               "DeAngelo-O'Hara", "O'Reilly", "D'Amico", "N'Diaye")
_SAINTS = ("Mary", "Joseph", "Luke", "Vincent", "Francis", "Elizabeth", "Anne", "Jude")
_FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "aol.com", "icloud.com",
              "comcast.net", "protonmail.com")


@dataclass(frozen=True, slots=True)
class Relative:
    first: str
    last: str
    relation: str
    phone: str
    age: int

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True, slots=True)
class Clinician:
    first: str
    last: str
    role: str  # attending, resident, nurse, radiologist, pathologist, pcp, consultant
    credential: str  # MD, DO, NP, RN, PA-C
    npi: str
    dea: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True, slots=True)
class NoteFacts:
    """Every identifier a note about one patient may plant."""

    patient: str | None
    first: str
    middle: str
    last: str
    sex: str  # "M" or "F"
    age: int  # completed years at admission
    birth_date: dt.date
    admission: dt.date
    discharge: dt.date
    street: str
    city: str
    state: str
    zip: str
    phone: str
    email: str
    ssn: str
    mrn: str
    account: str
    health_plan: str
    drivers_license: str
    device_id: str
    plate: str
    vin: str
    ip: str
    url: str
    institution: str
    institution_phone: str
    institution_fax: str
    other_institution: str
    relatives: tuple[Relative, ...]
    clinicians: tuple[Clinician, ...]
    locale: str = "en_US"
    # The day of the note's own event (clinic visit, call, imaging study, specimen) when the
    # caller knows it, e.g. from an encounter; otherwise drawn relative to the stay.
    event: dt.date | None = None

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    def clinician(self, *roles: str) -> Clinician:
        """The first clinician with one of ``roles``, else the first one."""
        return next((c for c in self.clinicians if c.role in roles), self.clinicians[0])


@dataclass(frozen=True)
class _Pools:
    first_m: tuple[str, ...]
    first_f: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[str, ...]
    states: tuple[str, ...]
    zips: tuple[str, ...]


def _draw(call: object, n: int) -> tuple[str, ...]:
    values = (str(call()) for _ in range(n))  # type: ignore[operator]
    # Values with commas or line breaks are inverted or multi-line forms, not names/places.
    return tuple(dict.fromkeys(v.strip() for v in values if v and "," not in v and "\n" not in v))


@lru_cache(maxsize=16)
def pools(locale: str) -> _Pools:
    fake = Faker(locale)
    fake.seed_instance(_POOL_SEED)
    states = (fake.state_abbr if hasattr(fake, "state_abbr") and locale != "es_MX"
              else getattr(fake, "province_abbr", fake.administrative_unit))
    return _Pools(
        first_m=_draw(fake.first_name_male, POOL), first_f=_draw(fake.first_name_female, POOL),
        last=_draw(fake.last_name, POOL),
        streets=tuple(s.replace(" ,", ",") for s in _draw(fake.street_address, POOL)),
        cities=_draw(fake.city, POOL // 3), states=_draw(states, POOL // 3),
        zips=_draw(fake.postcode, POOL))


_LOCALES = tuple(LOCALE_WEIGHTS)
_CUMULATIVE = tuple(accumulate(LOCALE_WEIGHTS.values()))


def pick_locale(rng: random.Random) -> str:
    return rng.choices(_LOCALES, cum_weights=_CUMULATIVE)[0]


def _surname(rng: random.Random, pool: _Pools) -> str:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(_APOSTROPHE)
    if roll < 0.12:  # double-barrelled
        return f"{rng.choice(pool.last)}-{rng.choice(pool.last)}"
    return rng.choice(pool.last)


def _first(rng: random.Random, pool: _Pools, male: bool) -> str:
    return rng.choice(pool.first_m if male else pool.first_f)


def _age(rng: random.Random) -> int:
    # Adult inpatients skew old; one in seven is over 89, where age becomes an identifier.
    roll = rng.random()
    if roll < 0.14:
        return rng.randrange(90, 106)
    if roll < 0.28:
        return rng.randrange(18, 45)
    return rng.randrange(40, 90)


def relative_age(rng: random.Random, relation: str, age: int) -> int:
    if relation in ("mother", "father"):
        return min(age + rng.randrange(18, 40), 108)
    if relation in ("daughter", "son", "niece"):
        return max(age - rng.randrange(18, 40), 1)
    if relation == "granddaughter":
        return max(age - rng.randrange(40, 60), 1)
    return max(age + rng.randrange(-8, 9), 16)


def institution_name(rng: random.Random, city: str, surname: str) -> str:
    form = rng.randrange(7)
    if form == 0:
        return f"{city} General Hospital"
    if form == 1:
        return f"{surname} Memorial Hospital"
    if form == 2:
        return f"St. {rng.choice(_SAINTS)}'s Medical Center"
    if form == 3:
        return f"University of {city} Medical Center"
    if form == 4:
        return f"{city} Regional Medical Center"
    if form == 5:
        return f"{surname} Family Health Clinic"
    return f"{city} Community Hospital"


def _clinician(rng: random.Random, role: str, credential: str) -> Clinician:
    pool = pools(pick_locale(rng))
    last = _surname(rng, pool)
    return Clinician(_first(rng, pool, rng.random() < 0.5), last, role, credential,
                     ids.npi(rng), ids.dea(rng, last))


def facts_from_faker(rng: random.Random | int, locale: str | None = None, *,
                     patient: str | None = None, staff: bool = True) -> NoteFacts:
    """A complete, random identity for one patient (locale drawn when not given).

    ``staff=False`` leaves ``clinicians`` empty for a caller that has its own (an EHR's
    providers); drawing seven clinicians is a third of the cost of an identity.
    """
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    locale = locale or pick_locale(rng)
    pool = pools(locale)
    male = rng.random() < 0.5
    first, last = _first(rng, pool, male), _surname(rng, pool)
    middle = rng.choice(pool.first_m if male else pool.first_f) if rng.random() < 0.4 else ""
    age = _age(rng)
    admission = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(0, 14 * 365))
    birth = admission - dt.timedelta(days=int(age * 365.25) + rng.randrange(1, 360))
    discharge = admission + dt.timedelta(days=rng.choice((1, 2, 3, 3, 4, 5, 6, 8, 11, 16)))
    city = rng.choice(pool.cities)
    relatives = tuple(
        Relative(_first(rng, pool, rel in ("husband", "son", "father", "brother")),
                 last if rng.random() < 0.7 else _surname(rng, pool), rel,
                 ids.phone(rng, locale), relative_age(rng, rel, age))
        for rel in rng.sample(RELATIONS, k=rng.randrange(1, 4)))
    clinicians = ((_clinician(rng, "attending", rng.choice(("MD", "MD", "DO"))),
                   _clinician(rng, "resident", "MD"), _clinician(rng, "nurse", "RN"),
                   _clinician(rng, "radiologist", "MD"), _clinician(rng, "pathologist", "MD"),
                   _clinician(rng, "pcp", rng.choice(("MD", "NP", "PA-C"))),
                   _clinician(rng, "consultant", "MD")) if staff else ())
    us = pools("en_US")
    institution = institution_name(rng, rng.choice(us.cities), rng.choice(us.last))
    other = institution_name(rng, rng.choice(us.cities), rng.choice(us.last))
    if other == institution:
        other = f"{rng.choice(us.cities)} Community Hospital"
    return NoteFacts(
        patient=patient, first=first, middle=middle, last=last, sex="M" if male else "F",
        age=age, birth_date=birth, admission=admission, discharge=discharge,
        street=rng.choice(pool.streets), city=city, state=rng.choice(pool.states),
        zip=rng.choice(pool.zips), phone=ids.phone(rng, locale),
        email=ids.email(rng, first, last, rng.choice(_FREE_MAIL)), ssn=ids.ssn(rng),
        mrn=ids.mrn(rng), account=ids.account(rng), health_plan=ids.health_plan(rng),
        drivers_license=ids.drivers_license(rng, last), device_id=ids.device(rng),
        plate=ids.plate(rng), vin=ids.vin(rng), ip=ids.ip_address(rng),
        url=ids.personal_url(rng, first, last), institution=institution,
        institution_phone=ids.phone(rng, "en_US"), institution_fax=ids.phone(rng, "en_US"),
        other_institution=other, relatives=relatives, clinicians=clinicians, locale=locale)


_TITLES = {"dr", "dr.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "miss", "mx.", "prof."}
_SUFFIXES = {"md", "do", "dds", "dvm", "phd", "jr.", "sr.", "ii", "iii", "iv", "v", "rn", "np"}


def name_parts(full: str) -> tuple[str, str]:
    """(first, last) of a written full name, without titles and post-nominals.

    "Dr. Ana Ruiz MD" -> ("Ana", "Ruiz"); "Ana da Silva" -> ("Ana", "da Silva"). The first
    word is taken as the given name: an EHR's single name field does not say where a
    multi-word given name ends, and notes mostly use the first one. ``last`` is empty
    when only one word is left.
    """
    words = full.replace(",", " ").split()
    while words and words[0].lower() in _TITLES:
        words.pop(0)
    while len(words) > 2 and words[-1].lower() in _SUFFIXES:
        words.pop()
    if not words:
        return "", ""
    return words[0], " ".join(words[1:])

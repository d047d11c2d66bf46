"""patients.csv → person, death, location (state + ZIP3 only), and the person index.

The patients file is held in memory (one short row per person; events are streamed). Each
row is checked first — Id present and unique, birth date a date, not after the reference
date, death not before birth — and a refused row is reported by line, never by value.
Birth dates go through the >89 rule (:func:`behindglass.deid.ages.cap_birth_years`) on the
true dates, then through the date mode; ZIP through :func:`behindglass.deid.geography.zip3`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from behindglass.deid.ages import cap_birth_years
from behindglass.deid.dates import deidentify_dates
from behindglass.deid.geography import load_restricted_zip3, zip3
from behindglass.deid.pseudonym import pseudonymize
from behindglass.deid.safe_harbor import DeidConfig
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import vocab
from behindglass.ingest.reader import CsvScan

EHR = 32817  # type concept: EHR


@dataclass
class PersonIndex:
    """The persons of this extract that passed their checks, by source key (true dates:
    ingest uses them only for plausibility checks, never writes them)."""

    keys: pa.Array  # source Id (string)
    person_id: np.ndarray  # int64 pseudonyms
    birth: np.ndarray  # datetime64[D]
    death: np.ndarray  # datetime64[D], NaT where alive
    known_ids: np.ndarray  # sorted person_ids already in the store (earlier loads)
    refused: pa.Array  # keys whose patients row was refused (their events are skipped)

    def find(self, patient: pa.Array) -> np.ndarray:
        """Row of each key in this index, -1 where it is not a person of this extract."""
        idx = pc.index_in(patient, value_set=self.keys)
        return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def in_store(self, person_ids: np.ndarray) -> np.ndarray:
        if not len(self.known_ids):
            return np.zeros(len(person_ids), dtype=bool)
        pos = np.searchsorted(self.known_ids, person_ids).clip(0, len(self.known_ids) - 1)
        return self.known_ids[pos] == person_ids


def pseudo(values: pa.Array, secret: SiteSecret, namespace: str) -> pa.Array:
    """Keyed ids of a column that may hold nulls (nulls stay null)."""
    valid = values.is_valid()
    out = np.zeros(len(values), dtype=np.int64)
    mask = valid.to_numpy(zero_copy_only=False)
    if mask.any():
        out[mask] = pseudonymize(values.filter(valid), secret, namespace)
    return pa.array(out, mask=~mask)


def _days(arr: pa.Array) -> np.ndarray:
    return arr.cast(pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")


PATIENT_COLUMNS = ["Id", "BIRTHDATE", "DEATHDATE", "GENDER", "RACE", "ETHNICITY", "STATE",
                   "ZIP"]


def read_patients(scan: CsvScan) -> pa.Table:
    """The whole patients file, with birth and death dates parsed (NULL if unparsable)."""
    select = ("ord, Id, TRY_CAST(left(BIRTHDATE, 10) AS DATE) AS birth, "
              "DEATHDATE IS NOT NULL AS has_death, "
              "TRY_CAST(left(DEATHDATE, 10) AS DATE) AS death, "
              "GENDER, RACE, ETHNICITY, STATE, ZIP")
    return scan.batches(PATIENT_COLUMNS, select).read_all()


def id_problems(ids: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Row masks (missing Id, Id repeating an earlier row's): the first row of an Id wins."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    missing = ids.is_null().to_numpy(zero_copy_only=False)
    keys = ids.fill_null("").to_numpy(zero_copy_only=False)
    _, first = np.unique(keys, return_index=True)
    duplicate = np.ones(len(keys), dtype=bool)
    duplicate[first] = False
    return missing, duplicate & ~missing


def check_patients(t: pa.Table, reference: dt.date) -> list[tuple[np.ndarray, str]]:
    """(row mask, reason) for each kind of bad patient row."""
    missing_id, duplicate = id_problems(t["Id"])
    birth = t["birth"].combine_chunks()
    death = t["death"].combine_chunks()
    no_birth = birth.is_null().to_numpy(zero_copy_only=False)
    bad_death = (t["has_death"].to_numpy() & death.is_null().to_numpy(zero_copy_only=False))
    b, d = _days(birth), _days(death)
    with np.errstate(invalid="ignore"):
        death_before = ~np.isnat(b) & ~np.isnat(d) & (d < b)
        future = ~np.isnat(b) & (b > np.datetime64(reference, "D"))
    return [
        (missing_id, "missing Id"),
        (duplicate, "duplicate Id (an earlier row has the same Id)"),
        (no_birth & ~missing_id, "BIRTHDATE is missing or not a date"),
        (bad_death, "DEATHDATE is not a date"),
        (death_before, "DEATHDATE before BIRTHDATE"),
        (future, "BIRTHDATE after the reference date"),
    ]


def person_tables(t: pa.Table, secret: SiteSecret, cfg: DeidConfig) -> dict[str, pa.Table]:
    """person, death and location rows of the (already checked) patients ``t``."""
    keys = t["Id"].combine_chunks()
    person_id = pseudonymize(keys, secret, "person")
    birth = t["birth"].combine_chunks()
    death = t["death"].combine_chunks()
    bd = _days(birth)
    years = bd.astype("datetime64[Y]").astype(np.int64) + 1970
    months = bd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (bd - bd.astype("datetime64[M]")).astype(np.int64) + 1
    capped = cap_birth_years(years, months, days, reference_date=cfg.reference_date,
                             death_dates=death, mode=cfg.date_mode)
    n = len(t)
    year = capped.year_of_birth.astype(np.int64)
    month, day = capped.month_of_birth, capped.day_of_birth
    birth_dt = pa.nulls(n, pa.timestamp("us"))
    if cfg.date_mode == "shift":
        shifted = _days(deidentify_dates(birth, mode="shift", person_keys=keys, secret=secret,
                                         max_days=cfg.max_shift_days))
        keep = ~capped.over_89
        year = np.where(keep, shifted.astype("datetime64[Y]").astype(np.int64) + 1970, year)
        m = shifted.astype("datetime64[M]").astype(np.int64) % 12 + 1
        d = (shifted - shifted.astype("datetime64[M]")).astype(np.int64) + 1
        month = pa.array(m.astype(np.int32), mask=~keep)
        day = pa.array(d.astype(np.int32), mask=~keep)
        birth_dt = pa.array(shifted.astype("datetime64[us]"), mask=~keep)
    location_id, loc = locations(t["STATE"].combine_chunks(), t["ZIP"].combine_chunks(),
                                 secret, cfg)
    gender = t["GENDER"].combine_chunks()
    race = t["RACE"].combine_chunks()
    eth = t["ETHNICITY"].combine_chunks()
    person = pa.table({
        "person_id": person_id, "gender_concept_id": vocab.lookup(gender, vocab.GENDER),
        "year_of_birth": year.astype(np.int32), "month_of_birth": month,
        "day_of_birth": day, "birth_datetime": birth_dt,
        "race_concept_id": vocab.lookup(race, vocab.RACE),
        "ethnicity_concept_id": vocab.lookup(eth, vocab.ETHNICITY),
        "location_id": location_id, "gender_source_value": gender,
        "gender_source_concept_id": np.zeros(n, np.int64), "race_source_value": race,
        "race_source_concept_id": np.zeros(n, np.int64), "ethnicity_source_value": eth,
        "ethnicity_source_concept_id": np.zeros(n, np.int64),
        "_ord": t["ord"],
    })
    dead = death.is_valid()
    death_deid = deidentify_dates(death.filter(dead), mode=cfg.date_mode,
                                  person_keys=keys.filter(dead), secret=secret,
                                  max_days=cfg.max_shift_days)
    death_rows = pa.table({
        "person_id": pa.array(person_id).filter(dead), "death_date": death_deid,
        "death_datetime": death_deid.cast(pa.timestamp("us")),
        "death_type_concept_id": pa.array(np.full(len(death_deid), EHR, np.int64)),
    })
    return {"person": person, "death": death_rows, "location": loc}


def locations(state: pa.Array, zip_: pa.Array, secret: SiteSecret,
              cfg: DeidConfig) -> tuple[pa.Array, pa.Table]:
    """(location_id per row, location rows) from STATE and ZIP: ZIP → ZIP3 (restricted
    prefixes '000'), the id a keyed pseudonym of "state|zip3", so persons and care sites
    of one place share a location row; nothing else of an address is kept."""
    z3 = zip3(zip_, restricted=load_restricted_zip3(cfg.restricted_zip3_version))
    has_place = pc.or_(state.is_valid(), z3.is_valid())
    place_key = pc.binary_join_element_wise(state.fill_null(""), z3.fill_null(""), "|")
    location_id = pseudo(pc.if_else(has_place, place_key, pa.scalar(None, pa.string())),
                         secret, "location")
    loc = pa.table({"location_id": location_id, "state": state, "zip": z3}).filter(has_place)
    return location_id, loc


def person_index(t: pa.Table, secret: SiteSecret, known_ids: np.ndarray,
                 refused: pa.Array) -> PersonIndex:
    keys = t["Id"].combine_chunks()
    refused = pc.filter(refused, pc.invert(pc.is_in(refused, keys))).drop_null()
    return PersonIndex(keys, pseudonymize(keys, secret, "person"),
                       _days(t["birth"].combine_chunks()), _days(t["death"].combine_chunks()),
                       np.sort(known_ids.astype(np.int64)), refused)

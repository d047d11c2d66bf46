"""The Synthea event files → OMOP event tables, one Arrow batch at a time.

encounters → visit_occurrence; conditions → condition_occurrence; medications →
drug_exposure; observations → measurement (numeric value with a unit) or observation;
procedures → procedure_occurrence (the other event files reuse :class:`EventMapper` with
their own builders: :mod:`.synthea_extra_events`, :mod:`.synthea_sites`). For every row:

* checks first (missing PATIENT, unparsable or missing dates, STOP before START, an event
  before birth or more than ``tolerance_days`` after death, a PATIENT that is neither in
  this extract nor in the store); a refused row is reported by its ordinal → line;
* ``person_id`` / ``visit_occurrence_id`` / provider / care_site ids are keyed pseudonyms;
* every date goes through :func:`behindglass.deid.dates.deidentify_dates` keyed on the
  source PATIENT, so shift mode moves all of a person's dates together;
* codes → standard concepts (:class:`~behindglass.ingest.vocab.CodeMap`), code kept in
  ``*_source_value``; DESCRIPTION and text values are never loaded (free text).

Rows without a source id (all but encounters) get a keyed id of their natural key (PATIENT,
ENCOUNTER, CODE, dates, value and the occurrence number of that key), so re-ingesting the
same extract yields the same ids and the merge can skip rows already in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from behindglass.deid.dates import deidentify_dates
from behindglass.deid.safe_harbor import DeidConfig
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import vocab
from behindglass.ingest.persons import EHR, PersonIndex, pseudo
from behindglass.ingest.reader import SyntheaFile

EHR_PRESCRIPTION, LAB = 32838, 32856

_TS = "TRY_CAST(replace(replace({c}, 'T', ' '), 'Z', '') AS TIMESTAMP)"


@dataclass(frozen=True)
class FileMap:
    """How one Synthea file is read: its columns, start/stop columns and natural key.

    ``start`` / ``stop`` are columns or SQL text expressions over the catalogued columns
    (payer_transitions falls back to START_YEAR / END_YEAR of older exports).
    """

    columns: tuple[str, ...]
    start: str
    stop: str | None
    key: tuple[str, ...]
    extra: str = ""  # more SQL select items
    where: str = ""  # SQL after ``FROM src``, e.g. a QUALIFY keeping one row per study
    visit: str | None = "ENCOUNTER"  # the column joined to this extract's encounters
    join: tuple[str, str] | None = None  # (select items, JOIN clause) of a lookup table
    #: coverage periods of year-only exports start on 1 January, maybe before the birth
    check_birth: bool = True


FILES: dict[str, FileMap] = {
    "encounters": FileMap(("Id", "START", "STOP", "PATIENT", "ORGANIZATION", "PROVIDER",
                           "ENCOUNTERCLASS", "CODE"), "START", "STOP", ("Id",), visit="Id"),
    "conditions": FileMap(("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE"), "START",
                          "STOP", ("PATIENT", "ENCOUNTER", "CODE", "START", "STOP")),
    "medications": FileMap(("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DISPENSES"),
                           "START", "STOP", ("PATIENT", "ENCOUNTER", "CODE", "START", "STOP"),
                           ", TRY_CAST(DISPENSES AS DOUBLE) AS quantity"),
    "procedures": FileMap(("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE"), "START",
                          "STOP", ("PATIENT", "ENCOUNTER", "CODE", "START", "STOP")),
    "observations": FileMap(("DATE", "PATIENT", "ENCOUNTER", "CODE", "VALUE", "UNITS"), "DATE",
                            None, ("PATIENT", "ENCOUNTER", "CODE", "DATE", "VALUE", "UNITS"),
                            ", TRY_CAST(VALUE AS DOUBLE) AS number"),
}


def event_key(secret: SiteSecret) -> str:
    """The key of event-row ids: an HMAC of the site secret (never the secret itself)."""
    return secret.keyed("event-row-id").hexdigest()


def select_sql(stem: str, key: str, fm: FileMap | None = None) -> tuple[list[str], str]:
    """(columns, select list over ``src``) for one file.

    ``eid`` is the row's id: SHA-256 of the derived ``key`` and the row's natural key,
    computed by DuckDB (vectorised, all cores) rather than one Python HMAC per row. The key
    prefix makes it keyed: without the secret nobody can recompute an id from a guessed
    date, so ids leak nothing about the true dates they were derived from.
    """
    fm = fm or FILES[stem]
    stop = _TS.format(c=fm.stop) if fm.stop else "CAST(NULL AS TIMESTAMP)"
    has_stop = f"({fm.stop}) IS NOT NULL" if fm.stop else "false"
    natural = "concat_ws('|', " + ", ".join(f"coalesce({k}, '')" for k in fm.key) + ")"
    # Rows are numbered within groups of equal 64-bit hashes of the natural key, which
    # partitions far faster than the long text. A hash collision between different keys
    # only renumbers those rows; their digests still differ by the text itself.
    parts = ", ".join(f"coalesce({k}, '')" for k in fm.key)
    occurrence = f"row_number() OVER (PARTITION BY hash({parts}) ORDER BY ord)"
    digest = f"sha256('{key}|{stem}|' || {natural} || '#' || {occurrence})"
    others = [c for c in fm.columns if c not in (fm.start, fm.stop)]
    select = (
        f"ord, {', '.join(others)}, {_TS.format(c=fm.start)} AS start_ts, "
        f"{stop} AS stop_ts, {has_stop} AS has_stop, "
        f"CAST(('0x' || left({digest}, 16))::UBIGINT % 9223372036854775807 + 1 AS BIGINT) "
        f"AS eid{fm.extra}"
    )
    return list(fm.columns), select


@dataclass
class BatchResult:
    """OMOP rows of one batch, the refused rows and the unmapped codes."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    problems: list[tuple[np.ndarray, str]] = field(default_factory=list)  # (ordinals, why)
    unmapped: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # rows of persons whose patients row was refused (reported there)


@dataclass
class EventMapper:
    """Maps batches of one Synthea event file."""

    file: SyntheaFile
    persons: PersonIndex
    secret: SiteSecret
    cfg: DeidConfig
    codes: vocab.CodeMap
    tolerance_days: int = 1
    #: builds the OMOP tables of a file mapped outside this module (synthea_extra_events …)
    build: Callable[[EventMapper, pa.RecordBatch, dict], dict[str, pa.Table]] | None = None
    sources: vocab.CodeMap | None = None  # any catalogued concept, for *_source_concept_id
    check_birth: bool = True

    def _checks(self, b: pa.RecordBatch, res: BatchResult) -> np.ndarray:
        """Flag bad rows into ``res``; return the mask of rows to load."""
        ords = b["ord"].to_numpy()
        patient = b["PATIENT"]
        start = b["start_ts"].cast(pa.date32())
        stop = b["stop_ts"].cast(pa.date32())
        s = start.to_numpy(zero_copy_only=False).astype("datetime64[D]")
        e = stop.to_numpy(zero_copy_only=False).astype("datetime64[D]")
        no_patient = patient.is_null().to_numpy(zero_copy_only=False)
        bad_start = np.isnat(s)
        bad_stop = b["has_stop"].to_numpy(zero_copy_only=False) & np.isnat(e)
        with np.errstate(invalid="ignore"):
            reversed_ = ~np.isnat(s) & ~np.isnat(e) & (e < s)
        here = b["pid"].is_valid().to_numpy(zero_copy_only=False)
        # A refused patient row is reported once, in patients.csv; its events just go.
        refused = pc.is_in(patient, self.persons.refused).to_numpy(zero_copy_only=False)
        res.skipped += int(refused.sum())
        ids = self._person_ids(b).fill_null(0).to_numpy()
        unknown = ~no_patient & ~here & ~self.persons.in_store(ids)
        tol = np.timedelta64(self.tolerance_days, "D")
        birth = b["p_birth"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
        death = b["p_death"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
        with np.errstate(invalid="ignore"):
            before_birth = here & ~np.isnat(s) & (s < birth - tol) & self.check_birth
            after_death = here & ~np.isnat(death) & ~np.isnat(s) & (s > death + tol)
        checks = [
            (no_patient, "missing PATIENT"),
            (bad_start & ~no_patient, "start date is missing or not a date"),
            (bad_stop, "STOP is not a date"),
            (reversed_, "STOP before START"),
            (unknown, "PATIENT is neither in patients.csv nor in the store"),
            (before_birth, f"event more than {self.tolerance_days} days before BIRTHDATE"),
            (after_death, f"event more than {self.tolerance_days} days after DEATHDATE"),
        ]
        bad = refused.copy()
        for mask, reason in checks:
            mask = mask & ~bad  # one reason per row: the first that applies
            if mask.any():
                res.problems.append((ords[mask], reason))
            bad |= mask
        return ~bad

    def _person_ids(self, b: pa.RecordBatch) -> pa.Array:
        """person_id of each row: joined from this extract's persons, else keyed here
        (a person of an earlier load)."""
        pid = b["pid"]
        if pid.null_count == 0:
            return pid
        return pc.coalesce(pid, pseudo(b["PATIENT"], self.secret, "person"))

    def _visit_ids(self, b: pa.RecordBatch, column: str) -> pa.Array | None:
        """visit ids, joined from the encounters of this extract, else keyed here."""
        if "vid" not in b.schema.names:
            return None
        vid = b["vid"]
        missing = pc.and_(vid.is_null(), b[column].is_valid())
        if not pc.any(missing).as_py():
            return vid
        return pc.coalesce(vid, pseudo(b[column], self.secret, "visit"))

    def _dates(self, b: pa.RecordBatch) -> tuple[pa.Array, pa.Array]:
        keys = b["PATIENT"]
        out = []
        for col in ("start_ts", "stop_ts"):
            out.append(deidentify_dates(b[col], mode=self.cfg.date_mode, person_keys=keys,
                                        secret=self.secret, max_days=self.cfg.max_shift_days))
        return out[0], out[1]

    def _concepts(self, b: pa.RecordBatch, res: BatchResult, sources: np.ndarray) -> np.ndarray:
        stem = self.file.stem
        default = vocab.DEFAULT_VOCABULARY[stem]
        vocabulary: str | pa.Array = default
        if "SYSTEM" in b.schema.names and b["SYSTEM"].null_count < len(b):
            vocabulary = vocab.vocabulary_of(b["SYSTEM"], default)
        ids = self.codes.map(b["CODE"], vocabulary)
        missing = (ids == 0) & b["CODE"].is_valid().to_numpy(zero_copy_only=False)
        if missing.any() and self.sources is not None:
            # a code with a known (non-standard) source concept is mapped as far as OMOP
            # allows (care plans): not a gap for the vocabulary mapper
            missing &= sources == 0
        if missing.any():
            counts = pc.value_counts(b["CODE"].filter(pa.array(missing)))
            for item in counts.to_pylist():
                res.unmapped[item["values"]] = res.unmapped.get(item["values"], 0) + item["counts"]
        return ids

    def source_concepts(self, b: pa.RecordBatch) -> np.ndarray:
        """Concept ids of the source codes, standard or not (0 where unknown)."""
        if self.sources is None:
            return np.zeros(len(b), dtype=np.int64)
        default = vocab.DEFAULT_VOCABULARY[self.file.stem]
        vocabulary: str | pa.Array = default
        if "SYSTEM" in b.schema.names and b["SYSTEM"].null_count < len(b):
            vocabulary = vocab.vocabulary_of(b["SYSTEM"], default)
        return self.sources.map(b["CODE"], vocabulary)

    def map(self, batch: pa.RecordBatch) -> BatchResult:
        res = BatchResult()
        ok = self._checks(batch, res)
        b = batch.filter(pa.array(ok))
        if not len(b):
            return res
        start, stop = self._dates(b)
        stem = self.file.stem
        coded = stem != "encounters" and stem in vocab.DEFAULT_VOCABULARY
        sources = self.source_concepts(b) if coded else np.zeros(len(b), np.int64)
        common = {
            "person_id": self._person_ids(b),
            "start": start.cast(pa.date32()), "start_dt": start,
            "stop": stop.cast(pa.date32()), "stop_dt": stop,
            "visit": self._visit_ids(b, "ENCOUNTER" if stem != "encounters" else "Id"),
            "concept": self._concepts(b, res, sources) if coded else None,
            "source_concept": sources,
            "code": b["CODE"] if "CODE" in b.schema.names else None, "_ord": b["ord"],
        }
        if self.build is not None:
            res.tables.update(self.build(self, b, common))
        else:
            res.tables.update(getattr(self, f"_{stem}")(b, common))
        return res

    def _encounters(self, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
        n = len(b)
        return {"visit_occurrence": pa.table({
            "visit_occurrence_id": c["visit"],
            "person_id": c["person_id"],
            "visit_concept_id": vocab.lookup(b["ENCOUNTERCLASS"], vocab.VISIT_CLASS),
            "visit_start_date": c["start"], "visit_start_datetime": c["start_dt"],
            "visit_end_date": pc.coalesce(c["stop"], c["start"]),
            "visit_end_datetime": pc.coalesce(c["stop_dt"], c["start_dt"]),
            "visit_type_concept_id": np.full(n, EHR, np.int64),
            "provider_id": pseudo(b["PROVIDER"], self.secret, "provider"),
            "care_site_id": pseudo(b["ORGANIZATION"], self.secret, "care_site"),
            "visit_source_value": b["CODE"], "visit_source_concept_id": np.zeros(n, np.int64),
            "_ord": c["_ord"],
        })}

    def _conditions(self, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
        n = len(b)
        return {"condition_occurrence": pa.table({
            "condition_occurrence_id": b["eid"],
            "person_id": c["person_id"], "condition_concept_id": c["concept"],
            "condition_start_date": c["start"], "condition_start_datetime": c["start_dt"],
            "condition_end_date": c["stop"], "condition_end_datetime": c["stop_dt"],
            "condition_type_concept_id": np.full(n, EHR, np.int64),
            "visit_occurrence_id": c["visit"], "condition_source_value": c["code"],
            "condition_source_concept_id": c["source_concept"], "_ord": c["_ord"],
        })}

    def _medications(self, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
        n = len(b)
        # Days supply from the true dates: a quantity, not a date element (docs/ingest.md).
        s = b["start_ts"].cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
        stop = b["stop_ts"].cast(pa.date32())
        e = stop.cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
        supply = pa.array((e - s).astype(np.int32), mask=stop.is_null().to_numpy(
            zero_copy_only=False))
        return {"drug_exposure": pa.table({
            "drug_exposure_id": b["eid"],
            "person_id": c["person_id"], "drug_concept_id": c["concept"],
            "drug_exposure_start_date": c["start"], "drug_exposure_start_datetime": c["start_dt"],
            "drug_exposure_end_date": pc.coalesce(c["stop"], c["start"]),
            "drug_exposure_end_datetime": pc.coalesce(c["stop_dt"], c["start_dt"]),
            "drug_type_concept_id": np.full(n, EHR_PRESCRIPTION, np.int64),
            "quantity": b["quantity"], "days_supply": supply,
            "visit_occurrence_id": c["visit"], "drug_source_value": c["code"],
            "drug_source_concept_id": c["source_concept"], "_ord": c["_ord"],
        })}

    def _procedures(self, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
        n = len(b)
        return {"procedure_occurrence": pa.table({
            "procedure_occurrence_id": b["eid"],
            "person_id": c["person_id"], "procedure_concept_id": c["concept"],
            "procedure_date": c["start"], "procedure_datetime": c["start_dt"],
            "procedure_end_date": c["stop"], "procedure_end_datetime": c["stop_dt"],
            "procedure_type_concept_id": np.full(n, EHR, np.int64),
            "visit_occurrence_id": c["visit"], "procedure_source_value": c["code"],
            "procedure_source_concept_id": c["source_concept"], "_ord": c["_ord"],
        })}

    def _observations(self, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
        number = b["number"]
        is_meas = pc.and_(number.is_valid(), b["UNITS"].is_valid()).to_numpy(
            zero_copy_only=False)
        ids = b["eid"]  # one id per source row, whichever table the row lands in
        units = vocab.lookup(b["UNITS"], vocab.UNITS, lower=False)
        value_concept = vocab.lookup(b["VALUE"], vocab.VALUE_CONCEPTS)
        n = len(b)
        base = {"person_id": c["person_id"], "concept": c["concept"], "date": c["start"],
                "dt": c["start_dt"], "visit": c["visit"], "code": c["code"],
                "_ord": c["_ord"]}
        meas = pa.table({
            "measurement_id": ids, "person_id": base["person_id"],
            "measurement_concept_id": base["concept"], "measurement_date": base["date"],
            "measurement_datetime": base["dt"],
            "measurement_type_concept_id": np.full(n, LAB, np.int64),
            "value_as_number": number, "unit_concept_id": units,
            "visit_occurrence_id": base["visit"], "measurement_source_value": base["code"],
            "measurement_source_concept_id": c["source_concept"],
            "unit_source_value": b["UNITS"], "_ord": base["_ord"],
        }).filter(pa.array(is_meas))
        obs = pa.table({
            "observation_id": ids, "person_id": base["person_id"],
            "observation_concept_id": base["concept"], "observation_date": base["date"],
            "observation_datetime": base["dt"],
            "observation_type_concept_id": np.full(n, EHR, np.int64),
            "value_as_number": number, "value_as_concept_id": value_concept,
            "visit_occurrence_id": base["visit"], "observation_source_value": base["code"],
            "observation_source_concept_id": c["source_concept"],
            "unit_source_value": b["UNITS"], "_ord": base["_ord"],
        }).filter(pa.array(~is_meas))
        return {"measurement": meas, "observation": obs}

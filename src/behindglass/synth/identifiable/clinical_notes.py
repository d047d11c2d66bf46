"""Clinical notes of the identifiable extract, written from the persons' own identities.

Which events get a note (adults only, 18+ at the event: the templates describe adult
medicine):

| event | note | share |
|---|---|---|
| inpatient stay | discharge summary | every stay |
| inpatient stay | ICU nursing note (all caps) | 35 % of stays |
| inpatient stay | pathology report | 8 % of stays |
| imaging study | radiology report (chest x-ray or breast ultrasound) | every study |
| ambulatory visit | clinic letter | 0.4 % of visits |
| ambulatory visit | telephone / portal message | 0.2 % of visits |

Each note is rendered by ``synth.notes`` from a :class:`NoteFacts` filled with the
patient's identity as written to patients.csv / patient_contacts.csv /
payer_transitions.csv / devices.csv (name, birth date, address, phone, e-mail, SSN, MRN,
account, member id, driver's licence, device UDI, next of kin), the encounter's dates,
organization phone and provider, and other providers of the site as the other clinicians.
Values no structured file holds (plate, VIN, IP, personal URL, fax, a second hospital, and
a member id, licence or device serial where the extract has none) are drawn here and
appear only in notes. Every span is a note_spans.jsonl line with its offsets; the spans
that identify on their own are identifiers.jsonl lines as well.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Sequence
from json.encoder import encode_basestring as _quote  # type: ignore[attr-defined]

import numpy as np

from behindglass.synth.identifiable.synthea_csv import as_list, uuids
from behindglass.synth.notes import Note, facts_from_faker, write_note
from behindglass.synth.notes import identifiers as note_ids
from behindglass.synth.notes.facts import (
    Clinician,
    NoteFacts,
    Relative,
    institution_name,
    name_parts,
    pools,
    relative_age,
)

NOTES_STREAM = 0x4E  # extra seed word: notes never share another table's stream
ADULT = 18
SHARES = {"icu_nursing": 0.35, "pathology": 0.08, "clinic_letter": 0.004, "telephone": 0.002}
# kind -> (LOINC document type, display); TYPE in notes.csv is the display.
DOCUMENT_TYPES = {
    "discharge_summary": ("18842-5", "Discharge summary"),
    "icu_nursing": ("34746-8", "Nurse Note"),
    "radiology": ("18748-4", "Diagnostic imaging study"),
    "pathology": ("11526-1", "Pathology study"),
    "clinic_letter": ("11488-4", "Consult note"),
    "telephone": ("34748-4", "Telephone encounter Note"),
}
# note span label -> truth class. Every span is a line of note_spans.jsonl; identifiers.jsonl
# (the store-wide leak check: exact cell matches) lists only the classes that identify on
# their own. A date or an age over 89 ("2018-07-01", "90") also occurs as an ordinary cell
# of a de-identified store, and STATE is kept by Safe Harbor (as patients.csv STATE is).
TRUTH_CLASS = {
    "STATE": "state",
    "NAME": "name", "STREET": "address", "CITY": "address", "ZIP": "zip", "DATE": "date",
    "AGE": "age", "PHONE": "phone", "FAX": "fax", "EMAIL": "email", "SSN": "ssn",
    "MRN": "mrn", "HEALTH_PLAN": "health_plan", "ACCOUNT": "account", "LICENSE": "license",
    "VEHICLE": "vehicle", "DEVICE": "device", "URL": "url", "IP": "ip",
    "INSTITUTION": "institution",
}
STORE_CLASSES = frozenset(TRUTH_CLASS.values()) - {"date", "age", "state"}
_ROLES = (("resident", "MD"), ("nurse", "RN"), ("radiologist", "MD"), ("pathologist", "MD"),
          ("pcp", "MD"), ("consultant", "MD"))


@dataclasses.dataclass(frozen=True)
class Job:
    encounter: int  # row in encounters
    kind: str
    template: str | None
    when: str  # ISO datetime of the note (notes.csv DATE)
    event: dt.date | None


def _day(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso[:10])


def _years(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def plan(cols: dict[str, dict[str, object]], rng: np.random.Generator) -> list[Job]:
    """Which encounters and studies get which note, in encounter order."""
    enc = cols["encounters"]
    klass = as_list(enc["ENCOUNTERCLASS"])
    start, stop = as_list(enc["START"]), as_list(enc["STOP"])
    pats = as_list(enc["PATIENT"])
    births = dict(zip(as_list(cols["patients"]["Id"]), as_list(cols["patients"]["BIRTHDATE"]),
                      strict=True))
    draw = rng.random((len(klass), 3))
    row_of = {eid: i for i, eid in enumerate(as_list(enc["Id"]))}
    jobs: list[Job] = []
    for i, kind in enumerate(klass):
        if kind not in ("inpatient", "ambulatory"):
            continue
        if _years(_day(births[pats[i]]), _day(start[i])) < ADULT:
            continue
        u = draw[i]
        if kind == "inpatient":
            jobs.append(Job(i, "discharge_summary", None, stop[i], None))
            if u[0] < SHARES["icu_nursing"]:
                jobs.append(Job(i, "icu_nursing", None, start[i], None))
            if u[1] < SHARES["pathology"]:
                jobs.append(Job(i, "pathology", None, start[i], _day(start[i])))
        elif u[2] < SHARES["clinic_letter"]:
            jobs.append(Job(i, "clinic_letter", None, start[i], _day(start[i])))
        elif u[2] < SHARES["clinic_letter"] + SHARES["telephone"]:
            jobs.append(Job(i, "telephone", None, start[i], _day(start[i])))
    studies = cols.get("imaging_studies")
    if studies is not None:
        seen: set[str] = set()
        for sid, when, visit, modality in zip(
                as_list(studies["Id"]), as_list(studies["DATE"]),
                as_list(studies["ENCOUNTER"]), as_list(studies["MODALITY_CODE"]), strict=True):
            if sid in seen:
                continue  # one row per instance; one report per study
            seen.add(sid)
            row = row_of[visit]
            if _years(_day(births[pats[row]]), _day(when)) >= ADULT:
                template = "breast_ultrasound" if modality == "US" else "chest_xray"
                jobs.append(Job(row, "radiology", template, when, _day(when)))
    order = {k: n for n, k in enumerate(DOCUMENT_TYPES)}
    jobs.sort(key=lambda j: (j.encounter, order[j.kind], j.when))
    return jobs


class _Identities:
    """Per-patient NoteFacts from the block's Synthea columns (built on first use)."""

    def __init__(self, cols: dict[str, dict[str, object]], site: dict[str, dict[str, object]],
                 institution: str, extract: dt.date) -> None:
        p, c = cols["patients"], cols["patient_contacts"]
        self.rows = {pid: i for i, pid in enumerate(as_list(p["Id"]))}
        self.p = {k: as_list(p[k]) for k in ("FIRST", "LAST", "GENDER", "BIRTHDATE", "ADDRESS",
                                             "CITY", "STATE", "ZIP", "SSN", "DRIVERS")}
        self.c = {k: as_list(c[k]) for k in ("MRN", "ACCOUNT", "PHONE", "EMAIL",
                                             "CONTACT_NAME", "CONTACT_RELATIONSHIP",
                                             "CONTACT_PHONE")}
        self.member = _first_per_patient(cols.get("payer_transitions"), "MEMBERID")
        self.udi = _cardiac_devices(cols.get("devices"))
        prov = site["providers"]
        self.providers = {pid: name_parts(str(n)) for pid, n in zip(
            as_list(prov["Id"]), as_list(prov["NAME"]), strict=True)}
        self.provider_ids = sorted(self.providers)
        orgs = site["organizations"]
        self.org_phone = dict(zip(as_list(orgs["Id"]), as_list(orgs["PHONE"]), strict=True))
        self.institution = institution
        self.extract = extract  # the extract date: ages before the first note are not used
        self._facts: dict[str, NoteFacts] = {}
        self._clinicians: dict[str, Clinician] = {}

    def clinician(self, provider: str, role: str, credential: str) -> Clinician | None:
        key = f"{provider}/{role}"
        if key not in self._clinicians:
            first, last = self.providers.get(provider, ("", ""))
            if not first or not last:
                return None
            stable = random.Random(provider)  # one NPI and DEA per provider, in every note
            self._clinicians[key] = Clinician(first, last, role, credential,
                                              note_ids.npi(stable), note_ids.dea(stable, last))
        return self._clinicians[key]

    def base(self, patient: str, rng: random.Random) -> NoteFacts:
        if patient in self._facts:
            return self._facts[patient]
        i = self.rows[patient]
        p, c = self.p, self.c
        first, last = p["FIRST"][i], p["LAST"][i]
        birth = _day(p["BIRTHDATE"][i])
        us = pools("en_US")
        kin_first, kin_last = name_parts(c["CONTACT_NAME"][i])
        relation = c["CONTACT_RELATIONSHIP"][i] or "friend"
        if not (kin_first and kin_last):  # a one-word contact name: a neighbour, say
            kin_first, kin_last, relation = rng.choice(us.first_f), last, "friend"
        age = _years(birth, self.extract)
        # Everything identities.py wrote comes from the extract; values no structured
        # file holds (plate, VIN, IP, URL, fax, a second hospital) are drawn here.
        facts = NoteFacts(
            patient=patient, first=first, middle="", last=last, sex=p["GENDER"][i], age=age,
            birth_date=birth, admission=self.extract, discharge=self.extract,
            street=p["ADDRESS"][i], city=p["CITY"][i], state=p["STATE"][i], zip=p["ZIP"][i],
            phone=c["PHONE"][i], email=c["EMAIL"][i], ssn=p["SSN"][i], mrn=c["MRN"][i],
            account=c["ACCOUNT"][i],
            health_plan=self.member.get(patient) or note_ids.health_plan(rng),
            drivers_license=p["DRIVERS"][i] or note_ids.drivers_license(rng, last),
            device_id=self.udi.get(patient) or note_ids.device(rng),
            plate=note_ids.plate(rng), vin=note_ids.vin(rng), ip=note_ids.ip_address(rng),
            url=note_ids.personal_url(rng, first, last), institution=self.institution,
            institution_phone="", institution_fax=note_ids.phone(rng),
            other_institution=institution_name(rng, rng.choice(us.cities),
                                               rng.choice(us.last)),
            relatives=(Relative(kin_first, kin_last, relation, c["CONTACT_PHONE"][i],
                                relative_age(rng, relation, age)),),
            clinicians=())
        self._facts[patient] = facts
        return facts

    def for_job(self, base: NoteFacts, job: Job, enc: dict[str, list], rng: random.Random,
                ) -> NoteFacts:
        i = job.encounter
        start, stop = _day(enc["START"][i]), _day(enc["STOP"][i])
        if job.kind in ("clinic_letter", "telephone"):
            # An earlier stay for the letter's or message's history.
            admission = start - dt.timedelta(days=rng.randrange(20, 200))
            discharge = admission + dt.timedelta(days=rng.randrange(1, 7))
        else:
            admission, discharge = start, max(stop, start)
        attending = self.clinician(enc["PROVIDER"][i], "attending", "MD")
        others = [self.clinician(self.provider_ids[rng.randrange(len(self.provider_ids))],
                                 role, credential) for role, credential in _ROLES]
        clinicians = tuple(c for c in (attending, *others) if c is not None) or (
            facts_from_faker(rng, "en_US").clinicians)
        phone = self.org_phone.get(enc["ORGANIZATION"][i]) or base.institution_phone
        return dataclasses.replace(
            base, age=_years(base.birth_date, admission), admission=admission,
            discharge=discharge, event=job.event, institution_phone=phone,
            clinicians=clinicians)


def _first_per_patient(table: dict[str, object] | None, column: str) -> dict[str, str]:
    if table is None:
        return {}
    found: dict[str, str] = {}
    for pid, value in zip(as_list(table["PATIENT"]), as_list(table[column]), strict=True):
        if value and pid not in found:
            found[pid] = str(value)
    return found


def _cardiac_devices(table: dict[str, object] | None) -> dict[str, str]:
    """The UDI of each patient's first pacemaker or defibrillator: the device the notes
    talk about (a stent or a face mask has no serial a note would quote)."""
    if table is None:
        return {}
    found: dict[str, str] = {}
    for pid, what, udi in zip(as_list(table["PATIENT"]), as_list(table["DESCRIPTION"]),
                              as_list(table["UDI"]), strict=True):
        if udi and pid not in found and ("pacemaker" in what or "defibrillator" in what):
            found[pid] = str(udi)
    return found


def site_institution(profile_name: str, city: str, seed: int) -> str:
    """The health system's name as notes write it (one per site and seed)."""
    rng = random.Random(f"behindglass-notes-institution/{profile_name}/{seed}")
    return institution_name(rng, city, rng.choice(pools("en_US").last))


def render(jobs: Sequence[Job], cols: dict[str, dict[str, object]],
           site: dict[str, dict[str, object]], rng: np.random.Generator, institution: str,
           extract: dt.date) -> tuple[list[Note], list[str]]:
    """The notes of the planned jobs and their ids (UUIDs)."""
    enc = {k: as_list(cols["encounters"][k]) for k in ("START", "STOP", "PATIENT",
                                                        "ORGANIZATION", "PROVIDER")}
    ids = [str(v) for v in uuids(rng, len(jobs))]
    seeds = rng.integers(0, 2 ** 63, len(jobs)).tolist()
    who = _Identities(cols, site, institution, extract)
    notes = []
    for job, note_id, seed in zip(jobs, ids, seeds, strict=True):
        note_rng = random.Random(seed)
        base = who.base(enc["PATIENT"][job.encounter], note_rng)
        facts = who.for_job(base, job, enc, note_rng)
        notes.append(write_note(job.kind, facts, note_rng, note_id, job.template))
    return notes, ids


def span_lines(note: Note, file: str, column: str, where: str,
               ) -> tuple[list[str], list[str]]:
    """(note_spans.jsonl lines, identifiers.jsonl lines) of a note's spans.

    ``where`` names the note's key: "row" (notes.csv Id) or "resource" (DocumentReference
    id). Both files share the line layout: person, class, value, file, column, key, start,
    end, label, subtype.
    """
    head = f'{{"person": "{note.patient}", "class": "'
    tail = (f', "file": {_quote(file)}, "column": {_quote(column)}, '
            f'"{where}": "{note.id}", ')
    spans, store = [], []
    for s in note.spans:
        kind = TRUTH_CLASS[s.label]
        subtype = "null" if s.subtype is None else _quote(s.subtype)
        line = (f'{head}{kind}", "value": {_quote(s.text)}{tail}"start": {s.start}, '
                f'"end": {s.end}, "label": "{s.label}", "subtype": {subtype}}}\n')
        spans.append(line)
        if kind in STORE_CLASSES:
            store.append(line)
    return spans, store

"""A small identifiable Synthea-format extract, written by hand, with identifiers planted.

Shared by the ``test_ingest_*`` modules. Every planted identifier is listed in
``PLANTED`` so tests can prove none of them reaches the store.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb

from behindglass.deid.safe_harbor import DeidConfig
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import vocab
from behindglass.omop.schema import CATEGORIES as CATEGORIES_OF_TABLES

REFERENCE = dt.date(2026, 1, 1)
SECRET = SiteSecret(b"ingest-test-secret-0123456789abcdef")
OTHER_SECRET = SiteSecret(b"another-site-secret-0123456789abcd")
T2D_CODE, HTN_CODE, UNKNOWN_CODE = "44054006", "59621000", "999999999"

PATIENT_HEADER = ["Id", "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX",
                  "FIRST", "LAST", "SUFFIX", "MAIDEN", "MARITAL", "RACE", "ETHNICITY",
                  "GENDER", "BIRTHPLACE", "ADDRESS", "CITY", "STATE", "COUNTY", "FIPS", "ZIP",
                  "LAT", "LON", "HEALTHCARE_EXPENSES", "HEALTHCARE_COVERAGE", "INCOME",
                  "PHONE"]  # PHONE: not a Synthea column: deny by default must drop it

# Id, birth, death, ssn, first, last, maiden, race, ethnicity, gender, address, city, zip, phone
PEOPLE = [
    ("pat-aaaa-0001", "1970-03-14", "", "123-45-6789", "Zebulon", "Quigglesworth", "",
     "white", "nonhispanic", "M", "17 Juniper Hollow Rd", "Springfieldia", "60651",
     "(312) 555-0142"),
    ("pat-bbbb-0002", "1925-11-02", "", "987-65-4321", "Philomena", "Arbuthnot", "Vandersloot",
     "black", "hispanic", "F", "4 Quarry Lane Apt 9", "Lebanonville", "03601-1234",
     "603-555-0199"),
    ("pat-cccc-0003", "1955-07-30", "2024-02-10", "555-12-3434", "Thaddeus", "Krzyzanowski",
     "", "asian", "nonhispanic", "M", "901 Pelican Crest", "Oakbrookshire", "94110",
     "415.555.0100"),
    ("pat-dddd-0004", "2001-01-05", "", "222-33-4444", "Ottoline", "Fairweather", "",
     "other", "nonhispanic", "F", "55 Wren Street", "Millbankton", "10027", "212 555 0111"),
]
PLANTED = [v for p in PEOPLE for v in (p[0], p[3], p[4], p[5], p[6], p[10], p[11], p[12],
                                       p[13]) if v] + [p[1] for p in PEOPLE]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


def patient_rows() -> list[list[str]]:
    rows = []
    for (pid, birth, death, ssn, first, last, maiden, race, eth, gender, addr, city, zip_,
         phone) in PEOPLE:
        row = dict.fromkeys(PATIENT_HEADER, "")
        row.update(Id=pid, BIRTHDATE=birth, DEATHDATE=death, SSN=ssn, DRIVERS="S99988877",
                   PREFIX="Mx.", FIRST=first, LAST=last, MAIDEN=maiden, RACE=race,
                   ETHNICITY=eth, GENDER=gender, BIRTHPLACE=f"{city}  MA  US", ADDRESS=addr,
                   CITY=city, STATE="Massachusetts", COUNTY="Suffolk County", ZIP=zip_,
                   LAT="42.1", LON="-71.2", HEALTHCARE_EXPENSES="100.5", INCOME="50000",
                   PHONE=phone)
        rows.append([row[h] for h in PATIENT_HEADER])
    return rows


ENC_HEADER = ["Id", "START", "STOP", "PATIENT", "ORGANIZATION", "PROVIDER", "PAYER",
              "ENCOUNTERCLASS", "CODE", "DESCRIPTION", "BASE_ENCOUNTER_COST",
              "TOTAL_CLAIM_COST", "PAYER_COVERAGE", "REASONCODE", "REASONDESCRIPTION"]


def encounter_rows() -> list[list[str]]:
    rows = []
    for i, p in enumerate(PEOPLE):
        for k, (start, cls) in enumerate([("2019-03-04T09:30:00Z", "ambulatory"),
                                          ("2020-11-20T22:10:00Z", "inpatient"),
                                          ("2021-05-02T08:00:00Z", "emergency")]):
            stop = start.replace("T", "T").replace(":30:00Z", ":59:00Z")
            rows.append([f"enc-{i}-{k}", start, stop, p[0], "org-1", f"prov-{i}", "payer-1",
                         cls, "185349003", f"Visit of {p[4]} {p[5]}", "100", "100", "50",
                         "", ""])
    return rows


def write_extract(root: Path, *, people: int = 4, extra_conditions: int = 0) -> Path:
    """Write the extract; ``people`` limits the persons; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "patients.csv", PATIENT_HEADER, patient_rows()[:people])
    ids = [p[0] for p in PEOPLE[:people]]
    _write(root / "encounters.csv", ENC_HEADER,
           [r for r in encounter_rows() if r[3] in ids])
    # conditions: lower-case headers in another order, with the optional SYSTEM column
    cond = []
    for i, pid in enumerate(ids):
        cond.append(["http://snomed.info/sct", T2D_CODE, pid, f"enc-{i}-0", "2019-03-04", "",
                     "Type 2 diabetes mellitus"])
        if i % 2:
            cond.append(["", HTN_CODE, pid, f"enc-{i}-1", "2020-11-20", "2020-12-24",
                         "Essential hypertension"])
        for k in range(extra_conditions):
            cond.append(["", UNKNOWN_CODE, pid, f"enc-{i}-2", f"2021-05-0{k % 9 + 1}", "",
                         f"Note about {PEOPLE[i][4]}"])
    _write(root / "conditions.csv",
           ["system", "code", "patient", "encounter", "start", "stop", "description"], cond)
    meds = [["2020-01-01T00:00:00Z", "2020-01-31T00:00:00Z", pid, "payer-1", f"enc-{i}-0",
             "6809", "metformin", "1", "1", "2", "1", "", ""] for i, pid in enumerate(ids)]
    _write(root / "medications.csv",
           ["START", "STOP", "PATIENT", "PAYER", "ENCOUNTER", "CODE", "DESCRIPTION",
            "BASE_COST", "PAYER_COVERAGE", "DISPENSES", "TOTALCOST", "REASONCODE",
            "REASONDESCRIPTION"], meds)
    obs = []
    for i, pid in enumerate(ids):
        obs.append(["2019-03-04T09:40:00Z", pid, f"enc-{i}-0", "laboratory", "4548-4",
                    "Hemoglobin A1c", f"{6.5 + i}", "%", "numeric"])
        obs.append(["2019-03-04T09:40:00Z", pid, f"enc-{i}-0", "vital-signs", "8480-6",
                    "Systolic blood pressure", "130", "mm[Hg]", "numeric"])
        obs.append(["2019-03-04T09:45:00Z", pid, f"enc-{i}-0", "survey", "72166-2",
                    "Tobacco smoking status", "Current every day smoker", "", "text"])
    _write(root / "observations.csv",
           ["DATE", "PATIENT", "ENCOUNTER", "CATEGORY", "CODE", "DESCRIPTION", "VALUE",
            "UNITS", "TYPE"], obs)
    procs = [["2020-11-20T22:30:00Z", "2020-11-20T23:00:00Z", pid, f"enc-{i}-1", "29303009",
              "Electrocardiographic procedure", "200", "", ""] for i, pid in enumerate(ids)]
    _write(root / "procedures.csv",
           ["START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "BASE_COST",
            "REASONCODE", "REASONDESCRIPTION"], procs)
    _write(root / "organizations.csv", ["Id", "NAME", "PHONE"],
           [["org-1", "Hospital of Zebulon", "(617) 555-0000"]])
    return root


def config(mode: str = "year") -> DeidConfig:
    return DeidConfig(date_mode=mode, reference_date=REFERENCE)  # type: ignore[arg-type]


def all_text(db: Path) -> tuple[set[str], str]:
    """(every distinct non-null value of every column of every table as lower-case text,
    the text columns' values joined: for substring search)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cells: set[str] = set()
        texts: list[str] = []
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'main'").fetchall()]
        # The vocabulary tables hold the shipped catalogue only (public reference text such
        # as "Undefined" or "White"); test_vocabulary_is_only_the_shipped_catalogue pins that.
        for t in (t for t in tables if t not in VOCABULARY_TABLES):
            for col, kind, *_ in con.execute(f'DESCRIBE "{t}"').fetchall():
                rows = con.execute(f'SELECT DISTINCT lower(CAST("{col}" AS VARCHAR)) FROM "{t}" '
                                   f'WHERE "{col}" IS NOT NULL').fetchall()
                values = [r[0] for r in rows]
                cells.update(values)
                if kind == "VARCHAR":
                    texts.extend(values)
        return cells, "\x00".join(texts)
    finally:
        con.close()


VOCABULARY_TABLES = set(CATEGORIES_OF_TABLES["vocabulary"])

#: Values that are categories, not identifiers: a surname "White" equals the race label
#: "white" kept in race_source_value. Only these exact values are allowed to match.
CATEGORIES = {*vocab.RACE, *vocab.ETHNICITY, *vocab.GENDER}


def leaked(db: Path, planted: list[str]) -> list[str]:
    """Planted values found in the store (outside the vocabulary): exact cell matches,
    and substrings for values long enough not to occur by chance (names, addresses, SSNs)."""
    planted = [v for v in planted if v.lower().strip() not in CATEGORIES]
    exact, blob = all_text(db)
    found = []
    for value in {v.lower().strip() for v in planted if v.strip()}:
        if value in exact or (len(value) >= 6 and not value.isdigit() and value in blob):
            found.append(value)
    return sorted(found)


def counts(db: Path, table: str) -> dict[int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute(f"SELECT person_id, count(*) FROM {table} GROUP BY 1").fetchall())
    finally:
        con.close()


# --- the supplementary files: immunizations … payer_transitions, claims, notes ----------

UDI = "(01)00884541001234(11)200101(17)450101(10)LOT98{i}(21)SN{i}77Q"
SERIES_UID = "1.2.840.99999.4417.{i}.{s}"
INSTANCE_UID = "1.2.840.99999.4417.{i}.{s}.{k}"
MEMBER_ID = "MBR-{i}-QX8841"
PROVIDER_NAMES = ["Hortensia Blamire", "Ignatius Fothergill", "Perpetua Ollerenshaw",
                  "Barnaby Wigglesby"]
ORGANIZATIONS = [("org-1", "Hospital of Zebulon", "1 Lantern Quay", "Springfieldia",
                  "02118", "(617) 555-0000"),
                 ("org-2", "Fothergill Family Clinic", "9 Heron Mews", "Oakbrookshire",
                  "94110", "(415) 555-0123")]
NOTE_TEXT = ("Pt Zebulon Quigglesworth (SSN 123-45-6789) seen today,\n"
             "lives at 17 Juniper Hollow Rd; call (312) 555-0142.")
SPECIALTIES = ["GENERAL PRACTICE", "CARDIOLOGY", "ALLERGY/IMMUNOLOGY", "Internal Medicine"]
#: (code, study instances) per person: person 0 has a second study.
STUDIES = {0: [("399208008", 3), ("1571000087109", 2)], 1: [("399208008", 2)],
           2: [("399208008", 1)], 3: [("399208008", 4)]}


def extra_planted(people: int = 4) -> list[str]:
    """Identifier values planted in the supplementary files."""
    out = [UDI.format(i=i) for i in range(people)]
    out += [MEMBER_ID.format(i=i) for i in range(people)]
    out += [f"cp-{i}-9f1c2e77" for i in range(people)]  # care plan row keys
    out += [f"img-{i}-{s}-71be" for i in range(people) for s in range(len(STUDIES[i]))]
    out += [SERIES_UID.format(i=i, s=s) for i in range(people) for s in range(len(STUDIES[i]))]
    out += [INSTANCE_UID.format(i=i, s=s, k=k) for i in range(people)
            for s, (_, n) in enumerate(STUDIES[i]) for k in range(n)]
    out += [f"{PEOPLE[i][4]} {PEOPLE[i][5]}" for i in range(people)]  # owner names
    out += [*PROVIDER_NAMES, "12 Surgery Row"]
    out += [v for org in ORGANIZATIONS for v in (org[1], org[2], org[3], org[5])]
    out += ["claim-7731-secret", "note-0-secret", NOTE_TEXT.splitlines()[0],
            "Wheal noticed by Zebulon"]
    return out


def write_extras(root: Path, *, people: int = 4, old_payers: bool = False) -> Path:
    """Add the supplementary Synthea files (and claims/notes) to an extract at ``root``."""
    ids = [p[0] for p in PEOPLE[:people]]
    _write(root / "immunizations.csv",
           ["DATE", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "BASE_COST"],
           [r for i, pid in enumerate(ids) for r in (
               ["2019-03-04T09:50:00Z", pid, f"enc-{i}-0", "140", "Influenza, seasonal", "140.52"],
               ["2021-05-02T08:20:00Z", pid, f"enc-{i}-2", "208", "COVID-19 mRNA", "30"])])
    allergy = ["300916003", "91930004", "232347008", "425525006"]
    _write(root / "allergies.csv",
           ["START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "SYSTEM", "DESCRIPTION", "TYPE",
            "CATEGORY", "REACTION1", "DESCRIPTION1", "SEVERITY1", "REACTION2",
            "DESCRIPTION2", "SEVERITY2"],
           [["2019-03-04", "", pid, f"enc-{i}-0", allergy[i], "SNOMED-CT", "Latex allergy",
             "allergy", "environment", "247472004", "Wheal noticed by Zebulon", "MODERATE",
             "", "", ""] for i, pid in enumerate(ids)])
    _write(root / "devices.csv",
           ["START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "UDI"],
           [["2020-11-20T22:30:00Z", "2021-11-20T22:30:00Z", pid, f"enc-{i}-1", "72506001",
             "Implantable defibrillator", UDI.format(i=i)] for i, pid in enumerate(ids)])
    _write(root / "careplans.csv",
           ["Id", "START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION",
            "REASONCODE", "REASONDESCRIPTION"],
           [[f"cp-{i}-9f1c2e77", "2019-03-04", "", pid, f"enc-{i}-0", "698360004",
             "Diabetes self management plan", T2D_CODE, "Diabetes"]
            for i, pid in enumerate(ids)])
    img = []
    for i, pid in enumerate(ids):
        for s, (code, n) in enumerate(STUDIES[i]):
            for k in range(n):
                img.append([f"img-{i}-{s}-71be", "2020-11-20T22:35:00Z", pid, f"enc-{i}-1",
                            SERIES_UID.format(i=i, s=s), "51185008", "Thoracic structure",
                            "DX", "Digital Radiography", INSTANCE_UID.format(i=i, s=s, k=k),
                            "1.2.840.10008.5.1.4.1.1.1.1", "Digital X-Ray Image", code])
    _write(root / "imaging_studies.csv",
           ["Id", "DATE", "PATIENT", "ENCOUNTER", "SERIES_UID", "BODYSITE_CODE",
            "BODYSITE_DESCRIPTION", "MODALITY_CODE", "MODALITY_DESCRIPTION", "INSTANCE_UID",
            "SOP_CODE", "SOP_DESCRIPTION", "PROCEDURE_CODE"], img)
    _write(root / "organizations.csv",
           ["Id", "NAME", "ADDRESS", "CITY", "STATE", "ZIP", "LAT", "LON", "PHONE", "REVENUE",
            "UTILIZATION"],
           [[o, name, addr, city, "Massachusetts", zip_, "42.1", "-71.1", phone, "1000", "10"]
            for o, name, addr, city, zip_, phone in ORGANIZATIONS])
    _write(root / "providers.csv",
           ["Id", "ORGANIZATION", "NAME", "GENDER", "SPECIALITY", "ADDRESS", "CITY", "STATE",
            "ZIP", "LAT", "LON", "ENCOUNTERS", "PROCEDURES"],
           [[f"prov-{i}", f"org-{i % 2 + 1}", PROVIDER_NAMES[i], "FM"[i % 2], SPECIALTIES[i],
             "12 Surgery Row", "Springfieldia", "Massachusetts", "02118", "42.1", "-71.1", "3",
             "0"] for i in range(4)])
    _write(root / "payers.csv",
           ["Id", "NAME", "OWNERSHIP", "ADDRESS", "CITY", "STATE_HEADQUARTERED", "ZIP",
            "PHONE"],
           [["payer-1", "Medicare", "Government", "7500 Security Blvd", "Baltimore", "MD",
             "21244", "1-800-633-4227"],
            ["payer-2", "Blue Cross Blue Shield", "Private", "1 Lantern Quay", "Boston", "MA",
             "02118", "(617) 555-0999"]])
    trans = []
    for i, pid in enumerate(ids):
        owner = f"{PEOPLE[i][4]} {PEOPLE[i][5]}"
        trans.append([pid, MEMBER_ID.format(i=i), "2012-01-01T00:00:00Z",
                      "2016-12-31T00:00:00Z", "payer-2", "", "Self", owner])
        trans.append([pid, MEMBER_ID.format(i=i), "2017-01-01T00:00:00Z",
                      "2023-12-31T00:00:00Z", "payer-1", "", "Self", owner])
    header = ["PATIENT", "MEMBERID", "START_DATE", "END_DATE", "PAYER", "SECONDARY_PAYER",
              "PLAN_OWNERSHIP", "OWNER_NAME"]
    if old_payers:  # Synthea before v3: years only
        header[2:4] = ["START_YEAR", "END_YEAR"]
        for row in trans:
            row[2:4] = [row[2][:4], row[3][:4]]
    _write(root / "payer_transitions.csv", header, trans)
    _write(root / "claims.csv", ["Id", "PATIENTID", "PROVIDERID", "DIAGNOSIS1"],
           [["claim-7731-secret", ids[0], "prov-0", T2D_CODE]])
    _write(root / "notes.csv", ["Id", "PATIENT", "ENCOUNTER", "DATE", "TYPE", "TEXT"],
           [[f"note-{i}-secret", pid, f"enc-{i}-0", "2019-03-04", "progress", NOTE_TEXT]
            for i, pid in enumerate(ids)])
    return root


def query(db: Path, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the store ``db`` (opened read-only, closed again)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()

"""The supplementary Synthea files through ingest: immunizations, allergies, devices, care
plans, imaging studies, organizations, providers, payers and payer transitions; claims
ignored, notes de-identified into NOTE (or held back on request). Identifiers gone, facts
in the right tables, ids stable."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from behindglass.deid.dates import shift_days
from behindglass.deid.pseudonym import pseudonymize
from behindglass.ingest import IngestError, ingest_synthea
from behindglass.synth import concepts as c
from tests.unit.ingest_support import (
    PEOPLE,
    PLANTED,
    SECRET,
    STUDIES,
    config,
    counts,
    extra_planted,
    leaked,
    query,
    write_extract,
    write_extras,
)

NEW_TABLES = ("device_exposure", "payer_plan_period", "care_site", "provider",
              "drug_exposure", "observation", "procedure_occurrence")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("extras")
    src = write_extras(write_extract(root / "src"))
    db = root / "site.duckdb"
    report = ingest_synthea(src, db, SECRET, config())
    return src, db, report




def pid(source_id: str) -> int:
    return int(pseudonymize([source_id], SECRET, "person")[0])


def test_no_identifier_of_any_file_reaches_the_store(loaded) -> None:
    _, db, _ = loaded
    assert leaked(db, [*PLANTED, *extra_planted()]) == []
    assert query(db, "SELECT count(*) FROM device_exposure WHERE unique_device_id IS NOT NULL "
                 "OR production_id IS NOT NULL") == [(0,)]
    assert query(db, "SELECT count(*) FROM provider WHERE provider_name IS NOT NULL OR npi IS NOT "
                 "NULL OR provider_source_value IS NOT NULL") == [(0,)]
    assert query(db, "SELECT count(*) FROM care_site WHERE care_site_name IS NOT NULL OR "
                 "care_site_source_value IS NOT NULL") == [(0,)]
    assert query(db, "SELECT count(*) FROM payer_plan_period WHERE plan_source_value IS NOT NULL "
                 "OR family_source_value IS NOT NULL OR sponsor_source_value IS NOT NULL") == [(0,)]


def test_report_lists_what_was_not_read(loaded) -> None:
    _, _, report = loaded
    assert report.ignored_files == ["claims.csv"]
    assert report.held_back == {}  # notes.csv: de-identified into NOTE
    assert report.notes_deidentified == len(PEOPLE)  # the TEXT spans two lines each
    dropped = report.dropped_columns
    assert "UDI" in dropped["devices.csv"]
    assert {"SERIES_UID", "INSTANCE_UID"} <= set(dropped["imaging_studies.csv"])
    assert {"MEMBERID", "OWNER_NAME"} <= set(dropped["payer_transitions.csv"])
    assert {"NAME", "ADDRESS"} <= set(dropped["providers.csv"])
    assert {"NAME", "PHONE", "ADDRESS"} <= set(dropped["organizations.csv"])
    assert {"DESCRIPTION1", "DESCRIPTION2"} <= set(dropped["allergies.csv"])
    assert report.unmapped == {} and report.errors == 0


def test_per_person_counts(loaded) -> None:
    _, db, _ = loaded
    ids = {pid(p[0]): i for i, p in enumerate(PEOPLE)}
    assert counts(db, "drug_exposure") == dict.fromkeys(ids, 1 + 2)  # metformin + 2 vaccines
    assert counts(db, "observation") == dict.fromkeys(ids, 1 + 1 + 1)  # smoking, allergy, plan
    assert counts(db, "device_exposure") == dict.fromkeys(ids, 1)
    # one ECG each plus one row per imaging *study*, however many instances it has
    assert counts(db, "procedure_occurrence") == {p: 1 + len(STUDIES[i]) for p, i in ids.items()}
    assert counts(db, "payer_plan_period") == dict.fromkeys(ids, 2)


def test_concepts_and_types(loaded) -> None:
    _, db, _ = loaded
    vaccines = dict(query(db, "SELECT drug_source_value, any_value(drug_concept_id) FROM "
                          "drug_exposure WHERE drug_type_concept_id = 32818 GROUP BY 1"))
    assert vaccines == {"140": 40213154, "208": 724907}
    assert query(db, "SELECT DISTINCT drug_type_concept_id FROM drug_exposure "
                 "WHERE drug_source_value = '6809'") == [(c.EHR_PRESCRIPTION,)]
    allergies = {r[0]: r[1:] for r in query(
        db, "SELECT observation_source_value, observation_concept_id, "
            "observation_source_concept_id, value_source_value, qualifier_source_value "
            "FROM observation WHERE value_source_value IS NOT NULL")}
    assert allergies["300916003"] == (4102123, 4102123, "247472004", "moderate")
    assert allergies["91930004"][:2] == (0, 442116)  # non-standard: a source concept only
    plans = query(db, "SELECT DISTINCT observation_concept_id, observation_source_concept_id, "
                  "observation_source_value FROM observation "
                  "WHERE observation_source_value = '698360004'")
    assert plans == [(0, 44784290, "698360004")]
    assert query(db, "SELECT DISTINCT device_concept_id, device_type_concept_id, "
                 "device_source_value FROM device_exposure") == [(4217646, 32817, "72506001")]
    imaging = dict(query(db, "SELECT procedure_source_value, count(*) FROM procedure_occurrence "
                         "WHERE procedure_concept_id IN (4163872, 42535066) GROUP BY 1"))
    assert imaging == {"399208008": 4, "1571000087109": 1}


def test_events_link_to_visits_and_persons(loaded) -> None:
    _, db, _ = loaded
    for table in ("device_exposure", "payer_plan_period", "drug_exposure", "observation",
                  "procedure_occurrence"):
        assert query(db, f"SELECT count(*) FROM {table} WHERE person_id NOT IN "
                     "(SELECT person_id FROM person)") == [(0,)], table
    for table in ("device_exposure", "drug_exposure", "procedure_occurrence", "observation"):
        assert query(db, f"SELECT count(*) FROM {table} WHERE visit_occurrence_id IS NULL OR "
                     "visit_occurrence_id NOT IN (SELECT visit_occurrence_id FROM "
                     "visit_occurrence)") == [(0,)], table


def test_care_sites_and_providers(loaded) -> None:
    _, db, _ = loaded
    org = pseudonymize(["org-1", "org-2"], SECRET, "care_site")
    assert sorted(r[0] for r in query(db, "SELECT care_site_id FROM care_site")) == sorted(org)
    # visits carry the same keyed id, so they join their care site
    assert query(db, "SELECT count(*) FROM visit_occurrence v JOIN care_site s "
                 "USING (care_site_id)") == [(12,)]
    assert query(db, "SELECT DISTINCT place_of_service_concept_id FROM care_site") == [(0,)]
    zips = {r[0] for r in query(db, "SELECT l.zip FROM care_site JOIN location l "
                                "USING (location_id)")}
    assert zips == {"021", "941"}
    prov = {r[0]: r[1:] for r in query(db, "SELECT provider_id, specialty_concept_id, "
                                       "specialty_source_value, gender_concept_id, "
                                       "care_site_id FROM provider")}
    ids = pseudonymize([f"prov-{i}" for i in range(4)], SECRET, "provider")
    assert prov[int(ids[0])] == (c.GENERAL_PRACTICE, "GENERAL PRACTICE", c.FEMALE, int(org[0]))
    assert prov[int(ids[1])][:3] == (c.CARDIOLOGY, "CARDIOLOGY", c.MALE)
    assert prov[int(ids[2])][:2] == (0, "ALLERGY/IMMUNOLOGY")  # no concept in our table
    assert prov[int(ids[3])][0] == c.INTERNAL_MEDICINE
    assert query(db, "SELECT count(*) FROM visit_occurrence JOIN provider USING (provider_id)"
             ) == [(12,)]


def test_payer_plan_periods(loaded) -> None:
    _, db, _ = loaded
    rows = query(db, "SELECT payer_source_value, payer_plan_period_start_date, "
                 f"payer_plan_period_end_date FROM payer_plan_period WHERE person_id = "
                 f"{pid(PEOPLE[0][0])} ORDER BY 2")
    assert rows == [("Blue Cross Blue Shield", dt.date(2012, 7, 1), dt.date(2016, 7, 1)),
                    ("Medicare", dt.date(2017, 7, 1), dt.date(2023, 7, 1))]


def test_year_mode_dates(loaded) -> None:
    _, db, _ = loaded
    for table, col in [("device_exposure", "device_exposure_start_date"),
                       ("device_exposure", "device_exposure_end_date"),
                       ("payer_plan_period", "payer_plan_period_start_date"),
                       ("drug_exposure", "drug_exposure_start_date"),
                       ("observation", "observation_date"),
                       ("procedure_occurrence", "procedure_date")]:
        days = {(d.month, d.day) for (d,) in query(db, f"SELECT {col} FROM {table}")}
        assert days == {(7, 1)}, (table, col)


def test_shift_mode_keeps_intervals(tmp_path: Path) -> None:
    src = write_extras(write_extract(tmp_path / "src"))
    db = tmp_path / "shift.duckdb"
    ingest_synthea(src, db, SECRET, config("shift"))
    person = pid(PEOPLE[0][0])
    offset = dt.timedelta(days=int(shift_days([PEOPLE[0][0]], SECRET, 365)[0]))
    vaccines = sorted(r[0] for r in query(db, "SELECT drug_exposure_start_datetime FROM "
                                          f"drug_exposure WHERE person_id = {person} AND "
                                          "drug_type_concept_id = 32818"))
    assert vaccines == [dt.datetime(2019, 3, 4, 9, 50) + offset,
                        dt.datetime(2021, 5, 2, 8, 20) + offset]
    assert query(db, "SELECT device_exposure_start_date, device_exposure_end_date FROM "
                 f"device_exposure WHERE person_id = {person}") == [
        (dt.date(2020, 11, 20) + offset, dt.date(2021, 11, 20) + offset)]
    assert query(db, "SELECT min(payer_plan_period_start_date) FROM payer_plan_period WHERE "
                 f"person_id = {person}") == [(dt.date(2012, 1, 1) + offset,)]
    assert leaked(db, [*PLANTED, *extra_planted()]) == []


def test_reingest_adds_nothing_and_a_later_extract_adds_and_upserts(tmp_path: Path) -> None:
    db = tmp_path / "site.duckdb"
    first = write_extras(write_extract(tmp_path / "first", people=2), people=2)
    ingest_synthea(first, db, SECRET, config())
    before = {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in NEW_TABLES}
    again = ingest_synthea(first, db, SECRET, config())
    assert {t: again.added[t] for t in NEW_TABLES} == dict.fromkeys(NEW_TABLES, 0)
    assert {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in NEW_TABLES} == before
    second = write_extras(write_extract(tmp_path / "second", people=3), people=3)
    # a clinician changed specialty: the provider row is replaced, not duplicated
    text = (second / "providers.csv").read_text().replace("CARDIOLOGY", "NEUROLOGY")
    (second / "providers.csv").write_text(text)
    report = ingest_synthea(second, db, SECRET, config())
    assert report.added["device_exposure"] == 1 and report.added["payer_plan_period"] == 2
    assert report.added["procedure_occurrence"] == 1 + len(STUDIES[2])
    assert report.added["provider"] == 0 and report.added["care_site"] == 0
    assert query(db, "SELECT count(*), count(DISTINCT provider_id) FROM provider") == [(4, 4)]
    assert query(db, "SELECT count(*) FROM provider WHERE specialty_concept_id = "
                 f"{c.NEUROLOGY}") == [(1,)]
    for table, key in [("device_exposure", "device_exposure_id"),
                       ("payer_plan_period", "payer_plan_period_id")]:
        n, distinct = query(db, f"SELECT count(*), count(DISTINCT {key}) FROM {table}")[0]
        assert n == distinct == 3 * (1 if table == "device_exposure" else 2)


def test_observation_period_spans_devices(tmp_path: Path) -> None:
    src = write_extras(write_extract(tmp_path / "src"))
    lines = (src / "devices.csv").read_text().splitlines()
    lines[1] = lines[1].replace("2021-11-20T22:30:00Z", "2025-06-01T00:00:00Z")
    (src / "devices.csv").write_text("\n".join(lines) + "\n")
    db = tmp_path / "site.duckdb"
    ingest_synthea(src, db, SECRET, config())
    assert query(db, "SELECT observation_period_end_date FROM observation_period WHERE "
                 f"person_id = {pid(PEOPLE[0][0])}") == [(dt.date(2025, 7, 1),)]


def test_old_payer_transitions_with_years(tmp_path: Path) -> None:
    src = write_extras(write_extract(tmp_path / "src"), old_payers=True)
    db = tmp_path / "site.duckdb"
    report = ingest_synthea(src, db, SECRET, config())
    assert report.errors == 0 and report.rows["payer_plan_period"] == 2 * len(PEOPLE)
    assert query(db, "SELECT payer_plan_period_start_date, payer_plan_period_end_date FROM "
                 f"payer_plan_period WHERE person_id = {pid(PEOPLE[0][0])} ORDER BY 1") == [
        (dt.date(2012, 7, 1), dt.date(2016, 7, 1)), (dt.date(2017, 7, 1), dt.date(2023, 7, 1))]


def test_claims_and_held_notes_are_never_parsed_into_the_store(tmp_path: Path) -> None:
    src = write_extras(write_extract(tmp_path / "src"))
    # a claims file that is not even CSV: it is never opened, so nothing fails
    (src / "claims.csv").write_bytes(b'Id,PATIENTID\n"unterminated \xff\xfe\x00 garbage\n')
    db = tmp_path / "site.duckdb"
    report = ingest_synthea(src, db, SECRET, config(), notes="hold")
    assert "claims.csv" in report.ignored_files and report.errors == 0
    assert report.held_back == {"notes.csv": len(PEOPLE)}
    assert query(db, "SELECT count(*) FROM note") == [(0,)]


def _edit(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text().splitlines()
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    path.write_text("\n".join(lines) + "\n")


# (file, line, edit, reason fragment)
BAD = [
    ("devices.csv", 3, lambda d: _edit(d / "devices.csv", 3, PEOPLE[1][0], ""),
     "missing PATIENT"),
    ("immunizations.csv", 2, lambda d: _edit(d / "immunizations.csv", 2,
                                             "2019-03-04T09:50:00Z", "04/03/2019"),
     "start date"),
    ("payer_transitions.csv", 4, lambda d: _edit(d / "payer_transitions.csv", 4,
                                                 PEOPLE[1][0], "pat-zzzz-9999"), "PATIENT"),
    ("allergies.csv", 2, lambda d: _edit(d / "allergies.csv", 2, '"2019-03-04","",',
                                         '"2019-03-04","2018-01-01",'), "STOP before START"),
    ("careplans.csv", 5, lambda d: _edit(d / "careplans.csv", 5, "2019-03-04", "someday"),
     "start date"),
    ("imaging_studies.csv", 2, lambda d: _edit(d / "imaging_studies.csv", 2, PEOPLE[0][0],
                                               ""), "missing PATIENT"),
    ("providers.csv", 3, lambda d: _edit(d / "providers.csv", 3, '"prov-1"', '""'),
     "missing Id"),
]


@pytest.mark.parametrize(("file", "line", "edit", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_rows_reported_by_file_and_line(tmp_path: Path, file, line, edit, reason) -> None:
    src = write_extras(write_extract(tmp_path / "src"))
    edit(src)
    db = tmp_path / "site.duckdb"
    with pytest.raises(IngestError) as err:
        ingest_synthea(src, db, SECRET, config())
    problems = err.value.problems
    assert [(p.file, p.line) for p in problems] == [(file, line)], problems
    assert reason in problems[0].reason
    assert not db.exists()
    report = ingest_synthea(src, db, SECRET, config(), max_errors=1)
    assert [(p.file, p.line) for p in report.problems] == [(file, line)]


def test_an_unreadable_held_notes_file_never_stops_the_ingest(tmp_path: Path) -> None:
    src = write_extras(write_extract(tmp_path / "src"))
    (src / "notes.csv").write_bytes(b'Id,TEXT\n"a","\xff\xfe broken\n"b"')
    report = ingest_synthea(src, tmp_path / "site.duckdb", SECRET, config(), notes="hold")
    assert set(report.held_back) == {"notes.csv"} and report.errors == 0


def test_an_unreadable_notes_file_is_bad_input_when_scrubbed(tmp_path: Path) -> None:
    src = write_extras(write_extract(tmp_path / "src"))
    (src / "notes.csv").write_bytes(b'Id,TEXT\n"a","\xff\xfe broken\n"b"')
    db = tmp_path / "site.duckdb"
    with pytest.raises(IngestError) as err:
        ingest_synthea(src, db, SECRET, config())
    assert [(p.file, p.line) for p in err.value.problems] == [("notes.csv", 1)]
    assert "PATIENT" in err.value.problems[0].reason and not db.exists()

"""The identifiable extract as FHIR R4 NDJSON: validity, determinism, facts, truth file."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from fhir.resources.R4B import get_fhir_model_class

from behindglass.cli.synth_cmd import synth
from behindglass.synth.identifiable import TRUTH_FILE, generate_identifiable, read_truth
from behindglass.synth.identifiable.fhir import RESOURCES

PERSONS = 1_000


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fhir")
    generate_identifiable("midwest-academic", PERSONS, 5, root / "fhir", format="fhir")
    generate_identifiable("midwest-academic", PERSONS, 5, root / "csv")
    return root / "fhir", root / "csv"


def _resources(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_files_and_sample_validates(both: tuple[Path, Path]) -> None:
    fhir, _ = both
    for kind in RESOURCES:
        resources = _resources(fhir / f"{kind}.ndjson")
        assert resources, kind
        model = get_fhir_model_class(kind)
        for resource in resources[:: max(1, len(resources) // 150)]:
            assert resource["resourceType"] == kind
            model.model_validate(resource)


def test_patient_shape(both: tuple[Path, Path]) -> None:
    fhir, _ = both
    patients = _resources(fhir / "Patient.ndjson")
    assert len(patients) == PERSONS
    first = patients[0]
    types = {i["type"]["coding"][0]["code"]: i for i in first["identifier"]}
    assert {"MR", "SS", "AN"} <= set(types)
    assert types["SS"]["system"] == "http://hl7.org/fhir/sid/us-ssn"
    assert {t["system"] for t in first["telecom"]} == {"phone", "email"}
    assert first["contact"][0]["name"]["text"]
    urls = {e["url"].rsplit("/", 1)[-1] for e in first["extension"]}
    assert urls == {"us-core-race", "us-core-ethnicity"}
    assert any("deceasedDateTime" in p for p in patients)
    assert any(len({i["type"]["coding"][0]["code"] for i in p["identifier"]}
                   & {"DL", "PPN"}) == 2 for p in patients)


def test_byte_identical_per_seed(both: tuple[Path, Path], tmp_path: Path) -> None:
    fhir, _ = both
    generate_identifiable("midwest-academic", PERSONS, 5, tmp_path / "again", format="fhir")
    for path in sorted(fhir.iterdir()):
        again = (tmp_path / "again" / path.name).read_bytes()
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(again).digest()


def test_same_people_and_counts_as_csv(both: tuple[Path, Path]) -> None:
    fhir, csv = both
    assert (fhir / "truth_crosswalk.csv").read_bytes() == (csv / "truth_crosswalk.csv").read_bytes()
    pairs = {("Encounter",): "encounters", ("Condition",): "conditions",
             ("MedicationRequest", "MedicationStatement"): "medications",
             ("Observation",): "observations", ("Procedure",): "procedures",
             ("Coverage",): "payer_transitions", ("Immunization",): "immunizations",
             ("AllergyIntolerance",): "allergies", ("CarePlan",): "careplans",
             ("Device",): "devices"}
    for kinds, table in pairs.items():
        mine = Counter(r[key]["reference"].removeprefix("Patient/")
                       for kind in kinds for r in _resources(fhir / f"{kind}.ndjson")
                       for key in ("subject", "patient", "beneficiary") if key in r)
        frame = pd.read_csv(csv / f"{table}.csv", dtype=str, keep_default_na=False)
        assert mine == Counter(frame["PATIENT"]), kinds
    encounters = {r["id"] for r in _resources(fhir / "Encounter.ndjson")}
    frame = pd.read_csv(csv / "encounters.csv", dtype=str, keep_default_na=False)
    assert encounters == set(frame["Id"])
    patients = {r["id"]: r for r in _resources(fhir / "Patient.ndjson")}
    rows = pd.read_csv(csv / "patients.csv", dtype=str, keep_default_na=False)
    for row in rows.head(50).itertuples():
        patient = patients[row.Id]
        assert patient["birthDate"] == row.BIRTHDATE
        assert patient["name"][0]["family"] == row.LAST
        ssn = [i["value"] for i in patient["identifier"] if i["type"]["coding"][0]["code"] == "SS"]
        assert ssn == [row.SSN]


def test_codes_and_references(both: tuple[Path, Path]) -> None:
    fhir, _ = both
    systems = {"Condition": ("code", "http://snomed.info/sct"),
               "MedicationRequest": ("medicationCodeableConcept",
                                     "http://www.nlm.nih.gov/research/umls/rxnorm"),
               "Procedure": ("code", "http://snomed.info/sct")}
    encounters = {r["id"] for r in _resources(fhir / "Encounter.ndjson")}
    for kind, (field, system) in systems.items():
        for resource in _resources(fhir / f"{kind}.ndjson"):
            assert resource[field]["coding"][0]["system"] == system
            if "encounter" in resource:
                assert resource["encounter"]["reference"].removeprefix("Encounter/") in encounters
    loinc = Counter(r["code"]["coding"][0]["system"]
                    for r in _resources(fhir / "Observation.ndjson"))
    assert set(loinc) == {"http://loinc.org"}


def test_every_truth_value_in_named_file(both: tuple[Path, Path]) -> None:
    fhir, _ = both
    truth = read_truth((fhir / TRUTH_FILE).read_text(encoding="utf-8"))
    assert truth
    texts = {name: (fhir / name).read_text(encoding="utf-8")
             for name in {str(t["file"]) for t in truth}}
    assert set(texts) == {"Patient.ndjson", "Coverage.ndjson", "Device.ndjson",
                          "ImagingStudy.ndjson", "DocumentReference.ndjson"}
    notes = {doc["id"]: base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
             for doc in _resources(fhir / "DocumentReference.ndjson")}
    for item in truth:
        if "resource" in item:  # a span of a clinical note: offsets into the decoded text
            assert notes[item["resource"]][item["start"]:item["end"]] == item["value"], item
            continue
        assert json.dumps(item["value"], ensure_ascii=False) in texts[str(item["file"])], item
    columns = {str(t["column"]) for t in truth}
    assert {"Patient.identifier[MR].value", "Patient.identifier[SS].value",
            "Coverage.subscriberId"} <= columns


def test_other_locale_validates(tmp_path: Path) -> None:
    generate_identifiable("urban-brazil", 300, 1, tmp_path / "br", format="fhir")
    model = get_fhir_model_class("Patient")
    for resource in _resources(tmp_path / "br" / "Patient.ndjson")[:50]:
        model.model_validate(resource)


def test_cli_format_fhir(tmp_path: Path) -> None:
    result = CliRunner().invoke(synth, ["--profile", "rural-community", "--persons", "200",
                                        "--out", str(tmp_path / "x"), "--identifiable",
                                        "--format", "fhir", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x" / "Patient.ndjson").read_text().count("\n") == 200
    assert (tmp_path / "x" / TRUTH_FILE).exists()

"""FHIR R4 resources of the supplementary files, MedicationStatement / DiagnosticReport /
Location, and the Synthea-style Bundle layout."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from fhir.resources.R4B import get_fhir_model_class

from behindglass.cli.synth_cmd import synth
from behindglass.synth.identifiable import TRUTH_FILE, generate_identifiable, read_truth
from behindglass.synth.identifiable.fhir import OTC_RXNORM, RESOURCES, SITE_IDENTIFIER

PERSONS = 1_000
SHARED = ("Organization", "Location", "Practitioner")


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fhircare")
    for name, kwargs in (("ndjson", {"format": "fhir"}),
                         ("bundles", {"format": "fhir", "fhir_layout": "bundles"}),
                         ("csv", {})):
        generate_identifiable("midwest-academic", PERSONS, 5, root / name, **kwargs)
    return root


def _ndjson(root: Path, kind: str) -> list[dict]:
    text = (root / "ndjson" / f"{kind}.ndjson").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _csv(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / "csv" / f"{name}.csv", dtype=str, keep_default_na=False)


def _references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def test_devices_and_imaging_match_csv(out: Path) -> None:
    devices, rows = _ndjson(out, "Device"), _csv(out, "devices")
    assert sorted(d["udiCarrier"][0]["carrierHRF"] for d in devices) == sorted(rows["UDI"])
    for device in devices:
        assert device["serialNumber"] in device["udiCarrier"][0]["carrierHRF"]
        assert device["udiCarrier"][0]["deviceIdentifier"] in device["udiCarrier"][0][
            "carrierHRF"]
    studies, images = _ndjson(out, "ImagingStudy"), _csv(out, "imaging_studies")
    assert {s["id"] for s in studies} == set(images["Id"])
    instances = [i["uid"] for s in studies for i in s["series"][0]["instance"]]
    assert sorted(instances) == sorted(images["INSTANCE_UID"])
    assert sum(s["numberOfInstances"] for s in studies) == len(images)
    assert {s["series"][0]["modality"]["code"] for s in studies} == {"DX", "US"}
    assert all(s["identifier"][0]["value"].startswith("urn:oid:1.2.840.99999.")
               for s in studies)
    truth = read_truth((out / "ndjson" / TRUTH_FILE).read_text(encoding="utf-8"))
    planted = {(t["column"], t["value"]) for t in truth}
    for device in devices:
        assert ("Device.udiCarrier.carrierHRF", device["udiCarrier"][0]["carrierHRF"]) in planted
        assert ("Device.serialNumber", device["serialNumber"]) in planted
    for uid in instances:
        assert ("ImagingStudy.series.instance.uid", uid) in planted
    for study in studies:
        assert ("ImagingStudy.series.uid", study["series"][0]["uid"]) in planted
        assert ("ImagingStudy.identifier.value", study["identifier"][0]["value"]) in planted


def test_medication_statements_and_requests(out: Path) -> None:
    requests, statements = _ndjson(out, "MedicationRequest"), _ndjson(out, "MedicationStatement")
    meds = _csv(out, "medications")
    assert requests and statements and len(requests) + len(statements) == len(meds)
    assert {s["medicationCodeableConcept"]["coding"][0]["code"] for s in statements} \
        <= OTC_RXNORM
    assert not {r["medicationCodeableConcept"]["coding"][0]["code"] for r in requests} \
        & OTC_RXNORM
    # The fill's start and end survive in FHIR, both paths together give every fill.
    fhir_fills = Counter(
        [(r["subject"]["reference"][8:], r["dispenseRequest"]["validityPeriod"]["start"],
          r["dispenseRequest"]["validityPeriod"]["end"]) for r in requests]
        + [(s["subject"]["reference"][8:], s["effectivePeriod"]["start"],
            s["effectivePeriod"]["end"]) for s in statements])
    assert fhir_fills == Counter(zip(meds["PATIENT"], meds["START"], meds["STOP"], strict=True))
    assert all(r["dispenseRequest"]["quantity"]["value"] == 1 for r in requests)


def test_diagnostic_reports_group_lab_observations(out: Path) -> None:
    observations = {o["id"]: o for o in _ndjson(out, "Observation")}
    reports = _ndjson(out, "DiagnosticReport")
    assert reports
    seen: Counter[str] = Counter()
    for report in reports:
        for ref in report["result"]:
            obs = observations[ref["reference"].removeprefix("Observation/")]
            assert obs["encounter"] == report["encounter"]
            assert obs["subject"] == report["subject"]
            assert obs["category"][0]["coding"][0]["code"] == "laboratory"
            seen[obs["id"]] += 1
    labs = {i for i, o in observations.items()
            if o["category"][0]["coding"][0]["code"] == "laboratory"}
    assert set(seen) == labs and max(seen.values()) == 1


def test_locations_and_careplans_resolve(out: Path) -> None:
    orgs = {o["id"]: o for o in _ndjson(out, "Organization")}
    locations = {loc["id"]: loc for loc in _ndjson(out, "Location")}
    providers = {o for o, r in orgs.items() if r["type"][0]["coding"][0]["code"] == "prov"}
    managed = {loc["managingOrganization"]["reference"][13:] for loc in locations.values()}
    assert managed == providers and len(locations) == len(providers)
    for enc in _ndjson(out, "Encounter")[:500]:
        if "location" in enc:
            assert enc["location"][0]["location"]["reference"][9:] in locations
    conditions = {c["id"]: c for c in _ndjson(out, "Condition")}
    plans = _ndjson(out, "CarePlan")
    assert len(plans) == len(_csv(out, "careplans"))
    for plan in plans:
        condition = conditions[plan["addresses"][0]["reference"].removeprefix("Condition/")]
        assert condition["subject"] == plan["subject"]


def test_new_types_validate(out: Path) -> None:
    for kind in ("Immunization", "AllergyIntolerance", "Device", "ImagingStudy", "CarePlan",
                 "MedicationStatement", "DiagnosticReport", "Location", "MedicationRequest"):
        resources = _ndjson(out, kind)
        model = get_fhir_model_class(kind)
        for resource in resources[:: max(1, len(resources) // 60)]:
            model.model_validate(resource)


def test_bundle_files_and_validation(out: Path) -> None:
    folder = out / "bundles" / "fhir"
    patients = {p["id"] for p in _ndjson(out, "Patient")}
    names = {p.name for p in folder.iterdir()}
    assert names == {f"{p}.json" for p in patients} | {"hospitalInformation.json",
                                                        "practitionerInformation.json"}
    assert not list((out / "bundles").glob("*.ndjson"))
    bundle = get_fhir_model_class("Bundle")
    for name in [*sorted(names)[:5], "hospitalInformation.json",
                 "practitionerInformation.json"]:
        bundle.model_validate(json.loads((folder / name).read_text(encoding="utf-8")))


def test_bundle_references_resolve(out: Path) -> None:
    folder = out / "bundles" / "fhir"
    shared: dict[str, set[str]] = {kind: set() for kind in SHARED}
    for name in ("hospitalInformation.json", "practitionerInformation.json"):
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        assert data["type"] == "batch"
        for entry in data["entry"]:
            shared[entry["resource"]["resourceType"]].add(entry["resource"]["id"])
            assert entry["request"]["ifNoneExist"] == (
                f"identifier={SITE_IDENTIFIER}|{entry['resource']['id']}")
    counts: Counter[str] = Counter()
    for path in sorted(folder.glob("*-*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["resourceType"] == "Bundle" and data["type"] == "transaction"
        entries = data["entry"]
        assert entries[0]["resource"]["resourceType"] == "Patient"
        assert path.stem == entries[0]["resource"]["id"]
        full = {e["fullUrl"] for e in entries}
        for entry in entries:
            resource = entry["resource"]
            counts[resource["resourceType"]] += 1
            assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
            assert entry["request"] == {"method": "POST", "url": resource["resourceType"]}
            for ref in _references(resource):
                if ref.startswith("urn:uuid:"):
                    assert ref in full, (path.name, ref)
                else:
                    kind, _, rest = ref.partition("?identifier=")
                    system, _, rid = rest.partition("|")
                    assert system == SITE_IDENTIFIER and rid in shared[kind], ref
    for kind in RESOURCES:
        expected = len(_ndjson(out, kind))
        got = len(shared[kind]) if kind in SHARED else counts[kind]
        assert got == expected, kind


def test_bundle_truth_names_each_patients_file(out: Path) -> None:
    ndjson_truth = read_truth((out / "ndjson" / TRUTH_FILE).read_text(encoding="utf-8"))
    truth = read_truth((out / "bundles" / TRUTH_FILE).read_text(encoding="utf-8"))
    assert Counter((t["value"], t["class"], t["column"]) for t in truth) == Counter(
        (t["value"], t["class"], t["column"]) for t in ndjson_truth)
    texts: dict[str, str] = {}
    notes: dict[str, dict[str, str]] = {}
    for item in truth:
        assert item["file"] == f"fhir/{item['person']}.json"
        text = texts.get(str(item["file"]))
        if text is None:
            text = texts[str(item["file"])] = (out / "bundles" / str(item["file"])).read_text(
                encoding="utf-8")
        if "resource" in item:  # a note span: offsets into the DocumentReference's text
            if item["file"] not in notes:
                notes[str(item["file"])] = {
                    e["resource"]["id"]: base64.b64decode(
                        e["resource"]["content"][0]["attachment"]["data"]).decode()
                    for e in json.loads(text)["entry"]
                    if e["resource"]["resourceType"] == "DocumentReference"}
            data = notes[str(item["file"])][item["resource"]]
            assert data[item["start"]:item["end"]] == item["value"], item
            continue
        assert json.dumps(item["value"], ensure_ascii=False) in text, item
    assert {"device", "other_id"} <= {str(t["class"]) for t in truth}
    assert ((out / "bundles" / "truth_crosswalk.csv").read_bytes()
            == (out / "csv" / "truth_crosswalk.csv").read_bytes())


def test_bundles_deterministic_and_cli(out: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(synth, [
        "--profile", "midwest-academic", "--persons", str(PERSONS), "--seed", "5", "--out",
        str(tmp_path / "again"), "--identifiable", "--format", "fhir", "--fhir-layout",
        "bundles", "--quiet"])
    assert result.exit_code == 0, result.output
    for path in sorted((out / "bundles").rglob("*")):
        if path.is_file():
            again = tmp_path / "again" / path.relative_to(out / "bundles")
            assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(
                again.read_bytes()).digest(), path.name
    bad = CliRunner().invoke(synth, ["--profile", "midwest-academic", "--out",
                                     str(tmp_path / "x"), "--identifiable", "--fhir-layout",
                                     "bundles"])
    assert bad.exit_code != 0
    with pytest.raises(Exception, match="layout"):
        generate_identifiable("midwest-academic", 10, 0, tmp_path / "y", format="fhir",
                              fhir_layout="zip")

"""The identifiable Synthea-format extract: headers, determinism, facts, truth file."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from behindglass.cli.synth_cmd import synth
from behindglass.synth import generate_site
from behindglass.synth.identifiable import HEADERS, TRUTH_FILE, generate_identifiable

PERSONS = 2_000


@pytest.fixture(scope="module")
def us(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ident")
    generate_identifiable("midwest-academic", PERSONS, 3, root / "id")
    generate_site("midwest-academic", PERSONS, 3, root / "omop")
    return root / "id", root / "omop"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_headers_exact(us: tuple[Path, Path]) -> None:
    ident, _ = us
    for name, header in HEADERS.items():
        first = (ident / f"{name}.csv").read_text(encoding="utf-8").splitlines()[0]
        assert first == ",".join(header)
    assert HEADERS["patients"][:4] == ("Id", "BIRTHDATE", "DEATHDATE", "SSN")


def test_byte_identical_per_seed(us: tuple[Path, Path], tmp_path: Path) -> None:
    ident, _ = us
    generate_identifiable("midwest-academic", PERSONS, 3, tmp_path / "again")
    for path in sorted(ident.iterdir()):
        again = (tmp_path / "again" / path.name).read_bytes()
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(again).digest()


def test_clinical_facts_match_omop(us: tuple[Path, Path]) -> None:
    ident, omop = us
    cross = _read(ident / "truth_crosswalk.csv").set_index("PATIENT")["PERSON_ID"].astype(int)
    pairs = [("encounters", ["visit_occurrence"]), ("conditions", ["condition_occurrence"]),
             ("medications", ["drug_exposure"]), ("procedures", ["procedure_occurrence"]),
             ("observations", ["measurement", "observation"])]
    for synthea, tables in pairs:
        mine = _read(ident / f"{synthea}.csv")["PATIENT"].map(cross).value_counts().sort_index()
        theirs = pd.concat([pd.read_csv(omop / f"{t}.csv", usecols=["person_id"])["person_id"]
                            for t in tables]).value_counts().sort_index()
        assert mine.to_dict() == theirs.to_dict(), synthea
    patients = _read(ident / "patients.csv")
    person = pd.read_csv(omop / "person.csv")
    assert (patients["Id"].map(cross).to_numpy() == person["person_id"].to_numpy()).all()
    birth = pd.to_datetime(person["birth_datetime"]).dt.strftime("%Y-%m-%d")
    assert (patients["BIRTHDATE"].to_numpy() == birth.to_numpy()).all()
    deaths = pd.read_csv(omop / "death.csv")
    assert (patients["DEATHDATE"] != "").sum() == len(deaths)
    codes = set(_read(ident / "conditions.csv")["CODE"])
    assert "44054006" in codes or "73211009" in codes  # SNOMED codes of diabetes concepts


def test_truth_values_occur_where_named(us: tuple[Path, Path]) -> None:
    ident, _ = us
    lines = (ident / TRUTH_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) > PERSONS * 10
    frames: dict[str, pd.DataFrame] = {}
    present: dict[tuple[str, str], set[tuple[str, str]]] = {}
    classes = set()
    for line in lines:
        item = json.loads(line)
        classes.add(item["class"])
        if "row" in item:  # a span of a clinical note: offsets into notes.csv TEXT
            notes = frames.setdefault(item["file"], _read(ident / item["file"]))
            if "_by_id" not in frames:
                frames["_by_id"] = notes.set_index("Id")
            row = frames["_by_id"].loc[item["row"]]
            assert row["PATIENT"] == item["person"], line
            assert row[item["column"]][item["start"]:item["end"]] == item["value"], line
            continue
        key = (item["file"], item["column"])
        if key not in present:
            frame = frames.setdefault(item["file"], _read(ident / item["file"]))
            owner = {"patients.csv": "Id", "claims.csv": "PATIENTID"}.get(item["file"],
                                                                           "PATIENT")
            present[key] = set(zip(frame[owner], frame[item["column"]], strict=True))
        assert (item["person"], item["value"]) in present[key], line
    assert {"name", "address", "zip", "date", "phone", "email", "ssn", "mrn", "health_plan",
            "account", "license"} <= classes


def test_truth_values_belong_to_the_person(us: tuple[Path, Path]) -> None:
    ident, _ = us
    patients = _read(ident / "patients.csv").set_index("Id")
    for line in (ident / TRUTH_FILE).read_text(encoding="utf-8").splitlines()[:3_000]:
        item = json.loads(line)
        if item["file"] == "patients.csv":
            assert patients.at[item["person"], item["column"]] == item["value"]


def test_identities_look_real(us: tuple[Path, Path]) -> None:
    ident, omop = us
    patients = _read(ident / "patients.csv")
    assert (patients["FIRST"].str.len() > 0).all() and (patients["LAST"].str.len() > 0).all()
    ssn = patients["SSN"]
    assert ssn.str.fullmatch(r"\d{3}-\d{2}-\d{4}").all()
    assert not ssn.str.match(r"(000|666|9\d\d)-").any()
    assert patients["Id"].is_unique and ssn.nunique() > PERSONS * 0.99
    person = pd.read_csv(omop / "person.csv")
    location = pd.read_csv(omop / "location.csv", dtype=str).set_index("location_id")
    zip3 = person["location_id"].astype(str).map(location["zip"])
    assert (patients["ZIP"].str[:3].to_numpy() == zip3.to_numpy()).all()
    assert (patients["ZIP"].str.len() == 5).all()
    contacts = _read(ident / "patient_contacts.csv")
    assert contacts["EMAIL"].str.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+").all()
    assert contacts["MRN"].is_unique


def test_locales_differ_per_profile(tmp_path: Path) -> None:
    firsts = {}
    for profile in ("urban-brazil", "israel-centre", "canada-network"):
        out = tmp_path / profile
        generate_identifiable(profile, 300, 1, out)
        patients = _read(out / "patients.csv")
        firsts[profile] = set(patients["FIRST"])
        if profile == "urban-brazil":
            assert patients["SSN"].str.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}").all()
            assert patients["ZIP"].str.fullmatch(r"\d{5}-\d{3}").all()
        if profile == "israel-centre":
            assert patients["FIRST"].map(lambda s: bool(re.search("[\u0590-\u05ff]", s))).all()
        if profile == "canada-network":
            assert patients["ZIP"].str.fullmatch(r"[A-Z]\d[A-Z] \d[A-Z]\d").all()
    assert not firsts["urban-brazil"] & firsts["israel-centre"]


def test_omop_output_unchanged_and_cli(tmp_path: Path, us: tuple[Path, Path]) -> None:
    _, omop = us
    again = tmp_path / "omop"
    generate_site("midwest-academic", PERSONS, 3, again)
    for path in sorted(omop.iterdir()):
        assert path.read_bytes() == (again / path.name).read_bytes(), path.name
    runner = CliRunner()
    result = runner.invoke(synth, ["--profile", "rural-community", "--persons", "200",
                                   "--out", str(tmp_path / "cli"), "--identifiable",
                                   "--format", "synthea-csv", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli" / "patients.csv").exists()
    assert (tmp_path / "cli" / TRUTH_FILE).exists()
    bad = runner.invoke(synth, ["--profile", "rural-community", "--out", str(tmp_path / "x"),
                                "--format", "synthea-csv"])
    assert bad.exit_code != 0

"""The supplementary Synthea files of the identifiable extract: immunizations, allergies,
careplans, devices, imaging studies and claims."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from behindglass.synth.identifiable import HEADERS, TRUTH_FILE, generate_identifiable
from behindglass.synth.identifiable.care_codes import ALLERGIES, CAREPLANS, CVX, DEVICES
from behindglass.synth.identifiable.devices import gtin_check_digit
from behindglass.synth.identifiable.synthea_csv import CODES

PERSONS = 6_000  # more than one block of 5,000, so block-unique numbers are exercised
CARE = ("immunizations", "allergies", "careplans", "devices", "imaging_studies", "claims")


@pytest.fixture(scope="module")
def ident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("care") / "id"
    generate_identifiable("midwest-academic", PERSONS, 11, out)
    return out


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def frames(ident: Path) -> dict[str, pd.DataFrame]:
    return {name: _read(ident / f"{name}.csv")
            for name in (*CARE, "patients", "encounters", "conditions", "procedures")}


def test_synthea_headers(ident: Path) -> None:
    expected = {
        "immunizations": "DATE,PATIENT,ENCOUNTER,CODE,DESCRIPTION,BASE_COST",
        "devices": "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,UDI",
        "careplans": "Id,START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,REASONCODE,"
                     "REASONDESCRIPTION",
    }
    for name in CARE:
        first = (ident / f"{name}.csv").read_text(encoding="utf-8").splitlines()[0]
        assert first == ",".join(HEADERS[name])
        if name in expected:
            assert first == expected[name]
    assert HEADERS["claims"][7:15] == tuple(f"DIAGNOSIS{k}" for k in range(1, 9))
    assert len(HEADERS["claims"]) == 31 and len(HEADERS["allergies"]) == 15


def test_every_file_has_rows_and_known_codes(frames: dict[str, pd.DataFrame]) -> None:
    for name in CARE:
        assert len(frames[name]) > 0, name
    assert set(frames["immunizations"]["CODE"]) <= set(CVX)
    assert {"140", "208", "20", "121"} <= set(frames["immunizations"]["CODE"])
    assert set(frames["allergies"]["CODE"]) <= set(ALLERGIES)
    assert set(frames["careplans"]["CODE"]) <= set(CAREPLANS)
    assert set(frames["devices"]["CODE"]) <= set(DEVICES)
    assert set(frames["imaging_studies"]["PROCEDURE_CODE"]) == {"399208008", "1571000087109"}


def test_events_on_the_persons_encounters_within_life(frames: dict[str, pd.DataFrame]) -> None:
    enc = frames["encounters"].set_index("Id")
    patients = frames["patients"].set_index("Id")
    for name, date in (("immunizations", "DATE"), ("allergies", "START"),
                       ("careplans", "START"), ("devices", "START"),
                       ("imaging_studies", "DATE")):
        table = frames[name]
        assert table["ENCOUNTER"].isin(enc.index).all(), name
        assert (enc.loc[table["ENCOUNTER"], "PATIENT"].to_numpy()
                == table["PATIENT"].to_numpy()).all(), name
        day = table[date].str[:10]
        assert (day >= patients.loc[table["PATIENT"], "BIRTHDATE"].to_numpy()).all(), name
        death = patients.loc[table["PATIENT"], "DEATHDATE"].to_numpy()
        assert ((death == "") | (day <= death)).all(), name
        if name in ("immunizations", "devices", "imaging_studies"):  # at the visit itself
            assert (day >= enc.loc[table["ENCOUNTER"], "START"].str[:10].to_numpy()).all()
    stops = frames["allergies"]["STOP"]
    assert ((stops == "") | (stops > frames["allergies"]["START"])).all()


def test_immunizations_are_age_appropriate(frames: dict[str, pd.DataFrame]) -> None:
    imm = frames["immunizations"]
    birth = frames["patients"].set_index("Id").loc[imm["PATIENT"], "BIRTHDATE"]
    age = ((pd.to_datetime(imm["DATE"].str[:10]).to_numpy()
            - pd.to_datetime(birth).to_numpy()).astype("timedelta64[D]").astype(int) / 365.25)
    imm = imm.assign(AGE=age)
    assert (imm.loc[imm["CODE"].isin(["20", "10", "08", "03", "21"]), "AGE"] < 7.5).all()
    assert (imm.loc[imm["CODE"] == "121", "AGE"] >= 50).all()
    assert (imm.loc[imm["CODE"] == "33", "AGE"] >= 65).all()
    assert (imm.loc[imm["CODE"] == "208", "DATE"] >= "2021").all()
    assert not imm.duplicated(["PATIENT", "ENCOUNTER", "CODE"]).any()  # ingest's row key
    flu = imm[imm["CODE"].isin(["140", "141"])]
    month = flu["DATE"].str[5:7].astype(int)
    assert month.isin([9, 10, 11, 12, 1, 2, 3]).all()


def test_allergies_share_and_distinct(frames: dict[str, pd.DataFrame]) -> None:
    allergies = frames["allergies"]
    per_person = allergies.groupby("PATIENT").size()
    assert 0.12 < len(per_person) / PERSONS < 0.28
    assert per_person.between(1, 3).all()
    assert not allergies.duplicated(["PATIENT", "CODE"]).any()
    assert set(allergies["SEVERITY1"]) <= {"MILD", "MODERATE", "SEVERE"}


def test_careplans_follow_conditions(frames: dict[str, pd.DataFrame]) -> None:
    plans, cond = frames["careplans"], frames["conditions"]
    targets = {code: {CODES[cid] for cid in ids} for code, (_, ids) in CAREPLANS.items()}
    diagnosed = set(zip(cond["PATIENT"], cond["CODE"], strict=True))
    for row in plans.itertuples():
        assert row.REASONCODE in targets[row.CODE]
        assert (row.PATIENT, row.REASONCODE) in diagnosed
    assert plans["Id"].is_unique
    assert not plans.duplicated(["PATIENT", "CODE"]).any()


def test_devices_udi(frames: dict[str, pd.DataFrame]) -> None:
    dev = frames["devices"]
    assert dev["UDI"].is_unique
    pattern = re.compile(r"\(01\)(\d{14})\(11\)(\d{6})\(17\)(\d{6})\(10\)(\w+)\(21\)(\d+)")
    for udi in dev["UDI"]:
        match = pattern.fullmatch(udi)
        assert match, udi
        gtin = match[1]
        assert gtin_check_digit(gtin[:13]) == gtin[13]
        assert match[3] > match[2]  # expires after manufacture (YYMMDD, 20xx)
    serials = dev["UDI"].str.extract(r"\(21\)(\d+)$")[0]
    assert serials.is_unique
    # Stents sit on the person's PCI procedures; masks are worn for two weeks.
    stents = dev[dev["CODE"] == "705643001"]
    procs = frames["procedures"]
    pci = set(zip(procs.loc[procs["CODE"] == "415070008", "ENCOUNTER"],
                  procs.loc[procs["CODE"] == "415070008", "START"], strict=True))
    assert set(zip(stents["ENCOUNTER"], stents["START"], strict=True)) <= pci
    masks = dev[dev["CODE"] == "261352009"]
    assert (masks["STOP"] != "").all() and (dev.loc[dev["CODE"] != "261352009", "STOP"]
                                             == "").all()


def test_imaging_grouped_per_study(frames: dict[str, pd.DataFrame]) -> None:
    img = frames["imaging_studies"]
    assert img["INSTANCE_UID"].is_unique
    uid = re.compile(r"1\.2\.840\.99999(\.[1-9]\d*)+")
    assert img["INSTANCE_UID"].map(lambda u: bool(uid.fullmatch(u)) and len(u) <= 64).all()
    per_study = img.groupby("Id").agg(
        rows=("INSTANCE_UID", "size"), series=("SERIES_UID", "nunique"),
        patients=("PATIENT", "nunique"), dates=("DATE", "nunique"),
        kinds=("PROCEDURE_CODE", "nunique"))
    assert per_study["rows"].between(1, 3).all() and (per_study["rows"] > 1).any()
    assert (per_study[["series", "patients", "dates", "kinds"]] == 1).all().all()
    assert img.groupby("SERIES_UID")["Id"].nunique().eq(1).all()
    # Rows of one study are adjacent, as Synthea writes them.
    assert (img["Id"] != img["Id"].shift()).sum() == len(per_study)
    xray = img[img["PROCEDURE_CODE"] == "399208008"]
    assert set(xray["MODALITY_CODE"]) == {"DX"} and set(xray["BODYSITE_CODE"]) == {"51185008"}
    procs = frames["procedures"]
    n_xray = (procs["CODE"] == "399208008").sum()
    assert xray["Id"].nunique() == n_xray  # one study per chest X-ray procedure


def test_claims_one_per_encounter(frames: dict[str, pd.DataFrame]) -> None:
    claims, enc, cond = frames["claims"], frames["encounters"], frames["conditions"]
    assert len(claims) == len(enc) and claims["Id"].is_unique
    assert claims["APPOINTMENTID"].is_unique
    assert (claims["PATIENTID"].to_numpy() == enc["PATIENT"].to_numpy()).all()
    assert (claims["SERVICEDATE"].to_numpy() == enc["START"].to_numpy()).all()
    assert (claims["PRIMARYPATIENTINSURANCEID"].to_numpy() == enc["PAYER"].to_numpy()).all()
    by_visit = cond.groupby("ENCOUNTER")["CODE"].apply(list)
    claims = claims.assign(ENC=enc["Id"].to_numpy())
    for row in claims[claims["DIAGNOSIS1"] != ""].head(300).itertuples():
        written = [getattr(row, f"DIAGNOSIS{k}") for k in range(1, 9)]
        assert [d for d in written if d] == by_visit[row.ENC][:8]


def test_planted_values_in_truth_and_file(ident: Path, frames: dict[str, pd.DataFrame]) -> None:
    truth = [json.loads(line)
             for line in (ident / TRUTH_FILE).read_text(encoding="utf-8").splitlines()]
    planted: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for item in truth:
        planted.setdefault((item["file"], item["column"]), []).append(
            (item["person"], item["value"]))
    expected = {("devices.csv", "UDI"): "device", ("imaging_studies.csv", "SERIES_UID"): "",
                ("imaging_studies.csv", "INSTANCE_UID"): "", ("claims.csv", "Id"): "",
                ("claims.csv", "APPOINTMENTID"): ""}
    for (file, column) in expected:
        table = frames[file.removesuffix(".csv")]
        owner = "PATIENTID" if file == "claims.csv" else "PATIENT"
        listed = planted[(file, column)]
        assert len(listed) == len(set(listed)), (file, column)  # each value once
        assert set(listed) == set(zip(table[owner], table[column], strict=True)), (file, column)
    classes = {(i["file"], i["column"]): i["class"] for i in truth}
    assert classes[("devices.csv", "UDI")] == "device"
    assert classes[("imaging_studies.csv", "INSTANCE_UID")] == "other_id"
    assert classes[("claims.csv", "APPOINTMENTID")] == "account"


def test_existing_files_unchanged_by_care_tables(ident: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The supplementary files draw from their own stream: without them every other file
    is byte for byte the same."""
    from behindglass.synth.identifiable import export

    monkeypatch.setattr(export, "care_tables", lambda *a, **k: {
        name: {column: [] for column in HEADERS[name]} for name in CARE})
    monkeypatch.setattr(export, "PLANTED", tuple(
        p for p in export.PLANTED if p.file.removesuffix(".csv") not in CARE))
    generate_identifiable("midwest-academic", PERSONS, 11, tmp_path / "bare")
    for name in ("patients", "encounters", "conditions", "medications", "observations",
                 "procedures", "payer_transitions", "patient_contacts", "truth_crosswalk"):
        assert ((ident / f"{name}.csv").read_bytes()
                == (tmp_path / "bare" / f"{name}.csv").read_bytes()), name


@pytest.mark.parametrize("persons", [1, 3])
def test_tiny_sites_in_every_format(tmp_path: Path, persons: int) -> None:
    """A block may have no allergy, device or imaging study at all."""
    for name, kwargs in (("csv", {}), ("ndjson", {"format": "fhir"}),
                         ("bundles", {"format": "fhir", "fhir_layout": "bundles"})):
        report = generate_identifiable("rural-community", persons, 2, tmp_path / name, **kwargs)
        assert report.rows.get("patients", report.rows.get("Patient.ndjson",
                                                            report.rows.get("Patient"))) == persons
    assert _read(tmp_path / "csv" / "claims.csv").shape[1] == len(HEADERS["claims"])

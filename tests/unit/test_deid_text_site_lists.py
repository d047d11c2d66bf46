"""Site deny-lists from a site's own structured extract (Synthea CSV, FHIR), and their
folder format: build, save → load, atomic replace, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from behindglass.core.errors import LoadError
from behindglass.deid.text.site_lists import MANIFEST, SiteLists
from behindglass.deid.text.site_lists_source import (
    clean_name,
    site_lists_from_fhir,
    site_lists_from_synthea,
)
from tests.unit.ingest_support import PEOPLE, write_extract, write_extras

identifiable = pytest.importorskip("behindglass.synth.identifiable")


def _csv(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    src = tmp_path / "tiny"
    src.mkdir()
    _csv(src / "patients.csv",
         "Id,BIRTHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,MAIDEN,ADDRESS,CITY,"
         "COUNTY,ZIP\n"
         "p1,1970-01-01,999-11-2222,S12345678,X9876543X,Mrs.,Maria123,O'Neil45,,Lopez77,"
         "12 Elm St,Springfield,Hampden County,01101\n"
         "p2,1980-02-02,999-33-4444,,,Mr.,José9,Da Silva,Jr.,,\"4 Oak Ave, Apt 2\",Boston,,"
         "02110\n")
    _csv(src / "providers.csv", "Id,ORGANIZATION,NAME,ADDRESS,CITY,STATE,ZIP\n"
                                "d1,o1,Gregory House,221 Baker St,Princeton,NJ,08540\n")
    _csv(src / "organizations.csv", "Id,NAME,ADDRESS,CITY,STATE,ZIP,PHONE\n"
                                    "o1,Princeton Plainsboro,1 Hospital Rd,Princeton,NJ,"
                                    "08540,609-555-0100\n")
    _csv(src / "payer_transitions.csv", "PATIENT,MEMBERID,PAYER,OWNER_NAME\n"
                                        "p1,M00012345678,pay1,Maria O'Neil\n")
    _csv(src / "payers.csv", "Id,NAME\npay1,Medicare\n")
    return src


def test_clean_name_strips_synthea_digits() -> None:
    assert clean_name("Maria123  O'Neil45") == "Maria O'Neil"
    assert clean_name("  ") == "" and clean_name(None) == ""
    assert clean_name("R2D2") == "R2D"  # only trailing digits of each word


def test_synthea_lists_per_label(tiny: Path) -> None:
    lists = site_lists_from_synthea(tiny)
    assert lists.get("NAME") == {"Maria O'Neil", "Maria Lopez", "José Da Silva",
                                 "Gregory House"}
    assert lists.get("SSN") == {"999-11-2222", "999-33-4444"}
    assert lists.get("LICENSE") == {"S12345678", "X9876543X"}
    assert lists.get("STREET") == {"12 Elm St", "4 Oak Ave, Apt 2", "221 Baker St",
                                   "1 Hospital Rd"}
    assert lists.get("CITY") == {"Springfield", "Boston", "Hampden County", "Princeton"}
    assert lists.get("ZIP") == {"01101", "02110", "08540"}  # leading zeros kept (text)
    assert lists.get("INSTITUTION") == {"Princeton Plainsboro"}
    assert lists.get("PHONE") == {"609-555-0100"}
    assert lists.get("HEALTH_PLAN") == {"M00012345678"}
    # prefixes, suffixes and insurers are not identifiers of anyone
    everything = {v for vals in lists.values.values() for v in vals}
    assert not {"Mrs.", "Mr.", "Jr.", "Medicare"} & everything


def test_synthea_lists_from_the_hand_written_ingest_extract(tmp_path: Path) -> None:
    src = write_extras(write_extract(tmp_path / "src"))
    lists = site_lists_from_synthea(src)
    names = lists.get("NAME")
    for person in PEOPLE:
        assert f"{person[4]} {person[5]}" in names
        if person[6]:
            assert f"{person[4]} {person[6]}" in names
        assert person[3] in lists.get("SSN") and person[10] in lists.get("STREET")
    # a PHONE column on patients.csv (not Synthea's, but a site's) is collected
    assert {p[13] for p in PEOPLE} <= lists.get("PHONE")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("site-lists")
    out = {}
    for fmt, layout in (("synthea-csv", "ndjson"), ("fhir", "ndjson"), ("fhir", "bundles")):
        path = root / f"{fmt}-{layout}"
        identifiable.generate_identifiable("midwest-academic", 15, 5, path, format=fmt,
                                           fhir_layout=layout)
        out[f"{fmt}-{layout}"] = path
    return out


def _truth(src: Path) -> list[dict]:
    return identifiable.read_truth((src / identifiable.TRUTH_FILE).read_text())


# truth class → the label the structured value must be listed under
_LABEL = {"ssn": {"SSN"}, "mrn": {"MRN"}, "email": {"EMAIL"}, "phone": {"PHONE"},
          "license": {"LICENSE"}, "health_plan": {"HEALTH_PLAN"}, "account": {"ACCOUNT"},
          "zip": {"ZIP"}, "address": {"STREET", "CITY"}}


@pytest.mark.parametrize("kind", ["synthea-csv-ndjson", "fhir-ndjson", "fhir-bundles"])
def test_every_structured_identity_value_is_listed(generated: dict[str, Path],
                                                   kind: str) -> None:
    src = generated[kind]
    lists = (site_lists_from_synthea(src) if kind.startswith("synthea")
             else site_lists_from_fhir(src / "fhir" if (src / "fhir").is_dir() else src))
    # not note spans; claim ids and appointment numbers are billing keys no note quotes
    structured = [t for t in _truth(src) if t.get("start") is None
                  and t["file"] != "claims.csv"]
    assert structured
    names = lists.get("NAME")
    name_words = {w for n in names for w in n.split()}
    missing = []
    for t in structured:
        value = str(t["value"])
        if t["class"] == "name":
            ok = any(value == n or value in n.split() for n in names) or set(
                value.split()) <= name_words
        elif t["class"] in _LABEL:
            ok = any(value in lists.get(label) for label in _LABEL[t["class"]])
        else:
            continue  # dates, device UDIs, image UIDs: not for the deny-lists
        if not ok:
            missing.append((t["class"], t.get("column")))
    assert missing == []
    assert lists.get("INSTITUTION")  # the site's care sites


def test_csv_and_fhir_lists_agree(generated: dict[str, Path]) -> None:
    csv_lists = site_lists_from_synthea(generated["synthea-csv-ndjson"])
    ndjson = site_lists_from_fhir(generated["fhir-ndjson"])
    bundles_root = generated["fhir-bundles"]
    bundles = site_lists_from_fhir(bundles_root / "fhir" if (bundles_root / "fhir").is_dir()
                                   else bundles_root)
    assert ndjson == bundles
    for label in ("NAME", "SSN", "MRN", "PHONE", "EMAIL", "ZIP", "HEALTH_PLAN"):
        assert csv_lists.get(label) <= ndjson.get(label), label


def test_save_load_round_trip(tiny: Path, tmp_path: Path) -> None:
    lists = site_lists_from_synthea(tiny)
    folder = lists.save(tmp_path / "lists")
    assert SiteLists.load(folder) == lists
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["counts"] == lists.counts()
    assert (folder / "NAME.txt").read_text(encoding="utf-8").splitlines() == sorted(
        lists.get("NAME"))


def test_save_replaces_an_existing_folder_whole(tiny: Path, tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    SiteLists.build([("NAME", "Old Person"), ("FAX", "555-0000")]).save(folder)
    (folder / "stray.tmp").write_text("left over")
    new = site_lists_from_synthea(tiny)
    new.save(folder)
    assert SiteLists.load(folder) == new
    assert not (folder / "FAX.txt").exists() and not (folder / "stray.tmp").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lists", "tiny"]  # no temp folder


def test_missing_patients_file(tiny: Path) -> None:
    (tiny / "patients.csv").unlink()
    with pytest.raises(LoadError, match=r"patients\.csv"):
        site_lists_from_synthea(tiny)


def test_patients_file_without_name_columns(tiny: Path) -> None:
    _csv(tiny / "patients.csv", "Id,SSN\np1,999-11-2222\n")
    with pytest.raises(LoadError, match="FIRST, LAST") as err:
        site_lists_from_synthea(tiny)
    assert "patients.csv" in str(err.value)


def test_non_utf8_source_file_is_refused_by_name(tiny: Path) -> None:
    with (tiny / "providers.csv").open("ab") as fh:
        fh.write(b"d2,o1,Jos\xe9 Garc\xeda,1 Rd,Town,NJ,08540\n")
    with pytest.raises(LoadError, match="UTF-8") as err:
        site_lists_from_synthea(tiny)
    assert "providers.csv" in str(err.value)
    # the ingest reads leniently (it reports bad rows itself)
    assert "Gregory House" in site_lists_from_synthea(tiny, strict=False).get("NAME")


def test_fhir_source_without_patients(tmp_path: Path) -> None:
    tmp_path.joinpath("Practitioner.ndjson").write_text(json.dumps(
        {"resourceType": "Practitioner", "id": "x", "name": [{"family": "House"}]}) + "\n")
    with pytest.raises(LoadError, match="Patient"):
        site_lists_from_fhir(tmp_path)


def test_fhir_non_utf8_file(tmp_path: Path) -> None:
    tmp_path.joinpath("Patient.ndjson").write_bytes(
        b'{"resourceType": "Patient", "id": "p", "name": [{"family": "Garc\xeda"}]}\n')
    with pytest.raises(LoadError, match="UTF-8") as err:
        site_lists_from_fhir(tmp_path)
    assert "Patient.ndjson" in str(err.value)
    assert site_lists_from_fhir(tmp_path, strict=False).get("NAME") == {"Garc\ufffda"}


def test_load_refuses_an_unknown_label_file(tiny: Path, tmp_path: Path) -> None:
    folder = site_lists_from_synthea(tiny).save(tmp_path / "lists")
    (folder / "NICKNAME.txt").write_text("Bob\n")
    with pytest.raises(LoadError, match="NICKNAME"):
        SiteLists.load(folder)


def test_load_refuses_a_non_utf8_file(tiny: Path, tmp_path: Path) -> None:
    folder = site_lists_from_synthea(tiny).save(tmp_path / "lists")
    (folder / "NAME.txt").write_bytes(b"Jos\xe9\n")
    with pytest.raises(LoadError, match="UTF-8"):
        SiteLists.load(folder)

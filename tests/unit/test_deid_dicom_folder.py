"""Folder runs, the run report, burned-in flags, canaries and the CLI of deid.dicom."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from behindglass.cli.deid_dicom_cmd import dicom
from behindglass.core.errors import DeidError
from behindglass.deid.dicom import REPORT_NAME, DicomDeidConfig, deidentify_folder
from behindglass.deid.secret import SiteSecret
from tests.unit.test_deid_dicom_actions import CT, OTHER_SECRET, SECRET, US, make_ds

CANARIES = {
    "name": "Zqxname",
    "pid": "ZQXPID991",
    "other": "ZQXOTHER77",
    "inst": "Zqxinstitution",
    "private": "ZQXPRIVATE55",
    "file": "zqxfile",
    "folder": "zqxfolder",
}
REPORT_KEYS = {
    "profile", "table_edition", "date_mode", "secret_fingerprint", "files_seen",
    "files_written", "files_skipped", "actions", "private_removed", "private_kept",
    "burned_in_flagged", "skipped", "files",
}


def cfg(secret: SiteSecret = SECRET) -> DicomDeidConfig:
    return DicomDeidConfig(secret=secret)


def save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def study_tree(root: Path) -> tuple[str, str]:
    """Two CT instances of one study (the second references the first) plus one US image."""
    study = generate_uid()
    first = make_ds(study_uid=study, patient_id="P1")
    second = make_ds(study_uid=study, patient_id="P1")
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT
    ref.ReferencedSOPInstanceUID = first.SOPInstanceUID
    second.SourceImageSequence = Sequence([ref])
    save(first, root / "a" / "1.dcm")
    save(second, root / "a" / "2")  # no extension
    save(make_ds(patient_id="P2", modality="US", sop_class=US, burned_in=None),
         root / "b" / "us.dcm")
    return study, first.SOPInstanceUID


def read_out(out: Path) -> list[Dataset]:
    return [pydicom.dcmread(p) for p in sorted(out.glob("*.dcm"))]


def test_study_uids_and_references_stay_consistent(tmp_path):
    study_uid, first_uid = study_tree(tmp_path / "in")
    report = deidentify_folder(tmp_path / "in", tmp_path / "out", cfg(), progress=False)
    assert report.files_written == 3 and not report.skipped
    outs = read_out(tmp_path / "out")
    ct = [d for d in outs if d.Modality == "CT"]
    assert len({d.StudyInstanceUID for d in ct}) == 1
    assert ct[0].StudyInstanceUID != study_uid
    referencing = next(d for d in ct if "SourceImageSequence" in d)
    referenced = next(d for d in ct if "SourceImageSequence" not in d)
    assert referencing.SourceImageSequence[0].ReferencedSOPInstanceUID == \
        referenced.SOPInstanceUID
    assert referenced.SOPInstanceUID != first_uid
    for d, path in zip(outs, sorted((tmp_path / "out").glob("*.dcm")), strict=True):
        assert d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID
        assert path.name == f"{d.SOPInstanceUID}.dcm"
    assert not list((tmp_path / "out").glob(".deid-*"))  # no temp files left


def test_progress_bar_run(tmp_path):
    study_tree(tmp_path / "in")
    report = deidentify_folder(tmp_path / "in", tmp_path / "out", cfg(), progress=True)
    assert report.files_written == 3


def test_rerun_same_secret_same_uids_other_secret_other_uids(tmp_path):
    study_tree(tmp_path / "in")
    deidentify_folder(tmp_path / "in", tmp_path / "o1", cfg(), progress=False)
    deidentify_folder(tmp_path / "in", tmp_path / "o2", cfg(), progress=False)
    deidentify_folder(tmp_path / "in", tmp_path / "o3", cfg(OTHER_SECRET), progress=False)
    names = [sorted(p.name for p in (tmp_path / o).glob("*.dcm")) for o in ("o1", "o2", "o3")]
    assert names[0] == names[1]
    assert not set(names[0]) & set(names[2])


def test_burned_in_flags(tmp_path):
    src = tmp_path / "in"
    save(make_ds(burned_in="YES"), src / "yes.dcm")
    save(make_ds(modality="US", sop_class=US, burned_in=None), src / "us.dcm")
    save(make_ds(burned_in="NO"), src / "ct.dcm")
    sc = make_ds(modality="CT", burned_in=None)
    sc.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    save(sc, src / "sc.dcm")
    report = deidentify_folder(src, tmp_path / "out", cfg(), progress=False)
    flagged = {f.modality + ":" + (f.burned_in_reason or "") for f in report.burned_in}
    assert len(report.burned_in) == 3
    assert any("BurnedInAnnotation is YES" in f for f in flagged)
    assert any(f.startswith("US:modality US") for f in flagged)
    assert any("SECONDARY" in f for f in flagged)
    data = json.loads((tmp_path / "out" / REPORT_NAME).read_text())
    flagged_files = {f["file"] for f in data["burned_in_flagged"]}
    not_flagged = [f for f in data["files"] if not f["burned_in"]]
    assert len(not_flagged) == 1 and not_flagged[0]["file"] not in flagged_files
    assert all((tmp_path / "out" / name).exists() for name in flagged_files)


def test_non_dicom_files_are_skipped_and_reported(tmp_path):
    src = tmp_path / "in"
    save(make_ds(), src / "ok.dcm")
    (src / "Smith_notes.txt").write_text("not dicom")
    (src / "empty.dcm").write_bytes(b"")
    report = deidentify_folder(src, tmp_path / "out", cfg(), progress=False)
    assert report.files_written == 1 and len(report.skipped) == 2
    assert {s.reason for s in report.skipped} == {"not a DICOM file (no DICM header)"}
    text = (tmp_path / "out" / REPORT_NAME).read_text()
    assert "Smith" not in text and "empty" not in text
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix != ".dcm") == \
        [REPORT_NAME]


def test_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(DeidError, match="input folder does not exist"):
        deidentify_folder(tmp_path / "nope", tmp_path / "out", cfg(), progress=False)
    src = tmp_path / "in"
    save(make_ds(), src / "x.dcm")
    with pytest.raises(DeidError, match="must not be inside the input"):
        deidentify_folder(src, src / "out", cfg(), progress=False)
    with pytest.raises(DeidError, match="must not be inside the input"):
        deidentify_folder(src, src, cfg(), progress=False)
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.txt").write_text("x")
    with pytest.raises(DeidError, match="not empty"):
        deidentify_folder(src, full, cfg(), progress=False)
    assert deidentify_folder(src, full, cfg(), progress=False, force=True).files_written == 1


def _canary_tree(root: Path) -> Path:
    src = root / f"in-{CANARIES['folder']}" / f"Patient {CANARIES['folder']}"
    ds = make_ds(patient_id=CANARIES["pid"])
    ds.PatientName = f"{CANARIES['name']}^Jane"
    ds.OtherPatientIDs = CANARIES["other"]
    ds.InstitutionName = CANARIES["inst"]
    block = ds.private_block(0x0011, "HOSP", create=True)
    block.add_new(0x01, "LO", CANARIES["private"])
    item = Dataset()
    item.PatientName = CANARIES["name"]  # also nested, where tools often forget to look
    ds.ReferencedPatientSequence = Sequence([item])
    save(ds, src / f"{CANARIES['file']}_ct.dcm")
    save(make_ds(patient_id=CANARIES["pid"], modality="US", sop_class=US, burned_in=None),
         src / f"{CANARIES['file']}.us")
    return src.parent


def _assert_no_canary(blob: bytes, where: str) -> None:
    low = blob.lower()
    for key, canary in CANARIES.items():
        assert canary.lower().encode() not in low, f"{key} canary found in {where}"


def test_canaries_never_reach_the_output(tmp_path):
    src = _canary_tree(tmp_path)
    secret_file = tmp_path / "secret.key"
    SiteSecret.generate(secret_file)
    out = tmp_path / "out"
    result = CliRunner().invoke(dicom, [str(src), str(out), "--secret-file", str(secret_file),
                                        "--json"])
    assert result.exit_code == 0, result.output
    files = list(out.rglob("*"))
    assert len([f for f in files if f.suffix == ".dcm"]) == 2
    for f in files:
        _assert_no_canary(f.name.encode(), f"name {f.name}")
        if f.is_file():
            _assert_no_canary(f.read_bytes(), f.name)
    _assert_no_canary(result.output.encode(), "CLI output")
    plain = CliRunner().invoke(dicom, [str(src), str(tmp_path / "out2"),
                                       "--secret-file", str(secret_file)])
    assert plain.exit_code == 0
    _assert_no_canary(plain.output.encode(), "CLI summary")


def test_cli_json_report_has_the_documented_keys(tmp_path):
    study_tree(tmp_path / "in")
    (tmp_path / "in" / "readme.txt").write_text("x")
    secret_file = tmp_path / "s.key"
    runner = CliRunner()
    result = runner.invoke(dicom, [str(tmp_path / "in"), str(tmp_path / "out"),
                                   "--secret-file", str(secret_file), "--create-secret",
                                   "--json", "--quiet", "--keep-private", "0019,ACME,01",
                                   "--patient-id", "person-id", "--dates", "shift"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == REPORT_KEYS
    assert data["files_seen"] == 4 and data["files_written"] == 3 and data["files_skipped"] == 1
    assert set(data["actions"]) == {"D", "Z", "X", "K", "C", "U"}
    assert data["date_mode"] == "shift"
    assert data["skipped"] == [{"input_index": 4, "reason": "not a DICOM file (no DICM header)"}]
    assert json.loads((tmp_path / "out" / REPORT_NAME).read_text()) == data
    assert all(d.PatientID.isdigit() for d in read_out(tmp_path / "out"))
    again = runner.invoke(dicom, [str(tmp_path / "in"), str(tmp_path / "out"),
                                  "--secret-file", str(secret_file)])
    assert again.exit_code != 0 and "not empty" in again.output
    bad = runner.invoke(dicom, [str(tmp_path / "in"), str(tmp_path / "o9"),
                                "--secret-file", str(secret_file), "--keep-private", "zz"])
    assert bad.exit_code != 0 and "--keep-private zz" in bad.output
    shown = runner.invoke(dicom, [str(tmp_path / "in"), str(tmp_path / "o8"), "--quiet",
                                  "--secret-file", str(secret_file), "--show-skipped"])
    assert "readme.txt" in shown.stderr


def test_dicomdir_and_instances_without_uids_are_skipped(tmp_path):
    from pydicom.dataset import FileDataset

    src = tmp_path / "in"
    src.mkdir()
    for name, meta_class in (("DICOMDIR", "1.2.840.10008.1.3.10"), ("nouid.dcm", None)):
        ds = make_ds()
        meta = ds.file_meta
        del ds.SOPInstanceUID
        del meta.MediaStorageSOPInstanceUID
        if meta_class:
            meta.MediaStorageSOPClassUID = meta_class
        # A FileDataset with a preamble is written as a Part 10 file without the checks
        # enforce_file_format would apply (they would refuse these inputs).
        FileDataset(src / name, ds, file_meta=meta, preamble=b"\0" * 128).save_as(src / name)
    report = deidentify_folder(src, tmp_path / "out", cfg(), progress=False)
    reasons = sorted(s.reason for s in report.skipped)
    assert report.files_written == 0 and len(reasons) == 2, reasons
    assert reasons[0].startswith("DICOMDIR") and reasons[1].startswith("no SOP Class UID")

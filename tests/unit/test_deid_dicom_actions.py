"""DICOM header de-identification: one assertion per action class (behindglass.deid.dicom)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from behindglass.core.errors import DeidError
from behindglass.deid.dates import shift_dates, shift_days
from behindglass.deid.dicom import (
    CLEANED_TEXT,
    DUMMY_TEXT,
    DicomDeidConfig,
    PrivateTag,
    deidentify_file,
    parse_private_tag,
)
from behindglass.deid.secret import SiteSecret

SECRET = SiteSecret(b"k" * 32)
OTHER_SECRET = SiteSecret(b"o" * 32)
CT = "1.2.840.10008.5.1.4.1.1.2"
US = "1.2.840.10008.5.1.4.1.1.6.1"


def make_ds(
    *, patient_id: str = "MRN-0001", study_uid: str | None = None, sop_uid: str | None = None,
    modality: str = "CT", sop_class: str = CT, burned_in: str | None = "NO",
) -> Dataset:
    """A small CT-like instance with a file meta, ready for save_as(enforce_file_format)."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19600102"
    ds.PatientSex = "F"
    ds.StudyDate = "20200315"
    ds.StudyTime = "101500"
    ds.SeriesDate = "20200315"
    ds.AcquisitionDateTime = "20200315101733.25+0100"
    ds.AccessionNumber = "ACC123"
    ds.ReferringPhysicianName = "Who^Doctor"
    ds.InstitutionName = "Saint Elsewhere"
    ds.StudyID = "S1"
    ds.Modality = modality
    ds.Manufacturer = "ACME"
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    ds.Rows, ds.Columns = 4, 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.arange(16, dtype=np.uint16).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def run(ds: Dataset, **kw: object) -> tuple[Dataset, object]:
    return deidentify_file(ds, DicomDeidConfig(secret=SECRET, **kw))  # type: ignore[arg-type]


def test_each_action_class_has_its_exact_outcome():
    ds = make_ds()
    ds.ClinicalTrialSponsorName = "Sponsor Inc"  # D
    ds.OtherPatientIDs = "OLD-MRN"  # X
    ds.ImageComments = "call Jane"  # X
    ds.ContentCreatorName = "Maker^Ann"  # Z/D -> Z
    ds.StationName = "CT-ROOM-3"  # X/Z/D -> X
    ds.ProtocolName = "Head"  # X/D -> X
    ds.BodyPartExamined = "HEAD"  # not in the table -> K
    original_study = ds.StudyInstanceUID
    out, rep = run(ds, dates="remove", overrides={0x00180015: "C"})  # BodyPart: C override
    # D: a non-empty dummy of the VR
    assert out.ClinicalTrialSponsorName == DUMMY_TEXT
    # Z: present and zero length
    assert "PatientName" in out and out.PatientName == ""
    assert out.PatientID == "" and out.AccessionNumber == "" and out.StudyDate == ""
    assert out.ReferringPhysicianName == "" and out.PatientBirthDate == ""
    assert out.ContentCreatorName == ""
    # X: gone
    for kw in ("OtherPatientIDs", "ImageComments", "StationName", "ProtocolName",
               "InstitutionName", "SeriesDate", "AcquisitionDateTime"):
        assert kw not in out, kw
    # K: kept as is
    assert out.Manufacturer == "ACME" and out.Modality == "CT" and out.Rows == 4
    # C (by override on a CS): a code cannot be "similar", so it is emptied
    assert out.BodyPartExamined == ""
    # U: a keyed 2.25 UID, not the original
    assert out.StudyInstanceUID != original_study
    assert out.StudyInstanceUID.startswith("2.25.") and len(out.StudyInstanceUID) <= 64
    assert rep.actions["U"] >= 4 and rep.actions["X"] >= 7 and rep.actions["D"] == 1


def test_c_on_text_writes_the_cleaned_marker():
    ds = make_ds()
    ds.StudyDescription = "Jane's head CT"
    out, _ = run(ds, overrides={0x00081030: "C"})
    assert out.StudyDescription == CLEANED_TEXT


def test_k_override_keeps_an_attribute_the_table_removes():
    ds = make_ds()
    ds.PatientAge = "095Y"
    ds.PatientWeight = "70"
    out, _ = run(ds, overrides={0x00101010: "K", 0x00101030: "K"})
    assert out.PatientAge == "090Y"  # kept, but over 89 becomes 090Y
    assert out.PatientWeight == 70


def test_profile_marks_the_instance():
    out, _ = run(make_ds())
    assert out.PatientIdentityRemoved == "YES"
    codes = [(i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning)
             for i in out.DeidentificationMethodCodeSequence]
    assert codes == [
        ("113100", "DCM", "Basic Application Confidentiality Profile"),
        ("113107", "DCM", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ]
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert out.DeidentificationMethod
    removed, _ = run(make_ds(), dates="remove")
    assert [i.CodeValue for i in removed.DeidentificationMethodCodeSequence] == ["113100"]
    assert removed.LongitudinalTemporalInformationModified == "REMOVED"


def test_dates_shift_with_the_structured_data_offset():
    ds = make_ds(patient_id="P-42")
    ds.InstanceCreationDate = "20200316"  # not in the table: shifted, never kept verbatim
    out, rep = run(ds)
    d = int(shift_days(["P-42"], SECRET, 365)[0])
    expected = dt.date(2020, 3, 15) + dt.timedelta(days=d)
    assert out.StudyDate == expected.strftime("%Y%m%d")
    assert out.SeriesDate == expected.strftime("%Y%m%d")
    assert out.AcquisitionDateTime == expected.strftime("%Y%m%d") + "101733.25+0100"
    assert out.InstanceCreationDate == (expected + dt.timedelta(days=1)).strftime("%Y%m%d")
    assert out.StudyTime == "101500"  # a whole-day shift keeps the time of day
    assert out.PatientBirthDate == ""  # Z: the option does not cover the birth date
    assert rep.dates_shifted
    # ... which is exactly where the structured-data path puts the same person's date
    omop = shift_dates(np.array(["2020-03-15"], dtype="datetime64[D]"), ["P-42"], SECRET, 365)
    assert out.StudyDate == str(omop[0]).replace("-", "")


def test_shift_source_mapping_and_callable():
    out, _ = run(make_ds(patient_id="A"), shift_days={"A": -10})
    assert out.StudyDate == "20200305"
    out, _ = run(make_ds(patient_id="A"), shift_days=lambda key: 3)
    assert out.StudyDate == "20200318"
    with pytest.raises(DeidError, match="no offset for this file's patient"):
        run(make_ds(patient_id="B"), shift_days={"A": -10})


def test_nested_sequences_are_deidentified():
    ds = make_ds()
    inner = Dataset()
    inner.PersonName = "Nested^Name"  # (0040,A123) D
    inner.ReferringPhysicianName = "Deep^Doc"  # Z
    inner.OtherPatientIDs = "X1"  # X
    inner.ReferencedSOPInstanceUID = "1.2.3.4.5"
    item = Dataset()
    item.ReferencedSOPClassUID = CT
    item.ReferencedSOPInstanceUID = "1.2.3.4.5"
    item.ProcedureCodeSequence = Sequence([inner])  # unlisted sequence: kept and walked
    ds.ReferencedSeriesSequence = Sequence([item])
    out, _ = run(ds)
    got = out.ReferencedSeriesSequence[0].ProcedureCodeSequence[0]
    assert got.PersonName == DUMMY_TEXT
    assert got.ReferringPhysicianName == ""
    assert "OtherPatientIDs" not in got
    assert got.ReferencedSOPInstanceUID == out.ReferencedSeriesSequence[0].ReferencedSOPInstanceUID
    assert got.ReferencedSOPInstanceUID.startswith("2.25.")


def test_compound_reference_sequence_keeps_items_and_remaps_uids():
    ds = make_ds()
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT
    ref.ReferencedSOPInstanceUID = "1.2.3.9"
    ds.ReferencedImageSequence = Sequence([ref])  # X/Z/U*
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = "1.2.3.10"
    ds.ReferencedStudySequence = Sequence([study])  # X/Z -> X
    out, _ = run(ds)
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID.startswith("2.25.")
    assert out.ReferencedImageSequence[0].ReferencedSOPClassUID == CT
    assert "ReferencedStudySequence" not in out


def test_d_sequence_becomes_one_empty_item():
    ds = make_ds()
    obs = Dataset()
    obs.VerifyingObserverName = "Checker^Carl"
    ds.VerifyingObserverSequence = Sequence([obs])
    out, _ = run(ds)
    assert len(out.VerifyingObserverSequence) == 1
    assert len(out.VerifyingObserverSequence[0]) == 0


def test_private_tags_removed_unless_allow_listed():
    ds = make_ds()
    block = ds.private_block(0x0019, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "secret note")
    block.add_new(0x02, "DS", "1.5")
    other = ds.private_block(0x0029, "OTHER", create=True)
    other.add_new(0x10, "LO", "keep me by tag")
    ds.add_new(0x00431001, "LO", "creatorless")
    out, rep = run(ds, keep_private=(PrivateTag(0x0019, "ACME 1.0", 0x02), "0029,1010"))
    assert "secret note" not in str(out)
    assert "creatorless" not in str(out)
    kept = out.private_block(0x0019, "ACME 1.0")
    assert kept[0x02].value == 1.5
    assert out[0x00291010].value == "keep me by tag"
    assert rep.private_removed == 2 and rep.private_kept == 4  # 2 values + 2 creators
    none, _ = run(make_ds())
    assert not any(e.tag.is_private for e in none)


def test_parse_private_tag_forms():
    assert parse_private_tag("(0019,100A)") == 0x0019100A
    assert parse_private_tag("0019100a") == 0x0019100A
    assert parse_private_tag("0019,GEMS_ACQU_01,0A") == PrivateTag(0x19, "GEMS_ACQU_01", 0x0A)
    with pytest.raises(DeidError, match="not a private tag"):
        parse_private_tag("0010,0010")
    with pytest.raises(DeidError, match="expected"):
        parse_private_tag("nonsense")


def test_repeating_group_overlay_and_curve_removed():
    ds = make_ds()
    ds.add_new(0x60004000, "LT", "overlay comment Jane")
    ds.add_new(0x60003000, "OW", b"\x00\x01")
    ds.add_new(0x60000010, "US", 4)  # overlay rows: not in the table, kept
    ds.add_new(0x50000005, "US", 1)  # curve group: all removed
    out, _ = run(ds)
    assert 0x60004000 not in out and 0x60003000 not in out and 0x50000005 not in out
    assert out[0x60000010].value == 4


def test_file_meta_and_preamble_follow_the_new_uids():
    ds = make_ds()
    ds.file_meta.SourceApplicationEntityTitle = "HOSPITAL_PACS"
    out, _ = run(ds)
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in out.file_meta
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_uids_are_keyed_and_stable():
    a = make_ds(study_uid="1.2.3", sop_uid="1.2.3.1")
    b = make_ds(study_uid="1.2.3", sop_uid="1.2.3.1")
    c = make_ds(study_uid="1.2.3", sop_uid="1.2.3.1")
    out_a, _ = run(a)
    out_b, _ = run(b)
    out_c, _ = deidentify_file(c, DicomDeidConfig(secret=OTHER_SECRET))
    assert out_a.StudyInstanceUID == out_b.StudyInstanceUID
    assert out_a.SOPInstanceUID == out_b.SOPInstanceUID
    assert out_c.StudyInstanceUID != out_a.StudyInstanceUID


def test_bad_config_is_refused():
    with pytest.raises(DeidError, match="not one of"):
        DicomDeidConfig(secret=SECRET, overrides={0x00100010: "X/Z"})
    with pytest.raises(DeidError, match="dates must be"):
        DicomDeidConfig(secret=SECRET, dates="year")  # type: ignore[arg-type]


def test_unreadable_single_file_names_the_file(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(DeidError, match=r"notes\.txt: not a DICOM file"):
        deidentify_file(bad, DicomDeidConfig(secret=SECRET))
    with pytest.raises(DeidError, match="no such file"):
        deidentify_file(tmp_path / "missing.dcm", DicomDeidConfig(secret=SECRET))


def test_a_file_path_is_read_and_left_unchanged(tmp_path):
    path = tmp_path / "in.dcm"
    make_ds(patient_id="P9").save_as(path, enforce_file_format=True)
    before = path.read_bytes()
    out, rep = deidentify_file(path, DicomDeidConfig(secret=SECRET))
    assert out.PatientID == "" and out.PatientName == ""
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert path.read_bytes() == before
    assert rep.modality == "CT" and not rep.burned_in


def test_patient_id_can_become_the_omop_person_id():
    from behindglass.deid.pseudonym import pseudonymize

    out, rep = run(make_ds(patient_id="P-42"), patient_id="person_id")
    assert rep.actions["D"] == 1 and rep.actions["Z"] >= 1
    assert out.PatientID == str(int(pseudonymize(["P-42"], SECRET, "person")[0]))
    assert out.PatientName == ""
    empty = make_ds(patient_id="")
    out, _ = run(empty, patient_id="person_id")
    assert out.PatientID == ""  # nothing to link: stays empty
    with pytest.raises(DeidError, match="patient_id must be"):
        DicomDeidConfig(secret=SECRET, patient_id="mrn")  # type: ignore[arg-type]


def test_timezone_offset_is_removed_not_mangled():
    ds = make_ds()
    ds.TimezoneOffsetFromUTC = "+0100"
    out, _ = run(ds)
    assert "TimezoneOffsetFromUTC" not in out

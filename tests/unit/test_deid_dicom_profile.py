"""The shipped PS3.15 Table E.1-1 Basic Profile table (behindglass.deid.dicom.profile)."""

from __future__ import annotations

import pytest
from pydicom.datadict import keyword_for_tag

from behindglass.deid.dicom import (
    ACTION_CODES,
    ProfileError,
    basic_profile,
    effective_action,
    read_profile,
)
from behindglass.deid.dicom.profile import _parse_tag

# (tag, Basic Profile code) as printed in PS3.15 Table E.1-1.
STANDARD_ROWS = {
    0x00100010: "Z",  # Patient's Name
    0x00100020: "Z/D",  # Patient ID (Z until 2023; Z/D in 2024 editions)
    0x00100030: "Z",  # Patient's Birth Date
    0x00100040: "Z",  # Patient's Sex
    0x00101000: "X",  # Other Patient IDs
    0x00101001: "X",  # Other Patient Names
    0x00101010: "X",  # Patient's Age
    0x0020000D: "U",  # Study Instance UID
    0x0020000E: "U",  # Series Instance UID
    0x00080018: "U",  # SOP Instance UID
    0x00020003: "U",  # Media Storage SOP Instance UID
    0x00081155: "U",  # Referenced SOP Instance UID
    0x00200052: "U",  # Frame of Reference UID
    0x00080050: "Z",  # Accession Number
    0x00080080: "X/Z/D",  # Institution Name
    0x00080081: "X",  # Institution Address
    0x00080090: "Z",  # Referring Physician's Name
    0x00080020: "Z",  # Study Date
    0x00080030: "Z",  # Study Time
    0x00080021: "X/D",  # Series Date
    0x00080022: "X/Z",  # Acquisition Date
    0x00080023: "Z/D",  # Content Date
    0x0008002A: "X/Z/D",  # Acquisition DateTime
    0x00200010: "Z",  # Study ID
    0x00081010: "X/Z/D",  # Station Name
    0x00081030: "X",  # Study Description
    0x0008103E: "X",  # Series Description
    0x00081070: "X/Z/D",  # Operators' Name
    0x00081140: "X/Z/U*",  # Referenced Image Sequence
    0x00082112: "X/Z/U*",  # Source Image Sequence
    0x00081110: "X/Z",  # Referenced Study Sequence
    0x00181030: "X/D",  # Protocol Name
    0x00181000: "X/Z/D",  # Device Serial Number
    0x0040A730: "D",  # Content Sequence
    0x0040A123: "D",  # Person Name
    0x00120010: "D",  # Clinical Trial Sponsor Name
    0x00880200: "X",  # Icon Image Sequence
    0xFFFAFFFA: "X",  # Digital Signatures Sequence
    0x00080012: "X/D",  # Instance Creation Date
    0x00080013: "X/Z/D",  # Instance Creation Time
    0x00420011: "D",  # Encapsulated Document
    0x00181012: "X",  # Date of Secondary Capture
    0x00080017: "U",  # Acquisition UID
    0x00640003: "U",  # Source Frame of Reference UID
    0x300A00B2: "X/Z",  # Treatment Machine Name
}


def test_table_loads_with_known_codes_and_no_duplicates():
    profile = basic_profile()
    assert len(profile) >= 600
    assert {r.action for r in profile.rows} <= ACTION_CODES
    tags = [_parse_tag(r.tag) for r in profile.rows]
    assert len(tags) == len(set(tags))
    assert {r.dates_option for r in profile.rows} == {None, "C"}


@pytest.mark.parametrize(("tag", "code"), sorted(STANDARD_ROWS.items()))
def test_key_rows_match_the_standard(tag, code):
    row = basic_profile().lookup(tag)
    assert row is not None, f"{tag:08X} missing"
    assert row.action == code


def test_names_agree_with_the_pydicom_dictionary():
    """A typo in a transcribed tag shows up as a name that does not match the dictionary."""
    def norm(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    mismatched = []
    for row in basic_profile().rows:
        if row.is_pattern:
            continue
        value, _ = _parse_tag(row.tag)
        kw = keyword_for_tag(value)
        if not kw:
            continue  # retired or newer than the installed dictionary
        if norm(kw) != norm(row.name.replace("'s", "")):
            mismatched.append((row.tag, row.name, kw))
    assert not mismatched


def test_dates_option_covers_study_dates_but_not_birth_date():
    profile = basic_profile()
    assert profile.lookup(0x00080020).dates_option == "C"
    assert profile.lookup(0x0008002A).dates_option == "C"
    assert profile.lookup(0x00080012).dates_option == "C"  # Instance Creation Date
    assert profile.lookup(0x00100030).dates_option is None
    assert profile.lookup(0x00100032).dates_option is None  # Patient's Birth Time


def test_repeating_groups_match_even_groups_only():
    profile = basic_profile()
    assert profile.lookup(0x60024000).name == "Overlay Comments"
    assert profile.lookup(0x601E3000).name == "Overlay Data"
    assert profile.lookup(0x50101234).name == "Curve Data"
    assert profile.lookup(0x60034000) is None  # odd group: private, handled elsewhere
    assert profile.lookup(0x60000010) is None


@pytest.mark.parametrize(("code", "vr", "expected"), [
    ("Z/D", "PN", "Z"), ("X/Z", "DA", "X"), ("X/D", "LO", "X"), ("X/Z/D", "SH", "X"),
    ("X/Z/U*", "SQ", "K"), ("X/Z/U*", "UI", "U"), ("X/Z/U*", "LO", "X"), ("D", "PN", "D"),
])
def test_compound_code_rules(code, vr, expected):
    assert effective_action(code, vr) == expected


def test_malformed_tables_are_refused(tmp_path):
    head = "tag,name,action,dates_option\n"
    cases = {
        "dup.csv": head + '"(0010,0010)",A,Z,\n"(0010,0010)",B,X,\n',
        "code.csv": head + '"(0010,0010)",A,Q,\n',
        "tag.csv": head + '"(0010,00G0)",A,Z,\n',
        "header.csv": "tag,action\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ProfileError):
            read_profile(path)
    ok = tmp_path / "ok.csv"
    ok.write_text("# comment\n" + head + '"(0010,0010)",A,Z,\n')
    assert read_profile(ok).lookup(0x00100010).action == "Z"

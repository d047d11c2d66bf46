"""The PhysioNet deid layout: records, both end conventions, free-text types, round trips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from behindglass.core.errors import LoadError
from behindglass.deid.evaluation import (
    GoldDoc,
    GoldSpan,
    label_from_physionet,
    load_gold,
    read_physionet,
    score,
    write_physionet,
)
from tests.unit.test_deid_evaluation_metrics import GOLD, PRED, TEXT1, TEXT2

RECORDS = f"""START_OF_RECORD=1||||1||||
{TEXT1}
||||END_OF_RECORD
START_OF_RECORD=1||||2||||
{TEXT2}
||||END_OF_RECORD
"""
# The date line uses an inclusive end (28 is the index of its last character), the others
# an exclusive one; types have one or more words.
PHRASES = """1 1 3 13 Patient Name John Smith
1 1 19 28 Date 03/04/2021
1 1 33 47 Hospital Mercy Hospital
1 1 49 55 Location City Boston
1 1 56 58 State MA

1 2 5 17 Phone/Pager 555-123-4567
1 2 25 32 Clinician Name Ann  Lee
"""


def _pair(folder: Path, records: str = RECORDS, phrases: str = PHRASES,
          phrase_name: str = "deid-phi.phrase") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deid.text").write_text(records, encoding="utf-8", newline="")
    (folder / phrase_name).write_text(phrases, encoding="utf-8", newline="")
    return folder


def test_records_and_phrases_load(tmp_path: Path) -> None:
    docs = read_physionet(_pair(tmp_path))
    assert [d.id for d in docs] == ["1:1", "1:2"]
    assert [d.text for d in docs] == [TEXT1, TEXT2]  # the multi-line record keeps its "\n"
    assert [(s.start, s.end, s.label, s.text) for s in docs[0].spans] == [
        (3, 13, "NAME", "John Smith"), (19, 29, "DATE", "03/04/2021"),
        (33, 47, "INSTITUTION", "Mercy Hospital"), (49, 55, "CITY", "Boston"),
        (56, 58, "STATE", "MA")]
    assert [(s.start, s.end, s.label) for s in docs[1].spans] == [
        (5, 17, "PHONE"), (25, 32, "NAME")]
    report = score(docs, {"1:1": PRED["d1"], "1:2": PRED["d2"]})
    assert report.to_dict() == score(GOLD, PRED).to_dict()


@pytest.mark.parametrize("name", ["deid-phi.phrase", "deid.phi.phrase"])
def test_any_of_the_three_paths_names_the_pair(tmp_path: Path, name: str) -> None:
    folder = _pair(tmp_path, phrase_name=name)
    for spec in (str(folder), f"physionet:{folder / 'deid.text'}", str(folder / name)):
        assert [len(d.spans) for d in load_gold(spec)] == [5, 2]


def test_repeated_lines_count_once(tmp_path: Path) -> None:
    docs = read_physionet(_pair(tmp_path, phrases=PHRASES + "1 2 5 16 Phone 555-123-4567\n"))
    assert [(s.start, s.end) for s in docs[1].spans] == [(5, 17), (25, 32)]


def test_a_record_without_phi_and_crlf_phrases(tmp_path: Path) -> None:
    records = RECORDS + "START_OF_RECORD=2||||1||||\nNothing to see.\n||||END_OF_RECORD\n"
    docs = read_physionet(_pair(tmp_path, records, PHRASES.replace("\n", "\r\n")))
    assert [(d.id, d.text, d.spans) for d in docs[2:]] == [("2:1", "Nothing to see.", ())]
    assert sum(len(d.spans) for d in docs) == 7


@pytest.mark.parametrize(("kind", "label"), [
    ("Patient Name", "NAME"), ("Relative Proxy Name", "NAME"), ("Clinician Name", "NAME"),
    ("Date", "DATE"), ("Holiday", "DATE"), ("Year", "DATE"), ("Age > 89", "AGE"),
    ("Phone/Pager", "PHONE"), ("Pager", "PHONE"), ("Fax", "FAX"), ("E-mail", "EMAIL"),
    ("Hospital Name", "INSTITUTION"), ("Street Address", "STREET"), ("Location", "LOCATION_OTHER"),
    ("Location City", "CITY"), ("Zip Code", "ZIP"), ("Medical Record Number", "MRN"),
    ("Social Security Number", "SSN"), ("Other ID Number", "ID"), ("Patient ID", "ID"),
    ("HEALTH_PLAN", "HEALTH_PLAN"), ("Stage", "STAGE"), ("Odd kind/thing", "ODD_KIND_THING"),
])
def test_physionet_types_map_by_whole_word(kind: str, label: str) -> None:
    assert label_from_physionet(kind) == label


def test_write_then_read_is_exact(tmp_path: Path) -> None:
    docs = [*GOLD, GoldDoc("empty", "", ()),
            GoldDoc("7:3", "x\n\n  Ann\n", (GoldSpan(5, 8, "NAME", "Ann"),)),
            GoldDoc("z", "Nurse  Ann Lee, teacher", (GoldSpan(7, 14, "NAME", "Ann Lee"),
                                                    GoldSpan(16, 23, "PROFESSION", "teacher")))]
    text, phrase = tmp_path / "out" / "c.text", tmp_path / "out" / "c-phi.phrase"
    assert write_physionet(docs, text, phrase) == 5
    assert phrase.read_text(encoding="utf-8").splitlines()[-2:] == [
        "z 1 7 14 NAME Ann Lee", "z 1 16 23 PROFESSION teacher"]
    back = load_gold(str(text))
    assert [d.id for d in back] == ["d1:1", "d2:1", "empty:1", "7:3", "z:1"]
    assert [(d.text, d.spans) for d in back] == [(d.text, d.spans) for d in docs]


def test_unwritable_documents_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="patient:note key"):
        write_physionet([GoldDoc("a b", "x", ())], tmp_path / "a.text", tmp_path / "a.phrase")
    with pytest.raises(LoadError, match="contains"):
        write_physionet([GoldDoc("a", "x ||||END_OF_RECORD", ())], tmp_path / "a.text",
                        tmp_path / "a.phrase")


@pytest.mark.parametrize(("phrases", "line", "reason"), [
    ("1 1 3 13 Name John Smith\n1 1 3 12 Name John Smyth\n", 2, "matches neither"),
    ("1 1 3 13 Name John Smith\n\n1 1 3 11 Name John Smith\n", 3, "matches neither"),
    ("1 1 3 13 John Smith\n", 1, "matches neither"),  # no type left
    ("1 1 3 13 Name\n", 1, "expected <patient> <note>"),
    ("1 9 3 13 Name John Smith\n", 1, "no record 1:9"),
    ("1 1 3 x Name John Smith\n", 1, "must be integers"),
    ("1 1 50 70 Name John Smith\n", 1, "matches neither"),
])
def test_malformed_phrases_name_file_and_line(tmp_path: Path, phrases: str, line: int,
                                              reason: str) -> None:
    folder = _pair(tmp_path, phrases=phrases)
    with pytest.raises(LoadError, match=re.escape(reason)) as caught:
        load_gold(str(folder))
    assert (caught.value.file, caught.value.line) == (str(folder / "deid-phi.phrase"), line)
    assert "deid-phi.phrase, line" in str(caught.value)


@pytest.mark.parametrize(("records", "line", "reason"), [
    ("START_OF_RECORD=1||||1||||\nabc\n||||END_OF_RECORD\nstray text\n", 4, "expected START"),
    ("START_OF_RECORD=1||||1||||\nabc\n", 1, "no ||||END_OF_RECORD"),
    ("START_OF_RECORD=1||||1\nabc\n||||END_OF_RECORD\n", 1, "expected START"),
    ("\nSTART_OF_RECORD=1||||1||||\na\n||||END_OF_RECORD\nSTART_OF_RECORD=1||||1||||\nb\n"
     "||||END_OF_RECORD\n", 5, "occurs twice"),
])
def test_malformed_records_name_file_and_line(tmp_path: Path, records: str, line: int,
                                              reason: str) -> None:
    folder = _pair(tmp_path, records=records, phrases="")
    with pytest.raises(LoadError, match=re.escape(reason)) as caught:
        load_gold(f"physionet:{folder}")
    assert (caught.value.file, caught.value.line) == (str(folder / "deid.text"), line)


def test_missing_or_ambiguous_pairs(tmp_path: Path) -> None:
    folder = _pair(tmp_path / "a")
    (folder / "deid-phi.phrase").unlink()
    missing = "no gold file deid-phi.phrase or deid.phi.phrase"
    with pytest.raises(LoadError, match=re.escape(missing)):
        load_gold(str(folder))
    two = _pair(tmp_path / "b")
    (two / "other.text").write_text(RECORDS, encoding="utf-8")
    with pytest.raises(LoadError, match=re.escape("exactly one .text records file, found 2")):
        load_gold(f"physionet:{two}")
    lonely = tmp_path / "c" / "x-phi.phrase"
    lonely.parent.mkdir()
    lonely.write_text(PHRASES, encoding="utf-8")
    with pytest.raises(LoadError, match=re.escape("no records file x.text")):
        load_gold(str(lonely))


def test_latin1_records_still_load(tmp_path: Path) -> None:
    folder = tmp_path / "l"
    folder.mkdir()
    (folder / "deid.text").write_bytes(
        "START_OF_RECORD=1||||1||||\nSeen by Dr Müller.\n||||END_OF_RECORD\n".encode("latin-1"))
    (folder / "deid-phi.phrase").write_bytes("1 1 11 17 Clinician Name Müller\n".encode("latin-1"))
    [doc] = load_gold(str(folder))
    assert [(s.start, s.end, s.label, s.text) for s in doc.spans] == [
        (11, 17, "NAME", "Müller")]

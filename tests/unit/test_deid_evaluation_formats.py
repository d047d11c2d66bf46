"""Gold loading: one hand-made gold in every format scores the same; foreign files; errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from behindglass.core.errors import LoadError
from behindglass.deid.evaluation import (
    GoldDoc,
    GoldSpan,
    label_from_brat,
    label_from_i2b2,
    load_gold,
    parse_spec,
    score,
    write_physionet,
)
from behindglass.synth.notes import generate_notes, write_corpus
from tests.unit.test_deid_evaluation_metrics import GOLD, PRED, TEXT1, TEXT2

BY_TEXT = {TEXT1: PRED["d1"], TEXT2: PRED["d2"]}

ANN1 = ("T1\tNAME 3 13\tJohn Smith\nA1\tSubtype T1 patient\nT2\tDATE 19 29\t03/04/2021\n"
        "T3\tINSTITUTION 33 47\tMercy Hospital\nT4\tCITY 49 55\tBoston\nT5\tSTATE 56 58\tMA\n")
ANN2 = "T1\tPHONE 5 17\t555-123-4567\nT2\tNAME 25 32\tAnn Lee\n"
# The same spans as a foreign BRAT corpus would label them (i2b2 TYPE names, any case).
FOREIGN_ANN1 = ("T1\tPATIENT 3 13\tJohn Smith\nT2\tDate 19 29\t03/04/2021\n"
                "T3\tHOSPITAL 33 47\tMercy Hospital\nT4\tCITY 49 55\tBoston\n"
                "#1\tAnnotatorNotes T1\tthe patient\nT5\tSTATE 56 58\tMA\n")
FOREIGN_ANN2 = "T1\tPHONE 5 17\t555-123-4567\nT2\tDOCTOR 25 32\tAnn Lee\nR1\tr Arg1:T1 Arg2:T2\n"
XML1 = f"""<?xml version="1.0" encoding="UTF-8" ?>
<deIdi2b2>
<TEXT><![CDATA[{TEXT1}]]></TEXT>
<TAGS>
<NAME id="P0" start="3" end="13" text="John Smith" TYPE="PATIENT" comment="" />
<DATE id="P1" start="19" end="29" text="03/04/2021" TYPE="DATE" comment="" />
<LOCATION id="P2" start="33" end="47" text="Mercy Hospital" TYPE="HOSPITAL" comment="" />
<LOCATION id="P3" start="49" end="55" text="Boston" TYPE="CITY" comment="" />
<LOCATION id="P4" start="56" end="58" text="MA" TYPE="STATE" comment="" />
</TAGS>
</deIdi2b2>
"""
XML2 = f"""<?xml version="1.0" encoding="UTF-8" ?>
<deIdi2b2>
<TEXT><![CDATA[{TEXT2}]]></TEXT>
<TAGS>
<CONTACT id="P0" start="5" end="17" text="555-123-4567" TYPE="PHONE" comment="" />
<NAME id="P1" start="25" end="32" text="Ann Lee" TYPE="DOCTOR" comment="" />
</TAGS>
</deIdi2b2>
"""
MANIFEST = "id\tkind\tpatient\nd1\tletter\tp1\nd2\ttelephone\t\n"


def _jsonl(path: Path) -> Path:
    rows = [{"id": d.id, "kind": "letter", "patient": None, "text": d.text,
             "spans": [{"start": s.start, "end": s.end, "label": s.label, "text": s.text,
                        "subtype": None} for s in d.spans]} for d in GOLD]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _files(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8", newline="")
    return folder


@pytest.fixture
def every_format(tmp_path: Path) -> dict[str, str]:
    from tests.unit.test_deid_evaluation_physionet import PHRASES, RECORDS

    brat = {"d1.txt": TEXT1, "d1.ann": ANN1, "d2.txt": TEXT2, "d2.ann": ANN2}
    physionet = _files(tmp_path / "pn", {"deid.text": RECORDS, "deid-phi.phrase": PHRASES})
    return {
        "jsonl": f"jsonl:{_jsonl(tmp_path / 'gold.jsonl')}",
        "brat": f"brat:{_files(tmp_path / 'brat', brat | {'notes.tsv': MANIFEST})}",
        "brat-foreign": str(_files(tmp_path / "brat2", {
            "d1.txt": TEXT1, "d1.ann": FOREIGN_ANN1, "d2.txt": TEXT2, "d2.ann": FOREIGN_ANN2})),
        "i2b2": str(_files(tmp_path / "i2b2", {"d1.xml": XML1, "d2.xml": XML2})),
        "physionet": f"physionet:{physionet / 'deid.text'}",
    }


def test_the_same_gold_in_every_format_loads_and_scores_the_same(
        every_format: dict[str, str]) -> None:
    expected = score(GOLD, PRED).to_dict()
    assert expected["overall"]["leak_free_recall"]["hits"] == 4
    for fmt, spec in every_format.items():
        docs = load_gold(spec)
        assert [(d.text, d.spans) for d in docs] == [(d.text, d.spans) for d in GOLD], fmt
        assert score(docs, lambda text: BY_TEXT[text]).to_dict() == expected, fmt
    assert [d.id for d in load_gold(every_format["brat"])] == ["d1", "d2"]
    assert [d.id for d in load_gold(every_format["physionet"])] == ["1:1", "1:2"]


def test_formats_are_detected_from_the_path(every_format: dict[str, str]) -> None:
    for fmt, spec in every_format.items():
        bare = spec.partition(":")[2] if ":" in spec else spec
        assert parse_spec(bare)[0] is None
        assert [d.spans for d in load_gold(bare)] == [d.spans for d in GOLD], fmt
    assert parse_spec("BRAT:some/where") == ("brat", Path("some/where"))


def test_foreign_brat_keeps_unknown_labels_and_splits_fragments(tmp_path: Path) -> None:
    text = "Ann (Annie) Lee is a teacher from France.\nLogin jdoe7 at Ward 5B."
    ann = ("T1\tPATIENT 0 3;12 15\tAnn Lee\nT2\tPATIENT 5 10\tAnnie\nA1\tNegated T2\n"
           "T3\tPROFESSION 21 28\tteacher\nT4\tCOUNTRY 34 40\tFrance\n"
           "T5\tUSERNAME 48 53\tjdoe7\nT6\tLOCATION-OTHER 57 64\tWard 5B\n")
    folder = _files(tmp_path / "b", {"n1.txt": text, "n1.ann": ann})
    [doc] = load_gold(f"brat:{folder}")
    assert doc.id == "n1"
    assert [(s.start, s.end, s.label, s.text) for s in doc.spans] == [
        (0, 3, "NAME", "Ann"), (5, 10, "NAME", "Annie"), (12, 15, "NAME", "Lee"),
        (21, 28, "PROFESSION", "teacher"), (34, 40, "COUNTRY", "France"),
        (48, 53, "NAME", "jdoe7"), (57, 64, "LOCATION_OTHER", "Ward 5B")]
    report = score([doc], {"n1": [(0, 3, "NAME"), (5, 10, "NAME"), (48, 53, "NAME")]})
    # Scored: Ann, Annie, Lee (the second fragment, missed), jdoe7, Ward 5B (missed).
    assert (report.overall.leak_free.hits, report.overall.leak_free.n) == (3, 5)
    assert (report.overall.characters.hits, report.overall.characters.n) == (13, 22)
    assert sorted(report.labels) == ["LOCATION_OTHER", "NAME"]
    assert sorted(report.ignored) == ["COUNTRY", "PROFESSION"]
    assert report.ignored["COUNTRY"].leak_free.n == 1
    assert report.ignored["COUNTRY"].leak_free.hits == 0


I2B2_2014 = [  # (element, TYPE, our label or the kept foreign label)
    ("NAME", "PATIENT", "NAME"), ("NAME", "DOCTOR", "NAME"), ("NAME", "USERNAME", "NAME"),
    ("PROFESSION", "PROFESSION", "PROFESSION"), ("LOCATION", "ROOM", "ROOM"),
    ("LOCATION", "DEPARTMENT", "DEPARTMENT"), ("LOCATION", "HOSPITAL", "INSTITUTION"),
    ("LOCATION", "ORGANIZATION", "INSTITUTION"), ("LOCATION", "STREET", "STREET"),
    ("LOCATION", "CITY", "CITY"), ("LOCATION", "STATE", "STATE"),
    ("LOCATION", "COUNTRY", "COUNTRY"), ("LOCATION", "ZIP", "ZIP"),
    ("LOCATION", "LOCATION-OTHER", "LOCATION_OTHER"), ("AGE", "AGE", "AGE"),
    ("DATE", "DATE", "DATE"), ("CONTACT", "PHONE", "PHONE"), ("CONTACT", "FAX", "FAX"),
    ("CONTACT", "EMAIL", "EMAIL"), ("CONTACT", "URL", "URL"), ("CONTACT", "IPADDR", "IP"),
    ("ID", "SSN", "SSN"), ("ID", "MEDICALRECORD", "MRN"), ("ID", "HEALTHPLAN", "HEALTH_PLAN"),
    ("ID", "ACCOUNT", "ACCOUNT"), ("ID", "LICENSE", "LICENSE"), ("ID", "VEHICLE", "VEHICLE"),
    ("ID", "DEVICE", "DEVICE"), ("ID", "BIOID", "BIOID"), ("ID", "IDNUM", "ID"),
]


def test_every_i2b2_2014_type_maps(tmp_path: Path) -> None:
    words = [f"w{i}x" for i in range(len(I2B2_2014))]
    text = "Note:\n" + " ".join(words) + " & <end>"
    tags = "".join(
        f'<{el} id="P{i}" start="{text.index(w)}" end="{text.index(w) + len(w)}" text="{w}" '
        f'TYPE="{kind}" comment="" />\n' for i, ((el, kind, _), w) in enumerate(
            zip(I2B2_2014, words, strict=True)))
    xml = (f'<?xml version="1.0" encoding="UTF-8" ?>\n<deIdi2b2>\n<TEXT><![CDATA[{text}]]>'
           f"</TEXT>\n<TAGS>\n{tags}</TAGS>\n</deIdi2b2>\n")
    path = tmp_path / "100-01.xml"
    path.write_text(xml, encoding="utf-8")
    [doc] = load_gold(str(path))  # one file is enough; its stem is the id
    assert doc.id == "100-01" and doc.text == text
    assert [s.label for s in doc.spans] == [label for _, _, label in I2B2_2014]
    assert [label_from_i2b2(el, kind) for el, kind, _ in I2B2_2014] == [
        label for _, _, label in I2B2_2014]


def test_label_helpers() -> None:
    assert label_from_i2b2("NAME", None) == "NAME"
    assert label_from_i2b2("PHI", "medical-record") == "MRN"
    assert label_from_brat("Health_Plan") == "HEALTH_PLAN"
    assert label_from_brat("ip addr") == "IP"
    assert label_from_brat("Organization") == "INSTITUTION"
    assert label_from_brat("Hobby Club") == "HOBBY_CLUB"


def test_our_generated_corpora_load_in_every_format(tmp_path: Path) -> None:
    notes = list(generate_notes(8, seed=2))
    write_corpus(notes, tmp_path / "g.jsonl", "jsonl")
    write_corpus(notes, tmp_path / "brat", "brat")
    write_corpus(notes, tmp_path / "i2b2", "i2b2")
    for fmt in ("brat", "i2b2"):  # the same folders read as foreign corpora
        shutil.copytree(tmp_path / fmt, tmp_path / f"{fmt}-foreign")
        (tmp_path / f"{fmt}-foreign" / "notes.tsv").unlink()
    gold = load_gold(str(tmp_path / "g.jsonl"))
    assert [d.id for d in gold] == [n.id for n in notes]
    assert sum(len(d.spans) for d in gold) == sum(len(n.spans) for n in notes) > 40
    write_physionet(gold, tmp_path / "pn" / "all.text", tmp_path / "pn" / "all.phi.phrase")
    every_other = {d.text: [(s.start, s.end, s.label) for s in d.spans[::2]] for d in gold}
    expected = score(gold, lambda text: every_other[text]).to_dict()
    assert 0 < expected["overall"]["leak_free_recall"]["value"] < 1
    for spec in ("brat", "i2b2", "brat-foreign", "i2b2-foreign", "pn"):
        docs = load_gold(str(tmp_path / spec))
        assert [(d.text, d.spans) for d in docs] == [(d.text, d.spans) for d in gold], spec
        assert score(docs, lambda text: every_other[text]).to_dict() == expected, spec


def _error(spec: str) -> LoadError:
    with pytest.raises(LoadError) as caught:
        load_gold(spec)
    return caught.value


def test_malformed_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "gold.jsonl")
    path.write_text(path.read_text().replace('"end": 13', '"end": 14'), encoding="utf-8")
    err = _error(str(path))
    assert (err.file, err.line) == (str(path), 1)
    path.write_text('{"id": "x"}\n', encoding="utf-8")
    assert _error(f"jsonl:{path}").line == 1
    assert "a folder" in str(_error(f"jsonl:{tmp_path}"))


@pytest.mark.parametrize(("ann", "line", "reason"), [
    ("T1\tNAME 3 13\tJohn Smith\nT2\tNAME 3 x\tJohn\n", 2, "not a BRAT text-bound line"),
    ("T1\tNAME 3 13\tJohn Smith\nT2\tNAME\tJohn\n", 2, "not a BRAT text-bound line"),
    ("T1\tNAME 3 14\tJohn Smith\n", 1, "does not match"),
    ("T1\tNAME 3 7;8 99\tJohn Smith\n", 1, "outside the text"),
])
def test_malformed_foreign_brat(tmp_path: Path, ann: str, line: int, reason: str) -> None:
    folder = _files(tmp_path / "b", {"d1.txt": TEXT1, "d1.ann": ann})
    err = _error(f"brat:{folder}")
    assert (err.file, err.line) == (str(folder / "d1.ann"), line)
    assert reason in str(err) and "d1.ann" in str(err)


def test_brat_text_without_annotations(tmp_path: Path) -> None:
    folder = _files(tmp_path / "b", {"d1.txt": TEXT1, "d2.txt": TEXT2, "d2.ann": ANN2})
    assert "d1.txt has no d1.ann" in str(_error(str(folder)))


@pytest.mark.parametrize(("xml", "reason"), [
    ("<deIdi2b2><TEXT>abc</TEXT", "not XML"),
    ("<other><TEXT>abc</TEXT></other>", "not an i2b2 deIdi2b2 document"),
    ('<deIdi2b2><TEXT>Ann here</TEXT><TAGS><NAME start="0" end="x" TYPE="PATIENT"/></TAGS>'
     "</deIdi2b2>", "no integer start and end"),
    ('<deIdi2b2><TEXT>Ann here</TEXT><TAGS><NAME start="0" end="3" text="Bob" '
     'TYPE="PATIENT"/></TAGS></deIdi2b2>', "does not match"),
    ('<deIdi2b2><TEXT>Ann here</TEXT><TAGS><NAME start="4" end="20" '
     'TYPE="PATIENT"/></TAGS></deIdi2b2>', "outside the text"),
])
def test_malformed_i2b2(tmp_path: Path, xml: str, reason: str) -> None:
    folder = _files(tmp_path / "x", {"good.xml": XML2, "bad.xml": xml})
    err = _error(f"i2b2:{folder}")
    assert err.file == str(folder / "bad.xml") and reason in str(err)


def test_bad_specs(tmp_path: Path) -> None:
    assert "no such file or folder" in str(_error(str(tmp_path / "missing.jsonl")))
    assert "unknown gold format 'csv'" in str(_error("csv:gold.csv"))
    assert "no gold corpus here" in str(_error(str(_files(tmp_path / "e", {"a.md": "x"}))))
    err = _error(f"brat:{_jsonl(tmp_path / 'gold.jsonl')}")
    assert "a brat gold corpus is a folder" in str(err) and err.file.endswith("gold.jsonl")


def test_duplicate_ids_and_blank_spans_are_refused(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "gold.jsonl")
    path.write_text(path.read_text() * 2, encoding="utf-8")
    assert "'d1' occurs more than once" in str(_error(str(path)))
    folder = _files(tmp_path / "b", {"d1.txt": "a   b", "d1.ann": "T1\tNAME 1 4\t   \n"})
    assert "only whitespace" in str(_error(str(folder)))


def test_gold_docs_compare_by_value() -> None:
    doc = GoldDoc("a", "Ann", (GoldSpan(0, 3, "NAME", "Ann"),))
    assert doc == GoldDoc("a", "Ann", (GoldSpan(0, 3, "NAME", "Ann"),))
    assert GoldSpan(0, 3, "NAME", "Ann") < GoldSpan(1, 2, "DATE", "n")

"""The registry, detections, merging, name propagation, site lists and the analyzer."""

from __future__ import annotations

import json

import pytest

from behindglass.core.errors import DeidError, LoadError
from behindglass.deid.text.analyzer import (
    Analyzer,
    default_analyzer,
    default_registry,
    merge,
    propagate_names,
)
from behindglass.deid.text.model import Detection
from behindglass.deid.text.recognizers.site_list import SiteListRecognizer
from behindglass.deid.text.registry import Context, Recognizer, Registry
from behindglass.deid.text.site_lists import MANIFEST, SiteLists


class Fixed(Recognizer):
    """Reports the given (start, end, label, score) ranges whatever the text."""

    labels = ("NAME", "DATE")

    def __init__(self, name, spans=()):
        self.name = name
        self.spans = spans

    def detect(self, text, context):
        for start, end, label, score in self.spans:
            yield Detection(start, end, label, self.name, score)


def spans(text, detections):
    return [(text[d.start:d.end], d.label) for d in detections]


# --- registry --------------------------------------------------------------------------

def test_registry_add_remove_replace():
    a, b = Fixed("a"), Fixed("b")
    registry = Registry([a, b])
    assert registry.names() == ["a", "b"]
    assert "a" in registry and registry["a"] is a
    assert list(registry) == [a, b]
    assert registry.remove("a") is a
    assert registry.names() == ["b"]
    b2 = Fixed("b")
    registry.add(b2, replace=True)
    assert registry["b"] is b2 and registry.names() == ["b"]


def test_registry_duplicate_name_is_an_error():
    registry = Registry([Fixed("a")])
    with pytest.raises(DeidError, match="already registered"):
        registry.add(Fixed("a"))


def test_registry_unknown_name_is_an_error():
    registry = Registry([Fixed("a")])
    with pytest.raises(DeidError, match="no recognizer named 'zzz'"):
        registry.remove("zzz")


def test_registry_nameless_recognizer_is_an_error():
    with pytest.raises(DeidError, match="no name"):
        Registry([Fixed("")])


def test_default_registry_holds_the_rule_recognizers():
    names = default_registry().names()
    for name in ("dates", "ages", "phones", "emails", "urls", "ips", "identifiers",
                 "addresses", "institutions", "names", "site_lists"):
        assert name in names
    assert "ner" not in " ".join(names)


def test_iterating_a_registry_while_removing_is_safe():
    registry = Registry([Fixed("a"), Fixed("b")])
    for recognizer in registry:
        registry.remove(recognizer.name)
    assert registry.names() == []


# --- detection -------------------------------------------------------------------------

def test_detection_unknown_label():
    with pytest.raises(DeidError, match="unknown label 'PERSON'"):
        Detection(0, 3, "PERSON", "x")


@pytest.mark.parametrize(("start", "end"), [(3, 3), (5, 2), (-1, 2)])
def test_detection_empty_or_negative_range(start, end):
    with pytest.raises(DeidError, match="empty or negative"):
        Detection(start, end, "NAME", "x")


# --- merge -----------------------------------------------------------------------------

def test_merge_overlapping_gives_the_union_labelled_by_the_longest():
    merged = merge([Detection(10, 14, "NAME", "n"), Detection(5, 30, "INSTITUTION", "i"),
                    Detection(28, 35, "CITY", "c")])
    assert merged == [Detection(5, 35, "INSTITUTION", "c+i+n", 1.0)]


def test_merge_keeps_adjacent_detections_apart_and_sorts():
    merged = merge([Detection(20, 25, "DATE", "d"), Detection(0, 5, "NAME", "n"),
                    Detection(5, 10, "MRN", "m")])
    assert [(d.start, d.end, d.label) for d in merged] == [
        (0, 5, "NAME"), (5, 10, "MRN"), (20, 25, "DATE")]


def test_merge_tie_in_length_goes_to_the_more_specific_label():
    merged = merge([Detection(0, 7, "NAME", "n"), Detection(0, 7, "DATE", "d")])
    assert [d.label for d in merged] == ["DATE"]


def test_merge_keeps_the_best_score():
    merged = merge([Detection(0, 4, "NAME", "a", 0.6), Detection(2, 8, "NAME", "b", 0.9)])
    assert merged == [Detection(0, 8, "NAME", "a+b", 0.9)]


def test_merge_of_nothing():
    assert merge([]) == []


# --- propagation -----------------------------------------------------------------------

def test_a_titled_name_is_found_again_later():
    text = "Mrs. Warren was seen today. Warren agreed with the plan."
    found = spans(text, default_analyzer().analyze(text))
    assert found.count(("Warren", "NAME")) == 2


def test_lower_case_word_in_mixed_case_text_is_not_propagated():
    text = "Mrs. Warren was seen today. The rabbit warren near her house was discussed."
    found = default_analyzer().analyze(text)
    assert spans(text, found) == [("Warren", "NAME")]


def test_propagation_in_capitals():
    text = "MRS. WARREN SEEN TODAY.\nWARREN AGREED WITH PLAN, FAMILY AT BEDSIDE."
    found = propagate_names(text, [Detection(5, 11, "NAME", "names")])
    assert [text[d.start:d.end] for d in found] == ["WARREN", "WARREN"]


def test_propagation_skips_safe_words_and_initials():
    text = "Dr. M. Foley placed the Foley catheter. M. was noted."
    # "Foley" is a clinical word and "M" an initial: neither is spread over the note.
    assert propagate_names(text, [Detection(4, 12, "NAME", "names")]) == []


def test_propagation_finds_a_surname_the_rules_alone_miss():
    text = "Mrs. Okafor was seen today. Okafor agreed with the plan."
    found = default_analyzer().analyze(text)
    assert spans(text, found) == [("Okafor", "NAME"), ("Okafor", "NAME")]
    assert found[1].source == "propagation"


def test_propagation_can_be_switched_off():
    text = "Mrs. Okafor was seen today. Okafor agreed with the plan."
    analyzer = Analyzer(default_registry(), propagate=False)
    assert spans(text, analyzer.analyze(text)) == [("Okafor", "NAME")]


# --- analyzer --------------------------------------------------------------------------

def test_threshold_drops_low_scores():
    registry = Registry([Fixed("f", [(0, 4, "NAME", 0.6), (10, 14, "DATE", 0.8)])])
    text = "Anna came 7/22 today"
    assert spans(text, Analyzer(registry, threshold=0.7).analyze(text)) == [("7/22", "DATE")]
    assert len(Analyzer(registry, threshold=0.5).analyze(text)) == 2


def test_analyzer_finds_a_realistic_note():
    text = ("Pt is a 93 y/o M seen 07/22/2019. His wife Mila at bedside, updated by "
            "Dr. M. McGee. Email mila.r@gmail.com. MRN: 2738791.")
    found = spans(text, default_analyzer().analyze(text))
    for expected in [("93", "AGE"), ("07/22/2019", "DATE"), ("Mila", "NAME"),
                     ("M. McGee", "NAME"), ("mila.r@gmail.com", "EMAIL"), ("2738791", "MRN")]:
        assert expected in found
    assert [d.start for d in default_analyzer().analyze(text)] == sorted(
        d.start for d in default_analyzer().analyze(text))


def test_analyzer_labels_phone_and_fax_as_such():
    text = "Call back # 617-555-0134. Fax 617-555-0199."
    assert spans(text, default_analyzer().analyze(text)) == [
        ("617-555-0134", "PHONE"), ("617-555-0199", "FAX")]


def test_analyzer_labels_zip_as_zip():
    text = "Lives in Boston, MA 02118 with daughter."
    assert ("02118", "ZIP") in spans(text, default_analyzer().analyze(text))


def test_name_parts_separated_by_a_comma_become_one_name():
    text = "RE: Harris, Ben"
    assert spans(text, default_analyzer().analyze(text)) == [("Harris, Ben", "NAME")]


# --- site lists ------------------------------------------------------------------------

LISTS = SiteLists.build([
    ("NAME", "Ebony Warren"), ("NAME", "Thomas Foley"), ("MRN", "MR2738791"),
    ("STREET", "5 Hall Court"), ("PHONE", "617-555-0134"), ("NAME", " "),
])


def site_found(text, lists=LISTS):
    return spans(text, SiteListRecognizer(lists).detect(text, Context()))


def test_site_list_patient_surname_alone():
    assert site_found("Warren tolerated the procedure.") == [("Warren", "NAME")]


def test_site_list_surname_in_capitals_and_not_lower_case_in_prose():
    assert site_found("WARREN TOLERATED PROCEDURE WELL.") == [("WARREN", "NAME")]
    assert site_found("Discussed the rabbit warren.") == []


@pytest.mark.parametrize("written", ["MR-273 8791", "MR2738791", "mr 2738791", "MR.273.8791"])
def test_site_list_mrn_with_any_separators(written):
    assert site_found(f"Old chart {written} reviewed.") == [(written, "MRN")]


@pytest.mark.parametrize("text", ["Lives at 5 Hall Court with wife.", "LIVES AT 5 HALL COURT.",
                                  "pt lives at 5 hall court alone."])
def test_site_list_street_phrase_in_any_case(text):
    street = text[text.lower().index("5 hall court"):][:12]
    assert site_found(text) == [(street, "STREET")]


def test_site_list_phone_written_differently():
    assert site_found("Daughter: 617 555 0134.") == [("617 555 0134", "PHONE")]


def test_site_list_clinical_word_matches_only_inside_the_whole_name():
    assert site_found("Foley catheter in place.") == []
    found = site_found("Seen by Thomas Foley today.")
    assert ("Thomas Foley", "NAME") in found and ("Foley", "NAME") not in found
    caps = site_found("THOMAS FOLEY AT BEDSIDE, FOLEY CATHETER DRAINING.")
    assert ("THOMAS FOLEY", "NAME") in caps and ("FOLEY", "NAME") not in caps


def test_site_list_recognizer_uses_the_context_lists():
    text = "Warren tolerated the procedure."
    assert spans(text, SiteListRecognizer().detect(text, Context(site_lists=LISTS))) == [
        ("Warren", "NAME")]
    assert list(SiteListRecognizer().detect(text, Context())) == []


def test_analyzer_with_site_lists_finds_what_rules_miss():
    text = "Warren tolerated the procedure. Chart MR-273 8791 reviewed."
    found = spans(text, default_analyzer(site_lists=LISTS).analyze(text))
    assert ("Warren", "NAME") in found
    assert ("MR-273 8791", "MRN") in found


def test_site_lists_build_strips_and_drops_blank():
    lists = SiteLists.build([("NAME", "  Ebony   Warren "), ("NAME", ""), ("MRN", "12345")])
    assert lists.get("NAME") == frozenset({"Ebony Warren"})
    assert lists.counts() == {"MRN": 1, "NAME": 1}
    assert lists.get("EMAIL") == frozenset()


def test_site_lists_unknown_label():
    with pytest.raises(LoadError, match="unknown label"):
        SiteLists.build([("PERSON", "Ebony Warren")])


def test_site_lists_round_trip(tmp_path):
    folder = LISTS.save(tmp_path / "lists")
    assert (folder / MANIFEST).is_file()
    meta = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert meta["counts"] == LISTS.counts()
    assert SiteLists.load(folder) == LISTS


def test_site_lists_save_replaces_the_folder_whole(tmp_path):
    folder = tmp_path / "lists"
    LISTS.save(folder)
    (folder / "stray.tmp").write_text("x", encoding="utf-8")
    smaller = SiteLists.build([("MRN", "12345")])
    smaller.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["MRN.txt", MANIFEST]
    assert SiteLists.load(folder) == smaller
    # No temporary or old folder is left next to it.
    assert [p.name for p in tmp_path.iterdir()] == ["lists"]


def test_site_lists_save_failure_leaves_the_old_lists(tmp_path):
    folder = LISTS.save(tmp_path / "lists")
    bad = SiteLists({"NAME": frozenset({"line\nbreak"})})
    with pytest.raises(LoadError, match="line break"):
        bad.save(folder)
    assert SiteLists.load(folder) == LISTS
    assert [p.name for p in tmp_path.iterdir()] == ["lists"]


def test_site_lists_load_unknown_label_file(tmp_path):
    folder = LISTS.save(tmp_path / "lists")
    (folder / "PERSON.txt").write_text("Ebony Warren\n", encoding="utf-8")
    with pytest.raises(LoadError, match="unknown label 'PERSON'"):
        SiteLists.load(folder)


def test_site_lists_load_missing_manifest(tmp_path):
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "NAME.txt").write_text("Ebony Warren\n", encoding="utf-8")
    with pytest.raises(LoadError, match=r"no manifest\.json"):
        SiteLists.load(folder)


def test_site_lists_load_wrong_format(tmp_path):
    folder = LISTS.save(tmp_path / "lists")
    (folder / MANIFEST).write_text(json.dumps({"format": "other", "version": 1}),
                                   encoding="utf-8")
    with pytest.raises(LoadError, match="unsupported site-lists format"):
        SiteLists.load(folder)

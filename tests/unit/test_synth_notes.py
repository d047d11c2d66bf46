"""Synthetic clinical notes: offsets, labels, traps, ages, planted facts, determinism."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from behindglass.synth.notes import (
    KINDS,
    LABELS,
    Note,
    NoteError,
    Span,
    facts_from_faker,
    generate_notes,
    write_note,
)
from behindglass.synth.notes.builder import NoteBuilder, Phi
from behindglass.synth.notes.traps import TRAPS, trap_matches

CORPUS = 500


@pytest.fixture(scope="module")
def corpus() -> list[Note]:
    return list(generate_notes(CORPUS, seed=11))


@pytest.fixture(scope="module")
def by_kind() -> dict[str, list[Note]]:
    return {kind: list(generate_notes(150, seed=5, kinds=[kind])) for kind in KINDS}


def _covering(note: Note, start: int, end: int) -> list[Span]:
    return [s for s in note.spans if s.start < end and start < s.end]


# --- the data model ------------------------------------------------------------------------


def test_note_rejects_offsets_that_do_not_match() -> None:
    text = "Seen by Dr. Ruiz on 7/22."
    good = Span(12, 16, "NAME", "Ruiz", "clinician")
    assert Note("n", "k", text, (good,)).spans == (good,)
    with pytest.raises(NoteError):
        Note("n", "k", text, (Span(11, 15, "NAME", "Ruiz"),))  # same length, wrong place
    with pytest.raises(NoteError):
        Span(12, 17, "NAME", "Ruiz")  # length disagrees with the text
    with pytest.raises(NoteError):
        Span(12, 16, "SURNAME", "Ruiz")  # unknown label


def test_note_rejects_overlapping_or_unsorted_spans() -> None:
    text = "Ruiz 7/22"
    name, date = Span(0, 4, "NAME", "Ruiz"), Span(5, 9, "DATE", "7/22")
    with pytest.raises(NoteError):
        Note("n", "k", text, (date, name))
    with pytest.raises(NoteError):
        Note("n", "k", text, (name, Span(3, 4, "NAME", "z")))


_piece = st.one_of(
    st.text(max_size=12),
    st.builds(Phi, st.sampled_from(sorted(LABELS)),
              st.text(min_size=1, max_size=10).map(str.strip).filter(bool)),
)


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(_piece, max_size=12), upper=st.booleans())
def test_builder_offsets_hold_for_any_text(pieces: list[str | Phi], upper: bool) -> None:
    # Includes characters whose upper case is longer ("ß" -> "SS"): offsets must follow.
    b = NoteBuilder(upper=upper)
    for piece in pieces:
        b.add(piece)
    note = b.build("n", "k", None)
    planted = [p for p in pieces if isinstance(p, Phi)]
    assert len(note.spans) == len(planted)
    for span, phi in zip(note.spans, planted, strict=True):
        assert note.text[span.start:span.end] == span.text
        assert span.text == (phi.text.upper() if upper else phi.text)
    if upper:
        assert note.text == note.text.upper()


# --- every note and every span -------------------------------------------------------------


def test_every_span_matches_its_text_and_none_overlap(corpus: list[Note]) -> None:
    assert len(corpus) == CORPUS
    for note in corpus:
        end = 0
        for span in note.spans:
            assert note.text[span.start:span.end] == span.text
            assert span.start >= end, note.id
            assert span.text == span.text.strip()
            end = span.end


def test_every_label_appears_in_a_500_note_corpus(corpus: list[Note]) -> None:
    counts = Counter(s.label for n in corpus for s in n.spans)
    assert set(counts) == set(LABELS), set(LABELS) - set(counts)
    assert {n.kind for n in corpus} == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_plants_the_labels_it_should(kind: str,
                                               by_kind: dict[str, list[Note]]) -> None:
    seen = {s.label for n in by_kind[kind] for s in n.spans}
    assert KINDS[kind].expected <= seen, KINDS[kind].expected - seen
    assert all(n.kind == kind for n in by_kind[kind])


def test_icu_notes_are_upper_case_including_phi(by_kind: dict[str, list[Note]]) -> None:
    icu = by_kind["icu_nursing"]
    assert all(n.text == n.text.upper() for n in icu)
    names = [s.text for n in icu for s in n.spans if s.label == "NAME"]
    assert names and all(t == t.upper() for t in names)
    text = "\n".join(n.text for n in icu)
    for shorthand in ("PT ", "C/O", "NKDA", "S/P", "W/ ", "HR ", "BP "):
        assert shorthand in text


def test_names_cover_subtypes_and_hard_spellings(corpus: list[Note]) -> None:
    names = [s for n in corpus for s in n.spans if s.label == "NAME"]
    assert {s.subtype for s in names} == {"patient", "relative", "clinician"}
    texts = [s.text for s in names]
    assert any("'" in t for t in texts)  # O'Neil
    assert any(re.search(r"\w-\w", t) for t in texts)  # hyphenated
    assert any(re.fullmatch(r"[^,]+ (?:de la|da|van|van der|de) [^,]+", t) for t in texts)
    assert any(not t.isascii() for t in texts)  # Müller, João
    assert all("Dr." not in t and not t.endswith(" MD") for t in texts)


def test_dates_come_in_many_forms_and_never_include_weekdays(corpus: list[Note]) -> None:
    dates = [s.text for n in corpus for s in n.spans if s.label == "DATE"]
    forms = {
        "m/d": r"\d{1,2}/\d{1,2}", "mm/dd/yyyy": r"\d{2}/\d{2}/\d{4}",
        "mm-dd-yyyy": r"\d{2}-\d{2}-\d{4}", "iso": r"\d{4}-\d{2}-\d{2}",
        "mon d": r"[A-Z][a-z]{2} \d{1,2}", "month dth": r"[A-Z][a-z]+ \d{1,2}(st|nd|rd|th)",
        "dth of month yyyy": r"\d{1,2}(st|nd|rd|th) of [A-Z][a-z]+ \d{4}",
        "holiday yyyy": r"(Christmas|Thanksgiving|New Year's|Easter|Labor Day|Halloween|"
                        r"Fourth of July|Memorial Day) \d{4}",
        "season of yyyy": r"(spring|summer|fall|winter) of \d{4}",
    }
    for name, pattern in forms.items():
        assert any(re.fullmatch(pattern, d) for d in dates), name
    weekday = re.compile(r"monday|tuesday|wednesday|thursday|friday|saturday|sunday", re.I)
    assert not any(weekday.search(d) for d in dates)
    # Weekday names are written, just never inside a span.
    assert any(weekday.search(n.text) for n in corpus)


_AGE = re.compile(r"\b(\d{1,3})(?:-year-old| yo\b| y/o\b| years\b)|\bage:? (\d{1,3})\b|"
                  r"\bage/sex: (\d{1,3})/|\b(?:died|alive) at (\d{1,3})\b", re.I)


def test_ages_over_89_are_labelled_and_younger_ages_are_not(corpus: list[Note]) -> None:
    old = young = 0
    for note in corpus:
        for span in note.spans:
            if span.label == "AGE":
                assert int(span.text) > 89
        for m in _AGE.finditer(note.text):
            group = next(g for g in range(1, 5) if m.group(g) is not None)
            years, start, end = int(m.group(group)), m.start(group), m.end(group)
            covering = _covering(note, start, end)
            if years > 89:
                old += 1
                assert [(s.label, s.start, s.end) for s in covering] == [("AGE", start, end)]
            else:
                young += 1
                assert covering == [], (note.id, m.group(0))
    assert old >= 30 and young >= 100


def test_trap_phrases_appear_and_are_never_labelled(corpus: list[Note]) -> None:
    found: Counter[str] = Counter()
    for note in corpus:
        for category, start, end in trap_matches(note.text):
            found[category] += 1
            assert _covering(note, start, end) == [], (note.id, note.text[start:end])
    assert set(found) == set(TRAPS), set(TRAPS) - set(found)
    text = "\n".join(n.text for n in corpus)
    for phrase in ("Parkinson's", "Foley catheter", "Glasgow Coma Scale", "Apgar", "May resume",
                   "Dr. ", "HR ", "BP ", "mg/dL"):
        assert phrase.lower() in text.lower(), phrase


def test_state_codes_that_look_like_credentials_are_states(corpus: list[Note]) -> None:
    states = {s.text for n in corpus for s in n.spans if s.label == "STATE"}
    assert states, "no STATE planted"


# --- planted facts -------------------------------------------------------------------------

_EXACT = {"mrn": "MRN", "ssn": "SSN", "account": "ACCOUNT", "health_plan": "HEALTH_PLAN",
          "email": "EMAIL", "url": "URL", "ip": "IP", "device_id": "DEVICE", "plate": "VEHICLE",
          "vin": "VEHICLE", "drivers_license": "LICENSE", "phone": "PHONE",
          "institution": "INSTITUTION", "street": "STREET", "zip": "ZIP"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_planted_facts_appear_exactly_where_spans_say(kind: str) -> None:
    planted: Counter[str] = Counter()
    for i in range(60):
        rng = random.Random(f"facts-{kind}-{i}")
        facts = facts_from_faker(rng, patient=f"P{i}")
        note = write_note(kind, facts, rng, f"n{i}")
        assert note.patient == f"P{i}"
        fold = str.upper if kind == "icu_nursing" else str
        for field, label in _EXACT.items():
            value = fold(getattr(facts, field))
            # Every occurrence of the value is inside a span with the value's label.
            for m in re.finditer(re.escape(value), note.text):
                covering = _covering(note, m.start(), m.end())
                assert covering and all(s.label in (label, "INSTITUTION") for s in covering), (
                    kind, field)
                if covering[0].label == label:
                    assert covering[0].text == value
                    planted[field] += 1
        full = fold(facts.name)
        for m in re.finditer(re.escape(full), note.text):
            assert any(s.label == "NAME" and s.subtype == "patient" and s.start <= m.start()
                       and m.end() <= s.end for s in _covering(note, m.start(), m.end()))
    assert planted["mrn"] > 0


def test_write_note_rejects_unknown_kind() -> None:
    with pytest.raises(NoteError):
        write_note("operative_note", facts_from_faker(1), random.Random(1))


# --- corpora -------------------------------------------------------------------------------


def test_same_seed_same_notes_and_prefix_stable() -> None:
    first = list(generate_notes(120, seed=3))
    assert first == list(generate_notes(120, seed=3))
    assert list(generate_notes(40, seed=3)) == first[:40]
    assert first != list(generate_notes(120, seed=4))


def test_dev_and_validation_share_no_note_text_or_patient() -> None:
    dev = list(generate_notes(400, seed=1, split="dev"))
    val = list(generate_notes(400, seed=1, split="validation"))
    assert not {n.text for n in dev} & {n.text for n in val}
    assert not {n.patient for n in dev} & {n.patient for n in val}
    assert not {n.id for n in dev} & {n.id for n in val}
    dev_mrns = {s.text for n in dev for s in n.spans if s.label == "MRN"}
    val_mrns = {s.text for n in val for s in n.spans if s.label == "MRN"}
    assert len(dev_mrns & val_mrns) <= 1  # independent draws; a chance collision is rare


def test_generate_notes_rejects_bad_arguments() -> None:
    with pytest.raises(NoteError):
        list(generate_notes(1, split="test"))
    with pytest.raises(NoteError):
        list(generate_notes(1, kinds=["nope"]))


def test_name_parts_drop_titles_and_post_nominals() -> None:
    from behindglass.synth.notes.facts import name_parts

    assert name_parts("Dr. Ana Ruiz MD") == ("Ana", "Ruiz")
    assert name_parts("Ana da Silva") == ("Ana", "da Silva")
    assert name_parts("Mrs. Jo O'Neil-Smith Jr.") == ("Jo", "O'Neil-Smith")
    assert name_parts("Cher") == ("Cher", "")


@pytest.mark.parametrize("kind", ["clinic_letter", "telephone", "radiology", "pathology"])
def test_a_known_event_date_is_the_note_date(kind: str) -> None:
    import dataclasses
    import datetime as dt

    from behindglass.synth.notes.dates import _forms

    for i in range(20):
        rng = random.Random(f"event-{kind}-{i}")
        facts = dataclasses.replace(facts_from_faker(rng), event=dt.date(2021, 3, 9))
        note = write_note(kind, facts, rng)
        dates = {s.text for s in note.spans if s.label == "DATE"}
        assert dates & set(_forms(dt.date(2021, 3, 9))) or (kind == "clinic_letter" and (
            dates & set(_forms(dt.date(2021, 3, 10))))), (kind, dates)


@pytest.mark.parametrize(("kind", "template"),
                         [(k, t) for k in sorted(KINDS) for t in KINDS[k].templates])
def test_every_template_renders_with_exact_spans(kind: str, template: str) -> None:
    for i in range(15):
        rng = random.Random(f"{kind}/{template}/{i}")
        note = write_note(kind, facts_from_faker(rng), rng, f"n{i}", template=template)
        assert note.spans and all(note.text[s.start:s.end] == s.text for s in note.spans)
        assert {"NAME", "DATE"} <= {s.label for s in note.spans}
        if kind == "icu_nursing":
            assert note.text == note.text.upper()
    with pytest.raises(NoteError):
        write_note(kind, facts_from_faker(1), random.Random(1), template="no-such-template")


def test_staff_false_leaves_clinicians_to_the_caller() -> None:
    import dataclasses

    facts = facts_from_faker(random.Random(3), "en_US", staff=False)
    assert facts.clinicians == ()
    staffed = facts_from_faker(random.Random(3), "en_US")
    assert len(staffed.clinicians) == 7
    note = write_note("discharge_summary", dataclasses.replace(
        facts, clinicians=staffed.clinicians[:1]), random.Random(4))
    last = staffed.clinicians[0].last
    assert any(last in s.text for s in note.spans if s.subtype == "clinician")


def test_a_resection_report_is_about_one_operation() -> None:
    from behindglass.synth.notes.pathology import _RESECTIONS

    seen = set()
    for i in range(40):
        rng = random.Random(f"resection-{i}")
        text = write_note("pathology", facts_from_faker(rng), rng, template="resection").text
        cases = [case for case in _RESECTIONS if case[0] in text]
        assert len(cases) == 1, text
        specimen, synoptic, diagnosis, size = cases[0]
        assert synoptic in text and diagnosis in text and f"{size} cm" in text
        seen.add(specimen)
    assert len(seen) > 1

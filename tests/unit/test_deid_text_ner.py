"""The spaCy NER vote: loading, label mapping, ALL-CAPS case restoration, batching."""

from __future__ import annotations

from pathlib import Path

import pytest

from behindglass.core.errors import DeidError
from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context, Registry

spacy = pytest.importorskip("spacy")

from behindglass.deid.text.recognizers.ner import (  # noqa: E402
    DEFAULT_MODEL,
    NerRecognizer,
    case_restored,
)

SENTENCE = "Seen by Dr. John Smith at Boston General Hospital on March 3, 2021."


def _installed(name: str) -> bool:
    try:
        return spacy.util.is_package(name)
    except Exception:  # pragma: no cover - defensive: spaCy's lookup hit something odd
        return False


needs_model = pytest.mark.skipif(not _installed(DEFAULT_MODEL),
                                 reason=f"spaCy model {DEFAULT_MODEL} is not installed")


def _found(text: str, detections: list[Detection]) -> set[tuple[str, str]]:
    return {(text[d.start:d.end], d.label) for d in detections}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blank English pipeline whose ner learnt two labels from three sentences."""
    from spacy.training import Example

    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("ner")
    for label in ("PATIENT", "HOSPITAL"):
        ner.add_label(label)
    train = [
        ("Patient Ann Lee was seen at Mercy Clinic today.",
         [(8, 15, "PATIENT"), (28, 40, "HOSPITAL")]),
        ("Ann Lee went home from Mercy Clinic.", [(0, 7, "PATIENT"), (23, 35, "HOSPITAL")]),
        ("The wound is healing well.", []),
    ]
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents})
                for text, ents in train]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(30):
        for example in examples:
            nlp.update([example], sgd=optimizer, drop=0.0)
    folder = tmp_path_factory.mktemp("ner") / "tiny"
    nlp.to_disk(folder)
    return folder


def test_site_model_folder_with_its_own_label_map(tiny_model: Path) -> None:
    recognizer = NerRecognizer(model=tiny_model,
                               label_map={"PATIENT": "NAME", "HOSPITAL": "INSTITUTION"})
    text = "Patient Ann Lee was seen at Mercy Clinic today."
    assert sorted(recognizer.detect(text, Context())) == [
        Detection(8, 15, "NAME", "ner", 0.85), Detection(28, 40, "INSTITUTION", "ner", 0.85)]
    assert recognizer.labels == ("INSTITUTION", "NAME")
    # The folder may also be given as a string; the pipeline is cached per process.
    again = NerRecognizer(model=str(tiny_model), label_map={"PATIENT": "NAME"})
    assert again.nlp is recognizer.nlp
    assert _found(text, list(again.detect(text, Context()))) == {("Ann Lee", "NAME")}


def test_unmapped_labels_are_ignored_and_scores_filter(tiny_model: Path) -> None:
    text = "Ann Lee went home from Mercy Clinic."
    only_names = NerRecognizer(model=tiny_model, label_map={"PATIENT": "NAME"}, score=0.5)
    assert [(d.label, d.score) for d in only_names.detect(text)] == [("NAME", 0.5)]
    assert list(NerRecognizer(model=tiny_model, label_map={"PATIENT": "NAME"}, score=0.5,
                              min_score=0.6).detect(text)) == []


def test_bad_arguments() -> None:
    with pytest.raises(DeidError, match="unknown PHI label"):
        NerRecognizer(label_map={"PERSON": "PERSON"})
    with pytest.raises(DeidError, match="batch_size"):
        NerRecognizer(batch_size=0)
    with pytest.raises(DeidError, match=r"\[0, 1\]"):
        NerRecognizer(score=1.5)


def test_missing_model_names_it_and_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DeidError, match=r"no_such_model_xyz.*pip install no_such_model_xyz"):
        list(NerRecognizer(model="no_such_model_xyz").detect("text"))
    with pytest.raises(DeidError, match="does not exist"):
        list(NerRecognizer(model=tmp_path / "absent").detect("text"))
    (tmp_path / "broken").mkdir()
    with pytest.raises(DeidError, match="cannot load spaCy pipeline"):
        list(NerRecognizer(model=tmp_path / "broken").detect("text"))


def test_pipeline_without_an_entity_recognizer(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "no_ner")
    with pytest.raises(DeidError, match="no entity recognizer"):
        list(NerRecognizer(model=tmp_path / "no_ner").detect("text"))


def test_case_restoration_keeps_every_offset() -> None:
    text = "DR. JOHN O'NEIL SEEN TODAY\nMixed case line, MRN 12\nBP 120/80\nSTRASSE ß İSTANBUL"
    restored = case_restored(text)
    assert len(restored) == len(text)
    assert restored.splitlines()[0] == "Dr. John O'Neil Seen Today"
    assert restored.splitlines()[1:3] == ["Mixed case line, MRN 12", "BP 120/80"]
    # "İ".lower() is two code points: kept upper case so the length cannot drift.
    assert restored.splitlines()[3] == "Strasse ß İstanbul"
    assert case_restored("all lower case") == "all lower case"


@needs_model
def test_real_model_names_people_places_and_dates() -> None:
    recognizer = NerRecognizer()
    text = SENTENCE + " Lives in Springfield, MA. Follow up in 3 days, today; he is 93 years old."
    found = _found(text, list(recognizer.detect(text, Context())))
    assert ("John Smith", "NAME") in found
    assert ("Boston General Hospital", "INSTITUTION") in found
    assert ("March 3, 2021", "DATE") in found
    assert ("Springfield", "CITY") in found
    assert ("MA", "STATE") in found
    # Durations and relative days are dropped; an age over 89 is AGE.
    assert not {"3 days", "today"} & {span for span, _ in found}
    assert ("93 years old", "AGE") in found


@needs_model
def test_all_caps_text_is_case_restored_for_the_model() -> None:
    text = SENTENCE.upper()
    found = _found(text, list(NerRecognizer().detect(text)))
    assert ("JOHN SMITH", "NAME") in found
    assert ("BOSTON GENERAL HOSPITAL", "INSTITUTION") in found
    # Without restoration the cased model runs the name into the hospital.
    raw = _found(text, list(NerRecognizer(restore_case=False).detect(text)))
    assert ("JOHN SMITH", "NAME") not in raw


@needs_model
def test_refinement_drops_ontonotes_noise() -> None:
    recognizer = NerRecognizer()
    text = ("Seen by Jane Doe, MD. Started Lasix 20 mg PO BID. Glasgow Coma Scale 14. "
            "Spoke with Maria Lopez 3/11/24 about it.")
    found = _found(text, list(recognizer.detect(text)))
    assert ("Jane Doe", "NAME") in found
    assert ("MD", "STATE") not in found
    assert not any(any(c.isdigit() for c in span) for span, label in found if label == "NAME")
    # A name run on into a date is cut before the number.
    assert ("Maria Lopez", "NAME") in found


@needs_model
def test_detect_many_matches_detect_and_registers() -> None:
    recognizer = NerRecognizer(batch_size=2)
    texts = [SENTENCE, "", "No identifiers here.", SENTENCE.upper()]
    assert recognizer.detect_many(texts) == [list(recognizer.detect(t)) for t in texts]
    assert recognizer.detect_many([]) == []
    registry = Registry([recognizer])
    assert registry["ner"] is recognizer
    assert set(recognizer.labels) == {"NAME", "INSTITUTION", "CITY", "STATE", "DATE", "AGE"}
    # en_core_web_sm's ner embeds tokens itself: its shared tok2vec is dropped for speed.
    assert recognizer.nlp.pipe_names == ["ner"]


def test_a_tok2vec_the_ner_listens_to_is_kept(tmp_path: Path) -> None:
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    nlp.add_pipe("ner", config={"model": {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner",
        "extra_state_tokens": False, "hidden_width": 16, "maxout_pieces": 2,
        "use_upper": True, "nO": None,
        "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": 96,
                    "upstream": "*"}}})
    nlp.add_pipe("sentencizer")
    nlp.get_pipe("ner").add_label("PATIENT")
    text = "Ann Lee was seen."
    nlp.initialize(lambda: [Example.from_dict(nlp.make_doc(text),
                                              {"entities": [(0, 7, "PATIENT")]})])
    nlp.to_disk(tmp_path / "listening")
    recognizer = NerRecognizer(model=tmp_path / "listening", label_map={"PATIENT": "NAME"})
    assert all(d.label == "NAME" for d in recognizer.detect(text))
    assert recognizer.nlp.pipe_names == ["tok2vec", "ner", "sentencizer"]


def test_date_and_place_checks_without_a_model() -> None:
    from behindglass.deid.text.recognizers import ner

    assert ner._is_date("March 3, 2021") and ner._is_date("3/11/24")
    assert ner._is_date("summer of 2019") and ner._is_date("2021-03")
    assert not ner._is_date("today") and not ner._is_date("3 days")
    assert not ner._is_date("175/91") and not ner._is_date("2015") and not ner._is_date("May")
    assert ner._is_place("MA", ", ") and not ner._is_place("MD", ", ")
    assert not ner._is_place("OR", "d ") and ner._is_place("Springfield", "n ")
    assert ner._cut_at_number("PERSON", "Mccoy 3/11/24", 0, 13) == 6  # the space is trimmed later
    assert ner._cut_at_number("PERSON", "Cr 3.1", 0, 6) == 0
    assert ner._cut_at_number("DATE", "March 3", 0, 7) == 7


def test_name_checks_without_a_model() -> None:
    from behindglass.deid.text.recognizers import ner

    for name in ("Diego A. Pimenta", "Roger Day", "Mccoy", "Lucía Pelayo"):
        assert ner._looks_like_name(name), name
    for not_name in ("Glasgow Coma Scale", "YELLOW URINE", "Callback", "WILL CONT TO MONITOR",
                     "Cr 3.1"):
        assert not ner._looks_like_name(not_name), not_name
    assert ner._looks_like_institution("Stewart Memorial Hospital")
    assert ner._looks_like_institution("Hallchester")
    assert not ner._looks_like_institution("mcg PO")
    assert not ner._looks_like_institution("CALL MD AWARE")

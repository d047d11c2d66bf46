"""Evaluation metrics on a hand-made two-document gold, every number computed by hand."""

from __future__ import annotations

import json
import math

import pytest
from statsmodels.stats.proportion import proportion_confint

from behindglass.core.errors import DeidError
from behindglass.deid.evaluation import (
    GoldDoc,
    GoldSpan,
    Leak,
    Proportion,
    evaluate,
    f_beta,
    leaks,
    score,
    wilson_interval,
)
from behindglass.deid.text.model import Detection

# Offsets: "Pt"0-2 "John Smith"3-13 "03/04/2021"19-29 "Mercy Hospital"33-47 "Boston"49-55
# "MA"56-58 | "555-123-4567"5-17 "Dr"22-24 "Ann Lee"25-32 "nurse"34-39
TEXT1 = "Pt John Smith seen 03/04/2021 at Mercy Hospital, Boston MA."
TEXT2 = "Call 555-123-4567 re:\nDr Ann Lee, nurse."
SPANS1 = ((3, 13, "NAME"), (19, 29, "DATE"), (33, 47, "INSTITUTION"), (49, 55, "CITY"),
          (56, 58, "STATE"))
SPANS2 = ((5, 17, "PHONE"), (25, 32, "NAME"))


def _doc(doc_id: str, text: str, spans: tuple[tuple[int, int, str], ...]) -> GoldDoc:
    return GoldDoc(doc_id, text, tuple(GoldSpan(s, e, lab, text[s:e]) for s, e, lab in spans))


GOLD = [_doc("d1", TEXT1, SPANS1), _doc("d2", TEXT2, SPANS2)]
# "John" of "John Smith" only (partial); the date; the hospital under the wrong label (still
# caught); "MA" on the ignored STATE gold (no false positive); "Pt" (a false positive).
# Document 2: the phone, and "Dr Ann Lee" (covers the name, 2 extra visible characters).
# "Boston" is missed.
PRED = {"d1": [(3, 7, "NAME"), (19, 29, "DATE"), (33, 47, "NAME"), (56, 58, "STATE"),
               (0, 2, "NAME")],
        "d2": [(5, 17, "PHONE"), (22, 32, "NAME")]}


def test_gold_offsets_are_what_the_comments_say() -> None:
    assert [TEXT1[s:e] for s, e, _ in SPANS1] == ["John Smith", "03/04/2021", "Mercy Hospital",
                                                   "Boston", "MA"]
    assert [TEXT2[s:e] for s, e, _ in SPANS2] == ["555-123-4567", "Ann Lee"]


def test_overall_numbers() -> None:
    report = score(GOLD, PRED)
    o = report.overall
    # 6 scored spans (STATE ignored): John Smith partial, Boston missed, 4 fully caught.
    assert (o.leak_free.hits, o.leak_free.n) == (4, 6)
    assert (o.any_overlap.hits, o.any_overlap.n) == (5, 6)
    # Visible characters: 9 + 10 + 13 + 6 + 12 + 6 = 56; covered 4 + 10 + 13 + 0 + 12 + 6.
    assert (o.characters.hits, o.characters.n) == (45, 56)
    # 7 predictions, only "Pt" overlaps no gold span.
    assert (o.precision.hits, o.precision.n) == (6, 7)
    # Visible predicted characters 2+4+10+13+2 | 12+8 = 51, of which in gold 4+10+13+2 | 12+6.
    assert (o.char_precision.hits, o.char_precision.n) == (47, 51)
    # F2 = 5PR / (4P + R) with P = 6/7, R = 2/3: (20/7) / (86/21) = 30/43.
    assert o.f2 == pytest.approx(30 / 43, abs=1e-12)
    assert (report.documents.hits, report.documents.n) == (1, 2)
    assert report.characters == 59 + 40


def test_per_label_numbers() -> None:
    report = score(GOLD, PRED)
    assert sorted(report.labels) == ["CITY", "DATE", "INSTITUTION", "NAME", "PHONE"]
    name = report.labels["NAME"]
    assert (name.leak_free.hits, name.leak_free.n) == (1, 2)
    assert (name.any_overlap.hits, name.any_overlap.n) == (2, 2)
    assert (name.characters.hits, name.characters.n) == (10, 15)
    # NAME predictions: John, Mercy Hospital, Pt, Dr Ann Lee.
    assert (name.precision.hits, name.precision.n) == (3, 4)
    assert (name.char_precision.hits, name.char_precision.n) == (23, 27)
    city = report.labels["CITY"]
    assert (city.leak_free.hits, city.any_overlap.hits, city.characters.hits) == (0, 0, 0)
    assert (city.characters.n, city.precision.n) == (6, 0)
    assert city.precision.value is None and city.f2 == 0.0
    inst = report.labels["INSTITUTION"]  # caught by a NAME prediction: a leak is by character
    assert (inst.leak_free.hits, inst.leak_free.n, inst.precision.n) == (1, 1, 0)
    assert inst.f2 is None  # no INSTITUTION predictions: precision unknown
    assert report.labels["DATE"].f2 == 1.0
    state = report.ignored["STATE"]
    assert list(report.ignored) == ["STATE"]
    assert (state.leak_free.hits, state.leak_free.n, state.precision.hits) == (1, 1, 1)


def test_ignore_nothing_brings_state_into_overall() -> None:
    report = score(GOLD, PRED, ignore=())
    assert report.ignored == {}
    assert (report.overall.leak_free.hits, report.overall.leak_free.n) == (5, 7)
    assert (report.overall.characters.hits, report.overall.characters.n) == (47, 58)
    # Precision does not depend on the ignore list.
    assert (report.overall.precision.hits, report.overall.precision.n) == (6, 7)


def test_ignore_labels_are_normalised() -> None:
    report = score(GOLD, PRED, ignore=("state", "city"))
    assert sorted(report.ignored) == ["CITY", "STATE"]
    # Without Boston, document 1 still leaks "Smith".
    assert (report.overall.leak_free.hits, report.overall.leak_free.n) == (4, 5)
    assert report.documents.hits == 1


def test_leaks_lists_missed_spans() -> None:
    assert leaks(GOLD, PRED) == [Leak("d1", "NAME", 3, 13, "John Smith"),
                                 Leak("d1", "CITY", 49, 55, "Boston")]
    assert leaks(GOLD, {"d1": PRED["d1"]}, ignore=()) == [
        ("d1", "NAME", 3, 13, "John Smith"), ("d1", "CITY", 49, 55, "Boston"),
        ("d2", "PHONE", 5, 17, "555-123-4567"), ("d2", "NAME", 25, 32, "Ann Lee")]


def test_perfect_predictions_score_one() -> None:
    perfect = {d.id: [(s.start, s.end, s.label) for s in d.spans] for d in GOLD}
    report = score(GOLD, perfect)
    for scores in (report.overall, *report.labels.values(), *report.ignored.values()):
        for p in (scores.leak_free, scores.any_overlap, scores.characters, scores.precision,
                  scores.char_precision):
            assert p.value == 1.0 and p.upper == 1.0
        assert scores.f2 == 1.0
    assert report.documents.hits == 0
    assert leaks(GOLD, perfect) == []


def test_empty_predictions_score_zero() -> None:
    report = score(GOLD, {})
    o = report.overall
    assert (o.leak_free.value, o.any_overlap.value, o.characters.value) == (0.0, 0.0, 0.0)
    assert (o.leak_free.lower, o.precision.n, o.precision.value, o.f2) == (0.0, 0, None, 0.0)
    assert (report.documents.hits, report.documents.n) == (2, 2)
    assert report.to_dict()["overall"]["precision"] == {
        "value": None, "hits": 0, "n": 0, "wilson_lower": 0.0, "wilson_upper": 1.0}


def test_whitespace_is_never_counted() -> None:
    doc = _doc("w", "a  Jo Bo  b", ((3, 8, "NAME"),))
    # Covering "Jo" and "Bo" but not the space between them is leak-free.
    report = score([doc], {"w": [(3, 5, "NAME"), (6, 8, "NAME")]})
    assert report.overall.leak_free.value == 1.0
    assert (report.overall.characters.hits, report.overall.characters.n) == (4, 4)
    # A prediction of the inner space alone overlaps no visible gold character.
    report = score([doc], {"w": [(5, 6, "NAME")]})
    assert (report.overall.any_overlap.hits, report.overall.precision.hits) == (0, 0)
    assert (report.overall.char_precision.hits, report.overall.char_precision.n) == (0, 0)


def test_detections_callables_and_long_tuples_are_accepted() -> None:
    as_detections = {k: [Detection(s, e, lab, "test", 0.5) for s, e, lab in v]
                     for k, v in PRED.items()}
    expected = score(GOLD, PRED).to_dict()
    assert score(GOLD, as_detections).to_dict() == expected
    by_text = {TEXT1: PRED["d1"], TEXT2: PRED["d2"]}
    assert score(GOLD, lambda text: by_text[text]).to_dict() == expected
    assert score(GOLD, {k: [(*t, "src", 0.9) for t in v] for k, v in PRED.items()}
                 ).to_dict() == expected


def test_evaluate_times_the_detector() -> None:
    by_text = {TEXT1: PRED["d1"], TEXT2: PRED["d2"]}
    calls: list[str] = []

    def detect(text: str) -> list[Detection]:
        calls.append(text)
        return [Detection(s, e, lab) for s, e, lab in by_text[text]]

    report = evaluate(GOLD, detect)
    assert calls == [TEXT1, TEXT2]
    assert (report.overall.leak_free.hits, report.overall.precision.hits) == (4, 6)
    speed = report.to_dict()["throughput"]
    assert speed["seconds"] > 0
    assert speed["characters_per_second"] == pytest.approx(99 / speed["seconds"])
    assert speed["documents_per_second"] == pytest.approx(2 / speed["seconds"])
    assert score(GOLD, PRED).to_dict()["throughput"] is None


def test_bad_predictions_are_refused() -> None:
    with pytest.raises(DeidError, match="not in the gold corpus"):
        score(GOLD, {"d3": [(0, 1, "NAME")]})
    with pytest.raises(DeidError, match=r"\[50, 45\)"):
        score(GOLD, {"d2": [(50, 45, "NAME")]})
    with pytest.raises(DeidError, match="outside the text of 40"):
        score(GOLD, {"d2": [(30, 41, "NAME")]})
    with pytest.raises(DeidError, match="'d1': a prediction is neither"):
        score(GOLD, {"d1": [(3, 7)]})
    with pytest.raises(DeidError, match="'d2': a prediction is neither"):
        score(GOLD, lambda text: [("a", "b", "NAME")] if text == TEXT2 else [])


@pytest.mark.parametrize(("hits", "n"), [(0, 10), (4, 6), (6, 7), (45, 56), (10, 10), (1, 2),
                                         (299, 300)])
def test_wilson_matches_statsmodels(hits: int, n: int) -> None:
    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    ours = wilson_interval(hits, n)
    assert ours[0] == pytest.approx(low, abs=1e-7)
    assert ours[1] == pytest.approx(high, abs=1e-7)


def test_wilson_by_hand() -> None:
    # 0/10: the lower bound is 0 and the upper bound z^2 / (n + z^2).
    z2 = 1.959964 ** 2
    assert wilson_interval(0, 10) == (0.0, pytest.approx(z2 / (10 + z2), abs=1e-12))
    assert wilson_interval(0, 10)[1] == pytest.approx(0.27753, abs=1e-5)
    # 4/6: centre (4/6 + z2/12) / (1 + z2/6), half-width from the Wilson formula.
    centre = (4 / 6 + z2 / 12) / (1 + z2 / 6)
    half = 1.959964 / (1 + z2 / 6) * math.sqrt((4 / 6) * (2 / 6) / 6 + z2 / 144)
    assert Proportion(4, 6).lower == pytest.approx(centre - half, abs=1e-12)
    assert Proportion(4, 6).lower == pytest.approx(0.30000, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= hits <= n"):
        wilson_interval(3, 2)


def test_f_beta_edges() -> None:
    assert f_beta(None, 0.0) == 0.0
    assert f_beta(None, 0.5) is None
    assert f_beta(0.0, 0.5) == 0.0
    assert f_beta(0.5, None) is None
    assert f_beta(1.0, 0.5) == pytest.approx(5 * 0.5 / (4 + 0.5))


def test_report_dict_is_json_and_documented_keys() -> None:
    data = json.loads(json.dumps(score(GOLD, PRED, seconds=2.0).to_dict()))
    assert set(data) == {"overall", "labels", "ignored", "ignore", "documents", "throughput"}
    assert set(data["overall"]) == {"gold_spans", "predicted_spans", "leak_free_recall",
                                    "any_overlap_recall", "character_recall", "precision",
                                    "character_precision", "f2"}
    assert data["overall"]["gold_spans"] == 6 and data["overall"]["predicted_spans"] == 7
    assert data["overall"]["leak_free_recall"]["hits"] == 4
    assert data["overall"]["leak_free_recall"]["wilson_lower"] == pytest.approx(
        proportion_confint(4, 6, method="wilson")[0], abs=1e-7)
    assert data["ignore"] == ["COUNTRY", "PROFESSION", "STATE"]
    assert data["documents"] == {"n": 2, "characters": 99, "with_leaks": {
        "value": 0.5, "hits": 1, "n": 2, "wilson_lower": pytest.approx(0.0945, abs=1e-4),
        "wilson_upper": pytest.approx(0.9055, abs=1e-4)}}
    assert data["throughput"] == {"seconds": 2.0, "characters_per_second": 49.5,
                                  "documents_per_second": 1.0}


def test_render_text_shows_every_label() -> None:
    text = score(GOLD, PRED, seconds=2.0).render_text()
    lines = text.splitlines()
    name = next(line for line in lines if line.startswith("NAME "))
    assert name.split() == ["NAME", "2", "0.500", "0.095", "1.000", "0.667", "4", "0.750",
                            "0.301", "0.852", "0.536"]
    overall = next(line for line in lines if line.startswith("OVERALL"))
    assert overall.split()[1:3] == ["6", "0.667"]
    assert "ignored (not in OVERALL):" in lines
    assert any(line.startswith("STATE ") for line in lines)
    assert "documents with leaked PHI: 1/2 = 0.500" in text
    assert "throughput: 50 characters/s, 1.0 documents/s (2.00 s)" in text


def test_evaluate_progress_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    by_text = {TEXT1: PRED["d1"], TEXT2: PRED["d2"]}
    report = evaluate(GOLD, by_text.__getitem__, progress=True, ignore=())
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "\r2/2 documents\n"
    assert (report.overall.leak_free.hits, report.overall.leak_free.n) == (5, 7)


def test_a_missed_ignored_span_does_not_make_a_document_leak() -> None:
    gold = [GOLD[0], _doc("d2", TEXT2, (*SPANS2, (34, 39, "PROFESSION")))]
    report = score(gold, PRED)
    assert (report.documents.hits, report.documents.n) == (1, 2)
    assert (report.ignored["PROFESSION"].leak_free.hits,
            report.ignored["PROFESSION"].leak_free.n) == (0, 1)
    assert (report.overall.leak_free.hits, report.overall.leak_free.n) == (4, 6)
    assert leaks(gold, PRED) == leaks(GOLD, PRED)
    everything = score(gold, PRED, ignore=())
    assert (everything.documents.hits, everything.overall.leak_free.n) == (2, 8)
    assert leaks(gold, PRED, ignore=())[-1] == ("d2", "PROFESSION", 34, 39, "nurse")

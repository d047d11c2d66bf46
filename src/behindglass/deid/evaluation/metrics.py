"""Score predicted PHI spans against gold spans: leak-free recall first.

Every character measure counts non-whitespace characters only: a missed space between a
first and a last name leaks nothing, a "caught" name whose last letter escaped leaks. A
gold span is covered by predictions of ANY label: a leak is a leak regardless of type, and
a name removed as a DATE is still removed. Definitions: docs/deid-eval.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, NamedTuple

from behindglass.core.errors import DeidError
from behindglass.deid.evaluation.labels import foreign_label
from behindglass.deid.evaluation.model import GoldDoc
from behindglass.deid.evaluation.report import EvalReport, LabelScores
from behindglass.deid.evaluation.wilson import Proportion

DEFAULT_IGNORE = ("STATE", "COUNTRY", "PROFESSION")
Triple = tuple[int, int, str]
# Either {doc id: spans} or a detector called with each document's text.
Predictions = Mapping[str, Iterable[Any]] | Callable[[str], Iterable[Any]]


class Leak(NamedTuple):
    """A gold span that predictions did not fully cover (tuning tools list these)."""

    doc: str
    label: str
    start: int
    end: int
    text: str


def as_triple(item: Any) -> Triple:
    """(start, end, label) from a Detection-like object or a (start, end, label, ...) tuple."""
    if hasattr(item, "start") and hasattr(item, "label"):
        return int(item.start), int(item.end), str(item.label)
    return int(item[0]), int(item[1]), str(item[2])


def _prefix(flags: Iterable[int]) -> list[int]:
    return list(accumulate(flags, initial=0))


def _mask(length: int, ranges: Iterable[tuple[int, int]]) -> bytearray:
    mask = bytearray(length)
    for start, end in ranges:
        mask[start:end] = b"\x01" * (end - start)
    return mask


def _union(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(slots=True)
class _DocScore:
    """Prefix sums over one document: visible, visible-and-predicted, visible-and-gold."""

    visible: list[int]
    covered: list[int]
    in_gold: list[int]

    @classmethod
    def build(cls, doc: GoldDoc, predicted: Sequence[Triple]) -> _DocScore:
        visible = [0 if ch.isspace() else 1 for ch in doc.text]
        pred = _mask(len(doc.text), ((s, e) for s, e, _ in predicted))
        gold = _mask(len(doc.text), ((s.start, s.end) for s in doc.spans))
        return cls(_prefix(visible), _prefix(v & p for v, p in zip(visible, pred, strict=True)),
                   _prefix(v & g for v, g in zip(visible, gold, strict=True)))

    def recall(self, start: int, end: int) -> tuple[int, int]:
        """(covered, visible) characters of [start, end)."""
        return (self.covered[end] - self.covered[start],
                self.visible[end] - self.visible[start])

    def precision(self, ranges: Iterable[tuple[int, int]]) -> Proportion:
        """Visible characters of the union of ranges that lie in gold / all of them."""
        merged = _union(ranges)
        return Proportion(sum(self.in_gold[e] - self.in_gold[s] for s, e in merged),
                          sum(self.visible[e] - self.visible[s] for s, e in merged))


def _checked(doc: GoldDoc, items: Iterable[Any]) -> list[Triple]:
    try:
        triples = [as_triple(item) for item in items]
    except (IndexError, TypeError, ValueError) as exc:
        raise DeidError(f"document {doc.id!r}: a prediction is neither a Detection nor a "
                        f"(start, end, label) tuple ({type(exc).__name__})") from exc
    for start, end, label in triples:
        if not 0 <= start < end <= len(doc.text):
            raise DeidError(f"document {doc.id!r}: predicted {label} range [{start}, {end}) is "
                            f"empty or outside the text of {len(doc.text)} characters")
    return triples


def predictions_for(gold: Sequence[GoldDoc], predicted: Predictions) -> list[list[Triple]]:
    """Each gold document's checked predictions, in gold order (missing ids: none)."""
    if callable(predicted) and not isinstance(predicted, Mapping):
        return [_checked(doc, predicted(doc.text)) for doc in gold]
    ids = {doc.id for doc in gold}
    if len(ids) != len(gold):
        raise DeidError("gold document ids are not unique")
    unknown = sorted(set(predicted) - ids)
    if unknown:
        raise DeidError(f"predictions for {len(unknown)} documents not in the gold corpus, "
                        f"e.g. {unknown[0]!r}")
    return [_checked(doc, predicted.get(doc.id, ())) for doc in gold]


def _precision(state: _DocScore, ranges: list[tuple[int, int]]) -> LabelScores:
    hits = sum(state.in_gold[e] - state.in_gold[s] > 0 for s, e in ranges)
    return LabelScores(precision=Proportion(hits, len(ranges)),
                       char_precision=state.precision(ranges))


def score(gold: Sequence[GoldDoc], predicted: Predictions, *,
          ignore: Iterable[str] = DEFAULT_IGNORE, seconds: float | None = None) -> EvalReport:
    """Score ``predicted`` against ``gold``; gold spans labelled in ``ignore`` are reported
    apart and left out of the overall recall (they still make predictions on them correct)."""
    ignored = frozenset(foreign_label(label) for label in ignore)
    # Recall is tallied under the gold label, precision under the predicted label.
    per_label: dict[str, LabelScores] = defaultdict(LabelScores)
    all_predictions = LabelScores()
    leaked_docs = 0
    for doc, triples in zip(gold, predictions_for(gold, predicted), strict=True):
        state = _DocScore.build(doc, triples)
        leaked = False
        for span in doc.spans:
            covered, visible = state.recall(span.start, span.end)
            leaked |= covered < visible and span.label not in ignored
            per_label[span.label] += LabelScores(
                leak_free=Proportion(int(covered == visible), 1),
                any_overlap=Proportion(int(covered > 0), 1),
                characters=Proportion(covered, visible))
        leaked_docs += leaked
        by_label: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for start, end, label in triples:
            by_label[label].append((start, end))
        for label, ranges in by_label.items():
            per_label[label] += _precision(state, ranges)
        all_predictions += _precision(state, [(s, e) for s, e, _ in triples])
    recall = sum((v for k, v in per_label.items() if k not in ignored), LabelScores())
    overall = LabelScores(recall.leak_free, recall.any_overlap, recall.characters,
                          all_predictions.precision, all_predictions.char_precision)
    return EvalReport(overall=overall,
                      labels={k: v for k, v in per_label.items() if k not in ignored},
                      ignored={k: v for k, v in per_label.items() if k in ignored},
                      documents=Proportion(leaked_docs, len(gold)),
                      characters=sum(len(doc.text) for doc in gold),
                      ignore=tuple(sorted(ignored)), seconds=seconds)


def leaks(gold: Sequence[GoldDoc], predicted: Predictions, *,
          ignore: Iterable[str] = DEFAULT_IGNORE) -> list[Leak]:
    """Every gold span (outside ``ignore``) not leak-free under ``predicted``, in gold order."""
    ignored = frozenset(foreign_label(label) for label in ignore)
    found = []
    for doc, triples in zip(gold, predictions_for(gold, predicted), strict=True):
        state = _DocScore.build(doc, triples)
        for span in doc.spans:
            covered, visible = state.recall(span.start, span.end)
            if covered != visible and span.label not in ignored:
                found.append(Leak(doc.id, span.label, span.start, span.end, span.text))
    return found

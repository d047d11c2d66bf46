"""What an evaluation returns: per-label and overall scores, as a dict for JSON or a table.

``EvalReport.to_dict()`` keys (all documented in docs/deid-eval.md)::

    overall, labels{LABEL}, ignored{LABEL}  -> scores (below)
    ignore                                  -> the ignored labels
    documents  -> {n, characters, with_leaks: proportion}
    throughput -> null, or {seconds, characters_per_second, documents_per_second}

scores: ``gold_spans, predicted_spans, leak_free_recall, any_overlap_recall,
character_recall, precision, character_precision`` (proportions: ``value, hits, n,
wilson_lower, wilson_upper``) and ``f2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from behindglass.deid.evaluation.wilson import Proportion

BETA = 2.0  # recall weighs four times as much as precision: a leak costs more than a redaction
_EMPTY = Proportion(0, 0)


def f_beta(precision: float | None, recall: float | None, beta: float = BETA) -> float | None:
    """F-beta; 0 when recall is 0 (whatever the precision), None when either is unknown."""
    if recall == 0:
        return 0.0
    if precision is None or recall is None:
        return None
    if precision == 0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall)


@dataclass(frozen=True, slots=True)
class LabelScores:
    """Recall over the gold spans of a label, precision over the predictions of a label."""

    leak_free: Proportion = _EMPTY
    any_overlap: Proportion = _EMPTY
    characters: Proportion = _EMPTY
    precision: Proportion = _EMPTY
    char_precision: Proportion = _EMPTY

    @property
    def f2(self) -> float | None:
        return f_beta(self.precision.value, self.leak_free.value)

    def __add__(self, other: LabelScores) -> LabelScores:
        return LabelScores(self.leak_free + other.leak_free, self.any_overlap + other.any_overlap,
                           self.characters + other.characters, self.precision + other.precision,
                           self.char_precision + other.char_precision)

    def to_dict(self) -> dict[str, Any]:
        return {"gold_spans": self.leak_free.n, "predicted_spans": self.precision.n,
                "leak_free_recall": self.leak_free.to_dict(),
                "any_overlap_recall": self.any_overlap.to_dict(),
                "character_recall": self.characters.to_dict(),
                "precision": self.precision.to_dict(),
                "character_precision": self.char_precision.to_dict(), "f2": self.f2}


@dataclass(frozen=True, slots=True)
class EvalReport:
    overall: LabelScores
    labels: dict[str, LabelScores]
    ignored: dict[str, LabelScores]
    documents: Proportion  # documents with at least one leaked span / documents
    characters: int  # characters of all document texts
    ignore: tuple[str, ...] = ()
    seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def throughput(self) -> dict[str, float] | None:
        if self.seconds is None or self.seconds <= 0:
            return None
        return {"seconds": self.seconds,
                "characters_per_second": self.characters / self.seconds,
                "documents_per_second": self.documents.n / self.seconds}

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "labels": {k: v.to_dict() for k, v in sorted(self.labels.items())},
            "ignored": {k: v.to_dict() for k, v in sorted(self.ignored.items())},
            "ignore": list(self.ignore),
            "documents": {"n": self.documents.n, "characters": self.characters,
                          "with_leaks": self.documents.to_dict()},
            "throughput": self.throughput(),
        } | self.extra

    def render_text(self) -> str:
        head = (f"{'label':<16}{'gold':>6} {'leak-free':>9} {'(95% lo)':>8} {'overlap':>8} "
                f"{'chars':>6} {'pred':>6} {'precis.':>8} {'(95% lo)':>8} {'char-p':>6} "
                f"{'F2':>6}")
        rows = [head, "-" * len(head)]
        rows += [_row(label, s) for label, s in sorted(self.labels.items())]
        rows += ["-" * len(head), _row("OVERALL", self.overall)]
        if self.ignored:
            rows += ["", "ignored (not in OVERALL):"]
            rows += [_row(label, s) for label, s in sorted(self.ignored.items())]
        d = self.documents
        rows += ["", f"documents with leaked PHI: {d.hits}/{d.n} = {_num(d.value)} "
                     f"(95% Wilson {_num(d.lower)}-{_num(d.upper)})"]
        if (speed := self.throughput()) is not None:
            rows.append(f"throughput: {speed['characters_per_second']:,.0f} characters/s, "
                        f"{speed['documents_per_second']:,.1f} documents/s "
                        f"({speed['seconds']:.2f} s)")
        return "\n".join(rows) + "\n"


def _num(value: float | None, width: int = 0) -> str:
    return f"{'-' if value is None else f'{value:.3f}':>{width}}"


def _row(label: str, s: LabelScores) -> str:
    return (f"{label:<16}{s.leak_free.n:>6} {_num(s.leak_free.value, 9)} "
            f"{_num(s.leak_free.lower if s.leak_free.n else None, 8)} "
            f"{_num(s.any_overlap.value, 8)} {_num(s.characters.value, 6)} "
            f"{s.precision.n:>6} {_num(s.precision.value, 8)} "
            f"{_num(s.precision.lower if s.precision.n else None, 8)} "
            f"{_num(s.char_precision.value, 6)} {_num(s.f2, 6)}")

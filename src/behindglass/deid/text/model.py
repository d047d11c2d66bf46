"""What a recognizer reports: a labelled character range of the text it was given."""

from __future__ import annotations

from dataclasses import dataclass

from behindglass.core.errors import DeidError
from behindglass.deid.text.labels import LABELS


@dataclass(frozen=True, slots=True, order=True)
class Detection:
    """``text[start:end]`` is PHI of class ``label``, found by recognizer ``source``.

    ``score`` is the recognizer's confidence in [0, 1]; the analyzer keeps a detection
    when its score reaches the analyzer's threshold (recall first: most rules say 1.0).
    """

    start: int
    end: int
    label: str
    source: str = ""
    score: float = 1.0

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise DeidError(f"recognizer {self.source!r} reported unknown label {self.label!r}")
        if not 0 <= self.start < self.end:
            raise DeidError(f"recognizer {self.source!r} reported an empty or negative range "
                            f"[{self.start}, {self.end})")

"""What a run did, in counts and new names only: never an original identifier value.

Per-file date offsets are deliberately absent: an offset next to a shifted date undoes the
shift.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: File name of the JSON run report written into OUT_DIR.
REPORT_NAME = "deid-report.json"

#: Action codes always present in reports (zero when unused), in the standard's order.
REPORTED_ACTIONS = ("D", "Z", "X", "K", "C", "U")


@dataclass
class FileReport:
    """One de-identified instance."""

    actions: Counter[str] = field(default_factory=Counter)
    private_removed: int = 0
    private_kept: int = 0
    burned_in_reason: str | None = None
    modality: str = ""
    dates_shifted: bool = False
    output_name: str | None = None  # set when written by deidentify_folder

    @property
    def burned_in(self) -> bool:
        return self.burned_in_reason is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.output_name,
            "modality": self.modality,
            "actions": {a: self.actions.get(a, 0) for a in REPORTED_ACTIONS},
            "private_removed": self.private_removed,
            "private_kept": self.private_kept,
            "burned_in": self.burned_in,
            "burned_in_reason": self.burned_in_reason,
            "dates_shifted": self.dates_shifted,
        }


@dataclass
class SkippedFile:
    """An input file that was not written. ``index`` is its 1-based position in the sorted
    walk of IN_DIR: paths are not reported because folder and file names carry names."""

    index: int
    reason: str
    path: Path  # kept in memory for the operator (CLI --show-skipped); never serialised


@dataclass
class RunReport:
    """A whole ``deidentify_folder`` run."""

    profile: str
    table_edition: str
    date_mode: str
    secret_fingerprint: str
    files_seen: int = 0
    files: list[FileReport] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def files_written(self) -> int:
        return len(self.files)

    @property
    def actions(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.actions)
        return {a: total.get(a, 0) for a in REPORTED_ACTIONS}

    @property
    def burned_in(self) -> list[FileReport]:
        return [f for f in self.files if f.burned_in]

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "table_edition": self.table_edition,
            "date_mode": self.date_mode,
            "secret_fingerprint": self.secret_fingerprint,
            "files_seen": self.files_seen,
            "files_written": self.files_written,
            "files_skipped": len(self.skipped),
            "actions": self.actions,
            "private_removed": sum(f.private_removed for f in self.files),
            "private_kept": sum(f.private_kept for f in self.files),
            "burned_in_flagged": [
                {"file": f.output_name, "reason": f.burned_in_reason} for f in self.burned_in
            ],
            "skipped": [{"input_index": s.index, "reason": s.reason} for s in self.skipped],
            "files": [f.to_dict() for f in self.files],
        }

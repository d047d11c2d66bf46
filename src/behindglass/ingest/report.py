"""What an ingest did, and the bad input it met: (file, line, reason), never the value.

Reasons are fixed phrases ("BIRTHDATE is not a date", "duplicate Id") so a report can be
shared with whoever fixes the extract without carrying PHI: the offending *value* is never
quoted, only where it is. Unmapped codes are listed with the code itself, because codes are
not identifiers and the code is what a vocabulary mapper needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from behindglass.core.errors import LoadError


@dataclass(frozen=True)
class Problem:
    """One bad input row: where it is and why it was refused (no values)."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


class IngestError(LoadError):
    """Too much bad input: nothing was written. ``problems`` lists what was found."""

    def __init__(self, reason: str, problems: list[Problem]) -> None:
        super().__init__(reason)
        self.problems = problems


@dataclass
class IngestReport:
    """Rows written per OMOP table, refused rows, unmapped codes, ignored input."""

    source: str
    database: str | None = None
    date_mode: str = "year"
    secret_fingerprint: str = ""
    rows: dict[str, int] = field(default_factory=dict)  # rows staged per OMOP table
    added: dict[str, int] = field(default_factory=dict)  # rows new to the store
    problems: list[Problem] = field(default_factory=list)
    unmapped: dict[tuple[str, str], int] = field(default_factory=dict)  # (file, code) → rows
    skipped: dict[str, int] = field(default_factory=dict)  # rows of refused patients, per file
    dropped_columns: dict[str, list[str]] = field(default_factory=dict)
    ignored_files: list[str] = field(default_factory=list)
    #: free text not loaded (``notes_mode`` "hold", or content without text to scrub):
    #: file or element → rows (None: the file could not even be counted)
    held_back: dict[str, int | None] = field(default_factory=dict)
    notes_mode: str = "deidentify"  # "deidentify": notes scrubbed into NOTE; "hold"
    notes_deidentified: int = 0  # notes de-identified and staged
    note_phi: dict[str, int] = field(default_factory=dict)  # PHI label → spans replaced
    persons: int = 0
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return len(self.problems)

    @property
    def persons_per_minute(self) -> float:
        return 60 * self.persons / self.seconds if self.seconds else 0.0

    def lines(self, limit: int = 50) -> list[str]:
        """Human-readable problem lines (first ``limit``)."""
        shown = [str(p) for p in self.problems[:limit]]
        if len(self.problems) > limit:
            shown.append(f"… and {len(self.problems) - limit} more")
        return shown


class ErrorBudget:
    """Collects problems; says whether the load may still commit.

    ``max_errors`` bad rows are tolerated (each is skipped and reported); one more and the
    whole ingest is refused, before anything is written.
    """

    def __init__(self, max_errors: int) -> None:
        if max_errors < 0:
            raise ValueError("max_errors must be >= 0")
        self.max_errors = max_errors
        self.problems: list[Problem] = []

    def add(self, file: str, lines: list[int | None], reason: str) -> None:
        self.problems.extend(Problem(file, line, reason) for line in lines)

    def check(self) -> None:
        """Raise :class:`IngestError` if the budget is exceeded."""
        if len(self.problems) > self.max_errors:
            self.problems.sort(key=lambda p: (p.file, p.line or 0))
            head = "; ".join(str(p) for p in self.problems[:5])
            raise IngestError(
                f"{len(self.problems)} bad input rows (allowed: {self.max_errors}); nothing "
                f"was written. First: {head}",
                list(self.problems),
            )

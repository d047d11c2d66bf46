"""The one error tree of behindglass.

Every error a user can meet derives from :class:`BehindGlassError` and carries a message
that names what was wrong (file, line, column, field, reason) so it can be fixed without
reading a traceback.
"""

from __future__ import annotations


class BehindGlassError(Exception):
    """Base of every error raised on purpose by behindglass."""


class SpecError(BehindGlassError, ValueError):
    """A cohort, analysis or study specification is invalid."""


class LoadError(BehindGlassError):
    """Source data could not be loaded; nothing was written."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.column = column
        where = []
        if file:
            where.append(file)
        if line is not None:
            where.append(f"line {line}")
        if column:
            where.append(f"column {column}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class DeidError(BehindGlassError, ValueError):
    """A de-identification rule could not be applied; nothing was written.

    Messages never quote the offending source values: they are PHI.
    """


class EngineError(BehindGlassError):
    """A query could not be compiled or run on a site store."""


class DisclosureError(BehindGlassError):
    """A result was refused by the site's disclosure control."""


class AuditError(BehindGlassError):
    """The audit log is unreadable or its hash chain does not verify."""


class NetworkError(BehindGlassError):
    """The hub could not be reached or answered with an error."""


class AuthError(NetworkError):
    """A token is missing, unknown, or not allowed to do this."""


class NotFoundError(NetworkError):
    """The hub has no such study, task or site."""


class PolicyError(BehindGlassError, ValueError):
    """A site's policy file is unreadable or invalid; the message names the file and field."""


class GovernanceError(BehindGlassError):
    """An approval, review or lockout change that the workflow does not allow."""


class SignatureError(BehindGlassError):
    """A message or audit entry is unsigned, signed by an unknown key, altered or replayed."""

"""Errors a user can act on: each carries what went wrong and how to fix it."""
from __future__ import annotations


class PortraitError(Exception):
    """A failure with an actionable message; the CLI prints it as one `Error:` line."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(PortraitError):
    """The run configuration is invalid."""


class MappingError(PortraitError):
    """An export's headers cannot be mapped onto a canonical table."""


class IngestError(PortraitError):
    """An export cannot be read at all (as opposed to rows that are rejected)."""


class StoreError(PortraitError):
    """The portrait store is missing, locked or inconsistent."""

"""Errors raised while reading a source, each saying which source failed and how to fix it."""
from __future__ import annotations


from pipeline.errors import PortraitError


class SourceError(PortraitError):
    """A source could not be read: what failed, on which source, and how to fix it."""

    def __init__(self, problem: str, *, source: str, hint: str = "") -> None:
        # `source` is shown to users and may be logged, so callers pass it already redacted.
        self.problem = problem
        self.source = source
        self.hint = hint
        super().__init__(problem, hint or None)

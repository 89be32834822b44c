"""Exceptions and diagnostics.

Every user-facing failure is a :class:`LogtraceError` carrying a one-line message and an
optional hint; only ``render.py`` maps classes to exit codes. Per-line problems are never
exceptions (they become :class:`~logtrace.events.Unparsed`); per-file problems that still
let processing continue (a truncated ``.gz``) are :class:`Diagnostic` warnings.
"""

from __future__ import annotations

from dataclasses import dataclass


class LogtraceError(Exception):
    """Base class. ``str(e)`` is the one-line message."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where


class InputError(LogtraceError):
    """A file cannot be read, does not exist, is binary, …"""


class UnknownFormatError(InputError):
    """No parser recognizes the file."""


class AmbiguousFormatError(InputError):
    """Two parsers claim the file equally."""


class UnknownParserError(LogtraceError):
    """``--mta`` names no parser."""


class PluginLoadError(LogtraceError):
    """A third-party parser failed to import."""


class FollowError(LogtraceError):
    """A ``follow`` query is invalid (not exactly one of ID/Message-ID/sender/recipient, an
    empty value, or something that cannot be a queue ID). An ID that is not found is not an
    error: it gives no stories."""


class QuerySyntaxError(LogtraceError):
    """A ``--where`` expression is invalid. Keeps the column for the caret."""

    def __init__(self, message: str, *, expr: str, col: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.expr = expr
        self.col = col


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A warning about one input that did not stop processing."""

    level: str  # "warning" | "error"
    message: str
    path: str | None = None
    line_no: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line_no}: " if self.path and self.line_no else (f"{self.path}: " if self.path else "")
        return f"{self.level}: {where}{self.message}"

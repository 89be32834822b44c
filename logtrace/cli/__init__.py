"""The ``logtrace`` command line: typer app (:mod:`.app`), rendering (:mod:`.render`, :mod:`.report`)."""

from logtrace.cli.app import app, main

__all__ = ["app", "main"]

"""The ``logtrace`` command line: typer app and shared options (:mod:`.app`), commands (:mod:`.commands`),
machine formats (:mod:`.writers`), rendering (:mod:`.render`, :mod:`.render_summary`)."""

from logtrace.cli.app import app, main

__all__ = ["app", "main"]

"""The ``logtrace`` command line: typer app and shared options (:mod:`.app`), commands (:mod:`.commands`),
machine formats (:mod:`.writers`), rendering (:mod:`.render`, :mod:`.render_summary`); :mod:`.early`
starts ``follow``'s search before any of them is imported."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["app", "main"]


def main() -> None:
    """The console entry point: start follow's search, then run the typer app."""
    import os

    # polars' allocator (jemalloc) reads this when polars is first imported: one arena for every
    # thread lets the parsing thread reuse what the folding thread freed (measured on 8M lines:
    # peak RSS 763 -> 710 MB, same CPU time); pages it frees are given back to the system when
    # they decay instead of lingering as "lazily freed" pages, which count in the RSS until the
    # kernel takes them (8M lines: summary 592-603 -> 571-584 MiB, bounces 759 -> 740 MiB, same
    # time; decaying sooner than polars' 0.5 s costs system time). A value the user set wins.
    os.environ.setdefault("_RJEM_MALLOC_CONF", "narenas:1,muzzy_decay_ms:0")
    from logtrace.cli import early

    early.start(sys.argv[1:])
    try:
        from logtrace.cli.application import main as run

        run()
    finally:
        from logtrace.input import grep

        grep.cancel_all()  # a search nobody took (a usage error before follow ran)


def __getattr__(name: str) -> Any:
    if name == "app":
        from logtrace.cli.application import app

        return app
    raise AttributeError(name)

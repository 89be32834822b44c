"""logtrace: mail log analyzer and queue-ID tracer (Postfix, Exim, Exchange).

Public API (imports are lazy, so ``import logtrace`` pulls in neither polars, typer nor rich):

* :func:`parse` – logs → events DataFrame + line accounting
* :func:`follow` – one message's lifecycles, hop chain and per-recipient verdicts
* :class:`Event`, :class:`EventKind`, :class:`Unparsed` – the event model
"""

from __future__ import annotations

from typing import Any

from logtrace.events import Event, EventKind, SourceRef, Unparsed

__all__ = ["Event", "EventKind", "SourceRef", "Unparsed", "parse", "follow", "__version__"]
__version__ = "0.4.0"


def __getattr__(name: str) -> Any:
    if name == "parse":
        from logtrace.parsing.scan import parse

        return parse
    if name == "follow":
        from logtrace.trace.follow import follow

        return follow
    raise AttributeError(name)

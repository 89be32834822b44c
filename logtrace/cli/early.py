"""The part of the command line that runs before the heavy imports.

``logtrace follow ID FILE…`` spends most of a second importing typer, rich and the parsers
while the answer is one grep away. :func:`start` reads just enough of ``argv`` to start that
grep (:mod:`logtrace.input.grep`) on the second core, then the typer app — still the one
definition of every option — parses the arguments as always. Anything this reader does not
understand starts nothing: the early start is only ever a head start, never a second parser.

Standard library only.
"""

from __future__ import annotations

import os

#: follow's options that take a value (``tests/test_follow_search.py`` checks this against the typer command)
VALUE_OPTIONS = frozenset({"--message-id", "--from", "--to", "--mta", "--year", "--tz", "--where", "-w", "--format", "-f",
                           "--output", "-o", "--since", "-S", "--until", "-U"})
#: follow's flags
FLAGS = frozenset({"--json", "--files", "--utc", "--redact", "--debug"})
_QUERY_OPTIONS = {"--message-id": "mid", "--from": "from", "--to": "to"}


def follow_plan(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """``(kind, needle, files)`` of a ``follow`` command line, or None when it is not one (or
    when anything in it is unexpected: then nothing starts early)."""
    if len(argv) < 3 or argv[0] != "follow":
        return None
    positional: list[str] = []
    query: tuple[str, str] | None = None
    mta = "auto"
    args = iter(argv[1:])
    for a in args:
        if a == "--":
            positional += list(args)
            break
        if a.startswith("-") and a != "-":
            name, eq, val = a.partition("=")
            if name in FLAGS and not eq:
                continue
            if name not in VALUE_OPTIONS:
                return None  # --help, a typo, a new option: let typer speak
            if not eq:
                val = next(args, None)  # type: ignore[assignment]
                if val is None:
                    return None
            if name in _QUERY_OPTIONS:
                if query is not None:
                    return None
                query = (_QUERY_OPTIONS[name], val)
            elif name == "--mta":
                mta = val
            continue
        positional.append(a)
    if mta not in ("auto", "postfix", "exim"):
        return None
    if query is None:
        if not positional:
            return None
        raw, files = positional[0], positional[1:]
        kind = "org" if _is_guid(raw.strip()) else "id"
    else:
        kind, raw = query
        files = positional
    from logtrace.input.grep import needle

    text = needle("id" if kind == "org" else kind, raw)
    return (kind, text, files) if text and files else None


def _is_guid(s: str) -> bool:
    parts = s.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(c in "0123456789abcdefABCDEF" for p in parts for c in p)


def start(argv: list[str]) -> None:
    """Start the full-file search of ``logtrace follow`` when ``argv`` is one."""
    if os.environ.get("LOGTRACE_NO_GREP"):
        return
    try:
        plan = follow_plan(argv)
    except Exception:  # noqa: BLE001 - a head start must never break the command
        return
    if plan is None:
        return
    kind, text, files = plan
    from logtrace.input import grep

    for path in files:
        if path != "-" and os.path.isfile(path):
            grep.start(path, text.encode(), kind in ("from", "to", "org"))

"""Everything a person sees: errors, warnings, tables. With ``cli.py`` the only rich user.

Log text is attacker-controlled, so it is always rendered as :class:`rich.text.Text` after
:func:`safe`, which shows control characters (ESC, CR, backspace, bidi overrides, …)
escaped instead of sending them to the terminal; it is never interpolated into markup.
CSV cells that a spreadsheet would run as a formula are neutralized by :func:`csv_cell`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import Diagnostic, InputError, LogtraceError, QuerySyntaxError

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_NOT_DELIVERED = 4
EXIT_INTERRUPTED = 130

_CTRL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(s: object) -> str:
    """Make log text inert for a terminal: control and bidi characters become ``\\xNN``/``\\uNNNN``."""
    text = "" if s is None else str(s)
    return _CTRL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def csv_cell(v: object) -> object:
    """OWASP CSV injection: prefix cells starting with = + - @ TAB CR with a quote."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


_err_console: Any = None


def err_console() -> Any:
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def out_console(width: int | None = None) -> Any:
    from rich.console import Console

    return Console(highlight=False, width=width)


def print_error(e: LogtraceError) -> None:
    """``error: <what>`` / ``  at: …`` / ``  hint: …`` on stderr; no markup interpretation."""
    lines = [f"error: {safe(e.message)}"]
    if isinstance(e, QuerySyntaxError):
        lines.append(f"  {safe(e.expr)}")
        lines.append("  " + " " * max(e.col - 1, 0) + "^")
    if e.where:
        lines.append(f"  at: {safe(e.where)}")
    if e.hint:
        lines.append(f"  hint: {safe(e.hint)}")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def print_diagnostics(diags: list[Diagnostic]) -> None:
    for d in diags:
        sys.stderr.write(safe(str(d)) + "\n")
        if d.hint:
            sys.stderr.write(f"  hint: {safe(d.hint)}\n")
    sys.stderr.flush()


def exit_code_for(e: LogtraceError) -> int:
    if isinstance(e, (InputError, QuerySyntaxError)):
        return EXIT_USAGE
    return e.exit_code


@contextmanager
def cli_errors(debug: bool = False) -> Iterator[None]:
    """Map library exceptions to one-line errors and exit codes; never a traceback."""
    import typer

    try:
        yield
    except LogtraceError as e:
        print_error(e)
        raise typer.Exit(exit_code_for(e)) from None
    except BrokenPipeError:
        _quiet_pipe()
        raise typer.Exit(EXIT_OK) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001
        if debug:
            raise
        sys.stderr.write(f"error: internal error: {safe(type(e).__name__)}: {safe(str(e))[:300]}\n"
                         "  hint: re-run with --debug and report it\n")
        raise typer.Exit(EXIT_INTERNAL) from None


def _quiet_pipe() -> None:
    """stdout was closed (``| head``): silence the flush at interpreter exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def print_accounting(acc: Any, *, title: str = "lines") -> None:
    """One-line summary on stderr, and a per-program breakdown of unrecognized lines."""
    tot_p = int(acc["parsed"].sum()) if acc.height else 0
    tot_o = int(acc["other"].sum()) if acc.height else 0
    tot_u = int(acc["unrecognized"].sum()) if acc.height else 0
    msg = f"{title}: {tot_p + tot_o + tot_u:,} read, {tot_p:,} parsed, {tot_o:,} other programs/blank, {tot_u:,} unrecognized"
    if tot_u:
        worst = acc.filter(acc["unrecognized"] > 0).head(5)
        parts = ", ".join(f"{safe(r['program'])} {r['unrecognized']:,}" for r in worst.iter_rows(named=True))
        msg += f" ({parts}); see them with: logtrace parse --only-unparsed"
    sys.stderr.write(msg + "\n")

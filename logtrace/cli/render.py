"""Everything a person sees: errors, warnings, the parser list, follow's stories, watch's alerts.
The summary's tables are in :mod:`.render_summary`, ``bounces``' blocks in :mod:`.render_bounces`
(lines broken between words at the console's width by :mod:`.layout`); machine formats in :mod:`.writers`.

Log text is attacker-controlled, so it is always rendered as :class:`rich.text.Text` (or, by
``bounces`` off a terminal, as plain text) after :func:`safe`, which shows control characters
(ESC, CR, backspace, bidi overrides, …) escaped instead of sending them to the terminal; it is
never interpolated into markup.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from logtrace.errors import Diagnostic, InputError, LogtraceError, QuerySyntaxError

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_NOT_DELIVERED = 4
EXIT_INTERRUPTED = 130

_CTRL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(s: object) -> str:
    """Make log text inert for a terminal: control and bidi characters become ``\\xNN``/``\\uNNNN``
    (and, with ``--redact``, personal data becomes tokens: :mod:`logtrace.redact`)."""
    text = "" if s is None else str(s)
    from logtrace.redact import _active

    if _active is not None:  # --redact: addresses, names and IPs become tokens everywhere a person reads
        text = _active.text(text)
    return _CTRL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


#: what a terminal that cannot show a symbol gets instead (``PYTHONIOENCODING=ascii``, a C locale)
ASCII_FALLBACK = {"Δ": "d", "→": "->", "—": "-", "–": "-", "…": "...", "█": "#", "▏": "", "▎": "", "▍": "", "▌": "",
                  "▋": "", "▊": "", "▉": "", "•": "*", "✓": "ok", "✗": "x"}


def _fallback(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeEncodeError)
    out = []
    for ch in err.object[err.start : err.end]:
        if ch in ASCII_FALLBACK:
            out.append(ASCII_FALLBACK[ch])
        elif ord(ch) > 0xFFFF:  # a JSON-valid escape: a surrogate pair
            v = ord(ch) - 0x10000
            out.append(f"\\u{0xD800 + (v >> 10):04x}\\u{0xDC00 + (v & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out), err.end


def can_encode(stream: Any, text: str = "Δ→—…█") -> bool:
    """``stream`` can print ``text`` as it is."""
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def fit_encoding() -> None:
    """stdout/stderr that cannot encode logtrace's symbols (``PYTHONIOENCODING=ascii``) get ASCII
    stand-ins for them and ``\\uXXXX`` for any other character: never an encoding error."""
    import codecs

    codecs.register_error("logtrace-ascii", _fallback)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and not can_encode(stream) and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="logtrace-ascii")


_err_console: Any = None


def err_console() -> Any:
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def out_console(width: int | None = None) -> Any:
    """stdout console, sized to the real terminal. When stdout is not a terminal, plain (no
    colour, no cursor codes) and as wide as ``$COLUMNS``, else as the terminal the user sits at
    (``… | less``: stderr still is one), else 80 (a file, cron mail)."""
    from rich.console import Console

    if width is None and not sys.stdout.isatty():
        width = piped_width()

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich exits 1 here; `… | head` is a success for us
            quiet_pipe()
            raise BrokenPipeError

    return _Console(highlight=False, width=width)


def piped_width() -> int:
    """Columns for output that does not go to a terminal: ``$COLUMNS``, else the width of the
    terminal on stderr or stdin (``logtrace follow … | less``), else 80."""
    import os

    try:
        cols = int(os.environ.get("COLUMNS", "0") or 0)
    except ValueError:
        cols = 0
    if cols > 0:
        return cols
    for stream in (sys.stderr, sys.stdin):
        try:
            if stream is not None and stream.isatty():
                return os.get_terminal_size(stream.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            continue
    return 80


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


def print_usage_error(e: Any) -> None:
    """A typer/click usage error as ``error: …`` and ``  hint: …`` lines (no ``Usage:`` box)."""
    ctx = getattr(e, "ctx", None)
    if ctx is None:  # raised inside a command (a check across options): name that command
        from typer._click.globals import get_current_context

        ctx = get_current_context(silent=True)
    where = ctx.command_path if ctx is not None else "logtrace"
    hint = getattr(e, "hint", None) or f"'{where} --help' lists the options"
    name = type(e).__name__
    if name == "NoSuchOption":
        msg = f"no such option: {e.option_name}"
        if e.possibilities:
            hint = "did you mean " + " or ".join(sorted(e.possibilities)) + "?"
    elif name == "MissingParameter":
        param = getattr(e, "param", None)
        what = "argument" if getattr(param, "param_type_name", "") == "argument" else "option"
        label = (param.name or "").upper() if what == "argument" and param is not None else _long(param)
        msg = f"missing {what} {label}".rstrip()
    elif name == "BadParameter" or getattr(e, "param", None) is not None or getattr(e, "param_hint", None):
        label = getattr(e, "param_hint", None) or _long(getattr(e, "param", None))
        if isinstance(label, (list, tuple)):
            label = label[0]
        msg = f"{label}: {e.message}" if label else e.message
    else:
        msg = e.format_message()
        msg = msg[:1].lower() + msg[1:]
    sys.stderr.write(f"error: {safe(msg)}\n  hint: {safe(hint)}\n")
    sys.stderr.flush()


def _long(param: Any) -> str:
    """An option's long name (``--format``, not ``-f``), or an argument's metavar-like name."""
    if param is None:
        return ""
    opts = list(getattr(param, "opts", []) or [])
    if getattr(param, "param_type_name", "") == "argument":
        return (param.name or "").upper()
    return max(opts, key=len) if opts else (param.name or "")


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
        quiet_pipe()
        raise typer.Exit(EXIT_OK) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except typer.Exit:
        raise
    except typer.BadParameter as e:
        print_usage_error(e)
        raise typer.Exit(EXIT_USAGE) from None
    except Exception as e:  # noqa: BLE001
        if debug:
            raise
        sys.stderr.write(f"error: internal error: {safe(type(e).__name__)}: {safe(str(e))[:300]}\n"
                         "  hint: re-run with --debug and report it\n")
        raise typer.Exit(EXIT_INTERNAL) from None


def quiet_pipe() -> None:
    """stdout was closed (``| head``): silence the flush at interpreter exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on stderr while a long read runs — only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    with err_console().status(safe(message), spinner="dots"):
        yield


def print_accounting(acc: Any, *, title: str = "lines") -> None:
    """One-line summary on stderr, and a per-program breakdown of unrecognized lines."""
    tot_p = int(acc["parsed"].sum()) if acc.height else 0
    tot_o = int(acc["other"].sum()) if acc.height else 0
    tot_u = int(acc["unrecognized"].sum()) if acc.height else 0
    parsed = f"{tot_p:,} parsed"
    if tot_p:
        from logtrace.parsing.scan import parsed_by_dialect

        by = parsed_by_dialect(acc)
        if len(by) > 1:  # a central file: say which dialect read what
            parsed += " (" + ", ".join(f"{safe(k)} {v:,}" for k, v in by.items()) + ")"
    msg = f"{title}: {tot_p + tot_o + tot_u:,} read, {parsed}, {tot_o:,} other programs/blank, {tot_u:,} unrecognized"
    if tot_u:
        worst = acc.filter(acc["unrecognized"] > 0).head(5)
        parts = ", ".join(f"{safe(r['program'])} {r['unrecognized']:,}" for r in worst.iter_rows(named=True))
        msg += f" ({parts}); see them with: logtrace parse --only-unparsed"
    sys.stderr.write(msg + "\n")


def story_span(stories: list[Any]) -> tuple[Any, Any]:
    """The first and last time of any event in ``stories`` (None, None when there is none)."""
    times = [e.ts for s in stories for e in s.events if e.ts is not None]
    return (min(times), max(times)) if times else (None, None)


def warn_outside(window: Any, first: Any, last: Any, zone: Any) -> None:
    """A warning naming the logs' own time range when ``--since``/``--until`` does not meet it."""
    if window.overlaps(first, last):
        return

    def show(ts: Any) -> str:
        t = ts.astimezone(zone) if zone is not None else ts.astimezone()
        return t.strftime("%Y-%m-%d %H:%M:%S %Z").strip()

    asked = " ".join(x for x in (f"--since {show(window.since)}" if window.since else "",
                                 f"--until {show(window.until)}" if window.until else "") if x)
    sys.stderr.write(f"warning: nothing in the window {asked}: the logs run from {show(first)} to {show(last)}\n")
    sys.stderr.flush()


def print_suggestions(ids: list[str]) -> None:
    """``  hint: did you mean …?`` after a queue ID that was not found."""
    if ids:
        sys.stderr.write("  hint: did you mean " + " or ".join(safe(i) for i in ids) + "?\n")
        sys.stderr.flush()


# ------------------------------------------------------------------ parsers


def print_parsers(rows: list[dict[str, Any]]) -> None:
    """``name (aliases: …)  [origin]`` per parser, its load error and its ``--check`` issues."""
    for r in rows:
        status = f"  ERROR: {safe(r['error'])}" if r["error"] else ""
        aliases = f" (aliases: {', '.join(r['aliases'])})" if r["aliases"] else ""
        sys.stdout.write(f"{r['name']}{aliases}  [{r['origin']}]{status}\n")
        for issue in r.get("check", []):
            sys.stdout.write(f"  check: {safe(issue)}\n")


# ------------------------------------------------------------------ follow

VERDICT_STYLE = {
    "delivered": "green", "relayed": "green", "bounced": "bold red", "expired": "bold red", "rejected": "red",
    "deferred": "yellow", "deleted": "magenta", "held": "magenta", "discarded": "magenta", "unknown": "yellow",
    "quarantined": "magenta", "discarded-by-sieve": "magenta",
}


def _details(e: Any) -> str:
    k = str(e.kind)
    parts: list[str] = []
    if e.recipient:
        local_only = "@" not in e.recipient and e.orig_recipient and "@" in e.orig_recipient  # Exim's ``=> bob <bob@example.org>``
        parts.append(f"to=<{e.orig_recipient if local_only else e.recipient}>")
    if e.sender is not None and k in ("queued", "accept", "expire", "reject"):
        parts.append(f"from=<{e.sender}>")
    if e.client_host or e.client_ip:
        parts.append(f"client={e.client_host or ''}[{e.client_ip or ''}]")
    if e.relay_host:
        parts.append(f"relay={e.relay_host}" + (f"[{e.relay_ip}]" if e.relay_ip and e.relay_ip != e.relay_host else "") +
                     (f":{e.relay_port}" if e.relay_port else ""))
    if e.size is not None:
        parts.append(f"size={e.size}")
    if e.nrcpt is not None:
        parts.append(f"nrcpt={e.nrcpt}")
    if e.message_id:
        parts.append(f"message-id=<{e.message_id}>")
    if e.dsn:
        parts.append(f"dsn={e.dsn}")
    if e.status and k not in ("accept",):
        parts.append(f"status={e.status}")
    if k == "notify" and e.next_queue_id:
        parts.append(f"notification → {e.next_queue_id}")
    if e.reply_text:
        parts.append(f"({e.reply_text})")
    elif e.detail and k not in ("accept", "queued", "header"):
        parts.append(e.detail)
    return " ".join(parts)


def _delta(a: Any, b: Any) -> str:
    if a is None or b is None:
        return ""
    s = (b - a).total_seconds()
    if s < 0:
        return f"-{abs(s):.1f}s"
    if s < 60:
        return f"+{s:.1f}s" if s else ""
    if s < 3600:
        return f"+{s / 60:.0f}m"
    if s < 172800:
        return f"+{s / 3600:.1f}h"
    return f"+{s / 86400:.1f}d"


def stamp(ts: Any, clock: Any, host: str | None = None, fmt: str = "%b %d %H:%M:%S") -> str:
    """``ts`` for people: in ``clock``'s zone for ``host`` (the log's zone), or ``?``."""
    return clock.local(ts, host).strftime(fmt) if ts else "?"


def time_heading(clock: Any, rows: list[tuple[Any, str | None]]) -> tuple[str, bool]:
    """The time column's heading and whether each cell needs its own zone label: one zone for
    every row gives ``time (Europe/Berlin)``; hosts in different zones (``--tz HOST=ZONE``) label each cell."""
    zones = {str(clock.zone_for(h)) for _, h in rows} if clock.hosts else set()
    if len(zones) > 1:
        return "time", True
    only = next(iter(zones), None)
    name = only if only is not None and only != str(clock.zone) else clock.name
    return f"time ({name})", False


def clock_for_people() -> Any:
    """The clock whose zone people read times in (:func:`logtrace.trace.narrative.clock`)."""
    from logtrace.trace.narrative import clock

    return clock()


def print_story(story: Any, console: Any, show_files: bool = False, clock: Any = None) -> None:
    """A rich timeline and the per-recipient verdicts, times in ``clock``'s zone. All log text goes through safe()."""
    from rich.table import Table
    from rich.text import Text

    origin = story.origin
    head = Text()
    head.append("Message ", style="bold")
    head.append(safe(origin.queue_id), style="bold cyan")
    head.append(f" on {safe(origin.host)}")
    if origin.sender is not None:
        head.append(f"  from <{safe(origin.sender)}>")
    if origin.message_id:
        head.append(f"  Message-ID <{safe(origin.message_id)}>")
    console.print(head)
    if len(story.chain) > 1:
        chain = Text("  chain: ")
        for i, (lc, how, _frm) in enumerate(story.chain):
            if i:
                chain.append(f" —{how}→ ", style="dim")
            chain.append(f"{safe(lc.host)}:{safe(lc.queue_id)}")
        console.print(chain)
    if any(how == "message-id" for _, how, _ in story.chain):
        console.print(Text("  note: a hop is linked only by the same Message-ID header (no reply named its queue ID)", style="yellow"))
    for n in story.notes:
        console.print(Text(f"  note: {safe(n)}", style="yellow"))
    clock = clock or clock_for_people()
    heading, each = time_heading(clock, [(e.ts, e.host) for e in story.events])
    if console.width < NARROW:
        _stacked_timeline(story, console, show_files, clock, heading, each)
    else:
        _table_timeline(story, console, show_files, clock, heading, each)
    for r in story.recipients:
        line = Text("  ")
        line.append(f"{safe(r.recipient)}: ", style="bold")
        line.append(r.verdict.upper(), style=VERDICT_STYLE.get(r.verdict, ""))
        line.append(" — " + safe(r.summary))
        console.print(line)
        if r.evidence:
            console.print(Text("    evidence: " + ", ".join(safe(x) for x in r.evidence), style="dim"))
    console.print()


#: below this width the timeline is stacked: one header line per event, its details indented under it
NARROW = 110


def _stacked_timeline(story: Any, console: Any, show_files: bool, clock: Any, heading: str, each: bool) -> None:
    """The timeline for an 80-column terminal or mail: no column is split mid-word."""
    import textwrap

    from rich.text import Text

    console.print(Text(f"{heading} · host · program · queue id · event", style="bold"))
    prev = None
    for e in story.events:
        when = stamp(e.ts, clock, e.host) + (f" {clock.label(e.ts, e.host)}" if each and e.ts else "")
        delta = _delta(prev, e.ts)
        head = Text(f"{when}{' ' + delta if delta else ''}  {safe(e.host)}  {safe(e.program)}  {safe(e.queue_id)}  ")
        head.append(str(e.kind), style=_kind_style(str(e.kind)))
        console.print(head, overflow="fold")
        details = safe(_details(e)) + (f"  ({safe(e.where)})" if show_files else "")
        for part in textwrap.wrap(details, max(20, console.width - 4), break_on_hyphens=False):
            console.print(Text("    " + part), overflow="fold")
        prev = e.ts or prev


def _table_timeline(story: Any, console: Any, show_files: bool, clock: Any, heading: str, each: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=False)
    for col in (heading, "Δ", "host", "program", "queue id", "event", "details"):
        t.add_column(col, overflow="fold")
    if show_files:
        t.add_column("at")
    prev = None
    for e in story.events:
        when = stamp(e.ts, clock, e.host) + (f" {clock.label(e.ts, e.host)}" if each and e.ts else "")
        row = [Text(when), Text(_delta(prev, e.ts)), Text(safe(e.host)),
               Text(safe(e.program)), Text(safe(e.queue_id)), Text(str(e.kind), style=_kind_style(str(e.kind))),
               Text(safe(_details(e)))]
        if show_files:
            row.append(Text(safe(e.where), style="dim"))
        t.add_row(*row)
        prev = e.ts or prev
    console.print(t)


def preload_story() -> None:
    """Import what :func:`print_story` needs (called while follow's grep is still running)."""
    import rich.console  # noqa: F401
    import rich.table  # noqa: F401
    import rich.text  # noqa: F401


def print_follow(res: Any, show_files: bool = False, clock: Any = None) -> None:
    """Every story of a follow result; a list of them first when several match. Times in ``clock``'s zone."""
    clock = clock or clock_for_people()
    con = out_console()
    if not res.stories:
        sys.stderr.write(f"not found: no message matches {safe(res.query)} in the logs given\n")
    if len(res.stories) > 1:
        con.print(f"{len(res.stories)} messages match:")
        for s in res.stories:
            verdicts = ", ".join(sorted({r.verdict for r in s.recipients}))
            start = s.origin.start
            at = f"{stamp(start, clock, s.origin.host, '%Y-%m-%d %H:%M:%S')} {clock.label(start, s.origin.host)}" if start else "?"
            con.print(Text_(f"  {at}  {s.origin.host}  {s.origin.queue_id}  <{s.origin.sender or ''}>  {verdicts}"))
        con.print()
    for s in res.stories:
        print_story(s, con, show_files, clock)


def _kind_style(k: str) -> str:
    return {"deliver": "green", "bounce": "red", "expire": "red", "defer": "yellow", "reject": "red",
            "notify": "magenta", "delete": "magenta", "hold": "magenta", "remove": "dim"}.get(k, "")


def Text_(s: str) -> Any:  # noqa: N802 - a Text built from untrusted text, safely
    from rich.text import Text

    return Text(safe(s))


def print_alert(a: dict[str, Any], clock: Any = None) -> None:
    """One ``watch`` alert as one line for a person (log text through :func:`safe`)."""
    from datetime import datetime

    if a.get("verdict") == "held-back":
        sys.stdout.write(f"{safe(a.get('summary'))}\n")
        return
    ts = a.get("ts")
    when = stamp(datetime.fromisoformat(ts), clock, a.get("host"), "%Y-%m-%d %H:%M:%S") if ts else "-"
    where = f"{a.get('host') or '-'}:{a.get('queue_id') or '-'}"
    line = (f"{when} {a['verdict']} {where} <{a.get('sender') or ''}> -> {a.get('recipient') or '-'}"
            f" {a.get('dsn') or '-'} {a.get('class') or ''}: {a.get('summary') or a.get('reason') or ''}")
    sys.stdout.write(safe(line) + "\n")

"""The ``logtrace`` typer app, the options its commands share, and :func:`main`. With
:mod:`.commands` the only typer user.

Commands (:mod:`.commands`) parse options, call one library function inside
:func:`render.cli_errors`, and hand the result to a renderer or writer. Data goes to stdout;
everything human (progress, warnings, accounting, errors) goes to stderr. Exit codes are
documented in the README and pinned by ``tests/test_cli.py``.
"""

from __future__ import annotations

import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from logtrace.cli import render


def _lean_parameters() -> None:
    """Coerce this app's simple parameter types without pydantic.

    typer 0.29 builds a pydantic ``TypeAdapter`` for every parameter it converts, and
    importing pydantic costs 60–110 ms, more than ``follow``'s whole search on a small file.
    The types logtrace declares (str, int with min/max, float, bool, Path, str Enums, lists
    of these, Optional of these) are converted here, with plain messages; anything else
    goes to typer's own conversion. ``tests/test_cli.py`` pins both the messages and that
    pydantic is not imported. (typer is pinned to 0.29.x in pyproject.toml for this hook.)
    """
    from typer import core

    original = core._TyperParameter.get_runtime_param

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            self._runtime_param = _lean_runtime(self.type_descriptor) or original(self)
        return self._runtime_param

    core._TyperParameter.get_runtime_param = get_runtime_param


def _lean_runtime(desc: Any) -> Any:
    import types
    import typing
    from dataclasses import dataclass
    from pathlib import Path

    from typer._coercion import RuntimeParam

    def leaf(ann: Any) -> Any:
        if typing.get_origin(ann) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            return leaf(args[0]) if len(args) == 1 else None
        if ann in (str, int, float, bool) or ann is Path or (isinstance(ann, type) and issubclass(ann, Enum)):
            return ann
        return None

    ann = desc.annotation
    many = typing.get_origin(ann) is list
    kind = leaf(typing.get_args(ann)[0] if many else ann)
    if kind is None or desc.file_annotation is not None or desc.is_tuple:
        return None
    info = desc.parameter_info

    def one(value: Any) -> Any:
        if isinstance(value, kind) and kind is not bool:
            out = value
        elif kind is str:
            out = str(value)
        elif kind is Path:
            out = Path(value)
        elif kind is bool:
            out = _boolean(value)
        elif kind in (int, float):
            try:
                out = kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"'{value}' is not {'an integer' if kind is int else 'a number'}") from None
            if info.min is not None and out < info.min:
                raise ValueError(f"{value} is less than {info.min}")
            if info.max is not None and out > info.max:
                raise ValueError(f"{value} is more than {info.max}")
        else:
            out = _member(kind, value, info.case_sensitive)
        return out

    @dataclass(frozen=True)
    class Lean(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                if many:
                    return [one(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
                return one(value)
            except ValueError as e:
                raise typer.BadParameter(str(e), ctx=ctx, param=param) from None

    return Lean(parameter_info=info, annotation=ann)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in ("1", "true", "t", "yes", "y", "on"):
        return True
    if v in ("0", "false", "f", "no", "n", "off"):
        return False
    raise ValueError(f"'{value}' is not a boolean")


def _member(enum: Any, value: Any, case_sensitive: bool) -> Any:
    if isinstance(value, enum):
        return value
    for m in enum:
        if m.value == value or (not case_sensitive and str(m.value).lower() == str(value).lower()):
            return m
    raise ValueError(f"'{value}' is not one of " + ", ".join(f"'{m.value}'" for m in enum))


_lean_parameters()

app = typer.Typer(
    name="logtrace",
    help="Mail log analyzer and queue-ID tracer for Postfix, Exim and Exchange logs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        from logtrace import __version__

        sys.stdout.write(f"logtrace {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", help="Print the version and exit.", is_eager=True,
                                          callback=_version)] = False,
) -> None:
    """Mail log analyzer and queue-ID tracer for Postfix, Exim and Exchange logs.

    follow answers what happened to one message; summary and bounces report on a day of
    logs; parse prints every line as an event. FILES may be paths, globs, directories or -
    (stdin); compressed files and streams are detected by their magic bytes.
    """


class ParseFormat(str, Enum):
    jsonl = "jsonl"
    json = "json"  # = jsonl: a stream of events has no one document
    csv = "csv"
    parquet = "parquet"


class FollowFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


class SummaryFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


class BouncesFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class Engine(str, Enum):
    frame = "frame"
    line = "line"


class GroupBy(str, Enum):
    reason = "reason"
    domain = "domain"
    relay = "relay"
    sender = "sender"


def _format(enum: type[Enum], default: str, note: str = "") -> Any:
    choices = "|".join(m.value for m in enum)
    return Annotated[Optional[enum], typer.Option(  # type: ignore[valid-type]
        "--format", "-f", metavar=f"[{choices}]", show_default=False,
        help=f"Output format: {choices} (default: {default}){note}.")]


# The options every command that reads logs shares, declared once (README "Shared options").
Files = Annotated[list[str], typer.Argument(metavar="FILES", help="Log files, globs, directories, or - for stdin.", show_default=False)]
ParseFormatOpt = _format(ParseFormat, "jsonl", "; json is jsonl")
FollowFormatOpt = _format(FollowFormat, "table", "; jsonl: one message per line")
SummaryFormatOpt = _format(SummaryFormat, "table", "; csv writes one file per section into -o DIR; html is one self-contained page")
BouncesFormatOpt = _format(BouncesFormat, "table", "; jsonl: one message per line")
JsonOpt = Annotated[bool, typer.Option("--json", help="Shortcut for --format json.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Shortcut for --format csv.")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", metavar="PATH", help="Write the output to PATH instead of stdout.")]
SinceOpt = Annotated[Optional[str], typer.Option(
    "--since", "-S", metavar="TIME", help="Only what happened at or after TIME: 10:00, -1h, '2h ago', yesterday, ISO 8601 "
    "(journalctl's syntax; in the display zone).")]
UntilOpt = Annotated[Optional[str], typer.Option(
    "--until", "-U", metavar="TIME", help="Only what happened before TIME (same syntax as --since).")]
TopOpt = Annotated[int, typer.Option("--top", min=0, metavar="N", help="At most N rows per table or group (0: all).")]
MtaOpt = Annotated[str, typer.Option("--mta", help="Log format: auto (sniff each file), postfix, exim, exchange, or a plugin's name.")]
YearOpt = Annotated[Optional[int], typer.Option("--year", help="Year of the first RFC 3164 stamp (default: from the file's mtime).")]
TzOpt = Annotated[Optional[list[str]], typer.Option(
    "--tz", help="IANA zone of stamps without an offset (default: this machine's); HOST=ZONE for one host's lines "
    "in a central log (repeatable).")]
UtcOpt = Annotated[bool, typer.Option("--utc", help="Show times in UTC instead of the log's zone (--tz, else this machine's).")]
WhereOpt = Annotated[Optional[str], typer.Option("--where", "-w", help='Filter, e.g. \'status = bounced and to ~ "@example\\.com$"\'.')]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show internal errors with a traceback.")]


def _redact(value: bool) -> bool:
    from logtrace import redact

    redact.enable(bool(value))
    return value


RedactOpt = Annotated[bool, typer.Option(
    "--redact", callback=_redact, help="Replace addresses, client/relay names and IPs with stable tokens (same input, same "
    "token; $LOGTRACE_REDACT_KEY keeps them across runs), to share the output.")]


def pick_format(fmt: Any, enum: type[Enum], default: str, **shortcuts: bool) -> Any:
    """``--format`` or one of its shortcuts (``--json``, ``--csv``) → a member of ``enum``; two that disagree are a usage error."""
    chosen = {enum(name) for name, on in shortcuts.items() if on}
    if fmt is not None:
        chosen.add(fmt)
    if len(chosen) > 1:
        names = ", ".join(sorted(f"--{n}" for n, on in shortcuts.items() if on) + ([f"--format {fmt.value}"] if fmt else []))
        raise typer.BadParameter(f"choose one output format, not {names}", param_hint="--format")
    return chosen.pop() if chosen else enum(default)


def top_rows(top: int) -> int:
    """``--top`` → a row count for the library (0 means all)."""
    return top or 1 << 31


def _check_zone(tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if tz.upper() not in ("UTC", "Z"):
            ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone '{tz}' (use an IANA name such as Europe/Berlin)", param_hint="--tz") from None


def split_tz(values: list[str] | str | None) -> tuple[str | None, dict[str, str]]:
    """``--tz`` values → (the zone for every host, {host: zone}); unknown zones are usage errors."""
    if isinstance(values, str) or values is None:
        values = [values] if values else []
    default: str | None = None
    hosts: dict[str, str] = {}
    for v in values:
        host, eq, zone = v.partition("=")
        if eq:
            if not host or not zone:
                raise typer.BadParameter(f"'{v}' is not HOST=ZONE", param_hint="--tz")
            _check_zone(zone)
            hosts[host] = zone
        else:
            _check_zone(v)
            default = v
    return default, hosts


def parse_options(year: int | None, tz: list[str] | str | None) -> Any:
    """``--year``/``--tz`` → :class:`~logtrace.parsing.protocol.ParseOptions` (an unknown zone is a usage error)."""
    from logtrace.parsing.protocol import ParseOptions

    default, hosts = split_tz(tz)
    return ParseOptions(year=year, tz=default, host_tz=hosts)


def people_clock(tz: list[str] | str | None, utc: bool = False) -> Any:
    """``--tz``/``--utc`` → the :class:`~logtrace.trace.narrative.Clock` times for people are shown in:
    the log's zone (``--tz``, per host for ``--tz HOST=ZONE``, else this machine's), or UTC."""
    from datetime import timezone

    from logtrace.containers.stamps import local_zone_name, zone
    from logtrace.trace.narrative import Clock

    if utc:
        return Clock(zone=timezone.utc, name="UTC")
    default, hosts = split_tz(tz)
    name = default or local_zone_name()
    name = "UTC" if name.upper() in ("UTC", "Z") else name
    return Clock(zone=zone(name), name=name, hosts={h: zone(z) for h, z in hosts.items()})


def display_zone(tz: list[str] | str | None, utc: bool = False) -> Any:
    """The zone people read times in (``--utc``, else ``--tz``, else this machine's: None)."""
    from datetime import timezone

    from logtrace.containers.stamps import zone

    if utc:
        return timezone.utc
    default, _ = split_tz(tz)
    return zone(default) if default else None


def time_window(since: str | None, until: str | None, tz: list[str] | str | None = None, utc: bool = False) -> Any:
    """``--since``/``--until`` (journalctl's syntax, in the display zone) → a
    :class:`~logtrace.timewindow.TimeWindow`; unreadable values and an empty window are usage errors."""
    from datetime import timezone

    from logtrace.timewindow import FORMS, TimeWindow, parse_when

    zone = display_zone(tz, utc) if since or until else None
    ends = []
    for value, name in ((since, "--since"), (until, "--until")):
        try:
            ends.append(parse_when(value, zone=zone).astimezone(timezone.utc) if value else None)  # frames hold UTC
        except ValueError:
            raise usage_error(f"cannot read time '{value}'", name, f"use {FORMS}") from None
    try:
        return TimeWindow(*ends)
    except ValueError as e:
        raise usage_error(str(e), None, "--since must not be later than --until") from None


def usage_error(message: str, option: str | None = None, hint: str | None = None) -> Any:
    """A usage error (exit 2) printed as ``error: OPTION: message`` and ``  hint: …``."""
    e = typer.BadParameter(message, param_hint=option)
    e.hint = hint  # type: ignore[attr-defined]
    return e


_interrupted: list[bool] = []


def _interrupt(signum: int, frame: Any) -> None:
    """One Ctrl-C is enough: a second SIGINT is ignored while the first one unwinds."""
    _interrupted.append(True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _unraisable(info: Any) -> None:
    """A Ctrl-C that lands in a generator's clean-up is the one ``main`` reports: no traceback."""
    if not isinstance(info.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(info)


def _interrupted_exit() -> None:
    sys.stderr.write("interrupted\n")
    sys.exit(render.EXIT_INTERRUPTED)


#: click's exception classes, reached through typer's public names (logtrace never imports click)
_UsageError = typer.BadParameter.__mro__[1]
_ClickException = _UsageError.__mro__[1]


def main(argv: list[str] | None = None) -> None:
    """Entry point with SIGPIPE/Ctrl-C handling around typer; usage errors in logtrace's
    ``error:``/``hint:`` shape (exit 2), never click's ``Usage:``/``Error:`` box."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
        sys.unraisablehook = _unraisable
    render.fit_encoding()
    try:
        rv = app(args=argv, prog_name="logtrace", standalone_mode=False)
    except KeyboardInterrupt:
        _interrupted_exit()
    except BrokenPipeError:
        render.quiet_pipe()
        sys.exit(render.EXIT_OK)
    except SystemExit:
        if _interrupted:  # the interrupt was swallowed by a finaliser; still report it as one
            _interrupted_exit()
        raise
    except _ClickException as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `logtrace` or `logtrace CMD`: the help, as asked
            ctx = getattr(e, "ctx", None)
            sys.stdout.write((ctx.get_help() if ctx else "") + "\n")
            sys.exit(render.EXIT_OK)
        render.print_usage_error(e)
        sys.exit(render.EXIT_USAGE)
    except Exception as e:  # click's Abort (EOF/Ctrl-C at a prompt) and the like
        if type(e).__name__ == "Abort":
            _interrupted_exit()
        raise
    if _interrupted:
        _interrupted_exit()
    sys.exit(rv if isinstance(rv, int) else render.EXIT_OK)


from logtrace.cli import commands  # noqa: E402, F401  (registers the commands on ``app``)

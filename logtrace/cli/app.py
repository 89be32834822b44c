"""The ``logtrace`` command: thin typer commands over the library. The only typer user.

Each command parses options, calls one library function inside :func:`render.cli_errors`,
and renders. Data goes to stdout; everything human (progress, warnings, accounting, errors)
goes to stderr. Exit codes are documented in the README and pinned by ``tests/test_cli.py``.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from logtrace.cli import render

app = typer.Typer(
    name="logtrace",
    help="Mail log analyzer and queue-ID tracer for Postfix, Exim and Exchange logs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)


class Mta(str, Enum):
    auto = "auto"
    postfix = "postfix"
    exim = "exim"
    exchange = "exchange"


class ParseFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


class Engine(str, Enum):
    frame = "frame"
    line = "line"


Files = Annotated[list[str], typer.Argument(help="Log files, globs, directories, or - for stdin.", show_default=False)]
MtaOpt = Annotated[str, typer.Option("--mta", help="Log format: auto (sniff each file), postfix, exim, exchange, or a plugin's name.")]
YearOpt = Annotated[Optional[int], typer.Option("--year", help="Year of the first RFC 3164 stamp (default: from the file's mtime).")]
TzOpt = Annotated[Optional[str], typer.Option("--tz", help="IANA zone of stamps without an offset (default: this machine's).")]
WhereOpt = Annotated[Optional[str], typer.Option("--where", "-w", help='Filter, e.g. \'status = bounced and to ~ "@example\\.com$"\'.')]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show internal errors with a traceback.", hidden=True)]


def _options(year: int | None, tz: str | None):  # noqa: ANN202
    from logtrace.parsing.rules import ParseOptions

    if tz:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            if tz.upper() not in ("UTC", "Z"):
                ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise typer.BadParameter(f"unknown time zone '{tz}' (use an IANA name such as Europe/Berlin)", param_hint="--tz") from None
    return ParseOptions(year=year, tz=tz)


@app.command()
def parse(
    files: Files,
    fmt: Annotated[ParseFormat, typer.Option("--format", "-f", help="Output format.")] = ParseFormat.jsonl,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file (required for parquet).")] = None,
    only_unparsed: Annotated[bool, typer.Option("--only-unparsed", help="Emit only the lines that were not understood.")] = False,
    engine: Annotated[Engine, typer.Option("--engine", help="frame (fast, default) or line (reference).")] = Engine.frame,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any line was not understood.")] = False,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    where: WhereOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Parse logs into normalized events (JSONL by default) with line accounting on stderr."""
    with render.cli_errors(debug):
        from logtrace.parsing import scan as api

        if fmt == ParseFormat.parquet and output is None:
            raise typer.BadParameter("--format parquet needs --output FILE", param_hint="--output")
        from logtrace.input.reader import expand

        single = len(files) == 1 and ("-" in files or len(expand(files)) == 1)
        if engine == Engine.frame and single:  # one input: stream, memory stays at one chunk
            st = api.parse_stream(files, mta=mta, options=_options(year, tz), where=where)
            frames = (f.filter(f["kind"] == "unparsed") if only_unparsed else f for f in st.frames)
            with render.status("reading logs…"):
                _write_events(frames, fmt, output)
            diagnostics, acc, failed = st.result.diagnostics, st.accounting, st.result.failed_inputs
        else:
            with render.status("reading logs…"):
                res = api.parse(files, mta=mta, options=_options(year, tz), engine=engine.value, where=where)
            df = res.events
            if only_unparsed:
                import polars as pl

                df = df.filter(pl.col("kind") == "unparsed")
            _write_events(iter([df]), fmt, output)
            diagnostics, acc, failed = res.diagnostics, res.accounting, res.failed_inputs
        render.print_diagnostics(diagnostics)
        render.print_accounting(acc)
        if failed:
            raise typer.Exit(render.EXIT_USAGE)
        if strict and int(acc["unrecognized"].sum()):
            raise typer.Exit(render.EXIT_NEGATIVE)


def _write_events(frames, fmt: ParseFormat, output: Path | None) -> None:  # noqa: ANN001
    """Write event frames as they come: Parquet through polars' streaming sink, CSV and JSONL
    chunk by chunk (CSV cells that would run as spreadsheet formulas are neutralized)."""
    import polars as pl

    from logtrace.events import KEY_ORDER, event_schema

    if fmt == ParseFormat.parquet:
        from polars.io.plugins import register_io_source

        def source(with_columns, predicate, n_rows, batch_size):  # noqa: ANN001, ANN202
            for df in frames:
                yield df.select(with_columns) if with_columns is not None else df

        register_io_source(io_source=source, schema=event_schema()).sink_parquet(output)
        return
    fh = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
    try:
        first = True
        for df in frames:
            if fmt == ParseFormat.csv:
                str_cols = [c for c, t in df.schema.items() if t == pl.String]
                out = df.with_columns(
                    [pl.when(pl.col(c).str.contains(r"^[=+\-@\t\r]")).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
                     for c in str_cols]
                ).with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.6f+00:00"))
                fh.write(out.write_csv(include_header=first))
                first = False
                continue
            # the canonical JSONL form (events.canonical): file, line, schema order, nulls
            # omitted, ISO stamps; built from tuples, the stamps formatted by polars
            cols = ["file", "line_no", *(k for k in KEY_ORDER if k != "line" and k in df.columns)]
            names = ["line" if c == "line_no" else c for c in cols]
            view = df.select(cols).with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.6f").str.strip_suffix(".000000") + "+00:00")
            enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
            lines = [enc({k: v for k, v in zip(names, row) if v is not None}) for row in view.iter_rows()]
            if lines:
                fh.write("\n".join(lines) + "\n")
        if first and fmt == ParseFormat.csv:
            fh.write(pl.DataFrame(schema=event_schema()).write_csv())
        fh.flush()
    finally:
        if output:
            fh.close()


@app.command()
def parsers(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Validate every parser's rule samples.")] = False,
) -> None:
    """List built-in and plugin parsers (entry-point group logtrace.parsers)."""
    with render.cli_errors():
        from logtrace.parsing.registry import default_registry
        from logtrace.parsing.rules import check_parser

        infos = default_registry().infos()
        rows = []
        problems = 0
        for i in infos:
            row = {"name": i.name, "aliases": list(i.aliases), "origin": i.origin, "target": i.target, "error": i.error}
            if check and i.cls is not None:
                issues = check_parser(i.cls)
                row["check"] = issues
                problems += len(issues)
            rows.append(row)
        if as_json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        else:
            for r in rows:
                status = f"  ERROR: {render.safe(r['error'])}" if r["error"] else ""
                aliases = f" (aliases: {', '.join(r['aliases'])})" if r["aliases"] else ""
                sys.stdout.write(f"{r['name']}{aliases}  [{r['origin']}]{status}\n")
                for issue in r.get("check", []):
                    sys.stdout.write(f"  check: {render.safe(issue)}\n")
        if problems:
            raise typer.Exit(render.EXIT_NEGATIVE)


# ---- follow (owned by follow.py)

@app.command()
def follow(
    queue_id: Annotated[Optional[str], typer.Argument(help="Queue ID (Postfix short/long, Exim message id, Exchange internal id).", show_default=False)] = None,
    files: Annotated[Optional[list[str]], typer.Argument(help="Log files, globs, directories, or - for stdin.", show_default=False)] = None,
    message_id: Annotated[Optional[str], typer.Option("--message-id", help="Follow by the Message-ID header instead.")] = None,
    sender: Annotated[Optional[str], typer.Option("--from", help="Follow every message from this sender.")] = None,
    recipient: Annotated[Optional[str], typer.Option("--to", help="Follow every message to this recipient (rejected ones too).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (documented schema).")] = False,
    show_files: Annotated[bool, typer.Option("--files", help="Show file:line for every timeline row.")] = False,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    where: WhereOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Follow one message through the logs: every event, every hop, a verdict per recipient.

    Exit codes: 0 every recipient delivered (or relayed to a host whose log was not given),
    1 not found, 2 usage or input error, 4 some recipient not delivered.
    """
    with render.cli_errors(debug):
        from logtrace.trace.follow import follow as do_follow, story_to_json

        paths = list(files or [])
        if queue_id is not None and (message_id or sender or recipient):
            paths.insert(0, queue_id)  # with --message-id/--from/--to the first argument is a file
            queue_id = None
        if not paths:
            raise typer.BadParameter("no log files given", param_hint="FILES")
        with render.status("searching the logs…"):
            res = do_follow(paths, queue_id=queue_id, message_id=message_id, sender=sender, recipient=recipient,
                            mta=mta, options=_options(year, tz))
        if where:
            from logtrace.trace.follow import filter_stories

            res.stories = filter_stories(res.stories, where)
        render.print_diagnostics(res.diagnostics)
        if as_json:
            doc = {"query": res.query, "log_end": res.log_end.isoformat() if res.log_end else None,
                   "messages": [story_to_json(s) for s in res.stories]}
            sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        else:
            con = render.out_console()
            if not res.stories:
                sys.stderr.write(f"not found: no message matches {render.safe(res.query)} in the logs given\n")
            if len(res.stories) > 1:
                con.print(f"{len(res.stories)} messages match:")
                for s in res.stories:
                    verdicts = ", ".join(sorted({r.verdict for r in s.recipients}))
                    con.print(render.Text_(f"  {s.origin.start or '?'}  {s.origin.host}  {s.origin.queue_id}  <{s.origin.sender or ''}>  {verdicts}"))
                con.print()
            for s in res.stories:
                render.print_story(s, con, show_files)
        if res.failed_inputs:
            raise typer.Exit(render.EXIT_USAGE)
        if not res.stories:
            raise typer.Exit(render.EXIT_NEGATIVE)
        if not all(s.delivered for s in res.stories):
            raise typer.Exit(render.EXIT_NOT_DELIVERED)


# ---- summary (owned by summary.py)


class SummaryFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def _when(value: str | None, tz: str | None, hint: str):  # noqa: ANN202
    from logtrace.reports.summary import parse_time_spec

    try:
        return parse_time_spec(value, tz=tz) if value else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint=hint) from None


@app.command()
def summary(
    files: Files,
    fmt: Annotated[SummaryFormat, typer.Option("--format", "-f", help="table (default), json (one document), csv (files in -o DIR), markdown.")] = SummaryFormat.table,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Directory for --format csv (one file per section).")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows in each top-N and reason table.")] = 10,
    since: Annotated[Optional[str], typer.Option("--since", help="Only events at or after: ISO time, today, yesterday, '2h ago'.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only events before: ISO time, today, yesterday, '2h ago'.")] = None,
    problems_first: Annotated[bool, typer.Option("--problems-first", help="Show deferrals, bounces, rejects and warnings first.")] = False,
    smtpd_stats: Annotated[bool, typer.Option("--smtpd-stats", help="Add SMTP connection statistics (connect/disconnect pairs).")] = False,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    where: WhereOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Summarise traffic, deliveries, deferrals, bounces and rejects (a pflogsumm-class report)."""
    if fmt == SummaryFormat.csv and output is None:
        raise typer.BadParameter("--format csv needs --output DIR", param_hint="--output")
    options, t0, t1 = _options(year, tz), _when(since, tz, "--since"), _when(until, tz, "--until")
    with render.cli_errors(debug):
        from logtrace.cli import report
        from logtrace.reports.summary import summarize

        with render.status("reading logs…"):
            s = summarize(files, mta=mta, options=options, since=t0, until=t1, where=where, top=top, smtpd_stats=smtpd_stats)
        report.emit(s, fmt.value, output=output, problems_first=problems_first)
        render.print_diagnostics(s.diagnostics)
        if fmt != SummaryFormat.json:
            render.print_accounting(s.accounting)
        if s.failed_inputs:
            raise typer.Exit(render.EXIT_USAGE)


# ---- end summary


# ---- bounces (owned by bounces.py)

class GroupBy(str, Enum):
    reason = "reason"
    domain = "domain"
    relay = "relay"
    sender = "sender"


@app.command()
def bounces(
    files: Files,
    by: Annotated[GroupBy, typer.Option("--by", help="Group by failure reason, recipient domain, relay or sender.")] = GroupBy.reason,
    top: Annotated[int, typer.Option("--top", help="Show at most N messages per group (0: all).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="A list of messages (same objects as follow --json).")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="One row per failed recipient.")] = False,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    where: WhereOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Messages accepted by some hop and then bounced, expired, deferred or lost. Exit 4 when any."""
    with render.cli_errors(debug):
        from logtrace.trace.bounces import find_bounces, group_key, item_to_json

        with render.status("reading logs…"):
            res = find_bounces(files, mta=mta, options=_options(year, tz), where=where)
        render.print_diagnostics(res.diagnostics)
        if as_json:
            sys.stdout.write(json.dumps([item_to_json(i) for i in res.items], indent=2, ensure_ascii=False) + "\n")
        elif as_csv:
            import csv

            w = csv.writer(sys.stdout)
            w.writerow(["accepted", "host", "queue_id", "sender", "message_id", "recipient", "category", "class", "failed_host",
                        "failed_queue_id", "dsn", "reply", "chain", "ndr_queue_id", "ndr_delivered"])
            for it in res.items:
                o = it.story.origin
                for r, c in zip(it.failed, it.classes):
                    ndr = r.ndr or {}
                    w.writerow([render.csv_cell(x) for x in (
                        o.start.isoformat() if o.start else "", o.host, o.queue_id, o.sender, o.message_id, r.recipient,
                        it.category, c, r.host, r.queue_id, r.dsn, r.reply,
                        " > ".join(f"{lc.host}:{lc.queue_id}" for lc, _, _ in it.story.chain), ndr.get("queue_id"), ndr.get("delivered"))])
        else:
            render.print_bounces(res.items, by.value, top, group_key)
        if res.accounting is not None and not as_json:
            render.print_accounting(res.accounting)
        if res.failed_inputs:
            raise typer.Exit(render.EXIT_USAGE)
        if res.items:
            raise typer.Exit(render.EXIT_NOT_DELIVERED)


def main() -> None:
    """Entry point with SIGPIPE/Ctrl-C handling around typer."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(render.EXIT_INTERRUPTED)
    except BrokenPipeError:
        render._quiet_pipe()
        sys.exit(render.EXIT_OK)

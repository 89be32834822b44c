"""The ``logtrace`` commands: each parses its options, calls one library function inside
:func:`render.cli_errors`, and hands the result to :mod:`.writers` or :mod:`.render`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from logtrace.cli import render, writers
from logtrace.cli.application import (DebugOpt, Engine, Files, GroupBy, MtaOpt, ParseFormat, SummaryFormat, TzOpt, UtcOpt, WhereOpt, YearOpt,
                              app, parse_options, people_clock, time_option)


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
        if fmt == ParseFormat.parquet and output is None:
            raise typer.BadParameter("--format parquet needs --output FILE", param_hint="--output")
        frames, outcome = _event_frames(files, engine, only_unparsed, mta=mta, options=parse_options(year, tz), where=where)
        with render.status("reading logs…"):
            writers.write_events(frames, fmt.value, output)
        diagnostics, acc, failed = outcome()
        render.print_diagnostics(diagnostics)
        render.print_accounting(acc)
        if failed:
            raise typer.Exit(render.EXIT_USAGE)
        if strict and int(acc["unrecognized"].sum()):
            raise typer.Exit(render.EXIT_NEGATIVE)


def _event_frames(files: list[str], engine: Engine, only_unparsed: bool, **kw: Any) -> tuple[Iterable[Any], Callable[[], tuple[Any, Any, int]]]:
    """Event frames to write, and a function giving (diagnostics, accounting, failed inputs) once they are written.

    One input with the frame engine streams (memory stays at one chunk); otherwise one frame."""
    from logtrace.input.reader import expand
    from logtrace.parsing import scan as api

    if engine == Engine.frame and len(files) == 1 and ("-" in files or len(expand(files)) == 1):
        st = api.parse_stream(files, **kw)
        frames: Iterable[Any] = st.frames
        outcome = lambda: (st.result.diagnostics, st.accounting, st.result.failed_inputs)  # noqa: E731
    else:
        with render.status("reading logs…"):
            res = api.parse(files, engine=engine.value, **kw)
        frames = [res.events]
        outcome = lambda: (res.diagnostics, res.accounting, res.failed_inputs)  # noqa: E731
    return ((f.filter(f["kind"] == "unparsed") for f in frames) if only_unparsed else frames), outcome


@app.command()
def parsers(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Validate every parser's rule samples.")] = False,
) -> None:
    """List built-in and plugin parsers (entry-point group logtrace.parsers)."""
    with render.cli_errors():
        from logtrace.parsing.registry import default_registry
        from logtrace.parsing.rules import check_parser

        rows = []
        for i in default_registry().infos():
            row = {"name": i.name, "aliases": list(i.aliases), "origin": i.origin, "target": i.target, "error": i.error}
            if check and i.cls is not None:
                row["check"] = check_parser(i.cls)
            rows.append(row)
        if as_json:
            writers.write_json(rows, ensure_ascii=True)
        else:
            render.print_parsers(rows)
        if sum(len(r.get("check", [])) for r in rows):
            raise typer.Exit(render.EXIT_NEGATIVE)


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
    utc: UtcOpt = False,
    where: WhereOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Follow one message through the logs: every event, every hop, a verdict per recipient.

    Exit codes: 0 every recipient delivered (or relayed to a host whose log was not given),
    1 not found, 2 usage or input error, 4 some recipient not delivered.
    """
    with render.cli_errors(debug):
        from logtrace.trace.follow import filter_stories, follow as do_follow, story_to_json

        paths = list(files or [])
        if queue_id is not None and (message_id or sender or recipient):
            paths.insert(0, queue_id)  # with --message-id/--from/--to the first argument is a file
            queue_id = None
        if not paths:
            raise typer.BadParameter("no log files given", param_hint="FILES")
        from logtrace.trace.narrative import Clock, people_times

        clock = Clock() if as_json else people_clock(tz, utc)  # --json keeps its sentences in UTC, unlabelled
        with render.status("searching the logs…"), people_times(clock):
            res = do_follow(paths, queue_id=queue_id, message_id=message_id, sender=sender, recipient=recipient,
                            mta=mta, options=parse_options(year, tz), idle=None if as_json else render.preload_story)
        if where:
            res.stories = filter_stories(res.stories, where)
        render.print_diagnostics(res.diagnostics)
        if as_json:
            writers.write_json({"query": res.query, "log_end": res.log_end.isoformat() if res.log_end else None,
                                "messages": [story_to_json(s) for s in res.stories]})
        else:
            render.print_follow(res, show_files, clock)
        if res.failed_inputs:
            raise typer.Exit(render.EXIT_USAGE)
        if not res.stories:
            raise typer.Exit(render.EXIT_NEGATIVE)
        if not all(s.delivered for s in res.stories):
            raise typer.Exit(render.EXIT_NOT_DELIVERED)


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
    utc: UtcOpt = False,
    where: WhereOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Summarise traffic, deliveries, deferrals, bounces and rejects (a pflogsumm-class report)."""
    if fmt == SummaryFormat.csv and output is None:
        raise typer.BadParameter("--format csv needs --output DIR", param_hint="--output")
    options, t0, t1 = parse_options(year, tz), time_option(since, tz, "--since"), time_option(until, tz, "--until")
    with render.cli_errors(debug):
        from logtrace.cli import render_summary
        from logtrace.reports.summary import summarize

        with render.status("reading logs…"):
            s = summarize(files, mta=mta, options=options, since=t0, until=t1, where=where, top=top, smtpd_stats=smtpd_stats,
                          zone="UTC" if utc else None)
        render_summary.emit(s, fmt.value, output=output, problems_first=problems_first)
        render.print_diagnostics(s.diagnostics)
        if fmt != SummaryFormat.json:
            render.print_accounting(s.accounting)
        if s.failed_inputs:
            raise typer.Exit(render.EXIT_USAGE)


@app.command()
def bounces(
    files: Files,
    by: Annotated[GroupBy, typer.Option("--by", help="Group by failure reason, recipient domain, relay or sender.")] = GroupBy.reason,
    top: Annotated[int, typer.Option("--top", help="Show at most N messages per group (0: all).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="A list of messages (same objects as follow --json).")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="One row per failed recipient.")] = False,
    fail_on: Annotated[Optional[str], typer.Option("--fail-on", metavar="CATEGORY,…", help=(
        "Categories that make the exit code 4 (default: bounced,expired,discarded,notification-failed; "
        "also deleted, held, deferred, in-flight, lost, rejected; none: never)."))] = None,
    lost_after: Annotated[str, typer.Option("--lost-after", help=(
        "A message with no delivery attempt is 'lost' only when its host's log goes on this long after its last "
        "line; before that it is 'in-flight'."))] = "1h",
    include_rejected: Annotated[bool, typer.Option("--include-rejected", help=(
        "Also list recipients refused at SMTP time after the queue ID was assigned (category 'rejected')."))] = False,
    state: Annotated[Optional[Path], typer.Option("--state", metavar="FILE", help=(
        "Report (and exit 4 for) only failures not reported by an earlier run with the same FILE; "
        "the file is updated atomically (for cron)."))] = None,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    utc: UtcOpt = False,
    where: WhereOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Messages accepted by some hop and then bounced, expired, deferred or lost. Exit 4 on a --fail-on category."""
    with render.cli_errors(debug):
        from logtrace.trace.bounces import find_bounces, group_key, item_to_json, parse_duration, parse_fail_on

        fail, after = parse_fail_on(fail_on), parse_duration(lost_after)
        from logtrace.trace.narrative import Clock, people_times

        clock = Clock() if as_json or as_csv else people_clock(tz, utc)  # machine forms keep UTC, unlabelled
        with render.status("reading logs…"), people_times(clock):
            res = find_bounces(files, mta=mta, options=parse_options(year, tz), where=where, lost_after=after,
                               include_rejected=include_rejected or "rejected" in fail)
        if state is not None:
            from datetime import datetime, timezone

            from logtrace.trace.bounces import load_state, only_new, save_state

            res.items, new_state = only_new(res.items, load_state(str(state)), datetime.now(timezone.utc))
            if not res.failed_inputs:  # an unreadable input must not mark its failures as reported
                save_state(str(state), new_state)
        render.print_diagnostics(res.diagnostics)
        if as_json:
            writers.write_json([item_to_json(i) for i in res.items])
        elif as_csv:
            writers.write_bounces_csv(res.items)
        else:
            render.print_bounces(res.items, by.value, top, group_key, clock)
        if res.accounting is not None and not as_json:
            render.print_accounting(res.accounting)
        if res.failed_inputs:
            raise typer.Exit(render.EXIT_USAGE)
        if res.failing(fail):
            raise typer.Exit(render.EXIT_NOT_DELIVERED)

"""The ``logtrace`` commands: each parses its options, calls one library function inside
:func:`render.cli_errors`, and hands the result to :mod:`.writers` or :mod:`.render`.

The four commands that read logs take the same options (declared once in
:mod:`.application`): ``--format``/``--json``/``--csv``, ``-o``, ``--since``/``--until``,
``--where``, ``--mta``, ``--tz``, ``--year``, ``--top`` where it applies, ``--debug``.
Help lists them in :data:`ORDER`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from logtrace.cli import render, writers
from logtrace.cli.application import (BouncesFormat, BouncesFormatOpt, CsvOpt, DebugOpt, Engine, Files, FollowFormat, FollowFormatOpt,
                                      GroupBy, JsonOpt, MtaOpt, OutputOpt, RedactOpt, ParseFormat, ParseFormatOpt, SinceOpt, SummaryFormat,
                                      SummaryFormatOpt, TopOpt, TzOpt, UntilOpt, UtcOpt, WhereOpt, YearOpt, app, display_zone,
                                      parse_options, people_clock, pick_format, time_window, top_rows, usage_error)



@app.command(short_help="One message's story: timeline, hops, verdict per recipient.")
def follow(
    queue_id: Annotated[Optional[str], typer.Argument(metavar="QUEUE_ID", help="Queue ID (Postfix short/long, Exim message id, Exchange internal id).", show_default=False)] = None,
    files: Annotated[Optional[list[str]], typer.Argument(metavar="FILES", help="Log files, globs, directories, or - for stdin.", show_default=False)] = None,
    message_id: Annotated[Optional[str], typer.Option("--message-id", help="Follow by the Message-ID header instead.")] = None,
    sender: Annotated[Optional[str], typer.Option("--from", help="Follow every message from this sender.")] = None,
    recipient: Annotated[Optional[str], typer.Option("--to", help="Follow every message to this recipient (rejected ones too).")] = None,
    fmt: FollowFormatOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    show_files: Annotated[bool, typer.Option("--files", help="Show file:line for every timeline row.")] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    utc: UtcOpt = False,
    redact: RedactOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Follow one message through the logs: every event, every hop, a verdict per recipient.

    Exit codes: 0 every recipient delivered (or relayed to a host whose log was not given),
    1 not found, 2 usage or input error, 4 some recipient not delivered.
    """
    with render.cli_errors(debug):
        from logtrace.trace.follow import filter_stories, follow as do_follow, story_to_json
        from logtrace.trace.narrative import Clock, people_times

        kind = pick_format(fmt, FollowFormat, "table", json=as_json)
        window = time_window(since, until, tz, utc)
        paths = list(files or [])
        if queue_id is not None and (message_id or sender or recipient):
            paths.insert(0, queue_id)  # with --message-id/--from/--to the first argument is a file
            queue_id = None
        if not paths:
            if queue_id is not None and _is_path(queue_id):
                raise usage_error(f"'{queue_id}' is a file, not a queue ID", "QUEUE_ID",
                                  "give the queue ID first (logtrace follow ID FILES…) or use --message-id/--from/--to")
            raise usage_error("no log files given", "FILES", "logtrace follow ID FILES…")
        machine = kind != FollowFormat.table
        clock = Clock() if machine else people_clock(tz, utc)  # machine forms keep their sentences in UTC, unlabelled
        with render.status("searching the logs…"), people_times(clock), writers.output_to(output):
            res = do_follow(paths, queue_id=queue_id, message_id=message_id, sender=sender, recipient=recipient,
                            mta=mta, options=parse_options(year, tz), idle=None if machine else render.preload_story)
            first, last = render.story_span(res.stories)
            res.stories = [s for s in res.stories if window.is_open or any(window.contains(e.ts) for e in s.events)]
            if where:
                res.stories = filter_stories(res.stories, where)
            render.print_diagnostics(res.diagnostics)
            render.warn_outside(window, first, last or res.log_end, display_zone(tz, utc))
            if kind == FollowFormat.json:
                writers.write_json({"schema": writers.schema("follow"), "query": res.query, "log_end": writers.iso(res.log_end),
                                    "messages": [story_to_json(s) for s in res.stories]})
            elif kind == FollowFormat.jsonl:
                writers.write_jsonl(story_to_json(s) for s in res.stories)
            else:
                render.print_follow(res, show_files, clock)
        if res.failed_inputs:
            raise typer.Exit(render.EXIT_USAGE)
        if not res.stories:
            if queue_id is not None and not message_id:
                from logtrace.trace.suggest import similar_ids

                render.print_suggestions(similar_ids(paths, queue_id, mta=mta, options=parse_options(year, tz)))
            raise typer.Exit(render.EXIT_NEGATIVE)
        if not all(s.delivered for s in res.stories):
            raise typer.Exit(render.EXIT_NOT_DELIVERED)


def _is_path(arg: str) -> bool:
    import os

    return arg == "-" or os.path.exists(arg) or "/" in arg


@app.command(short_help="A pflogsumm-class report: traffic, delays, problems.")
def summary(
    files: Files,
    fmt: SummaryFormatOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    output: OutputOpt = None,
    top: TopOpt = 10,
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    problems_first: Annotated[bool, typer.Option("--problems-first", help="Show deferrals, bounces, rejects and warnings first.")] = False,
    smtpd_stats: Annotated[bool, typer.Option("--smtpd-stats", help="Add SMTP connection statistics (connect/disconnect pairs).")] = False,
    verp_mung: Annotated[int, typer.Option("--verp-mung", metavar="LEVEL", min=0, max=2, help=(
        "Fold VERP sender addresses (as pflogsumm): 1 replaces the numbers of bounce/return/list senders by ID; "
        "2 also drops the encoded recipient."))] = 0,
    ignore_case: Annotated[bool, typer.Option("--ignore-case", "-i", help=(
        "Lowercase whole addresses when counting senders and recipients (default: only their domains, as pflogsumm)."))] = False,
    syslog_name: Annotated[Optional[list[str]], typer.Option("--syslog-name", metavar="NAME", help=(
        "Report only the Postfix instances with this syslog name (repeatable; 'postfix' keeps postfix/… and "
        "postfix/submission/…, not postfix-out/…). Default: every instance."))] = None,
    rej_add_from: Annotated[bool, typer.Option("--rej-add-from", help="Add the envelope sender to each client of the reject tables.")] = False,
    merge: Annotated[bool, typer.Option("--merge", help=(
        "FILES are 'summary --format json' documents: merge them into one report (a week of days) without "
        "re-reading the logs."))] = False,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    utc: UtcOpt = False,
    redact: RedactOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Summarise traffic, deliveries, deferrals, bounces and rejects (a pflogsumm-class report)."""
    from contextlib import ExitStack

    with render.cli_errors(debug), ExitStack() as spool:
        kind = pick_format(fmt, SummaryFormat, "table", json=as_json, csv=as_csv)
        if kind == SummaryFormat.csv and output is None:
            raise usage_error("--format csv needs --output DIR (one file per section)", "--output")
        from logtrace.cli import render_summary

        if merge:
            for value, name in ((since, "--since"), (until, "--until"), (where, "--where"), (syslog_name, "--syslog-name"),
                                (verp_mung, "--verp-mung"), (ignore_case, "--ignore-case"), (rej_add_from, "--rej-add-from"),
                                (smtpd_stats, "--smtpd-stats")):
                if value:
                    raise usage_error("cannot be used with --merge (the documents are already counted)", name,
                                      "give it to the 'summary --format json' runs that wrote the documents")
            from logtrace.reports.merge import merge_documents

            s = merge_documents(files, top=top_rows(top))
            s.sections = {name: writers.redacted(df) for name, df in s.sections.items()}  # --redact: tables too
            s.state = render_summary.redacted_state(s.state)
            if kind == SummaryFormat.html:
                with writers.output_to(output):
                    from logtrace.reports.html import to_html

                    sys.stdout.write(to_html(writers.redacted(render_summary.to_document(s)), None, top=top,
                                             failed_note="not listed: merged reports carry no message lists"))
            else:
                with writers.output_to(None if kind == SummaryFormat.csv else output):
                    render_summary.emit(s, kind.value, output=output, problems_first=problems_first)
            return
        options, window = parse_options(year, tz), time_window(since, until, tz, utc)
        from logtrace.reports.summary import summarize

        if kind == SummaryFormat.html and "-" in files:  # the page reads the input twice (summary, then bounces)
            from logtrace.input.reader import stdin_spooled

            spool.enter_context(stdin_spooled())
        with render.status("reading logs…"):
            s = summarize(files, mta=mta, options=options, since=window.since, until=window.until, where=where, top=top_rows(top),
                          smtpd_stats=smtpd_stats, zone="UTC" if utc else None, verp_mung=verp_mung,
                          ignore_case=ignore_case, rej_add_from=rej_add_from, syslog_name=tuple(syslog_name or ()),
                          keep_state=kind == SummaryFormat.json)
        if s.failed_inputs and not s.inputs:  # nothing could be read: the errors, not a report of zeros
            render.print_diagnostics(s.diagnostics)
            raise typer.Exit(render.EXIT_USAGE)
        s.sections = {name: writers.redacted(df) for name, df in s.sections.items()}  # --redact: tables too
        s.state = render_summary.redacted_state(s.state)
        if kind == SummaryFormat.html:
            _html_report(s, files, window, where, mta, options, top, people_clock(tz, utc), output)
        else:
            with writers.output_to(None if kind == SummaryFormat.csv else output):
                render_summary.emit(s, kind.value, output=output, problems_first=problems_first)
        render.print_diagnostics(s.diagnostics)
        render.warn_outside(window, s.period.get("log_first", s.period.get("first")), s.period.get("log_last", s.period.get("last")),
                           display_zone(tz, utc))
        if kind != SummaryFormat.json:
            render.print_accounting(s.accounting)
        if s.failed_inputs:
            raise typer.Exit(render.EXIT_USAGE)


def _html_report(s: Any, files: list[str], window: Any, where: str | None, mta: str, options: Any, top: int, clock: Any,
                output: Path | None) -> None:
    """``summary --format html``: the summary document plus ``bounces``' accepted-then-failed list (standard input
    is read from the copy the command keeps while it runs)."""
    from logtrace.reports.html import to_html
    from logtrace.reports.summary import to_document
    from logtrace.trace.bounces import find_bounces, item_to_json
    from logtrace.trace.narrative import people_times

    with render.status("finding accepted messages that failed…"), people_times(clock):
        res = find_bounces(files, mta=mta, options=options, where=where)
        failed = [item_to_json(i) for i in res.items if window.is_open or window.contains(i.story.origin.start)]
    with writers.output_to(output):  # --redact: the document and the messages like JSON output
        sys.stdout.write(to_html(writers.redacted(to_document(s)), writers.redacted(failed), top=top, failed_note=None))
        sys.stdout.flush()


@app.command(short_help="Accepted messages that then bounced, expired or got lost.")
def bounces(
    files: Files,
    by: Annotated[GroupBy, typer.Option("--by", help="Group by failure reason, recipient domain, relay or sender.")] = GroupBy.reason,
    fmt: BouncesFormatOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    output: OutputOpt = None,
    top: TopOpt = 0,
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    fail_on: Annotated[Optional[str], typer.Option("--fail-on", metavar="CATEGORY,…", help=(
        "Categories that make the exit code 4 (default: bounced,expired,discarded,quarantined,notification-failed; "
        "also deleted, held, deferred, in-flight, lost, rejected, discarded-by-sieve, junk; none: never)."))] = None,
    lost_after: Annotated[str, typer.Option("--lost-after", help=(
        "A message with no delivery attempt is 'lost' only when its host's log goes on this long after its last "
        "line; before that it is 'in-flight'."))] = "1h",
    include_rejected: Annotated[bool, typer.Option("--include-rejected", help=(
        "Also list recipients refused at SMTP time after the queue ID was assigned (category 'rejected')."))] = False,
    junk: Annotated[bool, typer.Option("--junk", help=(
        "Also list recipients whose message was saved into a junk folder (category 'junk'; "
        "a failure only if --fail-on names it)."))] = False,
    junk_folders: Annotated[Optional[str], typer.Option("--junk-folders", metavar="NAME,…", help=(
        "Mailbox folders that count as junk, case-insensitive (default: Junk,Spam,Junk E-mail,INBOX.Junk,INBOX.Spam)."))] = None,
    state: Annotated[Optional[Path], typer.Option("--state", metavar="FILE", help=(
        "Report (and exit 4 for) only failures not reported by an earlier run with the same FILE; "
        "the file is updated atomically (for cron)."))] = None,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    utc: UtcOpt = False,
    redact: RedactOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Messages accepted by some hop and then bounced, expired, deferred or lost. Exit 4 on a --fail-on category."""
    with render.cli_errors(debug):
        from logtrace.trace.bounces import find_bounces, group_key, item_to_json, parse_duration, parse_fail_on

        kind = pick_format(fmt, BouncesFormat, "table", json=as_json, csv=as_csv)
        window = time_window(since, until, tz, utc)
        fail, after = parse_fail_on(fail_on), parse_duration(lost_after)
        from logtrace.trace.narrative import Clock, people_times

        machine = kind != BouncesFormat.table
        clock = Clock() if machine else people_clock(tz, utc)  # machine forms keep UTC, unlabelled
        with render.status("reading logs…"), people_times(clock):
            res = find_bounces(files, mta=mta, options=parse_options(year, tz), where=where, lost_after=after,
                               include_rejected=include_rejected or "rejected" in fail, include_junk=junk or "junk" in fail,
                               junk_folders=None if junk_folders is None else [n for n in junk_folders.split(",") if n.strip()])
        first, last = render.story_span([it.story for it in res.items])
        res.items = [it for it in res.items if window.contains(it.story.origin.start) or window.is_open]
        if state is not None:
            from datetime import datetime, timezone

            from logtrace.trace.bounces import load_state, only_new, save_state

            res.items, new_state = only_new(res.items, load_state(str(state)), datetime.now(timezone.utc))
            if not res.failed_inputs:  # an unreadable input must not mark its failures as reported
                save_state(str(state), new_state)
        render.print_diagnostics(res.diagnostics)
        render.warn_outside(window, getattr(res, "log_start", None) or first, res.log_end or last, display_zone(tz, utc))
        with writers.output_to(output):
            if kind == BouncesFormat.json:
                writers.write_json({"schema": writers.schema("bounces"), "log_end": writers.iso(res.log_end),
                                    "messages": [item_to_json(i) for i in res.items]})
            elif kind == BouncesFormat.jsonl:
                writers.write_jsonl(item_to_json(i) for i in res.items)
            elif kind == BouncesFormat.csv:
                writers.write_bounces_csv(res.items)
            else:
                from logtrace.cli.render_bounces import print_bounces

                print_bounces(res.items, by.value, top, group_key, clock)
        if res.accounting is not None and not machine:
            render.print_accounting(res.accounting)
        if res.failed_inputs:
            raise typer.Exit(render.EXIT_USAGE)
        if res.failing(fail):
            raise typer.Exit(render.EXIT_NOT_DELIVERED)


@app.command(short_help="Every line as a normalized event (JSONL, CSV, Parquet).")
def parse(
    files: Files,
    fmt: ParseFormatOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
    output: OutputOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    only_unparsed: Annotated[bool, typer.Option("--only-unparsed", help="Emit only the lines that were not understood, with their raw text.")] = False,
    engine: Annotated[Engine, typer.Option("--engine", help="frame (fast, default) or line (reference).")] = Engine.frame,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any line was not understood.")] = False,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    redact: RedactOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Parse logs into normalized events (JSONL by default) with line accounting on stderr."""
    with render.cli_errors(debug):
        kind = pick_format(fmt, ParseFormat, "jsonl", json=as_json, csv=as_csv)
        kind = ParseFormat.jsonl if kind == ParseFormat.json else kind
        if kind == ParseFormat.parquet and output is None:
            raise usage_error("--format parquet needs --output FILE", "--output")
        window = time_window(since, until, tz)
        frames, outcome = _event_frames(files, engine, only_unparsed, mta=mta, options=parse_options(year, tz), where=where)
        span: list[Any] = [None, None]
        with render.status("reading logs…"):
            writers.write_events(_windowed(frames, window, span), kind.value, output)
        diagnostics, acc, failed = outcome()
        render.print_diagnostics(diagnostics)
        render.warn_outside(window, span[0], span[1], display_zone(tz))
        render.print_accounting(acc)
        if failed:
            raise typer.Exit(render.EXIT_USAGE)
        if strict and int(acc["unrecognized"].sum()):
            raise typer.Exit(render.EXIT_NEGATIVE)


def _windowed(frames: Iterable[Any], window: Any, span: list[Any]) -> Iterator[Any]:
    """The rows of ``frames`` inside ``window``; ``span`` gets the first and last time seen before it."""
    import polars as pl

    for df in frames:
        if df.height:
            lo, hi = df["ts"].min(), df["ts"].max()
            span[0] = lo if span[0] is None or (lo is not None and lo < span[0]) else span[0]
            span[1] = hi if span[1] is None or (hi is not None and hi > span[1]) else span[1]
        if window.since is not None:
            df = df.filter(pl.col("ts") >= window.since)
        if window.until is not None:
            df = df.filter(pl.col("ts") < window.until)
        yield df


def _event_frames(files: list[str], engine: Engine, only_unparsed: bool, **kw: Any) -> tuple[Iterable[Any], Callable[[], tuple[Any, Any, int]]]:
    """Event frames to write, and a function giving (diagnostics, accounting, failed inputs) once they are written.

    One input with the frame engine streams (memory stays at one chunk), and so does
    ``--only-unparsed`` (which adds each line's raw text); otherwise one frame."""
    from logtrace.input.reader import expand
    from logtrace.parsing import scan as api

    if only_unparsed or (engine == Engine.frame and len(files) == 1 and ("-" in files or len(expand(files)) == 1)):
        st = api.parse_stream(files, raw=only_unparsed, **kw)
        frames: Iterable[Any] = st.frames
        outcome = lambda: (st.result.diagnostics, st.accounting, st.result.failed_inputs)  # noqa: E731
    else:
        with render.status("reading logs…"):
            res = api.parse(files, engine=engine.value, **kw)
        frames = [res.events]
        outcome = lambda: (res.diagnostics, res.accounting, res.failed_inputs)  # noqa: E731
    return ((f.filter(f["kind"] == "unparsed") for f in frames) if only_unparsed else frames), outcome


@app.command(short_help="Follow live logs; an alert the moment accepted mail fails.")
def watch(
    files: Annotated[list[str], typer.Argument(metavar="FILES", help="Log files to follow (paths; several hosts' at once), or - for a stream.", show_default=False)],
    from_start: Annotated[bool, typer.Option("--from-start", help="Read the files from their beginning (default: only new lines).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One alert per line as JSON (schema logtrace.alert/1).")] = False,
    exec_cmd: Annotated[Optional[str], typer.Option("--exec", metavar="CMD", help=(
        "Run CMD for every alert, the alert's JSON on stdin (split like a shell would, never run by one; one at a time)."))] = None,
    exec_timeout: Annotated[float, typer.Option("--exec-timeout", min=0.1, metavar="SECONDS", help="Kill --exec's command after this long.")] = 30.0,
    junk: Annotated[bool, typer.Option("--junk", help=(
        "Also list recipients whose message was saved into a junk folder (category 'junk'; "
        "a failure only if --fail-on names it)."))] = False,
    junk_folders: Annotated[Optional[str], typer.Option("--junk-folders", metavar="NAME,…", help=(
        "Mailbox folders that count as junk, case-insensitive (default: Junk,Spam,Junk E-mail,INBOX.Junk,INBOX.Spam)."))] = None,
    state: Annotated[Optional[Path], typer.Option("--state", metavar="FILE", help=(
        "Checkpoint positions, open messages and sent alert IDs to FILE (atomically): a restart resumes without repeats."))] = None,
    max_per_minute: Annotated[int, typer.Option("--max-alerts-per-minute", min=1, metavar="N", help=(
        "At most N alerts a minute; then one alert saying how many were held back."))] = 60,
    for_seconds: Annotated[Optional[float], typer.Option("--for", min=0, metavar="SECONDS", help="Stop after this many seconds (exit 0).")] = None,
    deferred_after: Annotated[Optional[str], typer.Option("--alert-deferred-after", metavar="SPAN", help=(
        "Also alert (verdict deferred) when a recipient is still deferred SPAN after its message was first seen, "
        "in log time (4h, 1d 12h)."))] = None,
    metrics_listen: Annotated[Optional[str], typer.Option("--metrics-listen", metavar="HOST:PORT", help=(
        "Serve Prometheus/OpenMetrics metrics at http://HOST:PORT/metrics (needs logtrace[watch])."))] = None,
    metrics_file: Annotated[Optional[Path], typer.Option("--metrics-file", metavar="FILE", help=(
        "Write the metrics to FILE (node_exporter textfile collector; replaced atomically, every few seconds)."))] = None,
    mta: MtaOpt = "auto",
    year: YearOpt = None,
    tz: TzOpt = None,
    utc: UtcOpt = False,
    redact: RedactOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Follow log files like tail -F (rotation included) and alert when accepted mail is bounced,
    expires, is discarded, or its bounce notification fails. FILES may be globs or directories
    (files appearing later are followed too) or - (a stream, also journalctl -o json).

    Exit codes: 0 stopped by --for, SIGTERM or the end of a stream; 2 usage or input error; 130 Ctrl-C.
    """
    with render.cli_errors(debug):
        import signal
        import sys
        import time

        from logtrace.errors import Diagnostic
        from logtrace.trace.watching import RateLimit, Watcher, run_command, split_command

        argv = split_command(exec_cmd) if exec_cmd is not None else None
        clock = people_clock(tz, utc)
        span = None
        if deferred_after is not None:
            from logtrace.timewindow import parse_span

            try:
                span = parse_span(deferred_after)
            except ValueError as e:
                raise usage_error(str(e), "--alert-deferred-after", "e.g. --alert-deferred-after 4h") from None
        metrics = None
        if metrics_listen is not None or metrics_file is not None:
            from logtrace.trace.metrics import Metrics

            metrics = Metrics()
        watcher = Watcher(files, from_start=from_start, mta=mta, options=parse_options(year, tz), state=str(state) if state else None,
                          deferred_after=span, metrics=metrics)
        if metrics is not None and metrics_listen is not None:
            host, port = metrics.serve(metrics_listen)
            sys.stderr.write(f"metrics at http://{host}:{port}/metrics\n")
        written = [0.0]

        def write_metrics(force: bool = False) -> None:
            if metrics is not None and metrics_file is not None and (force or time.monotonic() - written[0] >= 5):
                metrics.write_file(str(metrics_file))
                written[0] = time.monotonic()

        write_metrics(force=True)  # a bad --metrics-file is an error now, not at the first write
        limit = RateLimit(max_per_minute)
        stop: list[int] = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        deadline = None if for_seconds is None else time.monotonic() + for_seconds

        def deliver(alerts: list[dict[str, Any]]) -> None:
            for a in alerts:
                if as_json:
                    writers.write_jsonl([a])
                else:
                    render.print_alert(a, clock)
                sys.stdout.flush()
                if argv is not None:
                    problem = run_command(argv, writers.redacted(a), exec_timeout)  # --redact: the command's copy too
                    if problem:
                        render.print_diagnostics([Diagnostic("warning", f"--exec for alert {a['alert_id']}: {problem}")])

        try:
            first = True
            while not stop and (deadline is None or time.monotonic() < deadline):
                made = watcher.step()
                alerts = limit.admit(made)
                if metrics is not None:
                    metrics.held_back.inc(max(0, len(made) - sum(1 for a in alerts if a.get("verdict") != "held-back")))
                write_metrics()
                render.print_diagnostics(watcher.diagnostics)
                watcher.diagnostics.clear()
                deliver(alerts)
                watcher.save()
                if first:  # every file is open (or waited for) and checkpointed: lines written from now on are read
                    for missing in watcher.missing():
                        render.print_diagnostics([Diagnostic("warning", "does not exist (yet): waiting for it", path=missing)])
                    sys.stderr.write(f"watching {len(watcher.inputs)} input(s)\n")
                    sys.stderr.flush()
                    first = False
                if watcher.finished:
                    break
                if not alerts and not watcher.last_read:  # a backlog or a replay is read without pause
                    time.sleep(0.2)
            deliver(limit.admit(watcher.finish()) + limit.flush())
        finally:
            watcher.save(force=True)
            watcher.close()
            write_metrics(force=True)
            if metrics is not None:
                metrics.shutdown()


@app.command(short_help="Built-in and plugin parsers; --check validates them.")
def parsers(
    as_json: JsonOpt = False,
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
            writers.write_json({"schema": writers.schema("parsers"), "parsers": rows})
        else:
            render.print_parsers(rows)
        if sum(len(r.get("check", [])) for r in rows):
            raise typer.Exit(render.EXIT_NEGATIVE)



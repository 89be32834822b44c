"""``follow``: find one message's lines in a day of logs, then correlate them.

Search in rounds (byte-level ``find`` or polars literal filters for the millions of lines,
Python only for the few dozen that matter):

1. Round 1 keeps the lines naming the query: a literal queue ID or Message-ID, or a
   case-insensitive address for ``--from``/``--to``.
2. Each later round searches for what the previous round's lines revealed and was not
   searched yet: next-hop IDs from replies (``queued as X``, ``250 OK id=X``,
   ``[InternalId=N]``), ``forwarded as X``, notification IDs, and once the Message-ID (the
   same on every hop: the weak link for hops whose reply names no ID). A chain of N hops
   costs about N+1 passes; each pass over a plain file is a ``bytes.find`` per needle
   (:mod:`logtrace.input.search`), compressed files go through a polars filter.
3. Each file's last line gives "when the log ends" for messages still queued.

The lines kept are parsed by the parser of their file (the line engine) and handed to
:class:`~logtrace.trace.correlator.Correlator`; links between lifecycles never depend on the order
in which they were found.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from logtrace.errors import Diagnostic, FollowError
from logtrace.events import Event, EventKind, event_maker, event_schema
from logtrace.parsing.protocol import ParseOptions, reads_whole_files
from logtrace.parsing.scan import ScanResult
from logtrace.trace.correlator import Correlator, rejected_stories
from logtrace.trace.links import lifecycle_org_id, org_message_id
from logtrace.trace.verdicts import MessageStory

__all__ = ["FollowError", "FollowResult", "filter_stories", "follow", "linked_ids", "rows_to_events", "story_rows",
           "story_to_json"]


@dataclass
class FollowResult:
    query: str
    stories: list[MessageStory]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    failed_inputs: int = 0
    log_end: datetime | None = None
    passes: int = 0
    lines_kept: int = 0


def _needle_expr(kind: str, value: str) -> Any:
    import polars as pl

    if kind in ("from", "to", "org"):
        return pl.col("line").str.contains("(?i)" + re.escape(value))
    return pl.col("line").str.contains(value, literal=True)


#: rows turned into events at a time (the column lists of one slice are alive at once, not the whole frame's)
EVENT_SLICE = 100_000


def rows_to_events(df: Any, caches: dict[str, dict[Any, Any]] | None = None) -> list[Event]:
    """Parsed rows of an event frame as :class:`Event` objects (unparsed rows dropped). A value that
    repeats in a column (a host, a program, a rule, a file name, a stamp) is one Python object shared
    by its events, not one per event: ``bounces`` on 8M lines holds ~0.5M events (peak 1.4 -> 1.0 GB).
    ``caches`` (column → value → object) carries that sharing across calls on blocks of one input."""
    names = [n for n in event_schema() if n != "reason"]
    rows = df.filter(df["kind"] != "unparsed").select(names)
    k = names.index("kind")
    # stamps are shared whatever their count in this block: a second of log holds many lines (8M lines'
    # bounces: 0.52M events, 24 -> 4 MiB of datetimes)
    shared = [i != k and (n == "ts" or (rows.height > 64 and rows.get_column(n).n_unique() * 4 <= rows.height))
              for i, n in enumerate(names)]
    caches = {} if caches is None else caches
    seen_by = [caches.setdefault(n, {}) for n in names]
    kinds = seen_by[k]  # a kind's text → its EventKind
    make = event_maker(names)
    out: list[Event] = []
    for part in rows.iter_slices(EVENT_SLICE):
        cols = [part.get_column(n).to_list() for n in names]  # column lists zipped: half the time of iter_rows(named=True)
        for i, col in enumerate(cols):
            if shared[i]:
                seen = seen_by[i]
                cols[i] = [seen.setdefault(v, v) for v in col]
        cols[k] = [kinds.get(v) or kinds.setdefault(v, EventKind(v)) for v in cols[k]]
        out.extend(map(make, *cols))
    return out


def _pass(inputs: Sequence[tuple[Any, Any, Any]], expr: Any, options: ParseOptions | None, diags: list[Diagnostic],
          last_lines: dict[str, Any] | None) -> list[Any]:
    """One polars pass over stream inputs (compressed files, Exchange CSV): parsed frames of
    the lines matching ``expr``."""
    from logtrace.input import reader
    from logtrace.containers.stamps import assign_years
    from logtrace.parsing.rules import FileContext

    frames: list[Any] = []
    for f, parser, _ctx in inputs:
        ctx = FileContext(f.path, f.mtime, options or ParseOptions())
        if reads_whole_files(parser):  # whole-file containers (Exchange CSV) need their header
            frames.extend(parser.parse_file(f, ctx, diags, None))
            continue
        for lines in reader.frames(f, diags):
            lines = assign_years(lines, ctx.years)
            if last_lines is not None and lines.height:
                last_lines[f.path] = (parser, ctx, lines.tail(1))
            hit = lines.filter(expr)
            if hit.height:
                frames.append(parser.parse_frame(hit, ctx))
    return frames


def linked_ids(start: set[str], pairs: Any) -> set[str]:
    """Every ID connected to ``start`` through ``(queue_id, next_queue_id)`` pairs (a list of tuples, or a
    DataFrame of two such columns), in either direction.

    No cap: a capped closure silently dropped the links to bounce notifications on large logs.
    A breadth-first search in polars, one semi-join per hop: no Python object per pair (8M lines:
    786k pairs took ~400 MB as a dict of sets)."""
    import polars as pl

    if not isinstance(pairs, pl.DataFrame):
        pairs = pl.DataFrame(list(pairs), schema={"a": pl.String, "b": pl.String}, orient="row")
    a, b = pairs.columns[:2]
    edges = pl.concat([pairs.select(pl.col(a).alias("x"), pl.col(b).alias("y")),
                       pairs.select(pl.col(b).alias("x"), pl.col(a).alias("y"))])
    seen = pl.Series("y", sorted(start), dtype=pl.String)
    frontier = seen
    while frontier.len():
        reached = edges.filter(pl.col("x").is_in(frontier.implode())).get_column("y").unique()
        frontier = reached.filter(~reached.is_in(seen.implode()))
        seen = pl.concat([seen, frontier])
    return set(seen.to_list())


def _log_end(last_lines: dict[str, Any]) -> datetime | None:
    ends = []
    for parser, ctx, tail in last_lines.values():
        try:
            df = parser.parse_frame(tail, ctx)
        except Exception:  # noqa: BLE001 - the end marker is a nicety, never fatal
            continue
        ts = df["ts"].drop_nulls()
        if len(ts):
            ends.append(ts[-1])
    return max(ends) if ends else None


MAX_ROUNDS = 12
#: an org-wide message ID (Exchange's network-message-id): a GUID, matched without regard to case
GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def _spool_stdin(paths: Sequence[str]) -> tuple[list[str], str | None]:
    """``follow`` reads its inputs several times: keep stdin in a temporary file."""
    import sys
    import tempfile

    if "-" not in paths:
        return list(paths), None
    tmp = tempfile.NamedTemporaryFile(prefix="logtrace-stdin-", delete=False)  # noqa: SIM115
    with tmp:
        while chunk := sys.stdin.buffer.read(1 << 20):
            tmp.write(chunk)
    return [tmp.name if p == "-" else p for p in paths], tmp.name


def follow(paths: Sequence[str], *, queue_id: str | None = None, message_id: str | None = None,
           sender: str | None = None, recipient: str | None = None, mta: str = "auto",
           options: ParseOptions | None = None, idle: Any = None) -> FollowResult:
    """Follow one message (by queue ID, Message-ID, sender or recipient) through the logs.

    Returns one :class:`MessageStory` per distinct message found (a reused short queue ID,
    or several messages from one sender, give several). Raises :class:`FollowError` only
    for an invalid query; an ID that is not found gives an empty ``stories`` list.

    ``idle``: called once while the first search may still be running in another process
    (the CLI imports its renderer then).

    Search: round 1 finds the lines naming the query; every later round searches for the IDs
    (next hops, re-injections, notifications, the Message-ID) that the previous round's lines
    revealed and that were not searched yet, until nothing new turns up. Plain files are
    searched with ``mmap`` + ``bytes.find`` (:mod:`logtrace.input.search`), compressed ones and
    stdin with a polars literal filter.
    """
    import os

    from logtrace.input.reader import is_journal_json
    from logtrace.input.search import PlainLog
    from logtrace.parsing.scan import open_inputs
    from logtrace.trace.search import Found, Search

    if sum(x is not None for x in (queue_id, message_id, sender, recipient)) != 1:
        raise FollowError("give exactly one of: a queue ID, --message-id, --from, --to")
    if queue_id is not None:
        kind, value = "id", queue_id.strip()
        if GUID.fullmatch(value):  # a network-message-id: every hop of the message, any server
            kind = "org"  # (or a GUID-shaped queue ID: Exchange Online's MessageTraceId)
        elif not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z-]{3,40}", value):
            raise FollowError(f"'{queue_id}' does not look like a queue ID",
                              hint="Postfix IDs look like 4F8B23C0F2, Exim IDs like 1tWxyz-000ABC-3F; use --message-id for <…@…>")
    elif message_id is not None:
        kind, value = "mid", message_id.strip().strip("<>")
    elif sender is not None:
        kind, value = "from", sender.strip().strip("<>")
    else:
        kind, value = "to", (recipient or "").strip().strip("<>")
    if not value:
        raise FollowError("empty query")
    paths, spooled = _spool_stdin(paths)
    result = ScanResult()
    logs: list[PlainLog] = []
    try:
        streamed = []
        for f, parser, ctx in open_inputs(paths, mta, options, None, result, True):
            if reads_whole_files(parser) or is_journal_json(f):  # whole-file containers (Exchange CSV) need their
                streamed.append((f, parser, ctx))  # header, journald JSON its records turned into lines (issue 18): polars
                continue
            log = PlainLog.open(f.path, parser, ctx) if f.compression is None else \
                PlainLog.spool(f, parser, ctx, result.diagnostics)
            if log is not None:
                logs.append(log)
        search = Search(logs)
        events: list[Event] = []
        seen: set[tuple[str | None, int | None]] = set()  # lines of whole-file inputs already kept
        done: set[str] = set()
        last_lines: dict[str, Any] = {}
        needles = [value]
        rounds = 0
        span: list[Found] = []
        anchors: dict[str, list[Found]] = {}
        mids: set[str] = set()
        while needles and rounds < MAX_ROUNDS:
            got: list[Found] = []
            if rounds == 0:
                if idle is not None:
                    idle()
                got = search.query(value, kind in ("from", "to", "org"))
            else:
                for nd in needles:
                    got += search.reveal_message_id(nd, span) if nd in mids else search.reveal(nd, anchors.get(nd, []))
            fresh = [g.rec for g in got if isinstance(g.rec, Event)]
            span += [g for g in got if isinstance(g.rec, Event)]
            if streamed:
                import polars as pl

                expr = _needle_expr(kind, value) if rounds == 0 else pl.col("line").str.contains_any(needles)
                frames = _pass(streamed, expr, options, result.diagnostics, last_lines if rounds == 0 else None)
                if frames:
                    rows = rows_to_events(pl.concat(frames, how="vertical_relaxed"))
                    fresh += [e for e in rows if (e.file, e.line_no) not in seen]
                    seen |= {(e.file, e.line_no) for e in rows}
            events += fresh
            done |= set(needles)
            found = _seed(fresh, kind, value) if rounds == 0 else fresh
            ids: set[str] = set()
            where = {id(g.rec): g for g in got}
            for e in found:
                for x in (e.queue_id, e.next_queue_id):
                    if x:
                        ids.add(x)
                        if id(e) in where:
                            anchors.setdefault(x, []).append(where[id(e)])
                if rounds == 0 and e.message_id:  # the Message-ID is the same on every hop: one search finds them all
                    ids.add(e.message_id)
                    mids.add(e.message_id)
                if rounds == 0 and (org := org_message_id(e)):
                    ids.add(org)
            needles = sorted(ids - done)  # all of them: a cap here would drop hops silently
            rounds += 1
        if kind in ("id", "mid", "org"):  # a RCPT rejected in the session that accepted the message (Exim ACL)
            accepts = [g for g in span if isinstance(g.rec, Event) and g.rec.kind == EventKind.ACCEPT]
            events += [g.rec for g in search.session_lines(accepts) if isinstance(g.rec, Event)]
        if needles:  # the chain goes on past MAX_ROUNDS hops: say so, never stop silently (issue 15)
            result.diagnostics.append(Diagnostic(
                "warning", f"stopped following after {MAX_ROUNDS} rounds of linked IDs; {len(needles)} more not searched "
                f"({', '.join(needles[:5])}{', …' if len(needles) > 5 else ''})",
                hint=f"follow one of them to continue: logtrace follow {needles[0]} FILES"))
        log_end = _log_end(last_lines)
        for log in logs:
            tail = log.last_line()
            if tail is not None:
                log.set_year(tail)
                ev = log.parser.parse_line(tail, log.ctx, 0)
                if ev.ts is not None and (log_end is None or ev.ts > log_end):
                    log_end = ev.ts
    finally:
        for log in logs:
            log.close()
        if spooled:
            os.unlink(spooled)
    if spooled:
        events = [dataclasses.replace(e, file="-") if e.file == spooled else e for e in events]
    corr = Correlator(events, log_end=log_end)
    stories = _stories(corr, events, kind, value)
    return FollowResult(query=value, stories=stories, diagnostics=result.diagnostics, failed_inputs=result.failed_inputs,
                        log_end=corr.log_end, passes=rounds, lines_kept=len(events))


def _seed(events: list[Event], kind: str, value: str) -> list[Event]:
    """Round 1: keep the lines that really are about the query (a literal hit can be a substring)."""
    low = value.lower()
    out = []
    for e in events:
        if kind == "id" and value not in (e.queue_id, e.next_queue_id):
            continue
        if kind == "from" and (e.sender or "").lower() != low:
            continue
        if kind == "to" and low not in ((e.recipient or "").lower(), (e.orig_recipient or "").lower()):
            continue
        if kind == "mid" and e.message_id != value:
            continue
        if kind == "org" and low not in (org_message_id(e), (e.queue_id or "").lower(), (e.next_queue_id or "").lower()):
            continue
        out.append(e)
    return out


def _stories(corr: Correlator, events: list[Event], kind: str, value: str) -> list[MessageStory]:
    low = value.lower()
    if kind == "id":
        targets = corr.find(value)
    elif kind == "mid":
        targets = [lc for lc in corr.lifecycles if lc.message_id == value]
    elif kind == "org":
        targets = [lc for lc in corr.lifecycles if lifecycle_org_id(lc) == low or lc.queue_id.lower() == low]
    elif kind == "from":
        targets = [lc for lc in corr.lifecycles if (lc.sender or "").lower() == low]
    else:
        targets = [lc for lc in corr.lifecycles
                   if any(low in ((e.recipient or "").lower(), (e.orig_recipient or "").lower()) for e in lc.events)]
    roots: dict[int, Any] = {}
    for lc in targets:
        root = corr.root_of(lc)
        roots.setdefault(id(root), root)
    stories = [corr.story(r, value) for r in sorted(roots.values(), key=lambda r: (r.start is None, r.start or 0))]  # type: ignore[operator]
    if kind in ("to", "from"):
        rej = [e for e in events if e.kind in (EventKind.REJECT, EventKind.DISCARD) and not e.queue_id and (
            (kind == "to" and (e.recipient or "").lower() == low) or (kind == "from" and (e.sender or "").lower() == low))]
        stories += rejected_stories(rej, value)
        if kind == "to":  # keep only the asked-for recipient in each story
            for s in stories:
                s.recipients = [r for r in s.recipients if r.recipient.lower() == low] or s.recipients
    return stories


def story_rows(s: MessageStory) -> list[dict[str, Any]]:
    """One event-like dict per recipient verdict, for ``--where`` on follow/bounces listings."""
    o = s.origin
    return [{"queue_id": o.queue_id, "host": r.host, "sender": o.sender, "recipient": r.recipient, "dsn": r.dsn,
             "reply_text": r.reply, "status": r.verdict, "kind": r.verdict, "message_id": o.message_id, "mta": o.mta,
             "relay_host": r.relay, "ts": r.when or o.start, "delay_s": r.delay_s, "next_queue_id": r.next_queue_id}
            for r in s.recipients]


def filter_stories(stories: list[MessageStory], expr: str) -> list[MessageStory]:
    """Keep stories with at least one recipient row matching ``--where`` (``status`` is the verdict)."""
    from logtrace.query import compile_where, evaluate

    compile_where(expr)  # syntax errors surface even when nothing is found
    return [s for s in stories if any(evaluate(expr, row) for row in story_rows(s))]


# ------------------------------------------------------------------ JSON

def story_to_json(s: MessageStory) -> dict[str, Any]:
    """The documented, stable ``follow --json`` message object."""
    chain = []
    for lc, how, frm in s.chain:
        item: dict[str, Any] = {"host": lc.host, "mta": lc.mta, "queue_id": lc.queue_id, "link": how,
                                "instance": lc.instance, "generation": lc.generation,
                                "first_seen": _iso(lc.start), "last_seen": _iso(lc.end)}
        if frm is not None:
            item["from_queue_id"] = frm.queue_id
        chain.append(item)
    origin = s.origin
    mid = origin.message_id
    return {
        "query": s.query,
        "chain": chain,
        "sender": origin.sender,
        "message_id": mid or None,  # without <> in data (0.3.0)
        "accepted": _iso(origin.start),
        "recipients": [_rv(r) for r in s.recipients],
        "notes": s.notes,
        "delivered": s.delivered,
    }


def _rv(r: Any) -> dict[str, Any]:
    return {
        "recipient": r.recipient, "verdict": r.verdict, "summary": r.summary, "host": r.host, "queue_id": r.queue_id,
        "dsn": r.dsn, "reply": r.reply, "relay": r.relay, "next_queue_id": r.next_queue_id, "when": _iso(r.when),
        "delay_s": r.delay_s, "attempts": r.attempts, "first_try": _iso(r.first_try), "last_try": _iso(r.last_try),
        "evidence": r.evidence, "ndr": r.ndr,
    }


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None

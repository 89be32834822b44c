"""Picking ``bounces``' candidate messages with a narrow streaming fold, then reading only their lines.

Pass 1 (:func:`select_candidates`) asks the frame engine only for the rows of rules that name a
queue ID (or a session a reject belongs to), and folds each block into a few flags per
``(host, queue ID)`` (a problem, a start, an attempt), the ``(queue ID, next queue ID)`` links,
each host's last stamp and the line accounting. Pass 2 (:func:`read_candidates`) reads the inputs
again keeping only the lines that name a selected ID (:func:`naming_any`: one Aho-Corasick
``contains_any`` for a few IDs, a lookup of each line's ID-like runs for many) and parses those fully. What a message's recipients became is decided afterwards by the
:class:`~logtrace.trace.correlator.Correlator` and its one decision table, as before.

Memory: one block, plus a few dozen bytes per message and link, plus the selected messages' events.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from logtrace.parsing.tags import Tag, default_index, tagged
from logtrace.reports.state import Counter

PROBLEM_KINDS = ("bounce", "expire", "defer", "delete", "hold", "discard", "reject")
SESSION_KEYS = ["host", "pid", "sender"]


@dataclass
class Selection:
    accounting: Any = None
    host_end: dict[str | None, datetime] = field(default_factory=dict)
    log_end: datetime | None = None
    per: Any = None  #: host, queue_id, problem, started, attempts (None: nothing read)
    pairs: Any = None  #: queue_id, next_queue_id: the links (a DataFrame; None: nothing read)
    accepts: Any = None  #: queue IDs whose session logged a session-scoped reject (``include_rejected``)
    q_end: datetime | None = None  #: the last stamp of a line naming a queue ID
    scoped_lines: dict[str, list[int]] = field(default_factory=dict)  #: file → lines of session-scoped rejects


def bounces_narrow(junk: bool = False) -> Any:
    """The rules ``bounces`` needs rows of: those naming a queue ID or next queue ID, and session-scoped ones
    (``junk``: with the ``detail`` column, which names a mailbox folder)."""
    from logtrace.parsing.rules import Narrow

    idx = default_index()

    def keep(rule: Any) -> bool:
        groups = {g.split("__", 1)[0] for g in re.compile(rule.pattern).groupindex}
        tags = set(idx.plain.get(rule.id, ())) | {t for _, _, ts in idx.by.get(rule.id, ()) for t in ts}
        return bool(groups & {"queue_id", "next_queue_id"}) or Tag.SESSION_SCOPED in tags

    fields = {f for lst in idx.by.values() for f, _, _ in lst}
    return Narrow(keep, frozenset({"queue_id", "next_queue_id", "sender", "pid"} | ({"detail"} if junk else set())) | fields)


def junk_delivery(names: frozenset[str]) -> Any:
    """Rows saving a message into a junk folder (Tag.MAILBOX, ``detail`` the folder): the frame form
    of :func:`logtrace.trace.verdicts.is_junk` for the folder ``names`` (lower case)."""
    import polars as pl

    d = pl.col("detail").str.strip_chars().str.to_lowercase()
    junk = (d.is_in(list(names)) | d.str.split("/").list.last().is_in(list(names))
            | d.str.split(".").list.last().is_in(list(names)))
    return ((pl.col("kind") == "deliver") & tagged(Tag.MAILBOX) & junk).fill_null(False)


def flags(q: Any, junk: frozenset[str] | None = None) -> Any:
    """Per ``(host, queue_id)`` counts of problem, start and attempt rows (with ``junk`` folder
    names, a save into one of them is a problem too: ``bounces --junk``)."""
    import polars as pl

    k = pl.col("kind")
    problem = k.is_in(PROBLEM_KINDS) | tagged(Tag.FILTER_DISCARD).fill_null(False)  # a filter's own "Blocked" line too
    if junk and "detail" in q.columns:
        problem = problem | junk_delivery(junk)
    return q.group_by("host", "queue_id").agg(
        problem=problem.sum(), started=k.is_in(["accept", "queued"]).sum(),
        attempts=k.is_in(["deliver", "defer", "bounce", "expire", "discard"]).sum())


def per_message(ev: Any, junk: frozenset[str] | None = None) -> Any:
    """Flags (booleans) per ``(host, queue_id)`` of rows that name a queue ID."""
    import polars as pl

    return flags(ev, junk).with_columns(pl.col("problem", "started", "attempts") > 0)


def session_accepts(accepts: Any, scoped: Any) -> Any:
    """Accepts whose session (host, pid, sender) logged a session-scoped reject."""
    return accepts.join(scoped.select(SESSION_KEYS).unique(), on=SESSION_KEYS, how="semi", nulls_equal=True)


#: bytes of log read per block by pass 1 (two blocks are parsed at once there). Measured on 8M generated lines
#: with the CLI's allocator settings: 16 MiB blocks peak at 587 MiB in pass 1, 12 MiB at 498 MiB, in the same time
PASS1_BLOCK_BYTES = 12 << 20


def select_candidates(paths: Sequence[str], *, mta: str = "auto", options: Any = None, result: Any = None,
                      include_rejected: bool = False, junk: frozenset[str] | None = None) -> Selection:
    """Pass 1: the narrow fold (see the module docstring); ``junk``: folder names whose saves are problems."""
    import polars as pl

    from logtrace.parsing.frames import detach
    from logtrace.parsing.scan import accounting, parse_threads, scan_frames

    session = tagged(Tag.SESSION_SCOPED) & (pl.col("kind") == "reject")
    sel = Selection()
    acc_parts: list[Any] = []
    ends: list[Any] = []
    # merged as they grow (geometrically: O(block) per block), spread over hash buckets past 200k keys;
    # merging the whole table every block had cost O(state) per block and, since a merged table's keys are
    # views into the tables before it, kept every generation's strings: 8M lines peaked at 0.83 GB here
    fl = Counter(("host", "queue_id"), ("problem", "started", "attempts"), buckets=16)
    pairs = Counter(("queue_id", "next_queue_id"), (), buckets=16)
    accepts: list[Any] = []
    scoped: list[Any] = []
    seen = False
    # the per-block fold here is light: the caller mostly waits for the parse (8M lines: 52 -> 46 s with a
    # thread per CPU)
    for df in scan_frames(paths, mta=mta, options=options, result=result, keep_going=True, narrow=bounces_narrow(bool(junk)),
                          threads=parse_threads(caller_busy=False), chunk_bytes=PASS1_BLOCK_BYTES):
        seen = True
        acc_parts.append(accounting(df))
        ends.append(detach(df.filter(pl.col("ts").is_not_null()).group_by("host").agg(pl.col("ts").max())))
        q = df.filter(pl.col("queue_id").is_not_null())
        if q.height:
            fl.add(flags(q, junk))  # copied: what outlives the block holds no view into its lines
            pairs.add(q.filter(pl.col("next_queue_id").is_not_null()).select("queue_id", "next_queue_id").unique())
            end = q.get_column("ts").max()
            sel.q_end = end if sel.q_end is None or (end is not None and end > sel.q_end) else sel.q_end
            if include_rejected:
                accepts.append(detach(q.filter(pl.col("kind") == "accept").select(*SESSION_KEYS, "queue_id")))
        sc = df.filter(pl.col("queue_id").is_null() & session.fill_null(False))
        if sc.height:
            scoped.append(detach(sc.select(*SESSION_KEYS)))
            for f, lines in sc.group_by("file").agg(pl.col("line_no")).iter_rows():
                sel.scoped_lines.setdefault(f, []).extend(lines)
    if acc_parts:
        sel.accounting = (pl.concat(acc_parts).group_by("program").agg(pl.all().sum())
                          .sort("unrecognized", "parsed", descending=True))
    if ends:
        sel.host_end = dict(pl.concat(ends, how="vertical_relaxed").group_by("host").agg(pl.col("ts").max()).rows())
    sel.log_end = max(sel.host_end.values(), default=None)
    if not seen:
        return sel
    per, links = fl.merged(), pairs.merged()
    sel.per = (per.with_columns(pl.col("problem", "started", "attempts") > 0) if per is not None
               else pl.DataFrame(schema={"host": pl.String, "queue_id": pl.String, "problem": pl.Boolean,
                                         "started": pl.Boolean, "attempts": pl.Boolean}))
    sel.pairs = links if links is not None else pl.DataFrame(schema={"queue_id": pl.String, "next_queue_id": pl.String})
    if include_rejected and accepts and scoped:
        sel.accepts = session_accepts(pl.concat(accepts, how="vertical_relaxed"), pl.concat(scoped, how="vertical_relaxed"))
    return sel


#: the characters a queue ID is a run of in a line (Postfix's hex and long IDs, Exim's dashed ones, Dovecot's
#: base64 session IDs); every dialect's ``queue_id`` is a whole such run of its line (``tests/test_bounces_fold.py``
#: holds it on every rule sample, the public corpus and generated logs)
ID_RUN = "[0-9A-Za-z+/-]"
#: up to this many IDs one Aho-Corasick ``contains_any`` is the cheaper filter; beyond, its cost grows
#: with the IDs (1M lines: 0.2 s at 100 IDs, 1.2 s at 8,000, 2.7 s at 75,000) and a lookup of each
#: line's runs (~0.4-0.6 s whatever the number) wins
CONTAINS_ANY_IDS = 2000


def naming_any(wanted: Sequence[str]) -> Any:
    """Expression over ``line``: true on every line that names one of the queue IDs ``wanted``. An ID made
    of :data:`ID_RUN` characters counts where it is a whole run of them; another (Dovecot's
    ``<session>:R2`` recipient IDs) anywhere; with up to :data:`CONTAINS_ANY_IDS` IDs, any ID anywhere.
    Either way a superset of the lines whose parsed ``queue_id`` is wanted, which pass 2 keeps."""
    import polars as pl

    if len(wanted) <= CONTAINS_ANY_IDS:
        return pl.col("line").str.contains_any(list(wanted)) if wanted else pl.lit(False)
    whole = re.compile(ID_RUN + "+")
    plain = [w for w in wanted if whole.fullmatch(w)]
    other = [w for w in wanted if not whole.fullmatch(w)]
    e = pl.col("line").str.contains_any(other) if other else pl.lit(False)
    if plain:
        runs = pl.col("line").str.extract_all(f"{ID_RUN}{{{min(len(w) for w in plain)},}}")  # maximal runs: greedy, leftmost
        e = e | runs.list.eval(pl.element().is_in(pl.Series(plain, dtype=pl.String).implode())).list.any().fill_null(False)
    return e


#: bytes of log read per block by pass 2. Its filter lists every ID-like run of every line of a block
#: (:func:`naming_any`), a transient that grows with the block; the events it keeps are the same. Measured
#: on 8M lines, pass 2 with 16 / 8 / 6 / 4 MiB blocks: peak 736 / 695 / 659 / 632 MiB, 10.4 / 10.3 / 11 / 12.2 s
PASS2_BLOCK_BYTES = 6 << 20


def read_candidates(paths: Sequence[str], ids: set[str], scoped_lines: dict[str, list[int]], *, mta: str = "auto",
                    options: Any = None) -> tuple[list[Any], Any, Any]:
    """Pass 2: (the selected queue IDs' events in input order, the sessions ``(host, pid, sender)`` that
    accepted one of them, the session-scoped reject rows). Each block's rows become events at once: the
    whole frame beside its events had been the peak (8M lines: 117 MB of rows, 0.52M events)."""
    import polars as pl

    from logtrace.parsing.frames import detach
    from logtrace.parsing.rules import empty_frame
    from logtrace.parsing.scan import ScanResult, parse_threads, scan_frames
    from logtrace.trace.follow import rows_to_events

    wanted = sorted(ids)
    naming = naming_any(wanted)
    wanted_s = pl.Series("queue_id", wanted, dtype=pl.String).implode()  # built once, not from the list every block

    def only(path: str) -> Any:
        e = naming
        lines = scoped_lines.get(path)
        return e | pl.col("line_no").is_in(lines) if lines else e

    session = tagged(Tag.SESSION_SCOPED) & (pl.col("kind") == "reject")
    events: list[Any] = []
    caches: dict[str, dict[Any, Any]] = {}
    sessions, scoped = [], []
    for df in scan_frames(paths, mta=mta, options=options, result=ScanResult(), keep_going=True, line_filter=only,
                          filter_native=False, threads=parse_threads(), chunk_bytes=PASS2_BLOCK_BYTES):
        sub = df.filter(pl.col("queue_id").is_not_null() & pl.col("queue_id").is_in(wanted_s))
        if sub.height:
            events.extend(rows_to_events(sub, caches))
            # what outlives the block holds no view into its lines (else every block stayed in memory)
            sessions.append(detach(sub.filter(pl.col("kind") == "accept").select(SESSION_KEYS).unique()))
        sc = df.filter(pl.col("queue_id").is_null() & session.fill_null(False))
        if sc.height:
            scoped.append(detach(sc))
    accepted = (pl.concat(sessions, how="vertical_relaxed").unique() if sessions
                else empty_frame().select(SESSION_KEYS))
    return events, accepted, (pl.concat(scoped, how="vertical_relaxed") if scoped else empty_frame())

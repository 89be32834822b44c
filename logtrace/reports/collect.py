"""Collecting a summary's events: scan inputs chunk by chunk and keep (or fold) only the narrow rows.

:func:`collect_events` drives the streaming fold: per chunk it counts lines (accounting), applies
``--since``/``--until``/``--where``, widens the period and passes on only the rows and columns a
report needs (:func:`narrow`; the frame engine is asked for them with :func:`summary_narrow`). It also decides whose counting rules ``totals`` follow, from
the events' rule tags (:func:`counting_tally`), never from parser names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from logtrace.parsing.tags import Tag, default_index, tagged, tagged_any

#: columns a summary keeps (besides the global ``seq``)
COLS = ("ts", "host", "mta", "program", "pid", "kind", "rule", "status", "queue_id", "next_queue_id", "sender", "orig_recipient",
        "recipient", "relay_host", "relay_ip", "client_host", "client_ip", "dsn", "reply_text", "size", "delay_s",
        "delay_before_qmgr_s", "delay_in_qmgr_s", "delay_conn_s", "delay_xmit_s", "detail")
KEEP_KINDS = ("accept", "queued", "deliver", "defer", "bounce", "expire", "reject", "reject_warning", "hold",
              "discard", "warning", "fatal", "panic")
CONN_KINDS = ("connect", "disconnect")

#: ``Summary.counting`` values: whose Grand totals ``totals`` follows
PFLOGSUMM_COUNTING = "pflogsumm"
EXIMSTATS_COUNTING = "eximstats"


class Collected(NamedTuple):
    events: Any  #: narrow events with a global ``seq`` (polars DataFrame)
    accounting: Any  #: polars DataFrame: program, parsed, other, unrecognized
    period: dict[str, Any]
    counting: str  #: ``eximstats`` when every counted event is eximstats-tagged, else ``pflogsumm``
    mixed: bool = False  #: both pflogsumm-tagged and eximstats-tagged events: both grand totals are reported


#: tags of rows a summary keeps whatever their kind
NARROW_TAGS = frozenset({Tag.DELIVERY_STATUS, Tag.CHECKS, Tag.POSTSCREEN, Tag.SMTP_FAILURE, Tag.EVENT_ID, Tag.MAILBOX,
                         Tag.FILTER_VERDICT, Tag.EXIMSTATS_COMPLETED,
                         Tag.EXIMSTATS_CALL_DROPPED, Tag.EXIMSTATS_NOTE})


def summary_narrow(smtpd_stats: bool) -> Any:
    """What a summary asks of the frame engine (:class:`~logtrace.parsing.rules.Narrow`): the rules
    whose rows :func:`narrow` can keep (by kind, by any kind their ``kind_by`` maps to, or by tag),
    and :data:`COLS` plus the fields conditional tags look at."""
    from logtrace.parsing.rules import Narrow

    idx = default_index()
    kinds = set(KEEP_KINDS) | (set(CONN_KINDS) if smtpd_stats else set())

    def keep(rule: Any) -> bool:
        ks = {rule.kind.value} | ({k.value for _, k in rule.kind_by[1]} if rule.kind_by else set())
        tags = set(idx.plain.get(rule.id, ())) | {t for _, _, ts in idx.by.get(rule.id, ()) for t in ts}
        return bool(ks & kinds) or bool(tags & NARROW_TAGS)

    fields = {f for lst in idx.by.values() for f, _, _ in lst}
    return Narrow(keep, frozenset(COLS) | fields | {"detail", "status"})


def narrow(df: Any, smtpd_stats: bool) -> Any:
    """The rows and columns a summary needs from one chunk of events."""
    import polars as pl

    keep = (pl.col("kind").is_in(KEEP_KINDS)
            | tagged_any(sorted(NARROW_TAGS - {Tag.EXIMSTATS_NOTE}))
            | (tagged(Tag.EXIMSTATS_NOTE) & pl.col("detail").str.starts_with("SA: ")))
    if smtpd_stats:
        keep = keep | pl.col("kind").is_in(CONN_KINDS)
    return df.filter(keep).select("seq", *COLS)


def instance_filter(names: Sequence[str]) -> Any:
    """Rows to keep for ``--syslog-name``: every row not counted by pflogsumm's rules, and the
    Postfix rows whose program is ``NAME/…/daemon`` for one of ``names``."""
    import re

    import polars as pl

    alt = "|".join(re.escape(n.strip("/")) for n in names)
    return ~tagged(Tag.PFLOGSUMM).fill_null(False) | pl.col("program").fill_null("").str.contains(rf"^(?:{alt})(?:/[\w.-]+)*/[\w.-]+$")


def counting_tally(df: Any) -> tuple[int, int, int]:
    """(counted events, of those the eximstats-tagged ones, the pflogsumm-tagged ones) in one chunk.

    An event counts when a registered rule produced it and its kind is not ``other``: blank
    lines, other programs, unrecognized lines and the pure ``other`` lines of helper dialects
    (amavis, Dovecot) do not vote.
    """
    import polars as pl

    idx = default_index()
    if not idx.conditional(Tag.EXIMSTATS) and not idx.conditional(Tag.PFLOGSUMM):  # by rule: one pass over the chunk
        x_rules, p_rules = set(idx.rules(Tag.EXIMSTATS)), set(idx.rules(Tag.PFLOGSUMM))
        n = x = p = 0
        for rule, other, count in df.group_by("rule", other=pl.col("kind") == "other").agg(n=pl.len()).iter_rows():
            if rule in idx.plain and other is False:
                n, x, p = n + count, x + count * (rule in x_rules), p + count * (rule in p_rules)
        return n, x, p
    dialect = (pl.col("rule").is_in(list(idx.plain)) & (pl.col("kind") != "other")).fill_null(False)
    n, x, p = df.select(n=dialect.sum(), x=(dialect & tagged(Tag.EXIMSTATS)).fill_null(False).sum(),
                        p=(dialect & tagged(Tag.PFLOGSUMM)).fill_null(False).sum()).row(0)
    return int(n or 0), int(x or 0), int(p or 0)


def collect_events(paths: Sequence[str], *, mta: str = "auto", options: Any = None, since: datetime | None = None,
                   until: datetime | None = None, where: str | None = None, smtpd_stats: bool = False,
                   result: Any = None, sink: Any = None, chunk_bytes: int | None = None,
                   syslog_name: Sequence[str] = ()) -> Collected:
    """Scan inputs chunk by chunk → :class:`Collected` (narrow events, accounting, period, counting).

    Memory is bounded by the narrow frame: header, TLS, connect (unless ``smtpd_stats``) and
    other programs' lines are dropped per chunk, after line accounting has counted them.
    The counting choice looks at every event read, before ``since``/``until``/``where``.
    With ``sink`` (a :class:`~logtrace.reports.fold.SummaryFold`), each chunk's narrow rows are
    folded into it instead of kept: ``events`` is then None and memory stays flat.
    ``syslog_name`` (pflogsumm's ``--syslog-name``): only the Postfix instances of these syslog
    names are reported (``postfix`` keeps ``postfix/smtpd`` and ``postfix/submission/smtpd``, not
    ``postfix-out/smtp``); lines of other instances are still read and counted in the accounting.
    """
    import polars as pl

    from logtrace.parsing.scan import ScanResult, accounting, scan_frames

    result = result if result is not None else ScanResult()
    where_expr = None
    if where:
        from logtrace.query import compile_where  # written alongside; imported only when --where is used

        where_expr = compile_where(where)
    parts: list[Any] = []
    accs: list[Any] = []
    offset = 0
    first = last = None
    span: list[Any] = [None, None]  # the logs' own first and last time, before --since/--until/--where (issue 18)
    voters = exim_votes = pf_votes = 0
    cur_file, base, file_lines = None, 0, 0
    spec = summary_narrow(smtpd_stats) if where_expr is None else None
    for chunk in scan_frames(paths, mta=mta, options=options, result=result, keep_going=True, narrow=spec,
                             chunk_bytes=chunk_bytes):
        accs.append(accounting(chunk))
        n_dialect, n_exim, n_pf = counting_tally(chunk)
        voters, exim_votes, pf_votes = voters + n_dialect, exim_votes + n_exim, pf_votes + n_pf
        if (since is not None or until is not None) and chunk.height:
            lo, hi = chunk.select(lo=pl.col("ts").min(), hi=pl.col("ts").max()).row(0)
            span = [min(x for x in (span[0], lo) if x is not None) if lo or span[0] else None,
                    max(x for x in (span[1], hi) if x is not None) if hi or span[1] else None]
        if syslog_name:
            chunk = chunk.filter(instance_filter(syslog_name))
        if since is not None:
            chunk = chunk.filter(pl.col("ts") >= since)
        if until is not None:
            chunk = chunk.filter(pl.col("ts") < until)
        if where_expr is not None:
            chunk = chunk.filter(where_expr)
        n = chunk.height
        if not n:
            continue
        lo, hi = chunk.select(lo=pl.col("ts").min(), hi=pl.col("ts").max()).row(0)
        first = lo if first is None or (lo is not None and lo < first) else first
        last = hi if last is None or (hi is not None and hi > last) else last
        # seq: position in the whole input, from the line number (a narrowed chunk is not sorted)
        top_line = chunk.get_column("line_no").max()
        if cur_file is not None and chunk.get_column("file")[0] != cur_file:
            base += file_lines + 1
            file_lines = 0
        cur_file = chunk.get_column("file")[0]
        part = narrow(chunk.with_columns(seq=pl.col("line_no").cast(pl.Int64) + base), smtpd_stats).sort("seq")
        file_lines = max(file_lines, int(top_line or 0))
        if sink is not None:
            sink.add(part)
        else:
            parts.append(part)
        offset += n
    from logtrace.parsing.rules import empty_frame

    ev = (None if sink is not None else pl.concat(parts, how="vertical_relaxed") if parts
          else narrow(empty_frame().with_row_index("seq"), smtpd_stats).with_columns(pl.col("seq").cast(pl.Int64)))
    acc = (pl.concat(accs).group_by("program").agg(pl.col("parsed", "other", "unrecognized").sum())
           .sort(["unrecognized", "parsed", "other", "program"], descending=[True, True, True, False])
           if accs else pl.DataFrame(schema={"program": pl.String, "parsed": pl.UInt32, "other": pl.UInt32, "unrecognized": pl.UInt32}))
    period = {"first": first, "last": last, "since": since, "until": until}
    if span[0] is not None:
        period["log_first"], period["log_last"] = span
    # eximstats' totals when every counted event is eximstats-tagged; pflogsumm's otherwise. A central
    # file with both (Postfix and Exim) gets both: pflogsumm's over the rest, eximstats' over Exim's.
    counting = EXIMSTATS_COUNTING if voters and voters == exim_votes else PFLOGSUMM_COUNTING
    return Collected(ev, acc, period, counting, mixed=bool(exim_votes and pf_votes))

"""Batch summaries of mail logs: a pflogsumm-class report as polars DataFrames and dicts.

:func:`summarize` reads inputs chunk by chunk through :func:`logtrace.parsing.scan.scan_frames`,
keeps only the narrow rows and columns the report needs (lifecycle events, not headers, TLS
or other programs' noise), and computes every section with vectorized polars expressions.
Nothing here prints or imports rich; :mod:`logtrace.cli.report` renders a :class:`Summary`.

Two families of counts, kept apart on purpose:

* ``totals`` follow pflogsumm 1.1.5's counting rules and key names, so the numbers can be
  checked against it (``tests/test_pflogsumm_crosscheck.py``). Like pflogsumm, queue IDs are
  keyed without the host, sizes come from the first ``qmgr from=<…>, size=`` line of a queue
  ID, and a message that passes a content filter is counted twice (pflogsumm FAQ §14).
* ``unique`` de-duplicates: a delivery to loopback (or to another host whose log is also
  given) whose ``next_queue_id`` shows up as a newly received queue ID is one message, so the
  re-injected copy and the hand-off delivery are not counted again.

Known, deliberate differences from pflogsumm (pinned in the cross-check test):

* ``NOQUEUE: client=`` lines are not counted as received (no message was queued);
* multi-instance syslog names (``postfix-out/smtpd``) are counted (pflogsumm skips them).

Exim logs (every input read by the ``exim`` parser) get ``totals`` in eximstats' "Grand total
summary" instead (Debian's eximstats 1.61; ``tests/test_eximstats_crosscheck.py``), keys
:data:`EXIM_TOTAL_KEYS`, ``counting`` ``"eximstats"``. eximstats keys its state by message ID
and forgets a message at ``Completed``; logtrace does the same:

* ``received``: ``<=`` lines (every one, a repeated ``<=`` counts again; not ``(=``);
  ``bytes_received``: their ``S=`` (0 when missing); ``received_hosts``: distinct first word
  after ``H=`` (``unknown`` is one host), ``[ip]`` when only an address is logged, ``local``
  without ``H=``;
* ``delayed`` / ``failed``: messages with at least one ``==`` / ``**`` line after their ``<=``
  (so a ``**`` for a message received before the log started is not counted);
* ``delivered``: ``=>`` lines (eximstats' "Messages"); ``delivered_addresses``: ``=>`` plus
  ``->`` lines (further addresses of the same delivery); ``bytes_delivered``: the message's
  ``S=`` once per ``=>`` (0 when its ``<=`` is not in the log); ``delivered_hosts``: distinct
  first word after ``H=`` on ``=>`` lines, ``local`` without one;
* ``rejected`` / ``temp_rejected``: ACL rejections, ``SMTP call … dropped`` and blackholed
  ``=>`` lines (no transport), split by eximstats' text rules (only ``temporarily rejected
  <VERB> …: reason`` is temporary; ``temporarily rejected after DATA`` and ``too many
  recipients`` are plain rejects); ``*_hosts``: distinct client IPs (``local`` without one);
* ``ham`` / ``spam`` (+ ``*_hosts``): SA-Exim ``SA: Action:`` lines.

Deliberate differences from eximstats: a line that is not an ACL decision but happens to say
"rejected", "refused" or "dropped" (``H=host [ip] Connection refused``) is not a reject;
``>>`` (cutthrough) deliveries are deliveries (eximstats 1.61 skips them and cannot read 4.97+
long message IDs). The parser does not keep the ``=>``/``->``/``>>`` flag: a delivery is taken
as a ``->`` when the previous delivery of the same message was at the same second, by the same
process, to the same host and IP with the same ``C=`` confirmation; a ``H=(helo) [ip]`` client
counts as ``[ip]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

log = logging.getLogger(__name__)

#: Version of the JSON document written by ``logtrace summary --format json``.
SCHEMA = "logtrace.reports.summary/1"

#: pflogsumm's "Grand Totals", in its order, under logtrace's key names.
TOTAL_KEYS: tuple[str, ...] = (
    "received", "delivered", "forwarded", "deferred", "deferrals", "bounced", "rejected", "rejected_pct",
    "reject_warnings", "held", "discarded", "discarded_pct", "bytes_received", "bytes_delivered", "senders",
    "sending_hosts", "recipients", "recipient_hosts",
)

#: logtrace's own de-duplicated counts (content-filter re-injection and multi-host hops counted once).
UNIQUE_KEYS: tuple[str, ...] = (
    "messages_received_unique", "recipients_delivered_unique", "bytes_received_unique", "bytes_delivered_unique",
    "messages_deferred_unique", "messages_bounced_unique", "content_filter_reinjections", "host_handoffs",
)

#: eximstats' "Grand total summary", in its order (Exim-only inputs; see the module docstring).
EXIM_TOTAL_KEYS: tuple[str, ...] = (
    "received", "bytes_received", "received_hosts", "delayed", "failed", "delivered", "delivered_addresses",
    "bytes_delivered", "delivered_hosts", "rejected", "rejected_hosts", "temp_rejected", "temp_rejected_hosts",
    "ham", "ham_hosts", "spam", "spam_hosts",
)

#: ``counting`` → the note on ``totals`` in the JSON document.
TOTALS_NOTES: dict[str, str] = {
    "pflogsumm": "totals follow pflogsumm 1.1.5's Grand Totals (names and counting rules).",
    "eximstats": (
        "Exim inputs: totals follow eximstats' Grand total summary. received/bytes_received/received_hosts: <= lines, "
        "their S= and distinct H= words; delayed/failed: messages with a == / ** line after their <=; delivered: => "
        "lines, delivered_addresses: => and -> lines, bytes_delivered: the message size per =>, delivered_hosts: "
        "distinct H= words of => lines; rejected/temp_rejected (+_hosts: distinct client IPs): ACL rejections, dropped "
        "SMTP calls and blackholed deliveries; ham/spam: SA-Exim verdicts."
    ),
}

UNIQUE_NOTE = (
    "pflogsumm-compatible totals count a message that passes a content filter (amavis on 127.0.0.1:10024/10025) "
    "or hops between two hosts whose logs are both given once per pass (pflogsumm FAQ section 14). The *_unique "
    "counts match each delivery to loopback or to another input host whose 'queued as' ID reappears as a received "
    "queue ID within 15 minutes, and count the pair once."
)

REASON_CLASSES: tuple[str, ...] = (
    "greylisting", "tls_failure", "message_too_large", "mailbox_full", "relay_denied", "sender_rejected",
    "dns_failure", "connection_failure", "mailbox_unknown", "policy_spam", "other",
)

_COLS = ("ts", "host", "mta", "program", "pid", "kind", "rule", "status", "queue_id", "next_queue_id", "sender", "orig_recipient",
         "recipient", "relay_host", "relay_ip", "client_host", "client_ip", "dsn", "reply_text", "size", "delay_s",
         "delay_before_qmgr_s", "delay_in_qmgr_s", "delay_conn_s", "delay_xmit_s", "detail")
_KEEP_KINDS = ("accept", "queued", "deliver", "defer", "bounce", "expire", "reject", "reject_warning", "hold",
               "discard", "warning", "fatal", "panic")
_CONN_KINDS = ("connect", "disconnect")
_EXIM_EXTRA = ("exim.main.completed", "exim.main.call_dropped")  #: eximstats needs Completed and dropped calls
_LOOPBACK = r"^(?:127\.|::1$|::ffff:127\.)"
_HANDOFF_WINDOW_S = 900


@dataclass
class Summary:
    """Everything ``logtrace summary`` reports. DataFrames are polars; dicts are JSON-ready."""

    totals: dict[str, int]
    unique: dict[str, int]
    sections: dict[str, Any]  #: section name → polars DataFrame, in report order
    smtpd: dict[str, Any] | None
    accounting: Any  #: polars DataFrame: program, parsed, other, unrecognized
    period: dict[str, Any]
    counts: dict[str, int]  #: warnings, fatal, panic, no_size
    inputs: list[tuple[str, str]] = field(default_factory=list)
    diagnostics: list[Any] = field(default_factory=list)
    failed_inputs: int = 0
    top: int = 10
    counting: str = "pflogsumm"  #: whose Grand totals ``totals`` follows: ``pflogsumm`` or ``eximstats``


# ---------------------------------------------------------------- expressions


def _lc_domain(col: Any) -> Any:
    """pflogsumm's ``s/(@.+)/\\L$1/``: lowercase from the first ``@`` on, keep the local part."""
    import polars as pl

    return pl.concat_str([col.str.extract(r"^([^@]*)", 1), col.str.extract(r"(@.*)$", 1).str.to_lowercase().fill_null("")])


def gimme_domain(host: Any, ip: Any) -> Any:
    """pflogsumm's ``gimme_domain``: ``unknown``/empty → IP, else ``a.b.example.com`` → ``example.com``.

    Only names ending in a 3-letter TLD or a ``xx.yy``/``xxx.yy`` pair are shortened (and then
    lowercased), exactly as pflogsumm 1.1.5 does; other names are kept as logged.
    """
    import polars as pl

    pat = r"^(.*)\.([^.]+)\.([^.]{3}|[^.]{2,3}\.[^.]{2})$"
    g = host.str.extract_groups(pat)
    short = pl.concat_str([g.struct.field("2"), pl.lit("."), g.struct.field("3")]).str.to_lowercase()
    return (pl.when(host.is_null() | (host == "") | (host == "unknown")).then(ip)
            .otherwise(pl.coalesce(short, host)))


def enhanced_code(dsn: Any, text: Any) -> Any:
    """The RFC 3463 code: the event's ``dsn``, else the first ``X.Y.Z`` after a reply code in the text."""
    import polars as pl

    return pl.coalesce(dsn, text.str.extract(r"\b[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b", 1),
                       text.str.extract(r"^([245]\.\d{1,3}\.\d{1,3})\b", 1))


def classify_reason(dsn: Any, reply_text: Any) -> Any:
    """Vectorized reason class of a deferral, bounce or reject: a polars ``Expr`` of :data:`REASON_CLASSES`.

    ``dsn`` and ``reply_text`` are expressions (``pl.col("dsn")``, ``pl.col("reply_text")``).
    Text wins over the enhanced code where the code is generic (5.7.1 is used for relay,
    sender and spam rejections alike); the first matching class in :data:`REASON_CLASSES` wins.

    >>> df.select(classify_reason(pl.col("dsn"), pl.col("reply_text")))  # doctest: +SKIP
    """
    import polars as pl

    t = reply_text.fill_null("").str.to_lowercase()
    code = enhanced_code(dsn, reply_text.fill_null("")).fill_null("")

    def has(p: str) -> Any:
        return t.str.contains(p)

    def c(*codes: str) -> Any:
        return code.is_in(list(codes))

    return (
        pl.when(has(r"greylist|grey-list|graylist|try again later.*grey")).then(pl.lit("greylisting"))
        .when(has(r"\btls\b|starttls|ssl_|\bssl\b|certificate verif|handshake fail") | c("4.7.5", "5.7.5")).then(pl.lit("tls_failure"))
        .when(has(r"too large|too big|size exceeds|exceeds.*size limit|message size") | c("5.3.4", "5.2.3", "4.3.4", "5.3.4"))
        .then(pl.lit("message_too_large"))
        .when(has(r"quota|mailbox (?:is )?full|over ?quota|insufficient (?:system )?storage|mailbox size") | c("5.2.2", "4.2.2"))
        .then(pl.lit("mailbox_full"))
        .when(has(r"relay access denied|relaying denied|relay(?:ing)? not (?:permitted|allowed)|relay denied|not permitted to relay|unable to relay"))
        .then(pl.lit("relay_denied"))
        .when(has(r"sender address rejected|sender rejected|sender domain|bad sender|sender verify fail")
              | code.str.contains(r"^[45]\.1\.[78]$")).then(pl.lit("sender_rejected"))
        .when(has(r"host or domain name not found|domain not found|name service error|no mx|nxdomain|dns (?:error|fail)|host not found")
              | c("5.1.2", "4.1.2", "4.4.3", "5.4.4", "4.4.4")).then(pl.lit("dns_failure"))
        .when(has(r"connection timed out|connection refused|timed out|network is unreachable|no route to host|lost connection|"
                  r"connection reset|temporarily suspended|refused to talk|too many (?:concurrent )?(?:smtp )?connections") | c("4.4.1", "4.4.2", "5.4.1", "5.4.2"))
        .then(pl.lit("connection_failure"))
        .when(has(r"user unknown|unknown user|recipient address rejected|no such (?:user|mailbox|recipient)|mailbox unavailable|"
                  r"does not exist|invalid recipient|unknown recipient|address rejected|undeliverable address|mailbox not found")
              | c("5.1.1", "4.1.1", "5.1.10", "5.1.6", "5.1.0")).then(pl.lit("mailbox_unknown"))
        .when(has(r"spam|blocked|\brbl\b|spamhaus|blacklist|blocklist|denylist|dnsbl|listed|policy|reputation|rejected|"
                  r"not allowed|client host rejected|access denied")
              | code.str.contains(r"^[45]\.7\.")).then(pl.lit("policy_spam"))
        .otherwise(pl.lit("other"))
    )


def normalize_reason(text: Any) -> Any:
    """A groupable reason: drop ``host X said:``, reply codes, ``(in reply to …)`` and addresses; cap at 100."""
    return (
        text.fill_null("")
        .str.replace(r"^host \S+ said: ", "")
        .str.replace(r"^host \S+ refused to talk to me: ", "refused to talk: ")
        .str.replace(r"^(?:connect to \S+?: )", "")
        .str.replace(r"\s*\(in reply to [^)]*\)\s*$", "")
        .str.replace(r"^\d{3}[ -](?:#?[245]\.\d{1,3}\.\d{1,3}\s+)?", "")
        .str.replace_all(r"<[^>]*>", "<>")
        .str.replace_all(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "N.N.N.N")
        .str.replace_all(r"\bid=\S+", "id=…")
        .str.strip_chars()
        .str.slice(0, 100)
    )


# ---------------------------------------------------------------- time specs


def parse_time_spec(spec: str, *, tz: str | None = None, now: datetime | None = None) -> datetime:
    """``--since``/``--until`` values → aware datetime.

    Accepts ISO 8601 (``2026-04-01``, ``2026-04-01T08:00``, with or without an offset; naive
    values are in ``tz`` or this machine's zone), ``today``/``yesterday`` (local midnight) and
    ``N{s,m,h,d,w} ago`` (``2h ago``). Raises :class:`ValueError` for anything else.
    """
    from zoneinfo import ZoneInfo

    zone: Any = ZoneInfo(tz) if tz and tz.upper() not in ("UTC", "Z") else (timezone.utc if tz else None)
    now = now or datetime.now(timezone.utc)
    local_now = now.astimezone(zone) if zone else now.astimezone()
    s = spec.strip().lower()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if s == "today":
        return midnight
    if s == "yesterday":
        return midnight - timedelta(days=1)
    if s == "now":
        return now
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)\s+ago", s)
    if m:
        n = float(m.group(1))
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)[0]]
        return now - timedelta(**{unit: n})
    try:
        dt = datetime.fromisoformat(spec.strip())
    except ValueError:
        raise ValueError(f"cannot read time '{spec}' (use ISO 8601, today, yesterday or '2h ago')") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone) if zone else dt.astimezone()
    return dt


# ---------------------------------------------------------------- collection


def _narrow(df: Any, smtpd_stats: bool) -> Any:
    """The rows and columns a summary needs from one chunk of events."""
    import polars as pl

    keep = (pl.col("kind").is_in(_KEEP_KINDS) | pl.col("rule").str.ends_with(".delivery_status")
            | (pl.col("rule") == "postfix.cleanup.checks") | (pl.col("rule") == "postfix.postscreen.action")
            | pl.col("rule").is_in(_EXIM_EXTRA)
            | ((pl.col("rule") == "exim.main.note") & pl.col("detail").str.starts_with("SA: ")))
    if smtpd_stats:
        keep = keep | pl.col("kind").is_in(_CONN_KINDS)
    return df.filter(keep).select("seq", *_COLS)


def collect_events(paths: Sequence[str], *, mta: str = "auto", options: Any = None, since: datetime | None = None,
                   until: datetime | None = None, where: str | None = None, smtpd_stats: bool = False,
                   result: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """Scan inputs chunk by chunk → (narrow events with a global ``seq``, accounting, period).

    Memory is bounded by the narrow frame: header, TLS, connect (unless ``smtpd_stats``) and
    other programs' lines are dropped per chunk, after line accounting has counted them.
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
    for chunk in scan_frames(paths, mta=mta, options=options, result=result, keep_going=True):
        accs.append(accounting(chunk))
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
        parts.append(_narrow(chunk.with_row_index("seq", offset=offset), smtpd_stats).with_columns(pl.col("seq").cast(pl.Int64)))
        offset += n
    from logtrace.parsing.rules import empty_frame

    ev = (pl.concat(parts, how="vertical_relaxed") if parts
          else _narrow(empty_frame().with_row_index("seq"), smtpd_stats).with_columns(pl.col("seq").cast(pl.Int64)))
    acc = (pl.concat(accs).group_by("program").agg(pl.col("parsed", "other", "unrecognized").sum())
           .sort(["unrecognized", "parsed", "other", "program"], descending=[True, True, True, False])
           if accs else pl.DataFrame(schema={"program": pl.String, "parsed": pl.UInt32, "other": pl.UInt32, "unrecognized": pl.UInt32}))
    period = {"first": first, "last": last, "since": since, "until": until}
    return ev, acc, period


# ---------------------------------------------------------------- derivations


def _derive(ev: Any, tz: str) -> Any:
    """Add pflogsumm-style classifications as columns (all vectorized)."""
    import polars as pl

    k, st, rule = pl.col("kind"), pl.col("status"), pl.col("rule")
    daemon = pl.col("program").fill_null("").str.extract(r"([^/]+)$", 1)
    is_pf = pl.col("mta") == "postfix"
    dstatus = (pl.when(rule.str.ends_with(".delivery_status") & (k != "discard")).then(st)
               .when(~is_pf).then(k.replace_strict({"deliver": "sent", "defer": "deferred", "bounce": "bounced"}, default=None))
               .when(rule == "postfix.discard.delivery_status").then(st)  # pflogsumm counts discard(8) "sent" as delivered
               .otherwise(None))
    cleanup_act = (pl.when(~pl.col("detail").fill_null("").str.contains(r"^(?:header|body|END-OF-MESSAGE) ")).then(None)
                   .otherwise(st.replace_strict({"reject": "reject", "milter-reject": "reject", "warning": "reject_warning",
                                                 "hold": "hold", "discard": "discard"}, default=None)))
    act = (pl.when(is_pf & rule.str.ends_with(".noqueue") & daemon.is_in(["smtpd", "postscreen"])
                   & st.is_in(["reject", "reject_warning", "hold", "discard"])).then(st)
           .when(is_pf & (rule == "postfix.cleanup.checks")).then(cleanup_act)
           .when(~is_pf & k.is_in(["reject", "reject_warning", "hold", "discard"])).then(k)
           .otherwise(None))
    ev = ev.with_columns(dstatus=dstatus.cast(pl.String), act=act.cast(pl.String), daemon=daemon,
                         lts=pl.col("ts").dt.convert_time_zone(tz))
    fwd = (pl.col("dstatus") == "sent") & pl.col("reply_text").fill_null("").str.contains("forwarded as ", literal=True)
    return ev.with_columns(
        forwarded=fwd,
        delivered=(pl.col("dstatus") == "sent") & ~fwd,
        received=(k == "accept") & pl.col("queue_id").is_not_null(),
        day=pl.col("lts").dt.date(),
        hour=pl.col("lts").dt.hour(),
        # Exim local deliveries log the local part (``=> bob <bob@example.org>``): use the address
        rcpt=_lc_domain(pl.when((pl.col("mta") == "exim") & ~pl.col("recipient").fill_null("").str.contains("@")
                                & pl.col("orig_recipient").is_not_null()).then(pl.col("orig_recipient"))
                        .otherwise(pl.col("recipient")).fill_null("")),
    )


def _sizes(ev: Any) -> Any:
    """First ``from=<…>, size=N`` per queue ID (pflogsumm ``%msgSizes``), keyed without host.

    Exim has no separate size line: its ``<= … S=N`` (accept) line carries the size.
    """
    import polars as pl

    sized = (pl.col("kind") == "queued") | ((pl.col("mta") == "exim") & (pl.col("kind") == "accept"))
    return (ev.filter(sized & pl.col("size").is_not_null() & pl.col("queue_id").is_not_null())
            .group_by("queue_id").agg(pl.all().sort_by("seq").first())
            .select("queue_id", size_seq="seq", msg_size="size", from_addr="sender"))


def _received_msgs(ev: Any, sizes: Any) -> Any:
    """Messages pflogsumm counts in bytes_received/senders: size line preceded by a client=/uid= line
    (for Exim the accept line is both)."""
    import polars as pl

    local = (pl.col("daemon") == "pickup") | ((pl.col("mta") != "postfix") & pl.col("client_host").is_null()
                                              & pl.col("client_ip").is_null())
    acc = ev.filter(pl.col("received")).select(
        "queue_id", acc_seq="seq", host=pl.col("host"),
        whence=pl.when(local).then(pl.lit("pickup")).otherwise(gimme_domain(pl.col("client_host"), pl.col("client_ip"))),
    )
    j = (sizes.join(acc, on="queue_id", how="inner").filter(pl.col("acc_seq") <= pl.col("size_seq"))
         .sort("acc_seq").group_by("queue_id").agg(pl.all().last()))
    addr = pl.when(pl.col("from_addr").fill_null("") == "").then(pl.lit("from=<>")).otherwise(_lc_domain(pl.col("from_addr")))
    return j.with_columns(addr=addr).with_columns(
        sdom=pl.coalesce(pl.col("addr").str.extract(r"^[^@]+@(.+)$", 1),
                         pl.when(pl.col("whence") == "pickup").then(pl.col("addr")).otherwise(pl.col("whence"))))


def _handoffs(ev: Any) -> tuple[Any, Any]:
    """(re-injected accepts, hand-off deliveries): a delivery whose ``next_queue_id`` is received again."""
    import polars as pl

    d = ev.filter(pl.col("dstatus") == "sent", pl.col("next_queue_id").is_not_null()).select(
        d_seq="seq", d_host="host", queue_id="next_queue_id", d_ts="ts",
        loop=pl.coalesce(pl.col("relay_ip"), pl.col("relay_host")).fill_null("").str.contains(_LOOPBACK))
    a = ev.filter(pl.col("received")).select("queue_id", a_seq="seq", a_host="host", a_ts="ts")
    j = d.join(a, on="queue_id", how="inner").filter(
        (pl.col("a_ts") - pl.col("d_ts")).dt.total_seconds().abs() <= _HANDOFF_WINDOW_S,
        ((pl.col("a_host") == pl.col("d_host")) & pl.col("loop")) | (pl.col("a_host") != pl.col("d_host")),
    ).with_columns(same_host=pl.col("a_host") == pl.col("d_host"),
                   dist=(pl.col("a_ts") - pl.col("d_ts")).dt.total_seconds().abs())
    # a reused short queue ID can match two accepts: each delivery takes the nearest one in time
    # (one accept takes the hand-off deliveries of all recipients of that transaction)
    j = j.sort("dist", "a_seq").unique("d_seq", keep="first", maintain_order=True)
    return j.unique("a_seq", keep="first"), j


# ---------------------------------------------------------------- sections


def _traffic(ev: Any, by: str) -> Any:
    import polars as pl

    return (ev.filter(pl.col(by).is_not_null()).group_by(by).agg(
        received=pl.col("received").sum(), delivered=pl.col("delivered").sum(),
        deferred=(pl.col("dstatus") == "deferred").sum(), bounced=(pl.col("dstatus") == "bounced").sum(),
        rejected=pl.col("act").is_not_null().sum(),
    ).filter(pl.sum_horizontal("received", "delivered", "deferred", "bounced", "rejected") > 0).sort(by))


def _per_hour(ev: Any) -> Any:
    import polars as pl

    hours = pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8})
    t = _traffic(ev, "hour").with_columns(pl.col("hour").cast(pl.Int8))
    return hours.join(t, on="hour", how="left").fill_null(0).sort("hour")


def _delivery_by(ev: Any, sizes: Any, key: Any, name: str) -> Any:
    import polars as pl

    d = ev.filter(pl.col("delivered") | (pl.col("dstatus") == "deferred")).join(sizes, on="queue_id", how="left")
    sz = pl.when(pl.col("size_seq") < pl.col("seq")).then(pl.col("msg_size")).otherwise(0)
    return (d.with_columns(k=key, sz=sz).group_by("k").agg(
        sent=pl.col("delivered").sum(), bytes=pl.col("sz").filter(pl.col("delivered")).sum(),
        deferrals=(pl.col("dstatus") == "deferred").sum(),
        avg_delay_s=pl.col("delay_s").filter(pl.col("delivered")).mean(),
        max_delay_s=pl.col("delay_s").max(),
    ).rename({"k": name}).sort(["sent", "deferrals", name], descending=[True, True, False]))


def _top(df: Any, by: str, n: int) -> Any:
    return df.sort([by, df.columns[0]], descending=[True, False]).head(n)


def _delays(ev: Any) -> Any:
    import polars as pl

    d = ev.filter(pl.col("delivered"))
    rows = []
    for col, label in (("delay_s", "delay"), ("delay_before_qmgr_s", "before_qmgr"), ("delay_in_qmgr_s", "in_qmgr"),
                       ("delay_conn_s", "conn_setup"), ("delay_xmit_s", "transmission")):
        c = pl.col(col)
        rows.append(d.select(part=pl.lit(label), count=c.count(), p50=c.quantile(0.5, "nearest"),
                             p90=c.quantile(0.9, "nearest"), p99=c.quantile(0.99, "nearest"), max=c.max()))
    return pl.concat(rows)


def _reasons(rows: Any, peer: Any, top: int) -> tuple[Any, Any]:
    """(by class/code/reason, by class/peer) for deferral, bounce or reject rows."""
    import polars as pl

    r = rows.with_columns(cls=classify_reason(pl.col("dsn"), pl.col("reply_text")),
                          code=enhanced_code(pl.col("dsn"), pl.col("reply_text").fill_null("")),
                          reason=normalize_reason(pl.col("reply_text")), peer=peer)
    by_reason = (r.group_by("cls", "code", "reason").agg(count=pl.len(), messages=pl.col("queue_id").n_unique())
                 .sort(["count", "cls", "reason"], descending=[True, False, False]).head(top * 5)
                 .rename({"cls": "class"}))
    by_peer = (r.group_by("cls", "peer").agg(count=pl.len()).sort(["count", "cls", "peer"], descending=[True, False, False])
               .head(top * 2).rename({"cls": "class"}))
    return by_reason, by_peer


def _severity(ev: Any, top: int) -> Any:
    import polars as pl

    sev = pl.when(pl.col("kind") == "warning").then(pl.lit("warning")).otherwise(pl.col("kind"))
    return (ev.filter(pl.col("kind").is_in(["warning", "fatal", "panic"]))
            .with_columns(severity=sev, message=pl.col("detail").fill_null("").str.slice(0, 120))
            .group_by("severity", "daemon", "message").agg(count=pl.len())
            .sort(["severity", "count", "message"], descending=[False, True, False])
            .group_by("severity", maintain_order=True).head(top))


def _smtpd(ev: Any, top: int) -> tuple[dict[str, Any], Any]:
    """Connections from connect/disconnect pairs per (host, pid), as pflogsumm's ``--smtpd-stats``."""
    import polars as pl

    c = (ev.filter(pl.col("kind").is_in(_CONN_KINDS), pl.col("daemon") != "postscreen").sort("seq")
         .with_columns(prev_kind=pl.col("kind").shift(1).over("host", "pid"), prev_ts=pl.col("ts").shift(1).over("host", "pid")))
    pairs = c.filter(pl.col("kind") == "disconnect", pl.col("prev_kind") == "connect").with_columns(
        secs=(pl.col("ts").dt.truncate("1s") - pl.col("prev_ts").dt.truncate("1s")).dt.total_seconds(),
        client=gimme_domain(pl.col("client_host"), pl.col("client_ip")))
    n = pairs.height
    total = int(pairs["secs"].sum() or 0) if n else 0
    stats = {"connections": n, "hosts": pairs["client"].n_unique() if n else 0, "total_connect_s": total,
             "avg_connect_s": round(total / n, 3) if n else 0.0}
    by_host = (pairs.group_by("client").agg(connections=pl.len(), total_s=pl.col("secs").sum(), max_s=pl.col("secs").max())
               .sort(["connections", "client"], descending=[True, False]).head(top))
    return stats, by_host


def _postscreen(ev: Any) -> Any:
    import polars as pl

    return (ev.filter(pl.col("rule") == "postfix.postscreen.action").group_by("status")
            .agg(count=pl.len(), clients=pl.col("client_ip").n_unique()).rename({"status": "action"})
            .sort(["count", "action"], descending=[True, False]))


_X = "exim.main."
_SPAM = r"Action: (?:(?:permanently|temporarily) rejected message|flagged as Spam but accepted): score=\d+\.\d"
_HAM = (r"Action: scanned but message isn't spam: score=-?\d+\.\d|Not running SA because SAEximRunCond expanded to false"
        r"|check skipped due to message size")


def exim_totals(ev: Any) -> dict[str, int]:
    """eximstats' Grand total summary over the Exim rows of narrow events (rules: module docstring)."""
    import polars as pl

    c, rule = pl.col, pl.col("rule")
    x = ev.filter(c("mta") == "exim").sort("seq")
    is_acc = rule.is_in([_X + "accept", _X + "accept_bounce"])
    is_co = rule == _X + "completed"
    flagged = is_acc | is_co | rule.is_in([_X + "deliver", _X + "defer", _X + "bounce"])
    m = x.filter(flagged & c("queue_id").is_not_null())
    # eximstats forgets a message at "Completed": each run up to and including it is one incarnation
    m = m.with_columns(inc=(is_co.cast(pl.Int32).cum_sum() - is_co.cast(pl.Int32)).over("queue_id"))
    m = m.with_columns(sz=pl.when(is_acc).then(c("size").fill_null(0)).otherwise(None).forward_fill().over("queue_id", "inc"))
    d = m.filter(rule == _X + "deliver")
    same = [c(k).eq_missing(c(k).shift(1).over("queue_id"))
            for k in ("ts", "pid", "host", "relay_host", "relay_ip", "reply_text")]
    d = d.with_columns(additional=pl.all_horizontal(same) & c("relay_ip").is_not_null()
                       & c("seq").shift(1).over("queue_id").is_not_null())
    first = d.filter(~c("additional"))
    acc = m.filter(is_acc)
    word = pl.coalesce(c("client_host"), pl.lit("[") + c("client_ip") + pl.lit("]"), pl.lit("local"))
    rword = pl.coalesce(c("relay_host"), pl.lit("[") + c("relay_ip") + pl.lit("]"), pl.lit("local"))

    def incarnations(r: str) -> int:
        return m.filter((rule == _X + r) & c("sz").is_not_null()).select(pl.struct("queue_id", "inc").n_unique()).item()

    text = pl.concat_str([c("detail").fill_null(""), c("reply_text").fill_null("")], separator=" ")
    blackhole = (rule == _X + "deliver") & c("recipient").is_in([":blackhole:", "blackhole"])
    rj = x.filter((c("kind") == "reject") | (rule == _X + "call_dropped") | blackhole).with_columns(
        ip=pl.coalesce(pl.lit("[") + c("client_ip") + pl.lit("]"), pl.lit("local")),
        temp=(c("status") == "temporarily rejected") & c("reply_text").is_not_null() & ~text.str.contains("SpamAssassin")
        & ((rule == _X + "reject_rcpt") | ((rule == _X + "reject") & c("detail").str.contains(r"^[A-Z]+ "))))
    sa = x.filter(rule == _X + "note").with_columns(
        ip=pl.coalesce(c("detail").str.extract(r"From.*?(\[[^\]]+\])", 1),
                       pl.when(c("detail").str.contains(r"\(local\)")).then(pl.lit("local")), pl.lit("")),
        verdict=pl.when(c("detail").str.contains(_SPAM)).then(pl.lit("spam"))
        .when(c("detail").str.contains(_HAM)).then(pl.lit("ham")))
    out = {
        "received": acc.height, "bytes_received": int(acc["sz"].sum() or 0),
        "received_hosts": acc.select(word.n_unique()).item() if acc.height else 0,
        "delayed": incarnations("defer"), "failed": incarnations("bounce"),
        "delivered": first.height, "delivered_addresses": d.height, "bytes_delivered": int(first["sz"].fill_null(0).sum() or 0),
        "delivered_hosts": first.select(rword.n_unique()).item() if first.height else 0,
    }
    for key, rows in (("rejected", rj.filter(~c("temp"))), ("temp_rejected", rj.filter(c("temp"))),
                      ("ham", sa.filter(c("verdict") == "ham")), ("spam", sa.filter(c("verdict") == "spam"))):
        out[key], out[f"{key}_hosts"] = rows.height, rows["ip"].n_unique() if rows.height else 0
    return {k: int(out[k]) for k in EXIM_TOTAL_KEYS}


def build(ev: Any, *, tz: str = "UTC", top: int = 10, smtpd_stats: bool = False, counting: str = "pflogsumm") -> tuple[dict[str, int], dict[str, int], dict[str, Any], dict[str, Any] | None, dict[str, int]]:
    """Narrow events → (totals, unique, sections, smtpd, counts). Pure; see :func:`summarize`.

    ``counting="eximstats"`` makes ``totals`` eximstats' grand totals (:func:`exim_totals`).
    """
    import polars as pl

    ev = _derive(ev, tz)
    sizes = _sizes(ev)
    recv = _received_msgs(ev, sizes)
    dlv = ev.filter(pl.col("delivered")).join(sizes, on="queue_id", how="left").with_columns(
        has_size=pl.col("size_seq").is_not_null() & (pl.col("size_seq") < pl.col("seq")))
    dlv = dlv.with_columns(sz=pl.when(pl.col("has_size")).then(pl.col("msg_size")).otherwise(0))
    agg = ev.select(
        received=pl.col("received").sum(), delivered=pl.col("delivered").sum(), forwarded=pl.col("forwarded").sum(),
        deferred=pl.col("queue_id").filter(pl.col("dstatus") == "deferred").n_unique(),
        deferrals=(pl.col("dstatus") == "deferred").sum(), bounced=(pl.col("dstatus") == "bounced").sum(),
        rejected=(pl.col("act") == "reject").sum(), reject_warnings=(pl.col("act") == "reject_warning").sum(),
        held=(pl.col("act") == "hold").sum(), discarded=(pl.col("act") == "discard").sum(),
    ).row(0, named=True)
    tot: dict[str, int] = {k: int(v or 0) for k, v in agg.items()}
    denom = tot["delivered"] + tot["rejected"] + tot["discarded"]
    rcpt_dom = pl.col("rcpt").str.replace(r"^[^@]+@", "")
    tot.update(
        rejected_pct=int(tot["rejected"] * 100 // denom) if denom else 0,
        discarded_pct=int(tot["discarded"] * 100 // denom) if denom else 0,
        bytes_received=int(recv["msg_size"].sum() or 0),
        bytes_delivered=int(dlv["sz"].sum() or 0),
        senders=recv["addr"].n_unique(), sending_hosts=recv["sdom"].n_unique(),
        recipients=dlv["rcpt"].n_unique(), recipient_hosts=dlv.select(rcpt_dom.n_unique()).item(),
    )
    totals = exim_totals(ev) if counting == "eximstats" else {k: tot[k] for k in TOTAL_KEYS}

    re_acc, re_dlv = _handoffs(ev)
    re_sizes = re_acc.join(recv.select("queue_id", "msg_size"), on="queue_id", how="inner")
    dlv_hand = dlv.join(re_dlv.select(seq="d_seq"), on="seq", how="semi")
    unique = {
        "messages_received_unique": tot["received"] - re_acc.height,
        "recipients_delivered_unique": tot["delivered"] - dlv_hand.height,
        "bytes_received_unique": tot["bytes_received"] - int(re_sizes["msg_size"].sum() or 0),
        "bytes_delivered_unique": tot["bytes_delivered"] - int(dlv_hand["sz"].sum() or 0),
        "messages_deferred_unique": ev.filter(pl.col("dstatus") == "deferred").select(pl.struct("host", "queue_id").n_unique()).item(),
        "messages_bounced_unique": ev.filter(pl.col("dstatus") == "bounced").select(pl.struct("host", "queue_id").n_unique()).item(),
        "content_filter_reinjections": int(re_acc["same_host"].sum() or 0),
        "host_handoffs": int((~re_acc["same_host"]).sum() or 0),
    }

    senders = recv.group_by("addr").agg(count=pl.len(), bytes=pl.col("msg_size").sum()).rename({"addr": "sender"})
    rcpts = dlv.group_by("rcpt").agg(count=pl.len(), bytes=pl.col("sz").sum()).rename({"rcpt": "recipient"})
    no_size = dlv.filter(~pl.col("has_size")).group_by("queue_id").agg(recipient=pl.col("rcpt").last(), host=pl.col("host").first())
    deferrals = ev.filter(pl.col("dstatus") == "deferred")
    bounces = ev.filter(pl.col("dstatus") == "bounced")
    rejects = ev.filter(pl.col("act").is_not_null() | (pl.col("kind") == "reject")).with_columns(
        reply_text=pl.coalesce(pl.col("reply_text"), pl.col("detail")))
    relay_peer = gimme_domain(pl.col("relay_host"), pl.col("relay_ip")).fill_null("none")
    d_reason, d_peer = _reasons(deferrals, relay_peer, top)
    b_reason, b_peer = _reasons(bounces, relay_peer, top)
    r_reason, r_peer = _reasons(rejects, gimme_domain(pl.col("client_host"), pl.col("client_ip")), top)
    r_reason = r_reason  # reject rows include reject_warning/hold/discard; the 'action' split is in reject_actions
    actions = rejects.group_by(pl.coalesce(pl.col("act"), pl.col("kind")).alias("action")).agg(count=pl.len()).sort("action")

    sections: dict[str, Any] = {
        "per_day": _traffic(ev, "day"),
        "per_hour": _per_hour(ev),
        "delivery_by_domain": _delivery_by(ev, sizes, rcpt_dom, "domain").head(top),
        "delivery_by_relay": _delivery_by(ev, sizes, relay_peer, "relay").head(top),
        "reception_by_domain": _top(recv.group_by("sdom").agg(count=pl.len(), bytes=pl.col("msg_size").sum())
                                    .rename({"sdom": "domain"}), "count", top),
        "reception_by_client": _top(ev.filter(pl.col("received")).group_by(
            gimme_domain(pl.col("client_host"), pl.col("client_ip"))
            .fill_null(pl.when(pl.col("mta") == "postfix").then(pl.lit("(local pickup)")).otherwise(pl.lit("(local)")))
            .alias("client"))
            .agg(count=pl.len()), "count", top),
        "senders_by_count": _top(senders, "count", top),
        "senders_by_size": _top(senders, "bytes", top),
        "recipients_by_count": _top(rcpts, "count", top),
        "recipients_by_size": _top(rcpts, "bytes", top),
        "delays": _delays(ev),
        "deferral_reasons": d_reason,
        "deferral_hosts": d_peer,
        "bounce_reasons": b_reason,
        "bounce_hosts": b_peer,
        "reject_actions": actions,
        "reject_reasons": r_reason,
        "reject_hosts": r_peer,
        "warnings": _severity(ev, top),
        "no_size": no_size.sort("queue_id").head(top * 5),
        "postscreen": _postscreen(ev),
    }
    smtpd = None
    if smtpd_stats:
        smtpd, sections["smtpd_hosts"] = _smtpd(ev, top)
    counts = {
        "warnings": int((ev["kind"] == "warning").sum()), "fatal": int((ev["kind"] == "fatal").sum()),
        "panic": int((ev["kind"] == "panic").sum()), "no_size": no_size.height,
    }
    return totals, unique, sections, smtpd, counts


def summarize(paths: Sequence[str], *, mta: str = "auto", options: Any = None, since: datetime | None = None,
              until: datetime | None = None, where: str | None = None, top: int = 10,
              smtpd_stats: bool = False) -> Summary:
    """Summarize mail logs (see the module docstring for the counting rules).

    >>> s = summarize(["sample_logs/postfix/deferred-then-sent.log"])   # doctest: +SKIP
    >>> s.totals["delivered"], s.sections["per_day"]                     # doctest: +SKIP

    Per-input failures (unreadable file, unknown format) become ``diagnostics`` and
    ``failed_inputs``; a bad ``where`` raises :class:`~logtrace.errors.QuerySyntaxError`.
    """
    from logtrace.parsing.scan import ScanResult
    from logtrace.containers.stamps import local_zone_name

    scan = ScanResult()
    ev, acc, period = collect_events(paths, mta=mta, options=options, since=since, until=until, where=where,
                                     smtpd_stats=smtpd_stats, result=scan)
    tz = getattr(options, "tz", None) or local_zone_name()
    tz = "UTC" if tz.upper() in ("UTC", "Z") else tz
    # eximstats' totals when every input is an Exim log; pflogsumm's otherwise (also for a mix)
    counting = "eximstats" if scan.files and all(name == "exim" for _, name in scan.files) else "pflogsumm"
    totals, unique, sections, smtpd, counts = build(ev, tz=tz, top=top, smtpd_stats=smtpd_stats, counting=counting)
    period["timezone"] = tz
    return Summary(totals=totals, unique=unique, sections=sections, smtpd=smtpd, accounting=acc, period=period,
                   counts=counts, inputs=list(scan.files), diagnostics=scan.diagnostics,
                   failed_inputs=scan.failed_inputs, top=top, counting=counting)


def to_document(s: Summary) -> dict[str, Any]:
    """The JSON document of ``--format json`` (schema :data:`SCHEMA`, documented in the README)."""
    from logtrace import __version__ as version

    def iso(v: Any) -> Any:
        return v.isoformat() if isinstance(v, datetime) else v

    acc = s.accounting
    return {
        "schema": SCHEMA,
        "generator": f"logtrace {version}",
        "inputs": [{"path": p, "parser": n} for p, n in s.inputs],
        "period": {k: iso(v) for k, v in s.period.items()},
        "counting": {"rules": s.counting, "keys": list(s.totals), "note": TOTALS_NOTES[s.counting]},
        "totals": dict(s.totals),
        "unique": {**s.unique, "note": UNIQUE_NOTE},
        "counts": dict(s.counts),
        "smtpd": s.smtpd,
        "sections": {name: _rows(df) for name, df in s.sections.items()},
        "accounting": {
            "parsed": int(acc["parsed"].sum()) if acc.height else 0,
            "other": int(acc["other"].sum()) if acc.height else 0,
            "unrecognized": int(acc["unrecognized"].sum()) if acc.height else 0,
            "by_program": _rows(acc),
        },
        "diagnostics": [str(d) for d in s.diagnostics],
    }


def _rows(df: Any) -> list[dict[str, Any]]:
    import polars as pl

    out = df.with_columns([pl.col(c).cast(pl.String) for c, t in df.schema.items() if t in (pl.Date, pl.Datetime)])
    return [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in out.iter_rows(named=True)]

"""Reason classes and groupable reason texts for deferrals, bounces and rejects (vectorized).

:func:`classify_reason` is shared with :mod:`logtrace.trace.bounces` (which imports it through
:mod:`logtrace.reports.summary`); :func:`reason_tables` builds the summary's "by reason" and
"by remote host" sections.
"""

from __future__ import annotations

from typing import Any

REASON_CLASSES: tuple[str, ...] = (
    "greylisting", "tls_failure", "message_too_large", "mailbox_full", "relay_denied", "sender_rejected",
    "dns_failure", "connection_failure", "mailbox_unknown", "policy_spam", "other",
)


def enhanced_code(dsn: Any, text: Any) -> Any:
    """The RFC 3463 code: the event's ``dsn``, else the first ``X.Y.Z`` after a reply code in the text."""
    import polars as pl

    return pl.coalesce(dsn, text.str.extract(r"\b[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b", 1),
                       text.str.extract(r"^([245]\.\d{1,3}\.\d{1,3})\b", 1))


#: RFC 3463 enhanced status codes (class digit ``X`` = 4 or 5) → reason class, consulted after the
#: specific texts of :data:`TEXT_RULES` and before the generic policy words of :data:`WEAK_TEXT`.
CODE_CLASSES: dict[str, str] = {
    "X.1.0": "mailbox_unknown", "X.1.1": "mailbox_unknown", "X.1.6": "mailbox_unknown", "X.1.10": "mailbox_unknown",
    "X.2.1": "mailbox_unknown", "X.1.2": "dns_failure", "X.1.7": "sender_rejected", "X.1.8": "sender_rejected",
    "X.2.2": "mailbox_full", "X.3.1": "mailbox_full", "X.2.3": "message_too_large", "X.3.4": "message_too_large",
    "X.4.1": "connection_failure", "X.4.2": "connection_failure", "X.4.3": "dns_failure", "X.4.4": "dns_failure",
    "X.4.7": "connection_failure", "X.7.5": "tls_failure", "X.7.10": "tls_failure",
    "X.7.0": "policy_spam", "X.7.1": "policy_spam", "X.7.2": "policy_spam", "X.7.7": "policy_spam",
    "X.7.23": "policy_spam", "X.7.25": "policy_spam", "X.7.26": "policy_spam", "X.7.27": "policy_spam",
}

#: (class, pattern over the lowercased reason text) that decide before the enhanced code, in order:
#: texts that say exactly what happened (a 5.7.1 is used for relay, sender and spam rejections alike)
TEXT_RULES: tuple[tuple[str, str], ...] = (
    ("greylisting", r"greylist|grey-list|graylist|try again later.*grey"),
    ("tls_failure", r"\btls\b|starttls|ssl_|\bssl\b|certificate verif|handshake fail"),
    ("mailbox_full", r"quota|mailbox (?:is )?full|over ?quota|insufficient (?:system )?storage|mailbox size|out of storage|"
                     r"cannot update mailbox.*file too large"),
    ("message_too_large", r"too large|too big|size exceeds|exceeds.*size limit|message size"),
    ("relay_denied", r"relay access denied|relaying denied|relay(?:ing)? not (?:permitted|allowed)|relay denied|"
                     r"not permitted to relay|unable to relay"),
    ("sender_rejected", r"sender address rejected|sender rejected|sender domain|bad sender|sender verify fail"),
    ("dns_failure", r"host or domain name not found|domain not found|name service error|no mx|nxdomain|dns (?:error|fail)|"
                    r"host not found"),
    ("connection_failure", r"connection timed out|connection refused|timed out|network is unreachable|no route to host|"
                           r"lost connection|connection reset|temporarily suspended|refused to talk|"
                           r"too many (?:concurrent )?(?:smtp )?connections"),
    ("mailbox_unknown", r"user unknown|unknown user|no such (?:user|mailbox|recipient)|mailbox unavailable|does not exist|"
                        r"invalid recipient|unknown recipient|undeliverable address|mailbox not found|recipientnotfound|"
                        r"recipient not found|user not found|not our customer"),
)

#: generic policy words: a class only when neither a specific text nor the enhanced code decided
WEAK_TEXT = (r"spam|blocked|\brbl\b|spamhaus|blacklist|blocklist|denylist|dnsbl|listed|policy|reputation|rejected|"
             r"not allowed|access denied|prohibited|unauthenticated|spf|dmarc|dkim")


def classify_reason(dsn: Any, reply_text: Any) -> Any:
    """Vectorized reason class of a deferral, bounce or reject: a polars ``Expr`` of :data:`REASON_CLASSES`.

    ``dsn`` and ``reply_text`` are expressions (``pl.col("dsn")``, ``pl.col("reply_text")``).
    Decided in this order: Microsoft's ``5.4.1 Recipient address rejected: Access denied``
    (directory-based edge blocking: the recipient does not exist); the specific texts of
    :data:`TEXT_RULES`; the RFC 3463 code (:data:`CODE_CLASSES`, ``X.7.*`` policy); the generic
    policy words of :data:`WEAK_TEXT`; ``other``.

    >>> df.select(classify_reason(pl.col("dsn"), pl.col("reply_text")))  # doctest: +SKIP
    """
    import polars as pl

    t = reply_text.fill_null("").str.to_lowercase()
    code = enhanced_code(dsn, reply_text.fill_null("")).fill_null("")
    generic = code.str.replace(r"^[245]\.", "X.")
    out = pl.when(t.str.contains("access denied") & code.is_in(["5.4.1", "4.4.1"]) & t.str.contains("recipient"))\
        .then(pl.lit("mailbox_unknown"))
    for cls, pat in TEXT_RULES:
        out = out.when(t.str.contains(pat)).then(pl.lit(cls))
    for cls in dict.fromkeys(CODE_CLASSES.values()):
        out = out.when(generic.is_in([k for k, v in CODE_CLASSES.items() if v == cls])).then(pl.lit(cls))
    return (out.when(generic.str.starts_with("X.7.")).then(pl.lit("policy_spam"))
            .when(t.str.contains(WEAK_TEXT)).then(pl.lit("policy_spam"))
            .otherwise(pl.lit("other")))


def normalize_reason(text: Any) -> Any:
    """A groupable reason (a polars ``Expr``): the remote host's preamble, reply codes, ``(in reply to …)``,
    Postfix's ``; from=<…> to=<…>`` envelope, addresses, URLs, host names, IP addresses, queue and
    other IDs and long numbers are removed or replaced by ``<address>``, ``<url>``, ``<host>``,
    ``<ip>``, ``<id>``, ``N``. DNSBL names (``blocked using zen.spamhaus.org``) are kept. Never cut."""
    mark = "\x01"
    out = (
        text.fill_null("")
        .str.replace(r"^host \S+ said: ", "")
        .str.replace(r"^host \S+ refused to talk to me: ", "refused to talk: ")
        .str.replace(r"^delivery temporarily suspended: ", "")
        .str.replace(r"^(?:connect to \S+?: )", "connect: ")
        .str.replace(r"^lost connection with \S+ ", "lost connection ")
        .str.replace(r"\s*\(in reply to [^)]*\)\s*$", "")
        .str.replace(r";\s*from=<.*$", "")
        .str.replace(r"^\d{3}[ -](?:#?[245]\.\d{1,3}\.\d{1,3}\s+)?", "")
        .str.replace_all(r"\b\d{3}[ -][245]\.\d{1,3}\.\d{1,3}\b\s*", "")
        .str.replace_all(r"<[^<>\s]*@[^<>\s]*>", "\x02address\x03")
        .str.replace_all(r"<[^<>\s]*>", "<…>")
        .str.replace_all(r"(?i)https?://\S+|\bwww\.[^\s;,)]+", "\x02url\x03")
        .str.replace_all(r"/var/(?:spool/)?mail/[\w.+-]*\w", "/var/mail/\x02user\x03")
        .str.replace_all(r"\bfor user [\w.+-]*\w", "for user \x02user\x03")
        .str.replace_all(r"[\w.+=/-]+@[\w.-]+", "\x02address\x03")
    )
    for _ in range(4):  # DNSBL zone names survive the host-name rule (their dots are masked until the end)
        out = out.str.replace(r"(?i)((?:blocked using|listed (?:at|in|on|by)) [A-Za-z0-9_\x01-]+)\.", "${1}" + mark)
    return (
        out
        .str.replace_all(r"\[(?:[0-9a-fA-F:.]+)\](?::\d+)?|\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-fA-F]{1,4}:){3,}[0-9a-fA-F:]*",
                         "<ip>")
        .str.replace_all(r"(?i)\b(?:[a-z0-9_-]+\.)+[a-z]{2,}\b\.?", "<host>")
        .str.replace_all(r"\b(?:id|ID)=\S+", "id=<id>")
        .str.replace_all(r"\b[A-Za-z]*\d[A-Za-z0-9_-]{6,}\b|\b[A-Za-z][A-Za-z_-]{5,}\d[A-Za-z0-9_-]*\b|\b[0-9A-F]{6,}\b",
                         "<id>")
        .str.replace_all(r"\b\d{2,}\b", "N")
        .str.replace_all(r"(?:<host>)+", "<host>")
        .str.replace_all(mark, ".", literal=True)
        .str.replace_all("\x02", "<", literal=True)
        .str.replace_all("\x03", ">", literal=True)
        .str.replace_all(r"\s+", " ")
        .str.strip_chars(" ;:,")
    )


def action_expr() -> Any:
    """A deferral's, bounce's or reject's ``action``: the reject action (``reject``, ``reject_warning``, ``hold``,
    ``discard``), else the delivery status; a reject the pflogsumm-compatible totals do not count (postscreen's)
    is ``reject (not in totals)``, so that every table's sums equal the grand totals."""
    import polars as pl

    return pl.coalesce(pl.col("act"), pl.col("dstatus"), pl.col("kind") + pl.lit(" (not in totals)"))


def reason_rows(rows: Any, peer: Any) -> Any:
    """Deferral, bounce or reject rows with ``action`` (the reject action, else the status), their reason
    class ``cls``, ``code``, groupable ``reason``, one raw ``example`` and the ``peer``."""
    import polars as pl

    return rows.with_columns(action=action_expr(), cls=classify_reason(pl.col("dsn"), pl.col("reply_text")),
                             code=enhanced_code(pl.col("dsn"), pl.col("reply_text").fill_null("")),
                             reason=normalize_reason(pl.col("reply_text")), example=pl.col("reply_text").fill_null(""),
                             peer=peer)


#: the keys a reason counter is grouped by (the fold's state and the mergeable JSON carry them)
REASON_KEYS = ("action", "cls", "code", "reason", "queue_id")
PEER_KEYS = ("action", "cls", "peer")
#: the reject actions in report order
ACTION_ORDER = ("reject", "reject_warning", "hold", "discard", "reject (not in totals)")


def reason_finish(by_msg: Any, by_peer: Any, top: int, messages: bool = True) -> tuple[Any, Any]:
    """(by class/code/reason, by class/peer) from counts per :data:`REASON_KEYS` (with ``count`` and one
    ``example``) and per :data:`PEER_KEYS`.

    Deferrals and bounces (``messages=True``) also count distinct queue IDs (``messages``).
    Rejects (``messages=False``) are counted as rejects — most have no queue ID — and keep their
    ``action`` (reject, reject_warning, hold, discard); ``top`` rows per action.
    """
    import polars as pl

    aggs = [pl.col("count").sum()]
    if messages:
        aggs.append(pl.col("queue_id").drop_nulls().n_unique().alias("messages"))
    aggs.append(pl.col("example").max())
    keys = ["cls", "code", "reason"] if messages else ["action", "cls", "code", "reason"]
    by_reason = by_msg.group_by(*keys).agg(*aggs)
    pkeys = ["cls", "peer"] if messages else ["action", "cls", "peer"]
    peers = by_peer.group_by(*pkeys).agg(count=pl.col("count").sum())
    if messages:
        by_reason = by_reason.sort(["count", "cls", "reason", "code"], descending=[True, False, False, False],
                                   nulls_last=True).head(top)
        peers = peers.sort(["count", "cls", "peer"], descending=[True, False, False], nulls_last=True).head(top)
    else:
        rank = pl.col("action").replace_strict({a: i for i, a in enumerate(ACTION_ORDER)}, default=len(ACTION_ORDER),
                                               return_dtype=pl.Int32)
        by_reason = (by_reason.sort([rank, "count", "cls", "reason", "code"], descending=[False, True, False, False, False],
                                    nulls_last=True).group_by("action", maintain_order=True).head(top))
        peers = (peers.sort([rank, "count", "cls", "peer"], descending=[False, True, False, False], nulls_last=True)
                 .group_by("action", maintain_order=True).head(top))
    return by_reason.rename({"cls": "class"}), peers.rename({"cls": "class"})


def reason_tables(rows: Any, peer: Any, top: int, messages: bool = True) -> tuple[Any, Any]:
    """(by class/code/reason, by class/peer) for deferral, bounce or reject rows."""
    import polars as pl

    r = reason_rows(rows, peer)
    return reason_finish(r.group_by(*REASON_KEYS).agg(count=pl.len(), example=pl.col("example").max()),
                         r.group_by(*PEER_KEYS).agg(count=pl.len()), top, messages)


#: the rows a :class:`ReasonBatch` holds: which table (0 deferral, 1 bounce, 2 reject, 3 SMTP failure), what
#: :func:`reason_rows` reads, and the peer's name and address (the client of a reject, else the relay)
BATCH_COLUMNS = ("which", "act", "dstatus", "kind", "dsn", "reply_text", "queue_id", "peer_host", "peer_ip", "sender")
#: a :class:`ReasonBatch` is classified once it holds this many rows (and at the end of a fold)
BATCH_ROWS = 50_000


class ReasonBatch:
    """Deferral, bounce, reject and SMTP-failure rows of several blocks (:data:`BATCH_COLUMNS`, strings owned),
    classified and normalized together: the ~45 regexes of :func:`reason_rows` exceed polars' per-thread cache
    of 32 compiled ones, so each evaluation compiles them again (measured: ~35 ms per 16 MiB block, more than
    the matching itself). The counts are sums, so when the rows are counted does not change them."""

    def __init__(self, rej_add_from: bool = False) -> None:
        self.rej_add_from = rej_add_from
        self.parts: list[Any] = []
        self.rows = 0

    def add(self, df: Any) -> bool:
        """Hold rows of :data:`BATCH_COLUMNS`; true when the batch is due (:data:`BATCH_ROWS`)."""
        if df.height:
            self.parts.append(df)
            self.rows += df.height
        return self.rows >= BATCH_ROWS

    def drain(self) -> list[Any] | None:
        """None when empty, else the held rows' counts: per deferral, bounce and reject (by :data:`REASON_KEYS` with
        ``count`` and ``example``, by :data:`PEER_KEYS` with ``count``), then SMTP failures by ``reason, peer``."""
        import polars as pl

        from logtrace.reports.pflogsumm import gimme_domain

        if not self.parts:
            return None
        rows = pl.concat(self.parts)
        self.parts, self.rows = [], 0
        dom = gimme_domain(pl.col("peer_host"), pl.col("peer_ip"))
        client = (pl.concat_str([dom.fill_null(""), pl.lit(" from=<"), pl.col("sender").fill_null(""), pl.lit(">")])
                  if self.rej_add_from else dom)
        r = reason_rows(rows, pl.when(pl.col("which") == 2).then(client).otherwise(dom.fill_null("none"))).lazy()
        plans = []
        for i in range(3):
            ri = r.filter(pl.col("which") == i)
            plans += [ri.group_by(*REASON_KEYS).agg(count=pl.len(), example=pl.col("example").max()),
                      ri.group_by(*PEER_KEYS).agg(count=pl.len())]
        plans.append(r.filter(pl.col("which") == 3).group_by("reason", "peer").agg(count=pl.len()))
        return pl.collect_all(plans)

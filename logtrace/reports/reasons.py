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


def reason_rows(rows: Any, peer: Any) -> Any:
    """Deferral, bounce or reject rows with their reason class ``cls``, ``code``, groupable ``reason`` and ``peer``."""
    import polars as pl

    return rows.with_columns(cls=classify_reason(pl.col("dsn"), pl.col("reply_text")),
                             code=enhanced_code(pl.col("dsn"), pl.col("reply_text").fill_null("")),
                             reason=normalize_reason(pl.col("reply_text")), peer=peer)


def reason_finish(by_msg: Any, by_peer: Any, top: int) -> tuple[Any, Any]:
    """(by class/code/reason, by class/peer) from counts per ``cls, code, reason, queue_id`` and per ``cls, peer``."""
    import polars as pl

    by_reason = (by_msg.group_by("cls", "code", "reason").agg(count=pl.col("count").sum(), messages=pl.col("queue_id").n_unique())
                 .sort(["count", "cls", "reason", "code"], descending=[True, False, False, False], nulls_last=True)
                 .head(top * 5)
                 .rename({"cls": "class"}))
    peers = (by_peer.group_by("cls", "peer").agg(count=pl.col("count").sum())
             .sort(["count", "cls", "peer"], descending=[True, False, False]).head(top * 2).rename({"cls": "class"}))
    return by_reason, peers


def reason_tables(rows: Any, peer: Any, top: int) -> tuple[Any, Any]:
    """(by class/code/reason, by class/peer) for deferral, bounce or reject rows."""
    import polars as pl

    r = reason_rows(rows, peer)
    return reason_finish(r.group_by("cls", "code", "reason", "queue_id").agg(count=pl.len()),
                         r.group_by("cls", "peer").agg(count=pl.len()), top)

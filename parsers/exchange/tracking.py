"""Message tracking logs (``MSGTRK*.LOG``, ``#Fields`` header) and ``Get-MessageTrackingLog |
Export-Csv`` exports: one event per recipient of each row (see the package docstring for the
field conventions).
"""

from __future__ import annotations

from typing import Any

from logtrace.events import EventKind as K
from logtrace.parsing.rules import apply_derivations
from logtrace_parsers.exchange.columns import align_statuses, bad_stamps, bag, clean, ensure, msgid, timestamp
from logtrace_parsers.exchange.table import EVENT_KINDS, FIELDS_2016, HOP_DERIVS, REPLY_DERIVS

__all__ = ["tracking_frame"]


def tracking_frame(raw: Any, *, export: bool, tz: str | None) -> Any:
    """Tracking-log rows (``export``: ``Get-MessageTrackingLog | Export-Csv`` rows, naive stamps in ``tz``)
    → one event per recipient. ``raw`` is the string frame of :func:`read_rows`."""
    import polars as pl

    raw = ensure(raw, FIELDS_2016)
    c = clean
    eid = c("event-id").str.to_uppercase()
    is_send = eid.is_in(["SEND", "SENDEXTERNAL"])
    ts = timestamp(pl.col("date-time"), tz if export else "UTC", local=export)
    recip = c("recipient-address")
    rstat = c("recipient-status")
    if export:  # Export-Csv flattens arrays to their type name; Format output adds braces
        recip = pl.when(recip == "System.String[]").then(None).otherwise(recip.str.strip_chars("{} "))
        rstat = pl.when(rstat == "System.String[]").then(None).otherwise(rstat.str.strip_chars("{} "))
    split_re = r"\s*[;,]\s*|\s+" if export else r"\s*;\s*"
    df = raw.with_columns(
        _ts=ts,
        _eid=eid,
        _send=is_send,
        _recips=recip.str.replace_all(split_re, "\x1e").str.strip_chars("\x1e").str.split("\x1e"),
        _rstat=rstat,
    )
    df = align_statuses(df)
    hop = c("source-context").str.extract(r"(?:^|;)\s*([2-5]\d\d[ -][^;]*)", 1)
    details = bag([
        ("network-message-id", c("network-message-id")),
        ("reference", c("reference")),
        ("return-path", pl.when(c("return-path") != pl.coalesce(c("sender-address"), pl.lit(""))).then(c("return-path"))),
        ("connector-id", c("connector-id")),
        ("original-client-ip", c("original-client-ip")),
        ("original-server-ip", c("original-server-ip")),
        ("source-context", c("source-context")),
    ])
    kinds = {k: v.value for k, v in EVENT_KINDS.items()}
    # a SEND row's recipient-status is per recipient: a 5xx/4xx for one recipient is that
    # recipient's failure/deferral at the next hop, not a hand-off (nor a link to its queue ID)
    rcode = pl.col("_reply").str.extract(r"^([2-5])\d\d(?:[ -]|$)", 1)
    refused = pl.col("_send") & rcode.is_in(["4", "5"]).fill_null(False)
    kind = (pl.when(refused & (rcode == "5")).then(pl.lit(K.BOUNCE.value))
            .when(refused).then(pl.lit(K.DEFER.value))
            .otherwise(pl.col("_eid").replace_strict(kinds, default="other", return_dtype=pl.String)))
    out = df.select(
        "line_no",
        "_seq",
        ts=pl.col("_ts"),
        _bad_ts=pl.col("_ts").is_null(),
        host=pl.when(pl.col("_send")).then(pl.coalesce(c("client-hostname"), c("server-hostname")))
        .otherwise(pl.coalesce(c("server-hostname"), c("client-hostname"))),
        program=pl.coalesce(c("source"), pl.lit("MSExchange")),
        kind=kind,
        rule=pl.lit("exchange.export.row" if export else "exchange.msgtrk.row"),
        queue_id=c("internal-message-id"),
        message_id=msgid(c("message-id")),
        sender=c("sender-address"),
        recipient=pl.col("_recipient"),
        orig_recipient=c("related-recipient-address"),
        relay_host=pl.when(pl.col("_send")).then(c("server-hostname")),
        relay_ip=pl.when(pl.col("_send")).then(c("server-ip")),
        client_host=pl.when(~pl.col("_send")).then(c("client-hostname")),
        client_ip=pl.when(~pl.col("_send")).then(c("client-ip")),
        reply_text=pl.col("_reply"),
        size=c("total-bytes"),
        nrcpt=c("recipient-count"),
        status=pl.col("_eid"),
        detail=details,
        _hop=pl.when(pl.col("_send") & ~refused).then(hop),
        _raw_ts=pl.col("date-time"),
    )
    out = apply_derivations(out, REPLY_DERIVS)
    out = apply_derivations(out, HOP_DERIVS)
    return bad_stamps(out.drop("_hop"))

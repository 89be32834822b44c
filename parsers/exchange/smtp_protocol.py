"""SMTP send and receive protocol logs (``#Log-type: SMTP Send|Receive Protocol Log``): one
event per row; sessions are rebuilt by ``session-id`` and ``sequence-number`` (across chunks)
so the final reply to ``DATA``/``BDAT`` becomes ``exchange.smtp.data_reply``.
"""

from __future__ import annotations

from typing import Any

from logtrace.parsing.rules import apply_derivations
from logtrace_parsers.exchange.columns import bad_stamps, bag, clean, ensure, timestamp
from logtrace_parsers.exchange.table import FIELDS_PROTOCOL, REPLY_DERIVS

__all__ = ["protocol_frame"]


def protocol_frame(raw: Any, program: str | None, sessions: Any) -> tuple[Any, Any]:
    """SMTP protocol-log rows → events, and the per-session values to carry into the next chunk.

    ``program`` is ``SmtpSend``/``SmtpReceive``/``SmtpProtocol``; ``sessions`` is what the previous
    chunk returned (None at first): the last command, sender, RecordId and Message-Id per session.
    """
    import polars as pl

    raw = ensure(raw, FIELDS_PROTOCOL)
    c = clean
    send = (program or "") == "SmtpSend"
    ev = c("event")
    data = c("data")
    cmd_dir, reply_dir = (">", "<") if send else ("<", ">")
    df = raw.with_columns(
        _sid=c("session-id"),
        _seqn=c("sequence-number").cast(pl.Int64, strict=False),
        _cmd=pl.when(ev == cmd_dir).then(data.str.extract(r"^([A-Za-z]+)", 1).str.to_uppercase()),
        _from=pl.when(ev == cmd_dir).then(data.str.extract(r"(?i)^MAIL FROM:\s*<([^>]*)>", 1)),
        _to=pl.when(ev == cmd_dir).then(data.str.extract(r"(?i)^RCPT TO:\s*<([^>]*)>", 1)),
        _rid=pl.coalesce(data, pl.lit("")).add(pl.coalesce(c("context"), pl.lit(""))).str.extract(r"RecordId (\d+)", 1),
        _mid=pl.coalesce(data, pl.lit("")).add(pl.coalesce(c("context"), pl.lit(""))).str.extract(r"InternetMessageId <([^>]*)>", 1),
    ).sort(["_sid", "_seqn", "line_no"], nulls_last=True, maintain_order=True)
    fill = ["_cmd", "_from", "_rid", "_mid"]
    df = df.with_columns([pl.col(x).forward_fill().over("_sid").alias(f"{x}_f") for x in fill])
    if sessions is not None and sessions.height:
        df = df.join(sessions, on="_sid", how="left", suffix="_s").with_columns(
            [pl.coalesce(pl.col(f"{x}_f"), pl.col(f"{x}_f_s")).alias(f"{x}_f") for x in fill])
    last = df.filter(pl.col("_sid").is_not_null()).group_by("_sid", maintain_order=True).agg(
        [pl.col(f"{x}_f").last() for x in fill])
    if sessions is not None and sessions.height:
        last = pl.concat([sessions.join(last, on="_sid", how="anti"), last], how="vertical_relaxed")
    code = data.str.extract(r"^([2-5]\d\d)[ -]", 1)
    is_reply = (ev == reply_dir) & code.is_not_null()
    final = is_reply & pl.col("_cmd_f").is_in(["DATA", "BDAT"]) & (code != "354")
    by_code = pl.when(code.str.starts_with("2")).then(pl.lit("deliver" if send else "accept")) \
        .when(code.str.starts_with("4")).then(pl.lit("defer")).otherwise(pl.lit("bounce" if send else "reject"))
    kind = pl.when(final).then(by_code).when(ev == "+").then(pl.lit("connect")).when(ev == "-") \
        .then(pl.lit("disconnect")).otherwise(pl.lit("other"))
    rule = pl.when(final).then(pl.lit("exchange.smtp.data_reply")).when(ev == "+").then(pl.lit("exchange.smtp.connect")) \
        .when(ev == "-").then(pl.lit("exchange.smtp.disconnect")).otherwise(pl.lit("exchange.smtp.line"))
    remote = c("remote-endpoint").str.extract_groups(r"^\[?(?P<ip>[^\]]*?)\]?:(?P<port>\d+)$")
    out = df.select(
        "line_no",
        ts=timestamp(pl.col("date-time"), "UTC", local=False),
        program=pl.lit(program or "SmtpProtocol"),
        kind=kind,
        rule=rule,
        queue_id=pl.when(final & pl.lit(send)).then(pl.col("_rid_f")),
        message_id=pl.when(final).then(pl.coalesce(pl.col("_mid_f"), data.str.extract(r"^2\d\d [\d.]+ <([^>]*)>", 1))),
        sender=pl.when(final).then(pl.col("_from_f")).otherwise(pl.col("_from")),
        recipient=pl.col("_to"),
        relay_ip=pl.when(pl.lit(send)).then(remote.struct.field("ip")),
        relay_port=pl.when(pl.lit(send)).then(remote.struct.field("port")),
        client_ip=pl.when(pl.lit(not send)).then(remote.struct.field("ip")),
        reply_text=pl.when(is_reply).then(data),
        detail=bag([("session-id", pl.col("_sid")), ("sequence-number", c("sequence-number")),
                     ("connector-id", c("connector-id")), ("data", pl.when(~is_reply).then(data)),
                     ("context", c("context"))]),
        _raw_ts=pl.col("date-time"),
        _final=final,
    )
    out = apply_derivations(out, REPLY_DERIVS)
    if not send:  # our own reply: InternalId/Hostname are this server's queue id and name
        out = out.with_columns(
            queue_id=pl.when(pl.col("_final")).then(pl.col("next_queue_id")).otherwise(pl.col("queue_id")),
            host=pl.when(pl.col("_final")).then(pl.col("next_host")),
            next_queue_id=pl.lit(None, pl.String),
            next_host=pl.lit(None, pl.String),
        )
    return bad_stamps(out.drop("_final")), last

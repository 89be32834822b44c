"""Agent Logs (``#Log-type: Agent Log``, ``TransportRoles\\Logs\\Hub\\AgentLog\\AGENT*.LOG``,
Exchange 2013–2019): one row per transport-agent decision (Content Filter, Recipient Filter,
Sender Filter … agents), one event per recipient of each row (see the package docstring for
the field conventions).
"""

from __future__ import annotations

from typing import Any

from logtrace.parsing.rules import apply_derivations
from logtrace_parsers.exchange.columns import (
    align_statuses, bad_stamps, bag, clean, endpoint_ip, ensure, msgid, timestamp,
)
from logtrace_parsers.exchange.table import AGENT_ACTION_KINDS, FIELDS_AGENT, REPLY_DERIVS

__all__ = ["agent_frame"]


def agent_frame(raw: Any, *, export: bool = False, tz: str | None = None) -> Any:
    """Agent Log rows → one ``exchange.agent.row`` event per recipient (a row without recipients,
    e.g. a ``RejectCommand`` at ``OnMailCommand``, gives one event without ``recipient``).

    ``raw`` is the string frame of :func:`read_rows`; ``export`` (a CSV header row instead of
    ``#Fields``) reads naive stamps in ``tz`` like the tracking exports, else stamps are UTC.
    """
    import polars as pl

    raw = ensure(raw, FIELDS_AGENT)
    c = clean
    action = c("action")
    remote = endpoint_ip(c("remote-endpoint"))
    entered = endpoint_ip(c("entered-org-from-ip"))
    p1 = c("p1-from-address")
    p2 = c("p2-from-addresses")
    df = raw.with_columns(
        _ts=timestamp(pl.col("date-time"), tz if export else "UTC", local=export),
        _recips=c("recipient-address").str.replace_all(r"\s*;\s*", "\x1e").str.strip_chars("\x1e").str.split("\x1e"),
        _rstat=pl.lit(None, pl.String),  # the row's SmtpResponse is the whole row's, never split per recipient
    )
    df = align_statuses(df)
    details = bag([
        ("network-message-id", c("network-message-id")),
        ("session-id", c("session-id")),
        ("event", c("event")),
        ("reason", c("reason")),
        ("reason-data", c("reason-data")),
        # only when they add something: the first hop into the org, the header From
        ("entered-org-from-ip", pl.when(entered != pl.coalesce(remote, pl.lit(""))).then(entered)),
        ("p2-from", pl.when(p2.str.to_lowercase() != pl.coalesce(p1, pl.lit("")).str.to_lowercase()).then(p2)),
    ])
    kinds = {k.lower(): v.value for k, v in AGENT_ACTION_KINDS.items()}
    out = df.select(
        "line_no",
        "_seq",
        ts=pl.col("_ts"),
        program=pl.coalesce(c("agent"), pl.lit("MSExchange")),
        kind=action.str.to_lowercase().replace_strict(kinds, default="other", return_dtype=pl.String),
        rule=pl.lit("exchange.agent.row"),
        message_id=msgid(c("message-id")),
        sender=p1,
        recipient=pl.col("_recipient"),
        client_ip=pl.coalesce(remote, entered),
        reply_text=c("smtp-response"),
        nrcpt=c("num-recipients"),
        status=action,
        detail=details,
        _raw_ts=pl.col("date-time"),
    )
    return bad_stamps(apply_derivations(out, REPLY_DERIVS))

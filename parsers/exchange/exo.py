"""Exchange Online message trace: ``Get-MessageTrace``/``Export-Csv`` CSV rows (``Received,
SenderAddress,…``), the historical search report (``origin_timestamp_utc,…,recipient_status``)
and the JSON records of ``Get-MessageTrace``/Reporting Web Service, one per line. Times are UTC.
"""

from __future__ import annotations

import json
from typing import Any

from logtrace_parsers.exchange.columns import bad_stamps, bag, clean, ensure, msgid, timestamp
from logtrace_parsers.exchange.table import EXO_STATUS_KINDS, FIELDS_2016, norm

__all__ = ["exo_frame", "exo_json_frame"]


def exo_frame(raw: Any) -> Any:
    """EXO message trace rows (CSV or JSON, columns by canonical name) → one event per recipient."""
    import polars as pl

    raw = ensure(raw, [*FIELDS_2016, "status", "message-trace-id", "organization"])
    c = clean
    tz = "UTC"  # EXO reports UTC whatever the exporting machine's zone
    # historical search: recipient_status = "addr##Receive, Deliver;addr2##Receive, Fail"
    hist = c("recipient-status").str.contains("##")
    df = raw.with_columns(
        _ts=timestamp(pl.col("date-time"), tz, local=True),
        _recips=pl.when(hist).then(c("recipient-status")).otherwise(c("recipient-address"))
        .str.replace_all(r"\s*;\s*", "\x1e").str.strip_chars("\x1e").str.split("\x1e"),
    ).with_row_index("_row").explode("_recips").with_columns(
        _seq=pl.int_range(pl.len()).over("_row").cast(pl.Int64))
    rcpt = pl.col("_recips").str.split("##").list.first().str.strip_chars().replace("", None)
    hstat = pl.col("_recips").str.split("##").list.get(1, null_on_oob=True).str.split(",").list.last().str.strip_chars()
    status = pl.when(hist).then(hstat).otherwise(c("status"))
    kinds = {k: v.value for k, v in EXO_STATUS_KINDS.items()}
    out = df.select(
        "line_no",
        "_seq",
        ts=pl.col("_ts"),
        host=c("organization"),
        program=pl.lit("ExchangeOnline"),
        kind=status.str.to_uppercase().str.replace_all(r"\s", "").replace_strict(kinds, default="other", return_dtype=pl.String),
        rule=pl.lit("exchange.exo.row"),
        queue_id=pl.coalesce(c("message-trace-id"), c("network-message-id")),
        message_id=msgid(c("message-id")),
        sender=c("sender-address"),
        recipient=rcpt,
        relay_ip=c("server-ip"),
        client_ip=pl.coalesce(c("client-ip"), c("original-client-ip")),
        size=c("total-bytes"),
        status=status,
        detail=bag([("network-message-id", c("network-message-id")), ("connector-id", c("connector-id"))]),
        _raw_ts=pl.col("date-time"),
    )
    return bad_stamps(out)


def exo_json_frame(jsn: Any) -> Any:
    """``{``-lines (``line_no``, ``line``): JSON records of ``Get-MessageTrace``; non-objects are ``unparsed``."""
    import polars as pl

    rows: list[dict[str, Any]] = []
    bad: list[int] = []
    for ln_no, text in jsn.select("line_no", "line").iter_rows():
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            bad.append(ln_no)
            continue
        row = {norm(k): None if v is None else str(v) for k, v in obj.items() if not isinstance(v, (dict, list))}
        row["line_no"] = ln_no
        rows.append(row)
    parts = []
    if bad:
        parts.append(pl.DataFrame({"line_no": bad}, schema={"line_no": pl.Int64}).with_columns(
            kind=pl.lit("unparsed"), reason=pl.lit("bad-field"), detail=pl.lit("not a JSON object")))
    if rows:
        cols = sorted({k for r in rows for k in r} - {"line_no"})
        raw = pl.DataFrame(rows, schema={"line_no": pl.Int64, **{k: pl.String for k in cols}})
        parts.append(exo_frame(raw))
    return pl.concat(parts, how="diagonal_relaxed")

"""The summary's report sections (per-day/hour traffic, top-N tables, delays, reasons,
warnings, postscreen, smtpd connections), each a polars DataFrame built from derived events
(:func:`logtrace.reports.pflogsumm.derive`)."""

from __future__ import annotations

from typing import Any

from logtrace.parsing.tags import Tag, tagged
from logtrace.reports.collect import CONN_KINDS
from logtrace.reports.pflogsumm import gimme_domain, recipient_domain
from logtrace.reports.reasons import action_expr, reason_tables

#: (column, label) of the delay parts the "delays" section reports, in order
DELAY_PARTS = (("delay_s", "delay"), ("delay_before_qmgr_s", "before_qmgr"), ("delay_in_qmgr_s", "in_qmgr"),
               ("delay_conn_s", "conn_setup"), ("delay_xmit_s", "transmission"))
#: per-day/per-hour columns: ``deferrals`` are delivery attempts (as the grand total of that name), ``rejected``
#: counts ``reject`` actions only (as the grand total; warnings, holds and discards are in ``reject_actions``)
TRAFFIC = ("received", "delivered", "deferrals", "bounced", "rejected")


def traffic_aggs() -> dict[str, Any]:
    """The per-day/per-hour aggregations over derived events (:data:`TRAFFIC`), shared with the fold."""
    import polars as pl

    return dict(received=pl.col("received").sum(), delivered=pl.col("delivered").sum(),
                deferrals=(pl.col("dstatus") == "deferred").sum(), bounced=(pl.col("dstatus") == "bounced").sum(),
                rejected=(pl.col("act") == "reject").sum())


def delay_bucket(v: Any) -> Any:
    """The fixed bucket of a delay in seconds (a polars ``Expr``): whole seconds from 10 s, two significant
    digits below — Postfix's own resolution, so its logged values are their own buckets. The delay
    histograms (and merged documents' percentiles) are exact to the bucket."""
    import polars as pl

    return pl.when(v >= 9.95).then(v.round(0)).otherwise(v.round_sig_figs(2))


def traffic(ev: Any, by: str) -> Any:
    import polars as pl

    return finish_traffic(ev.filter(pl.col(by).is_not_null()).group_by(by).agg(**traffic_aggs()), by)


def finish_traffic(counts: Any, by: str) -> Any:
    """Per-``by`` traffic counts → the section: rows with any traffic, in ``by`` order."""
    import polars as pl

    return counts.filter(pl.sum_horizontal(*TRAFFIC) > 0).sort(by)


def per_hour(ev: Any, t: Any = None) -> Any:
    import polars as pl

    hours = pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8})
    t = (traffic(ev, "hour") if t is None else t).with_columns(pl.col("hour").cast(pl.Int8))
    return hours.join(t, on="hour", how="left").fill_null(0).sort("hour")


def delivery_by(ev: Any, sized: Any, key: Any, name: str) -> Any:
    import polars as pl

    d = ev.filter(pl.col("delivered") | (pl.col("dstatus") == "deferred")).join(sized, on="queue_id", how="left")
    sz = pl.when(pl.col("size_seq") < pl.col("seq")).then(pl.col("msg_size")).otherwise(0)
    return (d.with_columns(k=key, sz=sz).group_by("k").agg(
        sent=pl.col("delivered").sum(), bytes=pl.col("sz").filter(pl.col("delivered")).sum(),
        deferrals=(pl.col("dstatus") == "deferred").sum(),
        avg_delay_s=pl.col("delay_s").filter(pl.col("delivered")).mean(),
        max_delay_s=pl.col("delay_s").max(),
    ).rename({"k": name}).sort(["sent", "deferrals", name], descending=[True, True, False]))


def top_n(df: Any, by: str, n: int) -> Any:
    return df.sort([by, df.columns[0]], descending=[True, False]).head(n)


def delays(ev: Any) -> Any:
    import polars as pl

    d = ev.filter(pl.col("delivered"))
    rows = []
    for col, label in DELAY_PARTS:
        c = delay_bucket(pl.col(col).cast(pl.Float64))
        rows.append(d.select(part=pl.lit(label), count=c.count(), p50=c.quantile(0.5, "nearest"),
                             p90=c.quantile(0.9, "nearest"), p99=c.quantile(0.99, "nearest"), max=c.max()))
    return pl.concat(rows)


def delay_hist(hist: Any, label: str) -> Any:
    """The ``value, n`` rows of one delay part of histograms ``part, value, n`` (None stays None)."""
    import polars as pl

    return hist.filter(pl.col("part") == label).select("value", "n") if hist is not None else None


def delays_from_hist(hist: Any) -> Any:
    """The "delays" section (count and percentiles per :data:`DELAY_PARTS`) from histograms ``part, value, n``
    of bucketed delays (:func:`delay_bucket`; None: no deliveries)."""
    import polars as pl

    rows = []
    for _, label in DELAY_PARTS:
        h = delay_hist(hist, label)
        v = (h.select(pl.col("value").repeat_by(pl.col("n")).explode()).to_series() if h is not None and h.height
             else pl.Series("value", [], pl.Float64))
        rows.append(pl.DataFrame({"v": v}).select(
            part=pl.lit(label), count=pl.col("v").count(), p50=pl.col("v").quantile(0.5, "nearest"),
            p90=pl.col("v").quantile(0.9, "nearest"), p99=pl.col("v").quantile(0.99, "nearest"), max=pl.col("v").max()))
    return pl.concat(rows)


#: eximstats' "time spent on the queue" buckets (upper bounds in seconds, the last one open)
DELAY_LIMITS = ((60, "under 1m"), (300, "1m-5m"), (900, "5m-15m"), (1800, "15m-30m"), (3600, "30m-1h"), (10800, "1h-3h"),
                (21600, "3h-6h"), (43200, "6h-12h"), (86400, "12h-1d"), (None, "over 1d"))


def delay_distribution(hist: Any) -> Any:
    """Deliveries by total delay (``delay=``, receipt to delivery) in eximstats' queue-time buckets:
    count, percent and cumulative percent, from a histogram ``value, n`` of delays."""
    import polars as pl

    labels = [label for _, label in DELAY_LIMITS]
    rank = pl.lit(len(DELAY_LIMITS) - 1)
    for i, (limit, _) in reversed(list(enumerate(DELAY_LIMITS[:-1]))):
        rank = pl.when(pl.col("value") < limit).then(pl.lit(i)).otherwise(rank)
    counts = (hist.group_by(rank.alias("i")).agg(count=pl.col("n").sum()) if hist is not None and hist.height
              else pl.DataFrame(schema={"i": pl.Int32, "count": pl.UInt32}))
    got = {int(i): int(n) for i, n in counts.iter_rows()}
    total = sum(got.values())
    rows, cum = [], 0
    for i, label in enumerate(labels):
        n = got.get(i, 0)
        cum += n
        rows.append({"delay": label, "count": n, "percent": round(100 * n / total, 1) if total else 0.0,
                     "cumulative_percent": round(100 * cum / total, 1) if total else 0.0})
    return pl.DataFrame(rows, schema={"delay": pl.String, "count": pl.Int64, "percent": pl.Float64,
                                      "cumulative_percent": pl.Float64})


def severity(ev: Any, top: int) -> Any:
    import polars as pl

    sev = pl.when(pl.col("kind") == "warning").then(pl.lit("warning")).otherwise(pl.col("kind"))
    return severity_finish(ev.filter(pl.col("kind").is_in(["warning", "fatal", "panic"]))
                           .with_columns(severity=sev, message=pl.col("detail").fill_null("").str.slice(0, 120))
                           .group_by("severity", "daemon", "message").agg(count=pl.len()), top)


def severity_finish(counts: Any, top: int) -> Any:
    return (counts.sort(["severity", "count", "message", "daemon"], descending=[False, True, False, False])
            .group_by("severity", maintain_order=True).head(top))


def smtpd(ev: Any, top: int) -> tuple[dict[str, Any], Any]:
    """Connections from connect/disconnect pairs per (host, pid), as pflogsumm's ``--smtpd-stats``:
    (stats, by client). :func:`smtpd_tables` adds the per-day and per-hour tables."""
    stats, by_host, _, _ = smtpd_tables(ev, top)
    return stats, by_host


def smtpd_tables(ev: Any, top: int) -> tuple[dict[str, Any], Any, Any, Any]:
    """(stats, by client, per day, per hour) of SMTPD connections; a connection counts on the
    day and hour of its ``disconnect`` (as pflogsumm does), in the report's zone."""
    return smtpd_finish(smtpd_agg(ev), top)


def smtpd_agg(ev: Any) -> Any:
    """Connect/disconnect pairs per (host, pid) → connections, total and max seconds per client, day and hour."""
    import polars as pl

    c = (ev.filter(pl.col("kind").is_in(CONN_KINDS), pl.col("daemon") != "postscreen").sort("seq")
         .with_columns(prev_kind=pl.col("kind").shift(1).over("host", "pid"), prev_ts=pl.col("ts").shift(1).over("host", "pid")))
    pairs = c.filter(pl.col("kind") == "disconnect", pl.col("prev_kind") == "connect").with_columns(
        secs=(pl.col("ts").dt.truncate("1s") - pl.col("prev_ts").dt.truncate("1s")).dt.total_seconds(),
        client=gimme_domain(pl.col("client_host"), pl.col("client_ip")))
    return smtpd_agg_merge(pairs.select("client", "day", pl.col("hour").cast(pl.Int8), connections=pl.lit(1, pl.UInt32),
                                        total_s=pl.col("secs").cast(pl.Int64), max_s=pl.col("secs").cast(pl.Int64)))


def smtpd_agg_merge(agg: Any) -> Any:
    import polars as pl

    return (agg.group_by("client", "day", "hour", maintain_order=True)
            .agg(pl.col("connections").sum().cast(pl.UInt32), pl.col("total_s").sum(), pl.col("max_s").max()))


def smtpd_finish(agg: Any, top: int) -> tuple[dict[str, Any], Any, Any, Any]:
    """(stats, by client, per day, per hour) from :func:`smtpd_agg` rows."""
    import polars as pl

    n = int(agg["connections"].sum() or 0) if agg.height else 0
    total = int(agg["total_s"].sum() or 0) if agg.height else 0
    stats = {"connections": n, "hosts": agg["client"].n_unique() if agg.height else 0, "total_connect_s": total,
             "avg_connect_s": round(total / n, 3) if n else 0.0}
    by_host = (agg.group_by("client").agg(connections=pl.col("connections").sum(), total_s=pl.col("total_s").sum(),
                                          max_s=pl.col("max_s").max())
               .sort(["connections", "client"], descending=[True, False]).head(top))

    def per(by: str) -> Any:
        return (agg.filter(pl.col(by).is_not_null()).group_by(by)
                .agg(connections=pl.col("connections").sum(), total_s=pl.col("total_s").sum(), max_s=pl.col("max_s").max())
                .with_columns(avg_s=(pl.col("total_s") / pl.col("connections")).cast(pl.Float64))
                .select(by, "connections", "total_s", "avg_s", "max_s").sort(by))

    hours = pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8})
    per_hour = hours.join(per("hour"), on="hour", how="left").with_columns(
        pl.col("connections").fill_null(0), pl.col("total_s").fill_null(0)).sort("hour")
    return stats, by_host, per("day"), per_hour


def smtp_failures(ev: Any, top: int) -> Any:
    """pflogsumm's "smtp delivery failures": the SMTP client's connect failures, lost connections and
    refusals (``Tag.SMTP_FAILURE``) by normalized reason and remote domain."""
    import polars as pl

    from logtrace.reports.reasons import normalize_reason

    f = ev.filter(tagged(Tag.SMTP_FAILURE)).select(
        reason=normalize_reason(pl.coalesce(pl.col("reply_text"), pl.col("detail"))),
        peer=gimme_domain(pl.col("relay_host"), pl.col("relay_ip")).fill_null("none"))
    return smtp_failures_finish(f.group_by("reason", "peer").agg(count=pl.len()), top)


def smtp_failures_finish(counts: Any, top: int) -> Any:
    return counts.sort(["count", "reason", "peer"], descending=[True, False, False]).head(top).select("count", "reason", "peer")


def postscreen(ev: Any) -> Any:
    import polars as pl

    return (ev.filter(tagged(Tag.POSTSCREEN)).group_by("status")
            .agg(count=pl.len(), clients=pl.col("client_ip").n_unique()).rename({"status": "action"})
            .sort(["count", "action"], descending=[True, False]))


def build_sections(ev: Any, sized: Any, recv: Any, dlv: Any, *, top: int, smtpd_stats: bool) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, int]]:
    """Derived events → (sections in report order, smtpd stats or None, counts)."""
    import polars as pl

    senders = recv.group_by("addr").agg(count=pl.len(), bytes=pl.col("msg_size").sum()).rename({"addr": "sender"})
    rcpts = dlv.group_by("rcpt").agg(count=pl.len(), bytes=pl.col("sz").sum()).rename({"rcpt": "recipient"})
    no_size = dlv.filter(~pl.col("has_size")).group_by("queue_id").agg(recipient=pl.col("rcpt").last(), host=pl.col("host").first())
    deferrals = ev.filter(pl.col("dstatus") == "deferred")
    bounces = ev.filter(pl.col("dstatus") == "bounced")
    # reject rows include reject_warning/hold/discard; the 'action' split is in reject_actions
    rejects = ev.filter(pl.col("act").is_not_null() | (pl.col("kind") == "reject")).with_columns(
        reply_text=pl.coalesce(pl.col("reply_text"), pl.col("detail")))
    relay_peer = gimme_domain(pl.col("relay_host"), pl.col("relay_ip")).fill_null("none")
    d_reason, d_peer = reason_tables(deferrals, relay_peer, top)
    b_reason, b_peer = reason_tables(bounces, relay_peer, top)
    r_reason, r_peer = reason_tables(rejects, gimme_domain(pl.col("client_host"), pl.col("client_ip")), top, messages=False)
    actions = rejects.group_by(action_expr().alias("action")).agg(count=pl.len()).sort("action")
    # a message received without a client: "(local pickup)" for pflogsumm-counted dialects, "(local)" otherwise
    local = pl.when(tagged(Tag.PFLOGSUMM)).then(pl.lit("(local pickup)")).otherwise(pl.lit("(local)"))

    sections: dict[str, Any] = {
        "per_day": traffic(ev, "day"),
        "per_hour": per_hour(ev),
        "delivery_by_domain": delivery_by(ev, sized, recipient_domain(), "domain").head(top),
        "delivery_by_relay": delivery_by(ev, sized, relay_peer, "relay").head(top),
        "reception_by_domain": top_n(recv.group_by("sdom").agg(count=pl.len(), bytes=pl.col("msg_size").sum())
                                     .rename({"sdom": "domain"}), "count", top),
        "reception_by_client": top_n(ev.filter(pl.col("received")).group_by(
            gimme_domain(pl.col("client_host"), pl.col("client_ip")).fill_null(local).alias("client"))
            .agg(count=pl.len()), "count", top),
        "senders_by_count": top_n(senders, "count", top),
        "senders_by_size": top_n(senders, "bytes", top),
        "recipients_by_count": top_n(rcpts, "count", top),
        "recipients_by_size": top_n(rcpts, "bytes", top),
        "delays": delays(ev),
        "delay_distribution": delay_distribution(ev.filter(pl.col("delivered"), pl.col("delay_s").is_not_null())
                                                 .group_by(value=delay_bucket(pl.col("delay_s").cast(pl.Float64))).agg(n=pl.len())),
        "deferral_reasons": d_reason,
        "deferral_hosts": d_peer,
        "bounce_reasons": b_reason,
        "bounce_hosts": b_peer,
        "smtp_failures": smtp_failures(ev, top),
        "reject_actions": actions,
        "reject_reasons": r_reason,
        "reject_hosts": r_peer,
        "warnings": severity(ev, top),
        "no_size": no_size.sort("queue_id").head(top),
        "postscreen": postscreen(ev),
    }
    sections.update(exchange_finish(exchange_rows(ev).group_by(*EXCHANGE_KEYS).agg(count=pl.len()), top))
    sections.update(last_mile_finish(mailbox_rows(ev).group_by(*MAILBOX_KEYS).agg(count=pl.len()),
                                     filter_rows(ev).group_by(*FILTER_KEYS).agg(count=pl.len()), top))
    smtpd_out = None
    if smtpd_stats:
        smtpd_out, sections["smtpd_hosts"], sections["smtpd_per_day"], sections["smtpd_per_hour"] = smtpd_tables(ev, top)
    counts = {
        "warnings": int((ev["kind"] == "warning").sum()), "fatal": int((ev["kind"] == "fatal").sum()),
        "panic": int((ev["kind"] == "panic").sum()), "no_size": no_size.height,
    }
    return sections, smtpd_out, counts


#: the Exchange section's counter keys (message-tracking rows, ``Tag.EVENT_ID``)
EXCHANGE_KEYS = ("event", "source", "connector", "server", "code")


def exchange_rows(ev: Any) -> Any:
    """Message-tracking rows (``Tag.EVENT_ID``) → one row per log line (a row naming several recipients
    is one event per recipient; it counts once): event ID, source component, connector, server and the
    DSN/enhanced code of a FAIL, DSN or DEFER (the lowest of its recipients')."""
    import polars as pl

    from logtrace.reports.reasons import enhanced_code

    t = ev.filter(tagged(Tag.EVENT_ID))
    return t.select(
        "seq", event=pl.col("status").fill_null("").str.to_uppercase(), source=pl.col("program").fill_null(""),
        connector=pl.col("detail").fill_null("").str.extract(r"(?:^|; )connector-id=([^;]*)", 1).fill_null("(none)"),
        server=pl.col("host").fill_null("(unknown)"),
        code=pl.when(pl.col("kind").is_in(["bounce", "defer", "notify"]) | pl.col("status").is_in(["FAIL", "DSN", "DEFER"]))
        .then(enhanced_code(pl.col("dsn"), pl.col("reply_text").fill_null("")))
    ).group_by("seq").agg(pl.col("event", "source", "connector", "server").first(), pl.col("code").drop_nulls().min())


def exchange_finish(counts: Any, top: int) -> dict[str, Any]:
    """The Exchange sections from counts per :data:`EXCHANGE_KEYS` (empty when there are none)."""
    import polars as pl

    if counts is None or not counts.height:
        return {}
    events = (counts.group_by("event").agg(count=pl.col("count").sum(), sources=pl.col("source").unique().sort().str.join(", "))
              .sort(["count", "event"], descending=[True, False]))
    conn = (counts.group_by("connector", "event").agg(count=pl.col("count").sum())
            .sort(["count", "connector", "event"], descending=[True, False, False]).head(top))
    servers = (counts.group_by("server", "event").agg(count=pl.col("count").sum())
               .sort(["count", "server", "event"], descending=[True, False, False]).head(top))
    dsn = (counts.filter(pl.col("code").is_not_null()).group_by("code", "event").agg(count=pl.col("count").sum())
           .sort(["count", "code", "event"], descending=[True, False, False]).head(top))
    return {"exchange_events": events, "exchange_connectors": conn, "exchange_servers": servers, "exchange_dsn": dsn}


#: the last-mile counters' keys: mailbox outcomes (``Tag.MAILBOX``) and content-filter verdicts (``Tag.FILTER_VERDICT``)
MAILBOX_KEYS = ("outcome", "folder")
FILTER_KEYS = ("filter", "verdict", "category", "disposition")
#: mailbox outcomes in report order
OUTCOMES = ("inbox", "junk folder", "other folder", "sieve discard", "sieve redirect", "quota reject", "save failed")


def mailbox_rows(ev: Any) -> Any:
    """The mailbox server's lines (``Tag.MAILBOX``: Dovecot LMTP/LDA and Sieve) → ``outcome`` (:data:`OUTCOMES`) and
    ``folder`` (for saves)."""
    import polars as pl

    m = ev.filter(tagged(Tag.MAILBOX))
    folder = pl.col("detail").fill_null("")
    st = pl.col("status").fill_null("")
    outcome = (pl.when(pl.col("kind") == "discard").then(pl.lit("sieve discard"))
               .when(st == "redirect").then(pl.lit("sieve redirect"))
               .when(pl.col("kind").is_in(["defer", "bounce"]) & folder.str.to_lowercase().str.contains("quota"))
               .then(pl.lit("quota reject"))
               .when(pl.col("kind").is_in(["defer", "bounce"])).then(pl.lit("save failed"))
               .when(folder.str.to_uppercase() == "INBOX").then(pl.lit("inbox"))
               .when(folder.str.contains(r"(?i)junk|spam|bulk")).then(pl.lit("junk folder"))
               .otherwise(pl.lit("other folder")))
    return m.select(outcome=outcome, folder=pl.when(outcome.is_in(["inbox", "junk folder", "other folder"])).then(folder)
                    .otherwise(pl.lit("")))


def filter_rows(ev: Any) -> Any:
    """Content-filter verdicts (``Tag.FILTER_VERDICT``: amavis, rspamd) → the filter (its program), ``verdict``
    (``Passed``/``Blocked``, rspamd's action), ``category`` (``CLEAN``, ``SPAM``, ``INFECTED`` …) and amavis'
    ``disposition`` (``RelayedInbound``, ``DiscardedInbound`` …)."""
    import polars as pl

    f = ev.filter(tagged(Tag.FILTER_VERDICT))
    d = pl.col("detail").fill_null("")
    return f.select(filter=pl.col("program").fill_null("").str.extract(r"^([^/\[]+)", 1).fill_null(""),
                    verdict=pl.col("status").fill_null(""),
                    category=d.str.extract(r"^([A-Z][A-Z-]*)\b", 1).fill_null(""),
                    disposition=d.str.extract(r"\{([^},]*)", 1).fill_null(""))


def last_mile_finish(mailbox: Any, filters: Any, top: int) -> dict[str, Any]:
    """The last-mile sections (only those with rows) from counts per :data:`MAILBOX_KEYS` and :data:`FILTER_KEYS`."""
    import polars as pl

    out: dict[str, Any] = {}
    if mailbox is not None and mailbox.height:
        rank = pl.col("outcome").replace_strict({o: i for i, o in enumerate(OUTCOMES)}, default=len(OUTCOMES),
                                                return_dtype=pl.Int32)
        out["last_mile_mailbox"] = (mailbox.group_by(*MAILBOX_KEYS).agg(count=pl.col("count").sum())
                                    .sort([rank, "count", "folder"], descending=[False, True, False])
                                    .group_by("outcome", maintain_order=True).head(top))
    if filters is not None and filters.height:
        out["last_mile_filter"] = (filters.group_by(*FILTER_KEYS).agg(count=pl.col("count").sum())
                                   .sort(["filter", "count", "verdict", "category", "disposition"],
                                         descending=[False, True, False, False, False])
                                   .group_by("filter", maintain_order=True).head(top))
    return out

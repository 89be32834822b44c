"""pflogsumm 1.1.5's counting: classifications, message sizes, received messages, Grand Totals,
and logtrace's de-duplicated counts (content-filter re-injections and host hand-offs).

Everything is a vectorized polars step over the narrow events of :mod:`.collect`. What a
rule means comes from its tags (:mod:`logtrace.parsing.tags`): ``PFLOGSUMM`` for rows pflogsumm
counts by their ``status`` word, ``DELIVERY_STATUS``/``DISCARD_SENT``/``CHECKS``/``NOQUEUE``
for which status words count, ``SIZE_ON_ACCEPT`` and ``RECIPIENT_LOCAL_PART`` for dialects
that log sizes and addresses differently. Rows of other dialects count by their ``kind``.
"""

from __future__ import annotations

from typing import Any

from logtrace.parsing.tags import Tag, tagged

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

ACTIONS = ("reject", "reject_warning", "hold", "discard")
LOOPBACK = r"^(?:127\.|::1$|::ffff:127\.)"
HANDOFF_WINDOW_S = 900


def lc_domain(col: Any) -> Any:
    """pflogsumm's ``s/(@.+)/\\L$1/``: lowercase from the first ``@`` on, keep the local part."""
    import polars as pl

    return pl.concat_str([col.str.extract(r"^([^@]*)", 1), col.str.extract(r"(@.*)$", 1).str.to_lowercase().fill_null("")])


def by_distinct(df: Any, col: str, **fns: Any) -> Any:
    """DataFrame of ``name: fn(pl.col(col))`` for ``fns`` over ``df``'s rows, each ``fn`` evaluated once per distinct
    value of ``col``: a block's regex work on its few hundred host names, programs or senders instead of its tens
    of thousands of rows."""
    import polars as pl

    values = df.select(pl.col(col).unique())
    out = values.with_columns(**{name: fn(pl.col(col)) for name, fn in fns.items()})
    return df.select(col).join(out, on=col, how="left", nulls_equal=True, maintain_order="left").drop(col)


def short_domain(host: Any) -> Any:
    """The ``a.b.example.com`` → ``example.com`` part of :func:`gimme_domain` (null where a name is kept)."""
    import polars as pl

    pat = r"^(.*)\.([^.]+)\.([^.]{3}|[^.]{2,3}\.[^.]{2})$"
    g = host.str.extract_groups(pat)
    return pl.concat_str([g.struct.field("2"), pl.lit("."), g.struct.field("3")]).str.to_lowercase()


def gimme_domain(host: Any, ip: Any, short: Any = None) -> Any:
    """pflogsumm's ``gimme_domain``: ``unknown``/empty → IP, else ``a.b.example.com`` → ``example.com``.

    Only names ending in a 3-letter TLD or a ``xx.yy``/``xxx.yy`` pair are shortened (and then
    lowercased), exactly as pflogsumm 1.1.5 does; other names are kept as logged. ``short``: the
    :func:`short_domain` of ``host`` computed already (:func:`gimme_domains`).
    """
    import polars as pl

    short = short_domain(host) if short is None else short
    return (pl.when(host.is_null() | (host == "") | (host == "unknown")).then(ip)
            .otherwise(pl.coalesce(short, host)))


def gimme_domains(df: Any, host: str, ip: str) -> Any:
    """:func:`gimme_domain` of ``df``'s columns ``host`` and ``ip`` (an expression over ``df``), its regex run once per
    distinct host name (:func:`by_distinct`)."""
    import polars as pl

    return gimme_domain(pl.col(host), pl.col(ip), by_distinct(df, host, short=short_domain).to_series())


def local_clock(tz: str, host_tz: dict[str, str] | None = None) -> tuple[Any, Any]:
    """(local day, local hour) expressions of ``ts``: in ``host_tz[host]`` for the hosts
    ``--tz HOST=ZONE`` names (each host's lines by its own clock), else in ``tz``."""
    import polars as pl

    ts = pl.col("ts")
    day, hour = ts.dt.convert_time_zone(tz).dt.date(), ts.dt.convert_time_zone(tz).dt.hour()
    for h, z in sorted((host_tz or {}).items()):
        local = ts.dt.convert_time_zone(z)
        day = pl.when(pl.col("host") == h).then(local.dt.date()).otherwise(day)
        hour = pl.when(pl.col("host") == h).then(local.dt.hour()).otherwise(hour)
    return day, hour


def derive(ev: Any, tz: str, host_tz: dict[str, str] | None = None) -> Any:
    """Add pflogsumm-style classifications as columns (all vectorized).

    ``dstatus``: the delivery status word (``sent``/``deferred``/``bounced`` …); ``act``: the
    SMTP-time or cleanup action (``reject``, ``reject_warning``, ``hold``, ``discard``);
    ``received``/``delivered``/``forwarded`` flags; local ``day``/``hour`` (:func:`local_clock`); ``rcpt`` (lowercased domain).
    """
    import polars as pl

    k, st = pl.col("kind"), pl.col("status")
    by_status = tagged(Tag.PFLOGSUMM)  # rows counted by their status word, not their kind
    dstatus = (pl.when(tagged(Tag.DELIVERY_STATUS) & (k != "discard")).then(st)
               .when(tagged(Tag.MAILBOX)).then(None)  # the mailbox server's side of a delivery the MTA counted
               .when(~by_status).then(k.replace_strict({"deliver": "sent", "defer": "deferred", "bounce": "bounced"}, default=None))
               .when(tagged(Tag.DISCARD_SENT)).then(st)  # pflogsumm counts discard(8) "sent" as delivered
               .otherwise(None))
    detail = pl.col("detail").fill_null("")
    cleanup_act = (pl.when(~(detail.str.starts_with("header ") | detail.str.starts_with("body ")
                             | detail.str.starts_with("END-OF-MESSAGE "))).then(None)
                   .otherwise(st.replace_strict({"reject": "reject", "milter-reject": "reject", "warning": "reject_warning",
                                                 "hold": "hold", "discard": "discard"}, default=None)))
    act = (pl.when(tagged(Tag.NOQUEUE) & st.is_in(ACTIONS)).then(st)
           .when(tagged(Tag.CHECKS)).then(cleanup_act)
           .when(~by_status & k.is_in(ACTIONS)).then(k)
           .otherwise(None))
    # the program's last component (the daemon) and the lowercased domains: regexes once per distinct value
    ev = ev.with_columns(dstatus=dstatus.cast(pl.String), act=act.cast(pl.String),
                         daemon=by_distinct(ev, "program", d=lambda p: p.fill_null("").str.extract(r"([^/]+)$", 1)).to_series())
    day, hour = local_clock(tz, host_tz)
    if not host_tz:  # one zone: each distinct second converted once
        clock = by_distinct(ev, "ts", day=lambda _: day, hour=lambda _: hour)
        day, hour = clock.get_column("day"), clock.get_column("hour")
    fwd = (pl.col("dstatus") == "sent") & pl.col("reply_text").fill_null("").str.contains("forwarded as ", literal=True)
    # a delivery that logs a bare local part (Exim's ``=> bob <bob@example.org>``): use the address
    bare = ~pl.col("recipient").fill_null("").str.contains("@", literal=True)
    rcpt = ev.select(rcpt=pl.when(tagged(Tag.RECIPIENT_LOCAL_PART) & bare
                                  & pl.col("orig_recipient").is_not_null()).then(pl.col("orig_recipient"))
                     .otherwise(pl.col("recipient")).fill_null(""))
    return ev.with_columns(
        forwarded=fwd,
        delivered=(pl.col("dstatus") == "sent") & ~fwd,
        received=(k == "accept") & pl.col("queue_id").is_not_null(),
        day=day,
        hour=hour,
        rcpt=by_distinct(rcpt, "rcpt", r=lc_domain).to_series(),
    )


#: ``--verp-mung``: VERP numbers after a bounce/return/list-like local part become ``-ID`` (level 1);
#: level 2 also drops the encoded recipient (``-user=example.org``) before the ``@``
VERP_NUMBERS = r"(?i)((?:bounces?|bounced|no(?:list|reply|response)|return|sentto|\d+)[^@]*?)(?:[+_.*-]\d+\b)+"
VERP_RECIPIENT = r"[+*-](?:\d+[+*-])?[^=*+@-]+[=*][^@]+@"


def munge_addresses(ev: Any, verp_mung: int = 0, ignore_case: bool = False) -> Any:
    """pflogsumm's ``--verp-mung`` (senders) and ``-i``/``--ignore-case`` (whole addresses lowercased,
    not only their domains) applied to the address columns of narrow events."""
    import polars as pl

    if not verp_mung and not ignore_case:
        return ev
    cols = [c for c in ("sender", "recipient", "orig_recipient") if c in ev.columns]
    out = ev
    if ignore_case:
        out = out.with_columns(pl.col(c).str.to_lowercase() for c in cols)
    if verp_mung and "sender" in cols:
        snd = pl.col("sender").str.replace(VERP_NUMBERS, "${1}-ID")
        if verp_mung > 1:
            snd = snd.str.replace(VERP_RECIPIENT, "@")
        out = out.with_columns(sender=snd)
    return out


def sizes(ev: Any) -> Any:
    """First ``from=<…>, size=N`` per queue ID (pflogsumm ``%msgSizes``), keyed without host.

    A dialect without a separate size line tags its accept rule ``SIZE_ON_ACCEPT`` (Exim's ``<= … S=N``).
    """
    import polars as pl

    sized = (pl.col("kind") == "queued") | (tagged(Tag.SIZE_ON_ACCEPT) & (pl.col("kind") == "accept"))
    return (ev.filter(sized & pl.col("size").is_not_null() & pl.col("queue_id").is_not_null())
            .select("queue_id", "seq", "size", "sender").group_by("queue_id").agg(pl.all().sort_by("seq").first())
            .select("queue_id", size_seq="seq", msg_size="size", from_addr="sender"))


def whence(client: Any = None) -> Any:
    """Where a received message came from: ``pickup`` (local), else :func:`gimme_domain` of its client
    (``client``: that computed already, :func:`gimme_domains`)."""
    import polars as pl

    local = (pl.col("daemon") == "pickup") | (~tagged(Tag.PFLOGSUMM) & pl.col("client_host").is_null()
                                              & pl.col("client_ip").is_null())
    client = gimme_domain(pl.col("client_host"), pl.col("client_ip")) if client is None else client
    return pl.when(local).then(pl.lit("pickup")).otherwise(client)


def received_msgs(ev: Any, sized: Any) -> Any:
    """Messages pflogsumm counts in bytes_received/senders: size line preceded by a client=/uid= line
    (for Exim the accept line is both)."""
    import polars as pl

    acc = ev.filter(pl.col("received")).select("queue_id", acc_seq="seq", host=pl.col("host"), whence=whence())
    j = (sized.join(acc, on="queue_id", how="inner").filter(pl.col("acc_seq") <= pl.col("size_seq"))
         .sort("acc_seq").group_by("queue_id").agg(pl.all().last()))
    addr = pl.when(pl.col("from_addr").fill_null("") == "").then(pl.lit("from=<>")).otherwise(lc_domain(pl.col("from_addr")))
    return j.with_columns(addr=addr).with_columns(
        sdom=pl.coalesce(pl.col("addr").str.extract(r"^[^@]+@(.+)$", 1),
                         pl.when(pl.col("whence") == "pickup").then(pl.col("addr")).otherwise(pl.col("whence"))))


def deliveries(ev: Any, sized: Any) -> Any:
    """Delivered rows with ``sz`` (the message size when its size line came first, else 0) and ``has_size``."""
    import polars as pl

    dlv = ev.filter(pl.col("delivered")).join(sized, on="queue_id", how="left").with_columns(
        has_size=pl.col("size_seq").is_not_null() & (pl.col("size_seq") < pl.col("seq")))
    return dlv.with_columns(sz=pl.when(pl.col("has_size")).then(pl.col("msg_size")).otherwise(0))


def recipient_domain() -> Any:
    import polars as pl

    return pl.col("rcpt").str.replace(r"^[^@]+@", "")


def grand_totals(ev: Any, recv: Any, dlv: Any) -> dict[str, int]:
    """pflogsumm's Grand Totals (every key of :data:`TOTAL_KEYS`, in pflogsumm's order)."""
    import polars as pl

    agg = ev.select(
        received=pl.col("received").sum(), delivered=pl.col("delivered").sum(), forwarded=pl.col("forwarded").sum(),
        deferred=pl.col("queue_id").filter(pl.col("dstatus") == "deferred").n_unique(),
        deferrals=(pl.col("dstatus") == "deferred").sum(), bounced=(pl.col("dstatus") == "bounced").sum(),
        rejected=(pl.col("act") == "reject").sum(), reject_warnings=(pl.col("act") == "reject_warning").sum(),
        held=(pl.col("act") == "hold").sum(), discarded=(pl.col("act") == "discard").sum(),
    ).row(0, named=True)
    tot: dict[str, int] = {k: int(v or 0) for k, v in agg.items()}
    denom = tot["delivered"] + tot["rejected"] + tot["discarded"]
    tot.update(
        rejected_pct=int(tot["rejected"] * 100 // denom) if denom else 0,
        discarded_pct=int(tot["discarded"] * 100 // denom) if denom else 0,
        bytes_received=int(recv["msg_size"].sum() or 0),
        bytes_delivered=int(dlv["sz"].sum() or 0),
        senders=recv["addr"].n_unique(), sending_hosts=recv["sdom"].n_unique(),
        recipients=dlv["rcpt"].n_unique(), recipient_hosts=dlv.select(recipient_domain().n_unique()).item(),
    )
    return {k: tot[k] for k in TOTAL_KEYS}


def handoff_candidates(ev: Any) -> tuple[Any, Any]:
    """(deliveries naming a next queue ID, accepts) of events, as :func:`handoff_pairs` takes them."""
    import polars as pl

    d = ev.filter(pl.col("dstatus") == "sent", pl.col("next_queue_id").is_not_null()).select(
        d_seq="seq", d_host="host", queue_id="next_queue_id", d_ts="ts",
        loop=pl.coalesce(pl.col("relay_ip"), pl.col("relay_host")).fill_null("").str.contains(LOOPBACK))
    a = ev.filter(pl.col("received")).select("queue_id", a_seq="seq", a_host="host", a_ts="ts")
    return d, a


def handoff_pairs(d: Any, a: Any) -> tuple[Any, Any]:
    """(re-injected accepts, hand-off deliveries): a delivery whose next queue ID is received again
    within :data:`HANDOFF_WINDOW_S`, on the same host over loopback or on another host."""
    import polars as pl

    j = d.join(a, on="queue_id", how="inner").filter(
        (pl.col("a_ts") - pl.col("d_ts")).dt.total_seconds().abs() <= HANDOFF_WINDOW_S,
        ((pl.col("a_host") == pl.col("d_host")) & pl.col("loop")) | (pl.col("a_host") != pl.col("d_host")),
    ).with_columns(same_host=pl.col("a_host") == pl.col("d_host"),
                   dist=(pl.col("a_ts") - pl.col("d_ts")).dt.total_seconds().abs())
    # a reused short queue ID can match two accepts: each delivery takes the nearest one in time
    # (one accept takes the hand-off deliveries of all recipients of that transaction)
    j = j.sort("dist", "a_seq").unique("d_seq", keep="first", maintain_order=True)
    return j.unique("a_seq", keep="first"), j


def handoffs(ev: Any) -> tuple[Any, Any]:
    """(re-injected accepts, hand-off deliveries) of events (:func:`handoff_pairs`)."""
    return handoff_pairs(*handoff_candidates(ev))


def unique_counts(ev: Any, totals: dict[str, int], recv: Any, dlv: Any) -> dict[str, int]:
    """logtrace's de-duplicated counts (:data:`UNIQUE_KEYS`) from pflogsumm's ``totals``."""
    import polars as pl

    re_acc, re_dlv = handoffs(ev)
    re_sizes = re_acc.join(recv.select("queue_id", "msg_size"), on="queue_id", how="inner")
    dlv_hand = dlv.join(re_dlv.select(seq="d_seq"), on="seq", how="semi")
    return {
        "messages_received_unique": totals["received"] - re_acc.height,
        "recipients_delivered_unique": totals["delivered"] - dlv_hand.height,
        "bytes_received_unique": totals["bytes_received"] - int(re_sizes["msg_size"].sum() or 0),
        "bytes_delivered_unique": totals["bytes_delivered"] - int(dlv_hand["sz"].sum() or 0),
        "messages_deferred_unique": ev.filter(pl.col("dstatus") == "deferred").select(pl.struct("host", "queue_id").n_unique()).item(),
        "messages_bounced_unique": ev.filter(pl.col("dstatus") == "bounced").select(pl.struct("host", "queue_id").n_unique()).item(),
        "content_filter_reinjections": int(re_acc["same_host"].sum() or 0),
        "host_handoffs": int((~re_acc["same_host"]).sum() or 0),
    }

"""eximstats' "Grand total summary" (Debian's eximstats 1.61) over narrow events.

Which rows play which part comes from the eximstats role tags on the rules
(``Tag.EXIMSTATS_ACCEPT``, ``_COMPLETED``, ``_DELIVER``, ``_DEFER``, ``_BOUNCE``,
``_REJECT_RCPT``, ``_REJECT``, ``_CALL_DROPPED``, ``_NOTE``); the counting rules are in the
docstring of :mod:`logtrace.reports.summary` and pinned by ``tests/test_eximstats_crosscheck.py``.
Its "Deliveries by transport" and "Relayed messages" tables: :func:`exim_tables` (``detail`` of a
delivery is its ``T=`` transport), pinned by ``tests/test_report_exim_tables.py``.
"""

from __future__ import annotations

from typing import Any

from logtrace.parsing.tags import Tag, tagged

#: eximstats' "Grand total summary", in its order.
EXIM_TOTAL_KEYS: tuple[str, ...] = (
    "received", "bytes_received", "received_hosts", "delayed", "failed", "delivered", "delivered_addresses",
    "bytes_delivered", "delivered_hosts", "rejected", "rejected_hosts", "temp_rejected", "temp_rejected_hosts",
    "ham", "ham_hosts", "spam", "spam_hosts",
)

SPAM = r"Action: (?:(?:permanently|temporarily) rejected message|flagged as Spam but accepted): score=\d+\.\d"
HAM = (r"Action: scanned but message isn't spam: score=-?\d+\.\d|Not running SA because SAEximRunCond expanded to false"
       r"|check skipped due to message size")


#: the ``*_hosts`` totals: distinct values, kept as sets in a mergeable state (:func:`exim_parts`)
EXIM_HOST_KEYS = ("received_hosts", "delivered_hosts", "rejected_hosts", "temp_rejected_hosts", "ham_hosts", "spam_hosts")


def exim_totals(ev: Any) -> dict[str, int]:
    """eximstats' Grand total summary over the eximstats-tagged rows of narrow events."""
    counts, hosts = exim_parts(ev)
    return exim_finish([(counts, hosts)])


def exim_finish(parts: list[tuple[dict[str, int], dict[str, list[str]]]]) -> dict[str, int]:
    """Grand totals from one or more :func:`exim_parts` (counts add up, host sets unite)."""
    out: dict[str, int] = {}
    for k in EXIM_TOTAL_KEYS:
        if k in EXIM_HOST_KEYS:
            out[k] = len(set().union(*[set(h.get(k, ())) for _, h in parts])) if parts else 0
        else:
            out[k] = sum(int(c.get(k, 0)) for c, _ in parts)
    return out


def _messages(ev: Any) -> tuple[Any, Any, Any, Any]:
    """(eximstats-tagged rows, message rows with the incarnation ``inc`` and size ``sz``, deliveries with the
    ``additional`` flag, first deliveries: eximstats' ``=>`` lines) of narrow events."""
    import polars as pl

    c = pl.col
    x = ev.filter(tagged(Tag.EXIMSTATS)).sort("seq")
    is_acc = tagged(Tag.EXIMSTATS_ACCEPT)
    is_co = tagged(Tag.EXIMSTATS_COMPLETED)
    is_dlv = tagged(Tag.EXIMSTATS_DELIVER)
    flagged = is_acc | is_co | is_dlv | tagged(Tag.EXIMSTATS_DEFER) | tagged(Tag.EXIMSTATS_BOUNCE)
    m = x.filter(flagged & c("queue_id").is_not_null())
    # eximstats forgets a message at "Completed": each run up to and including it is one incarnation
    m = m.with_columns(inc=(is_co.cast(pl.Int32).cum_sum() - is_co.cast(pl.Int32)).over("queue_id"))
    m = m.with_columns(sz=pl.when(is_acc).then(c("size").fill_null(0)).otherwise(None).forward_fill().over("queue_id", "inc"),
                       **relay_origin(is_acc))
    # a delivery is compared with the message's previous delivery: sorted by message, then line,
    # the previous row is that one when it has the same queue ID (one sort instead of a window per field)
    d = m.filter(is_dlv).sort("queue_id", "seq")
    same = [c(k).eq_missing(c(k).shift(1)) for k in ("ts", "pid", "host", "relay_host", "relay_ip", "reply_text")]
    d = d.with_columns(additional=pl.all_horizontal(same) & c("relay_ip").is_not_null()
                       & (c("queue_id") == c("queue_id").shift(1)).fill_null(False))
    return x, m, d, d.filter(~c("additional"))


def relay_origin(is_acc: Any) -> dict[str, Any]:
    """eximstats' memory of where a message came from (for "Relayed messages"): the client (``host[ip]``,
    lowercased) and envelope sender (``<>`` for the null sender, lowercased) of its last ``<=`` line with an
    ``H=`` in this incarnation; null when every ``<=`` was local."""
    import polars as pl

    c = pl.col
    remote = is_acc & (c("client_host").is_not_null() | c("client_ip").is_not_null())
    client = host_word(c("client_host"), c("client_ip")).str.to_lowercase()
    sender = pl.when(c("sender").fill_null("") == "").then(pl.lit("<>")).otherwise(c("sender")).str.to_lowercase()
    return {"from_client": pl.when(remote).then(client).otherwise(None).forward_fill().over("queue_id", "inc"),
            "from_sender": pl.when(remote).then(sender).otherwise(None).forward_fill().over("queue_id", "inc")}


def host_word(host: Any, ip: Any) -> Any:
    """``H=`` as eximstats keys it: ``name[ip]`` (``[ip]`` when no name is logged, ``name`` without an IP)."""
    import polars as pl

    bracket = pl.lit("[") + ip + pl.lit("]")
    return pl.coalesce(host + bracket, host, bracket)


#: the transport row of ``=>`` lines without ``T=`` (blackholed addresses; eximstats calls it ``:blackhole:``,
#: logtrace writes it as its other placeholders, so that it cannot be taken for a transport or an address)
BLACKHOLE_TRANSPORT = "(blackhole)"
#: the keys of the relayed-messages counter (:func:`exim_tables`)
RELAY_KEYS = ("client", "sender", "relay", "recipient")


def exim_tables(ev: Any) -> tuple[Any, Any]:
    """eximstats' "Deliveries by transport" and "Relayed messages" as mergeable counts over narrow events:

    * transports: ``transport, messages, bytes`` — per ``=>`` line, its ``T=`` (``(blackhole)`` without one)
      and the message's ``S=`` (0 when its ``<=`` is not in the log), as the grand total's ``delivered``;
    * relayed: ``client, sender, relay, recipient, count`` — a ``=>`` line with an ``H=`` of a message
      whose ``<=`` line had one (received from a host, delivered to a host), keyed by the client
      (``host[ip]``), the envelope sender, the relay (``host[ip]``) and the recipient, lowercased; a
      delivery whose ``<parent>`` address differs from the recipient (aliasing, forwarding) is not relaying.

    :func:`exim_tables_finish` sorts them and applies ``--top``."""
    return _tables(_messages(ev)[3])


def _tables(first: Any) -> tuple[Any, Any]:
    import polars as pl

    c = pl.col
    transports = (first.group_by(transport=c("detail").fill_null(BLACKHOLE_TRANSPORT))
                  .agg(messages=pl.len().cast(pl.UInt32), bytes=c("sz").fill_null(0).sum().cast(pl.Int64)))
    orig = c("orig_recipient").fill_null("")
    relayed = first.filter((c("relay_host").is_not_null() | c("relay_ip").is_not_null()) & c("from_client").is_not_null()
                           & ((orig == "") | (orig.str.to_lowercase() == c("recipient").fill_null("").str.to_lowercase())))
    relayed = relayed.group_by(client=c("from_client"), sender=c("from_sender"),
                               relay=pl.coalesce(c("relay_host").str.to_lowercase() + pl.lit("[") + c("relay_ip") + pl.lit("]"),
                                                 c("relay_host").str.to_lowercase(), pl.lit("[") + c("relay_ip") + pl.lit("]")),
                               recipient=c("recipient").fill_null("").str.to_lowercase()).agg(count=pl.len().cast(pl.UInt32))
    return transports, relayed


def exim_tables_finish(transports: Any, relayed: Any, top: int) -> dict[str, Any]:
    """The ``exim_transports`` and ``exim_relayed`` sections from (possibly merged) :func:`exim_tables` counts."""
    import polars as pl

    t = (transports.group_by("transport").agg(pl.col("messages").sum(), pl.col("bytes").sum())
         .sort(["messages", "transport"], descending=[True, False]).head(top))
    r = (relayed.group_by(*RELAY_KEYS).agg(pl.col("count").sum())
         .sort(["count", *RELAY_KEYS], descending=[True, False, False, False, False]).head(top)
         .select("count", *RELAY_KEYS))
    return {"exim_transports": t, "exim_relayed": r}


def exim_parts(ev: Any) -> tuple[dict[str, int], dict[str, list[str]]]:
    """(additive counts, distinct host words per ``*_hosts`` key) of eximstats' Grand total summary:
    the mergeable state behind :func:`exim_totals`."""
    counts, hosts, _, _ = exim_report(ev)
    return counts, hosts


def exim_report(ev: Any) -> tuple[dict[str, int], dict[str, list[str]], Any, Any]:
    """:func:`exim_parts` and :func:`exim_tables` in one pass over the messages."""
    import polars as pl

    c = pl.col
    x, m, d, first = _messages(ev)
    is_acc = tagged(Tag.EXIMSTATS_ACCEPT)
    is_dlv = tagged(Tag.EXIMSTATS_DELIVER)
    acc = m.filter(is_acc)
    word = pl.coalesce(c("client_host"), pl.lit("[") + c("client_ip") + pl.lit("]"), pl.lit("local"))
    rword = pl.coalesce(c("relay_host"), pl.lit("[") + c("relay_ip") + pl.lit("]"), pl.lit("local"))

    def incarnations(role: str) -> int:
        return m.filter(tagged(role) & c("sz").is_not_null()).select(pl.struct("queue_id", "inc").n_unique()).item()

    text = pl.concat_str([c("detail").fill_null(""), c("reply_text").fill_null("")], separator=" ")
    blackhole = is_dlv & c("recipient").is_in([":blackhole:", "blackhole"])
    rj = x.filter((c("kind") == "reject") | tagged(Tag.EXIMSTATS_CALL_DROPPED) | blackhole).with_columns(
        ip=pl.coalesce(pl.lit("[") + c("client_ip") + pl.lit("]"), pl.lit("local")),
        temp=(c("status") == "temporarily rejected") & c("reply_text").is_not_null() & ~text.str.contains("SpamAssassin")
        & (tagged(Tag.EXIMSTATS_REJECT_RCPT) | (tagged(Tag.EXIMSTATS_REJECT) & c("detail").str.contains(r"^[A-Z]+ "))))
    # Exim logging to syslog (syslog_duplication, the default) writes a reject twice: the main-log
    # line and the reject-log entry's first line. Lines carried by syslog (they have a host; Exim's
    # own files have none) that repeat a reject to the letter, same process and second, are one.
    dup_keys = ["ts", "host", "pid", "rule", "status", "client_ip", "sender", "recipient", "reply_text", "detail", "queue_id"]
    rj = pl.concat([rj.filter(c("host").is_null()),
                    rj.filter(c("host").is_not_null()).unique(subset=dup_keys, keep="first", maintain_order=True)])
    sa = x.filter(tagged(Tag.EXIMSTATS_NOTE)).with_columns(
        ip=pl.coalesce(c("detail").str.extract(r"From.*?(\[[^\]]+\])", 1),
                       pl.when(c("detail").str.contains(r"\(local\)")).then(pl.lit("local")), pl.lit("")),
        verdict=pl.when(c("detail").str.contains(SPAM)).then(pl.lit("spam"))
        .when(c("detail").str.contains(HAM)).then(pl.lit("ham")))
    def distinct(df: Any, expr: Any) -> list[str]:
        return sorted(v for v in df.select(expr.unique()).to_series().to_list() if v is not None) if df.height else []

    out = {
        "received": acc.height, "bytes_received": int(acc["sz"].sum() or 0),
        "delayed": incarnations(Tag.EXIMSTATS_DEFER), "failed": incarnations(Tag.EXIMSTATS_BOUNCE),
        "delivered": first.height, "delivered_addresses": d.height, "bytes_delivered": int(first["sz"].fill_null(0).sum() or 0),
    }
    hosts = {"received_hosts": distinct(acc, word), "delivered_hosts": distinct(first, rword)}
    for key, rows in (("rejected", rj.filter(~c("temp"))), ("temp_rejected", rj.filter(c("temp"))),
                      ("ham", sa.filter(c("verdict") == "ham")), ("spam", sa.filter(c("verdict") == "spam"))):
        out[key], hosts[f"{key}_hosts"] = rows.height, distinct(rows, c("ip"))
    transports, relayed = _tables(first)
    return {k: int(v) for k, v in out.items()}, hosts, transports, relayed

"""eximstats' counting as a streaming fold: each block of narrow events folded into compact state.

:class:`EximFold` is the one implementation of eximstats' rules (Debian's eximstats 1.61; the rules
are listed in :mod:`logtrace.reports.summary`): ``logtrace summary`` feeds it block by block
(:class:`~logtrace.reports.fold.SummaryFold`), and :func:`~logtrace.reports.eximstats.exim_totals`
and :func:`~logtrace.reports.eximstats.exim_tables` fold a whole frame as one block.

eximstats keys its memory by message ID and forgets a message at ``Completed``. So does the fold; it
carries across blocks

* per message in flight (seen, not yet ``Completed``; keyed by a 64-bit hash of the message ID,
  :class:`Latest`): the ``S=`` of its last ``<=`` (``sz``), where its last ``<=`` with an ``H=`` came
  from (``from_client``, ``from_sender``: "Relayed messages"), whether a ``==`` / ``**`` was seen after
  a ``<=`` (``delayed`` / ``failed`` count each incarnation once) and a hash of its last delivery's
  second, process, host, relay and ``C=`` text (``dk``: a delivery equal to the previous one is taken
  as a ``->``, an additional address of the same delivery);
* the counts, and per ``*_hosts`` total its distinct hosts;
* the "Deliveries by transport" and "Relayed messages" counters;
* a hash per distinct reject carried by syslog (``syslog_duplication`` writes a reject twice, the
  copy counts once; 8 bytes a reject).

A block's work is O(block · log state): the in-flight state is looked up with sorted searches in
runs merged as they grow, never joined as a whole. Memory is bounded by messages in flight plus
distinct keys. Blocks must come in log order (each block's lines after the previous block's).
An incarnation (the lines of a message ID up to and including its ``Completed``) only looks at its
own lines: a delivery after ``Completed`` is never taken as a ``->`` of one before it.
"""

from __future__ import annotations

from typing import Any

from logtrace.parsing.tags import Tag, tagged
from logtrace.reports.eximstats import BLACKHOLE_TRANSPORT, EXIM_HOST_KEYS, HAM, RELAY_KEYS, SPAM, host_word
from logtrace.parsing.frames import detach
from logtrace.reports.state import Counter, FirstSeen, key_hash, lookup_runs

#: the additive counts of eximstats' Grand total summary, in the order of a summary state
EXIM_COUNT_KEYS = ("received", "bytes_received", "delayed", "failed", "delivered", "delivered_addresses", "bytes_delivered",
                   "rejected", "temp_rejected", "ham", "spam")
#: the fields of a delivery compared with the message's previous delivery (equal: an additional address)
DELIVERY_KEYS = ("ts", "pid", "host", "relay_host", "relay_ip", "reply_text")
#: the fields of a reject that make a syslog-carried copy of it the same reject
DUP_KEYS = ("ts", "host", "pid", "rule", "status", "client_ip", "sender", "recipient", "reply_text", "detail", "queue_id")
SEED = 0x1F0D


def message_schema() -> dict[str, Any]:
    """The per-message in-flight state (besides the key hash ``k`` and ``live``)."""
    import polars as pl

    return {"sz": pl.Int64, "from_client": pl.String, "from_sender": pl.String, "delayed": pl.Boolean, "failed": pl.Boolean,
            "dk": pl.UInt64}


class Latest:
    """The latest state per key hash, as runs sorted by key with tombstones (``live`` false), merged
    when a run outgrows half of the one before it (an LSM tree): a block's lookups cost
    O(block · log state), never a join over the whole state; the bottom run drops tombstones."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.runs: list[Any] = []  # DataFrames k (u64, sorted, unique), live, *schema

    def lookup(self, keys: Any) -> Any:
        """DataFrame ``live, *schema`` aligned with a Series of key hashes (``live`` false, nulls where unknown)."""
        import polars as pl

        out = lookup_runs(self.runs, keys, {"live": pl.Boolean, **self.schema})
        return out.with_columns(pl.col("live").fill_null(False))

    def put(self, df: Any) -> None:
        """The new state of some keys (``k`` unique, ``live``, *schema; a dead key is forgotten)."""
        import polars as pl

        if not df.height:
            return
        self.runs.append(detach(df.select("k", "live", *self.schema).sort("k")))
        while len(self.runs) > 1 and self.runs[-1].height * 2 >= self.runs[-2].height:
            b, a = self.runs.pop(), self.runs.pop()
            run = pl.concat([a, b]).unique(subset="k", keep="last", maintain_order=True).sort("k")
            if not self.runs:  # nothing older left that a tombstone could hide
                run = run.filter(pl.col("live"))
            if run.height:
                self.runs.append(detach(run))  # own buffers: a merged run must not pin its parts'

    @property
    def height(self) -> int:
        return sum(r.height for r in self.runs)


class EximFold:
    """Fold blocks of narrow events (with ``seq``, in log order) into eximstats' counts, host sets and tables."""

    def __init__(self) -> None:
        self.messages = Latest(message_schema())
        self.counts = dict.fromkeys(EXIM_COUNT_KEYS, 0)
        self.hosts = Counter(("key", "host"), ())
        self.transports = Counter(("transport",), ("messages", "bytes"))
        self.relayed = Counter(RELAY_KEYS, ("count",), buckets=16)
        self.rejects_seen = FirstSeen()  # hashes of syslog-carried rejects counted so far

    def add(self, ev: Any) -> None:
        """Fold one block (rows not tagged ``Tag.EXIMSTATS`` are ignored)."""
        import polars as pl

        x = ev.filter(tagged(Tag.EXIMSTATS))
        if not x.height:
            return
        if not x.get_column("seq").is_sorted():
            x = x.sort("seq")
        hosts = [self._messages(x), self._rejects(x), self._notes(x)]
        hosts = [h for part in hosts for h in part if h.height]
        if hosts:
            self.hosts.add(pl.concat(hosts).unique())

    # ------------------------------------------------------------------ per block

    def _messages(self, x: Any) -> list[Any]:
        """Accepts, deliveries, deferrals, bounces and ``Completed`` of one block, with the state of the
        messages in flight; the block's (key, host) pairs of ``received_hosts`` and ``delivered_hosts``.

        The rows are sorted by message, then line, so that each incarnation's rows are contiguous: its
        running values (forward fills, counts) are whole-column scans cut at the incarnation's first row,
        not window functions."""
        import polars as pl

        c = pl.col
        is_acc, is_co, is_dlv = tagged(Tag.EXIMSTATS_ACCEPT), tagged(Tag.EXIMSTATS_COMPLETED), tagged(Tag.EXIMSTATS_DELIVER)
        is_dfr, is_bnc = tagged(Tag.EXIMSTATS_DEFER), tagged(Tag.EXIMSTATS_BOUNCE)
        remote = is_acc & (c("client_host").is_not_null() | c("client_ip").is_not_null())
        client = host_word(c("client_host"), c("client_ip")).str.to_lowercase()
        sender = pl.when(c("sender").fill_null("") == "").then(pl.lit("<>")).otherwise(c("sender")).str.to_lowercase()
        # what the messages' lines say, cut before sorting (a stable sort by message keeps the lines in order)
        lines = x.filter((is_acc | is_co | is_dlv | is_dfr | is_bnc) & c("queue_id").is_not_null())
        m = (lines.with_row_index("r").select("r", k=key_hash("queue_id"), has_ip=c("relay_ip").is_not_null(),
                     acc=is_acc, co=is_co, dlv=is_dlv, dfr=is_dfr, bnc=is_bnc,
                     size=pl.when(is_acc).then(c("size").fill_null(0).cast(pl.Int64)),
                     client=pl.when(remote).then(client), sender=pl.when(remote).then(sender),
                     word=pl.when(is_acc).then(pl.coalesce(c("client_host"), pl.lit("[") + c("client_ip") + pl.lit("]"), pl.lit("local"))),
                     dk=pl.when(is_dlv).then(pl.struct(*DELIVERY_KEYS).hash(seed=SEED)))
             .sort("k", maintain_order=True).with_row_index("i"))
        if not m.height:
            return []
        m = m.with_columns(self.messages.lookup(m.get_column("k")).select(pl.all().name.prefix("c_")).get_columns())
        i = c("i").cast(pl.Int64)
        new_k = (c("k") != c("k").shift(1)).fill_null(True)
        co = c("co").cast(pl.Int64)

        def since(expr: Any, start: Any) -> Any:
            """A running sum of ``expr`` (integer) restarted where ``start`` is true."""
            cs = expr.cum_sum()
            return cs - pl.when(start).then(cs - expr).forward_fill()

        # eximstats forgets a message at "Completed": each run up to and including it is one incarnation;
        # inc 0 continues the state carried from earlier blocks, a later one starts afresh
        m = m.with_columns(new_k=new_k, inc=since(co, new_k) - co)
        m = m.with_columns(start=pl.when(c("new_k") | (c("inc") != c("inc").shift(1))).then(i).forward_fill())

        def ffill(expr: Any, strict: bool = False) -> Any:
            """The last non-null ``expr`` of the incarnation up to this row (``strict``: before it)."""
            src, val = pl.when(expr.is_not_null()).then(i).forward_fill(), expr.forward_fill()
            if strict:
                src, val = src.shift(1), val.shift(1)
            return pl.when(src >= c("start")).then(val)

        def carry(col: str) -> Any:
            return pl.when((c("inc") == 0) & c("c_live")).then(c(f"c_{col}"))

        m = m.with_columns(
            # the S= of the incarnation's last "<=" (0 without S=); null before its first one
            sz=ffill(c("size")).fill_null(carry("sz")),
            # where the message came from: its last "<=" with an H= (null when every "<=" was local)
            from_client=ffill(c("client")).fill_null(carry("from_client")),
            from_sender=ffill(c("sender")).fill_null(carry("from_sender")))
        # a "=="/"**" after a "<=" marks the incarnation once
        flags = {name: (c(role) & c("sz").is_not_null(), carry(name).fill_null(False))
                 for role, name in (("dfr", "delayed"), ("bnc", "failed"))}
        m = m.with_columns(
            **{f"n_{name}": since(hit.cast(pl.Int64), c("start") == i) for name, (hit, _) in flags.items()},
            # a delivery equal to the previous delivery of the incarnation (same second, process, host and
            # IP, C= text; with an IP) is a further address of it (eximstats' "->")
            prev_dk=ffill(c("dk"), strict=True).fill_null(carry("dk")))
        m = m.with_columns(
            **{name: before | (c(f"n_{name}") > 0) for name, (_, before) in flags.items()},
            **{f"new_{name}": hit & (c(f"n_{name}") == 1) & ~before for name, (hit, before) in flags.items()},
            additional=c("dlv") & c("has_ip") & (c("dk") == c("prev_dk")).fill_null(False),
            dk=ffill(c("dk")).fill_null(carry("dk")))
        # what later blocks need: the state after each message's last line here ("Completed": forgotten)
        self.messages.put(m.filter(c("new_k").shift(-1, fill_value=True)).select(
            "k", live=~c("co"), **{col: pl.when(~c("co")).then(c(col)) for col in message_schema()}))

        first = c("dlv") & ~c("additional")
        got = m.select(received=c("acc").sum(), bytes_received=c("sz").filter(c("acc")).sum(), delayed=c("new_delayed").sum(),
                       failed=c("new_failed").sum(), delivered=first.sum(), delivered_addresses=c("dlv").sum(),
                       bytes_delivered=c("sz").filter(first).fill_null(0).sum()).row(0, named=True)
        for key, v in got.items():
            self.counts[key] += int(v or 0)
        firsts = m.filter(first).select("sz", "from_client", "from_sender", "r")
        firsts = pl.concat([firsts, lines.select("detail", "relay_host", "relay_ip", "recipient", "orig_recipient")[firsts.get_column("r")]],
                           how="horizontal")
        self._tables(firsts)
        rword = pl.coalesce(c("relay_host"), pl.lit("[") + c("relay_ip") + pl.lit("]"), pl.lit("local"))
        return [m.filter(c("acc")).select(key=pl.lit("received_hosts"), host="word").unique(),
                firsts.select(key=pl.lit("delivered_hosts"), host=rword).unique()]

    def _tables(self, first: Any) -> None:
        """"Deliveries by transport" and "Relayed messages" over a block's ``=>`` lines (see
        :func:`~logtrace.reports.eximstats.exim_tables`)."""
        import polars as pl

        c = pl.col
        self.transports.add(first.group_by(transport=c("detail").fill_null(BLACKHOLE_TRANSPORT)).agg(
            messages=pl.len().cast(pl.UInt32), bytes=c("sz").fill_null(0).sum().cast(pl.Int64)))
        orig = c("orig_recipient").fill_null("")
        relayed = first.filter((c("relay_host").is_not_null() | c("relay_ip").is_not_null()) & c("from_client").is_not_null()
                               & ((orig == "") | (orig.str.to_lowercase() == c("recipient").fill_null("").str.to_lowercase())))
        relay = pl.coalesce(c("relay_host").str.to_lowercase() + pl.lit("[") + c("relay_ip") + pl.lit("]"),
                            c("relay_host").str.to_lowercase(), pl.lit("[") + c("relay_ip") + pl.lit("]"))
        self.relayed.add(relayed.group_by(client=c("from_client"), sender=c("from_sender"), relay=relay,
                                          recipient=c("recipient").fill_null("").str.to_lowercase())
                         .agg(count=pl.len().cast(pl.UInt32)))

    def _rejects(self, x: Any) -> list[Any]:
        """ACL rejects, dropped calls and blackholed deliveries of one block: (temp) rejected counts; their hosts."""
        import polars as pl

        c = pl.col
        text = pl.concat_str([c("detail").fill_null(""), c("reply_text").fill_null("")], separator=" ")
        blackhole = tagged(Tag.EXIMSTATS_DELIVER) & c("recipient").is_in([":blackhole:", "blackhole"])
        rj = x.filter((c("kind") == "reject") | tagged(Tag.EXIMSTATS_CALL_DROPPED) | blackhole).with_columns(
            ip=pl.coalesce(pl.lit("[") + c("client_ip") + pl.lit("]"), pl.lit("local")),
            temp=(c("status") == "temporarily rejected") & c("reply_text").is_not_null() & ~text.str.contains("SpamAssassin")
            & (tagged(Tag.EXIMSTATS_REJECT_RCPT) | (tagged(Tag.EXIMSTATS_REJECT) & c("detail").str.contains(r"^[A-Z]+ "))))
        if not rj.height:
            return []
        # Exim logging to syslog (syslog_duplication, the default) writes a reject twice: the main-log
        # line and the reject-log entry's first line. Lines carried by syslog (they have a host; Exim's
        # own files have none) that repeat a reject to the letter, same process and second, are one.
        dup = rj.filter(c("host").is_not_null()).with_columns(h=pl.struct(*DUP_KEYS).hash(seed=SEED))
        if dup.height:
            new = dup.filter(c("h").is_first_distinct())
            new = new.filter(self.rejects_seen.lookup(new.get_column("h")).get_column("seq").is_null())
            self.rejects_seen.insert(new.select(k="h", seq="seq", size=pl.lit(0, pl.Int64)))
            rj = pl.concat([rj.filter(c("host").is_null()), new.drop("h")])
        out = []
        for key, rows in (("rejected", rj.filter(~c("temp"))), ("temp_rejected", rj.filter(c("temp")))):
            self.counts[key] += rows.height
            out.append(rows.select(key=pl.lit(f"{key}_hosts"), host="ip").unique())
        return out

    def _notes(self, x: Any) -> list[Any]:
        """SA-Exim's ``SA: Action:`` lines of one block: ham and spam counts; their hosts."""
        import polars as pl

        c = pl.col
        sa = x.filter(tagged(Tag.EXIMSTATS_NOTE))
        if not sa.height:
            return []
        sa = sa.with_columns(
            ip=pl.coalesce(c("detail").str.extract(r"From.*?(\[[^\]]+\])", 1),
                           pl.when(c("detail").str.contains(r"\(local\)")).then(pl.lit("local")), pl.lit("")),
            verdict=pl.when(c("detail").str.contains(SPAM)).then(pl.lit("spam")).when(c("detail").str.contains(HAM)).then(pl.lit("ham")))
        out = []
        for key in ("ham", "spam"):
            rows = sa.filter(c("verdict") == key)
            self.counts[key] += rows.height
            out.append(rows.select(key=pl.lit(f"{key}_hosts"), host="ip").unique())
        return out

    # ------------------------------------------------------------------ results

    def parts(self) -> tuple[dict[str, int], dict[str, list[str]]]:
        """(additive counts, distinct hosts per ``*_hosts`` key, sorted): the mergeable state of the grand totals."""
        import polars as pl

        h = self.hosts.merged()
        hosts: dict[str, list[str]] = {k: [] for k in EXIM_HOST_KEYS}
        if h is not None:
            for key, values in h.filter(pl.col("host").is_not_null()).group_by("key").agg("host").iter_rows():
                hosts[key] = sorted(set(values))
        return dict(self.counts), hosts

    def tables(self) -> tuple[Any, Any]:
        """The per-transport (``transport, messages, bytes``) and relayed-messages (``client, sender, relay,
        recipient, count``) counts."""
        import polars as pl

        s, u32 = pl.String, pl.UInt32
        self.relayed.compact()
        t, r = self.transports.merged(), self.relayed.merged()
        t = (t.with_columns(pl.col("messages").cast(u32), pl.col("bytes").cast(pl.Int64)) if t is not None
             else pl.DataFrame(schema={"transport": s, "messages": u32, "bytes": pl.Int64}))
        r = (r.with_columns(pl.col("count").cast(u32)) if r is not None
             else pl.DataFrame(schema={**dict.fromkeys(RELAY_KEYS, s), "count": u32}))
        return t, r

    def report(self) -> tuple[dict[str, int], dict[str, list[str]], Any, Any]:
        """:meth:`parts` and :meth:`tables`."""
        counts, hosts = self.parts()
        return (counts, hosts, *self.tables())

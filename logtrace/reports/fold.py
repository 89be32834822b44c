"""The summary as a streaming fold: each block of narrow events is folded into compact state.

:class:`SummaryFold` keeps no event frame. Per block it derives pflogsumm's classifications
(:func:`~logtrace.reports.pflogsumm.derive`) and folds them into

* per message in flight: the last accept of a queue ID not yet sized (``pending``);
* per message: its first size (``sizes``: queue ID, position, bytes — pflogsumm keys sizes by
  queue ID for the whole log, and so do we), and, for the de-duplicated counts, a compact
  row per accept and per delivery naming a next queue ID (hand-offs are matched at the end);
* per key: counters for every section (senders, recipients, domains, relays, clients, reasons,
  days, hours, warnings, delay values) — partial aggregates appended per block and merged
  when they have grown (amortized O(block), not O(state) per block).

Per block, regexes run once per distinct host name, program, address and stamp
(:func:`~logtrace.reports.pflogsumm.by_distinct`), the aggregations run in one ``collect_all`` and
reason texts are classified many blocks at once (:class:`~logtrace.reports.reasons.ReasonBatch`).

Memory is therefore bounded by messages in flight plus distinct keys plus a few dozen bytes
per message, not by the number of lines. Every number equals what
:func:`~logtrace.reports.summary.build` computes over the whole event frame; the pflogsumm and
eximstats cross-checks and ``tests/test_summary.py`` hold the fold to it.

The counters, the first-seen runs and the JSON form of a table live in :mod:`logtrace.reports.state`.

Exim rows (``Tag.EXIMSTATS``) are also folded into eximstats' state (:class:`~logtrace.reports.eximfold.EximFold`:
per message in flight, counts, host sets and the eximstats tables).

:meth:`SummaryFold.state` exports every keyed counter (uncut by ``--top``), the SMTPD connection
aggregate, the messages with no size data and the de-duplication adjustments as JSON-ready
tables; :meth:`SummaryFold.load` adds such a state to a fold. That is how ``summary --merge``
(:mod:`logtrace.reports.merge`) combines documents without re-reading logs.
"""

from __future__ import annotations

from typing import Any

from logtrace.parsing.frames import detach
from logtrace.parsing.tags import Tag, default_index, tagged
from logtrace.reports.collect import CONN_KINDS
from logtrace.reports.eximfold import EximFold
from logtrace.reports.eximstats import RELAY_KEYS, exim_tables_finish
from logtrace.reports.pflogsumm import (LOOPBACK, TOTAL_KEYS, by_distinct, derive, gimme_domains, handoff_pairs, lc_domain,
                                        munge_addresses, sizes, whence)
from logtrace.reports.reasons import BATCH_COLUMNS, PEER_KEYS, REASON_KEYS, ReasonBatch, action_expr, reason_finish
from logtrace.reports.state import Counter, FirstSeen, key_hash, narrow_ints, table_from_state, table_state
from logtrace.reports.sections import (DELAY_PARTS, EXCHANGE_KEYS, FILTER_KEYS, MAILBOX_KEYS, TRAFFIC, delay_bucket, exchange_rows,
                                       filter_rows, mailbox_rows)

HANDOFF_SLICES = 8  #: at most this many slices of the hashed queue IDs for the end-of-fold hand-off join
HANDOFF_SLICE_ROWS = 100_000  #: one slice per this many hand-off deliveries
SUMS = ("received", "delivered", "forwarded", "deferrals", "bounced", "rejected", "reject_warnings", "held", "discarded")


class SummaryFold:
    """Fold narrow event blocks (with a global ``seq``) into a summary's totals, counts and sections."""

    def __init__(self, *, tz: str, host_tz: dict[str, str] | None = None, top: int = 10, smtpd_stats: bool = False,
                 verp_mung: int = 0, ignore_case: bool = False, rej_add_from: bool = False) -> None:
        self.tz, self.host_tz, self.top, self.smtpd_stats = tz, host_tz, top, smtpd_stats
        self.verp_mung, self.ignore_case, self.rej_add_from = verp_mung, ignore_case, rej_add_from
        self.sizes = FirstSeen()  # first size line per queue ID (hashed): position and bytes
        self.pending: Any = None  # last accept per queue ID not yet sized
        self.exim = EximFold()  # eximstats' counts, folded block by block
        self.conn: list[Any] = []
        # hand-off matching at the end, with hashed queue IDs and hosts (a few dozen bytes a message)
        self.acc_rows: list[Any] = []  # queue_id, a_seq, a_host, a_ts
        self.dlv_rows: list[Any] = []  # d_seq, d_host, queue_id (the next one), d_ts, delivered, sz, loop
        self.recv_sizes: list[Any] = []  # queue_id, msg_size of received messages
        self.no_size: list[Any] = []
        self.host_ids: dict[str, int] = {}  # syslog host → small number, for the hand-off rows (hosts are few)
        c = Counter
        self.sums = c(("x",), SUMS)
        self.deferred_ids = c(("queue_id", "x"), ())
        self.deferred_msgs = c(("host", "queue_id"), ())
        self.bounced_msgs = c(("host", "queue_id"), ())
        self.senders = c(("addr", "x"), ("count", "bytes"), buckets=16)
        self.sdoms = c(("sdom", "x"), ("count", "bytes"))
        self.rcpts = c(("rcpt", "x"), ("count", "bytes"), buckets=16)
        self.days = c(("day",), TRAFFIC)
        self.hours = c(("hour",), TRAFFIC)
        self.by_domain = c(("domain",), ("sent", "bytes", "deferrals", "dsum", "dcnt"), ("max_delay_s",))
        self.by_relay = c(("relay",), ("sent", "bytes", "deferrals", "dsum", "dcnt"), ("max_delay_s",))
        self.clients = c(("client",), ("count",))
        self.delays = c(("part", "value"), ("n",))
        self.reasons = {k: (c(REASON_KEYS, ("count",), ("example",)), c(PEER_KEYS, ("count",)))
                        for k in ("deferral", "bounce", "reject")}
        self.reason_batch = ReasonBatch(rej_add_from)  # rows whose reasons are counted many blocks at once
        self.actions = c(("action",), ("count",))
        self.severity = c(("severity", "daemon", "message"), ("count",))
        self.postscreen = c(("status", "client_ip"), ("count",))
        self.smtp_failures = c(("reason", "peer"), ("count",))
        self.exchange = c(EXCHANGE_KEYS, ("count",))
        self.mailbox = c(MAILBOX_KEYS, ("count",))
        self.filters = c(FILTER_KEYS, ("count",))
        # eximstats' per-transport and relayed-messages tables (:meth:`add_exim_tables`, at the end of a fold)
        self.exim_transports = c(("transport",), ("messages", "bytes"))
        self.exim_relayed = c(RELAY_KEYS, ("count",), buckets=16)
        # states of other folds added by load() (merged documents)
        self.smtpd_loaded: list[Any] = []
        self.no_size_loaded: list[Any] = []
        self.loaded_adjust: list[dict[str, int]] = []
        self._adjust: dict[str, int] | None = None

    # ------------------------------------------------------------------ per block

    def add(self, ev: Any) -> None:
        import polars as pl

        if not ev.height:
            return
        x = tagged(Tag.EXIMSTATS)
        idx, rules = default_index(), set(ev.get_column("rule").unique().to_list())

        def present(tag: str) -> bool:  # a tag no rule of the block has selects no row
            return any(r in rules for r in idx.rules(tag)) or any(r in rules for r, _, _ in idx.conditional(tag))

        if present(Tag.EXIMSTATS):
            self.exim.add(ev)  # it takes the eximstats-tagged rows itself
        ev = derive(munge_addresses(ev, self.verp_mung, self.ignore_case), self.tz, self.host_tz).with_columns(x=x)
        if self.smtpd_stats:
            self.conn.append(detach(ev.filter(pl.col("kind").is_in(CONN_KINDS), pl.col("daemon") != "postscreen").select(
                "seq", "kind", "daemon", "host", "pid", "ts", "client_host", "client_ip", "day", "hour")))
        self._queue: list[tuple[Counter | ReasonBatch, Any]] = []
        recv, d, first = self._received(ev)
        self._deliveries(ev, d, first)
        self._counters(ev, recv, present)
        # one polars call runs every counter's aggregation of this block (shared inputs computed once)
        for (counter, _), df in zip(self._queue, pl.collect_all([lf for _, lf in self._queue])):
            if counter is not self.reason_batch:
                counter.add(df)
            elif counter.add(detach(df)):
                self._drain()
        self._queue = []  # the plans hold the block

    def _drain(self) -> None:
        """Count the reasons of the rows held in :attr:`reason_batch` (when it is due, and before any result)."""
        counters = [c for k in ("deferral", "bounce", "reject") for c in self.reasons[k]] + [self.smtp_failures]
        for counter, df in zip(counters, self.reason_batch.drain() or []):
            counter.add(df)

    def _agg(self, counter: Counter | ReasonBatch, lf: Any) -> None:
        self._queue.append((counter, lf))

    def _received(self, ev: Any) -> tuple[Any, Any, Any]:
        """Fold sizes and accepts: (the block's received messages (pflogsumm's ``%rcvdMsg`` meeting a size line),
        its deliveries and deferrals, their messages' first sizes)."""
        import polars as pl

        sized = sizes(ev).with_columns(k=key_hash("queue_id"))
        known = self.sizes.lookup(sized.get_column("k"))
        new = sized.filter(known.get_column("seq").is_null())
        self.sizes.insert(new.select("k", seq="size_seq", size="msg_size"))
        rcv = ev.filter(pl.col("received"))
        rcv = rcv.with_columns(client=gimme_domains(rcv, "client_host", "client_ip"))
        local = pl.when(tagged(Tag.PFLOGSUMM)).then(pl.lit("(local pickup)")).otherwise(pl.lit("(local)"))
        self._agg(self.clients, rcv.lazy().group_by(pl.col("client").fill_null(local)).agg(count=pl.len()))
        acc = detach(rcv.select("queue_id", acc_seq="seq", host="host", whence=whence(pl.col("client")), x="x"))
        self.acc_rows.append(narrow_ints(rcv.select(queue_id=key_hash("queue_id"), a_seq="seq", a_ts="ts")
                                         .with_columns(a_host=self._host_ids(rcv.get_column("host")))))
        acc_all = acc if self.pending is None else pl.concat([self.pending, acc], how="vertical_relaxed")
        j = (new.drop("k").join(acc_all, on="queue_id", how="inner").filter(pl.col("acc_seq") <= pl.col("size_seq"))
             .sort("acc_seq").group_by("queue_id").agg(pl.all().last()))
        # a sized ID's later accepts never count: only the last accept of each unsized ID stays in flight
        d = ev.filter(pl.col("delivered") | (pl.col("dstatus") == "deferred"))
        found = self.sizes.lookup(pl.concat([acc_all.select(k=key_hash("queue_id")),
                                             d.select(k=key_hash("queue_id"))]).to_series())
        left = acc_all.filter(found.get_column("seq").head(acc_all.height).is_null())
        self.pending = left.sort("acc_seq").group_by("queue_id").agg(pl.all().last()) if left.height else None
        def addr(a: Any) -> Any:
            return pl.when(a.fill_null("") == "").then(pl.lit("from=<>")).otherwise(lc_domain(a))

        a = by_distinct(j, "from_addr", addr=addr, dom=lambda a: addr(a).str.extract(r"^[^@]+@(.+)$", 1))
        recv = j.with_columns(addr=a.get_column("addr")).with_columns(
            sdom=pl.coalesce(a.get_column("dom"),
                             pl.when(pl.col("whence") == "pickup").then(pl.col("addr")).otherwise(pl.col("whence"))))
        self.recv_sizes.append(narrow_ints(recv.select(queue_id=key_hash("queue_id"), msg_size="msg_size")))
        return recv, d, found.slice(acc_all.height)

    def _deliveries(self, ev: Any, d: Any, first: Any) -> None:
        import polars as pl

        d = d.with_columns(size_seq=first.get_column("seq"), msg_size=first.get_column("size"))
        has = pl.col("size_seq").is_not_null() & (pl.col("size_seq") < pl.col("seq"))
        d = d.with_columns(has_size=has, sz=pl.when(has).then(pl.col("msg_size")).otherwise(0))
        dl = d.filter(pl.col("delivered"))
        dll, dlz = dl.lazy(), d.lazy()
        self._agg(self.rcpts, dll.group_by("rcpt", "x").agg(count=pl.len(), bytes=pl.col("sz").sum()))
        self.no_size.append(detach(dl.filter(~pl.col("has_size")).select("seq", "queue_id", "rcpt", "host")))
        d = d.with_columns(domain=by_distinct(d, "rcpt", r=lambda r: r.str.replace(r"^[^@]+@", "")).to_series(),
                           relay=gimme_domains(d, "relay_host", "relay_ip").fill_null("none"))
        dlz = d.lazy()
        for counter, key, name in ((self.by_domain, pl.col("domain"), "domain"), (self.by_relay, pl.col("relay"), "relay")):
            dly = pl.col("delay_s").filter(pl.col("delivered"))
            self._agg(counter, dlz.with_columns(k=key).group_by("k").agg(
                sent=pl.col("delivered").sum(), bytes=pl.col("sz").filter(pl.col("delivered")).sum(),
                deferrals=(pl.col("dstatus") == "deferred").sum(), dsum=dly.sum(), dcnt=dly.count(),
                max_delay_s=pl.col("delay_s").max()).rename({"k": name}))
        parts = dll.select(*(pl.col(c).cast(pl.Float64).alias(label) for c, label in DELAY_PARTS)).unpivot(variable_name="part")
        # bucketed per distinct logged value (Postfix logs few), then summed per bucket
        self._agg(self.delays, parts.filter(pl.col("value").is_not_null()).group_by("part", "value").agg(n=pl.len())
                  .group_by("part", value=delay_bucket(pl.col("value"))).agg(pl.col("n").sum()))
        sent = ev.filter(pl.col("dstatus") == "sent", pl.col("next_queue_id").is_not_null()).join(
            dl.select("seq", "sz"), on="seq", how="left")
        self.dlv_rows.append(narrow_ints(sent.select(
            d_seq="seq", queue_id=key_hash("next_queue_id"), d_ts="ts", delivered="delivered", sz="sz",
            loop=pl.coalesce(pl.col("relay_ip"), pl.col("relay_host")).fill_null("").str.contains(LOOPBACK)))
            .with_columns(d_host=self._host_ids(sent.get_column("host"))))

    def _host_ids(self, host: Any) -> Any:
        """A syslog host column as small numbers (equal numbers, equal hosts; null stays null)."""
        import polars as pl

        for h in host.drop_nulls().unique().to_list():
            self.host_ids.setdefault(h, len(self.host_ids))
        return host.replace_strict(self.host_ids, default=None, return_dtype=pl.UInt32)

    def _counters(self, ev: Any, recv: Any, present: Any) -> None:
        import polars as pl

        st, act, add = pl.col("dstatus"), pl.col("act"), self._agg
        ev, recv = ev.lazy(), recv.lazy()
        # the grand-total sums and the per-day and per-hour traffic from one pass over the block
        by = ev.group_by("x", "day", "hour").agg(
            pl.col("received", "delivered", "forwarded").sum(), deferrals=(st == "deferred").sum(), bounced=(st == "bounced").sum(),
            rejected=(act == "reject").sum(), reject_warnings=(act == "reject_warning").sum(), held=(act == "hold").sum(),
            discarded=(act == "discard").sum()).collect().lazy()
        add(self.sums, by.group_by("x").agg(pl.col(*SUMS).sum()))
        for counter, key in ((self.days, "day"), (self.hours, "hour")):
            add(counter, by.filter(pl.col(key).is_not_null()).group_by(key).agg(pl.col(*TRAFFIC).sum()))
        deferred, bounced = ev.filter(st == "deferred"), ev.filter(st == "bounced")
        add(self.deferred_ids, deferred.select("queue_id", "x").unique())
        add(self.deferred_msgs, deferred.select("host", "queue_id").unique())
        add(self.bounced_msgs, bounced.select("host", "queue_id").unique())
        add(self.senders, recv.group_by("addr", "x").agg(count=pl.len(), bytes=pl.col("msg_size").sum()))
        add(self.sdoms, recv.group_by("sdom", "x").agg(count=pl.len(), bytes=pl.col("msg_size").sum()))
        text = pl.coalesce(pl.col("reply_text"), pl.col("detail"))
        rejects = ev.filter(pl.col("act").is_not_null() | (pl.col("kind") == "reject")).with_columns(reply_text=text)
        failures = ev.filter(tagged(Tag.SMTP_FAILURE)).with_columns(reply_text=text) if present(Tag.SMTP_FAILURE) else None
        relay, client = {"peer_host": "relay_host", "peer_ip": "relay_ip"}, {"peer_host": "client_host", "peer_ip": "client_ip"}
        add(self.reason_batch, pl.concat([rows.select(which=pl.lit(i, pl.Int8), **{c: peer.get(c, c) for c in BATCH_COLUMNS[1:]})
                                          for i, (rows, peer) in enumerate(((deferred, relay), (bounced, relay), (rejects, client),
                                                                            (failures, relay))) if rows is not None]))
        add(self.actions, rejects.group_by(action_expr().alias("action")).agg(count=pl.len()))
        sev = pl.when(pl.col("kind") == "warning").then(pl.lit("warning")).otherwise(pl.col("kind"))
        add(self.severity, ev.filter(pl.col("kind").is_in(["warning", "fatal", "panic"]))
                          .with_columns(severity=sev, message=pl.col("detail").fill_null("").str.slice(0, 120))
                          .group_by("severity", "daemon", "message").agg(count=pl.len()))
        for counter, tag, rows, keys in ((self.postscreen, Tag.POSTSCREEN, lambda: ev.filter(tagged(Tag.POSTSCREEN)),
                                          ("status", "client_ip")),
                                         (self.exchange, Tag.EVENT_ID, lambda: exchange_rows(ev), EXCHANGE_KEYS),
                                         (self.mailbox, Tag.MAILBOX, lambda: mailbox_rows(ev), MAILBOX_KEYS),
                                         (self.filters, Tag.FILTER_VERDICT, lambda: filter_rows(ev), FILTER_KEYS)):
            if present(tag):  # the tables of other dialects' rows (amavis, Dovecot, Exchange …) only where they are
                add(counter, rows().group_by(*keys).agg(count=pl.len()))

    # ------------------------------------------------------------------ results

    def totals(self, only_non_exim: bool = False) -> dict[str, int]:
        """pflogsumm's Grand Totals (:data:`TOTAL_KEYS`); ``only_non_exim``: over the rows eximstats does not count."""
        import polars as pl

        keep = (~pl.col("x")) if only_non_exim else pl.lit(True)

        def over(counter: Counter) -> Any:
            m = counter.merged()
            return m.filter(keep) if m is not None else None

        s = over(self.sums)
        tot: dict[str, int] = {k: int(s[k].sum() or 0) if s is not None else 0 for k in SUMS}
        ids = over(self.deferred_ids)
        tot["deferred"] = ids["queue_id"].n_unique() if ids is not None and ids.height else 0
        denom = tot["delivered"] + tot["rejected"] + tot["discarded"]
        snd, dom, rc = over(self.senders), over(self.sdoms), over(self.rcpts)
        tot.update(
            rejected_pct=int(tot["rejected"] * 100 // denom) if denom else 0,
            discarded_pct=int(tot["discarded"] * 100 // denom) if denom else 0,
            bytes_received=int(snd["bytes"].sum() or 0) if snd is not None else 0,
            bytes_delivered=int(rc["bytes"].sum() or 0) if rc is not None else 0,
            senders=snd["addr"].n_unique() if snd is not None and snd.height else 0,
            sending_hosts=dom["sdom"].n_unique() if dom is not None and dom.height else 0,
            recipients=rc["rcpt"].n_unique() if rc is not None and rc.height else 0,
            recipient_hosts=(rc.select(pl.col("rcpt").str.replace(r"^[^@]+@", "").n_unique()).item()
                             if rc is not None and rc.height else 0),
        )
        return {k: tot[k] for k in TOTAL_KEYS}

    def handoff_adjust(self) -> dict[str, int]:
        """What the de-duplicated counts take off the pflogsumm-compatible totals: re-injected accepts and
        hand-off deliveries (and their bytes) matched over this fold's messages, plus those of loaded states."""
        import polars as pl

        if self._adjust is not None:  # the end of the fold: computed once for unique() and state()
            return self._adjust
        out = dict.fromkeys(("accepts", "deliveries", "bytes_received", "bytes_delivered", "same_host"), 0)
        d = pl.concat(self.dlv_rows, how="vertical_relaxed").with_columns(pl.col("sz").cast(pl.Int64)) if self.dlv_rows else None
        a = pl.concat(self.acc_rows, how="vertical_relaxed") if self.acc_rows else None
        if d is not None and a is not None and d.height and a.height:
            rs = (pl.concat(self.recv_sizes, how="vertical_relaxed").with_columns(pl.col("msg_size").cast(pl.Int64))
                  if self.recv_sizes else None)
            # pairs never cross queue IDs, so the join runs per slice of the hashed IDs: the end of a
            # fold then holds one slice's join, not all of them (8M lines: ~110 MB less at the peak)
            parts = max(1, min(HANDOFF_SLICES, d.height // HANDOFF_SLICE_ROWS))
            for i in range(parts):
                in_slice = (pl.col("queue_id") % parts) == i
                re_acc, re_dlv = handoff_pairs(d.filter(in_slice), a.filter(in_slice))
                dh = re_dlv.filter(pl.col("delivered"))
                if re_acc.height and rs is not None:
                    out["bytes_received"] += int(re_acc.join(rs.filter(in_slice), on="queue_id", how="inner")["msg_size"].sum() or 0)
                out["accepts"] += re_acc.height
                out["deliveries"] += dh.height
                out["bytes_delivered"] += int(dh["sz"].sum() or 0)
                out["same_host"] += int(re_acc["same_host"].sum() or 0)
        for adj in self.loaded_adjust:
            out = {k: out[k] + int(adj.get(k, 0)) for k in out}
        self._adjust = out
        return out

    def unique(self, totals: dict[str, int]) -> dict[str, int]:
        adj = self.handoff_adjust()
        dm, bm = self.deferred_msgs.merged(), self.bounced_msgs.merged()
        return {
            "messages_received_unique": totals["received"] - adj["accepts"],
            "recipients_delivered_unique": totals["delivered"] - adj["deliveries"],
            "bytes_received_unique": totals["bytes_received"] - adj["bytes_received"],
            "bytes_delivered_unique": totals["bytes_delivered"] - adj["bytes_delivered"],
            "messages_deferred_unique": dm.height if dm is not None else 0,
            "messages_bounced_unique": bm.height if bm is not None else 0,
            "content_filter_reinjections": adj["same_host"],
            "host_handoffs": adj["accepts"] - adj["same_host"],
        }

    # ------------------------------------------------------------------ mergeable state

    @property
    def counters(self) -> dict[str, Counter]:
        """Every keyed counter by a stable name (the mergeable state of :meth:`state`)."""
        self._drain()
        out = {n: getattr(self, n) for n in ("sums", "deferred_ids", "deferred_msgs", "bounced_msgs", "senders", "sdoms",
                                             "rcpts", "days", "hours", "by_domain", "by_relay", "clients", "delays",
                                             "actions", "severity", "postscreen", "smtp_failures", "exchange", "mailbox",
                                             "filters", "exim_transports", "exim_relayed")}
        for k, (by_msg, by_peer) in self.reasons.items():
            out[f"reasons_{k}"], out[f"peers_{k}"] = by_msg, by_peer
        return out

    def state(self) -> dict[str, Any]:
        """The fold's full per-key state as JSON-ready tables (``{"columns", "dtypes", "rows"}``): every
        counter, the SMTPD connection aggregate, messages with no size data and the hand-off adjustments.
        :meth:`load` adds such a state to a fold, so that documents merge without re-reading logs."""
        out: dict[str, Any] = {"counters": {n: table_state(c.merged()) for n, c in self.counters.items()}}
        out["counters"] = {n: t for n, t in out["counters"].items() if t is not None}
        out["smtpd"] = table_state(self.smtpd_agg()) if self.smtpd_stats else None
        out["no_size"] = table_state(self._no_size())
        out["handoff_adjust"] = self.handoff_adjust()
        return out

    def load(self, state: dict[str, Any]) -> None:
        """Add a :meth:`state` (of another fold, another day) to this one."""
        counters = self.counters
        for name, t in (state.get("counters") or {}).items():
            if name not in counters:
                raise ValueError(f"unknown counter '{name}' in the summary state")
            counters[name].add(table_from_state(t))
        if state.get("smtpd") is not None:
            self.smtpd_stats = True
            self.smtpd_loaded.append(table_from_state(state["smtpd"]))
        if state.get("no_size") is not None:
            self.no_size_loaded.append(table_from_state(state["no_size"]))
        self.loaded_adjust.append(dict(state.get("handoff_adjust") or {}))
        self._adjust = None

    def smtpd_agg(self) -> Any:
        """SMTPD connections per client, day and hour (connections, total and max seconds), loaded ones included."""
        import polars as pl

        from logtrace.reports import sections as S

        conn = (pl.concat(self.conn, how="vertical_relaxed") if self.conn else
                pl.DataFrame(schema={"seq": pl.Int64, "kind": pl.String, "daemon": pl.String, "host": pl.String, "pid": pl.Int64,
                                     "ts": pl.Datetime("us", "UTC"), "client_host": pl.String, "client_ip": pl.String,
                                     "day": pl.Date, "hour": pl.Int8}))
        agg = S.smtpd_agg(conn)
        if self.smtpd_loaded:
            agg = S.smtpd_agg_merge(pl.concat([agg, *self.smtpd_loaded], how="vertical_relaxed"))
        return agg

    def _no_size(self) -> Any:
        import polars as pl

        s = pl.String
        ns = (pl.concat(self.no_size, how="vertical_relaxed").sort("seq").group_by("queue_id", maintain_order=True)
              .agg(recipient=pl.col("rcpt").last(), host=pl.col("host").first()) if self.no_size
              else pl.DataFrame(schema={"queue_id": s, "recipient": s, "host": s}))
        if self.no_size_loaded:
            ns = pl.concat([ns, *self.no_size_loaded], how="vertical_relaxed")
        return ns

    def add_exim_tables(self, transports: Any, relayed: Any) -> None:
        """Add eximstats' per-transport and relayed-messages counts (:func:`~logtrace.reports.eximstats.exim_tables`)."""
        self.exim_transports.add(transports, owned=True)
        self.exim_relayed.add(relayed, owned=True, merged=True)

    def sections(self, exim: bool = False) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, int]]:
        """(sections in report order, smtpd stats or None, counts), as :func:`~logtrace.reports.sections.build_sections`;
        ``exim``: with eximstats' "Deliveries by transport" and "Relayed messages" (inputs with Exim events)."""
        import polars as pl

        from logtrace.reports import sections as S

        top = self.top
        self._drain()

        def m(counter: Counter, keys: tuple[str, ...], schema: dict[str, Any]) -> Any:
            df = counter.merged()
            if df is None:
                return pl.DataFrame(schema=schema)
            if tuple(keys) == counter.keys:  # merged() has one row per key already
                return df
            return df.group_by(list(keys), maintain_order=True).agg(*[pl.col(c).sum() for c in counter.sums],
                                                                     *[pl.col(c).max() for c in counter.maxes])

        u32, i64, f64, s = pl.UInt32, pl.Int64, pl.Float64, pl.String
        snd = m(self.senders, ("addr",), {"addr": s, "x": pl.Boolean, "count": u32, "bytes": i64}).rename({"addr": "sender"})
        rc = m(self.rcpts, ("rcpt",), {"rcpt": s, "x": pl.Boolean, "count": u32, "bytes": i64}).rename({"rcpt": "recipient"})
        snd, rc = snd.select("sender", "count", "bytes"), rc.select("recipient", "count", "bytes")
        traffic_schema = {k: u32 for k in S.TRAFFIC}
        days = m(self.days, ("day",), {"day": pl.Date, **traffic_schema})
        hours = m(self.hours, ("hour",), {"hour": pl.Int8, **traffic_schema})

        def delivery(counter: Counter, name: str) -> Any:
            df = m(counter, (name,), {name: s, "sent": u32, "bytes": i64, "deferrals": u32, "dsum": f64, "dcnt": u32,
                                     "max_delay_s": f64})
            avg = pl.when(pl.col("dcnt") > 0).then(pl.col("dsum") / pl.col("dcnt")).otherwise(None).cast(f64)
            return (df.select(name, "sent", "bytes", "deferrals", avg_delay_s=avg, max_delay_s="max_delay_s")
                    .sort(["sent", "deferrals", name], descending=[True, True, False]).head(top))

        reasons = {}
        for key in ("deferral", "bounce", "reject"):
            by_msg = m(self.reasons[key][0], REASON_KEYS,
                       {"action": s, "cls": s, "code": s, "reason": s, "queue_id": s, "count": u32, "example": s})
            by_peer = m(self.reasons[key][1], PEER_KEYS, {"action": s, "cls": s, "peer": s, "count": u32})
            reasons[key] = reason_finish(by_msg, by_peer, top, messages=key != "reject")
        sev = m(self.severity, ("severity", "daemon", "message"), {"severity": s, "daemon": s, "message": s, "count": u32})
        ns = self._no_size()
        ps = m(self.postscreen, ("status", "client_ip"), {"status": s, "client_ip": s, "count": u32})
        sections: dict[str, Any] = {
            "per_day": S.finish_traffic(days, "day"),
            "per_hour": S.per_hour(None, S.finish_traffic(hours, "hour")),
            "delivery_by_domain": delivery(self.by_domain, "domain"),
            "delivery_by_relay": delivery(self.by_relay, "relay"),
            "reception_by_domain": S.top_n(m(self.sdoms, ("sdom",), {"sdom": s, "x": pl.Boolean, "count": u32, "bytes": i64})
                                           .select(domain="sdom", count="count", bytes="bytes"), "count", top),
            "reception_by_client": S.top_n(m(self.clients, ("client",), {"client": s, "count": u32}), "count", top),
            "senders_by_count": S.top_n(snd, "count", top),
            "senders_by_size": S.top_n(snd, "bytes", top),
            "recipients_by_count": S.top_n(rc, "count", top),
            "recipients_by_size": S.top_n(rc, "bytes", top),
            "delays": S.delays_from_hist(self.delays.merged()),
            "delay_distribution": S.delay_distribution(S.delay_hist(self.delays.merged(), "delay")),
            "deferral_reasons": reasons["deferral"][0],
            "deferral_hosts": reasons["deferral"][1],
            "bounce_reasons": reasons["bounce"][0],
            "bounce_hosts": reasons["bounce"][1],
            "smtp_failures": S.smtp_failures_finish(m(self.smtp_failures, ("reason", "peer"), {"reason": s, "peer": s, "count": u32}), top),
            "reject_actions": m(self.actions, ("action",), {"action": s, "count": u32}).sort("action"),
            "reject_reasons": reasons["reject"][0],
            "reject_hosts": reasons["reject"][1],
            "warnings": S.severity_finish(sev, top),
            "no_size": ns.sort("queue_id").head(top),
            "postscreen": ps.group_by("status").agg(count=pl.col("count").sum(), clients=pl.col("client_ip").n_unique())
            .rename({"status": "action"}).sort(["count", "action"], descending=[True, False]),
        }
        sections.update(S.exchange_finish(self.exchange.merged(), top))
        sections.update(S.last_mile_finish(self.mailbox.merged(), self.filters.merged(), top))
        if exim:
            sections.update(exim_tables_finish(
                m(self.exim_transports, ("transport",), {"transport": s, "messages": u32, "bytes": i64}),
                m(self.exim_relayed, RELAY_KEYS, {**dict.fromkeys(RELAY_KEYS, s), "count": u32}), top, unique=True))
        smtpd_out = None
        if self.smtpd_stats:
            smtpd_out, sections["smtpd_hosts"], sections["smtpd_per_day"], sections["smtpd_per_hour"] = S.smtpd_finish(
                self.smtpd_agg(), top)
        by_sev = dict(sev.group_by("severity").agg(pl.col("count").sum()).iter_rows()) if sev.height else {}
        counts = {"warnings": int(by_sev.get("warning", 0)), "fatal": int(by_sev.get("fatal", 0)),
                  "panic": int(by_sev.get("panic", 0)), "no_size": ns.height}
        return sections, smtpd_out, counts

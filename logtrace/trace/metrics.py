"""``watch``'s Prometheus metrics: counters fed by the lines and alerts of a watch.

Exposed with ``prometheus_client`` (the optional extra ``logtrace[watch]``): an HTTP endpoint
(``--metrics-listen HOST:PORT``, Prometheus text or OpenMetrics as the scraper asks) and/or a
textfile for node_exporter's textfile collector (``--metrics-file PATH``, written atomically).

Invariants:

* The counters that have a ``summary`` total count with **the same code** as ``summary``:
  each step's events go through :func:`logtrace.reports.pflogsumm.derive` (pflogsumm's
  classification by rule tags and status words), so after the same lines
  ``logtrace_messages_accepted_total`` = ``totals.received``,
  ``logtrace_recipients_delivered_total`` = ``delivered``, ``logtrace_recipients_bounced_total``
  = ``bounced``, ``logtrace_deferrals_total`` = ``deferrals``, ``logtrace_messages_deferred_total``
  = ``deferred`` (distinct queue IDs, :data:`DEFERRED_IDS` remembered), the sum over
  ``logtrace_rejected_total{class}`` = ``rejected`` (:data:`SUMMARY_EQUIVALENTS`).
* Names shared with kumina's postfix_exporter mean what they mean there
  (``postfix_smtpd_connects_total``, ``postfix_qmgr_messages_removed_total``,
  ``postfix_smtp_delivery_delay_seconds{stage}`` …).
* Label values come from bounded sets only — verdicts, reason classes
  (:data:`~logtrace.reports.reasons.REASON_CLASSES`), delay stages, three-digit reply codes,
  line results, and daemon names that a parser claims (at most :data:`MAX_PROGRAMS`, then
  ``other``) — never from free log text.
"""

from __future__ import annotations

import re
import time
from collections import Counter as Tally
from collections.abc import Iterable
from typing import Any

from logtrace.errors import LogtraceError

#: distinct deferred queue IDs remembered (``messages_deferred`` counts each once)
DEFERRED_IDS = 200_000
#: most distinct ``program`` label values (then ``other``)
MAX_PROGRAMS = 64
#: metric → the ``summary --format json`` total it equals after the same lines (pflogsumm counting)
SUMMARY_EQUIVALENTS = {
    "logtrace_messages_accepted_total": "received",
    "logtrace_recipients_delivered_total": "delivered",
    "logtrace_recipients_forwarded_total": "forwarded",
    "logtrace_messages_deferred_total": "deferred",
    "logtrace_deferrals_total": "deferrals",
    "logtrace_recipients_bounced_total": "bounced",
    "logtrace_rejected_total": "rejected",
    "logtrace_reject_warnings_total": "reject_warnings",
    "logtrace_held_total": "held",
    "logtrace_discarded_total": "discarded",
}
DELAY_STAGES = (("delay_before_qmgr_s", "before_queue_manager"), ("delay_in_qmgr_s", "queue_manager"),
                ("delay_conn_s", "connection_setup"), ("delay_xmit_s", "transmission"))
DELAY_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 5 * 24 * 3600, float("inf"))
_CODE = re.compile(r"^[245]\d\d$")
_DAEMON = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")


def require() -> Any:
    """``prometheus_client``, or a usage error saying how to get it."""
    try:
        import prometheus_client
    except ImportError:
        raise LogtraceError("--metrics-listen/--metrics-file need the prometheus_client package",
                            hint="pip install 'logtrace[watch]'") from None
    if hasattr(prometheus_client, "disable_created_metrics"):  # no *_created sample per counter (as postfix_exporter)
        prometheus_client.disable_created_metrics()
    return prometheus_client


def parse_listen(spec: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9154``, ``:9154`` = all addresses) → (host, port); a usage error otherwise."""
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]*):(\d+)", spec.strip())
    if not m:
        raise LogtraceError(f"--metrics-listen {spec!r}: not HOST:PORT", hint="e.g. --metrics-listen 127.0.0.1:9154")
    host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    if int(port) > 65535:
        raise LogtraceError(f"--metrics-listen {spec!r}: port out of range", hint="e.g. --metrics-listen 127.0.0.1:9154")
    return host or "0.0.0.0", int(port)


class Metrics:
    """The metric families of one watch, in their own registry."""

    def __init__(self) -> None:
        pc = require()
        from prometheus_client import CollectorRegistry

        self.registry = reg = CollectorRegistry(auto_describe=True)
        C, G, H = pc.Counter, pc.Gauge, pc.Histogram

        def c(name: str, doc: str, labels: Iterable[str] = ()) -> Any:
            return C(name.removesuffix("_total"), doc, list(labels), registry=reg)

        # postfix_exporter-compatible names (same meaning)
        self.smtpd_connects = c("postfix_smtpd_connects_total", "SMTP server connections (smtpd connect from).")
        self.smtpd_disconnects = c("postfix_smtpd_disconnects_total", "SMTP server disconnections (smtpd disconnect from).")
        self.smtpd_rejected = c("postfix_smtpd_messages_rejected_total", "SMTP server rejects (NOQUEUE reject), by reply code.",
                                ["code"])
        self.qmgr_removed = c("postfix_qmgr_messages_removed_total", "Messages removed from the queue (qmgr removed).")
        self.qmgr_expired = c("postfix_qmgr_messages_expired_total", "Messages expired in the queue (returned as too old).")
        self.smtp_delay = H("postfix_smtp_delivery_delay_seconds", "SMTP client delivery delays (delays=a/b/c/d), by stage.",
                            ["stage"], buckets=DELAY_BUCKETS, registry=reg)
        # logtrace's own, with a summary total each
        self.accepted = c("logtrace_messages_accepted_total", "Messages accepted into a queue (summary: received).")
        self.delivered = c("logtrace_recipients_delivered_total", "Recipients delivered (summary: delivered).")
        self.forwarded = c("logtrace_recipients_forwarded_total", "Recipients forwarded (summary: forwarded).")
        self.deferred = c("logtrace_messages_deferred_total", "Messages deferred at least once (summary: deferred).")
        self.deferrals = c("logtrace_deferrals_total", "Deferral lines (summary: deferrals).")
        self.bounced = c("logtrace_recipients_bounced_total", "Recipients bounced (summary: bounced).")
        self.rejected = c("logtrace_rejected_total", "Rejects (SMTP-time and cleanup), by reason class (sum: summary rejected).",
                          ["class"])
        self.reject_warnings = c("logtrace_reject_warnings_total", "reject_warning lines (summary: reject_warnings).")
        self.held = c("logtrace_held_total", "Messages put on hold (summary: held).")
        self.discarded = c("logtrace_discarded_total", "Messages discarded by a check (summary: discarded).")
        # logtrace's own, about fates across hops
        self.failed = c("logtrace_accepted_then_failed_total", "Accepted mail that then failed, per failed recipient (alerts), "
                        "by verdict and reason class.", ["verdict", "class"])
        self.ndr_failed = c("logtrace_ndr_failed_total", "Bounce notifications that failed too (notification-failed alerts).")
        self.alerts = c("logtrace_alerts_total", "Alerts made, by verdict (before --max-alerts-per-minute).", ["verdict"])
        self.held_back = c("logtrace_alerts_held_back_total", "Alerts held back by --max-alerts-per-minute.")
        self.lines = c("logtrace_lines_total", "Lines read, by program and result (parsed, other, unrecognized).",
                       ["program", "result"])
        self.lag = G("logtrace_watch_lag_seconds", "Seconds between now and the newest log time read (grows on a quiet log; "
                     "see logtrace_watch_backlog_bytes).", registry=reg)
        self.backlog = G("logtrace_watch_backlog_bytes", "Bytes written to the followed files and not read yet.", registry=reg)
        self.open = G("logtrace_watch_open_lifecycles", "Lifecycles (queue IDs) held in memory.", registry=reg)
        self._deferred_ids: dict[str, None] = {}
        self._programs: set[str] = set()

    # ------------------------------------------------------------------ feeding

    def lines_read(self, tally: Tally[tuple[str, str]]) -> None:
        """``(program, result)`` → lines, from :meth:`line_key` of each line read."""
        for (prog, result), n in tally.items():
            self.lines.labels(self._program(prog), result).inc(n)

    def _program(self, prog: str) -> str:
        if prog in self._programs:
            return prog
        if not _DAEMON.match(prog) or len(self._programs) >= MAX_PROGRAMS:
            return "other"
        self._programs.add(prog)
        return prog

    def observe(self, events: list[Any]) -> None:
        """Count one step's events (in log order) with ``summary``'s classification."""
        if events:
            self.observe_frame(events_frame(events))

    def observe_frame(self, df: Any) -> None:
        """Count the rows of an event frame (the frame engine's, or :func:`events_frame`'s)."""
        import polars as pl

        from logtrace.reports.pflogsumm import derive
        from logtrace.reports.reasons import classify_reason

        if not df.height:
            return
        df = df.filter(_keep().fill_null(False))
        if not df.height:
            return
        ev = derive(df, "UTC")
        st = pl.col("dstatus")
        daemon = pl.col("daemon").fill_null("")
        s = ev.select(
            received=pl.col("received").sum(), delivered=pl.col("delivered").sum(), forwarded=pl.col("forwarded").sum(),
            deferrals=(st == "deferred").sum(), bounced=(st == "bounced").sum(),
            reject_warnings=(pl.col("act") == "reject_warning").sum(), held=(pl.col("act") == "hold").sum(),
            discarded=(pl.col("act") == "discard").sum(),
            connects=((pl.col("kind") == "connect") & (daemon == "smtpd")).sum(),
            disconnects=((pl.col("kind") == "disconnect") & (daemon == "smtpd")).sum(),
            removed=((pl.col("kind") == "remove") & (daemon == "qmgr")).sum(),
            expired=(pl.col("kind") == "expire").sum(),
        ).row(0, named=True)
        for name, counter in (("received", self.accepted), ("delivered", self.delivered), ("forwarded", self.forwarded),
                              ("deferrals", self.deferrals), ("bounced", self.bounced), ("reject_warnings", self.reject_warnings),
                              ("held", self.held), ("discarded", self.discarded), ("connects", self.smtpd_connects),
                              ("disconnects", self.smtpd_disconnects), ("removed", self.qmgr_removed),
                              ("expired", self.qmgr_expired)):
            if s[name]:
                counter.inc(s[name])
        rej = ev.filter(pl.col("act") == "reject").with_columns(text=pl.coalesce(pl.col("reply_text"), pl.col("detail")))
        if rej.height:
            for cls, n in rej.group_by(cls=classify_reason(pl.col("dsn"), pl.col("text"))).agg(n=pl.len()).iter_rows():
                self.rejected.labels(cls).inc(n)
            smtpd = rej.filter(daemon == "smtpd", pl.col("queue_id").is_null())
            for code, n in smtpd.group_by(code=pl.col("reply_code").cast(pl.String)).agg(n=pl.len()).iter_rows():
                self.smtpd_rejected.labels(code if code and _CODE.match(code) else "other").inc(n)
        for qid in ev.filter(st == "deferred").get_column("queue_id").drop_nulls().unique(maintain_order=True):
            if qid not in self._deferred_ids:
                self._deferred_ids[qid] = None
                self.deferred.inc()
                if len(self._deferred_ids) > DEFERRED_IDS:
                    del self._deferred_ids[next(iter(self._deferred_ids))]
        smtp = ev.filter(daemon == "smtp", pl.col("delay_s").is_not_null())
        for col, stage in DELAY_STAGES:
            h = self.smtp_delay.labels(stage)
            for v in smtp.get_column(col).drop_nulls():
                h.observe(v)

    def alerts_made(self, alerts: list[dict[str, Any]]) -> None:
        from logtrace.trace.watch import ALERT_VERDICTS, NOTIFICATION_FAILED

        failing = {str(v) for v in ALERT_VERDICTS}
        for a in alerts:
            v = a.get("verdict") or "other"
            self.alerts.labels(v).inc()
            if v in failing:
                self.failed.labels(v, a.get("class") or "other").inc()
            elif v == NOTIFICATION_FAILED:
                self.ndr_failed.inc()

    def progress(self, newest: Any, backlog: int, open_lifecycles: int) -> None:
        if newest is not None:
            self.lag.set(max(0.0, time.time() - newest.timestamp()))
        self.backlog.set(backlog)
        self.open.set(open_lifecycles)

    # ------------------------------------------------------------------ exposing

    def serve(self, spec: str) -> tuple[str, int]:
        """Serve the registry over HTTP at ``HOST:PORT`` (a daemon thread); the address bound."""
        from prometheus_client import start_http_server

        host, port = parse_listen(spec)
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as e:
            raise LogtraceError(f"--metrics-listen {spec}: {e.strerror or e}",
                                hint="choose a free port or another address") from None
        self._server = server
        bound = server.server_address
        return str(bound[0]), int(bound[1])

    def write_file(self, path: str) -> None:
        """The textfile (node_exporter's textfile collector format), replaced atomically."""
        from prometheus_client import write_to_textfile

        try:
            write_to_textfile(path, self.registry)
        except OSError as e:
            raise LogtraceError(f"--metrics-file {path}: {e.strerror or e}",
                                hint="name a file in a writable directory (node_exporter's textfile directory)") from None

    def shutdown(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()


def line_key(rec: Any) -> tuple[str, str]:
    """``(program, result)`` of one parsed line (the accounting of ``summary``/``parse``)."""
    from logtrace.events import Event

    if isinstance(rec, Event):
        if rec.rule in ("other.program", "blank", "syslog.noise"):
            return "other", "other"
        return _daemon(rec.program), "parsed"
    reason = getattr(rec, "reason", None)
    return ("other" if reason in ("no-envelope", "unknown-program") else _daemon(getattr(rec, "program", None))), "unrecognized"


def _daemon(program: str | None) -> str:
    return (program or "none").rsplit("/", 1)[-1] or "none"


_COLS: tuple[str, ...] | None = None


def _columns() -> tuple[str, ...]:
    """The event fields ``derive`` and the counters read (plus every field a conditional tag looks at)."""
    global _COLS
    if _COLS is None:
        from logtrace.events import event_schema
        from logtrace.parsing.tags import default_index
        from logtrace.reports.collect import COLS

        fields = {f for lst in default_index().by.values() for f, _, _ in lst}
        schema = event_schema()
        _COLS = tuple(c for c in schema if c in set(COLS) | fields | {"reply_code", "rule", "status", "detail", "dsn"})
    return _COLS


_NARROW_RULES: frozenset[str] | None = None


def _narrow_rules() -> frozenset[str]:
    """Rules whose rows ``summary`` keeps by tag whatever their kind (:data:`~logtrace.reports.collect.NARROW_TAGS`)."""
    global _NARROW_RULES
    if _NARROW_RULES is None:
        from logtrace.parsing.tags import default_index
        from logtrace.reports.collect import NARROW_TAGS

        idx = default_index()
        _NARROW_RULES = frozenset(r for t in NARROW_TAGS for r in idx.rules(t)) | frozenset(
            r for t in NARROW_TAGS for r, _, _ in idx.conditional(t))
    return _NARROW_RULES


#: kinds the counters look at: ``summary``'s kinds (:data:`~logtrace.reports.collect.KEEP_KINDS`), connects, removals
COUNTED_KINDS = frozenset({"accept", "queued", "deliver", "defer", "bounce", "expire", "reject", "reject_warning", "hold",
                           "discard", "warning", "fatal", "panic", "connect", "disconnect", "remove"})


def events_frame(events: list[Any]) -> Any:
    """The events ``summary`` would keep (:func:`~logtrace.reports.collect.narrow`), plus connects and
    removals, as a polars frame with :func:`_columns` (event schema types)."""
    import polars as pl

    from logtrace.events import event_schema

    cols = _columns()
    schema = event_schema()
    rules = _narrow_rules()
    evs = [e for e in events if e.kind.value in COUNTED_KINDS or e.rule in rules]
    data: dict[str, list[Any]] = {c: [getattr(e, c) for e in evs] for c in cols}
    data["kind"] = [e.kind.value for e in evs]
    sch = {c: schema[c] for c in cols}
    sch["kind"] = pl.String
    return pl.DataFrame(data, schema=sch)


def _keep() -> Any:
    """The rows counted: ``summary``'s (:func:`~logtrace.reports.collect.narrow`), plus connects and removals."""
    import polars as pl

    from logtrace.parsing.tags import Tag, tagged, tagged_any

    return (pl.col("kind").is_in(list(COUNTED_KINDS))
            | tagged_any((Tag.DELIVERY_STATUS, Tag.CHECKS, Tag.POSTSCREEN, Tag.EXIMSTATS_COMPLETED, Tag.EXIMSTATS_CALL_DROPPED))
            | (tagged(Tag.EXIMSTATS_NOTE) & pl.col("detail").str.starts_with("SA: ")))


def frame_lines(df: Any) -> Tally[tuple[str, str]]:
    """``(program, result)`` → lines of a parsed frame (as :func:`line_key` per line)."""
    import polars as pl

    k = pl.col("kind")
    other = pl.col("rule").is_in(["other.program", "blank", "syslog.noise"])
    daemon = pl.col("program").fill_null("none").str.extract(r"([^/]*)$", 1).replace("", "none")
    res = pl.when(k == "unparsed").then(pl.lit("unrecognized")).when(other).then(pl.lit("other")).otherwise(pl.lit("parsed"))
    nameless = pl.col("reason").is_in(["no-envelope", "unknown-program"])
    prog = (pl.when(k == "unparsed").then(pl.when(nameless).then(pl.lit("other")).otherwise(daemon))
            .when(other).then(pl.lit("other")).otherwise(daemon))
    out: Tally[tuple[str, str]] = Tally()
    for p, r, n in df.group_by(p=prog, r=res).agg(n=pl.len()).iter_rows():
        out[(p, r)] += n
    return out

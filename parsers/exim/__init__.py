"""Exim: main log, reject log and panic log lines, as rule tables proven by real samples.

Envelope. Exim writes ``<stamp> [<pid>] <body>`` itself; the stamp is ``2026-11-22 06:25:14``,
optionally with milliseconds (``+millisec``: ``06:25:14.123``) and a zone suffix
(``log_timezone``: ``06:25:14 +0100``); ``[pid]`` comes with ``+pid``. When Exim logs to
syslog the line is wrapped as ``Nov 22 06:25:14 mx1 exim[123]: <stamp> <body>`` (with or
without Exim's own stamp, RFC 3164 or ISO syslog stamps). Exim's own stamp wins over the
syslog one. A plain main log carries no host name, so ``host`` is null unless the line is
syslog-wrapped; ``program`` is ``exim`` (or the syslog tag, ``exim4``).

Message IDs. The Exim *message id* is our ``queue_id``: pre-4.97 ``1jmFYj-00039V-QX`` (6-6-2)
and 4.97+ ``1tixMn-00000000C5j-1wRa`` (6-11-4). ``message_id`` is the RFC 5322 Message-ID
from ``id=`` on ``<=`` lines, without angle brackets.

Field conventions (what the correlator can rely on):

* ``<=`` ACCEPT: ``sender`` = address after ``<=`` (``""`` for the null sender ``<>``),
  ``client_host``/``client_ip`` from ``H=``, ``size`` from ``S=``, ``message_id`` from
  ``id=``, ``recipient`` from a single-address ``for …`` list (``+received_recipients``).
* **Bounce link**: a ``<= <> R=<id>`` line is the NDR (or DSN) Exim generated for message
  ``<id>``. It becomes ACCEPT with ``queue_id`` = the NDR's id, ``next_queue_id`` = the
  *original* message's id and ``status = "bounce-of"``. The link points backwards (NDR →
  original), unlike Postfix's ``sender non-delivery notification`` NOTIFY (original → NDR).
* ``=>`` / ``->`` / ``>>`` DELIVER, ``*>`` OTHER with ``status = "suppressed"``, ``**``
  BOUNCE, ``==`` DEFER: ``recipient`` = delivered address, ``orig_recipient`` = the
  ``<parent>`` address; ``relay_host``/``relay_ip``/``relay_port`` from ``H=host [ip]:port``;
  ``detail`` = the transport from ``T=`` (``remote_smtp``; none for ``:blackhole:``).
* ``C="…"`` (remote confirmation) → ``reply_text``; so the shared derivations fill
  ``reply_code``/``dsn`` and ``next_queue_id`` (``250 OK id=…``, ``queued as …``,
  ``[InternalId=…, Hostname=…]``) exactly as for Postfix replies.
* ``**`` and ``==``: ``reply_text`` is the failure text (``SMTP error from remote mail server
  after RCPT TO:<…>: 550 …``, ``retry timeout exceeded``, ``Unrouteable address``);
  ``reply_code``/``dsn`` come from the remote reply when there is one. On ``==`` lines
  ``detail`` is ``defer (errno)`` / ``routing defer (errno)``.
* Delays: ``delay_s`` = ``QT=`` (time on queue) else ``DT=`` (delivery time);
  ``delay_xmit_s`` = ``DT=``; ``delay_before_qmgr_s`` = ``RT=`` (receive time). Exim's
  ``1m2s`` style is converted to seconds.
* ``Completed`` REMOVE; ``removed by <user>`` DELETE; ``Frozen…``/``Message is frozen`` HOLD;
  ``Unfrozen by …`` RELEASE; ``cancelled by timeout_frozen_after`` EXPIRE (the message
  timed out frozen and is returned, like Postfix's ``expired, returned to sender``); other
  ``cancelled by …`` (``exim -Mg``, system filter ``fail``) BOUNCE.
* ACL rejections (``rejected RCPT``, ``rejected after DATA``, ``rejected by local_scan()``…)
  REJECT with ``status`` ``rejected`` or ``temporarily rejected``; ``reply_text`` is the
  reason Exim gave the client; ``sender`` from ``F=``, client from ``H=``.
* Per-message lines without a flag (DKIM results, filter ``logwrite``, ``SA: Action`` …)
  are ``exim.main.note`` OTHER with the queue ID, so they show up in traces.

Log files. A file whose name contains ``panic`` is a panic log: each stamped line is a
PANIC event. Reject-log entries are followed by unstamped ``Envelope-from:``,
``Envelope-to:`` and header-dump lines (flag letter + space, or continuation whitespace);
those are ``exim.rejectlog.*`` OTHER events that inherit ``ts``, ``queue_id``, ``pid`` and
``host`` from the stamped line above them (``I Message-Id:`` gives ``message_id``). The Exim
test-suite separator ``******** SERVER ********`` is recognized (OTHER). Every input line
yields exactly one row; both engines give identical events.

Samples come from the public corpus (``shared/corpus/public/exim``: Exim's own test suite,
exim_exporter, fail2ban, WHM grok tests). Order matters: first match wins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar

from logtrace.containers.stamps import MONTHS, assign_years, frame_timestamps, parse_3164, parse_3339
from logtrace.events import EVENT_FIELDS, Event, EventKind as K, Unparsed
from logtrace.parsing.rules import BLANK, BLANK_RE, FileContext, Rule, RuleParser, cast_field, conform, empty_frame, local_zone
from logtrace.parsing.tags import Tag
from logtrace_parsers.exim.table import (CONVERSIONS, DERIVATION_CUTS_ALL, ENVELOPE, EXIM_DERIVATIONS, EXIM_PROGRAM, ID,
                                         NATIVE_GUARD, NATIVE_SYSLOG, QID, RULES, STAMP)

__all__ = ["EximParser", "RULES", "ID", "QID", "STAMP", "log_kind"]

_STAMPED_SNIFF = re.compile(rf"^{STAMP}(?: [+-]\d{{4}})? (?:\[\d+\] )?")
_MON_RE = re.compile(r"^[A-Z][a-z]{2} [ 0-3]?\d \d\d:")
_ATTACH = ("ts", "queue_id", "pid", "host")
_ENV_FIELDS = frozenset({"ts", "host", "program", "pid", "mta", "kind", "rule", "file", "line_no"})
_FIELD_SET = frozenset(EVENT_FIELDS)
_STATE = "exim.anchor"  # ctx.extra key: the last stamped line's (ts, queue_id, pid, host)


def log_kind(path: str) -> str:
    """``panic`` for a panic log (by file name), else ``main`` (main and reject logs share rules)."""
    return "panic" if "panic" in os.path.basename(path).lower() else "main"


class EximParser(RuleParser):
    """Exim main log (plain or syslog-wrapped), reject log (multi-line entries) and panic log."""

    name: ClassVar[str] = "exim"
    aliases: ClassVar[tuple[str, ...]] = ("exim4",)
    mta: ClassVar[str] = "exim"
    tags: ClassVar[frozenset[str]] = frozenset({Tag.EXIMSTATS})
    rules: ClassVar[tuple[Rule, ...]] = RULES
    program_pattern: ClassVar[str] = r"^(?P<daemon>exim)"
    daemon_aliases: ClassVar[dict[str, str]] = {"exim": "main"}
    conversions: ClassVar[tuple[tuple[str, str, str], ...]] = CONVERSIONS
    #: Exim's own stamp (``syslog_timestamp``, the default) and ``[pid]`` inside a syslog body, after
    #: the ``[1/N]``/``[1\N]`` mark of the first part of an entry Exim split (over 870 bytes or
    #: several lines; later parts are ``exim.main.syslog_part``)
    body_stamp: ClassVar[str | None] = (rf"^(?:\[1[\\/][1-9]\d*\] )?(?:(?P<bts>{STAMP})(?: (?P<btz>[+-]\d{{4}}))? )?"
                                        r"(?:\[(?P<bpid>\d+)\] )?")
    unstamped_daemon: ClassVar[str | None] = "continuation"
    family_pattern: ClassVar[str | None] = EXIM_PROGRAM
    derivations: ClassVar[tuple[tuple[str, str], ...]] = EXIM_DERIVATIONS
    derivation_cuts: ClassVar[dict[str, tuple[Any, ...]]] = DERIVATION_CUTS_ALL
    #: program name for lines Exim wrote itself (no syslog tag)
    default_program: ClassVar[str] = "exim"

    # ---------------------------------------------------------------- detection

    @classmethod
    def native_sniff(cls, head: Sequence[str]) -> float:
        """Share of head lines that are Exim's own log lines (its stamp first, not a syslog line)."""
        from logtrace.containers.syslog import split_line

        lines = [ln for ln in head if ln.strip()]
        if not lines:
            return 0.0
        parser = cls()
        hits = 0
        for ln in lines:
            m = _STAMPED_SNIFF.match(ln)
            if m and split_line(ln) is None and parser.classify_body("main", ln[m.end():]) is not None:
                hits += 1
        return hits / len(lines)

    def sniff(self, head: Sequence[str]) -> float:
        """Share of stamped lines that an Exim rule recognizes (unstamped dump lines are neutral)."""
        n = hits = 0
        for ln in head:
            if not ln.strip():
                continue
            g = self._split(ln)
            if g is None:
                continue
            n += 1
            if g["_daemon"] is not None and self.classify_body("main", g["body"]) is not None:
                hits += 1
        if not n or not hits:
            return 0.0
        return min(1.0, 0.3 + hits / n)

    # ---------------------------------------------------------------- line engine

    @cached_property
    def _exim_env_re(self) -> re.Pattern[str]:
        return re.compile(ENVELOPE)

    def _split(self, line: str, mode: str = "main") -> dict[str, Any] | None:
        """Envelope groups normalized: ``ts3164``/``ts3339`` (Exim's stamp preferred), host,
        program, pid, body and ``_daemon``; None for an unstamped line (continuation)."""
        m = self._exim_env_re.match(line)
        if m is None:  # only a line with "\n" inside can miss; treat as unstamped
            return None
        g = m.groupdict()
        iso = (g["ts"] + (g["tz"] or "")) if g["ts"] else (g["tsS"] + (g["tzS"] or "")) if g["tsS"] else g["tsT"]
        if not (iso or g["ts3164"]):
            return None
        program = g["program"] or g["program2"]
        exim = program is None or re.match(EXIM_PROGRAM, program) is not None
        return {
            "ts3164": g["ts3164"] if not iso else None,
            "ts3164_raw": g["ts3164"],
            "ts3339": iso,
            "host": g["host"] or g["host2"],
            "program": program or self.default_program,
            "pid": g["pid"] or g["pid2"] or g["xpid"],
            "body": g["body"],
            "_daemon": mode if exim else None,
        }

    def _event(self, daemon: str, body: str, *, ts: datetime | None, host: str | None, program: str | None,
               pid: int | None, ctx: FileContext, line_no: int) -> Event | None:
        hit = self.classify_body(daemon, body)
        if hit is None:
            return None
        return self.make_event(hit[0], hit[1], ts=ts, host=host, program=program, pid=pid, ctx=ctx, line_no=line_no)

    def read_line(self, line: str, ctx: FileContext, line_no: int) -> Event | Unparsed:
        if _MON_RE.match(line) and line[:3] in MONTHS:  # advance the year tracker exactly as assign_years does
            ctx.years.year_for(MONTHS[line[:3]])
        if BLANK_RE.match(line):
            return Event(ts=None, host=None, mta="", program=None, pid=None, kind=K.OTHER, rule="blank",
                         file=ctx.path, line_no=line_no)
        g = self._split(line, log_kind(ctx.path))
        if g is None:
            ev = self._event("continuation", line, ts=None, host=None, program=self.default_program, pid=None,
                             ctx=ctx, line_no=line_no)
            if ev is None:
                return Unparsed(reason="no-envelope", file=ctx.path, line_no=line_no)
            if ev.rule.startswith("exim.rejectlog."):
                ts, qid, pid, host = ctx.extra.get(_STATE, (None, None, None, None))
                ev = replace(ev, ts=ts, queue_id=qid, pid=pid, host=host)
            return ev
        if g["ts3164_raw"] and not g["ts3339"]:
            ts = parse_3164(g["ts3164_raw"], ctx.years, self._tz)
        else:
            ts = parse_3339(g["ts3339"], self._tz) if g["ts3339"] else None
        pid = cast_field("pid", g["pid"])
        program, host, daemon = g["program"], g["host"], g["_daemon"]
        if daemon is None:  # another program's syslog line: the dialect that claims it reads it
            return self._router.read_line(line, ctx, line_no)
        ev = self._event(daemon, g["body"], ts=ts, host=host, program=program, pid=pid, ctx=ctx, line_no=line_no)
        ctx.extra[_STATE] = (ts, ev.queue_id if ev else None, pid, host)
        if ev is None:
            return Unparsed(reason="no-rule", program=program, host=host, pid=pid, ts=ts, file=ctx.path,
                            line_no=line_no, detail=g["body"][:200])
        return ev

    # ---------------------------------------------------------------- frame engine

    def parse_frame(self, lines: Any, ctx: FileContext) -> Any:
        """DataFrame ``line_no, line`` → DataFrame with :func:`event_schema` columns (plus ``file``)."""
        import polars as pl

        if "_year" not in lines.columns:
            lines = assign_years(lines, ctx.years)
        c = pl.col
        env = self._envelope(lines)
        iso = pl.coalesce(pl.concat_str([c("ts"), c("tz").fill_null("")]), pl.concat_str([c("tsS"), c("tzS").fill_null("")]), c("tsT"))
        env = env.with_columns(_iso=iso).with_columns(
            _stamped=c("_iso").is_not_null() | c("ts3164").is_not_null(),
            ts3339=c("_iso"),
            ts3164=pl.when(c("_iso").is_null()).then(c("ts3164")),
            host=pl.coalesce(c("host"), c("host2")),
            program=pl.coalesce(c("program"), c("program2"), pl.lit(self.default_program)),
            pid=pl.coalesce(c("pid"), c("pid2"), c("xpid")),
            _blank=c("line").str.contains(BLANK),
        )
        env = frame_timestamps(env.drop("ts"), self.options.tz or local_zone(), ctx.years)
        env = env.with_columns(
            _daemon=pl.when(~c("_stamped")).then(pl.lit("continuation"))
            .when(c("program").str.contains(EXIM_PROGRAM)).then(pl.lit(log_kind(ctx.path))),
            body=pl.when(c("_stamped")).then(c("body")).otherwise(c("line")),
        )
        parts: list[Any] = []
        blank = env.filter(c("_blank"))
        if blank.height:
            parts.append(blank.select("line_no", kind=pl.lit("other"), rule=pl.lit("blank"), mta=pl.lit("")))
        env = env.filter(~c("_blank"))
        other = env.filter(c("_daemon").is_null())
        if other.height:  # other programs' syslog lines: the dialects that claim them read them
            mine = other.get_column("line_no").implode()
            parts.append(self._router.parse_frame(lines.filter(pl.col("line_no").is_in(mine)), ctx))
        env = env.filter(c("_daemon").is_not_null())
        anchors = env.filter(c("_stamped")).get_column("line_no")
        parts += self.rule_parts(env, ["line_no", "ts", "host", "program", "pid"])
        if not parts:
            return empty_frame()
        df = pl.concat(parts, how="diagonal_relaxed")
        df = conform(df, ctx.path)
        return self._attach(df, anchors, ctx)

    @staticmethod
    def _envelope(lines: Any) -> Any:
        """:data:`ENVELOPE`'s groups as columns. Exim's own log in its default form
        (``2026-11-21 00:00:00 body``: no zone, no pid, no syslog prefix) is cut by position — the
        guard's 20 ASCII characters make char and byte offsets agree — and only the other rows pay
        for the regex (3.4 s of 1M lines otherwise; ``tests/test_exim.py`` holds both equal)."""
        import polars as pl

        c = pl.col
        native = c("line").str.contains(NATIVE_GUARD) & ~c("line").str.contains(NATIVE_SYSLOG)
        fast = lines.filter(native)
        slow = lines.filter(~native) if fast.height < lines.height else lines.clear()
        groups = re.compile(ENVELOPE).groupindex
        out = []
        if fast.height:
            out.append(fast.with_columns(
                **{g: pl.lit(None, pl.String) for g in groups if g not in ("ts", "body")},
                ts=c("line").str.slice(0, 19), body=c("line").str.slice(20)))
        if slow.height:
            out.append(slow.with_columns(c("line").str.extract_groups(ENVELOPE).alias("_e")).unnest("_e"))
        if len(out) == 1:
            return out[0]
        return pl.concat(out, how="diagonal_relaxed").sort("line_no") if out else lines.with_columns(
            c("line").str.extract_groups(ENVELOPE).alias("_e")).unnest("_e")

    def _attach(self, df: Any, anchors: Any, ctx: FileContext) -> Any:
        """Reject-log dump rows take ts/queue_id/pid/host from the stamped line above (across chunks)."""
        import polars as pl

        c = pl.col
        df = df.with_columns(_anchor=c("line_no").is_in(anchors.implode()), _cont=c("rule").str.starts_with("exim.rejectlog."))
        prev = ctx.extra.get(_STATE, (None, None, None, None))
        if df.get_column("_cont").any():
            idx = df.select(pl.when(c("_anchor")).then(pl.int_range(pl.len(), dtype=pl.UInt32)).forward_fill()).to_series()
            cols = {}
            for f, pv in zip(_ATTACH, prev, strict=True):
                took = df.get_column(f).gather(idx)
                fill = pl.lit(pv, dtype=df.schema[f])
                cols[f] = pl.when(c("_cont")).then(pl.when(idx.is_null()).then(fill).otherwise(took)).otherwise(c(f))
            df = df.with_columns(**cols)
        last = df.filter(c("_anchor")).tail(1)
        if last.height:
            ctx.extra[_STATE] = tuple(last.get_column(f)[0] for f in _ATTACH)
        return df.drop("_anchor", "_cont")

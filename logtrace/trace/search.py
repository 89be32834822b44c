"""``follow``'s search: one full scan for the query, windows for what its lines reveal.

A day of logs is a gigabyte; one message is a few dozen lines. The search is built so that
the whole file is read once, for the query, and every ID revealed on the way is looked for
only where it must appear:

1. **Full scan for the query** (:meth:`Search.query`): every line naming it, in every file —
   every generation of a reused short ID. Plain files use GNU grep started before Python's
   heavy imports (:mod:`logtrace.input.grep`), else a byte-level scan; compressed files and
   stdin are decompressed once into a temporary file first.
2. **Windows for revealed IDs** (:meth:`Search.reveal`): an ID named by a line (``queued as
   X``, ``forwarded as X``, a notification, ``orig_id=``) is searched from a little before
   that line (:data:`SLACK`: the next hop's ``client=`` line comes before the reply naming
   it) forward until its lifecycle's end line (``removed``/``Completed``) or, when nothing
   of it turns up, until :data:`HORIZON` after the line that named it. In another file the
   start is found by bisecting on time, :data:`SKEW` earlier.
3. **Fallback to a full scan** whenever a window cannot be trusted: the ID's earliest line
   is not a start line and the window reached the file's start (a lifecycle that began
   earlier, in another file or before the log), or an ID that must be in these logs (a
   same-host link: notification, re-injection, ``orig_id=``; or a relay to a host whose
   lines are in the input) was not found at all. Correctness never depends on the window;
   only the speed does.
4. **The Message-ID** (the same on every hop, the weak link for replies that name no ID) is
   searched over the span of the lines found so far, widened by :data:`HORIZON`.

Whole-file containers (Exchange CSV with its header) are filtered with polars, one pass per
round; they are small, and they are not on this module's fast path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from logtrace.events import Event, EventKind as K, Unparsed
from logtrace.input.search import Hit, PlainLog
from logtrace.parsing.tags import Tag, has_tag
from logtrace.trace.lifecycles import END_KINDS, START_KINDS
from logtrace.trace.verdicts import is_final_delivery

#: bytes searched before the line that revealed an ID, and after it in the first forward step
SLACK = 1 << 20
#: a revealed ID with no line within this time of the line naming it is not in that file
HORIZON = timedelta(minutes=5)
#: an SMTP transaction's length: how far before a lifecycle's Message-ID header its accept line can be
ACCEPT_GAP = timedelta(minutes=10)
#: clocks of different hosts and syslog's arrival order: time slack when mapping a time to a file
SKEW = timedelta(minutes=15)

_LOOPBACK = ("127.", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class Found:
    """A parsed line and where it is."""

    rec: Event | Unparsed
    log: int  # index into Search.logs
    offset: int


@dataclass
class Search:
    """The plain (or spooled) logs of one ``follow`` and what was found in them."""

    logs: list[PlainLog]
    hosts: set[str] = field(default_factory=set)  # lower-case host names (and first labels) seen
    #: every line parsed so far, by the queue ID it belongs to
    by_id: dict[str, list[Found]] = field(default_factory=dict)
    full_scans: int = 0
    windows: int = 0

    # ------------------------------------------------------------------ round 1

    def query(self, needle: str, icase: bool) -> list[Found]:
        """Every line of every log naming ``needle`` (ASCII case-insensitive with ``icase``)."""
        raw = needle.encode()
        rx = re.compile(re.escape(raw), re.I) if icase else None
        out: list[Found] = []
        for i, log in enumerate(self.logs):
            out += self._parse(i, log, log.full_scan(raw, rx))
        self.full_scans += 1
        return out

    # ------------------------------------------------------------------ later rounds

    def reveal(self, needle: str, anchors: list[Found]) -> list[Found]:
        """Lines naming the queue ID ``needle``, revealed by ``anchors`` (the lines naming it)."""
        raw = needle.encode()
        out: list[Found] = []
        incomplete = False
        for i, log in enumerate(self.logs):
            start, a_off, a_ts = self._window_start(i, log, anchors)
            found, reached_start = self._forward(i, log, raw, needle, start, a_off, a_ts)
            own = self._own(needle, i)
            if own and all(has_tag(f.rec, Tag.MAILBOX) for f in own):
                out += found  # a mailbox server's delivery: no accept line before it, all of it is here
                continue
            if own and start > 0 and not any(f.rec.kind == K.ACCEPT for f in own):
                # its first line is before the window: back to its accept line (client=, uid=, <=);
                # a lifecycle that has none (a notification) starts at its Message-ID header
                heads = [f.rec.ts for f in own if f.rec.kind in START_KINDS and f.rec.ts is not None]
                stop = min(heads) - ACCEPT_GAP if heads else None
                back, reached_start = self._backward(i, log, raw, needle, min(start, min(f.offset for f in own)), stop)
                found = back + found
            own = self._own(needle, i)
            if own and reached_start and not any(f.rec.kind == K.ACCEPT for f in own) and (
                    len(self.logs) > 1 or not self._started(needle, i)):
                incomplete = True  # began before this file (or before the log): look everywhere
            out += found
        if incomplete or (not any(self._own(needle, i) for i in range(len(self.logs))) and self._must_exist(needle, anchors)):
            return self._full(raw, out)
        return out

    def _own(self, needle: str, i: int) -> list[Found]:
        """The lines of ``needle``'s own lifecycles found so far in log ``i``."""
        return [f for f in self.by_id.get(needle, ()) if f.log == i]

    def _started(self, needle: str, i: int) -> bool:
        return any(f.rec.kind in START_KINDS for f in self._own(needle, i))

    def reveal_message_id(self, needle: str, span: list[Found]) -> list[Found]:
        """Lines naming the Message-ID ``needle`` over the span of the lines found so far."""
        raw = needle.encode()
        out: list[Found] = []
        times = [f.rec.ts for f in span if f.rec.ts is not None]
        t_hi = max(times) + HORIZON if times else None
        for i, log in enumerate(self.logs):
            start, _, _ = self._window_start(i, log, span)
            pos, end = start, log.size
            if t_hi is not None:
                here = [f.offset for f in span if f.log == i]
                end = self._offset_after(log, max(here) if here else start, t_hi)
            self.windows += 1
            out += self._parse(i, log, log.scan_range(raw, pos, end))
        return out

    def session_lines(self, accepts: list[Found]) -> list[Found]:
        """Lines without a queue ID that belong to the message an SMTP session accepts next
        (:data:`Tag.SESSION_SCOPED`, e.g. an ACL reject of one RCPT): they name the sender, a
        little before the accept line (the correlator decides which accept they belong to)."""
        out: list[Found] = []
        for a in accepts:
            e = a.rec
            if not isinstance(e, Event) or not e.sender:
                continue
            log = self.logs[a.log]
            self.windows += 1
            got = self._parse(a.log, log, log.scan_range(e.sender.encode(), max(0, a.offset - SLACK), a.offset))
            out += [f for f in got if isinstance(f.rec, Event) and not f.rec.queue_id and has_tag(f.rec, Tag.SESSION_SCOPED)]
        return out

    # ------------------------------------------------------------------ windows

    def _window_start(self, i: int, log: PlainLog, anchors: list[Found]) -> tuple[int, int, datetime | None]:
        """(window start, anchor offset in this log or -1, earliest anchor time)."""
        here = [f.offset for f in anchors if f.log == i]
        times = [f.rec.ts for f in anchors if f.rec.ts is not None]
        a_ts = min(times) if times else None
        if here:
            return log.line_start(max(0, min(here) - SLACK)), max(here), a_ts
        if a_ts is None:
            return 0, -1, None
        return log.offset_before(a_ts - SKEW, SLACK), -1, a_ts

    def _forward(self, i: int, log: PlainLog, raw: bytes, needle: str, start: int, a_off: int,
                 a_ts: datetime | None) -> tuple[list[Found], bool]:
        """Search forward from ``start`` in doubling steps until the ID's end line (after the
        anchor), or :data:`HORIZON` past the anchor with no line of it, or the end of the file."""
        found: list[Found] = []
        pos, step = start, SLACK
        self.windows += 1
        while pos < log.size:
            end = min(log.size, max(pos + step, a_off + SLACK))
            found += self._parse(i, log, log.scan_range(raw, pos, end))
            pos, step = max(end, pos + 1), step * 2
            mine = [f for f in self._own(needle, i) if start <= f.offset < pos]
            if any(f.rec.kind in END_KINDS and f.offset >= a_off and (a_ts is None or f.rec.ts is None or f.rec.ts >= a_ts)
                   for f in mine):
                break
            if not mine and a_ts is not None and pos > a_off:
                ts = log.time_at(pos)
                if ts is not None and ts > a_ts + HORIZON:
                    break
            elif mine and pos > a_off and all(has_tag(f.rec, Tag.MAILBOX) for f in mine):
                # a mailbox server's delivery has no end line: it is over a little after its last line
                last = max((f.rec.ts for f in mine if f.rec.ts is not None), default=None)
                ts = log.time_at(pos) if last is not None else None
                if ts is not None and ts > last + HORIZON:
                    break
        return found, start == 0

    def _backward(self, i: int, log: PlainLog, raw: bytes, needle: str, start: int,
                  stop: datetime | None) -> tuple[list[Found], bool]:
        """Search backward from ``start`` in doubling steps until the ID's accept line, or (when
        ``stop`` is given) until the log is older than ``stop``; (lines, reached the file's start)."""
        found: list[Found] = []
        hi, step = start, SLACK
        while hi > 0:
            lo = log.line_start(max(0, hi - step))
            got = self._parse(i, log, log.scan_range(raw, lo, hi))
            found = got + found
            hi, step = lo, step * 2
            if any(f.rec.kind == K.ACCEPT for f in self._own(needle, i) if f.offset < start):
                return found, False
            if stop is not None and hi > 0:
                ts = log.time_at(hi)
                if ts is not None and ts < stop:
                    return found, False
        return found, True

    def _offset_after(self, log: PlainLog, pos: int, when: datetime) -> int:
        """The first offset past ``pos`` whose time is after ``when`` (doubling steps), or the end."""
        step = SLACK
        while pos < log.size:
            pos = min(log.size, pos + step)
            ts = log.time_at(pos)
            if ts is not None and ts > when:
                return pos
            step *= 2
        return log.size

    def _full(self, raw: bytes, have: list[Found]) -> list[Found]:
        self.full_scans += 1
        out = list(have)
        for i, log in enumerate(self.logs):
            out += self._parse(i, log, log.full_scan(raw))
        return out

    def _must_exist(self, needle: str, anchors: list[Found]) -> bool:
        """Whether ``needle`` names a lifecycle on a host whose lines are in these logs: a
        same-host link (notification, re-injection, ``orig_id=``; no relay or a loopback one),
        or a relay over the network to one of the input's hosts (not a delivery to a socket:
        the mailbox server behind ``private/dovecot-lmtp`` logs elsewhere) — by its full name, or by its first label when
        the relay's address is not public (``mx2.example.com[10.0.0.12]`` for host ``mx2``;
        ``mx1.partner.example[198.51.100.7]`` is somebody else's mx1)."""
        import ipaddress

        for f in anchors:
            e = f.rec
            if not isinstance(e, Event) or needle != e.next_queue_id:
                continue
            if is_final_delivery(e):  # a delivery into a mailbox server (LMTP): its own log may not be given
                continue
            relay = (e.relay_host or "").lower()
            if not relay or relay.startswith(_LOOPBACK):
                return True
            try:
                ip = ipaddress.ip_address(e.relay_ip) if e.relay_ip else None
            except ValueError:  # a socket (private/dovecot-lmtp): the mailbox server's log may not be given
                continue
            if relay == (e.host or "").lower() or relay in self.hosts:
                return True
            if ip is not None and not ip.is_global and relay.split(".", 1)[0] in self.hosts:
                return True
        return False

    def _parse(self, i: int, log: PlainLog, hits: Iterable[Hit]) -> list[Found]:
        out = []
        for h, rec in log.parse(hits):
            if rec.host:
                self.hosts.add(rec.host.lower())
                self.hosts.add(rec.host.lower().split(".", 1)[0])
            f = Found(rec, i, h.offset)
            if isinstance(rec, Event) and rec.queue_id:
                self.by_id.setdefault(rec.queue_id, []).append(f)
            out.append(f)
        return out



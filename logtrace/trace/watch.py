"""``watch``'s incremental correlation: lifecycles kept in memory, verdicts decided as they close.

Invariants:

* One verdict engine: when a lifecycle closes (an end event: ``removed``/``Completed``/admin
  delete) or after a line made a failure certain (a bounce, expiry or discard), the events of its
  *message* — the lifecycle plus every lifecycle still in memory that it links to or that
  links to it by a queue ID (relay, content filter, NDR, re-injection) — go through the same
  :class:`~logtrace.trace.correlator.Correlator` and decision table as ``follow``.
* Lifecycles are keyed by ``(host, queue_id)``; a closed one stays :attr:`Tracker.linger`
  of log time (so a later hop or the bounce notification still finds it), longer while the
  notification it sent is open; one that never closes is decided and dropped after
  :attr:`Tracker.ttl` of log time without a line. Memory is bounded by messages in flight.
* A failure line (bounce, expiry, discard) is decided when its lifecycle closes, or
  :attr:`Tracker.grace` seconds (wall clock) later if it does not (:meth:`Tracker.settle`):
  the notification line that follows it is then part of the story.
* One alert per message and failed recipient (:data:`ALERT_VERDICTS`, plus
  ``notification-failed`` when the bounce notification to the sender failed too), never for
  delivered or relayed mail. Its ``alert_id`` hashes (host, queue ID, recipient, verdict) of
  the hop where it failed, so it is the same whichever line decided it, and repeats are
  suppressed (:attr:`Tracker.sent`).
* Log time: "now" is the latest stamp seen on any input.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from logtrace.events import Event, EventKind as K
from logtrace.trace.correlator import Correlator
from logtrace.trace.lifecycles import END_KINDS, REUSE_GAP, START_KINDS
from logtrace.trace.verdicts import RETURNED, MessageStory, RecipientVerdict, Verdict

SCHEMA = "logtrace.alert/1"
NOTIFICATION_FAILED = "notification-failed"
#: a recipient with one of these verdicts is alerted: accepted, then certainly not delivered
ALERT_VERDICTS = frozenset({Verdict.BOUNCED, Verdict.EXPIRED, Verdict.DISCARDED, Verdict.QUARANTINED})
#: lines after which a failure may be certain before the lifecycle closes
DECIDING_KINDS = frozenset({K.BOUNCE, K.EXPIRE, K.DISCARD})
#: a recipient's final status (no longer deferred)
FINAL_KINDS = frozenset({K.DELIVER, K.BOUNCE, K.EXPIRE, K.DISCARD})
DEFERRED = "deferred"
DEFAULT_TTL = timedelta(days=1)
#: log time between looks for open lifecycles past their TTL
TTL_SCAN = timedelta(minutes=10)
DEFAULT_LINGER = REUSE_GAP  # a later hop, a re-injection or the notification is seconds away
#: seconds (wall clock) a lifecycle with a failure line may wait for its end line (and the
#: notification line before it) before it is decided anyway
DEFAULT_GRACE = 2.0
#: most lifecycles gathered into one message (a runaway chain must not stall the watcher)
MAX_COMPONENT = 64


def alert_id(host: str | None, queue_id: str | None, recipient: str | None, verdict: str) -> str:
    """The stable identity of an alert: the same failure always gets the same ID."""
    key = "\x1f".join((host or "", queue_id or "", (recipient or "").lower(), verdict))
    return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass
class Bucket:
    """One lifecycle in memory: its events, its last log time, when it closed."""

    host: str
    queue_id: str
    events: list[Event] = field(default_factory=list)
    last: datetime | None = None
    closed: datetime | None = None
    failing: bool = False  #: a bounce, expiry or discard line is among the events
    gone: bool = False  #: forgotten (dropped from memory)
    #: recipient → its latest deferral, while no final status came (``--alert-deferred-after``)
    deferred: dict[str, Event] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return self.host, self.queue_id


class Tracker:
    """Feed events in log order (:meth:`feed`); get alert dicts back as failures become certain."""

    def __init__(self, *, ttl: timedelta = DEFAULT_TTL, linger: timedelta = DEFAULT_LINGER,
                 sent: Iterable[str] = (), grace: float = DEFAULT_GRACE, wall: Any = time.monotonic,
                 deferred_after: timedelta | None = None) -> None:
        self.grace = grace
        self.deferred_after = deferred_after
        self.ttl, self.linger = ttl, linger
        self.sent: dict[str, str | None] = dict.fromkeys(sent)  # alert_id → log time it was emitted
        self.now: datetime | None = None
        self.open: dict[tuple[str, str], Bucket] = {}  # the current generation of each (host, queue ID)
        self._retired: dict[int, Bucket] = {}  # closed earlier generations still lingering
        self._closing: deque[Bucket] = deque()  # closed buckets, in the order they closed (purged from the left)
        self._deferring: dict[int, Bucket] = {}  # open buckets with a recipient still deferred (--alert-deferred-after)
        self._last_ttl_scan: datetime | None = None
        self._by_qid: dict[str, list[Bucket]] = defaultdict(list)
        self._named: dict[str, list[Bucket]] = defaultdict(list)  # queue ID → buckets whose lines name it
        self._last_purge: datetime | None = None
        self._due: dict[int, tuple[Bucket, float]] = {}
        self.decided = 0
        self.wall = wall
        #: fill each alert's ``class`` as it is made; a caller that makes many at once sets it False
        #: and calls :func:`fill_classes` on the batch (one polars call)
        self.classify = True

    # ------------------------------------------------------------------ input

    def feed(self, ev: Event) -> list[dict[str, Any]]:
        """Take one event; the alerts it makes certain (usually none)."""
        if ev.ts is not None and (self.now is None or ev.ts > self.now):
            self.now = ev.ts
        out: list[dict[str, Any]] = []
        if ev.queue_id:
            b = self._bucket(ev)
            b.events.append(ev)
            b.last = ev.ts or b.last
            if ev.kind in DECIDING_KINDS:
                b.failing = True
            if ev.next_queue_id and b not in self._named[ev.next_queue_id]:
                self._named[ev.next_queue_id].append(b)
            if self.deferred_after is not None and ev.recipient:
                if ev.kind == K.DEFER:
                    b.deferred[ev.recipient] = ev
                    self._deferring[id(b)] = b
                    out += self._deferred_long(b)
                elif ev.kind in FINAL_KINDS:
                    b.deferred.pop(ev.recipient, None)
            if ev.kind in END_KINDS:
                if b.closed is None:
                    self._closing.append(b)
                b.closed = ev.ts or self.now
                out += self.decide(b)
            elif ev.kind in DECIDING_KINDS:
                self._due.setdefault(id(b), (b, self.wall()))  # decided by settle() unless it closes first
        if self.now is not None and (self._last_purge is None or self.now - self._last_purge >= timedelta(minutes=1)):
            out += self.purge()
        return out

    def _bucket(self, ev: Event) -> Bucket:
        key = (ev.host or "", ev.queue_id or "")
        b = self.open.get(key)
        if b is not None and b.closed is not None and (
                ev.kind in START_KINDS or (ev.ts and b.closed and ev.ts - b.closed > REUSE_GAP)):
            self._retired[id(b)] = b  # a reused short queue ID: a new generation
            b = None
        if b is None:
            b = Bucket(*key)
            self.open[key] = b
            self._by_qid[b.queue_id].append(b)
        return b

    # ------------------------------------------------------------------ deciding

    def component(self, start: Bucket) -> list[Bucket]:
        """``start`` and the buckets in memory linked to it by queue IDs, either way."""
        seen = {id(start): start}
        todo = [start]
        while todo and len(seen) < MAX_COMPONENT:
            b = todo.pop()
            nxt = [c for e in b.events if e.next_queue_id for c in self._by_qid.get(e.next_queue_id, [])]
            nxt += self._named.get(b.queue_id, [])
            for c in nxt:
                if id(c) not in seen:
                    seen[id(c)] = c
                    todo.append(c)
        return list(seen.values())

    def settle(self, force: bool = False) -> list[dict[str, Any]]:
        """Decide the lifecycles whose failure line is :attr:`grace` seconds old (any, with
        ``force``: at the end) and that did not close."""
        now = self.wall()
        due = [b for b, since in self._due.values() if force or now - since >= self.grace]
        return [a for b in due for a in self.decide(b)]

    def decide(self, b: Bucket) -> list[dict[str, Any]]:
        """The new alerts of the message ``b`` belongs to, decided by the correlator."""
        self._due.pop(id(b), None)
        self.decided += 1
        comp = self.component(b)
        if not any(c.failing for c in comp):
            return []  # every alert verdict needs a bounce, expiry or discard line in the message's lifecycles
        events = [e for c in comp for e in c.events]
        corr = Correlator(events, log_end=self.now)
        mine = [lc for lc in corr.lifecycles if lc.queue_id == b.queue_id and (lc.host or "") == b.host]
        if not mine:  # a log without host names (Exim's main log): the correlator names the host from the hop before
            mine = [lc for lc in corr.lifecycles if lc.queue_id == b.queue_id]
        if not mine:
            return []
        root = corr.root_of(mine[-1])
        for _ in range(MAX_COMPONENT):  # a bounce notification is told with the message it is about
            src = next((l.src for l in corr.in_links.get(id(root), []) if l.how == "ndr"), None)
            if src is None:
                break
            root = corr.root_of(src)
        story = corr.story(root, root.queue_id)
        ndr_only = corr.is_ndr(root)  # the original is no longer in memory: the notification's own failure
        out = []
        for r in story.recipients:
            if r.verdict in ALERT_VERDICTS:
                out.append((r, NOTIFICATION_FAILED if ndr_only else str(r.verdict)))
            if r.verdict in RETURNED and r.ndr is not None and r.ndr.get("delivered") is False:
                out.append((r, NOTIFICATION_FAILED))
        alerts = []
        for r, verdict in out:
            a = make_alert(story, r, verdict, self.now, classify=self.classify)
            if a["alert_id"] in self.sent:
                continue
            self.sent[a["alert_id"]] = a["ts"]
            alerts.append(a)
        return alerts

    def purge(self) -> list[dict[str, Any]]:
        """Drop what log time has left behind: closed lifecycles after :attr:`linger` (longer
        while their notification is open), open ones after :attr:`ttl` without a line (decided first)."""
        self._last_purge = now = self.now
        if now is None:
            return []
        out: list[dict[str, Any]] = []
        waiting = []
        while self._closing and (self._closing[0].closed is None or now - self._closing[0].closed > self.linger):
            b = self._closing.popleft()
            if b.gone:
                continue
            if self._ndr_open(b):
                waiting.append(b)  # looked at again later
            else:
                self._forget(b)
        self._closing.extend(waiting)
        if self._last_ttl_scan is None or now - self._last_ttl_scan >= TTL_SCAN:
            self._last_ttl_scan = now
            for b in [b for b in self.open.values() if b.closed is None and b.last is not None and now - b.last > self.ttl]:
                out += self.decide(b)
                self._forget(b)
        for k, b in list(self._deferring.items()):
            if b.gone or b.closed is not None or not b.deferred:
                del self._deferring[k]
            else:
                out += self._deferred_long(b)
        return out

    def _deferred_long(self, b: Bucket) -> list[dict[str, Any]]:
        """``--alert-deferred-after``: one alert per recipient still deferred that long after its
        message was first seen (log time)."""
        start = next((e.ts for e in b.events if e.ts is not None), None)
        if self.deferred_after is None or start is None or self.now is None or self.now - start < self.deferred_after:
            return []
        out = []
        for rcpt, ev in list(b.deferred.items()):
            a = deferred_alert(b, ev, start, self.now, classify=self.classify)
            del b.deferred[rcpt]
            if a["alert_id"] not in self.sent:
                self.sent[a["alert_id"]] = a["ts"]
                out.append(a)
        return out

    def _ndr_open(self, b: Bucket) -> bool:
        for e in b.events:
            if e.kind == K.NOTIFY and e.next_queue_id:
                nb = self.open.get((b.host, e.next_queue_id))
                if nb is not None and nb.closed is None and (self.now is None or nb.last is None or self.now - nb.last <= self.ttl):
                    return True
        return False

    def _forget(self, b: Bucket) -> None:
        self._due.pop(id(b), None)
        b.gone = True
        if self.open.get(b.key) is b:
            del self.open[b.key]
        self._retired.pop(id(b), None)
        self._deferring.pop(id(b), None)
        for table, k in [(self._by_qid, b.queue_id)] + [(self._named, e.next_queue_id) for e in b.events if e.next_queue_id]:
            lst = table.get(k)
            if lst is not None and b in lst:
                lst.remove(b)
                if not lst:
                    del table[k]

    @property
    def in_memory(self) -> int:
        return len(self.open) + len(self._retired)


# ---------------------------------------------------------------------- alerts


def make_alert(story: MessageStory, r: RecipientVerdict, verdict: str, now: datetime | None,
               classify: bool = True) -> dict[str, Any]:
    """The documented alert object (``"schema": "logtrace.alert/1"``)."""
    from logtrace.trace.follow import story_to_json

    origin = story.origin
    doc = story_to_json(story)
    chain = [{k: c.get(k) for k in ("host", "mta", "queue_id", "link", "from_queue_id") if c.get(k) is not None}
             for c in doc["chain"]]
    ndr = r.ndr if verdict == NOTIFICATION_FAILED else None
    when = r.when or (story.events[-1].ts if story.events else None) or now
    return {
        "schema": SCHEMA,
        "alert_id": alert_id(logged_host(story, r), r.queue_id, r.recipient, verdict),
        "ts": when.isoformat() if when else None,
        "verdict": verdict,
        "host": r.host,
        "queue_id": r.queue_id,
        "origin": {"host": origin.host, "queue_id": origin.queue_id, "accepted": origin.start.isoformat() if origin.start else None},
        "sender": origin.sender,
        "recipient": r.recipient,
        "message_id": origin.message_id or None,
        "dsn": r.dsn,
        "reason": r.reply,
        "class": reason_class(r.dsn, r.reply) if classify else None,
        "summary": r.summary,
        "relay": r.relay,
        "chain": chain,
        "ndr": ndr if ndr is not None else r.ndr,
        "evidence": r.evidence,
    }


def logged_host(story: MessageStory, r: RecipientVerdict) -> str | None:
    """The host the failing hop's own lines name (``None`` in Exim's main log): the same whether or not
    the hop before it, from which the correlator may name its host, was read yet."""
    return next((e.host for e in story.events if e.queue_id == r.queue_id), r.host)


def deferred_alert(b: Bucket, ev: Event, start: datetime, now: datetime, classify: bool = True) -> dict[str, Any]:
    """The ``deferred`` alert (``--alert-deferred-after``): a recipient still deferred ``now - start`` after its
    message was first seen. Its failure is not certain: no ``chain`` beyond this hop, the latest deferral's reason."""
    sender = next((e.sender for e in b.events if e.sender is not None), None)
    msgid = next((e.message_id for e in b.events if e.message_id), None)
    return {
        "schema": SCHEMA,
        "alert_id": alert_id(b.host, b.queue_id, ev.recipient, DEFERRED),
        "ts": (ev.ts or now).isoformat(),
        "verdict": DEFERRED,
        "host": b.host or None,
        "queue_id": b.queue_id,
        "origin": {"host": b.host or None, "queue_id": b.queue_id, "accepted": start.isoformat()},
        "sender": sender,
        "recipient": ev.recipient,
        "message_id": msgid,
        "dsn": ev.dsn,
        "reason": ev.reply_text,
        "class": reason_class(ev.dsn, ev.reply_text) if classify else None,
        "summary": f"still deferred after {int((now - start).total_seconds())}s: {ev.reply_text or ev.dsn or 'no reason logged'}",
        "relay": ev.relay_host,
        "deferred_for_s": int((now - start).total_seconds()),
        "chain": [{"host": b.host, "queue_id": b.queue_id}] if b.host else [{"queue_id": b.queue_id}],
        "ndr": None,
        "evidence": [ev.where],
    }


def fill_classes(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set the ``class`` of the alerts that have none, in one polars call (:func:`reason_class` for each)."""
    todo = [a for a in alerts if a.get("class") is None and "dsn" in a]
    if len(todo) == 1:
        todo[0]["class"] = reason_class(todo[0]["dsn"], todo[0]["reason"])
    elif todo:
        import polars as pl

        from logtrace.reports.reasons import classify_reason

        df = pl.DataFrame({"dsn": [a["dsn"] for a in todo], "reply": [a["reason"] for a in todo]},
                          schema={"dsn": pl.String, "reply": pl.String})
        for a, c in zip(todo, df.select(classify_reason(pl.col("dsn"), pl.col("reply")).alias("c")).get_column("c")):
            a["class"] = str(c)
    return alerts


@functools.lru_cache(maxsize=4096)
def reason_class(dsn: str | None, reply: str | None) -> str:
    """The reason class (``mailbox_unknown``, ``policy_spam`` …) of one failure, as ``summary`` and ``bounces`` classify it."""
    import polars as pl

    from logtrace.reports.reasons import classify_reason

    df = pl.DataFrame({"dsn": [dsn], "reply": [reply]}, schema={"dsn": pl.String, "reply": pl.String})
    return str(df.select(classify_reason(pl.col("dsn"), pl.col("reply")).alias("c")).item())

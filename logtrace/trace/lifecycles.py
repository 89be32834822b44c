"""Lifecycles: one message's stay in one queue, grouped from events.

Invariants:

* A **lifecycle** is keyed by ``(host, instance, queue_id, generation)``. ``instance`` names
  the queue on its host: for a dialect whose rules carry :data:`~logtrace.parsing.tags.Tag.INSTANCE_FROM_PROGRAM`
  it is the program name's first path element (``postfix-out`` in ``postfix-out/smtp``), so
  the queues of a multi-instance MTA never mix; otherwise it is the event's ``mta`` (one
  queue per host).
* Short queue IDs are reused: a generation ends at an end event (``removed``/``Completed``/
  admin delete), and a later *start* event (client=, uid=, ``<=``, a Message-ID header) or
  any event more than :data:`REUSE_GAP` later opens a new generation — "later" by the clock
  and, within one file, by line order too, so reordered lines and a clock stepped back keep
  one message in one generation.
* Grouping never depends on the order events arrive in.
* Host names: a short name and an FQDN whose first label it is (``EX1``,
  ``EX1.corp.example.com``, case-insensitive) are one host, named by the FQDN — unless two
  different FQDNs with that first label occur in the input; then they stay apart
  (:func:`canonical_hosts` returns those short names so the story can say so).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from logtrace.events import Event, EventKind as K
from logtrace.parsing.tags import Tag, has_tag

REUSE_GAP = timedelta(minutes=10)
START_KINDS = frozenset({K.ACCEPT, K.HEADER})  # client=/uid=/Exim <=, and cleanup's message-id (a forwarded or bounce message has no client= line)
END_KINDS = frozenset({K.REMOVE, K.DELETE})
SENDER_KINDS = frozenset({K.QUEUED, K.ACCEPT, K.EXPIRE})
#: where the sender is read when no accept/queue line names it: a held, discarded or
#: rejected message never reaches the queue manager, but these lines carry ``from=<…>``
SENDER_FALLBACK_KINDS = frozenset({K.HOLD, K.DISCARD, K.REJECT, K.FILTER, K.REDIRECT})


def canonical_hosts(hosts: Iterable[str | None]) -> tuple[dict[str, str], set[str]]:
    """(short name → the one FQDN whose first label it is, short names with several such
    FQDNs, lower case)."""
    names = {h for h in hosts if h}
    fqdns: dict[str, set[str]] = defaultdict(set)
    for h in names:
        if "." in h and not _is_ip(h):
            fqdns[h.split(".", 1)[0].lower()].add(h.lower())
    rename: dict[str, str] = {}
    ambiguous: set[str] = set()
    for h in sorted(names):
        if "." in h or ":" in h:
            continue
        full = fqdns.get(h.lower(), set())
        if len(full) == 1:
            rename[h] = min(x for x in names if x.lower() in full)
        elif len(full) > 1:
            ambiguous.add(h.lower())
    return rename, ambiguous


def _is_ip(h: str) -> bool:
    try:
        ipaddress.ip_address(h)
    except ValueError:
        return False
    return True


def instance_of(ev: Event) -> str:
    """The queue an ID belongs to on its host: the program's first path element when the
    rule says so (:data:`Tag.INSTANCE_FROM_PROGRAM`), else the MTA (one queue per host)."""
    p = ev.program or ""
    if "/" in p and has_tag(ev, Tag.INSTANCE_FROM_PROGRAM):
        return p.split("/", 1)[0]
    return ev.mta or p


@dataclass
class Lifecycle:
    host: str | None
    instance: str
    queue_id: str
    generation: int
    mta: str
    events: list[Event] = field(default_factory=list)

    @property
    def key(self) -> tuple[str | None, str, str, int]:
        return (self.host, self.instance, self.queue_id, self.generation)

    def first(self, *kinds: K) -> Event | None:
        return next((e for e in self.events if e.kind in kinds), None)

    def last(self, *kinds: K) -> Event | None:
        return next((e for e in reversed(self.events) if e.kind in kinds), None)

    @property
    def start(self) -> datetime | None:
        return next((e.ts for e in self.events if e.ts), None)

    @property
    def end(self) -> datetime | None:
        return next((e.ts for e in reversed(self.events) if e.ts), None)

    @property
    def sender(self) -> str | None:
        for kinds in (SENDER_KINDS, SENDER_FALLBACK_KINDS):
            for e in self.events:
                if e.sender is not None and e.kind in kinds:
                    return e.sender
        return None

    @property
    def message_id(self) -> str | None:
        for e in self.events:
            if e.message_id:
                return e.message_id
        return None

    @property
    def still_queued(self) -> bool:
        """No removal, admin delete or expiry is logged: in the queue when the log ends."""
        return self.last(K.REMOVE, K.DELETE, K.EXPIRE) is None


def attach_session_lines(events: list[Event]) -> list[Event]:
    """Lines without a queue ID whose rule says they belong to the message their SMTP session
    accepts next (:data:`Tag.SESSION_SCOPED`: an ACL reject of one RCPT) get that message's
    queue ID: the first accept at or after them (by time, then line) from the same host and
    pid, with the same client IP and sender, within :data:`REUSE_GAP`. Lines with no such
    accept are returned unchanged (an SMTP-time reject of the whole message)."""
    scoped = [i for i, e in enumerate(events) if not e.queue_id and e.pid is not None and has_tag(e, Tag.SESSION_SCOPED)]
    if not scoped:
        return events
    accepts: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for e in events:
        if e.queue_id and e.kind == K.ACCEPT and e.pid is not None and e.ts is not None:
            accepts[(e.host, e.pid, e.client_ip, (e.sender or "").lower())].append(e)
    for lst in accepts.values():
        lst.sort(key=lambda a: (a.ts, a.file or "", a.line_no or 0))
    out = list(events)
    for i in scoped:
        e = events[i]
        if e.ts is None:
            continue
        cands = accepts.get((e.host, e.pid, e.client_ip, (e.sender or "").lower()), [])
        a = next((a for a in cands if a.ts >= e.ts and a.ts - e.ts <= REUSE_GAP  # type: ignore[operator]
                  and (a.file != e.file or (a.line_no or 0) > (e.line_no or 0))), None)
        if a is not None:
            out[i] = dataclasses.replace(e, queue_id=a.queue_id)
    return out


#: how far apart an MTA's final delivery and the mailbox server's line for it may be logged
MAILBOX_GAP = timedelta(minutes=2)


def attach_mailbox_lines(events: list[Event]) -> list[Event]:
    """A mailbox server's delivery line without a session ID (Dovecot LDA: ``lda(bob)<pid><>``)
    belongs to the MTA's final delivery of the same message to the same user: same host, the
    recipient (or its local part), the message's Message-ID, logged within :data:`MAILBOX_GAP`.
    The pair gets a hop ID (``<queue ID>/<recipient>``) as the line's queue ID and the delivery's
    ``next_queue_id``, so the two are linked as a ``mailbox`` hop like an LMTP session.
    Unmatched lines are returned unchanged."""
    loose = [i for i, e in enumerate(events) if not e.queue_id and e.message_id and e.recipient and has_tag(e, Tag.MAILBOX)]
    if not loose:
        return events
    mids = {e.queue_id: e.message_id for e in events if e.queue_id and e.message_id}
    finals = [i for i, e in enumerate(events) if e.queue_id and e.kind == K.DELIVER and not e.next_queue_id
              and e.recipient and e.ts is not None and not has_tag(e, Tag.MAILBOX)]
    out = list(events)
    used: set[int] = set()
    for i in loose:
        e = events[i]
        user = e.recipient.lower()  # type: ignore[union-attr]
        best = None
        for j in finals:
            d = events[j]
            rcpt = (d.recipient or "").lower()
            if j in used or d.host != e.host or mids.get(d.queue_id) != e.message_id or user not in (rcpt, rcpt.split("@", 1)[0]):
                continue
            gap = abs(d.ts - e.ts) if e.ts is not None else None  # type: ignore[operator]
            if gap is not None and gap <= MAILBOX_GAP and (best is None or gap < best[0]):
                best = (gap, j)
        if best is not None:
            j = best[1]
            used.add(j)
            hop = f"{events[j].queue_id}/{user}"
            out[i] = dataclasses.replace(e, queue_id=hop, recipient=events[j].recipient)  # LDA may log the bare user name
            out[j] = dataclasses.replace(events[j], next_queue_id=hop)
    return out


def event_order(e: Event) -> tuple[Any, ...]:
    """Sort key for showing events: time, then file and line."""
    return (e.ts or datetime.min.replace(tzinfo=None).astimezone(), e.file or "", e.line_no or 0)


def build_lifecycles(events: Iterable[Event]) -> list[Lifecycle]:
    """Group events with a queue ID into lifecycles (see module docstring)."""
    events = list(events)
    rename, _ = canonical_hosts(e.host for e in events)
    by_id: dict[tuple[str | None, str, str], list[Event]] = defaultdict(list)
    joining: list[Event] = []
    for e in events:
        if e.queue_id:
            if has_tag(e, Tag.FILTER_VERDICT):  # a content filter's line about the MTA's message: join its lifecycle
                joining.append(e)
                continue
            by_id[(rename.get(e.host, e.host) if e.host else e.host, instance_of(e), e.queue_id)].append(e)
    keys_of: dict[str, list[tuple[str | None, str, str]]] = defaultdict(list)  # queue ID → its keys, in by_id's order
    for k in by_id:
        keys_of[k[2]].append(k)
    for e in joining:
        host = rename.get(e.host, e.host) if e.host else e.host
        # a filter's own log file may name no host (rspamd.log): it joins the lifecycle of its queue ID on any host
        key = next((k for k in keys_of[e.queue_id] if k[0] == host or host is None), (host, instance_of(e), e.queue_id))
        if key not in by_id:
            keys_of[key[2]].append(key)
        by_id[key].append(e)
    out: list[Lifecycle] = []
    for (host, inst, qid), evs in by_id.items():
        evs.sort(key=lambda e: (e.ts is None, e.ts or 0, e.file or "", e.line_no or 0))  # type: ignore[operator]
        gen = 0
        cur = Lifecycle(host, inst, qid, gen, evs[0].mta)
        end: Event | None = None
        for e in evs:
            if end is not None and happened_after(e, end) and (e.kind in START_KINDS or e.ts - end.ts > REUSE_GAP):  # type: ignore[operator]
                out.append(cur)
                gen += 1
                cur = Lifecycle(host, inst, qid, gen, e.mta)
                end = None
            cur.events.append(e)
            if e.kind in END_KINDS and e.ts is not None:
                end = e
        out.append(cur)
    return out


def happened_after(e: Event, end: Event) -> bool:
    """``e`` happened after ``end`` by the clock AND, within one file, by line order: a
    reordered line (syslog from several hosts) or a clock stepped back must not split one
    message into two generations."""
    if e.ts is None or end.ts is None or e.ts < end.ts:
        return False
    return e.file != end.file or (e.line_no or 0) > (end.line_no or 0)

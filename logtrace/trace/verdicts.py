"""Per-recipient verdicts: the enums and the one table that decides them.

Invariants:

* A verdict is decided on one lifecycle from :class:`Facts` (the recipient's delivery
  attempts plus the lifecycle's queue events) by the first matching row of
  :data:`DECISIONS`. The row also says which lines the verdict cites as evidence, which
  fields it copies from the deciding event, and whether the sender's notification (NDR)
  matters. Following a hand-off to the next hop is the correlator's job, not this table's.
* The recipient's last attempt that was not a deferral wins over anything the lifecycle
  shows; only when every attempt was deferred (or none is logged) do queue events decide.
* Nothing here names an MTA: a final delivery is known by rule tags
  (:data:`~logtrace.parsing.tags.Tag.FINAL`, :data:`~logtrace.parsing.tags.Tag.FINAL_IF_NO_RELAY`)
  or by generic signs (a local delivery agent, a unix-socket relay).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from logtrace.events import Event, EventKind as K
from logtrace.parsing.tags import Tag, has_tag
from logtrace.trace.lifecycles import Lifecycle


class Verdict(StrEnum):
    """What became of one recipient (the ``verdict`` of ``follow --json``)."""

    DELIVERED = "delivered"
    RELAYED = "relayed"
    BOUNCED = "bounced"
    EXPIRED = "expired"
    DEFERRED = "deferred"
    REJECTED = "rejected"
    DELETED = "deleted"
    HELD = "held"
    DISCARDED = "discarded"  # by a content filter, a milter or a discard action: accepted, never delivered
    DISCARDED_BY_SIEVE = "discarded-by-sieve"  # the recipient's own Sieve rule dropped it at the mailbox
    QUARANTINED = "quarantined"  # a content filter dropped it into its quarantine (amavis: ``quarantine: ID``)
    UNKNOWN = "unknown"


#: the message reached the recipient or left for the next hop
REACHED = frozenset({Verdict.DELIVERED, Verdict.RELAYED})
NOT_DELIVERED = frozenset(set(Verdict) - REACHED)
#: returned to the sender: a notification (NDR) should follow
RETURNED = frozenset({Verdict.BOUNCED, Verdict.EXPIRED})


class Case(StrEnum):
    """Why a verdict was reached: the row of :data:`DECISIONS` (and its sentence)."""

    REDIRECTED_BY_SIEVE = "redirected-by-sieve"  # the recipient's Sieve filter sent it on to another address
    FORWARDED = "forwarded"  # a local delivery re-injected it as a new message
    RELAYED_WITH_ID = "relayed-with-id"  # handed to the next hop, whose reply names its ID
    DELIVERED_TO_JUNK = "delivered-to-junk"  # saved into a junk folder (:func:`junk_folders`): delivered, unseen
    DELIVERED = "delivered"  # into a mailbox or a program
    RELAYED_NO_ID = "relayed-no-id"  # handed on; the reply names no ID
    BOUNCED = "bounced"
    EXPIRED = "expired"  # the attempt itself says so (retry time exceeded)
    QUARANTINED = "quarantined"  # the content filter answered 2xx and its own line names a quarantine
    BLOCKED_BY_FILTER = "blocked-by-filter"  # 2xx for the transaction, but the filter's line blocks this recipient
    DISCARDED_BY_FILTER = "discarded-by-filter"  # the content filter answered 2xx and dropped it
    DISCARDED_BY_SIEVE = "discarded-by-sieve"  # a user's filter at the mailbox (Tag.USER_FILTER)
    DISCARDED = "discarded"
    REJECTED = "rejected"  # at SMTP time: the client was told
    EXPIRED_IN_QUEUE = "expired-in-queue"  # deferred until the queue gave up
    HELD_THEN_DELETED = "held-then-deleted"  # held (header/body checks, milter, postsuper -h), then deleted
    DELETED = "deleted"  # by an administrator
    HELD = "held"
    DISCARDED_IN_QUEUE = "discarded-in-queue"
    REJECTED_AFTER_QUEUE = "rejected-after-queue"  # by cleanup or a milter, still in the SMTP session
    REQUEUED = "requeued"  # re-injected by an administrator under a new ID (postsuper -r)
    STILL_QUEUED = "still-queued"  # only deferrals, and the log ends
    NO_ATTEMPT = "no-attempt"


#: a filter acted: the filter's own verdict line (when given) is evidence after the MTA's line
FILTER_CITED = frozenset({Case.QUARANTINED, Case.BLOCKED_BY_FILTER, Case.DISCARDED_BY_FILTER, Case.DISCARDED, Case.REJECTED, Case.DISCARDED_IN_QUEUE,
                          Case.REJECTED_AFTER_QUEUE})
#: the deciding event handed the message on (the correlator may follow it to the next hop)
HANDED_ON = frozenset({Case.REDIRECTED_BY_SIEVE, Case.FORWARDED, Case.RELAYED_WITH_ID, Case.DELIVERED_TO_JUNK, Case.DELIVERED,
                       Case.RELAYED_NO_ID})
#: the message lives on in a later lifecycle on the same queue (the correlator follows the
#: ``requeued`` link; without it the row's own verdict stands)
REINJECTED = frozenset({Case.REQUEUED})


class Cite(StrEnum):
    """Which lines a verdict names as evidence, in this order."""

    ATTEMPT = "attempt"  # the deciding attempt
    LAST_DEFER_AND_ATTEMPT = "last-defer+attempt"
    DEFERS = "defers"  # the first and the last deferral
    DEFERS_AND_EVENT = "defers+event"  # … then the deciding queue event
    DEFERS_AND_LAST_LINE = "defers+last-line"  # … then the lifecycle's last line
    HOLD_AND_EVENT = "hold+event"  # the hold line, then the deciding queue event


#: recipient events: the attempts a verdict is decided from
ATTEMPT_KINDS = (K.DELIVER, K.DEFER, K.BOUNCE, K.EXPIRE, K.DISCARD, K.REJECT)
#: events that name a recipient of the message: attempts, and a hold line (``from=<…> to=<…>``)
RECIPIENT_KINDS = (*ATTEMPT_KINDS, K.HOLD)
FINAL_AGENTS = ("local", "virtual", "pipe", "lmtp")


def is_final_delivery(e: Event) -> bool:
    """Into a mailbox (or a program), not handed to another MTA: a local delivery agent
    (local/virtual/pipe/LMTP daemon), a unix-socket relay, or a rule tagged
    :data:`Tag.FINAL` (or :data:`Tag.FINAL_IF_NO_RELAY` and no relay named)."""
    daemon = (e.program or "").rsplit("/", 1)[-1]
    if daemon in FINAL_AGENTS or (e.relay_host or "").lower() in ("local", "virtual"):
        return True
    if (e.relay_ip or "").startswith(("private/", "public/", "unix:", "/")):
        return True
    if has_tag(e, Tag.FINAL):
        return True
    return has_tag(e, Tag.FINAL_IF_NO_RELAY) and not e.relay_ip and not e.relay_host


#: folder names that mean "delivered, but the user will not see it in the inbox" (case-insensitive;
#: ``bounces --junk-folders`` replaces them for one run, :func:`junk_folders`)
JUNK_FOLDERS: frozenset[str] = frozenset({"junk", "spam", "junk e-mail", "inbox.junk", "inbox.spam"})
_junk: frozenset[str] = JUNK_FOLDERS


@contextmanager
def junk_folders(names: Iterable[str] | None) -> Iterator[None]:
    """Verdicts decided inside this block call the folders ``names`` (case-insensitive) junk."""
    global _junk
    prev = _junk
    _junk = JUNK_FOLDERS if names is None else frozenset(n.strip().lower() for n in names if n.strip())
    try:
        yield
    finally:
        _junk = prev


def current_junk_folders() -> frozenset[str]:
    """The junk folder names in force (lower case): :data:`JUNK_FOLDERS` or :func:`junk_folders`' names."""
    return _junk


def is_junk(folder: str | None) -> bool:
    """A junk folder: its name, or its last level (``Archive/Spam``, ``INBOX.Junk``), is one of the junk names."""
    f = (folder or "").strip().lower()
    return bool(f) and (f in _junk or f.rsplit("/", 1)[-1] in _junk or f.rsplit(".", 1)[-1] in _junk)


def filter_names(f: Event, rcpt: str) -> bool:
    """Does a content filter's verdict line speak for ``rcpt``? (Its ``recipient`` lists every
    recipient of the transaction, comma-separated; none named: it speaks for all.)"""
    names = [x.strip().lower() for x in (f.recipient or "").split(",") if x.strip()]
    return not names or rcpt.lower() in names


@dataclass(frozen=True)
class Facts:
    """What one lifecycle shows about one recipient."""

    attempts: list[Event]  # the recipient's attempts, oldest first
    defers: list[Event]
    final: Event | None  # the last attempt that was not a deferral
    expired: Event | None  # queue events (last of each)
    deleted: Event | None
    held: Event | None
    released: Event | None
    discarded: Event | None
    rejected_after_queue: Event | None  # a reject naming no recipient (cleanup, milter)
    requeued: Event | None = None  # postsuper -r
    filter_line: Event | None = None  # the content filter's own verdict line for this recipient (Tag.FILTER_VERDICT)

    @property
    def quarantine(self) -> Event | None:
        """The filter's verdict line when it names a quarantine (amavis ``quarantine: ID``)."""
        e = self.filter_line
        return e if e is not None and e.reply_text and not e.reply_text.startswith("[") else None

    @classmethod
    def gather(cls, lc: Lifecycle, attempts: list[Event]) -> Facts:
        rcpt = next((e.recipient for e in attempts if e.recipient), None)
        return cls(
            attempts=attempts,
            defers=[e for e in attempts if e.kind == K.DEFER],
            final=next((e for e in reversed(attempts) if e.kind != K.DEFER), None),
            expired=lc.last(K.EXPIRE),
            deleted=lc.last(K.DELETE),
            held=lc.last(K.HOLD),
            released=lc.last(K.RELEASE),
            discarded=lc.last(K.DISCARD),
            rejected_after_queue=next((e for e in lc.events if e.kind == K.REJECT and e.recipient is None), None),
            requeued=lc.last(K.REQUEUE),
            filter_line=next((e for e in reversed(lc.events) if e.kind == K.FILTER and has_tag(e, Tag.FILTER_VERDICT)
                              and (rcpt is None or filter_names(e, rcpt))), None),
        )


def _attempt(*kinds: K) -> Callable[[Facts], Event | None]:
    return lambda f: f.final if f.final is not None and f.final.kind in kinds else None


def _user_redirect(f: Facts) -> Event | None:
    e = _attempt(K.DELIVER)(f)
    return e if e is not None and has_tag(e, Tag.USER_FILTER) else None


def _forwarded(f: Facts) -> Event | None:
    e = _attempt(K.DELIVER)(f)
    return e if e is not None and e.next_queue_id and (e.reply_text or "").startswith("forwarded as") else None


def _relayed_with_id(f: Facts) -> Event | None:
    e = _attempt(K.DELIVER)(f)
    return e if e is not None and e.next_queue_id and not is_final_delivery(e) else None


def _delivered(f: Facts) -> Event | None:
    e = _attempt(K.DELIVER)(f)
    return e if e is not None and is_final_delivery(e) else None


def _delivered_to_junk(f: Facts) -> Event | None:
    e = _delivered(f)
    return e if e is not None and has_tag(e, Tag.MAILBOX) and is_junk(e.detail) else None


def _blocked(f: Facts) -> Event | None:
    """The filter took the transaction with 2xx but its own line blocks this recipient (amavis splits
    a mixed verdict per recipient and re-injects only the passed copies: ``…, but 1 DISCARD``)."""
    e = _attempt(K.DELIVER)(f)
    return e if e is not None and f.filter_line is not None and has_tag(f.filter_line, Tag.FILTER_DISCARD) else None


def _quarantined(f: Facts) -> Event | None:
    return (_filter_discard(f) or _blocked(f)) if f.quarantine is not None else None


def _filter_discard(f: Facts) -> Event | None:
    e = _attempt(K.DISCARD)(f)
    return e if e is not None and has_tag(e, Tag.FILTER_DISCARD) else None


def _user_discard(f: Facts) -> Event | None:
    e = _attempt(K.DISCARD)(f)
    return e if e is not None and has_tag(e, Tag.USER_FILTER) else None


def _still_held(f: Facts) -> bool:
    held, released = f.held, f.released
    return held is not None and (released is None or (released.ts or 0) < (held.ts or 0))  # type: ignore[operator]


def _held_then_deleted(f: Facts) -> Event | None:
    return f.deleted if f.deleted is not None and _still_held(f) else None


def _requeued(f: Facts) -> Event | None:
    e = f.requeued
    if e is None or (f.defers and (f.defers[-1].ts or 0) > (e.ts or 0)):  # type: ignore[operator]
        return None
    return e


def _held(f: Facts) -> Event | None:
    return f.held if _still_held(f) else None


@dataclass(frozen=True)
class Decision:
    case: Case
    verdict: Verdict
    test: Callable[[Facts], Event | None]  #: the deciding event, or None when the row does not apply
    cite: Cite
    copy: tuple[str, ...] = ()  #: verdict fields taken from the deciding event (see :data:`COPY`)
    ndr: bool = False  #: look up the notification to the sender


_FROM_DEFER = ("relay", "dsn", "reply", "when")  # what a deferral-only verdict takes from the last deferral

#: The one decision table; the first row whose test returns an event decides.
DECISIONS: tuple[Decision, ...] = (
    # the recipient's last attempt that was not a deferral
    Decision(Case.QUARANTINED, Verdict.QUARANTINED, _quarantined, Cite.ATTEMPT, ("relay", "dsn", "reply", "when", "delay_s")),
    Decision(Case.BLOCKED_BY_FILTER, Verdict.DISCARDED, _blocked, Cite.ATTEMPT, ("relay", "dsn", "reply", "when", "delay_s")),
    Decision(Case.REDIRECTED_BY_SIEVE, Verdict.RELAYED, _user_redirect, Cite.ATTEMPT, ("when",)),
    Decision(Case.FORWARDED, Verdict.RELAYED, _forwarded, Cite.ATTEMPT, ("relay", "dsn", "reply", "when", "delay_s", "next_queue_id")),
    Decision(Case.RELAYED_WITH_ID, Verdict.RELAYED, _relayed_with_id, Cite.ATTEMPT,
             ("relay", "dsn", "reply", "when", "delay_s", "next_queue_id")),
    Decision(Case.DELIVERED_TO_JUNK, Verdict.DELIVERED, _delivered_to_junk, Cite.ATTEMPT, ("relay", "dsn", "reply", "when", "delay_s")),
    Decision(Case.DELIVERED, Verdict.DELIVERED, _delivered, Cite.ATTEMPT, ("relay", "dsn", "reply", "when", "delay_s")),
    Decision(Case.RELAYED_NO_ID, Verdict.RELAYED, _attempt(K.DELIVER), Cite.ATTEMPT, ("relay", "dsn", "reply", "when", "delay_s")),
    Decision(Case.BOUNCED, Verdict.BOUNCED, _attempt(K.BOUNCE), Cite.LAST_DEFER_AND_ATTEMPT, ("relay", "dsn", "reply", "when"), ndr=True),
    Decision(Case.EXPIRED, Verdict.EXPIRED, _attempt(K.EXPIRE), Cite.LAST_DEFER_AND_ATTEMPT, ("relay", "dsn", "reply", "when"), ndr=True),
    Decision(Case.DISCARDED_BY_FILTER, Verdict.DISCARDED, _filter_discard, Cite.ATTEMPT, ("relay", "dsn", "reply", "when", "delay_s")),
    Decision(Case.DISCARDED_BY_SIEVE, Verdict.DISCARDED_BY_SIEVE, _user_discard, Cite.ATTEMPT, ("when",)),
    Decision(Case.DISCARDED, Verdict.DISCARDED, _attempt(K.DISCARD), Cite.ATTEMPT),
    Decision(Case.REJECTED, Verdict.REJECTED, _attempt(K.REJECT), Cite.ATTEMPT, ("dsn", "reply")),
    # only deferrals (or nothing) for this recipient: the queue decides
    Decision(Case.EXPIRED_IN_QUEUE, Verdict.EXPIRED, lambda f: f.expired, Cite.DEFERS_AND_EVENT, ndr=True),
    Decision(Case.HELD_THEN_DELETED, Verdict.DELETED, _held_then_deleted, Cite.HOLD_AND_EVENT, ("when",)),
    Decision(Case.DELETED, Verdict.DELETED, lambda f: f.deleted, Cite.DEFERS_AND_EVENT),
    Decision(Case.HELD, Verdict.HELD, _held, Cite.DEFERS_AND_EVENT),
    Decision(Case.DISCARDED_IN_QUEUE, Verdict.DISCARDED, lambda f: f.discarded, Cite.DEFERS_AND_EVENT),
    Decision(Case.REJECTED_AFTER_QUEUE, Verdict.REJECTED, lambda f: f.rejected_after_queue, Cite.DEFERS_AND_EVENT, ("dsn",)),
    Decision(Case.REQUEUED, Verdict.DEFERRED, _requeued, Cite.DEFERS_AND_EVENT),
    Decision(Case.STILL_QUEUED, Verdict.DEFERRED, lambda f: f.defers[-1] if f.defers else None, Cite.DEFERS),
)
NO_ATTEMPT = Decision(Case.NO_ATTEMPT, Verdict.UNKNOWN, lambda f: None, Cite.DEFERS_AND_LAST_LINE)


def decide(f: Facts) -> tuple[Decision, Event | None]:
    """The deciding row of :data:`DECISIONS` and its event (``NO_ATTEMPT`` and None if none applies)."""
    for d in DECISIONS:
        e = d.test(f)
        if e is not None:
            return d, e
    return NO_ATTEMPT, None


def relay_text(e: Event) -> str | None:
    """``host[ip]:port`` of the relay an event names (the ``relay`` of a verdict)."""
    if e.relay_host is None:
        return None
    s = e.relay_host
    if e.relay_ip and e.relay_ip != e.relay_host:
        s += f"[{e.relay_ip}]"
    if e.relay_port:
        s += f":{e.relay_port}"
    return s


#: verdict field ← deciding event (the ``copy`` column of :data:`DECISIONS`)
COPY: dict[str, Callable[[Event], Any]] = {
    "relay": relay_text,
    "dsn": lambda e: e.dsn,
    "reply": lambda e: e.reply_text,
    "when": lambda e: e.ts,
    "delay_s": lambda e: e.delay_s,
    "next_queue_id": lambda e: e.next_queue_id,
}


@dataclass
class RecipientVerdict:
    recipient: str
    verdict: str  # a Verdict
    host: str | None = None
    queue_id: str | None = None
    dsn: str | None = None
    reply: str | None = None
    relay: str | None = None
    next_queue_id: str | None = None
    when: datetime | None = None
    delay_s: float | None = None
    attempts: int = 0
    first_try: datetime | None = None
    last_try: datetime | None = None
    summary: str = ""
    evidence: list[str] = field(default_factory=list)
    ndr: dict[str, Any] | None = None
    case: Case | None = None  #: the row of :data:`DECISIONS` that decided (not in ``--json``)


@dataclass
class MessageStory:
    """One followed message: its chain of lifecycles, recipients' verdicts and notes."""

    query: str
    chain: list[tuple[Lifecycle, str, Lifecycle | None]]  # (lifecycle, how linked, from)
    recipients: list[RecipientVerdict]
    notes: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def origin(self) -> Lifecycle:
        return self.chain[0][0]

    @property
    def delivered(self) -> bool:
        return all(r.verdict in REACHED for r in self.recipients)


def record(v: RecipientVerdict, d: Decision, e: Event | None, f: Facts, lc: Lifecycle) -> None:
    """Fill ``v`` as row ``d`` says: the verdict, the evidence lines and the fields copied
    from the deciding event ``e`` (not the summary, not the NDR)."""
    v.verdict = d.verdict
    v.case = d.case
    if d.cite is Cite.ATTEMPT:
        v.evidence.append(e.where)  # type: ignore[union-attr]
    elif d.cite is Cite.HOLD_AND_EVENT:
        v.evidence += [f.held.where, e.where]  # type: ignore[union-attr]
    elif d.cite is Cite.LAST_DEFER_AND_ATTEMPT:
        v.evidence += [x.where for x in f.defers[-1:]] + [e.where]  # type: ignore[union-attr]
    else:
        if f.defers:
            v.evidence += [x.where for x in f.defers[:1]] + ([f.defers[-1].where] if len(f.defers) > 1 else [])
            _copy(v, f.defers[-1], _FROM_DEFER)
        if d.cite is Cite.DEFERS_AND_EVENT:
            v.evidence.append(e.where)  # type: ignore[union-attr]
        elif d.cite is Cite.DEFERS_AND_LAST_LINE and lc.events:
            v.evidence.append(lc.events[-1].where)
    if d.case in FILTER_CITED and f.filter_line is not None and f.filter_line.where not in v.evidence:
        v.evidence.append(f.filter_line.where)
    if e is not None:
        _copy(v, e, d.copy)


def _copy(v: RecipientVerdict, e: Event, names: tuple[str, ...]) -> None:
    for n in names:
        setattr(v, n, COPY[n](e))

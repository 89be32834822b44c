"""Message lifecycles, the links between them, and per-recipient verdicts.

Invariants:

* A **lifecycle** is keyed by ``(host, instance, queue_id, generation)``. ``instance`` is the
  syslog name before the daemon (``postfix-out`` in ``postfix-out/smtp``), so the queues of a
  multi-instance Postfix never mix. Short Postfix queue IDs are reused: a generation ends
  at ``removed``/``Completed``/admin delete, and a later *start* event (client=, uid=,
  Exim ``<=``) or any event more than :data:`REUSE_GAP` later opens a new generation —
  "later" by the clock and, within one file, by line order too, so reordered lines and a
  clock stepped back keep one message in one generation.
* **Links** never depend on line order: they are computed after all events are grouped.
  Each carries how it was established: ``relay`` (a reply names the next hop's ID),
  ``content-filter`` (same host re-injection, amavis style), ``forwarded`` (local
  ``forwarded as``), ``ndr`` (bounce/delay notification), ``message-id`` (same Message-ID
  header on another host: a weaker link, used only when no reply names the next ID).
* A **verdict** per original recipient follows the recipient through the chain and names
  its evidence lines (``file:line``).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from logtrace.events import Event, EventKind as K

REUSE_GAP = timedelta(minutes=10)
START_KINDS = frozenset({K.ACCEPT, K.HEADER})  # client=/uid=/Exim <=, and cleanup's message-id (a forwarded or bounce message has no client= line)
END_KINDS = frozenset({K.REMOVE, K.DELETE})
NOT_DELIVERED = frozenset({"bounced", "expired", "deferred", "rejected", "deleted", "held", "discarded", "unknown"})
FILTER_PORTS = frozenset({10024, 10025, 10026, 10027, 10028})
FINAL_AGENTS = ("local", "virtual", "pipe", "lmtp")


def instance_of(ev: Event) -> str:
    """The queue an ID belongs to on its host: the syslog name for Postfix (``postfix-out``
    in ``postfix-out/smtp``), else the MTA (Exim and Exchange have one queue per host)."""
    p = ev.program or ""
    if ev.mta == "postfix" and "/" in p:
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
        for e in self.events:
            if e.sender is not None and e.kind in (K.QUEUED, K.ACCEPT, K.EXPIRE):
                return e.sender
        return None

    @property
    def message_id(self) -> str | None:
        for e in self.events:
            if e.message_id:
                return e.message_id
        return None


@dataclass
class Link:
    src: Lifecycle
    dst: Lifecycle
    how: str  # relay | content-filter | forwarded | ndr | message-id
    via: Event | None = None


def _sort_key(e: Event) -> tuple[Any, ...]:
    return (e.ts or datetime.min.replace(tzinfo=None).astimezone(), e.file or "", e.line_no or 0)


def build_lifecycles(events: Iterable[Event]) -> list[Lifecycle]:
    """Group events with a queue ID into lifecycles (see module docstring)."""
    by_id: dict[tuple[str | None, str, str], list[Event]] = defaultdict(list)
    for e in events:
        if e.queue_id:
            by_id[(e.host, instance_of(e), e.queue_id)].append(e)
    out: list[Lifecycle] = []
    for (host, inst, qid), evs in by_id.items():
        evs.sort(key=lambda e: (e.ts is None, e.ts or 0, e.file or "", e.line_no or 0))  # type: ignore[operator]
        gen = 0
        cur = Lifecycle(host, inst, qid, gen, evs[0].mta)
        end: Event | None = None
        for e in evs:
            if end is not None and _after(e, end) and (e.kind in START_KINDS or e.ts - end.ts > REUSE_GAP):  # type: ignore[operator]
                out.append(cur)
                gen += 1
                cur = Lifecycle(host, inst, qid, gen, e.mta)
                end = None
            cur.events.append(e)
            if e.kind in END_KINDS and e.ts is not None:
                end = e
        out.append(cur)
    return out


def _after(e: Event, end: Event) -> bool:
    """``e`` happened after ``end`` by the clock AND, within one file, by line order: a
    reordered line (syslog from several hosts) or a clock stepped back must not split one
    message into two generations."""
    if e.ts is None or end.ts is None or e.ts < end.ts:
        return False
    return e.file != end.file or (e.line_no or 0) > (end.line_no or 0)


def _is_final_delivery(e: Event) -> bool:
    """Into a mailbox (or a program), not handed to another MTA: Postfix local/virtual/pipe/
    LMTP agents, a unix-socket relay, Exim deliveries without a remote host, Exchange DELIVER."""
    daemon = (e.program or "").rsplit("/", 1)[-1]
    if daemon in FINAL_AGENTS or (e.relay_host or "").lower() in ("local", "virtual"):
        return True
    if (e.relay_ip or "").startswith(("private/", "public/", "unix:", "/")):
        return True
    if e.mta == "exchange":
        return (e.status or "").upper() == "DELIVER"
    return e.mta == "exim" and not e.relay_ip and not e.relay_host


def _is_loopback(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        return ipaddress.ip_address(ip.split("%")[0]).is_loopback
    except ValueError:
        return False


def _closest(cands: list[Lifecycle], when: datetime | None) -> Lifecycle | None:
    if not cands:
        return None
    if when is None:
        return cands[0]

    def dist(lc: Lifecycle) -> float:
        s = lc.start
        if s is None:
            return 1e18
        d = (s - when).total_seconds()
        return abs(d) if d > -300 else 1e12 + abs(d)  # prefer lifecycles that start around/after the hand-off

    return min(cands, key=dist)


def build_links(lifecycles: Sequence[Lifecycle]) -> list[Link]:
    by_qid: dict[str, list[Lifecycle]] = defaultdict(list)
    for lc in lifecycles:
        by_qid[lc.queue_id].append(lc)
    links: list[Link] = []
    linked_pairs: set[tuple[int, int]] = set()
    for lc in lifecycles:
        for e in lc.events:
            if not e.next_queue_id or e.next_queue_id == lc.queue_id and e.kind != K.NOTIFY:
                continue
            cands = [c for c in by_qid.get(e.next_queue_id, []) if c is not lc]
            if e.next_host:
                named = [c for c in cands if c.host and c.host.lower().startswith(e.next_host.lower().split(".")[0])]
                cands = named or cands
            if e.kind == K.NOTIFY:
                cands = [c for c in cands if c.host == lc.host] or cands
                how = "ndr"
            elif e.status == "bounce-of":  # Exim: '<= <> R=orig' names the original of this bounce
                dst = _closest(cands, e.ts)
                if dst is not None and (id(dst), id(lc)) not in linked_pairs:
                    links.append(Link(dst, lc, "ndr", e))
                    linked_pairs.add((id(dst), id(lc)))
                continue
            elif (e.reply_text or "").startswith("forwarded as"):
                how = "forwarded"
            else:
                how = "relay"
            dst = _closest(cands, e.ts)
            if dst is None or (id(lc), id(dst)) in linked_pairs:
                continue
            if how == "relay" and dst.host == lc.host and (
                dst.instance == lc.instance or "from MTA(" in (e.reply_text or "") or (e.relay_port in FILTER_PORTS)
                or _is_loopback(e.relay_ip) and dst.instance == lc.instance
            ):
                how = "content-filter"
            links.append(Link(lc, dst, how, e))
            linked_pairs.add((id(lc), id(dst)))
    # weak links: same Message-ID on another host, only where nothing else connects them
    by_mid: dict[str, list[Lifecycle]] = defaultdict(list)
    for lc in lifecycles:
        mid = lc.message_id
        if mid:
            by_mid[mid].append(lc)
    connected = {id(l.src) for l in links} | {id(l.dst) for l in links}
    for group in by_mid.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda c: (c.start is None, c.start or 0))  # type: ignore[operator]
        for a, b in zip(group, group[1:]):
            if a.host != b.host and not (id(b) in connected and any(l.dst is b for l in links)):
                links.append(Link(a, b, "message-id", None))
    return links


# ------------------------------------------------------------------ verdicts

@dataclass
class RecipientVerdict:
    recipient: str
    verdict: str
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
        return all(r.verdict in ("delivered", "relayed") for r in self.recipients)


def _relay_str(e: Event) -> str | None:
    if e.relay_host is None:
        return None
    s = e.relay_host
    if e.relay_ip and e.relay_ip != e.relay_host:
        s += f"[{e.relay_ip}]"
    if e.relay_port:
        s += f":{e.relay_port}"
    return s


def _fmt_age(td: timedelta) -> str:
    s = int(td.total_seconds())
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


class Correlator:
    """Holds lifecycles and links for a set of events; answers ``follow`` questions."""

    def __init__(self, events: Sequence[Event], log_end: datetime | None = None) -> None:
        self.events = list(events)
        self.lifecycles = build_lifecycles(self.events)
        self.links = build_links(self.lifecycles)
        self.out_links: dict[int, list[Link]] = defaultdict(list)
        self.in_links: dict[int, list[Link]] = defaultdict(list)
        for l in self.links:
            self.out_links[id(l.src)].append(l)
            self.in_links[id(l.dst)].append(l)
        self.log_end = log_end or max((e.ts for e in self.events if e.ts), default=None)
        self._name_hostless()

    def _name_hostless(self) -> None:
        """Exim's mainlog has no host field: name such a hop after the relay that handed it
        over (``H=``/``relay=`` of the delivery whose reply named its ID)."""
        for lc in self.lifecycles:
            if lc.host is not None:
                continue
            for l in self.in_links.get(id(lc), []):
                if l.via is not None and (l.via.next_host or l.via.relay_host):
                    lc.host = l.via.next_host or l.via.relay_host
                    break
        for lc in self.lifecycles:  # NDRs and other hops of a named hostless log share its name
            if lc.host is None:
                for l in self.in_links.get(id(lc), []) + self.out_links.get(id(lc), []):
                    other = l.src if l.dst is lc else l.dst
                    if other.host is not None and other.mta == lc.mta and l.how in ("ndr", "content-filter"):
                        lc.host = other.host
                        break

    # -------------------------------------------------------------- lookup

    def find(self, queue_id: str) -> list[Lifecycle]:
        return [lc for lc in self.lifecycles if lc.queue_id == queue_id]

    def root_of(self, lc: Lifecycle) -> Lifecycle:
        seen = {id(lc)}
        while True:
            ins = [l for l in self.in_links.get(id(lc), []) if l.how != "ndr" and l.how != "message-id"]
            if not ins or id(ins[0].src) in seen:
                return lc
            lc = ins[0].src
            seen.add(id(lc))

    def chain_from(self, root: Lifecycle) -> list[tuple[Lifecycle, str, Lifecycle | None]]:
        out: list[tuple[Lifecycle, str, Lifecycle | None]] = [(root, "origin", None)]
        seen = {id(root)}
        i = 0
        while i < len(out):
            lc = out[i][0]
            for l in sorted(self.out_links.get(id(lc), []), key=lambda l: (l.dst.start is None, l.dst.start or 0)):  # type: ignore[operator]
                if id(l.dst) in seen:
                    continue
                seen.add(id(l.dst))
                out.append((l.dst, l.how, lc))
            i += 1
        return out

    # -------------------------------------------------------------- verdicts

    def story(self, lc: Lifecycle, query: str) -> MessageStory:
        root = self.root_of(lc)
        chain = self.chain_from(root)
        notes: list[str] = []
        if root.first(K.ACCEPT, K.QUEUED, K.HEADER) is None:
            notes.append("the log starts after this message was received (no client=/pickup/queue line)")
        recips = self._recipients_of(root)
        verdicts = [self._follow_recipient(root, r, set()) for r in recips]
        if not verdicts:
            verdicts = self._lifecycle_only_verdicts(root)
        events = sorted({id(e): e for c, _, _ in chain for e in c.events}.values(), key=_sort_key)
        return MessageStory(query=query, chain=chain, recipients=verdicts, notes=notes, events=events)

    def _recipients_of(self, lc: Lifecycle) -> list[str]:
        seen: dict[str, None] = {}
        for e in lc.events:
            if e.recipient and e.kind in (K.DELIVER, K.DEFER, K.BOUNCE, K.EXPIRE, K.DISCARD, K.REJECT):
                # the address the sender used (orig_to), unless it is an unqualified local name
                seen.setdefault(e.orig_recipient if e.orig_recipient and "@" in e.orig_recipient else e.recipient, None)
        return list(seen)

    def _recipient_events(self, lc: Lifecycle, rcpt: str) -> list[Event]:
        r = rcpt.lower()
        return [e for e in lc.events if e.kind in (K.DELIVER, K.DEFER, K.BOUNCE, K.EXPIRE, K.DISCARD, K.REJECT)
                and e.recipient is not None and (e.recipient.lower() == r or (e.orig_recipient or "").lower() == r)]

    def _ndr_info(self, lc: Lifecycle) -> tuple[dict[str, Any] | None, list[str]]:
        note = lc.last(K.NOTIFY)
        dst = next((l.dst for l in self.out_links.get(id(lc), []) if l.how == "ndr"), None)
        if note is None and dst is None:
            return None, []
        if note is not None:
            ev = [note.where]
            info: dict[str, Any] = {"queue_id": note.next_queue_id, "host": note.host, "delivered": None, "verdict": None}
        else:  # Exim: the bounce message names its original ('<= <> R=id')
            assert dst is not None
            first = dst.events[0]
            ev = [first.where]
            info = {"queue_id": dst.queue_id, "host": dst.host, "delivered": None, "verdict": None}
        if dst is not None:
            vs = [self._follow_recipient(dst, r, {id(lc)}) for r in self._recipients_of(dst)]
            if vs:
                v = vs[0]
                info["verdict"] = v.verdict
                info["delivered"] = v.verdict in ("delivered", "relayed")
                info["recipient"] = v.recipient
                if v.verdict in ("bounced", "expired"):
                    info["delivered"] = False
                elif v.verdict not in ("delivered", "relayed"):
                    info["delivered"] = None
                ev += v.evidence[-2:]
        return info, ev

    def _follow_recipient(self, lc: Lifecycle, rcpt: str, seen: set[int]) -> RecipientVerdict:
        seen = seen | {id(lc)}
        evs = self._recipient_events(lc, rcpt)
        v = RecipientVerdict(recipient=rcpt, verdict="unknown", host=lc.host, queue_id=lc.queue_id)
        defers = [e for e in evs if e.kind == K.DEFER]
        v.attempts = len(evs)
        if evs:
            v.first_try, v.last_try = evs[0].ts, evs[-1].ts
        final = next((e for e in reversed(evs) if e.kind != K.DEFER), None)
        last = evs[-1] if evs else None
        deleted = lc.last(K.DELETE)
        expired = lc.last(K.EXPIRE)
        held = lc.last(K.HOLD)
        released = lc.last(K.RELEASE)
        discarded = lc.last(K.DISCARD)
        rejected_in_cleanup = next((e for e in lc.events if e.kind == K.REJECT and e.recipient is None), None)
        if final is not None and final.kind == K.DELIVER:
            v.evidence.append(final.where)
            v.relay, v.dsn, v.reply, v.when, v.delay_s = _relay_str(final), final.dsn, final.reply_text, final.ts, final.delay_s
            nxt = final.next_queue_id
            link = next((l for l in self.out_links.get(id(lc), [])
                         if l.via is not None and l.via.next_queue_id == nxt and l.how != "ndr" and id(l.dst) not in seen), None) if nxt else None
            if link is not None:
                sub_rcpts = [r for r in self._recipients_of(link.dst)
                             if r.lower() == rcpt.lower() or r.lower() == (final.recipient or "").lower()]
                if not sub_rcpts and link.how == "forwarded":
                    sub_rcpts = self._recipients_of(link.dst)
                if sub_rcpts:
                    sub = self._follow_recipient(link.dst, sub_rcpts[0], seen)
                    sub.recipient = rcpt
                    sub.evidence = v.evidence + sub.evidence
                    if sub.verdict in NOT_DELIVERED:
                        hop = {"relay": "relayed it to", "content-filter": "passed it through its content filter to",
                               "forwarded": "forwarded it to"}.get(link.how, "handed it to")
                        sub.summary = (f"{lc.host} {hop} {link.dst.host}, which accepted it as {link.dst.queue_id} "
                                       f"({final.reply_text or final.status}) at {_t(final.ts)}; then " + sub.summary)
                    return sub
                if not self._recipient_events(link.dst, rcpt):
                    sub = RecipientVerdict(rcpt, "unknown", link.dst.host, link.dst.queue_id, evidence=v.evidence + [link.dst.events[0].where])
                    sub.summary = (f"handed to {link.dst.host} as {link.dst.queue_id} ({link.how}); no delivery attempt for "
                                   f"{rcpt} is logged there" + self._open_note(link.dst))
                    still = self._still_queued(link.dst)
                    if still:
                        sub.verdict = "deferred"
                    return sub
            final_hop = _is_final_delivery(final)
            if nxt and (final.reply_text or "").startswith("forwarded as"):
                v.verdict = "relayed"
                v.next_queue_id = nxt
                v.summary = (f"forwarded by {final.relay_host or 'local'} delivery at {_t(final.ts)} as a new message {nxt} "
                             f"on {lc.host}; that message's lines are not in the logs given")
            elif nxt and not final_hop:
                v.verdict = "relayed"
                v.next_queue_id = nxt
                where = final.next_host or _relay_str(final)
                v.summary = (f"relayed to {where} at {_t(final.ts)}: the next hop accepted it as {nxt} "
                             f"({final.reply_text}); give that host's log to follow it further")
            elif final_hop:
                v.verdict = "delivered"
                v.summary = f"delivered at {_t(final.ts)} by {final.relay_host or final.program} on {lc.host}" + (
                    f" after {_dur(final.delay_s)}" if final.delay_s else "") + (f": {final.reply_text}" if final.reply_text else "")
            else:
                v.verdict = "relayed"
                v.summary = (f"accepted by {_relay_str(final)} at {_t(final.ts)} ({final.reply_text or 'no reply text'}); "
                             "the reply names no queue ID to follow")
            return v
        if final is not None and final.kind in (K.BOUNCE, K.EXPIRE):
            v.verdict = "bounced" if final.kind == K.BOUNCE else "expired"
            v.evidence += [e.where for e in defers[-1:]] + [final.where]
            v.relay, v.dsn, v.reply, v.when = _relay_str(final), final.dsn, final.reply_text, final.ts
            ndr, ndr_ev = self._ndr_info(lc)
            v.ndr = ndr
            v.evidence += ndr_ev
            v.summary = (f"bounced at {lc.host} ({lc.queue_id}) at {_t(final.ts)} with {final.dsn or 'no DSN'}: "
                         f"{final.reply_text or ''}".rstrip(": ") + _ndr_sentence(ndr))
            return v
        if final is not None and final.kind == K.DISCARD:
            v.verdict = "discarded"
            v.evidence.append(final.where)
            v.summary = f"discarded at {lc.host} at {_t(final.ts)}: {final.reply_text or final.detail or ''}"
            return v
        if final is not None and final.kind == K.REJECT:
            v.verdict = "rejected"
            v.evidence.append(final.where)
            v.dsn, v.reply = final.dsn, final.reply_text
            v.summary = f"rejected at {lc.host} at {_t(final.ts)}: {final.reply_text or ''}"
            return v
        # only deferrals (or nothing) for this recipient
        if last is not None:
            v.evidence += [e.where for e in defers[:1]] + ([defers[-1].where] if len(defers) > 1 else [])
            v.relay, v.dsn, v.reply, v.when = _relay_str(last), last.dsn, last.reply_text, last.ts
        if expired is not None:
            v.verdict = "expired"
            v.evidence.append(expired.where)
            ndr, ndr_ev = self._ndr_info(lc)
            v.ndr = ndr
            v.evidence += ndr_ev
            v.summary = (f"expired at {lc.host} at {_t(expired.ts)} after {len(defers)} deferred attempt(s) and was "
                         f"returned to the sender; last reason: {v.reply or 'unknown'}" + _ndr_sentence(ndr))
            return v
        if deleted is not None:
            v.verdict = "deleted"
            v.evidence.append(deleted.where)
            v.summary = f"deleted from the queue by an administrator (postsuper -d) at {_t(deleted.ts)} on {lc.host}" + (
                f" after {len(defers)} deferred attempt(s); last reason: {v.reply}" if defers else "")
            return v
        if held is not None and (released is None or (released.ts or 0) < (held.ts or 0)):  # type: ignore[operator]
            v.verdict = "held"
            v.evidence.append(held.where)
            v.summary = f"placed on hold at {_t(held.ts)} on {lc.host} ({held.detail or held.program})"
            return v
        if discarded is not None:
            v.verdict = "discarded"
            v.evidence.append(discarded.where)
            v.summary = f"discarded at {_t(discarded.ts)} on {lc.host}: {discarded.detail or ''}"
            return v
        if rejected_in_cleanup is not None:
            v.verdict = "rejected"
            v.evidence.append(rejected_in_cleanup.where)
            v.dsn = rejected_in_cleanup.dsn
            v.summary = f"rejected after queueing by {rejected_in_cleanup.program} at {_t(rejected_in_cleanup.ts)}: {rejected_in_cleanup.detail or ''}"
            return v
        if defers:
            v.verdict = "deferred"
            age = f", {_fmt_age(self.log_end - defers[-1].ts)} before the log ends" if self.log_end and defers[-1].ts else ""
            v.summary = (f"still in the queue on {lc.host} when the log ends: {len(defers)} deferred attempt(s) "
                         f"from {_t(defers[0].ts)} to {_t(defers[-1].ts)}{age}; last reason: {v.reply or 'unknown'}")
            return v
        v.summary = f"no delivery attempt for this recipient is logged on {lc.host}" + self._open_note(lc)
        if lc.events:
            v.evidence.append(lc.events[-1].where)
        return v

    def _still_queued(self, lc: Lifecycle) -> bool:
        return lc.last(K.REMOVE, K.DELETE, K.EXPIRE) is None

    def _open_note(self, lc: Lifecycle) -> str:
        if self._still_queued(lc):
            return " (still in the queue when the log ends)"
        return ""

    def _lifecycle_only_verdicts(self, lc: Lifecycle) -> list[RecipientVerdict]:
        """No per-recipient events: say what the lifecycle itself shows."""
        v = self._follow_recipient(lc, "(unknown recipient)", set())
        return [v]


def _t(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else "?"


def _dur(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 1:
        return f"{s:.2f}s"
    return _fmt_age(timedelta(seconds=s)) if s >= 120 else f"{s:.1f}s"


def _ndr_sentence(ndr: dict[str, Any] | None) -> str:
    if ndr is None:
        return "; no bounce notification to the sender is logged"
    if ndr.get("delivered") is True:
        return f"; the bounce notification {ndr['queue_id']} reached the sender"
    if ndr.get("delivered") is False:
        return f"; the bounce notification {ndr['queue_id']} ALSO FAILED: the sender was never told"
    return f"; a bounce notification {ndr['queue_id']} was created, its delivery is not in the logs given"


def rejected_stories(events: Sequence[Event], query: str) -> list[MessageStory]:
    """NOQUEUE rejects (no queue ID): one story per rejected recipient attempt."""
    out = []
    for e in events:
        if e.kind == K.REJECT and not e.queue_id:
            pseudo = Lifecycle(e.host, instance_of(e), "NOQUEUE", 0, e.mta, [e])
            v = RecipientVerdict(recipient=e.recipient or "(none)", verdict="rejected", host=e.host, dsn=e.dsn, reply=e.reply_text,
                                 when=e.ts, evidence=[e.where])
            v.summary = (f"rejected before queueing by {e.host} at {_t(e.ts)} ({e.detail or 'SMTP'} from {e.client_host}"
                         f"[{e.client_ip}]): {e.reply_text or ''}; the message never got a queue ID")
            out.append(MessageStory(query=query, chain=[(pseudo, "origin", None)], recipients=[v], events=[e]))
    return out

"""The correlator: lifecycles + links for a set of events, and the stories ``follow`` tells.

Invariants:

* Grouping (:mod:`~logtrace.trace.lifecycles`) and linking (:mod:`~logtrace.trace.links`)
  never depend on line order.
* A **verdict** per original recipient follows the recipient through the chain of hops
  (decided per hop by :mod:`~logtrace.trace.verdicts`, told by :mod:`~logtrace.trace.narrative`)
  and names its evidence lines (``file:line``).

The names tests and older callers import from here (``build_lifecycles``, ``NOT_DELIVERED``,
``MessageStory`` …) are re-exported from the modules that own them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from logtrace.events import Event, EventKind as K
from logtrace.trace import narrative
from logtrace.trace.lifecycles import (
    END_KINDS, REUSE_GAP, START_KINDS, Lifecycle, attach_mailbox_lines, attach_session_lines, build_lifecycles, canonical_hosts,
    event_order,
    instance_of,
)
from logtrace.parsing.tags import Tag, has_tag
from logtrace.trace.links import ORG_LINK, FILTER_PORTS, Link, LinkGraph, build_links, lifecycle_org_id, link_target
from logtrace.trace.verdicts import (
    ATTEMPT_KINDS, HANDED_ON, Case, NOT_DELIVERED, REACHED, RECIPIENT_KINDS, REINJECTED, RETURNED, Facts, MessageStory, RecipientVerdict, Verdict,
    decide, is_final_delivery, record,
)

__all__ = [
    "END_KINDS", "FILTER_PORTS", "NOT_DELIVERED", "REUSE_GAP", "START_KINDS", "Correlator", "Lifecycle", "Link",
    "MessageStory", "RecipientVerdict", "build_lifecycles", "build_links", "instance_of", "is_final_delivery",
    "rejected_stories",
]


class Correlator:
    """Holds lifecycles and links for a set of events; answers ``follow`` questions."""

    def __init__(self, events: Sequence[Event], log_end: datetime | None = None) -> None:
        self.events = attach_mailbox_lines(attach_session_lines(list(events)))
        if isinstance(events, list):  # the caller's list too: an attached line is not a message of its own
            events[:] = self.events
        self.lifecycles = build_lifecycles(self.events)
        self.ambiguous_hosts = canonical_hosts(e.host for e in self.events)[1]
        self.graph = LinkGraph(build_links(self.lifecycles))
        if self.graph.anchor_years(self.lifecycles):  # one year for a chain across files
            self.events = [e for e in self.events if not e.queue_id] + [e for lc in self.lifecycles for e in lc.events]
        self.links = self.graph.links
        self.out_links = self.graph.out_links
        self.in_links = self.graph.in_links
        self.log_end = log_end or max((e.ts for e in self.events if e.ts), default=None)
        self.graph.name_hostless(self.lifecycles)
        self._aliases = self._recipient_aliases()

    def _message_key(self, lc: Lifecycle) -> str:
        return self._org_ids.get(id(lc)) or f"lc:{id(lc)}"

    def _recipient_aliases(self) -> dict[str, dict[str, str]]:
        """Per message (org-wide ID, else lifecycle): resolved/redirected address → the address
        the sender used (rows tagged :data:`Tag.RECIPIENT_ALIAS`)."""
        out: dict[str, dict[str, str]] = {}
        received: dict[str, set[str]] = {}
        self._org_ids: dict[int, str | None] = {}
        for lc in self.lifecycles:
            self._org_ids[id(lc)] = lifecycle_org_id(lc)
            key = self._message_key(lc)
            for e in lc.events:
                if e.recipient and e.kind == K.ACCEPT:
                    received.setdefault(key, set()).add(e.recipient.lower())
                if e.recipient and e.orig_recipient and "@" in e.orig_recipient and has_tag(e, Tag.RECIPIENT_ALIAS):
                    out.setdefault(key, {})[e.recipient.lower()] = e.orig_recipient
        # only back to an address the message was received for (the address the sender used)
        for key, amap in list(out.items()):
            kept = {r: o for r, o in amap.items() if o.lower() in received.get(key, set())}
            if kept:
                out[key] = kept
            else:
                del out[key]
        return out

    def _used_address(self, lc: Lifecycle, addr: str) -> str:
        """The address the sender used for ``addr`` (through RESOLVE/REDIRECT rows), else ``addr``."""
        if not self._aliases:
            return addr
        seen = {addr.lower()}
        amap = self._aliases.get(self._message_key(lc), {})
        while addr.lower() in amap and amap[addr.lower()].lower() not in seen:
            addr = amap[addr.lower()]
            seen.add(addr.lower())
        return addr

    # -------------------------------------------------------------- lookup

    def find(self, queue_id: str) -> list[Lifecycle]:
        return [lc for lc in self.lifecycles if lc.queue_id == queue_id]

    def root_of(self, lc: Lifecycle) -> Lifecycle:
        return self.graph.root_of(lc)

    def chain_from(self, root: Lifecycle) -> list[tuple[Lifecycle, str, Lifecycle | None]]:
        return self.graph.chain_from(root)

    def is_ndr(self, lc: Lifecycle) -> bool:
        return self.graph.is_ndr(lc)

    # -------------------------------------------------------------- verdicts

    def story(self, lc: Lifecycle, query: str) -> MessageStory:
        root = self.root_of(lc)
        chain = self.chain_from(root)
        notes: list[str] = []
        if root.first(K.ACCEPT, K.QUEUED, K.HEADER) is None:
            notes.append(narrative.LOG_STARTS_LATE)
        hosts = {(c.host or "").split(".", 1)[0].lower() for c, _, _ in chain}
        for h in sorted(hosts & self.ambiguous_hosts):
            notes.append(f"host name {h!r} is not joined with a full name: two different hosts' full names start with it")
        rcpts = [(root, r) for r in self._recipients_of(root)]
        if not rcpts and any(l.how == ORG_LINK for l in self.out_links.get(id(root), [])):
            rcpts = self._org_recipients(root, chain)
        verdicts = [self._follow_recipient(c, r, set()) for c, r in rcpts]
        if not verdicts:  # no per-recipient events: say what the lifecycle itself shows
            verdicts = [self._follow_recipient(root, "(unknown recipient)", set())]
        events = sorted({id(e): e for c, _, _ in chain for e in c.events}.values(), key=event_order)
        return MessageStory(query=query, chain=chain, recipients=verdicts, notes=notes, events=events)

    def _recipients_of(self, lc: Lifecycle) -> list[str]:
        seen: dict[str, None] = {}
        for e in lc.events:
            if e.recipient and e.kind in RECIPIENT_KINDS:
                # the address the sender used (orig_to), unless it is an unqualified local name
                r = e.orig_recipient if e.orig_recipient and "@" in e.orig_recipient else e.recipient
                seen.setdefault(self._used_address(lc, r), None)
        return list(seen)

    def _org_recipients(self, root: Lifecycle, chain: list[tuple[Lifecycle, str, Lifecycle | None]]) -> list[tuple[Lifecycle, str]]:
        """Recipients of a message whose first lifecycle names them only on accept rows (a
        submission hop, or a hop that expanded a group into a later one): each accepted address
        is followed from ``root`` unless it was expanded (then its members are followed from
        the first later lifecycle that names them)."""
        later: dict[str, tuple[Lifecycle, str]] = {}
        for c, _, _ in chain[1:]:
            for r in self._recipients_of(c):
                later.setdefault(r.lower(), (c, r))
        expanded = {e.orig_recipient.lower() for c, _, _ in chain for e in c.events if e.orig_recipient}
        out = [(root, a) for a in self._accepted_recipients(root) if a.lower() in later or a.lower() not in expanded]
        taken = {a.lower() for _, a in out}
        out += [v for low, v in later.items() if low not in taken]
        return out

    def _accepted_recipients(self, lc: Lifecycle) -> list[str]:
        seen: dict[str, None] = {}
        for e in lc.events:
            if e.recipient and e.kind == K.ACCEPT:
                seen.setdefault(self._used_address(lc, e.recipient), None)
        return list(seen)

    def _recipient_events(self, lc: Lifecycle, rcpt: str) -> list[Event]:
        r = rcpt.lower()
        return [e for e in lc.events if e.kind in ATTEMPT_KINDS
                and e.recipient is not None and (e.recipient.lower() == r or (e.orig_recipient or "").lower() == r
                                                 or self._used_address(lc, e.recipient).lower() == r)]

    def _ndr_info(self, lc: Lifecycle) -> tuple[dict[str, Any] | None, list[str]]:
        note = lc.last(K.NOTIFY)
        dst = next((l.dst for l in self.out_links.get(id(lc), []) if l.how == "ndr"), None)
        if note is None and dst is None:
            return None, []
        if note is not None:
            ev = [note.where]
            info: dict[str, Any] = {"queue_id": note.next_queue_id, "host": note.host, "delivered": None, "verdict": None}
        else:  # the bounce message names its original (an 'ndr' link from the original)
            assert dst is not None
            first = dst.events[0]
            ev = [first.where]
            info = {"queue_id": dst.queue_id, "host": dst.host, "delivered": None, "verdict": None}
        if dst is not None:
            vs = [self._follow_recipient(dst, r, {id(lc)}) for r in self._recipients_of(dst)]
            if vs:
                v = vs[0]
                info["verdict"] = v.verdict
                info["delivered"] = v.verdict in REACHED
                info["recipient"] = v.recipient
                if v.verdict in RETURNED:
                    info["delivered"] = False
                elif v.verdict not in REACHED:
                    info["delivered"] = None
                ev += v.evidence[-2:]
        return info, ev

    def _follow_recipient(self, lc: Lifecycle, rcpt: str, seen: set[int]) -> RecipientVerdict:
        seen = seen | {id(lc)}
        evs = self._recipient_events(lc, rcpt)
        facts = Facts.gather(lc, evs)
        decision, e = decide(facts)
        v = RecipientVerdict(recipient=rcpt, verdict=Verdict.UNKNOWN, host=lc.host, queue_id=lc.queue_id)
        v.attempts = len(evs)
        if evs:
            v.first_try, v.last_try = evs[0].ts, evs[-1].ts
        record(v, decision, e, facts, lc)
        if decision.case in HANDED_ON:
            assert e is not None
            nxt = self._next_hop(lc, rcpt, e, v, seen)
            if nxt is not None:
                return nxt
        if decision.case in ORG_CONTINUES:
            nxt = self._org_next(lc, rcpt, e, v, seen)
            if nxt is not None:
                return nxt
        if decision.case in REINJECTED:
            nxt = self._reinjected(lc, rcpt, v, seen)
            if nxt is not None:
                return nxt
        if decision.ndr:
            v.ndr, ndr_ev = self._ndr_info(lc)
            v.evidence += ndr_ev
        v.summary = narrative.summary(decision.case, lc, facts, v, e, self.log_end)
        return v

    def _org_next(self, lc: Lifecycle, rcpt: str, final: Event | None, v: RecipientVerdict,
                  seen: set[int]) -> RecipientVerdict | None:
        """The verdict from the next lifecycle of the same message (``network-message-id``
        link), when it names this recipient; None to let ``lc``'s own verdict stand."""
        for link in self.out_links.get(id(lc), []):
            if link.how != ORG_LINK or id(link.dst) in seen:
                continue
            names = {rcpt.lower()} | ({final.recipient.lower()} if final is not None and final.recipient else set())
            sub_rcpts = [r for r in self._recipients_of(link.dst) + self._accepted_recipients(link.dst) if r.lower() in names]
            if not sub_rcpts:
                continue
            sub = self._follow_recipient(link.dst, sub_rcpts[0], seen)
            sub.recipient = rcpt
            sub.evidence = list(dict.fromkeys(v.evidence + sub.evidence))
            return sub
        return None

    def _reinjected(self, lc: Lifecycle, rcpt: str, v: RecipientVerdict, seen: set[int]) -> RecipientVerdict | None:
        """The verdict from the lifecycle that re-injected ``lc`` (``requeued`` link), when its
        lines are here; None to let ``lc``'s own row decide."""
        link = next((l for l in self.out_links.get(id(lc), []) if l.how == "requeued" and id(l.dst) not in seen), None)
        if link is None:
            return None
        sub_rcpts = [r for r in self._recipients_of(link.dst) if r.lower() == rcpt.lower()]
        if not sub_rcpts:
            return None
        sub = self._follow_recipient(link.dst, sub_rcpts[0], seen)
        sub.recipient = rcpt
        sub.evidence = v.evidence + [link.via.where] + sub.evidence if link.via is not None else v.evidence + sub.evidence
        sub.evidence = list(dict.fromkeys(sub.evidence))
        if sub.verdict in NOT_DELIVERED:
            sub.summary = narrative.requeued_prefix(lc, link) + sub.summary
        return sub

    def _hop_link(self, lc: Lifecycle, rcpt: str, final: Event, seen: set[int]) -> Link | None:
        """The link ``final`` handed the message on by: the one to the queue ID its reply names;
        without one, a re-injection that names ``lc`` (:data:`Tag.FILTERED_FROM`) after ``final``,
        preferring one that names ``rcpt``."""
        outs = [l for l in self.out_links.get(id(lc), []) if l.how != "ndr" and id(l.dst) not in seen]
        redirected = next((l for l in outs if l.how == "redirected" and l.via is final), None)
        if redirected is not None:  # a Sieve redirect: the copy the mailbox server submitted
            return redirected
        nxt = final.next_queue_id
        if nxt:
            return next((l for l in outs if l.via is not None and (l.via.next_queue_id == nxt or l.via.queue_id == nxt)
                         and l.dst.queue_id == nxt), None)
        back = [l for l in outs if l.via is not None and l.via.queue_id == l.dst.queue_id and has_tag(l.via, Tag.FILTERED_FROM)
                and (final.ts is None or l.dst.start is None or l.dst.start >= final.ts - REUSE_GAP)]
        named = [l for l in back if any(r.lower() == rcpt.lower() for r in self._recipients_of(l.dst))]
        return (named or back or [None])[0]

    def _next_hop(self, lc: Lifecycle, rcpt: str, final: Event, v: RecipientVerdict, seen: set[int]) -> RecipientVerdict | None:
        """The verdict from the lifecycle ``final`` handed the message to, when its lines are
        here; None to let ``final`` itself decide."""
        link = self._hop_link(lc, rcpt, final, seen)
        if link is None:
            return None
        sub_rcpts = [r for r in self._recipients_of(link.dst)
                     if r.lower() == rcpt.lower() or r.lower() == (final.recipient or "").lower()]
        if not sub_rcpts and link.how == "forwarded":
            sub_rcpts = self._recipients_of(link.dst)
        if link.how == "redirected":  # the new address the Sieve script named
            target = link_target(link)
            sub_rcpts = [r for r in self._recipients_of(link.dst) if r.lower() == target]
        if sub_rcpts:
            sub = self._follow_recipient(link.dst, sub_rcpts[0], seen)
            sub.recipient = rcpt
            sub.evidence = v.evidence + sub.evidence
            # a failure says how it got there; so does a content filter's own "Passed …" line when given
            if link.how == "redirected":  # the redirect itself, then what became of the copy
                sub.summary = narrative.redirected_prefix(lc, link) + sub.summary
            elif sub.verdict in NOT_DELIVERED or (link.how == "content-filter" and narrative.filter_verdict(lc, rcpt)):
                known = {rcpt.lower(), (final.recipient or "").lower()}  # the address it was forwarded to (an alias)
                new_rcpt = next((e.recipient for e in reversed(self._recipient_events(link.dst, sub_rcpts[0]))
                                 if e.recipient and "@" in e.recipient and e.recipient.lower() not in known), None)
                sub.summary = narrative.then_prefix(lc, link, final, new_rcpt) + sub.summary
            return sub
        if not self._recipient_events(link.dst, rcpt):
            sub = RecipientVerdict(rcpt, Verdict.UNKNOWN, link.dst.host, link.dst.queue_id, evidence=v.evidence + [link.dst.events[0].where])
            sub.summary = narrative.handed_without_attempt(link, rcpt)
            if link.dst.still_queued:
                sub.verdict = Verdict.DEFERRED
            return sub
        return None


#: decisions that let the next lifecycle of the same message (``network-message-id``) decide:
#: handed on without a followable ID, or nothing decisive logged on this hop
ORG_CONTINUES = frozenset({Case.RELAYED_WITH_ID, Case.RELAYED_NO_ID, Case.NO_ATTEMPT, Case.STILL_QUEUED})

#: SMTP-time decisions without a queue ID (``NOQUEUE: reject|discard: …``) and their verdicts
NOQUEUE_VERDICTS = {K.REJECT: Verdict.REJECTED, K.DISCARD: Verdict.DISCARDED}


def rejected_stories(events: Sequence[Event], query: str) -> list[MessageStory]:
    """NOQUEUE rejects and discards (no queue ID): one story per recipient attempt."""
    out = []
    for e in events:
        if e.kind in NOQUEUE_VERDICTS and not e.queue_id:
            pseudo = Lifecycle(e.host, instance_of(e), "NOQUEUE", 0, e.mta, [e])
            v = RecipientVerdict(recipient=e.recipient or "(none)", verdict=NOQUEUE_VERDICTS[e.kind], host=e.host, dsn=e.dsn,
                                 reply=e.reply_text, when=e.ts, evidence=[e.where])
            v.summary = (narrative.rejected_before_queueing(e) if e.kind == K.REJECT
                         else narrative.discarded_before_queueing(e))
            out.append(MessageStory(query=query, chain=[(pseudo, "origin", None)], recipients=[v], events=[e]))
    return out

"""Links between lifecycles: how a message went from one queue to the next.

Invariants:

* Links never depend on line order: they are computed after all events are grouped.
* Each link says how it was established (:data:`LINK_KINDS`): ``relay`` (a reply names the
  next hop's ID), ``content-filter`` (same-host re-injection, amavis style), ``forwarded``
  (local ``forwarded as``), ``requeued`` (an administrator re-injected the message under a
  new ID; the new lifecycle names the old ID, rule tag :data:`~logtrace.parsing.tags.Tag.PREVIOUS_ID`; a
  ``content-filter`` link is also made when the re-injected lifecycle names the one the filter
  received, rule tag :data:`~logtrace.parsing.tags.Tag.FILTERED_FROM`), ``ndr`` (bounce/delay notification; also a bounce that names
  its original, ``status`` ``bounce-of``), ``message-id`` (the same Message-ID header on
  another host: a weaker link, used only when no reply names the next ID; never to or from a
  mailbox server's session, rule tag :data:`~logtrace.parsing.tags.Tag.MAILBOX`: that hop is
  reached by its session ID (``mailbox``) or not at all — a refused delivery's session, e.g.
  over quota, is named on the mailbox server's side only, and the MTA's bounce tells that
  story; Dovecot's own log file has no host and whole-second stamps, so by Message-ID and
  start time alone such a session would be linked from whichever MTA hop happened to start
  before it within that second), ``redirected`` (a
  Sieve ``redirect`` on the mailbox server, rule tag :data:`~logtrace.parsing.tags.Tag.USER_FILTER`
  with the new address in ``detail``, to the copy it submitted: the MTA lifecycle with the same
  Message-ID that has the new address as a recipient, starting closest to the redirect; any host,
  the mailbox server's own included),
  ``network-message-id`` (the same org-wide message ID on another service or server, rule tag
  :data:`~logtrace.parsing.tags.Tag.ORG_MESSAGE_ID`: each lifecycle not otherwise reached is
  linked from the one of its message that started last before it; never to or from a
  notification).
* Host names are already canonical (:func:`~logtrace.trace.lifecycles.canonical_hosts`).
* A pair of lifecycles is linked at most once per direction.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from logtrace.events import Event, EventKind as K
from logtrace.parsing.tags import ORG_ID_KEY, Tag, has_tag
from logtrace.trace.lifecycles import Lifecycle

#: link kinds, strongest first
LINK_KINDS = ("relay", "content-filter", "mailbox", "forwarded", "redirected", "requeued", "network-message-id", "ndr",
              "message-id")
#: hop links (``root_of`` walks back over these; ``ndr`` and ``message-id`` are not hops)
ORG_LINK = "network-message-id"
_ORG_RX = re.compile(r"(?:^|;\s*)" + re.escape(ORG_ID_KEY) + r"=([^;\s]+)")


def org_message_id(e: Event) -> str | None:
    """The org-wide message ID of ``e`` (lower case), when its rule declares one
    (:data:`Tag.ORG_MESSAGE_ID`) and ``detail`` holds it."""
    if not e.detail or not has_tag(e, Tag.ORG_MESSAGE_ID):
        return None
    m = _ORG_RX.search(e.detail)
    return m.group(1).lower() if m else None


def lifecycle_org_id(lc: Lifecycle) -> str | None:
    """The org-wide message ID of ``lc`` (its first event that has one)."""
    for e in lc.events:
        g = org_message_id(e)
        if g:
            return g
    return None


FILTER_PORTS = frozenset({10024, 10025, 10026, 10027, 10028})


@dataclass
class Link:
    src: Lifecycle
    dst: Lifecycle
    how: str  # one of LINK_KINDS
    via: Event | None = None


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


def _closest_before(cands: list[Lifecycle], when: datetime | None) -> Lifecycle | None:
    """The lifecycle that started last at or before ``when`` (else the closest)."""
    before = [c for c in cands if c.start is not None and when is not None and c.start <= when]
    if before:
        return max(before, key=lambda c: c.start)  # type: ignore[arg-type, return-value]
    return _closest(cands, when)


def build_links(lifecycles: Sequence[Lifecycle]) -> list[Link]:
    """Every link between ``lifecycles`` (see module docstring)."""
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
            elif has_tag(e, Tag.PREVIOUS_ID) or has_tag(e, Tag.FILTERED_FROM):  # this lifecycle re-injects an older one
                filtered = has_tag(e, Tag.FILTERED_FROM)  # (a filter may hand back to another instance)
                same = [c for c in cands if c.host == lc.host and (filtered or c.instance == lc.instance)]
                src = _closest_before(same, e.ts)
                if src is not None and (id(src), id(lc)) not in linked_pairs:
                    links.append(Link(src, lc, "content-filter" if filtered else "requeued", e))
                    linked_pairs.add((id(src), id(lc)))
                continue
            elif e.status == "bounce-of":  # a bounce message naming its original ('<= <> R=orig'): original → bounce
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
            if how == "relay" and any(has_tag(x, Tag.MAILBOX) for x in dst.events):
                how = "mailbox"  # the mailbox server's lines for this delivery (LMTP session ID)
            links.append(Link(lc, dst, how, e))
            linked_pairs.add((id(lc), id(dst)))
    _org_links(lifecycles, links, linked_pairs)
    _redirect_links(lifecycles, links, linked_pairs)
    # weak links: same Message-ID on another host, only where nothing else connects them; never to or
    # from a mailbox server's session (see module docstring)
    by_mid: dict[str, list[Lifecycle]] = defaultdict(list)
    for lc in lifecycles:
        mid = lc.message_id
        if mid and not _is_mailbox_session(lc):
            by_mid[mid].append(lc)
    # a lifecycle is in one Message-ID group only, so the links made below never reach another group's
    # lifecycles: the destinations before the loop decide (a set, not a scan of every link per pair)
    reached = {id(l.dst) for l in links}
    for group in by_mid.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda c: (c.start is None, c.start or 0))  # type: ignore[operator]
        for a, b in zip(group, group[1:]):
            if a.host != b.host and id(b) not in reached:
                links.append(Link(a, b, "message-id", None))
    return links


def _is_mailbox_session(lc: Lifecycle) -> bool:
    """``lc`` is a mailbox server's delivery session (its lines' rule tag :data:`Tag.MAILBOX`)."""
    return any(has_tag(x, Tag.MAILBOX) for x in lc.events)


_ADDRESS = re.compile(r"<([^<>\s]+)>")


def link_target(link: Link) -> str:
    """The address a ``redirected`` link's Sieve line named (lower case; empty when none)."""
    m = _ADDRESS.search(link.via.detail or "") if link.via is not None else None
    return m.group(1).lower() if m else ""


def _redirect_links(lifecycles: Sequence[Lifecycle], links: list[Link], linked_pairs: set[tuple[int, int]]) -> None:
    """``redirected`` links (see module docstring): a Sieve redirect → the copy the mailbox server
    submitted (it may be logged a little before the Sieve line: the window is the hand-off's)."""
    by_mid: dict[str, list[Lifecycle]] = defaultdict(list)
    for lc in lifecycles:
        if lc.message_id:
            by_mid[lc.message_id].append(lc)
    ins: dict[int, list[Lifecycle]] = defaultdict(list)
    for l in links:
        if l.how not in ("ndr", "message-id"):
            ins[id(l.dst)].append(l.src)
    for lc in lifecycles:
        for e in lc.events:
            if e.kind != K.DELIVER or not has_tag(e, Tag.USER_FILTER):
                continue
            m = _ADDRESS.search(e.detail or "")
            mid = e.message_id or lc.message_id
            if m is None or not mid:
                continue
            target = m.group(1).lower()
            upstream, todo = set(), [lc]  # the hops that brought the message here (one of them may name the target too)
            while todo:
                for src in ins.get(id(todo.pop()), []):
                    if id(src) not in upstream:
                        upstream.add(id(src))
                        todo.append(src)
            cands = [c for c in by_mid.get(mid, []) if c is not lc and id(c) not in upstream and (id(lc), id(c)) not in linked_pairs
                     and not _is_mailbox_session(c)
                     and any((x.recipient or "").lower() == target for x in c.events)]
            dst = _closest(cands, e.ts)
            if dst is not None and (e.ts is None or dst.start is None or dst.start > e.ts - timedelta(seconds=300)):
                links.append(Link(lc, dst, "redirected", e))
                linked_pairs.add((id(lc), id(dst)))


def _org_links(lifecycles: Sequence[Lifecycle], links: list[Link], linked_pairs: set[tuple[int, int]]) -> None:
    """``network-message-id`` links (see module docstring): each lifecycle of a message that
    no hop link reaches yet is linked from the one that started last before it."""
    groups: dict[str, list[Lifecycle]] = defaultdict(list)
    for lc in lifecycles:
        if lc.first(K.NOTIFY) is not None:
            continue
        g = lifecycle_org_id(lc)
        if g:
            groups[g].append(lc)
    notifications = {id(l.dst) for l in links if l.how == "ndr"}
    for group in groups.values():
        group = [c for c in group if id(c) not in notifications]
        if len(group) < 2:
            continue
        group.sort(key=lambda c: (c.start is None, c.start or 0, c.events[0].file or "", c.events[0].line_no or 0))  # type: ignore[operator]
        reached = {id(l.dst) for l in links if l.how not in ("ndr", "message-id")}
        for i, b in enumerate(group[1:], 1):
            if id(b) in reached:
                continue
            a = group[i - 1]
            if (id(a), id(b)) in linked_pairs or (id(b), id(a)) in linked_pairs:
                continue
            links.append(Link(a, b, ORG_LINK, None))
            linked_pairs.add((id(a), id(b)))
            reached.add(id(b))


#: a hop's first line this close to its hand-off after moving it by whole years is the same
#: moment with a wrongly guessed year (RFC 3164 stamps carry none; each file guesses its own)
YEAR_SLIP = timedelta(days=2)


def _years_later(ts: datetime, k: int) -> datetime:
    """``ts`` moved by ``k`` calendar years (29 February becomes the 28th)."""
    try:
        return ts.replace(year=ts.year + k)
    except ValueError:
        return ts.replace(year=ts.year + k, day=28)


def year_slip(ref: datetime | None, start: datetime | None) -> int:
    """The whole number of years ``start`` is off from ``ref`` when it lies about that many
    years (± :data:`YEAR_SLIP`) away from it; else 0."""
    if ref is None or start is None:
        return 0
    k = round((start - ref).total_seconds() / (365.2425 * 86400))
    if k == 0 or abs(_years_later(start, -k) - ref) > YEAR_SLIP:
        return 0
    return k


class LinkGraph:
    """Links indexed by source and destination, with the walks ``follow`` needs."""

    def __init__(self, links: list[Link]) -> None:
        self.links = links
        self.out_links: dict[int, list[Link]] = defaultdict(list)
        self.in_links: dict[int, list[Link]] = defaultdict(list)
        for l in links:
            self.out_links[id(l.src)].append(l)
            self.in_links[id(l.dst)].append(l)

    def root_of(self, lc: Lifecycle) -> Lifecycle:
        """The first hop of ``lc``'s message, walking back over hop links (not NDRs or guesses)."""
        seen = {id(lc)}
        while True:
            ins = [l for l in self.in_links.get(id(lc), []) if l.how != "ndr" and l.how != "message-id"]
            if not ins or id(ins[0].src) in seen:
                return lc
            lc = ins[0].src
            seen.add(id(lc))

    def chain_from(self, root: Lifecycle) -> list[tuple[Lifecycle, str, Lifecycle | None]]:
        """``root`` and everything reachable from it, breadth first: (lifecycle, how linked, from)."""
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

    def anchor_years(self, lifecycles: Sequence[Lifecycle]) -> bool:
        """Put every hop of a chain in its origin's year: a linked lifecycle that starts a whole
        number of years (± :data:`YEAR_SLIP`) away from the line that handed it over (or from
        the linking lifecycle's end) had its year guessed from another file's mtime; its events
        are moved back by those years (no hop of one message is logged a year later).

        Returns whether any event was moved (the lifecycles then hold the moved events)."""
        moved: dict[int, Event] = {}
        roots = [lc for lc in lifecycles if not any(l.how not in ("ndr", "message-id") for l in self.in_links.get(id(lc), []))]
        roots.sort(key=lambda lc: bool(self.in_links.get(id(lc))))  # first the origins nothing links to
        for root in roots:
            for lc, _how, frm in self.chain_from(root)[1:]:
                assert frm is not None
                via = next((l.via for l in self.in_links.get(id(lc), []) if l.src is frm and l.via is not None), None)
                while via is not None and id(via) in moved:
                    via = moved[id(via)]
                ref = via.ts if via is not None and via.ts is not None else frm.end
                k = year_slip(ref, lc.start)
                if k:
                    new = [dataclasses.replace(e, ts=_years_later(e.ts, -k)) if e.ts is not None else e for e in lc.events]
                    moved.update((id(a), b) for a, b in zip(lc.events, new) if a is not b)
                    lc.events[:] = new
        for l in self.links:
            while l.via is not None and id(l.via) in moved:
                l.via = moved[id(l.via)]
        return bool(moved)

    def is_ndr(self, lc: Lifecycle) -> bool:
        """``lc`` is a bounce notification about another lifecycle."""
        return any(l.how == "ndr" for l in self.in_links.get(id(lc), []))

    def name_hostless(self, lifecycles: Sequence[Lifecycle]) -> None:
        """A log without a host field (a native Exim mainlog): name such a hop after the relay
        that handed it over (``H=``/``relay=`` of the delivery whose reply named its ID); then
        NDRs and content-filter hops of a named hostless log share its name."""
        for lc in lifecycles:
            if lc.host is not None:
                continue
            for l in self.in_links.get(id(lc), []):
                if l.via is not None and (l.via.next_host or l.via.relay_host):
                    lc.host = l.via.next_host or l.via.relay_host
                    break
        for lc in lifecycles:
            if lc.host is None:
                for l in self.in_links.get(id(lc), []) + self.out_links.get(id(lc), []):
                    other = l.src if l.dst is lc else l.dst
                    if other.host is not None and other.mta == lc.mta and l.how in ("ndr", "content-filter"):
                        lc.host = other.host
                        break

"""Rule tags: the facts downstream code needs about an event, declared by the dialect.

The correlator and the reports never test an MTA name or a rule ID. A dialect says what its
rules *mean* by tagging them (``Rule.tags``, ``Rule.tags_by``, or ``Dialect.tags`` for every
rule of the dialect), and downstream code asks for the tag:

>>> has_tag(event, Tag.FINAL)                        # doctest: +SKIP
>>> frame.filter(tagged(Tag.EXIMSTATS_DELIVER))      # doctest: +SKIP

So a third-party dialect gets verdicts and totals by tagging its rules, and renaming a rule
keeps its tags (a test checks that every tag used downstream is carried by some rule).

Invariants: tags are plain strings (a plugin may invent its own); the index is built once
per registry from every loaded dialect; ``tags_by`` adds tags when a field of the event has
one of the listed values (Exchange's one row rule is a final delivery when ``status`` is
``DELIVER``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import cache
from typing import Any


class Tag(StrEnum):
    """Tags the built-in correlator and reports understand."""

    #: delivery into a mailbox or a program, not a hand-off to another MTA
    FINAL = "final"
    #: a final delivery unless the event names a relay host or IP (Exim's local transports)
    FINAL_IF_NO_RELAY = "final-if-no-relay"
    #: the program name's first path element names the queue instance (``postfix-out/smtp``)
    INSTANCE_FROM_PROGRAM = "instance-from-program"
    #: counted by pflogsumm's rules (``summary`` totals for this dialect's events)
    PFLOGSUMM = "count:pflogsumm"
    #: counted by eximstats' rules
    EXIMSTATS = "count:eximstats"
    #: pflogsumm: ``status`` is the raw delivery status word (``sent``, ``deferred`` …)
    DELIVERY_STATUS = "pflogsumm:delivery-status"
    #: pflogsumm: a ``sent`` status of this rule counts as delivered although kind is discard
    DISCARD_SENT = "pflogsumm:discard-sent"
    #: pflogsumm: header/body/milter checks; ``status`` is the action
    CHECKS = "pflogsumm:checks"
    #: pflogsumm: an SMTP-time decision (``NOQUEUE: reject: …``); ``status`` is the action
    NOQUEUE = "pflogsumm:noqueue"
    #: pflogsumm: postscreen's PASS/DNSBL/… actions
    POSTSCREEN = "pflogsumm:postscreen"
    #: pflogsumm's "smtp delivery failures": the SMTP client could not connect or lost the connection
    SMTP_FAILURE = "pflogsumm:smtp-failure"
    #: ``status`` is the source's own event ID (Exchange message tracking: RECEIVE, SEND, DELIVER, FAIL …);
    #: ``program`` its source component, ``host`` the server, ``connector-id=`` in ``detail`` the connector
    EVENT_ID = "report:event-id"
    #: the accept line carries the message size (no separate size line)
    SIZE_ON_ACCEPT = "size-on-accept"
    #: deliveries may name a bare local part; ``orig_recipient`` is then the address
    RECIPIENT_LOCAL_PART = "recipient-local-part"
    #: a mailbox server's result for one delivery (Dovecot LMTP/LDA, Sieve): a hop reached this way
    #: is linked as ``mailbox``; on a deliver event ``detail`` names the folder it was saved into
    MAILBOX = "verdict:mailbox"
    #: a content filter's verdict on the message of ``queue_id`` (amavis ``Passed``/``Blocked``):
    #: part of that MTA lifecycle (not one of its own); ``status`` the outcome, ``detail`` the
    #: category and actions, ``reply_text`` the quarantine ID
    FILTER_VERDICT = "link:filter-verdict"
    #: the recipient's own filter acted (a Sieve ``discard``): the user's choice, not a failure
    USER_FILTER = "verdict:user-filter"
    #: a 2xx reply by which the next hop (a content filter) says it dropped the message
    #: (amavis ``250 2.7.0 Ok, discarded, id=…``): a discard, not a delivery; on a filter's own
    #: verdict line (amavis ``Blocked``): that recipient's copy was not passed on
    FILTER_DISCARD = "verdict:filter-discard"
    #: ``next_queue_id`` names the queue ID this message had *before* (``postsuper -r``
    #: re-injection: pickup's ``orig_id=``): a link from that lifecycle to this one
    PREVIOUS_ID = "link:previous-id"
    #: ``next_queue_id`` names the queue ID of the message a content filter handed back, now
    #: re-injected as this one (Postfix smtpd's XFORWARD ``orig_queue_id=``): a
    #: ``content-filter`` link from that lifecycle (same host) to this one, whether or not the
    #: filter's reply named this queue ID
    FILTERED_FROM = "link:filtered-from"
    #: the line names no queue ID but belongs to the message its SMTP session accepts next
    #: (same host, pid, client IP and sender, within :data:`~logtrace.trace.lifecycles.REUSE_GAP`):
    #: Exim logs an ACL's ``rejected RCPT`` before the ``<=`` line of the message the other
    #: recipients are accepted in; that recipient was refused at SMTP time
    SESSION_SCOPED = "link:session"
    #: ``detail`` carries ``network-message-id=<guid>`` (:data:`ORG_ID_KEY`): an ID the MTA
    #: gives every hop of one message across its services and servers (submission, transport,
    #: delivery); lifecycles sharing it are one message (link ``network-message-id``)
    ORG_MESSAGE_ID = "link:org-message-id"
    #: ``recipient`` is what the address the sender used (``orig_recipient``) was resolved or
    #: redirected to: verdicts for ``recipient`` are reported for ``orig_recipient``
    RECIPIENT_ALIAS = "link:recipient-alias"
    #: eximstats roles
    EXIMSTATS_ACCEPT = "eximstats:accept"
    EXIMSTATS_COMPLETED = "eximstats:completed"
    EXIMSTATS_DELIVER = "eximstats:deliver"
    EXIMSTATS_DEFER = "eximstats:defer"
    EXIMSTATS_BOUNCE = "eximstats:bounce"
    EXIMSTATS_REJECT_RCPT = "eximstats:reject-rcpt"
    EXIMSTATS_REJECT = "eximstats:reject"
    EXIMSTATS_CALL_DROPPED = "eximstats:call-dropped"
    #: a per-message note line that may carry SpamAssassin's verdict (``SA: Action: …``)
    EXIMSTATS_NOTE = "eximstats:note"


#: the ``detail`` key that holds the org-wide message ID of events tagged :data:`Tag.ORG_MESSAGE_ID`
ORG_ID_KEY = "network-message-id"

TagsBy = tuple[str, tuple[tuple[str, frozenset[str]], ...]]


class TagIndex:
    """Rule ID → tags, plus conditional tags (``tags_by``), for every loaded dialect."""

    def __init__(self) -> None:
        self.plain: dict[str, frozenset[str]] = {}
        self.by: dict[str, list[tuple[str, str, frozenset[str]]]] = {}  # rule → [(field, value, tags)]

    def add(self, rule_id: str, tags: frozenset[str], tags_by: TagsBy | None = None) -> None:
        self.plain[rule_id] = self.plain.get(rule_id, frozenset()) | tags
        if tags_by:
            fname, mapping = tags_by
            lst = self.by.setdefault(rule_id, [])
            lst.extend((fname, value, frozenset(t)) for value, t in mapping)

    def rules(self, tag: str) -> list[str]:
        return sorted(r for r, t in self.plain.items() if tag in t)

    def conditional(self, tag: str) -> list[tuple[str, str, str]]:
        return [(r, f, v) for r, lst in self.by.items() for f, v, t in lst if tag in t]

    def all_tags(self) -> frozenset[str]:
        out: set[str] = set()
        for t in self.plain.values():
            out |= t
        for lst in self.by.values():
            for _, _, t in lst:
                out |= t
        return frozenset(out)


def build_index(dialects: list[Any]) -> TagIndex:
    idx = TagIndex()
    for cls in dialects:
        common = frozenset(getattr(cls, "tags", ()))
        for r in getattr(cls, "rules", ()):
            idx.add(r.id, frozenset(r.tags) | common, r.tags_by)
        for rid in getattr(cls, "extra_rule_ids", ()):
            idx.add(rid, common)
    return idx


@cache
def default_index() -> TagIndex:
    from logtrace.parsing.registry import default_registry

    return build_index([i.cls for i in default_registry().available()])


def has_tag(event: Any, tag: str, index: TagIndex | None = None) -> bool:
    """Whether ``event`` (an :class:`~logtrace.events.Event` or anything with ``rule``) has ``tag``."""
    idx = index or default_index()
    rule = getattr(event, "rule", None)
    if rule is None:
        return False
    if tag in idx.plain.get(rule, ()):
        return True
    for fname, value, tags in idx.by.get(rule, ()):
        if tag in tags and str(getattr(event, fname, None) or "") == value:
            return True
    return False


def tagged(tag: str, index: TagIndex | None = None) -> Any:
    """A polars expression: rows whose event has ``tag`` (over the ``rule`` column and the
    fields ``tags_by`` conditions name)."""
    return tagged_any((tag,), index)


def tagged_any(tags: Iterable[str], index: TagIndex | None = None) -> Any:
    """``tagged(t1) | tagged(t2) | …`` with one ``is_in`` over the ``rule`` column for all their rules (a
    chunk's rule names are hashed once, not once per tag)."""
    import polars as pl

    idx = index or default_index()
    tags = tuple(tags)
    expr = pl.col("rule").is_in(sorted({r for t in tags for r in idx.rules(t)}))
    for t in tags:
        for rule, fname, value in idx.conditional(t):
            expr = expr | ((pl.col("rule") == rule) & (pl.col(fname) == value)).fill_null(False)
    return expr

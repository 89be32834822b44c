"""Verdicts in plain English: the ``summary`` of each recipient, and the story's notes.

Invariants: one sentence per :class:`~logtrace.trace.verdicts.Case` (:data:`SENTENCES`);
sentences only read what the verdict and its facts already hold, they decide nothing. The
wording is part of the documented output (goldens and CLI tests pin it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from logtrace.containers.stamps import zone_label
from logtrace.parsing.tags import Tag, has_tag
from logtrace.events import Event, EventKind
from logtrace.trace.lifecycles import Lifecycle
from logtrace.trace.links import Link
from logtrace.trace.verdicts import Case, Facts, RecipientVerdict, filter_names, is_junk, relay_text

LOG_STARTS_LATE = "the log starts after this message was received (no client=/pickup/queue line)"
HOP_PHRASES = {"relay": "relayed it to", "content-filter": "passed it through its content filter to",
               "forwarded": "forwarded it to"}


@dataclass(frozen=True, slots=True)
class Clock:
    """Which zone times for people are shown in: ``zone`` (named ``name``) for every host,
    ``hosts`` for the hosts ``--tz HOST=ZONE`` names. ``zone=None`` is the machine form: UTC,
    no label (what ``--json`` carries, unchanged)."""

    zone: tzinfo | None = None
    name: str = "UTC"
    hosts: dict[str, tzinfo] = field(default_factory=dict)

    def zone_for(self, host: str | None) -> tzinfo | None:
        if self.hosts and host:
            return self.hosts.get(host) or self.hosts.get(host.lower()) or self.zone
        return self.zone

    def local(self, ts: datetime, host: str | None = None) -> datetime:
        z = self.zone_for(host)
        if z is None:
            return ts
        return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).astimezone(z)

    def label(self, ts: datetime, host: str | None = None) -> str:
        """The zone's abbreviation at ``ts`` (``CET``, ``CEST``, ``UTC``; ``+0530`` where it has none)."""
        return zone_label(self.local(ts, host))


_clock = Clock()


def clock() -> Clock:
    return _clock


@contextmanager
def people_times(c: Clock) -> Iterator[None]:
    """Sentences built inside this block show times in ``c``'s zones, labelled (the CLI's human output)."""
    global _clock
    prev, _clock = _clock, c
    try:
        yield
    finally:
        _clock = prev


def _host(host: str | None) -> str:
    """A hop's host for a sentence; Exim's own log names none."""
    return host or "the host whose log names no host"


def when(ts: datetime | None, host: str | None = None) -> str:
    if not ts:
        return "?"
    if _clock.zone is None:
        return ts.strftime("%Y-%m-%d %H:%M:%S")
    local = _clock.local(ts, host)
    return f"{local:%Y-%m-%d %H:%M:%S} {zone_label(local)}"


def age(td: timedelta) -> str:
    s = int(td.total_seconds())
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def duration(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 1:
        return f"{s:.2f}s"
    return age(timedelta(seconds=s)) if s >= 120 else f"{s:.1f}s"


def ndr_sentence(ndr: dict[str, Any] | None) -> str:
    if ndr is None:
        return "; no bounce notification to the sender is logged"
    if ndr.get("delivered") is True:
        return f"; the bounce notification {ndr['queue_id']} reached the sender"
    if ndr.get("delivered") is False:
        return f"; the bounce notification {ndr['queue_id']} ALSO FAILED: the sender was never told"
    return f"; a bounce notification {ndr['queue_id']} was created, its delivery is not in the logs given"


def open_note(lc: Lifecycle) -> str:
    return " (still in the queue when the log ends)" if lc.still_queued else ""


@dataclass(frozen=True)
class Scene:
    """What a sentence may read: the lifecycle, its facts, the verdict so far and the deciding event."""

    lc: Lifecycle
    facts: Facts
    v: RecipientVerdict
    e: Event  # the deciding event (for NO_ATTEMPT: unused)
    log_end: datetime | None


def _still_queued(s: Scene) -> str:
    defers = s.facts.defers
    since = f", {age(s.log_end - defers[-1].ts)} before the log ends" if s.log_end and defers[-1].ts else ""
    return (f"still in the queue on {_host(s.lc.host)} when the log ends: {len(defers)} deferred attempt(s) "
            f"from {when(defers[0].ts, defers[0].host)} to {when(defers[-1].ts, defers[-1].host)}{since}; last reason: {s.v.reply or 'unknown'}")


def _returned(s: Scene) -> str:
    e = s.e
    return (f"bounced at {_host(s.lc.host)} ({s.lc.queue_id}) at {when(e.ts, e.host)} with {e.dsn or 'no DSN'}: "
            f"{e.reply_text or ''}".rstrip(": ") + ndr_sentence(s.v.ndr))


def _reason(e: Event) -> str:
    """What the client was told (the reply), else the line's own detail."""
    return e.reply_text or e.detail or ""


def _filter_discard(s: Scene) -> str:
    e = s.e
    fid = f" (the filter's ID {e.detail})" if e.detail else ""
    return (f"discarded by content filter {relay_text(e)} at {when(e.ts, e.host)} on {_host(s.lc.host)}: it answered "
            f"\"{e.reply_text}\"{fid} and dropped the message; the 2xx is not a delivery" + filter_verdict(s.lc, s.v.recipient))


def _blocked(s: Scene, what: str = "blocked") -> str:
    e = s.e
    return (f"{what} by content filter {relay_text(e)} at {when(e.ts, e.host)} on {_host(s.lc.host)}: it took the message with "
            f"\"{e.reply_text}\" but passed on no copy for this recipient" + filter_verdict(s.lc, s.v.recipient))


def _quarantined(s: Scene) -> str:
    if s.e.kind == EventKind.DELIVER:
        return _blocked(s, "quarantined")
    return _filter_discard(s).replace("discarded by content filter", "quarantined by content filter", 1)


def filter_verdict(lc: Lifecycle, rcpt: str) -> str:
    """The content filter's own verdict line for ``rcpt`` in ``lc`` (Tag.FILTER_VERDICT), as a clause."""
    for f in reversed(lc.events):
        if has_tag(f, Tag.FILTER_VERDICT) and f.status and filter_names(f, rcpt):
            q = (f"; quarantined as {f.reply_text}" if f.reply_text and not f.reply_text.startswith("[")
                 else f" {f.reply_text}" if f.reply_text else "")
            return f"; {f.program or 'the filter'} logged: {f.status} {f.detail or ''}".rstrip() + q
    return ""


def _mailbox(s: Scene) -> str | None:
    """The sentence for a save into a mailbox folder (Tag.MAILBOX: ``detail`` is the folder)."""
    e = s.e
    if e.kind != EventKind.DELIVER or not has_tag(e, Tag.MAILBOX) or not e.detail:
        return None
    how = "by Sieve " if (e.status or "") in ("fileinto", "keep") else ""
    where = f"{e.program or 'the mailbox server'} on {_host(s.lc.host)}" if s.lc.host else (e.program or "the mailbox server")
    text = f"saved {how}into the mailbox folder '{e.detail}' by {where} at {when(e.ts, e.host)}"
    if is_junk(e.detail):
        return "delivered, but into the junk folder: " + text
    return text


def _hold_reason(e: Event) -> str:
    """Why a message was held: the check that matched (without the envelope the line repeats)
    and the text it logged, else the program that held it."""
    what = (e.detail or "").split("; from=<", 1)[0]
    return ": ".join(x for x in (what, e.reply_text) if x) or (e.program or "")


def _held_then_deleted(s: Scene) -> str:
    h = s.facts.held
    assert h is not None
    why = f" ({_hold_reason(h)})"
    return (f"placed on hold at {when(h.ts, h.host)} on {_host(s.lc.host)}{why}, then deleted by an administrator "
            f"(postsuper -d) at {when(s.e.ts, s.e.host)}; it was never delivered")


def _requeued(s: Scene) -> str:
    tried = (f" after {len(s.facts.defers)} deferred attempt(s); last reason: {s.v.reply}" if s.facts.defers else "")
    return (f"re-queued by an administrator (postsuper -r) at {when(s.e.ts, s.e.host)} on {_host(s.lc.host)}{tried}; "
            "the re-injected message (its new queue ID) is not in the logs given")


#: Case → sentence
SENTENCES: dict[Case, Callable[[Scene], str]] = {
    Case.FORWARDED: lambda s: (f"forwarded by {s.e.relay_host or 'local'} delivery at {when(s.e.ts, s.e.host)} as a new message "
                               f"{s.e.next_queue_id} on {_host(s.lc.host)}; that message's lines are not in the logs given"),
    Case.RELAYED_WITH_ID: lambda s: (f"relayed to {s.e.next_host or relay_text(s.e)} at {when(s.e.ts, s.e.host)}: the next hop accepted it as "
                                     f"{s.e.next_queue_id} ({s.e.reply_text}); give that host's log to follow it further"),
    Case.DELIVERED: lambda s: _mailbox(s) or f"delivered at {when(s.e.ts, s.e.host)} by {s.e.relay_host or s.e.program} on {_host(s.lc.host)}" + (
        f" after {duration(s.e.delay_s)}" if s.e.delay_s else "") + (f": {s.e.reply_text}" if s.e.reply_text else ""),
    Case.RELAYED_NO_ID: lambda s: (f"accepted by {relay_text(s.e)} at {when(s.e.ts, s.e.host)} ({s.e.reply_text or 'no reply text'}); "
                                   "the reply names no queue ID to follow"),
    Case.BOUNCED: _returned,
    Case.EXPIRED: _returned,
    Case.DISCARDED_BY_FILTER: _filter_discard,
    Case.REDIRECTED_BY_SIEVE: lambda s: (f"redirected by the recipient's own Sieve filter ({s.e.detail}) at {when(s.e.ts, s.e.host)} by "
                                         f"{s.e.program or 'the mailbox server'}" + (f" on {_host(s.lc.host)}" if s.lc.host else "")
                                         + "; the copy re-entered the MTA as a new message with the same Message-ID"),
    Case.DISCARDED_BY_SIEVE: lambda s: (f"discarded by the recipient's own Sieve filter at {when(s.e.ts, s.e.host)} by "
                                        f"{s.e.program or 'the mailbox server'}" + (f" on {_host(s.lc.host)}" if s.lc.host else "")
                                        + "; it was accepted but never filed into a folder"),
    Case.DISCARDED: lambda s: (f"discarded at {_host(s.lc.host)} at {when(s.e.ts, s.e.host)}: {s.e.reply_text or s.e.detail or ''}"
                               + filter_verdict(s.lc, s.v.recipient)),
    Case.REJECTED: lambda s: (f"rejected at SMTP time by {_host(s.lc.host)} at {when(s.e.ts, s.e.host)}: {_reason(s.e)}; "
                              "the client was told, nothing was accepted for this recipient" + filter_verdict(s.lc, s.v.recipient)),
    Case.EXPIRED_IN_QUEUE: lambda s: (f"expired at {_host(s.lc.host)} at {when(s.e.ts, s.e.host)} after {len(s.facts.defers)} deferred attempt(s) and "
                                      f"was returned to the sender; last reason: {s.v.reply or 'unknown'}" + ndr_sentence(s.v.ndr)),
    Case.HELD_THEN_DELETED: _held_then_deleted,
    Case.DELETED: lambda s: f"deleted from the queue by an administrator (postsuper -d) at {when(s.e.ts, s.e.host)} on {_host(s.lc.host)}" + (
        f" after {len(s.facts.defers)} deferred attempt(s); last reason: {s.v.reply}" if s.facts.defers else ""),
    Case.HELD: lambda s: f"placed on hold at {when(s.e.ts, s.e.host)} on {_host(s.lc.host)} ({_hold_reason(s.e)})",
    Case.DISCARDED_IN_QUEUE: lambda s: (f"discarded at {when(s.e.ts, s.e.host)} on {_host(s.lc.host)}: {s.e.detail or ''}"
                                        + filter_verdict(s.lc, s.v.recipient)),
    Case.QUARANTINED: _quarantined,
    Case.BLOCKED_BY_FILTER: _blocked,
    Case.DELIVERED_TO_JUNK: lambda s: _mailbox(s) or "",
    Case.REJECTED_AFTER_QUEUE: lambda s: (f"rejected at SMTP time (end of data) by {s.e.program} on {_host(s.lc.host)} at {when(s.e.ts, s.e.host)}: "
                                          f"{_reason(s.e)}; the client was told, nothing was accepted" + filter_verdict(s.lc, s.v.recipient)),
    Case.REQUEUED: _requeued,
    Case.STILL_QUEUED: _still_queued,
    Case.NO_ATTEMPT: lambda s: f"no delivery attempt for this recipient is logged on {_host(s.lc.host)}" + open_note(s.lc),
}


def summary(case: Case, lc: Lifecycle, facts: Facts, v: RecipientVerdict, e: Event | None, log_end: datetime | None) -> str:
    """The sentence for ``case`` (see :data:`SENTENCES`)."""
    return SENTENCES[case](Scene(lc, facts, v, e, log_end))  # type: ignore[arg-type]


def then_prefix(lc: Lifecycle, link: Link, final: Event, new_rcpt: str | None = None) -> str:
    """How a hop handed the message on, before what happened next: ``"… ; then "``.
    ``new_rcpt``: the address the hop forwarded it to (an alias), when not the one followed."""
    hop = HOP_PHRASES.get(link.how, "handed it to")
    to = f" as {new_rcpt}" if new_rcpt else ""
    if link.how == "content-filter" and final.recipient:
        said = filter_verdict(lc, final.recipient)  # amavis' "Passed CLEAN {RelayedInbound}" when its line is given
        if said:
            return (f"{lc.host} {hop} {link.dst.host}{to}, which accepted it as {link.dst.queue_id} "
                    f"({final.reply_text or final.status}) at {when(final.ts, final.host)}{said}; then ")
    if link.how == "mailbox":
        return (f"{lc.host} delivered it to the mailbox server ({final.relay_host or final.program}, session "
                f"{link.dst.queue_id}) at {when(final.ts, final.host)}, which answered {final.reply_text or final.status}; then ")
    return (f"{lc.host} {hop} {link.dst.host}{to}, which accepted it as {link.dst.queue_id} "
            f"({final.reply_text or final.status}) at {when(final.ts, final.host)}; then ")


def redirected_prefix(lc: Lifecycle, link: Link) -> str:
    """The recipient's Sieve ``redirect`` (``link.via``), before what became of the copy it submitted."""
    e = link.via
    assert e is not None
    return (f"redirected by the recipient's own Sieve filter ({e.detail}) at {when(e.ts, e.host)} by "
            f"{e.program or 'the mailbox server'}" + (f" on {_host(lc.host)}" if lc.host else "")
            + f"; the copy re-entered the MTA as {link.dst.queue_id} on {_host(link.dst.host)} (same Message-ID); then ")


def requeued_prefix(lc: Lifecycle, link: Link) -> str:
    """An administrator re-injected the message under a new queue ID, before what happened next."""
    at = f" at {when(link.via.ts, link.via.host)}" if link.via is not None else ""
    return f"re-queued by an administrator (postsuper -r) on {lc.host} and re-injected as {link.dst.queue_id}{at}; then "


def discarded_before_queueing(e: Event) -> str:
    """An SMTP-time discard: the client was told 250, the message was dropped."""
    return (f"discarded at SMTP time by {e.host} at {when(e.ts, e.host)} ({e.detail or 'SMTP'} from {e.client_host}"
            f"[{e.client_ip}]): {e.reply_text or ''}; the client got a 2xx, the message never got a queue ID")


def handed_without_attempt(link: Link, rcpt: str) -> str:
    """The next hop accepted the message but logs no attempt for this recipient."""
    return (f"handed to {link.dst.host} as {link.dst.queue_id} ({link.how}); no delivery attempt for "
            f"{rcpt} is logged there" + open_note(link.dst))


def rejected_before_queueing(e: Event) -> str:
    """An SMTP-time reject: the message never got a queue ID."""
    return (f"rejected at SMTP time by {e.host} at {when(e.ts, e.host)} ({e.detail or 'SMTP'} from {e.client_host}"
            f"[{e.client_ip}]): {e.reply_text or e.detail or ''}; the client was told, the message never got a queue ID")

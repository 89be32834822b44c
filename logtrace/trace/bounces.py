"""``bounces``: messages some hop accepted that then were not delivered to every recipient.

The batch form of ``follow``. Polars finds the few queue IDs with a problem (a bounce,
expiry, deferral without removal, admin delete/hold, discard, reject, or acceptance with no
trace after it) and every ID linked to them (the upstream hops that relayed into them, NDRs;
no cap); only those lifecycles become Python events for the
:class:`~logtrace.trace.correlator.Correlator`, which gives the same verdicts as ``follow``.

Categories (:data:`CATEGORIES`), one per failed recipient:

* ``bounced``, ``expired``, ``discarded`` — failures after acceptance; with
  ``notification-failed`` (the bounce notification to the sender also failed) they are the
  default of ``--fail-on`` (:data:`DEFAULT_FAIL_ON`);
* ``deleted``, ``held`` — by an administrator or a rule;
* ``deferred`` — only deferrals, still queued when the log ends;
* ``in-flight`` — accepted, no attempt logged, and the message's last line is less than
  ``lost_after`` before the end of its host's log;
* ``lost`` — accepted, no attempt logged, and its host's log goes on for at least ``lost_after``;
* ``rejected`` — refused at SMTP time after the queue file was opened (``QID: reject: RCPT``,
  header/body checks, milter ``END-OF-MESSAGE``): the client got a 5xx, so nothing was accepted.
  Left out unless ``include_rejected``.

The last mile ("accepted, and it never reached the inbox"):

* ``quarantined`` — a content filter dropped it into its quarantine (amavis' own line names the
  quarantine ID; without amavis' lines the same message is ``discarded``); a default failure;
* ``discarded-by-sieve`` — the recipient's own Sieve rule discarded it at the mailbox server;
  listed, not a failure unless ``--fail-on`` names it;
* ``junk`` — saved into a junk folder (:func:`logtrace.trace.verdicts.is_junk`; the names are
  ``junk_folders``): delivered, so listed only with ``include_junk`` and a failure only when
  ``--fail-on`` names it. The decision is the decision table's (``Case.DELIVERED_TO_JUNK``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from logtrace.errors import Diagnostic, LogtraceError
from logtrace.parsing.rules import ParseOptions
from logtrace.parsing.scan import ScanResult
from logtrace.parsing.tags import Tag, has_tag
from logtrace.trace.candidates import PROBLEM_KINDS  # noqa: F401 - re-exported
from logtrace.trace.candidates import SESSION_KEYS, read_candidates, select_candidates
from logtrace.trace.correlator import Correlator
from logtrace.trace.follow import linked_ids, rows_to_events, story_to_json
from logtrace.trace.verdicts import NOT_DELIVERED, RETURNED, Case, MessageStory, Verdict

IN_FLIGHT = "in-flight"
LOST = "lost"
NOTIFICATION_FAILED = "notification-failed"
JUNK = "junk"
#: verdicts of recipients refused at SMTP time (the client was told): not "accepted, then failed"
SMTP_TIME = frozenset({str(Verdict.REJECTED)})
#: every value of ``--fail-on``: the recipients' categories, plus ``notification-failed``
CATEGORIES: tuple[str, ...] = tuple(sorted(str(v) for v in NOT_DELIVERED if v is not Verdict.UNKNOWN)) + (
    IN_FLIGHT, LOST, NOTIFICATION_FAILED, JUNK)
#: failures after acceptance: what makes ``bounces`` exit 4 unless ``--fail-on`` says otherwise
DEFAULT_FAIL_ON = frozenset({str(Verdict.BOUNCED), str(Verdict.EXPIRED), str(Verdict.DISCARDED), str(Verdict.QUARANTINED),
                             NOTIFICATION_FAILED})
DEFAULT_LOST_AFTER = timedelta(hours=1)


@dataclass
class BounceItem:
    story: MessageStory
    failed: list[Any]  # RecipientVerdict objects not delivered
    classes: list[str]
    ndr_problem: bool  # the bounce notification also failed, or none was sent
    categories: list[str] = field(default_factory=list)  # one per ``failed`` recipient

    @property
    def category(self) -> str:
        return self.categories[0] if self.categories else str(self.failed[0].verdict)

    @property
    def notification_failed(self) -> bool:
        """A recipient was returned and the bounce notification to the sender failed too."""
        return any(r.verdict in RETURNED and r.ndr is not None and r.ndr.get("delivered") is False for r in self.failed)

    def fails(self, fail_on: Iterable[str]) -> bool:
        """Does this message match one of the ``--fail-on`` categories?"""
        want = set(fail_on)
        return bool(want & set(self.categories)) or (NOTIFICATION_FAILED in want and self.notification_failed)


@dataclass
class BouncesResult:
    items: list[BounceItem]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    failed_inputs: int = 0
    accounting: Any = None
    log_end: datetime | None = None
    linked_ids: int = 0  #: queue IDs followed: the problem IDs and every ID linked to them (no cap)

    def failing(self, fail_on: Iterable[str] = DEFAULT_FAIL_ON) -> list[BounceItem]:
        """The items that make ``bounces`` exit 4 for these ``--fail-on`` categories."""
        fail_on = frozenset(fail_on)
        return [it for it in self.items if it.fails(fail_on)]


def parse_fail_on(value: str | None) -> frozenset[str]:
    """``--fail-on bounced,expired`` → the set of categories; an unknown name is a usage error.
    ``None`` gives :data:`DEFAULT_FAIL_ON`; ``none`` (alone) never fails."""
    if value is None:
        return DEFAULT_FAIL_ON
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    if names == ["none"]:
        return frozenset()
    bad = [n for n in names if n not in CATEGORIES]
    if bad or not names:
        raise LogtraceError(f"--fail-on: unknown category {', '.join(repr(b) for b in bad) or repr(value)}",
                            hint=f"use a comma-separated list of: {', '.join(CATEGORIES)} (or none)")
    return frozenset(names)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])", re.I)


def parse_duration(value: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``2d``, ``1h30m`` or plain seconds → a timedelta (usage error if not)."""
    v = value.strip()
    try:
        return timedelta(seconds=float(v))
    except ValueError:
        pass
    if v and not _DURATION.sub("", v):
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        return timedelta(seconds=sum(float(n) * units[u.lower()] for n, u in _DURATION.findall(v)))
    raise LogtraceError(f"--lost-after: '{value}' is not a duration", hint="write e.g. 90s, 30m, 1h, 2d or 1h30m")


def find_bounces(paths: Sequence[str], *, mta: str = "auto", options: ParseOptions | None = None,
                 where: str | None = None, include_rejected: bool = False,
                 lost_after: timedelta = DEFAULT_LOST_AFTER, include_junk: bool = False,
                 junk_folders: Sequence[str] | None = None) -> BouncesResult:
    """Every message accepted by some hop and not delivered to every recipient (see the module doc);
    with ``include_junk`` also those saved into a junk folder (``junk_folders``: the names, else
    :data:`~logtrace.trace.verdicts.JUNK_FOLDERS`)."""
    from logtrace.trace.verdicts import junk_folders as junk_names

    with junk_names(junk_folders):
        from logtrace.trace import verdicts

        junk = verdicts.current_junk_folders() if include_junk else None
        return _find(paths, mta, options, where, include_rejected, lost_after, junk)


def _find(paths: Sequence[str], mta: str, options: ParseOptions | None, where: str | None, include_rejected: bool,
          lost_after: timedelta, junk: frozenset[str] | None) -> BouncesResult:
    if any(p == "-" for p in paths):  # standard input is read twice from a temporary copy, as a file is
        from logtrace.input.reader import stdin_spooled

        with stdin_spooled():
            return _two_passes(paths, mta, options, where, include_rejected, lost_after, junk)
    return _two_passes(paths, mta, options, where, include_rejected, lost_after, junk)


def _two_passes(paths: Sequence[str], mta: str, options: ParseOptions | None, where: str | None, include_rejected: bool,
                lost_after: timedelta, junk: frozenset[str] | None) -> BouncesResult:
    """A narrow fold picks the messages, a second read parses only their lines (:mod:`.candidates`)."""
    scan = ScanResult()
    sel = select_candidates(paths, mta=mta, options=options, result=scan, include_rejected=include_rejected, junk=junk)
    acc, host_end, log_end = sel.accounting, sel.host_end, sel.log_end
    if sel.per is None:
        return BouncesResult([], scan.diagnostics, scan.failed_inputs, acc, log_end)
    seeds, ids = _seeds_and_links(sel, include_rejected)
    sel.per = sel.pairs = sel.accepts = None  # pass 1's tables (8M lines: ~30 MB) make room for pass 2's events
    if not seeds:
        return BouncesResult([], scan.diagnostics, scan.failed_inputs, acc, log_end)
    events, accepted, scoped = read_candidates(paths, ids, sel.scoped_lines, mta=mta, options=options)
    if scoped.height:  # only the session rejects of sessions that accepted one of these messages
        events += rows_to_events(scoped.join(accepted, on=SESSION_KEYS, how="semi", nulls_equal=True))
    corr = Correlator(events, log_end=sel.q_end)
    seed_set = set(seeds)
    roots: dict[int, Any] = {}
    for lc in corr.lifecycles:
        if lc.queue_id in seed_set:
            r = corr.root_of(lc)
            roots.setdefault(id(r), r)
    items: list[BounceItem] = []
    for root in sorted(roots.values(), key=lambda r: (r.start is None, r.start or 0)):  # type: ignore[operator]
        if _mailbox_session_only(root):
            continue  # a mailbox server's session no MTA message links to: its outcome is told by the MTA's delivery line
        story = corr.story(root, root.queue_id)
        if corr.is_ndr(root):
            continue  # a bounce notification is reported with its original message
        failed = [r for r in story.recipients if (r.verdict in NOT_DELIVERED and (include_rejected or str(r.verdict) not in SMTP_TIME))
                  or (junk is not None and r.case is Case.DELIVERED_TO_JUNK)]
        if not failed:
            continue
        ndr_problem = any(r.verdict in RETURNED and (r.ndr is None or r.ndr.get("delivered") is False) for r in failed)
        cats = [_category(story, r, host_end, log_end, lost_after) for r in failed]
        items.append(BounceItem(story, failed, [], ndr_problem, cats))
    _classify(items)
    if where:
        items = _where(items, where)
    return BouncesResult(items, scan.diagnostics, scan.failed_inputs, acc, log_end, len(ids))


def _seeds_and_links(sel: Any, include_rejected: bool) -> tuple[list[str], set[str]]:
    """Pass 1's picks: the queue IDs with a problem (or accepted with no attempt; with ``include_rejected``
    also those whose session logged a reject), and every ID linked to them."""
    import polars as pl

    seeds = (sel.per.filter(pl.col("problem") | (pl.col("started") & ~pl.col("attempts")))
             .get_column("queue_id").unique().to_list())
    if include_rejected and sel.accepts is not None and sel.accepts.height:
        seeds += sel.accepts.get_column("queue_id").unique().to_list()
    return seeds, (linked_ids(set(seeds), sel.pairs) if seeds else set())


def _mailbox_session_only(lc: Any) -> bool:
    """A lifecycle made only of a mailbox server's lines (Dovecot's LMTP session: ``save failed``
    for a quota reject, which the MTA logged as its own deferral or bounce and whose reply names
    no session id to link by)."""
    from logtrace.events import EventKind

    quiet = (EventKind.CONNECT, EventKind.DISCONNECT, EventKind.OTHER)
    return any(has_tag(e, Tag.MAILBOX) for e in lc.events) and all(has_tag(e, Tag.MAILBOX) or e.kind in quiet for e in lc.events)


def _category(story: MessageStory, r: Any, host_end: dict[str | None, datetime], log_end: datetime | None,
              lost_after: timedelta) -> str:
    """The recipient's category: its verdict, except that "no attempt logged" is ``in-flight``
    while its host's log ends less than ``lost_after`` after the lifecycle's last line, else ``lost``."""
    if r.case is Case.DELIVERED_TO_JUNK:
        return JUNK
    if r.verdict != Verdict.UNKNOWN:
        return str(r.verdict)
    lc = next((lc for lc, _, _ in story.chain if lc.host == r.host and lc.queue_id == r.queue_id), story.origin)
    last = lc.end or max((c.end for c, _, _ in story.chain if c.end), default=None)
    end = host_end.get(lc.host, log_end)
    if last is None or end is None:
        return LOST
    return IN_FLIGHT if end - last < lost_after else LOST


def _classify(items: list[BounceItem]) -> None:
    import polars as pl

    from logtrace.reports.summary import classify_reason

    rows = [(r.dsn, r.reply) for it in items for r in it.failed]
    if not rows:
        return
    df = pl.DataFrame(rows, schema={"dsn": pl.String, "reply": pl.String}, orient="row")
    classes = df.select(classify_reason(pl.col("dsn"), pl.col("reply")).alias("c")).get_column("c").to_list()
    i = 0
    for it in items:
        it.classes = classes[i : i + len(it.failed)]
        i += len(it.failed)


#: ``--where`` fields of ``bounces``' own output, besides the event schema's (text)
OUTPUT_FIELDS = ("category", "class")


def bounce_rows(it: BounceItem) -> list[dict[str, Any]]:
    """One event-like dict per recipient (:func:`~logtrace.trace.follow.story_rows`) plus the
    failed recipients' ``category`` and ``class`` (null for the others)."""
    from logtrace.trace.follow import story_rows

    cat = {r.recipient: c for r, c in zip(it.failed, it.categories)}
    cls = {r.recipient: c for r, c in zip(it.failed, it.classes)}
    return [dict(row, category=cat.get(row["recipient"]), **{"class": cls.get(row["recipient"])})
            for row in story_rows(it.story)]


def _where(items: list[BounceItem], expr: str) -> list[BounceItem]:
    """Keep items with a recipient row (:func:`bounce_rows`) matching ``--where``."""
    from logtrace.query import evaluate
    from logtrace.query.lower import compile_ir

    compile_ir(expr, OUTPUT_FIELDS)  # syntax errors surface even when nothing is found
    return [it for it in items if any(evaluate(expr, row, OUTPUT_FIELDS) for row in bounce_rows(it))]


#: how long a key stays in a ``--state`` file after the last run whose input still showed it
STATE_RETENTION = timedelta(days=30)
STATE_VERSION = 1


def item_keys(it: BounceItem) -> list[tuple[str, str, str, str]]:
    """The ``--state`` key of each failed recipient: (host, queue ID, recipient, category)."""
    return [(r.host or "", r.queue_id or "", r.recipient.lower(), c) for r, c in zip(it.failed, it.categories)]


def load_state(path: str) -> dict[tuple[str, str, str, str], str]:
    """A ``--state`` file → {key: when last seen (ISO)}; a missing file is an empty state
    (the first run reports everything); an unreadable one is an error with a hint."""
    import json
    import os

    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"unknown version {doc.get('version')!r}")
        return {(str(h), str(q), str(r), str(c)): str(seen) for h, q, r, c, seen in doc["reported"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise LogtraceError(f"--state {path}: not a bounces state file ({type(e).__name__}: {str(e)[:200]})",
                            hint="remove it to start afresh (the next run then reports every current failure)") from None


def save_state(path: str, state: dict[tuple[str, str, str, str], str]) -> None:
    """Write ``state`` atomically (:func:`logtrace.statefile.write_json_atomic`)."""
    from logtrace.statefile import write_json_atomic

    write_json_atomic(path, {"version": STATE_VERSION, "reported": [[*k, seen] for k, seen in sorted(state.items())]}, indent=0)


def only_new(items: list[BounceItem], state: dict[tuple[str, str, str, str], str],
             now: datetime) -> tuple[list[BounceItem], dict[tuple[str, str, str, str], str]]:
    """The items (reduced to their failed recipients) not reported by an earlier run, and the
    state to save: every key of this run, plus earlier keys seen within :data:`STATE_RETENTION`."""
    stamp = now.isoformat()
    out: list[BounceItem] = []
    new_state = {k: seen for k, seen in state.items() if _recent(seen, now)}
    for it in items:
        keep = [i for i, k in enumerate(item_keys(it)) if k not in state]
        for k in item_keys(it):
            new_state[k] = stamp
        if keep:
            out.append(BounceItem(it.story, [it.failed[i] for i in keep], [it.classes[i] for i in keep if i < len(it.classes)],
                                  it.ndr_problem, [it.categories[i] for i in keep]))
    return out, new_state


def _recent(seen: str, now: datetime) -> bool:
    try:
        return now - datetime.fromisoformat(seen) < STATE_RETENTION
    except (ValueError, TypeError):
        return False


def group_key(it: BounceItem, by: str) -> str:
    r = it.failed[0]
    if by == "domain":
        return r.recipient.rpartition("@")[2].lower() or "(none)"
    if by == "relay":
        return (r.relay or r.host or "(none)").lower()
    if by == "sender":
        return it.story.origin.sender or "<>"
    return f"{it.category}: {it.classes[0] if it.classes else 'other'}"


def item_to_json(it: BounceItem) -> dict[str, Any]:
    d = story_to_json(it.story)
    d["category"] = it.category
    d["ndr_problem"] = it.ndr_problem
    by_rcpt = {r.recipient: c for r, c in zip(it.failed, it.classes)}
    cat = {r.recipient: c for r, c in zip(it.failed, it.categories)}
    for r in d["recipients"]:
        r["class"] = by_rcpt.get(r["recipient"])
        r["category"] = cat.get(r["recipient"])
    return d

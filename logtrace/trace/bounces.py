"""``bounces``: messages some hop accepted that then were not delivered to every recipient.

The batch form of ``follow``. Polars finds the few queue IDs with a problem (a bounce,
expiry, deferral without removal, admin delete/hold, discard, or acceptance with no trace
after it) and the IDs linked to them (the upstream hops that relayed into them, NDRs);
only those lifecycles become Python events for the :class:`~logtrace.trace.correlator.Correlator`,
which gives the same verdicts as ``follow``.

Categories: ``bounced`` (same host or a later hop), ``expired``, ``deferred`` (still queued
when the log ends), ``deleted``, ``held``, ``discarded``, ``rejected`` (after queueing, by
cleanup/milter), ``lost`` (accepted, then no further trace in the logs given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from logtrace.errors import Diagnostic
from logtrace.parsing.rules import ParseOptions
from logtrace.parsing.scan import ScanResult, accounting, scan_frames
from logtrace.trace.correlator import Correlator
from logtrace.trace.follow import linked_ids, rows_to_events, story_to_json
from logtrace.trace.verdicts import NOT_DELIVERED, RETURNED, MessageStory, Verdict

PROBLEM_KINDS = ("bounce", "expire", "defer", "delete", "hold", "discard", "reject")
#: verdict → category (``unknown`` after acceptance means the message was lost from the logs)
CATEGORY = {v: ("lost" if v is Verdict.UNKNOWN else str(v)) for v in NOT_DELIVERED}


@dataclass
class BounceItem:
    story: MessageStory
    failed: list[Any]  # RecipientVerdict objects not delivered
    classes: list[str]
    ndr_problem: bool  # the bounce notification also failed, or none was sent

    @property
    def category(self) -> str:
        return CATEGORY.get(self.failed[0].verdict, self.failed[0].verdict)


@dataclass
class BouncesResult:
    items: list[BounceItem]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    failed_inputs: int = 0
    accounting: Any = None


def find_bounces(paths: Sequence[str], *, mta: str = "auto", options: ParseOptions | None = None,
                 where: str | None = None) -> BouncesResult:
    import polars as pl

    scan = ScanResult()
    keep: list[Any] = []
    acc_parts: list[Any] = []
    for df in scan_frames(paths, mta=mta, options=options, result=scan, keep_going=True):
        acc_parts.append(accounting(df))
        keep.append(df.filter(pl.col("queue_id").is_not_null()))
    acc = (pl.concat(acc_parts).group_by("program").agg(pl.all().sum()).sort("unrecognized", "parsed", descending=True)
           if acc_parts else None)
    if not keep:
        return BouncesResult([], scan.diagnostics, scan.failed_inputs, acc)
    ev = pl.concat(keep, how="vertical_relaxed")
    per = ev.group_by("host", "queue_id").agg(
        problem=pl.col("kind").is_in(PROBLEM_KINDS).any(),
        delivered=(pl.col("kind") == "deliver").any(),
        removed=pl.col("kind").is_in(["remove", "delete"]).any(),
        started=pl.col("kind").is_in(["accept", "queued"]).any(),
        attempts=pl.col("kind").is_in(["deliver", "defer", "bounce", "expire", "discard"]).any(),
    )
    seeds = per.filter(pl.col("problem") | (pl.col("started") & ~pl.col("attempts"))).get_column("queue_id").unique().to_list()
    if not seeds:
        return BouncesResult([], scan.diagnostics, scan.failed_inputs, acc)
    pairs = ev.filter(pl.col("next_queue_id").is_not_null()).select("queue_id", "next_queue_id").unique().rows()
    ids = linked_ids(set(seeds), pairs)
    sub = ev.filter(pl.col("queue_id").is_in(list(ids)))
    events = rows_to_events(sub)
    corr = Correlator(events, log_end=ev.get_column("ts").max())
    seed_set = set(seeds)
    roots: dict[int, Any] = {}
    for lc in corr.lifecycles:
        if lc.queue_id in seed_set:
            r = corr.root_of(lc)
            roots.setdefault(id(r), r)
    items: list[BounceItem] = []
    for root in sorted(roots.values(), key=lambda r: (r.start is None, r.start or 0)):  # type: ignore[operator]
        story = corr.story(root, root.queue_id)
        if corr.is_ndr(root):
            continue  # a bounce notification is reported with its original message
        failed = [r for r in story.recipients if r.verdict in NOT_DELIVERED]
        if not failed:
            continue
        ndr_problem = any(r.verdict in RETURNED and (r.ndr is None or r.ndr.get("delivered") is False) for r in failed)
        items.append(BounceItem(story, failed, [], ndr_problem))
    _classify(items)
    if where:
        items = _where(items, where)
    return BouncesResult(items, scan.diagnostics, scan.failed_inputs, acc)


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


def _where(items: list[BounceItem], expr: str) -> list[BounceItem]:
    """Keep items whose story has a recipient row matching ``--where`` (see follow.story_rows)."""
    from logtrace.trace.follow import filter_stories

    keep = {id(s) for s in filter_stories([it.story for it in items], expr)}
    return [it for it in items if id(it.story) in keep]


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
    for r in d["recipients"]:
        r["class"] = by_rcpt.get(r["recipient"])
    return d

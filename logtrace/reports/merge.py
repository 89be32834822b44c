"""Merging ``summary --format json`` documents (weekly and monthly reports without re-reading logs).

Each document of schema :data:`~logtrace.reports.document.SCHEMA` carries a ``state``: the
summary fold's full per-key counters (senders, recipients, domains, relays, clients, reasons
with their queue IDs, days, hours, warnings, postscreen, SMTP failures), the delay histograms
with fixed buckets (:func:`~logtrace.reports.sections.delay_bucket`), the SMTPD connection
aggregate, messages with no size data, the de-duplication adjustments, eximstats' counts and
host sets, its per-transport and relayed-messages counts, and the line accounting. :func:`merge_documents` loads every state into one fold and
finishes it as :func:`~logtrace.reports.summary.summarize` does, so the merged totals, per-day
and per-hour tables, per-key tables (``--top`` applied after merging) and delay percentiles
equal a summary of the logs read together — except for what a message whose lifecycle spans
the boundary between two inputs contributes:

* a message received in one input and delivered in the next has no size in the second
  (pflogsumm's rule: a delivery counts the size of a size line before it), so its bytes are
  missing from ``bytes_delivered`` and it is listed under "no size data" (an Exim message: its
  volume in the transport table is 0 and it is not counted as relayed);
* its received-then-delivered hand-off (content filter, relay to another given host) is not
  matched, so the ``unique`` counts count it twice;
* an SMTPD connection open across the boundary is not counted;
* a message deferred in both inputs counts once in ``deferred`` (queue IDs are unioned),
  as when read together — but an eximstats message delayed in both counts twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from logtrace.errors import LogtraceError


class MergeError(LogtraceError):
    """A document that cannot be merged (not a summary document, no state, different zones)."""


def load_document(path: str) -> dict[str, Any]:
    """A ``summary --format json`` document from ``path`` (``-`` is stdin), checked for a mergeable state."""
    import sys

    from logtrace.reports.document import SCHEMA, STATE_FORMAT

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        doc = json.loads(text)
    except OSError as e:
        raise MergeError(f"{path}: {e.strerror or e}", hint="give the JSON files written by 'logtrace summary --format json'") from None
    except (ValueError, UnicodeDecodeError):
        raise MergeError(f"{path}: not JSON", hint="give the JSON files written by 'logtrace summary --format json'") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else None
        raise MergeError(f"{path}: not a {SCHEMA} document" + (f" (it is {got})" if got else ""),
                         hint="re-run 'logtrace summary --format json' with this version on the logs")
    state = doc.get("state")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise MergeError(f"{path}: the document carries no mergeable state ({STATE_FORMAT})",
                         hint="re-run 'logtrace summary --format json' with this version on the logs")
    return doc


def merge_documents(paths: Sequence[str], *, top: int = 10) -> Any:
    """Merge summary documents into one :class:`~logtrace.reports.summary.Summary` (see the module doc)."""
    return merge(([load_document(p) for p in paths]), top=top, names=list(paths))


def merge(docs: Sequence[dict[str, Any]], *, top: int = 10, names: Sequence[str] | None = None) -> Any:
    """Merge already loaded documents (:func:`load_document`)."""
    import polars as pl

    from logtrace.reports.collect import EXIMSTATS_COUNTING, PFLOGSUMM_COUNTING
    from logtrace.reports.document import STATE_FORMAT
    from logtrace.reports.eximstats import exim_finish
    from logtrace.reports.fold import SummaryFold
    from logtrace.reports.state import table_from_state
    from logtrace.reports.summary import Summary

    if not docs:
        raise MergeError("nothing to merge", hint="give two or more summary JSON files")
    names = list(names or [f"document {i + 1}" for i in range(len(docs))])
    states = [d["state"] for d in docs]
    zones = {(s.get("timezone"), json.dumps(s.get("host_zones") or {}, sort_keys=True)) for s in states}
    if len(zones) > 1:
        raise MergeError("the documents count days and hours in different zones: "
                         + ", ".join(f"{n}: {s.get('timezone')}" for n, s in zip(names, states)),
                         hint="summarize every input with the same --tz (or --utc)")
    tz, host_tz = states[0].get("timezone") or "UTC", dict(states[0].get("host_zones") or {})
    countings = {s.get("counting") for s in states}
    mixed = any(s.get("mixed") for s in states) or len(countings) > 1
    counting = EXIMSTATS_COUNTING if countings == {EXIMSTATS_COUNTING} else PFLOGSUMM_COUNTING
    fold = SummaryFold(tz=tz, host_tz=host_tz, top=top, smtpd_stats=False)
    try:
        for s in states:
            fold.load(s["fold"])
        acc_parts = [table_from_state(s["accounting"]) for s in states if s.get("accounting")]
    except (KeyError, TypeError, ValueError, pl.exceptions.PolarsError) as e:
        raise MergeError(f"a summary state is malformed ({e})", hint="re-run 'logtrace summary --format json' on the logs") from None
    totals = fold.totals(only_non_exim=mixed)
    unique = fold.unique(fold.totals())
    sections, smtpd, counts = fold.sections(exim=counting == EXIMSTATS_COUNTING or mixed)
    exim = [(p[0], p[1]) for s in states if (p := s.get("eximstats"))]
    totals_x: dict[str, int] = {}
    if counting == EXIMSTATS_COUNTING or mixed:
        totals_x = exim_finish(exim)
        if not mixed:
            totals, totals_x = totals_x, {}
    acc = (pl.concat(acc_parts, how="vertical_relaxed").group_by("program").agg(pl.col("parsed", "other", "unrecognized").sum())
           .sort(["unrecognized", "parsed", "other", "program"], descending=[True, True, True, False]) if acc_parts
           else pl.DataFrame(schema={"program": pl.String, "parsed": pl.UInt32, "other": pl.UInt32, "unrecognized": pl.UInt32}))
    period = merged_period([d.get("period") or {} for d in docs], tz, host_tz)
    inputs = [(i.get("path", ""), i.get("parser", "")) for d in docs for i in d.get("inputs") or []]
    state = {"format": STATE_FORMAT, "timezone": tz, "host_zones": host_tz, "counting": counting, "mixed": mixed,
             "fold": fold.state(), "eximstats": merged_exim(exim)}
    return Summary(totals=totals, unique=unique, sections=sections, smtpd=smtpd, accounting=acc, period=period, counts=counts,
                   inputs=inputs, diagnostics=[x for d in docs for x in d.get("diagnostics") or []], top=top, counting=counting,
                   totals_eximstats=totals_x, state=state)


def merged_period(periods: list[dict[str, Any]], tz: str, host_tz: dict[str, str]) -> dict[str, Any]:
    """The union of the documents' periods (first/last and the logs' own span; windows are not kept)."""
    from datetime import datetime

    def times(key: str) -> list[datetime]:
        return [datetime.fromisoformat(p[key]) for p in periods if isinstance(p.get(key), str)]

    out: dict[str, Any] = {}
    for key, pick in (("first", min), ("last", max), ("log_first", min), ("log_last", max)):
        ts = times(key)
        out[key] = pick(ts) if ts else None
    if out["log_first"] is None:
        del out["log_first"], out["log_last"]
    out.update(since=None, until=None, timezone=tz, merged=len(periods))
    if host_tz:
        out["host_zones"] = host_tz
    return out


def merged_exim(parts: list[tuple[dict[str, int], dict[str, list[str]]]]) -> list[Any] | None:
    """eximstats' counts and host sets of several documents as one."""
    if not parts:
        return None
    counts: dict[str, int] = {}
    hosts: dict[str, set[str]] = {}
    for c, h in parts:
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + int(v)
        for k, v in h.items():
            hosts.setdefault(k, set()).update(v)
    return [counts, {k: sorted(v) for k, v in hosts.items()}]

"""Batch summaries of mail logs: a pflogsumm-class report as polars DataFrames and dicts.

:func:`summarize` reads inputs in blocks of :data:`BLOCK_BYTES` through
:func:`logtrace.parsing.scan.scan_frames`, asking the frame engine only for the rows and columns
the report needs (lifecycle events, not headers, TLS or other programs' noise, which are
classified for the line accounting but not extracted), and folds each block into compact state
(:class:`~logtrace.reports.fold.SummaryFold`): memory stays at one block plus messages in flight,
a few dozen bytes per message and the distinct keys. :func:`build` computes the same report
from a whole narrow event frame.
Nothing here prints or imports rich; :mod:`logtrace.cli.render_summary` renders a :class:`Summary`.

Two families of counts, kept apart on purpose:

* ``totals`` follow pflogsumm 1.1.5's counting rules and key names, so the numbers can be
  checked against it (``tests/test_pflogsumm_crosscheck.py``). Like pflogsumm, queue IDs are
  keyed without the host, sizes come from the first ``qmgr from=<…>, size=`` line of a queue
  ID, and a message that passes a content filter is counted twice (pflogsumm FAQ §14).
* ``unique`` de-duplicates: a delivery to loopback (or to another host whose log is also
  given) whose ``next_queue_id`` shows up as a newly received queue ID is one message, so the
  re-injected copy and the hand-off delivery are not counted again.

Known, deliberate differences from pflogsumm (pinned in the cross-check test):

* ``NOQUEUE: client=`` lines are not counted as received (no message was queued);
* multi-instance syslog names (``postfix-out/smtpd``) are counted (pflogsumm skips them).

Exim logs (every event a dialect produced is tagged ``Tag.EXIMSTATS``) get ``totals`` in eximstats' "Grand total
summary" instead (Debian's eximstats 1.61; ``tests/test_eximstats_crosscheck.py``), keys
:data:`EXIM_TOTAL_KEYS`, ``counting`` ``"eximstats"``. eximstats keys its state by message ID
and forgets a message at ``Completed``; logtrace does the same:

* ``received``: ``<=`` lines (every one, a repeated ``<=`` counts again; not ``(=``);
  ``bytes_received``: their ``S=`` (0 when missing); ``received_hosts``: distinct first word
  after ``H=`` (``unknown`` is one host), ``[ip]`` when only an address is logged, ``local``
  without ``H=``;
* ``delayed`` / ``failed``: messages with at least one ``==`` / ``**`` line after their ``<=``
  (so a ``**`` for a message received before the log started is not counted);
* ``delivered``: ``=>`` lines (eximstats' "Messages"); ``delivered_addresses``: ``=>`` plus
  ``->`` lines (further addresses of the same delivery); ``bytes_delivered``: the message's
  ``S=`` once per ``=>`` (0 when its ``<=`` is not in the log); ``delivered_hosts``: distinct
  first word after ``H=`` on ``=>`` lines, ``local`` without one;
* ``rejected`` / ``temp_rejected``: ACL rejections, ``SMTP call … dropped`` and blackholed
  ``=>`` lines (no transport), split by eximstats' text rules (only ``temporarily rejected
  <VERB> …: reason`` is temporary; ``temporarily rejected after DATA`` and ``too many
  recipients`` are plain rejects); ``*_hosts``: distinct client IPs (``local`` without one);
* ``ham`` / ``spam`` (+ ``*_hosts``): SA-Exim ``SA: Action:`` lines.

Exim inputs also get eximstats' "Deliveries by transport" and "Relayed messages" as the sections
``exim_transports`` and ``exim_relayed`` (:func:`~logtrace.reports.eximstats.exim_tables`; the
same cross-check in ``tests/test_report_exim_tables.py``).

Deliberate differences from eximstats: a line that is not an ACL decision but happens to say
"rejected", "refused" or "dropped" (``H=host [ip] Connection refused``) is not a reject;
``>>`` (cutthrough) deliveries are deliveries (eximstats 1.61 skips them and cannot read 4.97+
long message IDs). The parser does not keep the ``=>``/``->``/``>>`` flag: a delivery is taken
as a ``->`` when the previous delivery of the same message was at the same second, by the same
process, to the same host and IP with the same ``C=`` confirmation; a ``H=(helo) [ip]`` client
counts as ``[ip]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from logtrace.reports.collect import EXIMSTATS_COUNTING, PFLOGSUMM_COUNTING, collect_events
from logtrace.reports.document import SCHEMA, STATE_FORMAT, TOTALS_NOTES, UNIQUE_NOTE, to_document
from logtrace.reports.eximstats import EXIM_TOTAL_KEYS, exim_finish, exim_tables, exim_tables_finish, exim_totals
from logtrace.reports.pflogsumm import (TOTAL_KEYS, UNIQUE_KEYS, deliveries, derive, gimme_domain, grand_totals,
                                        received_msgs, sizes, unique_counts)
from logtrace.reports.reasons import REASON_CLASSES, classify_reason, enhanced_code, normalize_reason
from logtrace.reports.sections import build_sections

__all__ = [
    "EXIM_TOTAL_KEYS", "REASON_CLASSES", "SCHEMA", "TOTALS_NOTES", "TOTAL_KEYS", "UNIQUE_KEYS", "UNIQUE_NOTE", "Summary",
    "build", "classify_reason", "collect_events", "enhanced_code", "exim_totals", "gimme_domain", "normalize_reason",
    "parse_time_spec", "summarize", "to_document",
]

log = logging.getLogger(__name__)

#: bytes of log read per block of the summary fold (state carried across blocks keeps memory flat). Two
#: blocks are in work at once (one parsed, one folded). Measured on 8M generated lines with the CLI's
#: allocator settings: 14 MiB blocks 19.8-20.1 s and 575-578 MiB peak, 12 MiB the same time and
#: 530 MiB (1M lines: +2% time, 441 -> 405 MiB); 10 MiB 23 s
BLOCK_BYTES = 12 << 20


@dataclass
class Summary:
    """Everything ``logtrace summary`` reports. DataFrames are polars; dicts are JSON-ready."""

    totals: dict[str, int]
    unique: dict[str, int]
    sections: dict[str, Any]  #: section name → polars DataFrame, in report order
    smtpd: dict[str, Any] | None
    accounting: Any  #: polars DataFrame: program, parsed, other, unrecognized
    period: dict[str, Any]
    counts: dict[str, int]  #: warnings, fatal, panic, no_size
    inputs: list[tuple[str, str]] = field(default_factory=list)
    diagnostics: list[Any] = field(default_factory=list)
    failed_inputs: int = 0
    top: int = 10
    counting: str = PFLOGSUMM_COUNTING  #: whose Grand totals ``totals`` follows: ``pflogsumm`` or ``eximstats``
    #: a mixed input (Postfix and Exim in one central file or set): eximstats' grand totals over the
    #: Exim events (``totals`` are then pflogsumm's over the others); empty otherwise
    totals_eximstats: dict[str, int] = field(default_factory=dict)
    #: the mergeable state of ``--format json`` (:mod:`logtrace.reports.merge`): full per-key counters,
    #: delay histograms with fixed buckets, eximstats' counts and host sets; None when not kept
    state: dict[str, Any] | None = None


def parse_time_spec(spec: str, *, tz: str | None = None, now: datetime | None = None) -> datetime:
    """``--since``/``--until`` values → aware datetime.

    Accepts ISO 8601 (``2026-04-01``, ``2026-04-01T08:00``, with or without an offset; naive
    values are in ``tz`` or this machine's zone), ``today``/``yesterday`` (local midnight) and
    ``N{s,m,h,d,w} ago`` (``2h ago``). Raises :class:`ValueError` for anything else.
    """
    from zoneinfo import ZoneInfo

    zone: Any = ZoneInfo(tz) if tz and tz.upper() not in ("UTC", "Z") else (timezone.utc if tz else None)
    now = now or datetime.now(timezone.utc)
    local_now = now.astimezone(zone) if zone else now.astimezone()
    s = spec.strip().lower()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if s == "today":
        return midnight
    if s == "yesterday":
        return midnight - timedelta(days=1)
    if s == "now":
        return now
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)\s+ago", s)
    if m:
        n = float(m.group(1))
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)[0]]
        return now - timedelta(**{unit: n})
    try:
        dt = datetime.fromisoformat(spec.strip())
    except ValueError:
        raise ValueError(f"cannot read time '{spec}' (use ISO 8601, today, yesterday or '2h ago')") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone) if zone else dt.astimezone()
    return dt


def build(ev: Any, *, tz: str = "UTC", top: int = 10, smtpd_stats: bool = False, counting: str = PFLOGSUMM_COUNTING,
          host_tz: dict[str, str] | None = None) -> tuple[dict[str, int], dict[str, int], dict[str, Any], dict[str, Any] | None, dict[str, int]]:
    """Narrow events → (totals, unique, sections, smtpd, counts). Pure; see :func:`summarize`.

    ``counting=EXIMSTATS_COUNTING`` (``"eximstats"``) makes ``totals`` eximstats' grand totals (:func:`exim_totals`).
    """
    ev = derive(ev, tz, host_tz)
    sized = sizes(ev)
    recv = received_msgs(ev, sized)
    dlv = deliveries(ev, sized)
    tot = grand_totals(ev, recv, dlv)
    totals = exim_totals(ev) if counting == EXIMSTATS_COUNTING else tot
    unique = unique_counts(ev, tot, recv, dlv)
    sections, smtpd, counts = build_sections(ev, sized, recv, dlv, top=top, smtpd_stats=smtpd_stats)
    if counting == EXIMSTATS_COUNTING:
        sections.update(exim_tables_finish(*exim_tables(ev), top))
    return totals, unique, sections, smtpd, counts


def summarize(paths: Sequence[str], *, mta: str = "auto", options: Any = None, since: datetime | None = None,
              until: datetime | None = None, where: str | None = None, top: int = 10,
              smtpd_stats: bool = False, zone: str | None = None, verp_mung: int = 0, ignore_case: bool = False,
              rej_add_from: bool = False, syslog_name: Sequence[str] = (), keep_state: bool = True) -> Summary:
    """Summarize mail logs (see the module docstring for the counting rules). Per-day and
    per-hour traffic is in ``zone`` (default: ``options.tz``, else this machine's zone); without
    ``zone``, the lines of a host ``options.host_tz`` names are counted by that host's clock
    (``period["host_zones"]``).

    >>> s = summarize(["sample_logs/postfix/deferred-then-sent.log"])   # doctest: +SKIP
    >>> s.totals["delivered"], s.sections["per_day"]                     # doctest: +SKIP

    pflogsumm's options: ``verp_mung`` (1 or 2) folds VERP sender addresses, ``ignore_case``
    lowercases whole addresses, ``rej_add_from`` adds the envelope sender to the reject-client
    table, ``syslog_name`` keeps only the Postfix instances of those syslog names. ``keep_state``: keep the
    mergeable state (``Summary.state``, :mod:`logtrace.reports.merge`) for the JSON document.

    Per-input failures (unreadable file, unknown format) become ``diagnostics`` and
    ``failed_inputs``; a bad ``where`` raises :class:`~logtrace.errors.QuerySyntaxError`.
    """
    from logtrace.containers.stamps import local_zone_name
    from logtrace.parsing.scan import ScanResult
    from logtrace.reports.fold import SummaryFold

    scan = ScanResult()
    tz = zone or getattr(options, "tz", None) or local_zone_name()
    tz = "UTC" if tz.upper() in ("UTC", "Z") else tz
    # each host's lines by its own clock (--tz HOST=ZONE), unless one zone is asked for (--utc)
    host_tz = {} if zone else dict(getattr(options, "host_tz", None) or {})
    fold = SummaryFold(tz=tz, host_tz=host_tz, top=top, smtpd_stats=smtpd_stats, verp_mung=verp_mung,
                       ignore_case=ignore_case, rej_add_from=rej_add_from)
    _, acc, period, counting, mixed = collect_events(paths, mta=mta, options=options, since=since, until=until,
                                                     where=where, smtpd_stats=smtpd_stats, result=scan, sink=fold,
                                                     chunk_bytes=BLOCK_BYTES, syslog_name=syslog_name)
    totals = fold.totals(only_non_exim=mixed)
    unique = fold.unique(fold.totals())
    totals_x: dict[str, int] = {}
    exim_state = None
    exim = counting == EXIMSTATS_COUNTING or mixed
    if exim:  # each MTA's events by its own tool's rules; the sections and unique counts stay over all
        counts_x, hosts_x, transports, relayed = fold.exim.report()
        fold.add_exim_tables(transports, relayed)
        exim_state = [counts_x, hosts_x]
        totals_x = exim_finish([(counts_x, hosts_x)])
        if not mixed:
            totals, totals_x = totals_x, {}
    sections, smtpd, counts = fold.sections(exim=exim)
    period["timezone"] = tz
    if host_tz:
        period["host_zones"] = host_tz
    return Summary(totals=totals, unique=unique, sections=sections, smtpd=smtpd, accounting=acc, period=period,
                   counts=counts, inputs=list(scan.files), diagnostics=scan.diagnostics,
                   failed_inputs=scan.failed_inputs, top=top, counting=counting, totals_eximstats=totals_x,
                   state=None if not keep_state else {
                       "format": STATE_FORMAT, "timezone": tz, "host_zones": host_tz, "counting": counting, "mixed": mixed,
                       "fold": fold.state(), "eximstats": exim_state})

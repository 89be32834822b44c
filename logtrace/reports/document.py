"""The JSON document of ``logtrace summary --format json`` (schema :data:`SCHEMA`, documented in the README)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: Version of the JSON document written by ``logtrace summary --format json``.
#: /2 (issue 19): per-day/per-hour ``deferrals`` (was ``deferred``) and ``rejected`` = rejects only;
#: reject reasons counted by ``action`` (no ``messages``); reason ``example``; ``state`` for merging.
SCHEMA = "logtrace.summary/2"
#: Version of the mergeable ``state`` inside it (:mod:`logtrace.reports.merge`).
STATE_FORMAT = "logtrace.summary-state/1"

#: ``counting`` → the note on ``totals`` in the JSON document.
TOTALS_NOTES: dict[str, str] = {
    "pflogsumm": "totals follow pflogsumm 1.1.5's Grand Totals (names and counting rules).",
    "eximstats": (
        "Exim inputs: totals follow eximstats' Grand total summary. received/bytes_received/received_hosts: <= lines, "
        "their S= and distinct H= words; delayed/failed: messages with a == / ** line after their <=; delivered: => "
        "lines, delivered_addresses: => and -> lines, bytes_delivered: the message size per =>, delivered_hosts: "
        "distinct H= words of => lines; rejected/temp_rejected (+_hosts: distinct client IPs): ACL rejections, dropped "
        "SMTP calls and blackholed deliveries; ham/spam: SA-Exim verdicts."
    ),
}

UNIQUE_NOTE = (
    "pflogsumm-compatible totals count a message that passes a content filter (amavis on 127.0.0.1:10024/10025) "
    "or hops between two hosts whose logs are both given once per pass (pflogsumm FAQ section 14). The *_unique "
    "counts match each delivery to loopback or to another input host whose 'queued as' ID reappears as a received "
    "queue ID within 15 minutes, and count the pair once."
)


MIXED_NOTE = ("Postfix and Exim events in one input: totals follow pflogsumm's rules over every event but Exim's; "
              "totals_eximstats follow eximstats' rules over Exim's events; unique and the sections cover all.")


def to_document(s: Any) -> dict[str, Any]:
    """The JSON document of ``--format json`` for a :class:`~logtrace.reports.summary.Summary`."""
    from logtrace import __version__ as version
    from logtrace.reports.state import table_state

    def iso(v: Any) -> Any:
        return v.isoformat() if isinstance(v, datetime) else v

    acc = s.accounting
    return {
        "schema": SCHEMA,
        "generator": f"logtrace {version}",
        "inputs": [{"path": p, "parser": n} for p, n in s.inputs],
        "period": {k: iso(v) for k, v in s.period.items()},
        "counting": {"rules": s.counting, "keys": list(s.totals),
                     "note": MIXED_NOTE if s.totals_eximstats else TOTALS_NOTES[s.counting]},
        "totals": dict(s.totals),
        **({"totals_eximstats": dict(s.totals_eximstats)} if s.totals_eximstats else {}),
        "unique": {**s.unique, "note": UNIQUE_NOTE},
        "counts": dict(s.counts),
        "smtpd": s.smtpd,
        "sections": {name: rows(df) for name, df in s.sections.items()},
        "accounting": {
            "parsed": int(acc["parsed"].sum()) if acc.height else 0,
            "other": int(acc["other"].sum()) if acc.height else 0,
            "unrecognized": int(acc["unrecognized"].sum()) if acc.height else 0,
            "by_program": rows(acc),
        },
        "diagnostics": [str(d) for d in s.diagnostics],
        **({"state": {**s.state, "accounting": table_state(acc)}} if getattr(s, "state", None) else {}),
    }


def rows(df: Any) -> list[dict[str, Any]]:
    """A DataFrame as JSON-ready rows: dates and datetimes as ISO strings, floats rounded to 3 places."""
    import polars as pl

    out = df.with_columns([pl.col(c).cast(pl.String) for c, t in df.schema.items() if t in (pl.Date, pl.Datetime)])
    return [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in out.iter_rows(named=True)]

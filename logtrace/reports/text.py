"""The plain-text summary report (``logtrace summary --format text``): pflogsumm's shape, for cron mail.

No box drawing and no colour: section titles underlined with ``-``, numbers right-aligned in
their own columns (never cut), the descriptive text last on each row and wrapped under itself
when the line would pass ``width`` (80 by default). Sizes and durations are human-readable
(``186.3M``, ``4.7 s``, ``9.5 m``) where people read them; the grand totals also give exact byte
counts, and JSON/CSV keep exact values throughout.

Pure string building: log text goes through the ``escape`` function the caller passes
(the CLI passes :func:`logtrace.cli.render.safe`), so control characters cannot reach a terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

#: section name → title, in report order (pflogsumm's order; problems move up with --problems-first)
TITLES: dict[str, str] = {
    "per_day": "Per-day traffic",
    "per_hour": "Per-hour traffic (totals over all days)",
    "smtpd_per_day": "Per-day SMTPD connections",
    "smtpd_per_hour": "Per-hour SMTPD connections (totals over all days)",
    "delivery_by_domain": "Message delivery by recipient domain",
    "delivery_by_relay": "Message delivery by relay domain",
    "exim_transports": "Deliveries by transport (eximstats: => lines per T= transport)",
    "reception_by_domain": "Messages received by sender domain",
    "reception_by_client": "Messages received by client domain",
    "exim_relayed": "Relayed messages (eximstats: received from one host, delivered to another)",
    "smtpd_hosts": "SMTPD connections by client domain",
    "senders_by_count": "Senders by message count",
    "recipients_by_count": "Recipients by message count",
    "senders_by_size": "Senders by message size",
    "recipients_by_size": "Recipients by message size",
    "delays": "Delivery delay percentiles (seconds; delays=a/b/c/d parts)",
    "delay_distribution": "Delivery delay distribution (receipt to delivery, eximstats' queue-time buckets)",
    "postscreen": "Postscreen actions",
    "no_size": "Messages with no size data",
    "deferral_reasons": "Deferrals by reason",
    "deferral_hosts": "Deferrals by remote host",
    "bounce_reasons": "Bounces by reason",
    "bounce_hosts": "Bounces by remote host",
    "smtp_failures": "SMTP delivery failures (connect failures, lost connections, refusals)",
    "reject_actions": "Rejects, warnings, holds and discards",
    "reject_reasons": "Rejects by reason",
    "reject_hosts": "Rejects by client",
    "warnings": "Warnings, fatal errors and panics",
    "exchange_events": "Exchange message tracking: events by event ID",
    "exchange_connectors": "Exchange message tracking: events by connector",
    "exchange_servers": "Exchange message tracking: events by server",
    "exchange_dsn": "Exchange message tracking: DSN codes of FAIL, DSN and DEFER events",
    "last_mile_mailbox": "Last mile: mailbox deliveries (Dovecot, Sieve)",
    "last_mile_filter": "Last mile: content filter verdicts (amavis, rspamd)",
}
PROBLEMS = ("deferral_reasons", "deferral_hosts", "bounce_reasons", "bounce_hosts", "smtp_failures", "reject_actions",
            "reject_reasons", "reject_hosts", "warnings", "no_size")
#: JSON/CSV-only columns (a raw example text per reason group): not shown in text or tables
HIDDEN = ("example",)
#: columns shown as sizes (bytes) and durations (seconds)
SIZE_COLS = ("bytes",)
DURATION_COLS = ("avg_delay_s", "max_delay_s", "p50", "p90", "p99", "max", "total_s", "max_s", "avg_s")


def ordered_sections(s: Any, problems_first: bool = False, skip: tuple[str, ...] = ()) -> list[str]:
    """The sections of a :class:`~logtrace.reports.summary.Summary` in report order, without ``skip``."""
    names = [n for n in TITLES if n in s.sections and n not in skip]
    if problems_first:
        names = [n for n in names if n in PROBLEMS] + [n for n in names if n not in PROBLEMS]
    return names


def human_size(v: int | float | None) -> str:
    """``195317851`` → ``186.3M`` (binary units, one decimal; below 1024 the exact count)."""
    if v is None:
        return ""
    x = float(v)
    for unit in ("", "k", "M", "G", "T"):
        if abs(x) < 1024 or unit == "T":
            return f"{int(x)}" if unit == "" else f"{x:.1f}{unit}"
        x /= 1024
    return str(v)  # pragma: no cover


def human_duration(v: float | None) -> str:
    """Seconds → ``0.42 s``, ``4.7 s``, ``9.5 m``, ``1.2 h``, ``3.0 d`` (pflogsumm's delay units)."""
    if v is None:
        return ""
    x = float(v)
    if x < 10:
        return f"{x:.2f} s" if x < 1 else f"{x:.1f} s"
    if x < 60:
        return f"{x:.0f} s"
    if x < 3600:
        return f"{x / 60:.1f} m"
    if x < 86400:
        return f"{x / 3600:.1f} h"
    return f"{x / 86400:.1f} d"


def cell(col: str, v: Any, escape: Callable[[Any], str]) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if col in SIZE_COLS and isinstance(v, (int, float)):
        return human_size(v)
    if col in DURATION_COLS and isinstance(v, (int, float)):
        return human_duration(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return escape(v)


def table(df: Any, width: int, escape: Callable[[Any], str], indent: int = 1) -> list[str]:
    """A section as text lines: numbers right-aligned and whole, short descriptive columns (day,
    class, code) left-aligned in place, and the widest descriptive column last, wrapped under itself
    at ``width`` (or on lines of its own when the numbers leave less than 20 columns)."""
    cols = [c for c in df.columns if c not in HIDDEN]
    if not df.height:
        return [" " * indent + "none"]
    rows = [{c: cell(c, r[c], escape) for c in cols} for r in df.iter_rows(named=True)]
    head = {c: c.replace("_", " ") for c in cols}
    w = {c: max(len(head[c]), *(len(r[c]) for r in rows)) for c in cols}
    texts = [c for c in cols if not df.schema[c].is_numeric()]
    # the widest descriptive column (if wide) goes last and wraps; the others keep their place and width
    wide = max(texts, key=lambda c: w[c]) if texts else None
    last = [wide] if wide is not None and w[wide] > 20 else []
    fixed = [c for c in cols if c not in last]
    pre = " " * indent
    if len(texts) > 1 and indent + sum(w[c] + 2 for c in fixed) > width - 20:  # several texts that do not fit side by side
        return stacked(df, rows, [c for c in cols if c not in texts], texts, w, head, width, pre)

    def just(c: str, v: str) -> str:
        return v.rjust(w[c]) if df.schema[c].is_numeric() else v.ljust(w[c])

    out = [(pre + "  ".join([just(c, head[c]) for c in fixed] + [head[c] for c in last])).rstrip(),
           pre + "  ".join(["-" * w[c] for c in fixed] + ["-" * max(1, min(w[c], width - indent - sum(w[f] + 2 for f in fixed)))
                                                             for c in last])]
    for r in rows:
        left = pre + "  ".join(just(c, r[c]) for c in fixed)
        if not last:
            out.append(left.rstrip())
            continue
        text = r[last[0]]
        start = len(left) + (2 if fixed else 0)
        room = width - start
        if room < 20:  # too little room beside the numbers: the text goes on its own indented lines
            out.append(left.rstrip())
            out += textwrap.wrap(text, width - indent - 4, initial_indent=pre + "    ", subsequent_indent=pre + "    ",
                                 break_long_words=True, break_on_hyphens=False) or []
            continue
        parts = textwrap.wrap(text, room, break_long_words=True, break_on_hyphens=False) or [""]
        out.append((left + ("  " if fixed else "") + parts[0]).rstrip())
        out += [" " * start + p for p in parts[1:]]
    return out


def stacked(df: Any, rows: list[dict[str, str]], fixed: list[str], wide: list[str], w: dict[str, int], head: dict[str, str],
            width: int, pre: str) -> list[str]:
    """A table whose descriptive columns do not fit beside each other (``relay`` and ``recipient`` …): the numbers
    and short columns in place, then each wide column's value under the one before it, wrapped at ``width``."""
    def just(c: str, v: str) -> str:
        return v.rjust(w[c]) if df.schema[c].is_numeric() else v.ljust(w[c])

    start = len(pre) + sum(w[c] + 2 for c in fixed)
    if width - start < 20:
        start = len(pre) + 4
    room = width - start
    out = [(pre + "  ".join([just(c, head[c]) for c in fixed] + [" / ".join(head[c] for c in wide)])).rstrip(),
           pre + "  ".join(["-" * w[c] for c in fixed] + ["-" * max(1, min(max(w[c] for c in wide), width - start))])]
    for r in rows:
        left = (pre + "  ".join(just(c, r[c]) for c in fixed) + ("  " if fixed else "")).ljust(start)
        lines = [p for c in wide for p in (textwrap.wrap(r[c], room, break_long_words=True, break_on_hyphens=False) or [""])]
        if len(left.rstrip()) > start - 2:  # the numbers leave too little room: the texts go on lines of their own
            out.append(left.rstrip())
            left = ""
        out.append((left.ljust(start) + lines[0]).rstrip())
        out += [" " * start + p for p in lines[1:]]
    return out


def title_lines(text: str) -> list[str]:
    return ["", text, "-" * min(len(text), 80)]


def render(s: Any, *, head: str, titles: dict[str, str] | None = None, total_labels: dict[str, str], unique_keys: tuple[str, ...],
           notes: list[str], escape: Callable[[Any], str] = str, width: int = 80, problems_first: bool = False,
           skip: tuple[str, ...] = ()) -> str:
    """The whole report as text. ``titles`` (section → title, zone names added by the caller) default to :data:`TITLES`."""
    titles = titles or TITLES
    out: list[str] = [head, ""]
    out += title_lines(f"Grand totals ({s.counting} counting rules)")
    out += totals_lines(s.totals, total_labels)
    if s.totals_eximstats:
        out += title_lines("Grand totals (eximstats counting rules, Exim events)")
        out += totals_lines(s.totals_eximstats, total_labels)
    out += title_lines("De-duplicated (logtrace)")
    out += totals_lines({k: s.unique[k] for k in unique_keys}, {})
    for note in notes:
        out += [""] + textwrap.wrap(note, width)
    c = s.counts
    out += ["", f"warnings {c['warnings']:,}  fatal {c['fatal']:,}  panic {c['panic']:,}  "
                f"messages with no size data {c['no_size']:,}"]
    if s.smtpd is not None:
        m = s.smtpd
        out += [f"smtpd: {m['connections']:,} connections, {m['hosts']:,} hosts/domains, "
                f"avg connect {human_duration(m['avg_connect_s'])}, total {human_duration(m['total_connect_s'])}"]
    for name in ordered_sections(s, problems_first, skip):
        out += title_lines(titles.get(name, TITLES[name]))
        out += table(s.sections[name], width, escape)
    return "\n".join(out) + "\n"


def totals_lines(totals: dict[str, int], labels: dict[str, str]) -> list[str]:
    """``   12,345  label`` lines; byte counts human-readable with the exact count beside them."""
    vals = {k: (human_size(v) if k.startswith("bytes") else f"{v:,}") for k, v in totals.items()}
    w = max((len(v) for v in vals.values()), default=1)
    out = []
    for k, v in totals.items():
        label = labels.get(k, k)
        exact = f" ({v:,})" if k.startswith("bytes") else ""
        out.append(f" {vals[k].rjust(w)}  {label}{exact}")
    return out

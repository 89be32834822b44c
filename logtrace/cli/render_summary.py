"""Rendering a :class:`~logtrace.reports.summary.Summary`: rich tables with bar charts, JSON, CSV files, markdown.

Layering note: rich stays inside ``logtrace.cli``. This module is the summary's half of
``render.py`` (split out to keep both under the size limit) and is imported only by
``commands.py``, lazily, so ``import logtrace`` still pulls in neither typer nor rich.

Log-derived text (addresses, reply texts, host names) is always passed through
:func:`logtrace.cli.render.safe` and rendered as :class:`rich.text.Text`, never as markup; CSV
files go through :func:`logtrace.cli.writers.write_csv` (the CSV-injection guard); markdown
cells escape ``|`` and ``<``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from logtrace.cli import render, writers
from logtrace.reports.summary import TOTALS_NOTES, UNIQUE_KEYS, UNIQUE_NOTE, Summary, to_document

from logtrace.reports.text import HIDDEN, PROBLEMS, TITLES  # noqa: F401  (PROBLEMS re-exported for renderers)
from logtrace.reports.text import ordered_sections as _ordered

_CHARTED = ("per_day", "per_hour")
_ZONED = ("per_day", "per_hour", "smtpd_per_day", "smtpd_per_hour")
_BAR_W = 24
_TOTAL_LABELS = {
    "received": "received", "delivered": "delivered", "forwarded": "forwarded", "deferred": "deferred (messages)",
    "deferrals": "deferrals (attempts)", "bounced": "bounced", "rejected": "rejected", "rejected_pct": "rejected %",
    "reject_warnings": "reject warnings", "held": "held", "discarded": "discarded", "discarded_pct": "discarded %",
    "bytes_received": "bytes received", "bytes_delivered": "bytes delivered", "senders": "senders",
    "sending_hosts": "sending hosts/domains", "recipients": "recipients", "recipient_hosts": "recipient hosts/domains",
}
#: eximstats' grand-total cells (row, column) for Exim-only inputs (``Summary.counting == "eximstats"``).
_EXIM_LABELS = {
    "received": "received (messages)", "bytes_received": "received volume (bytes)", "received_hosts": "received from hosts",
    "delayed": "delayed (messages with a == line)", "failed": "failed (messages with a ** line)",
    "delivered": "delivered (=> deliveries)", "delivered_addresses": "delivered addresses (=> and ->)",
    "bytes_delivered": "delivered volume (bytes)", "delivered_hosts": "delivered to hosts", "rejected": "rejects",
    "rejected_hosts": "rejected hosts", "temp_rejected": "temporary rejects", "temp_rejected_hosts": "temporarily rejected hosts",
    "ham": "ham (SA-Exim)", "ham_hosts": "ham hosts", "spam": "spam (SA-Exim)", "spam_hosts": "spam hosts",
}
#: sections that only Postfix logs fill
_POSTFIX_ONLY = ("postscreen",)


def ordered_sections(s: Summary, problems_first: bool = False) -> list[str]:
    """The sections in report order (problems first on request; Postfix-only ones not for Exim logs)."""
    return _ordered(s, problems_first, _POSTFIX_ONLY if s.counting == "eximstats" else ())


def total_label(s: Summary, key: str) -> str:
    return (_EXIM_LABELS if s.counting == "eximstats" else _TOTAL_LABELS).get(key, key)


def totals_title(s: Summary) -> str:
    return f"Grand totals ({s.counting} counting rules)"


def emit(s: Summary, fmt: str, *, output: Path | None = None, problems_first: bool = False, width: int | None = None) -> list[Path]:
    """Write the report in ``fmt`` (table, json, markdown to stdout; csv files into ``output``)."""
    if fmt == "json":
        writers.write_json(to_document(s))
    elif fmt == "markdown":
        sys.stdout.write(to_markdown(s, problems_first))
    elif fmt == "text":
        sys.stdout.write(to_text(s, problems_first, width or 80))
    elif fmt == "csv":
        assert output is not None
        return write_csv(s, output)
    else:
        print_tables(s, render.out_console(width), problems_first)
    sys.stdout.flush()
    return []


#: state-table columns → the redaction key that says what they hold (``--redact``; the others go by their own name)
_STATE_KEYS = {"addr": "sender", "sdom": "domain", "server": "relay"}


def redacted_state(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """The mergeable state with personal data tokenized when ``--redact`` is on (column-aware, as the
    sections are: a sender domain or an eximstats host is a host name even without brackets)."""
    from logtrace.redact import active

    r = active()
    if r is None or not state:
        return state
    from logtrace.reports.state import table_from_state, table_state

    def tab(t: Any) -> Any:
        if t is None:
            return None
        df = table_from_state(t)
        ren = {c: _STATE_KEYS[c] for c in df.columns if c in _STATE_KEYS and _STATE_KEYS[c] not in df.columns}
        return table_state(r.frame(df.rename(ren)).rename({v: k for k, v in ren.items()}))

    fold = dict(state.get("fold") or {})
    fold["counters"] = {n: tab(t) for n, t in (fold.get("counters") or {}).items()}
    for key in ("smtpd", "no_size"):
        fold[key] = tab(fold.get(key))
    exim = state.get("eximstats")
    if exim:
        exim = [exim[0], {k: sorted({r.value("relay", v) for v in vs}) for k, vs in exim[1].items()}]
    return {**state, "fold": fold, "eximstats": exim}


# ---------------------------------------------------------------- cells


def _fmt(v: Any, col: str = "") -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return render.safe(v)


def title(s: Summary, name: str) -> str:
    """A section's title; the per-day and per-hour tables name the zone their days and hours are in."""
    zone = zone_text(s.period)
    return f"{TITLES[name]} in {render.safe(zone)}" if name in _ZONED and zone else TITLES[name]


def zone_text(period: dict[str, Any]) -> str | None:
    """The zone the per-day/per-hour tables use; with ``--tz HOST=ZONE``, each such host's too
    (its lines are counted by its own clock)."""
    zone = period.get("timezone")
    hosts = period.get("host_zones") or {}
    if hosts:
        return f"{zone} ({'; '.join(f'{h}: {z}' for h, z in sorted(hosts.items()))})"
    return zone


def local_time(period: dict[str, Any], key: str) -> str:
    """``period[key]`` in the period's zone (the zone the per-day/per-hour tables use), with its abbreviation."""
    from datetime import datetime

    from logtrace.containers.stamps import zone, zone_label

    v = period.get(key)
    if not isinstance(v, datetime):
        return _fmt(v)
    if v.tzinfo is not None:
        v = v.astimezone(zone(period.get("timezone") or "UTC"))
    return f"{v:%Y-%m-%d %H:%M:%S} {zone_label(v)}" if v.tzinfo is not None else f"{v:%Y-%m-%d %H:%M:%S}"


def _bar(value: float, peak: float, width: int = 30) -> str:
    """A horizontal bar of ``value / peak`` of ``width`` cells, with eighth-block resolution."""
    if peak <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / peak * width * 8))
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


# ---------------------------------------------------------------- table


#: the narrowest a descriptive (text) column is squeezed to before a table is stacked
_MIN_TEXT = 12


def shown(df: Any) -> Any:
    """A section without its JSON/CSV-only columns (:data:`HIDDEN`)."""
    return df.drop([c for c in HIDDEN if c in df.columns])


def _cell_width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(x) for x in text.splitlines()), default=0)


def _header_width(col: str) -> int:
    """A header wraps at ``_`` and spaces: its longest word is the least it needs."""
    return max((_cell_width(w) for w in col.replace("_", " ").split()), default=0)


def fit(df: Any, width: int, cells: list[list[str]], chart: bool) -> tuple[list[tuple[str, int | None]], str]:
    """The layout of one section at ``width`` cells: ([(column, minimum width or None for text)], layout).
    Numbers are never narrowed below their widest value; text columns wrap down to :data:`_MIN_TEXT`.
    As the width shrinks, the layout goes from ``boxed+chart`` to ``boxed`` (the chart is dropped
    first), ``compact`` (no box) and ``stacked`` (one block of ``column value`` lines per row)."""
    cols = list(df.columns)
    mins: list[int] = []
    plan: list[tuple[str, int | None]] = []
    for i, (col, dtype) in enumerate(df.schema.items()):
        widest = max((_cell_width(r[i]) for r in cells), default=0)
        if dtype.is_numeric():
            need = max(widest, _header_width(col), 1)
            plan.append((col, need))
            mins.append(need)
        else:
            plan.append((col, None))
            mins.append(min(max(widest, _header_width(col), 1), _MIN_TEXT))
    boxed = sum(mins) + 3 * len(cols) + 1  # heavy-head box: a border and two cells of padding per column, one closing border
    if chart and boxed + _BAR_W + 1 + 3 <= width:
        return plan, "boxed+chart"
    if boxed <= width:
        return plan, "boxed"
    if sum(mins) + len(cols) - 1 <= width:  # no box, one space between columns
        return plan, "compact"
    return plan, "stacked"


def _section_cells(df: Any) -> list[list[str]]:
    return [[_fmt(v, k) for k, v in row.items()] for row in df.iter_rows(named=True)]


def section_table(s: Summary, name: str, df: Any, width: int) -> Any:
    """One section as a rich renderable that fits ``width`` without cutting a number."""
    import polars as pl
    from rich.table import Table
    from rich.text import Text

    df = shown(df)
    if not df.height:
        return Text(f"{title(s, name)}: (none)")
    cells = _section_cells(df)
    plan, layout = fit(df, width, cells, name in _CHARTED and df.height > 0)
    charted = layout == "boxed+chart"
    if layout == "stacked":  # one block per row: "column  value" lines, numbers right-aligned and whole
        t = Table(title=title(s, name), title_justify="left", show_header=False, box=None, padding=(0, 1))
        t.add_column("field", no_wrap=True, style="dim")
        t.add_column("value", overflow="fold")
        if not cells:
            t.add_row("", "(none)")
        for i, row in enumerate(cells):
            if i:
                t.add_row("", "")
            for col, v in zip(df.columns, row):
                t.add_row(Text(col), Text(v))
        return t
    if layout == "compact":
        t = Table(title=title(s, name), title_justify="left", box=None, padding=(0, 1, 0, 0), pad_edge=False,
                  header_style="bold")
    else:
        t = Table(title=title(s, name), title_justify="left")
    for col, need in plan:
        if need is not None:
            t.add_column(col.replace("_", " "), justify="right", min_width=need, overflow="fold")
        else:
            t.add_column(col, justify="left", overflow="fold", min_width=min(_MIN_TEXT, max(
                (_cell_width(r[df.columns.index(col)]) for r in cells), default=1)))
    if charted:
        t.add_column("delivered █ problems █", no_wrap=True, width=_BAR_W + 1)
        peak = float(df.select(pl.max_horizontal(pl.col("received"), pl.col("delivered") + pl.col("deferrals")
                                                 + pl.col("bounced") + pl.col("rejected")).max()).item() or 1)
    if not df.height:
        t.add_row(*(["(none)"] + [""] * (len(df.columns) - 1)))
    for row, texts in zip(df.iter_rows(named=True), cells):
        out: list[Any] = [Text(v) for v in texts]
        if charted:
            bad = row["deferrals"] + row["bounced"] + row["rejected"]
            bars = Text(_bar(row["delivered"], peak, _BAR_W), style="green")
            bars.append(_bar(bad, peak, _BAR_W), style="red")
            out.append(bars)
        t.add_row(*out)
    return t


def _kv_table(title_text: str, rows: list[tuple[str, str]]) -> Any:
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title_text, title_justify="left", show_header=False)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("what", overflow="fold")
    for v, k in rows:
        t.add_row(Text(v), Text(k))
    return t


def print_tables(s: Summary, console: Any, problems_first: bool = False) -> None:
    from rich.columns import Columns
    from rich.text import Text

    period = s.period
    head = Text(f"logtrace summary: {local_time(period, 'first')} → {local_time(period, 'last')} ({render.safe(zone_text(period))})",
                style="bold")
    console.print(head)
    tables = [_kv_table(totals_title(s), [(_fmt(v), total_label(s, k)) for k, v in s.totals.items()])]
    if s.totals_eximstats:
        tables.append(_kv_table("Grand totals (eximstats counting rules, Exim events)",
                                [(_fmt(v), _EXIM_LABELS.get(k, k)) for k, v in s.totals_eximstats.items()]))
    tables.append(_kv_table("De-duplicated (logtrace)", [(_fmt(s.unique[k]), k) for k in UNIQUE_KEYS]))
    console.print(Columns(tables))
    if s.counting != "pflogsumm":
        console.print(Text(TOTALS_NOTES[s.counting], style="dim"))
    console.print(Text(UNIQUE_NOTE, style="dim"))
    c = s.counts
    console.print(Text(f"warnings {c['warnings']:,}  fatal {c['fatal']:,}  panic {c['panic']:,}  "
                       f"messages with no size data {c['no_size']:,}"))
    if s.smtpd is not None:
        m = s.smtpd
        console.print(Text(f"smtpd: {m['connections']:,} connections, {m['hosts']:,} hosts/domains, "
                           f"avg connect {m['avg_connect_s']:.1f}s, total {m['total_connect_s']:,}s"))
    for name in ordered_sections(s, problems_first):
        console.print(section_table(s, name, s.sections[name], console.width))


# ---------------------------------------------------------------- text


def to_text(s: Summary, problems_first: bool = False, width: int = 80) -> str:
    """The plain-text report (:mod:`logtrace.reports.text`): 80 columns, no box drawing, for cron mail."""
    from logtrace.reports.text import render as render_text

    head = (f"logtrace summary: {local_time(s.period, 'first')} to {local_time(s.period, 'last')} "
            f"({render.safe(zone_text(s.period))})")
    notes = ([TOTALS_NOTES[s.counting]] if s.counting != "pflogsumm" else []) + [UNIQUE_NOTE]
    labels = {**(_EXIM_LABELS if s.counting == "eximstats" else _TOTAL_LABELS)}
    if s.totals_eximstats:
        labels.update({k: v for k, v in _EXIM_LABELS.items() if k not in s.totals})
    return render_text(s, head=head, titles={n: title(s, n) for n in TITLES if n in s.sections},
                       total_labels=labels, unique_keys=UNIQUE_KEYS, notes=notes, escape=render.safe, width=width,
                       problems_first=problems_first, skip=_POSTFIX_ONLY if s.counting == "eximstats" else ())


# ---------------------------------------------------------------- markdown


def _md(v: Any) -> str:
    return _fmt(v).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("`", "\\`")


def _md_table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(_md(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md(v) for v in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def to_markdown(s: Summary, problems_first: bool = False) -> str:
    parts = [f"# logtrace summary\n\n{_md(local_time(s.period, 'first'))} → {_md(local_time(s.period, 'last'))} ({_md(zone_text(s.period))})\n",
             f"## {totals_title(s)}\n",
             _md_table(["total", "value"], [[total_label(s, k), v] for k, v in s.totals.items()]),
             *(["## Grand totals (eximstats counting rules, Exim events)\n",
                _md_table(["total", "value"], [[_EXIM_LABELS.get(k, k), v] for k, v in s.totals_eximstats.items()])]
               if s.totals_eximstats else []),
             "## De-duplicated (logtrace)\n", _md_table(["count", "value"], [[k, s.unique[k]] for k in UNIQUE_KEYS]),
             f"\n{_md(UNIQUE_NOTE)}\n",
             "## Counts\n", _md_table(["count", "value"], [[k, v] for k, v in s.counts.items()])]
    if s.smtpd is not None:
        parts += ["## SMTPD connections\n", _md_table(["what", "value"], [[k, v] for k, v in s.smtpd.items()])]
    for name in ordered_sections(s, problems_first):
        df = s.sections[name]
        df = shown(df)
        parts += [f"## {title(s, name)}\n", _md_table(df.columns, [list(r) for r in df.iter_rows()]) if df.height else "(none)\n"]
    acc = s.accounting
    parts += ["## Line accounting\n", _md_table(acc.columns, [list(r) for r in acc.iter_rows()])]
    return "\n".join(parts)


# ---------------------------------------------------------------- csv


def write_csv(s: Summary, outdir: Path) -> list[Path]:
    """One CSV per section into ``outdir`` (created): totals, unique, counts, smtpd, accounting and every section."""
    import polars as pl

    outdir.mkdir(parents=True, exist_ok=True)
    tables: dict[str, Any] = {
        "totals": pl.DataFrame({"key": list(s.totals), "value": list(s.totals.values())},
                               schema={"key": pl.String, "value": pl.Int64}),
        **({"totals_eximstats": pl.DataFrame({"key": list(s.totals_eximstats), "value": list(s.totals_eximstats.values())},
                                             schema={"key": pl.String, "value": pl.Int64})} if s.totals_eximstats else {}),
        "unique": pl.DataFrame({"key": list(UNIQUE_KEYS), "value": [s.unique[k] for k in UNIQUE_KEYS]}),
        "counts": pl.DataFrame({"key": list(s.counts), "value": list(s.counts.values())}),
    }
    if s.smtpd is not None:
        tables["smtpd"] = pl.DataFrame({"key": list(s.smtpd), "value": [float(v) for v in s.smtpd.values()]})
    tables.update(s.sections)
    tables["accounting"] = s.accounting
    written = []
    for name, df in tables.items():
        p = outdir / f"{name}.csv"
        writers.write_csv(df, p)
        written.append(p)
    return written

"""Which layout a file's rows have: from a ``#Fields:`` line or a CSV header row (columns by
name), else, for header-less files, from the column count of known layouts; and the refusal
of PowerShell's formatted (table/list) output.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from logtrace.errors import Diagnostic, InputError
from logtrace_parsers.exchange.columns import field_counts, read_rows
from logtrace_parsers.exchange.table import (
    AGENT_ACTION, AGENT_KEYS, BY_COUNT, FORMATTED_HINT, FORMATTED_OUTPUT, ISO_ROW, TRACKING_HINT, TRACKING_KEYS, norm,
)

__all__ = ["Layout", "split_header", "layout_from_names", "protocol_program", "is_agent_log", "infer_layout",
           "refuse_formatted"]


@dataclass
class Layout:
    """How the rows under a header are read."""

    fmt: str  #: msgtrk | export | exo | smtp | agent | agent-export | generic
    fields: list[str]  #: canonical names, in column order
    program: str | None = None


def split_header(text: str) -> list[str]:
    import polars as pl

    try:
        df = pl.read_csv(io.BytesIO(text.strip().encode()), has_header=False, infer_schema=False, encoding="utf8-lossy",
                         truncate_ragged_lines=True)
        return [v or "" for v in df.row(0)] if df.height else []
    except Exception:  # noqa: BLE001 - an unreadable header is "no header"
        return [p.strip() for p in text.split(",")]


def layout_from_names(names: list[str], origin: str) -> Layout | None:
    """Column names → layout. ``origin`` is ``fields`` (a ``#Fields:`` line) or ``row`` (a CSV header
    row, which must name a known layout: else None, it is a data row)."""
    canon = [norm(n) for n in names]
    s = set(canon)
    if not names or len(s) != len(canon):
        return None if origin == "row" else Layout("generic", [f"_c{i}" for i in range(len(names))])
    if AGENT_KEYS <= s:  # before the protocol log: an Agent Log has SessionId and Event too
        return Layout("agent" if origin == "fields" else "agent-export", canon)
    if "session-id" in s and "event" in s:
        return Layout("smtp", canon)
    if "event-id" in s or origin == "fields" and s & TRACKING_KEYS:
        # "#Fields" → tracking log; a CSV header row with EventId → Get-MessageTrackingLog export
        return Layout("msgtrk" if origin == "fields" else "export", canon)
    if "date-time" in s and ("message-trace-id" in s or ("sender-address" in s and ("recipient-address" in s
                                                                                    or "recipient-status" in s))):
        return Layout("exo", canon)
    if origin == "fields":
        return Layout("generic", canon)
    return None


def protocol_program(log_type: str, path: str, seg: Any = None) -> str:
    """``SmtpSend``/``SmtpReceive`` from ``#Log-type``, else from the file name; else ``SmtpProtocol``."""
    low = log_type.lower()
    if "send" in low:
        return "SmtpSend"
    if "receive" in low:
        return "SmtpReceive"
    name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if "send" in name:
        return "SmtpSend"
    if "recv" in name or "receive" in name or "recive" in name:
        return "SmtpReceive"
    return "SmtpProtocol"


def is_agent_log(log_type: str) -> bool:
    """``#Log-type: Agent Log``."""
    return log_type.strip().lower() == "agent log"


def _agent_shaped(seg: Any, fields: list[str]) -> bool:
    """Header-less rows that really are Agent Log rows: ``NumRecipients`` a number, ``Agent`` set and
    ``Action`` one CamelCase word on every row (else the column count alone would be a guess)."""
    import polars as pl

    df = read_rows(seg.select("line_no", "line"), fields)
    if df is None or not df.height:
        return False
    ok = (pl.col("num-recipients").fill_null("0").str.contains(r"^\d+$") & pl.col("agent").is_not_null()
          & pl.col("action").fill_null("").str.contains(AGENT_ACTION.pattern))
    return bool(df.select(ok.all()).item())


def infer_layout(seg: Any, path: str, log_type: str, diags: list[Diagnostic]) -> Layout:
    """Header-less rows (``line_no``, ``line``) → the known layout with their column count, with a warning;
    :class:`InputError` when there is none."""
    counts = field_counts(seg.get_column("line"))
    iso = seg.get_column("line").str.contains(ISO_ROW.pattern)
    good = counts.filter(iso)
    if good.len():
        n = int(good.mode().sort()[-1])
        rows_n = seg.filter((counts == n) & iso)
        if n in BY_COUNT and (BY_COUNT[n][0] != "agent" or is_agent_log(log_type) or _agent_shaped(rows_n, BY_COUNT[n][1])):
            fmt, fields, label = BY_COUNT[n]
            lay = Layout(fmt, list(fields))
            if fmt == "smtp":
                lay.program = protocol_program(log_type, path, seg)
            diags.append(Diagnostic("warning", f"no #Fields header; assumed the Exchange {label} layout ({n} columns)",
                                    path=path, hint="keep the #Fields header when copying Exchange logs"))
            return lay
    raise InputError(f"{path}: no #Fields header and no known Exchange column layout", hint=TRACKING_HINT)


def refuse_formatted(lines: Any, path: str) -> None:
    """Raise :class:`InputError` (with a hint) if the first non-blank line is PowerShell's formatted output."""
    for text in lines.get_column("line").head(6).to_list():
        t = (text or "").replace("\x00", "").lstrip("\ufeff").strip()
        if not t:
            continue
        if FORMATTED_OUTPUT.match(t):
            raise InputError(f"{path}: formatted Get-MessageTrackingLog output (a table or list), not a log",
                             hint=FORMATTED_HINT)
        return

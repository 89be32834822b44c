"""Dovecot's own log file (``log_path``/``info_log_path``): ``<stamp> <prefix>: <Level>: <text>``.

Dovecot writing to a file of its own (instead of syslog) puts ``log_timestamp`` (default
``"%b %d %H:%M:%S "``; ``"%Y-%m-%d %H:%M:%S "`` is common) in front of each line, no host and
no program name, and the level (``Info:``, ``Warning:``, ``Error:`` …) after the process
prefix::

    Nov 22 06:25:14 lmtp(bob@example.org)<19423><I861FWYuzl/fSwAAWP5Hkg>: Info: msgid=<a@example.net>: saved mail to INBOX
    2026-11-22 06:25:14 imap-login: Info: Login: user=<bob@example.org>, method=PLAIN, rip=192.0.2.7

The container frames such a line into ``ts`` (from the stamp), ``host`` (none), ``program``
``dovecot`` and ``body`` = the prefix and text as syslog carries them (the ``Info: `` level
dropped, other levels kept), so the Dovecot dialect reads both forms with one rule table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from logtrace.containers import line_share

#: A Dovecot log-file line: stamp, process prefix, level, text (portable pattern).
DOVECOT_LINE = (
    r"^(?:(?P<ts3164>[A-Z][a-z]{2} [ 0-3]?\d \d\d:\d\d:\d\d(?:\.\d+)?)|(?P<ts3339>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)) "
    r"(?P<prefix>[\w.-]+(?:\([^)]*\))?(?:<[^>]*>)*: )"
    r"(?P<level>Debug|Info|Warning|Error|Fatal|Panic): (?P<text>.*)$"
)
_LINE_RE = re.compile(DOVECOT_LINE)
PROGRAM = "dovecot"


def split_line(line: str) -> dict[str, str | None] | None:
    """One line → ``ts3164``/``ts3339``, ``program`` and syslog-form ``body``; None if not Dovecot's."""
    m = _LINE_RE.match(line)
    if not m:
        return None
    level = m.group("level")
    body = m.group("prefix") + ("" if level == "Info" else level + ": ") + m.group("text")
    return {"ts3164": m.group("ts3164"), "ts3339": m.group("ts3339"), "host": None, "program": PROGRAM, "pid": None,
            "body": body}


def frame(lines: Any) -> Any:
    """Frame form of :func:`split_line`: ``line_no, line`` (+``_year``) → the same columns
    (``program`` null on lines that are not Dovecot's)."""
    import polars as pl

    g = pl.col("line").str.extract_groups(DOVECOT_LINE)
    df = lines.with_columns(g.alias("_d")).unnest("_d")
    ok = pl.col("prefix").is_not_null()
    return df.with_columns(
        host=pl.lit(None, pl.String),
        program=pl.when(ok).then(pl.lit(PROGRAM)),
        pid=pl.lit(None, pl.String),
        body=pl.when(pl.col("level") == "Info").then(pl.col("prefix") + pl.col("text"))
        .otherwise(pl.col("prefix") + pl.col("level") + pl.lit(": ") + pl.col("text")),
    ).drop("prefix", "level", "text")


def share(head: Sequence[str]) -> float:
    """Share of non-blank head lines that are Dovecot log-file lines."""
    return line_share(head, _LINE_RE)

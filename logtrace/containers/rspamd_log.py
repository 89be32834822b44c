"""rspamd's own log file (``logging { type = "file"; }``, ``/var/log/rspamd/rspamd.log``).

rspamd writing to its own file puts a local-time stamp (``%Y-%m-%d %H:%M:%S``, with
``log_usec`` a fraction), ``#PID(WORKER)`` and then the same text syslog carries after
``rspamd[PID]:``::

    2026-11-25 10:42:03 #1234(normal) <a1b2c3>; task; rspamd_task_write_log: id: <m@example.net>, qid: <4TwNdH5zwCz7fxV>, …
    2026-11-26 01:06:04 #24990(rspamd_proxy) <19a6f0>; proxy; rspamd_task_write_log: id: <…>, qid: <82898212528>, …

The container frames such a line into ``ts`` (from the stamp), ``host`` (none: the file names
no host; a verdict line still joins its MTA lifecycle by ``qid``), ``program`` ``rspamd``,
``pid`` and ``body`` (the syslog form), so the rspamd dialect reads both forms with one rule table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from logtrace.containers import line_share

#: An rspamd log-file line: stamp, ``#pid(worker)``, text (portable pattern).
RSPAMD_LINE = r"^(?P<ts3339>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) #(?P<pid>\d+)\((?P<worker>[\w -]+)\) (?P<body>.*)$"
_LINE_RE = re.compile(RSPAMD_LINE)
PROGRAM = "rspamd"


def split_line(line: str) -> dict[str, str | None] | None:
    """One line → ``ts3339``, ``program``, ``pid`` and syslog-form ``body``; None if not rspamd's."""
    m = _LINE_RE.match(line)
    if not m:
        return None
    return {"ts3164": None, "ts3339": m.group("ts3339"), "host": None, "program": PROGRAM, "pid": m.group("pid"),
            "body": m.group("body")}


def frame(lines: Any) -> Any:
    """Frame form of :func:`split_line`: ``line_no, line`` (+``_year``) → the same columns
    (``program`` null on lines that are not rspamd's)."""
    import polars as pl

    g = pl.col("line").str.extract_groups(RSPAMD_LINE)
    df = lines.with_columns(g.alias("_r")).unnest("_r")
    ok = pl.col("worker").is_not_null()
    return df.with_columns(
        ts3164=pl.lit(None, pl.String),
        host=pl.lit(None, pl.String),
        program=pl.when(ok).then(pl.lit(PROGRAM)),
    ).drop("worker")


def share(head: Sequence[str]) -> float:
    """Share of non-blank head lines that are rspamd log-file lines."""
    return line_share(head, _LINE_RE)

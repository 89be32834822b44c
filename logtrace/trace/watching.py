"""``watch``'s driver: followed files → parsed lines → :class:`~logtrace.trace.watch.Tracker` → alerts.

* Every path is followed by a :class:`~logtrace.input.tail.Tail` (``-`` is a stream). Each
  file gets its parser once, when its first lines arrive, the way every command chooses it
  (:func:`~logtrace.parsing.scan.open_inputs`: sniffed, or ``--mta``); lines are parsed with
  the per-line executor (``parser.parse_line``), in file order, so the file's year tracker
  moves as a reader's would (Dec→Jan included).
* ``state``: a JSON file written atomically (temporary file + ``os.replace``) holding each
  file's position (offset, line number, inode, device, year), the lifecycles still open
  (their events) and the IDs of the alerts already sent: a restart resumes where the last
  checkpoint was and does not repeat a sent alert. Delivery is at-least-once: an alert made
  after the last checkpoint comes again after a crash, with the same ``alert_id``.
* :class:`RateLimit` holds back alerts beyond N per minute and then says how many it held.
* :func:`run_command` gives one alert to ``--exec``'s command on stdin (no shell).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import subprocess
import tempfile
import time
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta, timezone
from typing import Any

from logtrace.statefile import write_json_atomic
from logtrace.errors import Diagnostic, LogtraceError
from logtrace.events import Event, EventKind, from_dict, to_dict
from logtrace.parsing.protocol import reads_whole_files
from logtrace.input.tail import Position, Tail
from logtrace.trace.metrics import frame_lines, line_key
from logtrace.trace.watch import DEFAULT_LINGER, DEFAULT_TTL, SCHEMA, Tracker, fill_classes

STATE_VERSION = 1
#: sent alert IDs kept in the state file (the newest ones)
MAX_SENT = 100_000


#: lines of one poll from which the frame engine parses them (below: line by line)
FRAME_MIN = 2000
#: seconds (wall clock) between looks for new files matching a glob or in a directory
RESCAN = 2.0
#: names of rotated or compressed files, never followed from a glob or a directory (the live file's
#: follower reads a renamed file to its end itself)
ROTATED = re.compile(r"(?:\.\d+|[-.]\d{8}(?:\d{2})?|\.(?:gz|bz2|xz|zst|lz4|z|zip|old|bak|swp))$|^\.", re.I)


@dataclass
class _Input:
    tail: Tail
    parser: Any = None
    ctx: Any = None
    lines: int = 0
    unparsed: int = 0
    journal: bool | None = None  #: a ``journalctl -o json`` stream (decided on its first line)


def is_pattern(path: str) -> bool:
    """A glob (``/var/log/mail*.log``): expanded now and on every rescan."""
    return path != "-" and any(c in path for c in "*?[")


def expand(spec: str) -> list[str]:
    """The files a glob or directory names now, sorted; rotated and compressed names left out."""
    if os.path.isdir(spec):
        names = [os.path.join(spec, n) for n in os.listdir(spec)]
    else:
        names = glob.glob(spec)
    return sorted(n for n in names if os.path.isfile(n) and not ROTATED.search(os.path.basename(n)))


@dataclass
class Watcher:
    """Follow ``paths`` and turn their new lines into alerts (:meth:`step`)."""

    paths: Sequence[str]
    from_start: bool = False
    mta: str = "auto"
    options: Any = None
    state: str | None = None
    ttl: timedelta = DEFAULT_TTL
    linger: timedelta = DEFAULT_LINGER
    diagnostics: list[Diagnostic] = field(default_factory=list)
    deferred_after: timedelta | None = None
    metrics: Any = None  #: a :class:`~logtrace.trace.metrics.Metrics` to feed, or None

    def __post_init__(self) -> None:
        from logtrace.parsing.protocol import ParseOptions

        self.options = self.options or ParseOptions()
        saved = load_state(self.state) if self.state else {}
        files = saved.get("files", {})
        self.tracker = Tracker(ttl=self.ttl, linger=self.linger, sent=saved.get("sent", {}).keys(),
                               deferred_after=self.deferred_after)
        self.tracker.sent.update(saved.get("sent", {}))
        self.tracker.classify = False  # each step's alerts are classified at once (fill_classes)
        self.inputs: list[_Input] = []
        self._years: dict[str, Any] = {}
        self._files = files
        #: globs and directories, looked at again every :data:`RESCAN` seconds for new files
        self.patterns = [p for p in dict.fromkeys(self.paths) if is_pattern(p) or (p != "-" and os.path.isdir(p))]
        for p in dict.fromkeys(self.paths):
            if p in self.patterns:
                for f in expand(p):
                    self._add(f, self.from_start)
            else:
                self._add(p, self.from_start)
        self._rescanned = time.monotonic()
        self._pending = [from_dict(d, d.get("file")) for d in saved.get("open", [])]
        self.last_read = 0  #: lines read by the last :meth:`step`
        self._dirty = True  # the first checkpoint holds the starting positions (a crash before any line must not skip lines)

    def _add(self, p: str, from_start: bool) -> None:
        if any(i.tail.path == p for i in self.inputs):
            return
        pos = self._files.get(p)
        resume = Position.from_json(pos) if pos else None
        if pos and pos.get("year") is not None:
            self._years[p] = (pos.get("year"), pos.get("month"))
        self.inputs.append(_Input(Tail(p, from_start=from_start, resume=resume)))

    def rescan(self) -> None:
        """Follow the files that appeared under a glob or in a directory (from their beginning);
        a file already followed under another name (renamed by rotation) is not read twice."""
        self._rescanned = time.monotonic()
        followed = {(i.tail.pos.dev, i.tail.pos.inode) for i in self.inputs if i.tail.pos.inode is not None}
        for spec in self.patterns:
            for f in expand(spec):
                try:
                    st = os.stat(f)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) not in followed:
                    self._add(f, True)

    # ------------------------------------------------------------------ running

    def step(self) -> list[dict[str, Any]]:
        """Read what was written since the last step; the alerts it makes certain."""
        events: list[Event] = [e for e in self._pending if isinstance(e, Event)]
        self._pending = []
        self._dirty = self._dirty or bool(events)
        if self.patterns and time.monotonic() - self._rescanned >= RESCAN:
            self.rescan()
        fresh: list[Event] = []
        self.last_read = 0
        tally: Tally[tuple[str, str]] | None = Tally() if self.metrics is not None else None
        for inp in self.inputs:
            lines = inp.tail.poll()
            if not lines:
                continue
            self._dirty = True
            if inp.journal is None:
                first = next((t for _, t in lines if t.strip()), None)
                if first is None:
                    continue
                inp.journal = first.lstrip().startswith("{") and '"MESSAGE"' in first
            if inp.journal:
                lines = [(no, journal_line(t)) for no, t in lines]
            if inp.parser is None and not self._choose_parser(inp, [t for _, t in lines]):
                continue
            inp.lines += len(lines)
            self.last_read += len(lines)
            if len(lines) >= FRAME_MIN and not reads_whole_files(inp.parser):
                fresh += self._parse_frame(inp, lines)
                continue
            parse, ctx = inp.parser.parse_line, inp.ctx
            mine: list[Event] = []
            for no, text in lines:
                rec = parse(text, ctx, no)
                if isinstance(rec, Event):
                    mine.append(rec)
                else:
                    inp.unparsed += 1
                if tally is not None:
                    tally[line_key(rec)] += 1
            if self.metrics is not None:
                self.metrics.lines_read(tally)
                tally.clear()
                self.metrics.observe(mine)
            fresh += mine
        fresh.sort(key=_order)
        events = sorted(events + fresh, key=_order) if events else fresh
        alerts: list[dict[str, Any]] = []
        feed = self.tracker.feed
        for e in events:
            alerts += feed(e)
        alerts += self.tracker.settle()
        fill_classes(alerts)
        if self.metrics is not None:
            self.metrics.alerts_made(alerts)
            self.metrics.progress(self.tracker.now, self.backlog(), self.tracker.in_memory)
        return alerts

    def _parse_frame(self, inp: _Input, lines: list[tuple[int, str]]) -> list[Event]:
        """Many lines at once (a replay, a backlog): the frame engine, as the batch commands parse;
        the same events as line by line (``tests/test_watch_metrics.py``). Only events with a
        queue ID become :class:`Event` objects (the rest only count in the metrics)."""
        import polars as pl

        from logtrace.containers.stamps import assign_years

        df = pl.DataFrame({"line_no": [n for n, _ in lines], "line": [t for _, t in lines]},
                          schema={"line_no": pl.UInt32, "line": pl.String})
        out = inp.parser.parse_frame(assign_years(df, inp.ctx.years), inp.ctx)
        inp.unparsed += int((out.get_column("kind") == "unparsed").sum())
        if self.metrics is not None:
            self.metrics.lines_read(frame_lines(out))
            self.metrics.observe_frame(out)
        return frame_events(out.filter(pl.col("queue_id").is_not_null(), pl.col("kind") != "unparsed"))

    def backlog(self) -> int:
        """Bytes written to the followed files and not read yet."""
        n = 0
        for i in self.inputs:
            if i.tail.path != "-" and i.tail.is_open:
                try:
                    n += max(0, os.stat(i.tail.path).st_size - i.tail.pos.offset)
                except OSError:
                    pass
        return n

    def finish(self) -> list[dict[str, Any]]:
        """The alerts still waiting for their grace time (at the end of a run)."""
        alerts = fill_classes(self.tracker.settle(force=True))
        if self.metrics is not None:
            self.metrics.alerts_made(alerts)
        return alerts

    @property
    def finished(self) -> bool:
        """Every input is a stream that has ended."""
        return all(i.tail.path == "-" and i.tail.at_eof for i in self.inputs)

    def _choose_parser(self, inp: _Input, first: list[str]) -> bool:
        """The parser of a file, chosen as every command chooses it (from its head, or from
        the first lines read when the file was empty or is a stream)."""
        from logtrace.parsing.protocol import FileContext
        from logtrace.parsing.scan import ScanResult, open_inputs

        path = inp.tail.path
        scan = ScanResult()
        tmp = None
        try:
            if path == "-" or not os.path.exists(path) or os.path.getsize(path) == 0:
                fd, tmp = tempfile.mkstemp(prefix="logtrace-watch-")
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write("\n".join(first[:200]) + "\n")
            for _f, parser, _ctx in open_inputs([tmp or path], self.mta, self.options, None, scan, True):
                inp.parser = parser
        finally:
            if tmp:
                os.unlink(tmp)
        self.diagnostics += [d for d in scan.diagnostics if d.level == "error"]
        if inp.parser is None:
            return False
        try:
            mtime = os.stat(path).st_mtime if path != "-" else time.time()
        except OSError:
            mtime = time.time()
        inp.ctx = FileContext(path, mtime, self.options)
        if path in self._years:
            inp.ctx.years.set_state(*self._years[path])
        return True

    def missing(self) -> list[str]:
        """The followed paths with no file to read (yet)."""
        return [i.tail.path for i in self.inputs if i.tail.path != "-" and not i.tail.is_open]

    def counts(self) -> dict[str, Any]:
        return {"lines": sum(i.lines for i in self.inputs), "unparsed": sum(i.unparsed for i in self.inputs),
                "in_memory": self.tracker.in_memory, "rotations": sum(i.tail.rotations for i in self.inputs),
                "truncations": sum(i.tail.truncations for i in self.inputs)}

    def close(self) -> None:
        for i in self.inputs:
            i.tail.close()

    # ------------------------------------------------------------------ state

    def save(self, force: bool = False) -> None:
        """Checkpoint positions, open lifecycles and sent alert IDs to ``state`` (atomically),
        when anything was read since the last checkpoint (or ``force``)."""
        if not self.state or not (self._dirty or force):
            return
        self._dirty = False
        files = {}
        for i in self.inputs:
            if i.tail.path == "-" or i.tail.pos.inode is None:
                continue
            d = i.tail.pos.to_json()
            if i.ctx is not None:
                d["year"], d["month"] = i.ctx.years.state()
            files[i.tail.path] = d
        sent = sorted(self.tracker.sent.items(), key=lambda kv: kv[1] or "")[-MAX_SENT:]
        if len(sent) < len(self.tracker.sent):
            self.tracker.sent = dict(sent)  # memory stays bounded too
        open_events = [to_dict(e, include_file=True) for b in self.tracker.open.values() if b.closed is None for e in b.events]
        save_state(self.state, {"version": STATE_VERSION, "schema": SCHEMA, "files": files, "sent": dict(sent),
                                "open": open_events})


_MIN = datetime.min.replace(tzinfo=timezone.utc)


def _order(e: Event) -> datetime:
    return e.ts or _MIN


_FIELDS: list[str] = [f.name for f in dataclass_fields(Event)]
_KINDS = {k.value: k for k in EventKind}


def frame_events(df: Any) -> list[Event]:
    """Rows of an event frame → :class:`Event` objects (column lists zipped: a replay's hot path)."""
    cols = [df.get_column(c).to_list() if c in df.columns else [None] * df.height for c in _FIELDS]
    ki = _FIELDS.index("kind")
    cols[ki] = [_KINDS[k] for k in cols[ki]]
    return [Event(**dict(zip(_FIELDS, v))) for v in zip(*cols)]


def journal_line(text: str) -> str:
    """One ``journalctl -o json`` record → the syslog line every parser reads (as ``parse`` reads such exports)."""
    from logtrace.input.reader import _journal_line

    return _journal_line(text.encode("utf-8", "surrogateescape")).decode("utf-8", "replace") if text.strip() else text


def load_state(path: str) -> dict[str, Any]:
    """A ``--state`` file (missing: empty); an unreadable one is an error with a hint."""
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("version") != STATE_VERSION or doc.get("schema") != SCHEMA:
            raise ValueError("not a watch state file")
        return doc
    except (OSError, ValueError, AttributeError) as e:
        raise LogtraceError(f"--state {path}: not a watch state file ({type(e).__name__}: {str(e)[:200]})",
                            hint="remove it to start afresh (alerts already sent may then come again)") from None


def save_state(path: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` atomically (:func:`logtrace.statefile.write_json_atomic`)."""
    write_json_atomic(path, doc, separators=(",", ":"))


# ---------------------------------------------------------------------- delivery


class RateLimit:
    """At most ``per_minute`` alerts in any wall-clock minute; the rest are held back and
    counted, and the next call after the minute gives one summary alert saying how many."""

    def __init__(self, per_minute: int, clock: Any = time.monotonic) -> None:
        self.per_minute, self.clock = per_minute, clock
        self._start = clock()
        self._sent = 0
        self.held = 0

    def admit(self, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        now = self.clock()
        if now - self._start >= 60:
            if self.held:
                out.append(held_back_alert(self.held))
            self._start, self._sent, self.held = now, len(out), 0
        for a in alerts:
            if self._sent < self.per_minute:
                out.append(a)
                self._sent += 1
            else:
                self.held += 1
        return out

    def flush(self) -> list[dict[str, Any]]:
        """The summary of what is still held back (at exit)."""
        out = [held_back_alert(self.held)] if self.held else []
        self.held = 0
        return out


def held_back_alert(n: int) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    return {"schema": SCHEMA, "alert_id": f"held-back-{int(now.timestamp())}", "ts": now.isoformat(), "verdict": "held-back",
            "held_back": n, "summary": f"{n} more alert(s) held back by --max-alerts-per-minute"}


def split_command(cmd: str) -> list[str]:
    """``--exec``'s argv (shlex rules, never a shell); an empty or unbalanced one is an error."""
    try:
        argv = shlex.split(cmd)
    except ValueError as e:
        raise LogtraceError(f"--exec: cannot split {cmd!r} ({e})", hint="quote it as a shell would") from None
    if not argv:
        raise LogtraceError("--exec: empty command")
    return argv


def run_command(argv: list[str], alert: dict[str, Any], timeout: float) -> str | None:
    """Run ``argv`` once with the alert's JSON on stdin; None when it succeeded, else what went wrong."""
    try:
        p = subprocess.run(argv, input=(json.dumps(alert) + "\n").encode(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:g}s"
    except OSError as e:
        return e.strerror or str(e)
    if p.returncode:
        return f"exit status {p.returncode}: {p.stderr.decode('utf-8', 'replace').strip()[:200]}"
    return None

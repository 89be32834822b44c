"""Byte-level search of uncompressed logs: find the few lines naming an ID, fast.

``follow`` needs a handful of lines out of millions. :class:`PlainLog` gives it two searches:

* :meth:`PlainLog.full_scan` — every line of the file naming a needle: GNU ``grep`` when it
  was started early (:mod:`logtrace.input.grep`), else ``bytes.find`` over 16 MiB blocks
  (memchr-class speed, memory bounded by one block). Same hits either way.
* :meth:`PlainLog.scan_range` — the same, limited to a byte range (a window around the lines
  already found): a few MiB instead of the whole file.

Only the hit lines are decoded and parsed with the file's parser (the line engine). Line
numbers are exact: full scans know them, and a window's hits are numbered by counting
newlines from the nearest line whose number is known (a *checkpoint*), so a window near an
earlier hit costs a window's worth of counting, not the file's. Compressed files are
decompressed once into a temporary file (:meth:`PlainLog.spool`) and searched the same way.

Years: a hit line is parsed out of context, so its RFC 3164 stamp gets the year of the
file's first stamp (``--year`` or the mtime rule), plus one when its month is earlier than
that first month (the Dec→Jan case); exact for any file spanning less than a year, which is
what the frame engine computes too.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from logtrace.containers.stamps import MONTHS
from logtrace.events import Event, Unparsed
from logtrace.input import grep

_STAMP3164 = re.compile(rb"^([A-Z][a-z]{2}) [ 0-3]?\d \d\d:")

BLOCK = 16 << 20


@dataclass(frozen=True, slots=True)
class Hit:
    """One line found: its number, the byte offset of its first byte, its text."""

    line_no: int
    offset: int
    text: str


def _decode(raw: bytes) -> str:
    return raw.replace(b"\0", b"").decode("utf-8", "replace").rstrip("\r")


@dataclass
class PlainLog:
    """An uncompressed file searched by byte ranges (memory stays at one block whatever the
    file size). Hits are parsed once; ``line_no`` is exact."""

    path: str
    parser: Any
    ctx: Any
    size: int = 0
    first_month: int | None = None
    fd: int = -1
    parsed: dict[int, Event | Unparsed] = field(default_factory=dict)
    #: (offset of a line start, its line number), sorted; (0, 1) always
    checkpoints: list[tuple[int, int]] = field(default_factory=lambda: [(0, 1)])
    display: str | None = None  # the name shown for a spooled input
    spooled: bool = False

    @classmethod
    def open(cls, path: str, parser: Any, ctx: Any) -> PlainLog | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        log = cls(path, parser, ctx, size=os.fstat(fd).st_size, fd=fd)
        log._first_month(os.pread(fd, 1 << 16, 0))
        return log

    @classmethod
    def spool(cls, f: Any, parser: Any, ctx: Any, diags: list[Any]) -> PlainLog | None:
        """A compressed file (or stdin), decompressed once into an unlinked temporary file
        (``$TMPDIR``): one streaming pass, then the same windowed searches as a plain file."""
        import tempfile

        from logtrace.input import reader

        tmp = tempfile.TemporaryFile(prefix="logtrace-follow-")  # noqa: SIM115 - closed below, its fd kept
        for _, data in reader.read_chunks(f, diags):  # a damaged archive: its good part, with a warning
            tmp.write(data if data.endswith(b"\n") else data + b"\n")
        tmp.flush()
        fd = os.dup(tmp.fileno())
        tmp.close()
        log = cls(f.path, parser, ctx, size=os.fstat(fd).st_size, fd=fd, display=f.path, spooled=True)
        log._first_month(os.pread(fd, 1 << 16, 0))
        return log

    def _first_month(self, head: bytes) -> None:
        for ln in head.split(b"\n"):
            m = _STAMP3164.match(ln)
            if m and m.group(1).decode() in MONTHS:
                self.first_month = MONTHS[m.group(1).decode()]
                break

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # ------------------------------------------------------------------ reading

    def read(self, start: int, end: int) -> bytes:
        return os.pread(self.fd, max(0, end - start), start) if end > start else b""

    def blocks(self, start: int, end: int) -> Iterable[tuple[int, bytes]]:
        """``(offset, data)`` of whole lines covering ``[start, end)``, ``start`` moved back to
        a line start, at most about one :data:`BLOCK` per piece."""
        start = self.line_start(start)
        end = min(end, self.size)
        pos = start
        while pos < end:
            data = self.read(pos, min(pos + BLOCK, end))
            while data and not data.endswith(b"\n") and pos + len(data) < self.size:  # complete the last line
                more = self.read(pos + len(data), min(self.size, pos + len(data) + 65536))
                nl = more.find(b"\n")
                data += more if nl < 0 else more[: nl + 1]
            if not data:
                break
            yield pos, data
            pos += len(data)

    def line_start(self, offset: int) -> int:
        """The offset of the first byte of the line holding ``offset``."""
        offset = max(0, min(offset, self.size))
        pos = offset
        while pos > 0:
            lo = max(0, pos - 65536)
            nl = self.read(lo, pos).rfind(b"\n")
            if nl >= 0:
                return lo + nl + 1
            pos = lo
        return 0

    # ------------------------------------------------------------------ searching

    def full_scan(self, needle: bytes, rx: re.Pattern[bytes] | None = None) -> list[Hit]:
        """Every line naming ``needle`` (or matching ``rx``, a case-insensitive literal)."""
        if not self.spooled:
            rows = grep.take(self.path, needle, rx is not None)
            if rows is not None:
                hits = [Hit(n, off, _decode(raw)) for n, off, raw in rows]
                for h in hits:
                    self._checkpoint(h.offset, h.line_no)
                return hits
        return self.scan_range(needle, 0, self.size, rx)

    def scan_range(self, needle: bytes, start: int, end: int, rx: re.Pattern[bytes] | None = None) -> list[Hit]:
        """Lines in ``[start, end)`` (whole lines around the ends) naming ``needle``."""
        found: list[tuple[int, bytes]] = []
        for base, data in self.blocks(start, end):
            starts: set[int] = set()
            if rx is not None:
                for m in rx.finditer(data):
                    starts.add(data.rfind(b"\n", 0, m.start()) + 1)
            elif needle:
                pos = data.find(needle)
                while pos >= 0:
                    starts.add(data.rfind(b"\n", 0, pos) + 1)
                    eol = data.find(b"\n", pos)
                    if eol < 0:
                        break
                    pos = data.find(needle, eol)
            for st in sorted(starts):
                eol = data.find(b"\n", st)
                found.append((base + st, data[st: eol if eol >= 0 else len(data)]))
        numbers = self.number([off for off, _ in found])
        return [Hit(n, off, _decode(raw)) for n, (off, raw) in zip(numbers, found, strict=True)]

    # ------------------------------------------------------------------ line numbers

    def _checkpoint(self, offset: int, line_no: int) -> None:
        i = bisect.bisect_left(self.checkpoints, (offset, 0))
        if i == len(self.checkpoints) or self.checkpoints[i][0] != offset:
            self.checkpoints.insert(i, (offset, line_no))

    def number(self, offsets: list[int]) -> list[int]:
        """Line numbers of line starts, counted from the nearest checkpoint before each."""
        out = []
        for off in offsets:
            i = bisect.bisect_right(self.checkpoints, (off, 1 << 62)) - 1
            c_off, c_no = self.checkpoints[i]
            if i + 1 < len(self.checkpoints) and self.checkpoints[i + 1][0] - off < off - c_off:
                a_off, a_no = self.checkpoints[i + 1]  # nearer after: count back from it
                n = a_no - self._newlines(off, a_off)
            else:
                n = c_no + self._newlines(c_off, off)
            self._checkpoint(off, n)
            out.append(n)
        return out

    def _newlines(self, start: int, end: int) -> int:
        n = 0
        while start < end:
            step = min(end, start + BLOCK)
            n += self.read(start, step).count(b"\n")
            start = step
        return n

    # ------------------------------------------------------------------ time

    def time_at(self, offset: int) -> datetime | None:
        """The time of the first stamped line at or after ``offset`` (None near the end or
        when no line there has a stamp the parser reads)."""
        pos = self.line_start(offset)
        if pos < offset:
            nl = self.read(offset, min(self.size, offset + 65536)).find(b"\n")
            if nl < 0:
                return None
            pos = offset + nl + 1
        chunk = self.read(pos, min(self.size, pos + 65536))
        for raw in chunk.split(b"\n")[:-1][:20]:
            line = _decode(raw)
            self.set_year(line)
            ts = self.parser.parse_line(line, self.ctx, 0).ts
            if ts is not None:
                return ts
        return None

    def offset_before(self, when: datetime, slack: int) -> int:
        """A line offset at or before the first line logged at ``when`` (bisecting on stamps;
        syslog is only roughly time-ordered, hence ``slack`` bytes more); 0 when in doubt."""
        lo, hi = 0, self.size
        while hi - lo > slack:
            mid = (lo + hi) // 2
            ts = self.time_at(mid)
            if ts is None:
                return 0
            if ts < when:
                lo = mid
            else:
                hi = mid
        return self.line_start(max(0, lo - slack))

    # ------------------------------------------------------------------ parsing

    def parse(self, hits: Iterable[Hit]) -> list[tuple[Hit, Event | Unparsed]]:
        """``(hit, record)`` for the hits not parsed before (each line is parsed once)."""
        out = []
        for h in hits:
            if h.offset in self.parsed:
                continue
            self.set_year(h.text)
            rec = self.parser.parse_line(h.text, self.ctx, h.line_no)
            self.parsed[h.offset] = rec
            out.append((h, rec))
        return out

    def set_year(self, line: str) -> None:
        """Put the file's year tracker where a reader in file order would be at ``line``."""
        month = MONTHS.get(line[:3]) if len(line) > 3 and line[3] == " " else None
        if month is not None:
            self.ctx.years.seek(month, self.first_month)

    def last_line(self) -> str | None:
        tail = self.read(max(0, self.size - (1 << 16)), self.size)
        lines = [ln for ln in tail.split(b"\n") if ln.strip()]
        return _decode(lines[-1]) if lines else None

"""Byte-level search of uncompressed logs: find the few lines naming an ID, fast.

``follow`` needs a handful of lines out of millions. For a plain file that is a job for
``bytes.find`` over 16 MiB blocks (memchr-class speed, no decoding, no per-line Python,
memory bounded by one block): each needle costs one pass, and only the hit lines are
decoded and parsed with the file's parser (the line engine). Compressed files go through
the polars path in :mod:`logtrace.trace.follow` instead.

Years: a hit line is parsed out of context, so its RFC 3164 stamp gets the year of the
file's first stamp (``--year`` or the mtime rule), plus one when its month is earlier than
that first month (the Dec→Jan case); exact for any file spanning less than a year, which is
what the frame engine computes too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from logtrace.containers.stamps import MONTHS
from logtrace.events import Event, Unparsed

_STAMP3164 = re.compile(rb"^([A-Z][a-z]{2}) [ 0-3]?\d \d\d:")


BLOCK = 16 << 20


@dataclass
class PlainLog:
    """An uncompressed file searched block by block (memory stays at one block whatever the
    file size). Hits are parsed once; ``line_no`` is exact (newlines are counted per block)."""

    path: str
    parser: Any
    ctx: Any
    first_month: int | None = None
    parsed: set[int] = field(default_factory=set)

    @classmethod
    def open(cls, path: str, parser: Any, ctx: Any) -> PlainLog | None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(1 << 16)
        except OSError:
            return None
        log = cls(path, parser, ctx)
        for ln in head.split(b"\n"):
            m = _STAMP3164.match(ln)
            if m and m.group(1).decode() in MONTHS:
                log.first_month = MONTHS[m.group(1).decode()]
                break
        return log

    def close(self) -> None:
        pass

    def scan(self, needles: Iterable[bytes], rx: re.Pattern[bytes] | None = None) -> list[tuple[int, str]]:
        """``(line_no, text)`` of every line containing one of ``needles`` (or matching ``rx``)."""
        needles = [n for n in needles if n]
        hits: list[tuple[int, str]] = []
        line_no = 1
        rest = b""
        with open(self.path, "rb", buffering=0) as fh:
            while True:
                buf = fh.read(BLOCK)
                if buf:
                    data = rest + buf
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        rest = data
                        continue
                    data, rest = data[: cut + 1], data[cut + 1 :]
                else:
                    data, rest = rest, b""
                if data:
                    starts: set[int] = set()
                    for nd in needles:
                        pos = data.find(nd)
                        while pos >= 0:
                            starts.add(data.rfind(b"\n", 0, pos) + 1)
                            end = data.find(b"\n", pos)
                            if end < 0:
                                break
                            pos = data.find(nd, end)
                    if rx is not None:
                        for m in rx.finditer(data):
                            starts.add(data.rfind(b"\n", 0, m.start()) + 1)
                    prev, n = 0, line_no
                    for st in sorted(starts):
                        n += data.count(b"\n", prev, st)
                        prev = st
                        end = data.find(b"\n", st)
                        hits.append((n, data[st: end if end >= 0 else len(data)].replace(b"\0", b"").decode("utf-8", "replace").rstrip("\r")))
                    line_no += data.count(b"\n")
                if not buf:
                    break
        return hits

    def parse(self, hits: Iterable[tuple[int, str]]) -> list[Event | Unparsed]:
        out = []
        for n, line in hits:
            if n in self.parsed:
                continue
            self.parsed.add(n)
            self.set_year(line)
            out.append(self.parser.parse_line(line, self.ctx, n))
        return out

    def set_year(self, line: str) -> None:
        """Put the file's year tracker where a reader in file order would be at ``line``."""
        month = MONTHS.get(line[:3]) if len(line) > 3 and line[3] == " " else None
        if month is not None:
            self.ctx.years.seek(month, self.first_month)

    def last_line(self) -> str | None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(0, 2)
                size = fh.tell()
                fh.seek(max(0, size - (1 << 16)))
                tail = fh.read()
        except OSError:
            return None
        lines = [ln for ln in tail.split(b"\n") if ln.strip()]
        return lines[-1].decode("utf-8", "replace").rstrip("\r") if lines else None

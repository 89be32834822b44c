"""Byte-level search of uncompressed logs: find the few lines naming an ID, fast.

``follow`` needs a handful of lines out of millions. For a plain file that is a job for
``mmap`` and ``bytes.find`` (memchr-class speed, no decoding, no per-line Python): each
needle costs one scan of the mapping, and only the hit lines are decoded and parsed with
the file's parser (the line engine). Compressed files and stdin go through the polars
path in :mod:`logtrace.follow` instead.

Years: a hit line is parsed out of context, so its RFC 3164 stamp gets the year of the
file's first stamp (``--year`` or the mtime rule), plus one when its month is earlier than
that first month (the Dec→Jan case); exact for any file spanning less than a year, which is
what the frame engine computes too.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .envelope import MONTHS, base_year
from .events import Event, Unparsed

_STAMP3164 = re.compile(rb"^([A-Z][a-z]{2}) [ 0-3]?\d \d\d:")


@dataclass
class MappedLog:
    path: str
    parser: Any
    ctx: Any
    mm: Any = None
    first_month: int | None = None
    base: int | None = None
    starts: set[int] = field(default_factory=set)
    _numbers: dict[int, int] | None = None

    @classmethod
    def open(cls, path: str, parser: Any, ctx: Any) -> MappedLog | None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - the mapping outlives this scope
        except OSError:
            return None
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            fh.close()
            return None
        fh.close()
        log = cls(path, parser, ctx, mm)
        head = mm[: 1 << 16]
        for ln in head.split(b"\n"):
            m = _STAMP3164.match(ln)
            if m and m.group(1).decode() in MONTHS:
                log.first_month = MONTHS[m.group(1).decode()]
                break
        log.base = base_year(log.first_month, ctx.years.mtime, ctx.years.year)
        return log

    def close(self) -> None:
        if self.mm is not None:
            self.mm.close()
            self.mm = None

    # ------------------------------------------------------------------ finding

    def find(self, needle: bytes) -> set[int]:
        """Start offsets of the lines containing ``needle``."""
        mm = self.mm
        out: set[int] = set()
        pos = mm.find(needle)
        while pos >= 0:
            start = mm.rfind(b"\n", 0, pos) + 1
            end = mm.find(b"\n", pos)
            if end < 0:
                end = len(mm)
            out.add(start)
            pos = mm.find(needle, end)
        return out

    def find_regex(self, rx: re.Pattern[bytes]) -> set[int]:
        mm = self.mm
        out: set[int] = set()
        for m in rx.finditer(mm):
            out.add(mm.rfind(b"\n", 0, m.start()) + 1)
        return out

    # ------------------------------------------------------------------ reading

    def line_numbers(self, starts: Iterable[int]) -> dict[int, int]:
        """Offset → 1-based line number, counting newlines once over the sorted offsets."""
        mm = self.mm
        out: dict[int, int] = {}
        prev, n = 0, 1
        for s in sorted(starts):
            n += mm[prev:s].count(b"\n")
            out[s] = n
            prev = s
        return out

    def text_at(self, start: int) -> str:
        end = self.mm.find(b"\n", start)
        raw = self.mm[start: end if end >= 0 else len(self.mm)]
        return raw.decode("utf-8", "replace").rstrip("\r")

    def parse(self, starts: Iterable[int]) -> list[Event | Unparsed]:
        """Parse the lines at ``starts`` (new ones only). Their ``line_no`` is the byte offset
        until :attr:`numbers` turns offsets into line numbers, once, at the end."""
        starts = [s for s in starts if s not in self.starts]
        if not starts:
            return []
        self.starts.update(starts)
        self._numbers = None
        out = []
        for s in starts:
            line = self.text_at(s)
            self._set_year(line)
            out.append(self.parser.parse_line(line, self.ctx, s))
        return out

    @property
    def numbers(self) -> dict[int, int]:
        if self._numbers is None:
            self._numbers = self.line_numbers(self.starts)
        return self._numbers

    def _set_year(self, line: str) -> None:
        month = MONTHS.get(line[:3]) if len(line) > 3 and line[3] == " " else None
        if month is None or self.base is None:
            return
        year = self.base + (1 if self.first_month is not None and month < self.first_month else 0)
        self.ctx.years.set_state(year, month)

    def last_line(self) -> tuple[int, str] | None:
        mm = self.mm
        end = len(mm)
        while end > 0 and mm[end - 1:end] in (b"\n", b"\r"):
            end -= 1
        if end <= 0:
            return None
        start = mm.rfind(b"\n", 0, end) + 1
        return start, self.text_at(start)

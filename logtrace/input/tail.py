"""Following growing files like ``tail -F``: new complete lines, across rotations.

:class:`Tail` follows one path (or ``-``, a stream). Each :meth:`Tail.poll` returns the
complete lines written since the last poll, with their line numbers:

* It starts at the end of the file unless told to start at the beginning (``from_start``)
  or at a saved :class:`Position` (a restart with ``--state``); a path that does not exist
  yet is waited for.
* **Rename + new file** (logrotate's default): when the path names another inode, the rest
  of the old file is read to its end first, then the new file from its beginning.
* **copytruncate**: when the file is smaller than what was read, or the bytes just before
  the offset are no longer the end of the last line read (it was truncated and has grown
  back past the old offset between two polls), reading starts again at its beginning.
  (Lines written between logrotate's copy and its truncate are in the copy, not here —
  inherent to copytruncate.)
* A partial last line waits for its newline.

Standard library only; no parsing here.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

#: most bytes read from one file per poll (the rest comes on the next poll)
READ_MAX = 4 << 20
#: bytes before the offset compared on every poll (copytruncate that grew back)
TAIL_CHECK = 64


@dataclass
class Position:
    """Where a follower is: the file's identity and the byte offset and line number read up to."""

    offset: int = 0
    line_no: int = 0
    inode: int | None = None
    dev: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "line_no": self.line_no, "inode": self.inode, "dev": self.dev}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Position:
        return cls(int(d.get("offset", 0)), int(d.get("line_no", 0)), d.get("inode"), d.get("dev"))


def _decode(raw: bytes) -> str:
    return raw.replace(b"\0", b"").decode("utf-8", "replace").rstrip("\r")


class Tail:
    """One followed path. Not thread-safe; the stream reader (``-``) runs in its own thread."""

    def __init__(self, path: str, *, from_start: bool = False, resume: Position | None = None) -> None:
        self.path = path
        self.pos = Position()
        self.rotations = 0
        self.truncations = 0
        self._f: BinaryIO | None = None
        self._buf = b""
        self._tail = b""  # the last bytes of the last complete line read (copytruncate check)
        self._stream: queue.Queue[bytes | None] | None = None
        self._eof = False
        self._first = True
        self._from_start = from_start
        self._resume = resume

    # ------------------------------------------------------------------ opening

    def _open(self, initial: bool) -> bool:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - kept open while followed
        except OSError:
            return False
        st = os.fstat(f.fileno())
        self._f, self._buf, self._tail = f, b"", b""
        r = self._resume if initial else None
        if r is not None and r.inode == st.st_ino and r.dev == st.st_dev and r.offset <= st.st_size:
            self.pos = Position(r.offset, r.line_no, st.st_ino, st.st_dev)  # the same file: go on where we were
        elif initial and r is None and not self._from_start:
            self.pos = Position(st.st_size, _count_lines(f, st.st_size), st.st_ino, st.st_dev)
        else:  # from the beginning: asked for, a new file after rotation, or a saved position of another file
            self.pos = Position(0, 0, st.st_ino, st.st_dev)
        f.seek(self.pos.offset)
        if self.pos.offset:
            self._tail = os.pread(f.fileno(), min(TAIL_CHECK, self.pos.offset), self.pos.offset - min(TAIL_CHECK, self.pos.offset))
        return True

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    @property
    def is_open(self) -> bool:
        return self._f is not None

    @property
    def at_eof(self) -> bool:
        """A stream that ended (a file never ends)."""
        return self._eof

    # ------------------------------------------------------------------ reading

    def poll(self) -> list[tuple[int, str]]:
        """``(line_no, text)`` of the complete lines written since the last poll."""
        if self.path == "-":
            return self._poll_stream()
        if self._f is None:
            opened = self._open(self._first)
            self._first = False  # a file that appears later is read from its beginning
            if not opened:
                return []
        assert self._f is not None
        out: list[tuple[int, str]] = []
        st = os.fstat(self._f.fileno())
        if st.st_size < self.pos.offset or not self._same_tail():  # copytruncate: before reading anything
            self.truncations += 1
            self._f.seek(0)
            self._buf, self._tail = b"", b""
            self.pos = Position(0, 0, st.st_ino, st.st_dev)
        out += self._read_lines()
        try:
            st = os.stat(self.path)
        except OSError:
            return out  # renamed away, the new file not there yet: the old one may still grow
        if (st.st_ino, st.st_dev) != (self.pos.inode, self.pos.dev):
            out += self._read_lines(final=True)  # the rest of the rotated file, then the new one
            self.close()
            self.rotations += 1
            if self._open(False):
                out += self._read_lines()
        return out

    def _same_tail(self) -> bool:
        """The last bytes read are still where they were (no truncate-and-rewrite under us)."""
        if not self._tail or self._f is None:
            return True
        try:
            return os.pread(self._f.fileno(), len(self._tail), self.pos.offset - len(self._tail)) == self._tail
        except OSError:
            return True

    def _read_lines(self, final: bool = False) -> list[tuple[int, str]]:
        """Complete lines from the file; ``final``: all of a rotated file, its last line too."""
        assert self._f is not None
        out: list[tuple[int, str]] = []
        while True:
            data = self._f.read(READ_MAX)
            if data:
                out += self._take(data)
            if not final:
                return out
            if not data:
                if self._buf:  # a rotated file's unterminated last line
                    out += self._take(b"\n")
                return out

    def _take(self, data: bytes) -> list[tuple[int, str]]:
        data = self._buf + data
        cut = data.rfind(b"\n") + 1
        self._buf = data[cut:]
        out = []
        for raw in data[:cut].split(b"\n")[:-1]:
            self.pos.line_no += 1
            out.append((self.pos.line_no, _decode(raw)))
        self.pos.offset += cut  # complete lines only: a partial one is read again after a restart
        if cut:
            self._tail = data[max(0, cut - TAIL_CHECK):cut]
        return out

    def _poll_stream(self) -> list[tuple[int, str]]:
        if self._stream is None:
            self._stream = queue.Queue(maxsize=64)  # back-pressure: a fast writer waits for the parser
            threading.Thread(target=_pump, args=(sys.stdin.buffer, self._stream), daemon=True).start()
        out: list[tuple[int, str]] = []
        got = 0
        while got < READ_MAX:  # a fast writer (a replay) is read a bounded piece per poll, as a file is
            try:
                chunk = self._stream.get_nowait()
            except queue.Empty:
                return out
            if chunk is None:
                self._eof = True
                if self._buf:
                    out += self._take(b"\n")
                return out
            got += len(chunk)
            out += self._take(chunk)
        return out


def _pump(src: BinaryIO, q: queue.Queue[bytes | None]) -> None:
    try:
        while True:
            chunk = src.read1(65536) if hasattr(src, "read1") else src.read(65536)  # type: ignore[attr-defined]
            if not chunk:
                break
            q.put(chunk)
    finally:
        q.put(None)


def _count_lines(f: BinaryIO, end: int) -> int:
    """Newlines in the first ``end`` bytes (line numbers of a file followed from its end)."""
    f.seek(0)
    n, left = 0, end
    while left > 0:
        block = f.read(min(left, 16 << 20))
        if not block:
            break
        n += block.count(b"\n")
        left -= len(block)
    return n

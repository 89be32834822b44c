"""Inputs: paths, globs, directories and ``-``; decompression; lines with numbers.

Responsibilities and invariants:

* :func:`expand` turns user arguments into :class:`InputFile` objects, rotated sets in time
  order (``mail.log.3.gz mail.log.2.gz mail.log.1 mail.log``). A missing or unreadable path
  raises :class:`~logtrace.errors.InputError` (one line, with a hint).
* Compression is detected by magic bytes (gzip, bzip2, xz, zstd), never by file name.
* Bytes that are not UTF-8 never abort a file: frames use polars' ``utf8-lossy`` decoding,
  the line engine ``errors="replace"``; both give U+FFFD.
* A truncated or corrupt compressed file yields a :class:`~logtrace.errors.Diagnostic`
  naming the file and the line reached; the lines read so far are kept.
* Line numbers are 1-based and count every physical line, empty ones included.
* This is the only module that touches polars' I/O quirks: ``read_csv`` with a separator that
  never occurs reads whole lines fast; a line holding byte 0x1F would be cut there, so that
  byte is escaped as the text ``\\x1f`` before polars sees it.
"""

from __future__ import annotations

import bz2
import glob
import io
import json
import lzma
import os
import re
import stat
import subprocess
import sys
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

from logtrace.errors import Diagnostic, InputError

CHUNK_BYTES = 16 << 20  # measured: 8 MiB chunks peak at ~300 MB RSS, 32 MiB at ~730 MB but run 20% faster
HEAD_BYTES = 64 << 10

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


@dataclass(eq=False)
class InputFile:
    """One input. ``path`` is what the user sees (``-`` for stdin)."""

    path: str
    mtime: float | None = None
    size: int | None = None
    _stdin: IO[bytes] | None = field(default=None, repr=False)
    _head: bytes | None = field(default=None, repr=False)
    _compression: str | None = field(default=None, repr=False)
    _stdin_head: bytes = field(default=b"", repr=False)
    _spool: str | None = field(default=None, repr=False)  #: a file holding what stdin gave (:func:`stdin_spooled`)

    @property
    def is_stdin(self) -> bool:
        """Whether the input is standard input (shown as ``-``, spooled or not)."""
        return self.path == "-"

    @property
    def reads_stdin(self) -> bool:
        """Whether reading it reads the stdin stream itself (once only: its head is replayed)."""
        return self.path == "-" and self._spool is None

    @property
    def compression(self) -> str | None:
        """``gzip``, ``bzip2``, ``xz``, ``zstd`` or None (known once the input was opened or sniffed)."""
        return self._compression


# ------------------------------------------------------------------ expansion

_ROT_RE = re.compile(r"^(?P<stem>.*?)(?:[.-](?P<num>\d{1,4})|-(?P<date>\d{8}))?(?:\.(?:gz|bz2|xz|zst|zstd))?$")


def _rotation_key(path: str) -> tuple[str, int, int, str]:
    m = _ROT_RE.match(os.path.basename(path))
    assert m is not None
    stem = os.path.join(os.path.dirname(path), m.group("stem"))
    if m.group("num") is not None:
        return (stem, 0, -int(m.group("num")), "")
    if m.group("date") is not None:
        return (stem, 1, int(m.group("date")), "")
    return (stem, 2, 0, "")


def sort_rotated(paths: list[str]) -> list[str]:
    """Order a rotated set oldest first; different stems keep their first-seen order."""
    order: dict[str, int] = {}
    for p in paths:
        order.setdefault(_rotation_key(p)[0], len(order))
    return sorted(paths, key=lambda p: (order[_rotation_key(p)[0]], *_rotation_key(p)[1:]))


def _file(path: str) -> InputFile:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", hint="check the path; globs are expanded by logtrace too") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied", hint="run as a user that can read the mail logs (e.g. group adm)") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a directory")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied", hint="run as a user that can read the mail logs (e.g. group adm)")
    return InputFile(path=path, mtime=st.st_mtime, size=st.st_size)


#: the file standard input is spooled into while :func:`stdin_spooled` is active (else None)
_SPOOL: list[str | None] = [None]


@contextmanager
def stdin_spooled() -> Iterator[None]:
    """While active, ``-`` reads a temporary copy of standard input (in ``$TMPDIR``, removed on exit),
    so a command can read it twice, as it reads a file (``bounces``' two passes); it is still shown as
    ``-``, with no modification time. Compressed input is copied as it comes and decoded when read."""
    import shutil
    import tempfile

    if _SPOOL[0] is not None:  # already spooled (nested use)
        yield
        return
    fd, path = tempfile.mkstemp(prefix="logtrace-stdin-")
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        except OSError as e:
            raise InputError(f"-: cannot keep a copy of standard input in {os.path.dirname(path)}: {e.strerror or e}",
                             hint="set TMPDIR to a directory with room for the input, or pass the log files by name") from None
        _SPOOL[0] = path
        yield
    finally:
        _SPOOL[0] = None
        try:
            os.unlink(path)
        except OSError:
            pass


def expand(args: Sequence[str]) -> list[InputFile]:
    """Expand user arguments into inputs. Directories contribute their regular files."""
    out: list[InputFile] = []
    seen: set[str] = set()
    for a in args:
        if a == "-":
            out.append(InputFile(path="-", _spool=_SPOOL[0]))
            continue
        if os.path.isdir(a):
            names = [os.path.join(a, n) for n in os.listdir(a)]
            files = [n for n in names if os.path.isfile(n) and not os.path.basename(n).startswith(".")]
            if not files:
                raise InputError(f"{a}: directory holds no files")
            cands = sort_rotated(sorted(files))
        elif not os.path.exists(a) and glob.has_magic(a):
            cands = sort_rotated(sorted(glob.glob(a)))
            if not cands:
                raise InputError(f"{a}: no file matches", hint="check the pattern")
        else:
            cands = [a]
        for c in cands:
            if c in seen:
                continue
            seen.add(c)
            out.append(_file(c))
    # a plain list of rotated names given by the shell (mail.log mail.log.1 …) is reordered too
    plain = [f.path for f in out]
    if len(plain) > 1 and "-" not in plain:
        by = {f.path: f for f in out}
        out = [by[p] for p in sort_rotated(plain)]
    return out


# ------------------------------------------------------------------ opening

class _ZstdCli(io.RawIOBase):
    """zstd without the ``zstandard`` module: stream through the ``zstd`` command."""

    def __init__(self, raw: IO[bytes]) -> None:
        import shutil
        import threading

        try:
            self._p = subprocess.Popen(["zstd", "-dc"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            raise InputError("zstd-compressed input needs the 'zstandard' Python package or the zstd command",
                             hint="pip install zstandard") from None
        assert self._p.stdout is not None and self._p.stdin is not None
        self._out = self._p.stdout
        sink = self._p.stdin

        def feed() -> None:  # through Python, not the fd: bytes already buffered (sniffed magic, stdin) count too
            try:
                shutil.copyfileobj(raw, sink, 1 << 20)
            except (BrokenPipeError, OSError, ValueError):
                pass
            finally:
                try:
                    sink.close()
                except OSError:
                    pass

        threading.Thread(target=feed, daemon=True).start()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._out.readinto(b)
        if n == 0 and self._p.wait() != 0:
            raise EOFError("zstd: corrupt or truncated input")
        return n or 0


class _Decoded(io.RawIOBase):
    """One decoder for gzip, bzip2, xz and zstd, built on the incremental decompressor objects.

    Unlike ``GzipFile`` & co it (1) hands out data as soon as it is decoded, so a corrupt
    or truncated tail loses nothing before it; (2) holds back the stream's last 8 bytes
    until the end, so a bad gzip CRC trailer is reported only after every line was
    delivered; (3) notices a stream that ends before its end marker (zstandard's
    ``stream_reader`` silently returns EOF there); (4) reads concatenated members.
    """

    HOLD = 8
    PIECE = 16 << 10

    def __init__(self, raw: IO[bytes], factory: Any, kind: str) -> None:
        self.raw, self.factory, self.kind = raw, factory, kind
        self.dec = factory()
        self.pending = b""
        self.out = bytearray()
        self.done = False
        self.fed = False

    def readable(self) -> bool:
        return True

    def _feed(self, data: bytes) -> None:
        while data:
            if self.dec.eof:
                if not data.strip(b"\0"):
                    return  # padding after the last member
                self.dec = self.factory()
            self.out += self.dec.decompress(data)
            self.fed = True
            data = self.dec.unused_data if self.dec.eof else b""

    def readinto(self, b: Any) -> int:
        while not self.out and not self.done:
            chunk = self.raw.read(self.PIECE)
            if not chunk:
                data, self.pending = self.pending, b""
                self.done = True
                self._feed(data)
                if self.fed and not self.dec.eof:
                    raise EOFError(f"{self.kind} stream ends before its end-of-stream marker")
                break
            data = self.pending + chunk
            data, self.pending = data[: -self.HOLD], data[-self.HOLD :]
            self._feed(data)
        n = min(len(b), len(self.out))
        b[:n] = self.out[:n]
        del self.out[:n]
        return n


def _decompressor(kind: str | None, raw: IO[bytes]) -> IO[bytes]:
    factories: dict[str, Any] = {
        "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
        "bzip2": bz2.BZ2Decompressor,
        "xz": lzma.LZMADecompressor,
    }
    if kind == "zstd":
        try:
            import zstandard  # type: ignore[import-not-found]

            factories["zstd"] = lambda: zstandard.ZstdDecompressor().decompressobj()
        except ImportError:
            return io.BufferedReader(_ZstdCli(raw))
    if kind in factories:
        return io.BufferedReader(_Decoded(raw, factories[kind], kind), 1 << 20)
    return raw


def _sniff_compression(magic: bytes) -> str | None:
    for m, kind in _MAGIC:
        if magic.startswith(m):
            return kind
    return None


class _Replay(io.RawIOBase):
    """stdin, decompressed once: its decoded head (kept for sniffing) is read again, then the rest."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.rest.read1(len(b)) if hasattr(self.rest, "read1") else self.rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def open_binary(f: InputFile) -> IO[bytes]:
    """A decompressed byte stream. stdin can be opened once; its head is replayed.

    Compressed stdin (``gzip -c mail.log | logtrace parse -``) is sniffed by its magic bytes
    and decoded once; the decoded head is kept so sniffing and reading see the same lines."""
    if f.reads_stdin:
        if f._stdin is None:
            raw_in = io.BufferedReader(sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer, 1 << 20)  # type: ignore[arg-type]
            f._compression = _sniff_compression(raw_in.peek(6)[:6])
            if f._compression is None:
                f._stdin = raw_in
            else:
                decoded = _decompressor(f._compression, raw_in)
                f._stdin_head = _read_head(decoded)
                f._stdin = decoded
        if f._compression is None:
            return f._stdin
        return io.BufferedReader(_Replay(f._stdin_head, f._stdin), 1 << 20)
    try:
        raw: IO[bytes] = open(f._spool or f.path, "rb", buffering=1 << 20)
    except OSError as e:
        raise InputError(f"{f.path}: {e.strerror.lower() if e.strerror else e}") from None
    magic = raw.read(6)
    raw.seek(0)
    f._compression = _sniff_compression(magic)
    return _decompressor(f._compression, raw)


def _read_head(stream: IO[bytes]) -> bytes:
    """Up to :data:`HEAD_BYTES` decoded bytes (what decodes before a corrupt part, then stop)."""
    parts: list[bytes] = []
    size = 0
    read = getattr(stream, "read1", stream.read)
    try:
        while size < HEAD_BYTES:
            buf = read(HEAD_BYTES - size)
            if not buf:
                break
            parts.append(buf)
            size += len(buf)
    except _read_errors():
        pass  # read_chunks() reports the damage with its line
    return b"".join(parts)


_DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, lzma.LZMAError, zlib.error)


def _read_errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard  # type: ignore[import-not-found]

        return (*_DECOMPRESS_ERRORS, zstandard.ZstdError)
    except ImportError:
        return _DECOMPRESS_ERRORS


def head(f: InputFile, n_lines: int = 60) -> list[str]:
    """The first lines of a file, decoded lossily, for sniffing. Cached for stdin."""
    if f._head is None:
        stream = open_binary(f)
        parts: list[bytes] = []
        try:
            if f.reads_stdin:
                parts.append(stream.peek(HEAD_BYTES)[:HEAD_BYTES] if f._compression is None else f._stdin_head)
            else:
                parts.append(_read_head(stream))
        except _read_errors():
            pass  # keep what was decoded; read_chunks() reports the damage with its line
        finally:
            data = b"".join(parts)
            if not f.reads_stdin:
                stream.close()
        f._head = data
    return [ln.decode("utf-8", "replace").rstrip("\r") for ln in f._head.split(b"\n")[:n_lines]]


def sniff_head(f: InputFile, n_lines: int = 60) -> list[str]:
    """Head lines as parsers will see them (journal JSON exports converted to syslog lines)."""
    lines = head(f, n_lines)
    if _is_journal_json(f):
        return [journal_line(ln.encode()).decode("utf-8", "replace") if ln.strip() else ln for ln in lines]
    return lines


def check_text(f: InputFile) -> None:
    """Refuse files that are clearly binary (``logtrace parse /bin/ls``)."""
    head(f)
    data = (f._head or b"")[:8192]
    if not data:
        return
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return  # UTF-16 with a BOM (PowerShell 5 Export-Csv); its parser decodes it
    if len(data) > 64 and data[1::2].count(0) > len(data) * 2 // 5:
        even = data[0::2]
        if sum(1 for b in even if 32 <= b < 127 or b in (9, 10, 13)) > len(even) * 9 // 10:
            return  # UTF-16 LE without a BOM: every other byte NUL, the rest ASCII text
    # NULs are padding (dropped on reading), not evidence of a binary file
    text = data.replace(b"\0", b"")
    bad = sum(1 for b in text if b < 9 or 13 < b < 32 and b != 27)
    if bad > len(text) // 20:
        raise InputError(f"{f.path}: looks like a binary file, not a log", hint="give a text mail log (compressed is fine)")


def read_chunks(f: InputFile, diags: list[Diagnostic], chunk_bytes: int = CHUNK_BYTES,
                first_bytes: int | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first_line_no, data)``: whole lines, the last one possibly without ``\\n``.

    ``first_bytes``: a smaller first chunk (a pipeline of threads starts working sooner).
    """
    for line_no, data, _ in counted_chunks(f, diags, chunk_bytes, first_bytes):
        yield line_no, data


def counted_chunks(f: InputFile, diags: list[Diagnostic], chunk_bytes: int = CHUNK_BYTES,
                   first_bytes: int | None = None) -> Iterator[tuple[int, bytes, int | None]]:
    """:func:`read_chunks` with each chunk's count of ``\\n`` (None for the last, unterminated one), counted once.

    A compressed stream is read in 1 MiB steps, so a corrupt one loses at most the step it broke
    in; a plain file in one read per chunk (no joining of pieces).
    """
    stream = open_binary(f)
    errors = _read_errors()
    want = min(first_bytes, chunk_bytes) if first_bytes else chunk_bytes
    read = getattr(stream, "read1", stream.read)  # read1: partial data survives a corrupt tail
    line_no = 1
    parts: list[bytes] = []
    size = 0
    broken = False
    step = 1 << 20 if f.compression is not None or f.reads_stdin else None
    try:
        while True:
            try:
                buf = read(min(step, want - size) if step else max(want - size, 1))
            except errors as e:
                data = b"".join(parts)
                reached = line_no + data.count(b"\n")
                kind = f._compression or "input"
                diags.append(Diagnostic("warning", f"{kind} data is truncated or corrupt ({_short(e)}); kept the {reached - 1} lines read before it",
                                        path=f.path, line_no=reached))
                broken = True
                buf = b""
            if buf:
                parts.append(buf)
                size += len(buf)
                if size < want:
                    continue
            data = b"".join(parts)
            parts, size = [], 0
            if not buf:  # end of input (or broken): flush everything
                if data:
                    yield line_no, _denul(data), None
                break
            cut = data.rfind(b"\n")
            if cut < 0:
                parts, size = [data], len(data)
                continue
            chunk, rest = (data[: cut + 1], data[cut + 1 :]) if cut + 1 < len(data) else (data, b"")
            want = chunk_bytes
            newlines = chunk.count(b"\n")
            yield line_no, _denul(chunk), newlines  # dropping NULs keeps every newline
            line_no += newlines
            if rest:
                parts, size = [rest], len(rest)
        _ = broken
    finally:
        if not f.reads_stdin:
            stream.close()


def _denul(data: bytes) -> bytes:
    """NUL bytes never carry meaning in a text log (a crash pads files with them): drop them,
    so a line glued to NUL padding still parses. Both engines read through here."""
    return data.replace(b"\0", b"") if b"\0" in data else data


def _short(e: BaseException) -> str:
    s = str(e) or type(e).__name__
    return s.splitlines()[0][:120]


def is_journal_json(f: InputFile) -> bool:
    """``f`` is a ``journalctl -o json`` export (read as syslog lines)."""
    return _is_journal_json(f)


def _is_journal_json(f: InputFile) -> bool:
    for ln in head(f, 5):
        if ln.strip():
            return ln.lstrip().startswith("{") and '"MESSAGE"' in ln
    return False


def journal_line(raw: bytes) -> bytes:
    try:
        o = json.loads(raw)
    except ValueError:
        return raw
    msg = o.get("MESSAGE", "")
    if isinstance(msg, list):  # journald stores non-UTF-8 messages as byte arrays
        msg = bytes(x & 0xFF for x in msg if isinstance(x, int)).decode("utf-8", "replace")
    try:
        ts = datetime.fromtimestamp(int(o["__REALTIME_TIMESTAMP"]) / 1e6, tz=timezone.utc).isoformat()
    except (KeyError, ValueError, TypeError):
        return raw
    ident = o.get("SYSLOG_IDENTIFIER") or o.get("_COMM") or "unknown"
    pid = o.get("SYSLOG_PID") or o.get("_PID")
    host = o.get("_HOSTNAME", "localhost")
    return f"{ts} {host} {ident}{f'[{pid}]' if pid else ''}: {msg}".replace("\n", " ").encode("utf-8", "replace")


def _journal_chunk(data: bytes) -> bytes:
    lines = data.split(b"\n")
    trail = lines[-1] == b""
    out = b"\n".join(journal_line(x) if x.strip() else x for x in (lines[:-1] if trail else lines))
    return out + (b"\n" if trail else b"")


def chunk_frame(data: bytes, first_line: int, newlines: int | None = None) -> Any:
    """A chunk of bytes → DataFrame ``line_no: u32, line: str`` (empty lines are ``""``);
    ``newlines``: its count of ``\\n`` when the caller has it."""
    import polars as pl

    if b"\x1f" in data:
        data = data.replace(b"\x1f", b"\\x1f")
    expected = (data.count(b"\n") if newlines is None else newlines) + (0 if data.endswith(b"\n") else 1)
    df = pl.DataFrame({"line": []}, schema={"line": pl.String})
    if data:
        try:
            df = pl.read_csv(io.BytesIO(data), has_header=False, separator="\x1f", quote_char=None,
                             schema={"line": pl.String}, encoding="utf8-lossy", truncate_ragged_lines=True,
                             extra_columns="ignore")
        except (pl.exceptions.PolarsError, OSError):
            pass  # read_csv sniffs compression magic in the *text* ("(\xb5/\xfd" …): exact path below
    # polars disagreed on line breaks (lone \r) or took text for zlib/zstd magic: slow, exact path
    if df.height != expected:
        text = data.decode("utf-8", "replace")
        lines = text.split("\n")
        if data.endswith(b"\n"):
            lines.pop()
        df = pl.DataFrame({"line": [ln.rstrip("\r") for ln in lines]}, schema={"line": pl.String})
    return df.with_columns(pl.col("line").fill_null("")).with_row_index("line_no", offset=first_line)


def frames(f: InputFile, diags: list[Diagnostic], chunk_bytes: int = CHUNK_BYTES,
           first_bytes: int | None = None) -> Iterator[Any]:
    """DataFrames of ``line_no, line`` for one input, chunk by chunk (bounded memory; ``first_bytes``:
    a smaller first chunk)."""
    journal = _is_journal_json(f)
    for first, data, newlines in counted_chunks(f, diags, chunk_bytes, first_bytes):
        yield chunk_frame(_journal_chunk(data) if journal else data, first, newlines)  # a journal line stays one line


def iter_lines(f: InputFile, diags: list[Diagnostic]) -> Iterator[tuple[int, str]]:
    """``(line_no, text)`` for the line engine; lossy UTF-8, CR stripped."""
    journal = _is_journal_json(f)
    for first, data in read_chunks(f, diags):
        if journal:
            data = _journal_chunk(data)
        text = data.decode("utf-8", "replace")
        parts = text.split("\n")
        if text.endswith("\n"):
            parts.pop()
        for i, ln in enumerate(parts):
            yield first + i, ln.rstrip("\r")

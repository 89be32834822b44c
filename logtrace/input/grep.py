"""``grep`` as follow's full-file search: started before the heavy imports, read after them.

The first search of ``follow`` (every line naming the query, every generation of a reused
short ID) is one pass over the whole file. GNU ``grep -F`` does that pass faster than any
Python loop, and as a separate process it runs on the second core while Python imports the
rest of logtrace: :mod:`logtrace.cli` starts it as soon as it sees ``follow`` and its
arguments (:func:`start`), and :class:`~logtrace.input.search.PlainLog` takes the result
(:func:`take`). Without grep on PATH, or when grep fails (busybox without ``-b``, a file
that vanished), :func:`take` returns None and the caller scans in Python: same hits.

Standard library only: this module is imported before typer, rich and polars.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any

from logtrace.input.cpus import usable_cpus

#: below this size a Python scan is faster than starting a process
MIN_SIZE = 4 << 20

_jobs: dict[tuple[str, bytes, bool], GrepJob] = {}


def needle(kind: str, raw: str) -> str:
    """The text searched for a query of ``kind`` (``id``, ``mid``, ``from``, ``to``): the one
    normalisation shared by the early start and :func:`logtrace.trace.follow.follow`."""
    value = raw.strip()
    return value if kind == "id" else value.strip("<>")


#: files at least this big are searched by one grep per core, each on its own part
SPLIT_SIZE = 64 << 20


class GrepJob:
    """``LC_ALL=C grep -a -F -n -b [-i] -e NEEDLE`` over one file, writing to unlinked
    temporary files.

    A big file is cut at line starts into one part per core (two greps on two cores take 0.75×
    the time of one with ``-n``): the last part is read by its grep from the file, seeked to
    its start; each earlier part is fed to its grep through a pipe by ``os.sendfile`` (kernel
    to kernel) and closed with one extra line, the needle itself, whose reported line number
    tells how many lines the part has (``-n`` and ``-b`` count from the start of what each
    grep reads; :meth:`result` adds the parts' offsets back)."""

    def __init__(self, path: str, text: bytes, icase: bool, size: int) -> None:
        import threading

        self.path = path
        self.text = text
        args: list[str | bytes] = ["grep", "-a", "-F", "-n", "-b"] + (["-i"] if icase else []) + [b"-e", text]
        env = dict(os.environ, LC_ALL="C")
        env.pop("GREP_OPTIONS", None)
        env.pop("GREP_COLORS", None)
        self.parts: list[tuple[int, bool, Any, subprocess.Popen[bytes]]] = []  # (start, fed by a pipe, out, proc)
        self.threads: list[Any] = []
        fd = os.open(path, os.O_RDONLY)
        try:
            cuts = [0]
            n = min(4, usable_cpus()) if size >= SPLIT_SIZE else 1
            for j in range(1, n):
                at = size * j // n
                nl = os.pread(fd, 1 << 16, at).find(b"\n")
                if nl >= 0 and at + nl + 1 < size:
                    cuts.append(at + nl + 1)
            cuts.append(size)
            for a, b in zip(cuts, cuts[1:]):
                out = tempfile.TemporaryFile(prefix="logtrace-grep-")  # noqa: SIM115 - read in result()
                if b == size:
                    src = os.open(path, os.O_RDONLY)
                    try:
                        os.lseek(src, a, os.SEEK_SET)
                        proc = subprocess.Popen(args, stdin=src, stdout=out, stderr=subprocess.DEVNULL, env=env)
                    finally:
                        os.close(src)
                    self.parts.append((a, False, out, proc))
                    continue
                r, w = os.pipe()
                try:
                    proc = subprocess.Popen(args, stdin=r, stdout=out, stderr=subprocess.DEVNULL, env=env)
                finally:
                    os.close(r)
                self.parts.append((a, True, out, proc))
                t = threading.Thread(target=_feed, args=(os.dup(fd), w, a, b, text), daemon=True)
                t.start()
                self.threads.append(t)
        finally:
            os.close(fd)

    def result(self) -> list[tuple[int, int, bytes]] | None:
        """``(line_no, byte_offset, line)`` of every hit, or None when grep failed."""
        try:
            hits: list[tuple[int, int, bytes]] = []
            lines_before = 0
            ok = True
            for start, piped, out, proc in self.parts:
                rc = proc.wait()
                ok = ok and rc in (0, 1)
                if not ok:
                    continue
                out.seek(0)
                rows = []
                for row in out:
                    n, _, rest = row.partition(b":")
                    off, _, line = rest.partition(b":")
                    if not (n.isdigit() and off.isdigit()):
                        ok = False  # not GNU grep's format: scan in Python
                        break
                    rows.append((int(n), int(off), line[:-1] if line.endswith(b"\n") else line))
                if piped:  # the last row is the sentinel: its line number counts the part's lines
                    if not rows or rows[-1][2] != self.text:
                        ok = False
                        continue
                    sentinel = rows.pop()
                    hits += [(n + lines_before, off + start, line) for n, off, line in rows]
                    lines_before += sentinel[0] - 1
                else:
                    hits += [(n + lines_before, off + start, line) for n, off, line in rows]
            for t in self.threads:
                t.join()
            return hits if ok else None
        finally:
            self.cancel()

    def cancel(self) -> None:
        for _, _, out, proc in self.parts:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
        self.parts = []


def _feed(fd: int, w: int, start: int, end: int, sentinel: bytes) -> None:
    """Copy ``[start, end)`` of ``fd`` into the pipe ``w`` (in the kernel), then one line naming
    the needle; runs in a thread while Python imports."""
    try:
        try:
            import fcntl

            fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: fewer wake-ups (best effort)
        except OSError:
            pass
        pos = start
        while pos < end:
            sent = os.sendfile(w, fd, pos, min(end - pos, 1 << 30))
            if sent <= 0:
                break
            pos += sent
        os.write(w, sentinel + b"\n")
    except OSError:  # grep died (killed, failed): result() reports the failure
        pass
    finally:
        os.close(w)
        os.close(fd)


def start(path: str, text: bytes, icase: bool = False) -> GrepJob | None:
    """Start grep over ``path`` (a regular, uncompressed file of at least :data:`MIN_SIZE`
    bytes); None when that is not worth it or not possible."""
    key = (os.path.abspath(path), text, icase)
    if key in _jobs:
        return _jobs[key]
    if not text or b"\n" in text or b"\0" in text:
        return None
    try:
        st = os.stat(path)
        if not _plain_regular(path, st.st_size):
            return None
        job = GrepJob(path, text, icase, st.st_size)
    except (OSError, ValueError):
        return None
    _jobs[key] = job
    return job


def take(path: str, text: bytes, icase: bool = False) -> list[tuple[int, int, bytes]] | None:
    """The hits of a search started with :func:`start` (started now if it was not), or None:
    then the caller scans the file itself."""
    start(path, text, icase)  # a no-op when it was started early
    job = _jobs.pop((os.path.abspath(path), text, icase), None)
    if job is None:
        return None
    try:
        return job.result()
    except OSError:
        return None


def cancel_all() -> None:
    """Stop searches nobody took (an error before follow ran)."""
    for job in list(_jobs.values()):
        try:
            job.cancel()
        except OSError:
            pass
    _jobs.clear()


_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def _plain_regular(path: str, size: int) -> bool:
    import stat

    if size < MIN_SIZE or not stat.S_ISREG(os.stat(path).st_mode):
        return False
    with open(path, "rb") as fh:
        head = fh.read(6)
    return not head.startswith(_MAGIC)

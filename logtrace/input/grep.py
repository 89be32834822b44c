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

#: below this size a Python scan is faster than starting a process
MIN_SIZE = 4 << 20

_jobs: dict[tuple[str, bytes, bool], GrepJob] = {}


def needle(kind: str, raw: str) -> str:
    """The text searched for a query of ``kind`` (``id``, ``mid``, ``from``, ``to``): the one
    normalisation shared by the early start and :func:`logtrace.trace.follow.follow`."""
    value = raw.strip()
    return value if kind == "id" else value.strip("<>")


class GrepJob:
    """One ``LC_ALL=C grep -a -F -n -b [-i] -e NEEDLE FILE`` writing to an unlinked temporary file."""

    def __init__(self, path: str, text: bytes, icase: bool) -> None:
        self.path = path
        self.out = tempfile.TemporaryFile(prefix="logtrace-grep-")  # noqa: SIM115 - read in result()
        args: list[str | bytes] = ["grep", "-a", "-F", "-n", "-b"] + (["-i"] if icase else []) + [b"-e", text, "--", path]
        env = dict(os.environ, LC_ALL="C")
        env.pop("GREP_OPTIONS", None)
        env.pop("GREP_COLORS", None)
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            args, stdout=self.out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)

    def result(self) -> list[tuple[int, int, bytes]] | None:
        """``(line_no, byte_offset, line)`` of every hit, or None when grep failed."""
        assert self.proc is not None
        try:
            rc = self.proc.wait()
        finally:
            self.proc = None
        try:
            if rc not in (0, 1):
                return None
            self.out.seek(0)
            hits = []
            for row in self.out:
                n, _, rest = row.partition(b":")
                off, _, text = rest.partition(b":")
                if not (n.isdigit() and off.isdigit()):
                    return None  # not GNU grep's format: scan in Python
                hits.append((int(n), int(off), text[:-1] if text.endswith(b"\n") else text))
            return hits
        finally:
            self.out.close()

    def cancel(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        self.out.close()


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
        job = GrepJob(path, text, icase)
    except (OSError, ValueError):
        return None
    _jobs[key] = job
    return job


def take(path: str, text: bytes, icase: bool = False) -> list[tuple[int, int, bytes]] | None:
    """The hits of a search started with :func:`start` (started now if it was not), or None:
    then the caller scans the file itself."""
    job = _jobs.pop((os.path.abspath(path), text, icase), None) or start(path, text, icase)
    _jobs.pop((os.path.abspath(path), text, icase), None)
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

"""State files (``bounces --state``, ``watch --state``): JSON written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from logtrace.errors import LogtraceError


def write_json_atomic(path: str, doc: Any, **dump: Any) -> None:
    """Write ``doc`` as JSON to ``path`` atomically: a temporary file in the same directory,
    fsync, then ``os.replace`` (a crash leaves the old file or the new one, never half of one).
    ``dump``: :func:`json.dump` options. An unwritable place is a :class:`LogtraceError`."""
    d = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".logtrace-state-", dir=d)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, **dump)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise LogtraceError(f"--state {path}: cannot write it ({e.strerror or e})",
                            hint="check that its directory exists and is writable") from None

"""Containers: the file formats lines come in (syslog, Dovecot's and rspamd's own log files) and their stamps."""

from __future__ import annotations

import re
from collections.abc import Sequence


def line_share(head: Sequence[str], line_re: re.Pattern[str]) -> float:
    """Share of the non-blank ``head`` lines that ``line_re`` matches (a container's sniff)."""
    lines = [ln for ln in head if ln.strip()]
    return sum(1 for ln in lines if line_re.match(ln)) / len(lines) if lines else 0.0

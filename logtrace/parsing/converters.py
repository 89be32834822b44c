"""Conversions of a rule's raw group into an event field, in line and frame form (same result).

``duration``: Exim's ``1w2d3h4m5.5s`` (or any subset) → seconds.
``addresses``: ``<a@x>,<b@y>`` (a content filter's recipient list) → ``a@x,b@y``.
"""

from __future__ import annotations

import re
from typing import Any



def addresses(v: str | None) -> str | None:
    return None if v is None else v.strip("<>").replace(">,<", ",")


def addresses_expr(col: str) -> Any:
    import polars as pl

    return pl.col(col).str.strip_chars("<>").str.replace_all(">,<", ",", literal=True)


#: Duration in Exim's ``1w2d3h4m5.5s`` style (or any subset) → seconds.
DURATION = r"^(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$"
_DURATION_RE = re.compile(DURATION)


def seconds(v: str | None) -> float | None:
    if v is None:
        return None
    m = _DURATION_RE.match(v)
    if not m or not any(m.groups()):
        return None
    w, d, h, mi = (int(x or 0) for x in m.group("w", "d", "h", "m"))
    return float((((w * 7 + d) * 24 + h) * 60 + mi) * 60) + float(m.group("s") or 0)


def seconds_expr(col: str) -> Any:
    import polars as pl

    g = pl.col(col).str.extract_groups(DURATION)
    parts = [g.struct.field(k) for k in ("w", "d", "h", "m", "s")]
    ints = [p.cast(pl.Int64).fill_null(0) for p in parts[:4]]
    total = ((((ints[0] * 7 + ints[1]) * 24 + ints[2]) * 60 + ints[3]) * 60).cast(pl.Float64) + parts[4].cast(pl.Float64).fill_null(0.0)
    return pl.when(pl.any_horizontal([p.is_not_null() for p in parts])).then(total)

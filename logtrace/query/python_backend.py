"""Predicate IR applied to one event dict in Python (regex leaves still run on polars' engine)."""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime, timezone
from typing import Any

from logtrace.query.fields import FIELD_TYPES
from logtrace.query.lower import CMP_OPS, V4, V6_COMP, V6_FULL, compile_ir


def _py_col(row: dict[str, Any], col: str) -> Any:
    v = row.get(col)
    if v is None:
        return None
    kind = FIELD_TYPES.get(col, "text")
    if kind == "time":
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v)
            except ValueError:
                return None
        if not isinstance(v, datetime):
            return None
        return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v
    if kind in ("int", "size", "duration"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            try:
                v = float(v)
            except (TypeError, ValueError):
                return None
        return None if isinstance(v, float) and math.isnan(v) else v
    return v if isinstance(v, str) else str(v)


def _py_v6(s: str) -> list[int] | None:
    s = s.lower()
    if re.fullmatch(V6_FULL[1:-1], s):
        return [int(g, 16) for g in s.split(":")]
    if not re.fullmatch(V6_COMP[1:-1], s):
        return None
    left, right = s.split("::")
    lg = left.split(":") if left else []
    rg = right.split(":") if right else []
    if len(lg) + len(rg) > 7:
        return None
    return [int(g, 16) for g in lg] + [0] * (8 - len(lg) - len(rg)) + [int(g, 16) for g in rg]


def _py_key(key: tuple[Any, ...], row: dict[str, Any]) -> Any:
    what, col = key[0], key[1]
    v = _py_col(row, col)
    if v is None or what == "col":
        return v
    if what == "dsn":
        m = re.fullmatch(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})", v)
        return int(m[1]) * 1_000_000 + int(m[2]) * 1_000 + int(m[3]) if m else None
    if what == "v4":
        m = re.fullmatch(V4[1:-1], v)
        if not m or any(int(o) > 255 for o in m.groups()):
            return None
        a, b, c, d = (int(o) for o in m.groups())
        return a * 16777216 + b * 65536 + c * 256 + d
    groups = _py_v6(v)
    return None if groups is None else groups[key[2]]


@functools.lru_cache(maxsize=4096)
def _py_search(pattern: str, value: str) -> bool:
    # The regex leaf runs on polars' own engine (Rust regex) so both back ends agree exactly.
    import polars as pl

    return bool(pl.Series([value], dtype=pl.String).str.contains(pattern)[0])


def _eval(p: Any, row: dict[str, Any]) -> bool:
    tag = p[0]
    if tag == "cmp":
        k = _py_key(p[1], row)
        return k is not None and bool(CMP_OPS[p[2]](k, p[3]))
    if tag == "re":
        v = _py_col(row, p[1])
        return v is not None and _py_search(p[2], v)
    if tag == "null":
        return _py_col(row, p[1]) is None
    if tag == "not":
        return not _eval(p[1], row)
    if tag == "and":
        return all(_eval(a, row) for a in p[1])
    return any(_eval(a, row) for a in p[1])


def evaluate(expr: str, row: dict[str, Any], extra: tuple[str, ...] = ()) -> bool:
    """Apply a ``--where`` expression to one event dict (column → value), like :func:`compile_where`.

    Missing keys count as null; ``ts`` should be a datetime (naive = UTC). ``extra``: text
    fields of the row beyond the event schema (see :func:`~logtrace.query.lower.compile_ir`).
    """
    return _eval(compile_ir(expr, extra), row)

"""Predicate IR → a boolean ``pl.Expr`` (polars is imported only when compiling)."""

from __future__ import annotations

import functools
import operator
from typing import Any

from logtrace.query.fields import FIELD_TYPES
from logtrace.query.grammar import error_at
from logtrace.query.lower import CMP_OPS, V4, V6_COMP, V6_FULL, compile_ir


def _pl_col(col: str) -> Any:
    import polars as pl

    c = pl.col(col)
    return c.fill_nan(None) if FIELD_TYPES[col] == "duration" else c


def _pl_key(key: tuple[Any, ...]) -> Any:
    import polars as pl

    what, col = key[0], key[1]
    if what == "col":
        return _pl_col(col)
    if what == "dsn":
        parts = pl.col(col).str.extract_groups(r"^(?P<a>[0-9]{1,3})\.(?P<b>[0-9]{1,3})\.(?P<c>[0-9]{1,3})$")
        a, b, c = (parts.struct.field(n).cast(pl.Int64) for n in "abc")
        return a * 1_000_000 + b * 1_000 + c
    if what == "v4":
        parts = pl.col(col).str.extract_groups(V4)
        o = [parts.struct.field(str(i)).cast(pl.Int64) for i in range(1, 5)]
        ok = (o[0] <= 255) & (o[1] <= 255) & (o[2] <= 255) & (o[3] <= 255)
        return pl.when(ok).then(o[0] * 16777216 + o[1] * 65536 + o[2] * 256 + o[3])
    # v6 group i
    i = key[2]
    s = pl.col(col).str.to_lowercase()
    full, comp = s.str.contains(V6_FULL), s.str.contains(V6_COMP)
    halves = s.str.split("::")
    left, right = halves.list.get(0, null_on_oob=True), halves.list.get(1, null_on_oob=True)
    n_left = pl.when(left == "").then(0).otherwise(left.str.count_matches(":") + 1)
    n_right = pl.when(comp & (right != "")).then(right.str.count_matches(":") + 1).otherwise(0)
    valid = full | (comp & (n_left + n_right <= 7))
    group = (
        pl.when(pl.lit(i) < n_left).then(left.str.split(":").list.get(i, null_on_oob=True))
        .when(pl.lit(i) >= 8 - n_right).then(right.str.split(":").list.get(pl.lit(i) - (8 - n_right), null_on_oob=True))
        .otherwise(pl.lit("0"))
    )
    return pl.when(valid).then(group.str.to_integer(base=16, strict=False))



def _to_polars(p: Any) -> Any:
    import polars as pl

    tag = p[0]
    if tag == "cmp":
        _, key, op, v = p
        return CMP_OPS[op](_pl_key(key), pl.lit(v)).fill_null(False)
    if tag == "re":
        return pl.col(p[1]).str.contains(p[2]).fill_null(False)
    if tag == "null":
        return _pl_col(p[1]).is_null()
    if tag == "not":
        return ~_to_polars(p[1])
    args = [_to_polars(a) for a in p[1]]
    return functools.reduce(operator.and_ if tag == "and" else operator.or_, args)


def compile_where(expr: str) -> Any:
    """Compile a ``--where`` expression to a boolean ``pl.Expr`` over event-schema columns.

    Raises :class:`QuerySyntaxError` (with ``col`` and ``hint``) for any invalid input.
    """
    ir = compile_ir(expr)
    try:
        return _to_polars(ir)
    except RecursionError:
        raise error_at(expr, 0, "filter expression is nested too deeply", "use fewer parentheses or 'not'") from None

"""Parse tree → predicate IR: field resolution and typed values (sizes, durations, timestamps, IPs, DSNs).

:func:`compile_ir` is the one entry point both back ends call; its result is cached per
expression text.
"""

from __future__ import annotations

import difflib
import functools
import math
import operator
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from logtrace.errors import QuerySyntaxError
from logtrace.query.fields import ALIASES, COLUMNS, FIELD_TYPES, FIELDS, TYPE_HINTS, TYPE_NAMES
from logtrace.query.grammar import EXAMPLE_HINT, Test, Tok, error_at, parse

# Tests compile to a tiny IR shared by both back ends:
#   ("cmp", key, op, value)   key compared with a constant; false if the key is null
#   ("re", column, pattern)   regex search; false on null
#   ("null", column)          column is null (NaN counts as null)
#   ("and"|"or", (p, …)), ("not", p)
# A key is ("col", c), ("dsn", c) (a*10⁶+b*10³+c), ("v4", c) (32-bit int) or ("v6", c, i) (group i).

# How both back ends read a key from stored text (the v4/v6 patterns) and compare it.
V4 = r"^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$"
V6_FULL = r"^(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}$"
V6_COMP = r"^(?:(?:[0-9a-f]{1,4}:)*[0-9a-f]{1,4})?::(?:(?:[0-9a-f]{1,4}:)*[0-9a-f]{1,4})?$"

CMP_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

_I64_MAX = 2**63 - 1


def _unescape(tok: Tok, raw: bool) -> str:
    if not tok.quote:
        return tok.text
    if raw:
        return tok.text.replace("\\" + tok.quote, tok.quote)
    return re.sub(r"\\(.)", lambda m: {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}.get(m.group(1), m.group()),
                  tok.text, flags=re.S)


_INT = re.compile(r"[+-]?[0-9]+")
_NUM = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SIZE = re.compile(r"(?i)(?P<n>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:(?P<u>[kmgt])(?:i?b)?|b)?")
_DUR_PART = re.compile(r"(?i)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ms|s|m|h|d|w)")
_DUR_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DSN = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_TS = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[T ](?P<h>[0-9]{2})(?::(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]{1,6}))?)?)?)?"
    r"(?P<z>Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)


def _number(s: str) -> int | float | None:
    if _INT.fullmatch(s):
        v = int(s)
        return v if -_I64_MAX <= v <= _I64_MAX else float(v)
    if _NUM.fullmatch(s):
        f = float(s)
        return f if not math.isinf(f) else None
    return None


def _intify(v: float) -> int | float:
    return int(v) if v.is_integer() and abs(v) <= _I64_MAX else v


def _parse_size(s: str) -> int | float | None:
    n = _number(s)
    if n is not None:
        return n
    m = _SIZE.fullmatch(s)
    if not m:
        return None
    mult = 1024 ** ("kmgt".index(m.group("u").lower()) + 1) if m.group("u") else 1
    return _intify(float(m.group("n")) * mult)


def _parse_duration(s: str) -> float | None:
    n = _number(s)
    if n is not None:
        return float(n)
    if not s or _DUR_PART.sub("", s):
        return None
    return sum(float(v) * _DUR_UNITS[u.lower()] for v, u in _DUR_PART.findall(s))


def _parse_ts(s: str) -> tuple[datetime, datetime] | None:
    """An ISO literal → the UTC half-open period ``[lo, hi)`` its precision spans."""
    m = _TS.fullmatch(s)
    if not m:
        return None
    g = m.groupdict()
    tz = timezone.utc
    if g["z"] and g["z"] not in ("Z", "z"):
        z = g["z"].replace(":", "")
        sign = -1 if z[0] == "-" else 1
        hh, mm = int(z[1:3]), int(z[3:5] or 0)
        if hh > 23 or mm > 59:
            return None
        tz = timezone(sign * timedelta(hours=hh, minutes=mm))
    frac = g["f"] or ""
    try:
        lo = datetime(int(g["y"]), int(g["mo"]), int(g["d"]), int(g["h"] or 0), int(g["mi"] or 0), int(g["s"] or 0),
                      int(frac.ljust(6, "0") or 0), tzinfo=tz)
    except ValueError:
        return None
    if frac:
        step = timedelta(microseconds=10 ** (6 - len(frac)))
    elif g["s"]:
        step = timedelta(seconds=1)
    elif g["mi"]:
        step = timedelta(minutes=1)
    elif g["h"]:
        step = timedelta(hours=1)
    else:
        step = timedelta(days=1)
    try:
        return lo.astimezone(timezone.utc), (lo + step).astimezone(timezone.utc)
    except OverflowError:
        return None


def _ip_net(s: str) -> Any:
    import ipaddress

    if "%" in s:
        return None
    try:
        return ipaddress.ip_network(s, strict=False)
    except ValueError:
        return None


def _all(ps: list[Any]) -> Any:
    return ps[0] if len(ps) == 1 else ("and", tuple(ps))


def _any(ps: list[Any]) -> Any:
    return ps[0] if len(ps) == 1 else ("or", tuple(ps))


def _ip_member(col: str, net: Any) -> Any:
    if net.version == 4:
        lo, hi = int(net.network_address), int(net.broadcast_address)
        return _all([("cmp", ("v4", col), ">=", lo), ("cmp", ("v4", col), "<=", hi)])
    addr, plen = int(net.network_address), net.prefixlen
    groups = [(addr >> (16 * (7 - i))) & 0xFFFF for i in range(8)]
    ps: list[Any] = []
    for i in range(8):
        bits = min(16, max(0, plen - 16 * i))
        if bits == 16:
            ps.append(("cmp", ("v6", col, i), "=", groups[i]))
        elif bits > 0:
            span = (1 << (16 - bits)) - 1
            ps.append(("cmp", ("v6", col, i), ">=", groups[i] & ~span))
            ps.append(("cmp", ("v6", col, i), "<=", (groups[i] & ~span) | span))
    return _all(ps or [("cmp", ("v6", col, 0), ">=", 0)])


def _convert(expr: str, col: str, kind: str, tok: Tok, raw: bool) -> Any:
    text = _unescape(tok, raw)
    parsers = {"text": lambda s: s, "int": _number, "size": _parse_size, "duration": _parse_duration,
               "dsn": lambda s: (lambda m: int(m[1]) * 10**6 + int(m[2]) * 10**3 + int(m[3]) if m else None)(_DSN.fullmatch(s)),
               "time": _parse_ts, "ip": _ip_net}
    v = parsers[kind](text)
    if v is None:
        raise error_at(expr, tok.loc, f"{text!r} is not a valid {TYPE_NAMES[kind]} for field '{col}'",
                   TYPE_HINTS[kind].format(f=col))
    return v


def _check_regex(expr: str, tok: Tok, pattern: str) -> None:
    import polars as pl

    try:
        pl.select(pl.lit("", dtype=pl.String).str.contains(pattern))
    except Exception as e:  # noqa: BLE001 - any polars failure means the pattern is unusable
        detail = str(e).split("This error occurred")[0].strip()
        detail = re.sub(r"\s+", " ", detail.removeprefix("regex error:").strip())
        raise error_at(expr, tok.loc, f"invalid regular expression: {detail[:200]}",
                   "patterns use Rust regex syntax (no look-around or back-references); "
                   "escape a literal dot as \\.") from None


def _resolve_field(expr: str, tok: Tok, extra: tuple[str, ...] = ()) -> str:
    name = tok.text.lower()
    if name in FIELDS:
        return FIELDS[name]
    if name in extra:
        return name
    close = difflib.get_close_matches(name, [*FIELDS, *extra], n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{close[0]}'?"
    else:
        hint = "fields: " + ", ".join(COLUMNS) + "; aliases: " + ", ".join(f"{a}={c}" for a, c in ALIASES.items())
    raise error_at(expr, tok.loc, f"unknown field '{tok.text}'", hint)


def _lower_test(expr: str, t: Test, extra: tuple[str, ...] = ()) -> Any:
    col = _resolve_field(expr, t.field, extra)
    kind = FIELD_TYPES.get(col, "text")  # a command's own output fields (``extra``) are text
    op = t.op.text
    if op in ("is null", "is not null"):
        p: Any = ("null", col)
        return p if op == "is null" else ("not", p)
    if op in ("~", "!~"):
        if kind in ("int", "size", "duration", "time"):
            raise error_at(expr, t.op.loc, f"'{op}' needs a text field; '{col}' holds a {TYPE_NAMES[kind]}",
                       "compare it with = != < <= > >= or in")
        pattern = _unescape(t.values[0], raw=True)
        _check_regex(expr, t.values[0], pattern)
        p = ("re", col, pattern)
        return p if op == "~" else _all([("not", ("null", col)), ("not", p)])
    if kind == "ip" and op in ("<", "<=", ">", ">="):
        raise error_at(expr, t.op.loc, f"'{op}' does not apply to '{col}'",
                   f"{col} supports = != in 'not in' with an address or CIDR block, and ~ !~ on its text")

    def eq(v: Any) -> Any:
        if kind == "ip":
            return _ip_member(col, v)
        if kind == "time":
            return _all([("cmp", ("col", col), ">=", v[0]), ("cmp", ("col", col), "<", v[1])])
        return ("cmp", ("dsn", col) if kind == "dsn" else ("col", col), "=", v)

    values = [_convert(expr, col, kind, tok, raw=False) for tok in t.values]
    if op in ("=", "in"):
        return _any([eq(v) for v in values])
    if op in ("!=", "not in"):
        return _all([("not", ("null", col)), ("not", _any([eq(v) for v in values]))])
    v = values[0]
    if kind == "time":  # a literal is a period [lo, hi)
        lo, hi = v
        bound = {"<": ("<", lo), "<=": ("<", hi), ">": (">=", hi), ">=": (">=", lo)}[op]
        return ("cmp", ("col", col), bound[0], bound[1])
    return ("cmp", ("dsn", col) if kind == "dsn" else ("col", col), op, v)


def _lower(expr: str, node: Any, extra: tuple[str, ...] = ()) -> Any:
    if isinstance(node, Test):
        return _lower_test(expr, node, extra)
    args = tuple(_lower(expr, a, extra) for a in node.args)
    return ("not", args[0]) if node.op == "not" else (node.op, args)


def compile_ir(expr: str, extra: tuple[str, ...] = ()) -> Any:
    """A ``--where`` expression → its predicate IR (cached), or :class:`QuerySyntaxError`.
    ``extra``: text fields a command adds to the schema's for its own rows (``bounces``:
    ``category``, ``class``)."""
    if not isinstance(expr, str):
        raise QuerySyntaxError("filter expression must be a string", expr=repr(expr), col=1, hint=EXAMPLE_HINT)
    return _compile_ir_cached(expr, tuple(extra))


@functools.lru_cache(maxsize=256)
def _compile_ir_cached(expr: str, extra: tuple[str, ...] = ()) -> Any:
    try:
        return _lower(expr, parse(expr), extra)
    except QuerySyntaxError:
        raise
    except RecursionError:
        raise error_at(expr, 0, "filter expression is nested too deeply", "use fewer parentheses or 'not'") from None

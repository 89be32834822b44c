"""The ``--where`` filter language, compiled to a polars expression.

One grammar, one semantics, two back ends: :func:`compile_where` builds a ``pl.Expr`` for
``df.filter(...)`` (both engines' output frames), and :func:`evaluate` applies the same
predicate to one event dict in Python (property tests, the line engine). Every invalid
input raises :class:`~logtrace.errors.QuerySyntaxError` with the 1-based column of the
problem (an offset into the whole string) and a hint; nothing else escapes.

Grammar (keywords ``and or not in is null`` are case-insensitive, so are field names)::

    where      := or_expr
    or_expr    := and_expr ( "or" and_expr )*
    and_expr   := not_expr ( "and" not_expr )*
    not_expr   := "not" not_expr | "(" or_expr ")" | test
    test       := field OP value
                | field ["not"] "in" ( "(" value ("," value)* ")" | value )
                | field "is" ["not"] "null"
    OP         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "=~" | "!~"
    value      := "double quoted" | 'single quoted' | bare-word

A bare word is any run of characters other than whitespace, quotes, ``( ) [ ] { } ,``
and ``= < > ! ~``: ``bounced``, ``mx2``, ``example.com``, ``4.7.1``, ``30s``,
``2026-11-22T06:00+01:00``, ``192.0.2.0/24``, ``2001:db8::/32``. Quote anything else.
Inside quotes ``\\"``/``\\'`` is the quote character; for ``~``/``!~`` the text is
otherwise taken raw (``"@example\\.com$"`` reaches the regex engine unchanged); for the
other operators ``\\\\`` is one backslash, ``\\n``/``\\t`` are newline/tab, and any other
backslash is kept.

Values are typed by the field they are compared with:

=====================  ===============================================================
field type             accepted values
=====================  ===============================================================
text                   any value, compared exactly (case-sensitive; byte order for
                       ``< >``); ``~``/``!~`` take a Rust-regex (polars
                       ``str.contains``: unanchored, ``(?i)`` for case-insensitive;
                       no look-around or back-references), checked at compile time
integer                ``550``, ``-1`` (floats allowed: ``reply_code < 499.5``)
``size`` (bytes)       ``2048``, ``10k``, ``5M``, ``1G``, ``1.5k``, ``10KiB``, ``10kb``
                       (binary multiples: ``k`` = 1024; suffix case-insensitive)
``delay*`` (seconds)   ``90``, ``0.5``, ``30s``, ``5m``, ``2h``, ``1d``, ``1w``,
                       ``500ms``, ``1h30m``
``dsn``                ``5.1.1``: compared part by part as numbers, so ``dsn >= 4.0.0``
                       and ``dsn < 5.1.10`` work; a null dsn, or one that is not three
                       dot-separated numbers, never matches (except ``!=``/``not in``,
                       see nulls)
``ts`` (UTC)           ``2026-11-22``, ``2026-11-22T06``, ``2026-11-22T06:00``,
                       ``…T06:00:05``, ``…T06:00:05.25``, optionally followed by ``Z`` or
                       ``±HH:MM``; without a zone the literal is **UTC**. A literal
                       names the whole period its precision spans: ``ts = 2026-11-22``
                       is that UTC day, ``ts <= 2026-11-22T06`` includes 06:59:59,
                       ``ts > 2026-11-22`` starts at the next midnight
``client_ip relay_ip`` an address or CIDR block, IPv4 or IPv6 (``192.0.2.7``,
                       ``192.0.2.0/24``, ``2001:db8::/32``); ``=``/``in`` test
                       membership (host bits of a block are ignored); only ``= != in
                       not in ~ !~`` apply. Stored addresses are parsed numerically, so
                       ``2001:DB8:0::1`` is in ``2001:db8::/32``; stored text that is not
                       a plain address (zone ``%eth0``, IPv4-mapped dotted IPv6
                       ``::ffff:192.0.2.1``, ``IPv6:`` prefixes) never matches a block
=====================  ===============================================================

Fields are the event schema columns (:data:`COLUMNS`: ``ts host mta program pid kind
rule queue_id message_id next_queue_id next_host sender recipient orig_recipient
relay_host relay_ip relay_port client_host client_ip dsn reply_code reply_text size
nrcpt delay_s delay_before_qmgr_s delay_in_qmgr_s delay_conn_s delay_xmit_s status
detail file line_no reason``) plus these aliases (:data:`ALIASES`):

==========  =================
alias       column
==========  =================
``from``    ``sender``
``to``      ``recipient``
``rcpt``    ``recipient``
``qid``     ``queue_id``
``id``      ``queue_id``
``msgid``   ``message_id``
``relay``   ``relay_host``
``client``  ``client_host``
``delay``   ``delay_s``
``code``    ``reply_code``
``reply``   ``reply_text``
``time``    ``ts``
==========  =================

Nulls (two-valued logic): every test on a null value is false, *including* ``!=``,
``!~`` and ``not in``; ``and``/``or``/``not`` are then plain boolean logic. So on an
event without a relay, ``relay = x`` and ``relay != x`` are both false while
``not relay = x`` is true. ``x != v`` means "``x`` is not null and not ``x = v``" for
every field type (an unparsable dsn or ip is not null: ``dsn != 5.1.1`` matches
``"x.y"``). Use ``x is null`` / ``x is not null`` to be explicit. NaN delays count as null.

Examples::

    kind in (defer, bounce)
    status = bounced and to ~ "@example\\.com$" and dsn >= 5.0.0 and delay > 30s
    host = mx2 or client_ip in 192.0.2.0/24
    not relay ~ "127.0.0.1"
    ts >= 2026-11-22T06:00 and ts < 2026-11-22T07:00 and size > 10M
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import operator
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from logtrace.errors import QuerySyntaxError
from logtrace.events import EVENT_FIELDS, Event

__all__ = ["ALIASES", "COLUMNS", "FIELDS", "compile_where", "evaluate"]

#: Schema column names (``event_schema()`` order), all usable in ``--where``.
COLUMNS: tuple[str, ...] = (*EVENT_FIELDS, "reason")

#: Short names accepted in ``--where``, mapped to their column.
ALIASES: dict[str, str] = {
    "from": "sender",
    "to": "recipient",
    "rcpt": "recipient",
    "qid": "queue_id",
    "id": "queue_id",
    "msgid": "message_id",
    "relay": "relay_host",
    "client": "client_host",
    "delay": "delay_s",
    "code": "reply_code",
    "reply": "reply_text",
    "time": "ts",
}

#: Every name accepted in ``--where`` (columns and aliases) → the column it reads.
FIELDS: dict[str, str] = {**{c: c for c in COLUMNS}, **ALIASES}


def _field_types() -> dict[str, str]:
    ann = {f.name: str(f.type) for f in dataclasses.fields(Event)}
    out: dict[str, str] = {}
    for c in COLUMNS:
        t = ann.get(c, "str")
        if c == "ts":
            out[c] = "time"
        elif c == "dsn":
            out[c] = "dsn"
        elif c in ("client_ip", "relay_ip"):
            out[c] = "ip"
        elif c == "size":
            out[c] = "size"
        elif t.startswith("float"):
            out[c] = "duration"
        elif t.startswith("int"):
            out[c] = "int"
        else:
            out[c] = "text"
    return out


#: Column → value type (``text int size duration dsn time ip``).
FIELD_TYPES: dict[str, str] = _field_types()

_TYPE_NAMES = {"text": "text", "int": "integer", "size": "size in bytes", "duration": "duration in seconds",
               "dsn": "DSN status code", "time": "timestamp", "ip": "IP address or CIDR block"}
_TYPE_HINTS = {
    "int": "{f} takes an integer, e.g. 550",
    "size": "{f} takes bytes, e.g. 2048, 10k, 5M, 1G (k = 1024)",
    "duration": "{f} takes seconds or a duration, e.g. 90, 0.5, 30s, 5m, 2h, 1d, 1h30m",
    "dsn": "{f} takes a status code like 5.1.1 (compared part by part)",
    "time": "{f} takes an ISO date or time (UTC unless a zone is given), e.g. 2026-11-22, 2026-11-22T06:00, "
            "2026-11-22T06:00:00+01:00",
    "ip": "{f} takes an address or CIDR block, e.g. 192.0.2.7, 192.0.2.0/24, 2001:db8::/32",
}

_I64_MAX = 2**63 - 1

# ---------------------------------------------------------------- parse tree


@dataclasses.dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    loc: int  # 0-based offset of the token's first character
    quote: str = ""  # '"' or "'" for quoted values


@dataclasses.dataclass(frozen=True, slots=True)
class _Test:
    field: _Tok
    op: _Tok  # "=", "!=", …, "in", "not in", "is null", "is not null"
    values: tuple[_Tok, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _Bool:
    op: str  # "and" | "or" | "not"
    args: tuple[Any, ...]


_OPS = {"=": "=", "==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "~": "~", "=~": "~", "!~": "!~"}


@functools.cache
def _grammar() -> Any:
    """Build the pyparsing grammar once (pyparsing is imported only here).

    Packrat memoization is switched on here, not at import: ``infix_notation`` without it
    is exponential in nested ``not``/``(`` (atheris found 33 s for 15 ``not``).
    """
    import pyparsing as pp

    pp.ParserElement.enable_packrat()

    AND, OR, NOT, IN, IS, NULL = (pp.CaselessKeyword(k) for k in ("and", "or", "not", "in", "is", "null"))
    keyword = AND | OR | NOT | IN | IS | NULL

    # parse actions sit on the Regex itself: an And reports the location before skipped whitespace
    field = (~keyword + pp.Regex(r"[A-Za-z_][A-Za-z0-9_]*").set_parse_action(lambda s, loc, t: _Tok(t[0], loc)))
    field.set_name("field name")
    op = pp.Regex(r"==|!=|<=|>=|!~|=~|=|<|>|~").set_name("operator (= != < <= > >= ~ !~ in is)")
    op.set_parse_action(lambda s, loc, t: _Tok(_OPS[t[0]], loc))

    dq = pp.Regex(r'"(?:[^"\\]|\\.)*"', flags=re.S).set_name("quoted value")
    dq.set_parse_action(lambda s, loc, t: _Tok(t[0][1:-1], loc, '"'))
    sq = pp.Regex(r"'(?:[^'\\]|\\.)*'", flags=re.S).set_name("quoted value")
    sq.set_parse_action(lambda s, loc, t: _Tok(t[0][1:-1], loc, "'"))
    bare = (~keyword + pp.Regex(r"[^\s()\[\]{},\"'=<>!~]+").set_parse_action(lambda s, loc, t: _Tok(t[0], loc)))
    bare.set_name("value")
    value = (dq | sq | bare).set_name("value")

    lpar, rpar = pp.Suppress("("), pp.Suppress(")")
    in_op = (pp.Opt(NOT) + IN).set_parse_action(lambda s, loc, t: _Tok(" ".join(x.lower() for x in t), loc))
    value_list = lpar + pp.DelimitedList(value) + rpar
    membership = field + in_op + (value_list | value)
    null_op = (IS + pp.Opt(NOT) + NULL).set_parse_action(lambda s, loc, t: _Tok(" ".join(x.lower() for x in t), loc))
    nulltest = field + null_op
    comparison = field + op + value

    test = (membership | nulltest | comparison).set_name("test (field OP value)")
    test.set_parse_action(lambda s, loc, t: _Test(t[0], t[1], tuple(t[2:])))

    def unary(t: Any) -> _Bool:
        return _Bool("not", (t[0][1],))

    def binary(t: Any) -> _Bool:
        items = t[0]
        return _Bool(items[1].lower(), tuple(items[0::2]))

    expr = pp.infix_notation(
        test,
        [(NOT, 1, pp.OpAssoc.RIGHT, unary), (AND, 2, pp.OpAssoc.LEFT, binary), (OR, 2, pp.OpAssoc.LEFT, binary)],
    ).set_name("expression")
    return expr


def _err(expr: str, loc: int, message: str, hint: str | None = None) -> QuerySyntaxError:
    return QuerySyntaxError(message, expr=expr, col=loc + 1, hint=hint)


_EXAMPLE_HINT = 'e.g. status = bounced and to ~ "@example\\.com$"'


def _prescan(expr: str) -> None:
    """Catch what pyparsing reports poorly: empty input, unclosed quotes and parentheses."""
    if not expr.strip():
        raise _err(expr, 0, "empty filter expression", _EXAMPLE_HINT)
    stack: list[int] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" else 1
            if j >= n:
                raise _err(expr, i, "unterminated string", f"close it with {c}; write \\{c} for a {c} inside it")
            i = j
        elif c == "(":
            stack.append(i)
        elif c == ")":
            if not stack:
                raise _err(expr, i, "unmatched ')'", "remove it or add a matching '('")
            stack.pop()
        i += 1
    if stack:
        raise _err(expr, stack[-1], "unclosed '('", "add a matching ')'")


def _syntax(expr: str) -> Any:
    import pyparsing as pp

    _prescan(expr)
    try:
        return _grammar().parse_string(expr, parse_all=True)[0]
    except pp.ParseBaseException as e:
        raise _syntax_error(expr, e.loc, str(e.msg)) from None


def _syntax_error(expr: str, loc: int, msg: str) -> QuerySyntaxError:
    """Turn pyparsing's failure position into a message about the offending token."""
    import pyparsing as pp

    loc = min(max(loc, 0), len(expr))
    while loc < len(expr) and expr[loc].isspace():
        loc += 1
    if loc >= len(expr):
        return _err(expr, len(expr), "unexpected end of filter expression",
                    "a test is field OP value, joined with and/or; " + _EXAMPLE_HINT)
    found = re.match(r"[A-Za-z0-9_.]+|\S", expr[loc:])
    tok = found.group() if found else expr[loc]
    low = tok.lower()
    if low in ("and", "or", "not"):
        nxt = loc + len(tok)
        while nxt < len(expr) and expr[nxt].isspace():
            nxt += 1
        if nxt >= len(expr):
            return _err(expr, len(expr), f"unexpected end of filter expression after {tok!r}",
                        f"add a test after {tok!r}, e.g. status = bounced")
        after = re.match(r"[A-Za-z0-9_.]+|\S", expr[nxt:])
        nxt_tok = after.group() if after else ""
        if loc == 0 and low != "not":
            return _err(expr, loc, f"unexpected {tok!r}", "'and'/'or' join two tests; 'not' goes before a test")
        if nxt_tok.lower() in ("and", "or", ")"):
            return _err(expr, nxt, f"unexpected {nxt_tok!r}", f"add a test after {tok!r}")
        # pyparsing backtracked to the operator: find the failure inside the operand that follows it
        try:
            _grammar().parse_string(expr[nxt:], parse_all=True)
        except pp.ParseBaseException as e2:
            inner = _syntax_error(expr[nxt:], e2.loc, str(e2.msg))
            return _err(expr, nxt + inner.col - 1, inner.message, inner.hint)
    if loc > 0 and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok) and low not in ("and", "or", "not"):
        prev = expr[:loc].rstrip()
        hint = ("join tests with 'and' / 'or'; quote values containing spaces" if prev and prev[-1] not in "(=<>!~,"
                else "a test is field OP value; " + _EXAMPLE_HINT)
    else:
        hint = ("expected a value; quote it if it contains spaces or ( ) , = < > ! ~" if "value" in msg
                else "a test is field OP value, OP one of = != < <= > >= ~ !~, or field in (…), field is null")
    return _err(expr, loc, f"unexpected {tok!r}", hint)


# ---------------------------------------------------------------- predicate IR
# Tests compile to a tiny IR shared by both back ends:
#   ("cmp", key, op, value)   key compared with a constant; false if the key is null
#   ("re", column, pattern)   regex search; false on null
#   ("null", column)          column is null (NaN counts as null)
#   ("and"|"or", (p, …)), ("not", p)
# A key is ("col", c), ("dsn", c) (a*10⁶+b*10³+c), ("v4", c) (32-bit int) or ("v6", c, i) (group i).


def _unescape(tok: _Tok, raw: bool) -> str:
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


def _convert(expr: str, col: str, kind: str, tok: _Tok, raw: bool) -> Any:
    text = _unescape(tok, raw)
    parsers = {"text": lambda s: s, "int": _number, "size": _parse_size, "duration": _parse_duration,
               "dsn": lambda s: (lambda m: int(m[1]) * 10**6 + int(m[2]) * 10**3 + int(m[3]) if m else None)(_DSN.fullmatch(s)),
               "time": _parse_ts, "ip": _ip_net}
    v = parsers[kind](text)
    if v is None:
        raise _err(expr, tok.loc, f"{text!r} is not a valid {_TYPE_NAMES[kind]} for field '{col}'",
                   _TYPE_HINTS[kind].format(f=col))
    return v


def _check_regex(expr: str, tok: _Tok, pattern: str) -> None:
    import polars as pl

    try:
        pl.select(pl.lit("", dtype=pl.String).str.contains(pattern))
    except Exception as e:  # noqa: BLE001 - any polars failure means the pattern is unusable
        detail = str(e).split("This error occurred")[0].strip()
        detail = re.sub(r"\s+", " ", detail.removeprefix("regex error:").strip())
        raise _err(expr, tok.loc, f"invalid regular expression: {detail[:200]}",
                   "patterns use Rust regex syntax (no look-around or back-references); "
                   "escape a literal dot as \\.") from None


def _resolve_field(expr: str, tok: _Tok) -> str:
    name = tok.text.lower()
    if name in FIELDS:
        return FIELDS[name]
    close = difflib.get_close_matches(name, list(FIELDS), n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{close[0]}'?"
    else:
        hint = "fields: " + ", ".join(COLUMNS) + "; aliases: " + ", ".join(f"{a}={c}" for a, c in ALIASES.items())
    raise _err(expr, tok.loc, f"unknown field '{tok.text}'", hint)


def _lower_test(expr: str, t: _Test) -> Any:
    col = _resolve_field(expr, t.field)
    kind = FIELD_TYPES[col]
    op = t.op.text
    if op in ("is null", "is not null"):
        p: Any = ("null", col)
        return p if op == "is null" else ("not", p)
    if op in ("~", "!~"):
        if kind in ("int", "size", "duration", "time"):
            raise _err(expr, t.op.loc, f"'{op}' needs a text field; '{col}' holds a {_TYPE_NAMES[kind]}",
                       "compare it with = != < <= > >= or in")
        pattern = _unescape(t.values[0], raw=True)
        _check_regex(expr, t.values[0], pattern)
        p = ("re", col, pattern)
        return p if op == "~" else _all([("not", ("null", col)), ("not", p)])
    if kind == "ip" and op in ("<", "<=", ">", ">="):
        raise _err(expr, t.op.loc, f"'{op}' does not apply to '{col}'",
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


def _lower(expr: str, node: Any) -> Any:
    if isinstance(node, _Test):
        return _lower_test(expr, node)
    args = tuple(_lower(expr, a) for a in node.args)
    return ("not", args[0]) if node.op == "not" else (node.op, args)


def _compile_ir(expr: str) -> Any:
    if not isinstance(expr, str):
        raise QuerySyntaxError("filter expression must be a string", expr=repr(expr), col=1, hint=_EXAMPLE_HINT)
    return _compile_ir_cached(expr)


@functools.lru_cache(maxsize=256)
def _compile_ir_cached(expr: str) -> Any:
    try:
        return _lower(expr, _syntax(expr))
    except QuerySyntaxError:
        raise
    except RecursionError:
        raise _err(expr, 0, "filter expression is nested too deeply", "use fewer parentheses or 'not'") from None


# ---------------------------------------------------------------- polars back end

_V4 = r"^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$"
_V6_FULL = r"^(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}$"
_V6_COMP = r"^(?:(?:[0-9a-f]{1,4}:)*[0-9a-f]{1,4})?::(?:(?:[0-9a-f]{1,4}:)*[0-9a-f]{1,4})?$"


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
        parts = pl.col(col).str.extract_groups(_V4)
        o = [parts.struct.field(str(i)).cast(pl.Int64) for i in range(1, 5)]
        ok = (o[0] <= 255) & (o[1] <= 255) & (o[2] <= 255) & (o[3] <= 255)
        return pl.when(ok).then(o[0] * 16777216 + o[1] * 65536 + o[2] * 256 + o[3])
    # v6 group i
    i = key[2]
    s = pl.col(col).str.to_lowercase()
    full, comp = s.str.contains(_V6_FULL), s.str.contains(_V6_COMP)
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


_PL_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _to_polars(p: Any) -> Any:
    import polars as pl

    tag = p[0]
    if tag == "cmp":
        _, key, op, v = p
        return _PL_OPS[op](_pl_key(key), pl.lit(v)).fill_null(False)
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
    ir = _compile_ir(expr)
    try:
        return _to_polars(ir)
    except RecursionError:
        raise _err(expr, 0, "filter expression is nested too deeply", "use fewer parentheses or 'not'") from None


# ---------------------------------------------------------------- Python back end


def _py_col(row: dict[str, Any], col: str) -> Any:
    v = row.get(col)
    if v is None:
        return None
    kind = FIELD_TYPES[col]
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
    if re.fullmatch(_V6_FULL[1:-1], s):
        return [int(g, 16) for g in s.split(":")]
    if not re.fullmatch(_V6_COMP[1:-1], s):
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
        m = re.fullmatch(_V4[1:-1], v)
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
        return k is not None and bool(_PL_OPS[p[2]](k, p[3]))
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


def evaluate(expr: str, row: dict[str, Any]) -> bool:
    """Apply a ``--where`` expression to one event dict (column → value), like :func:`compile_where`.

    Missing keys count as null; ``ts`` should be a datetime (naive = UTC).
    """
    return _eval(_compile_ir(expr), row)

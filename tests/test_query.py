"""The --where language: grammar tables, error columns, engine parity (polars vs Python), layering."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logtrace import query
from logtrace.errors import QuerySyntaxError
from logtrace.events import EventKind, event_schema
from logtrace.query import ALIASES, COLUMNS, FIELDS, compile_where, evaluate
from logtrace.query.grammar import where_grammar

UTC = timezone.utc

ROWS: list[dict] = [
    # 0: a bounce to example.com through mx2
    dict(ts=datetime(2026, 11, 22, 6, 30, tzinfo=UTC), host="mx2", kind="bounce", status="bounced",
         sender="a@example.org", recipient="bob@example.com", dsn="5.1.1", delay_s=45.0, size=20_000,
         client_ip="192.0.2.9", relay_ip="2001:DB8:0::1", relay_host="mail.example.com", reply_code=550,
         reply_text='user "bob" unknown'),
    # 1: a deferral with a NaN delay and an IPv6 relay outside 2001:db8::/32
    dict(ts=datetime(2026, 11, 23, tzinfo=UTC), host="mx1", kind="defer", status="deferred", recipient="eve@example.net",
         dsn="4.7.10", delay_s=float("nan"), size=5 * 1024 * 1024 + 1, client_ip="198.51.100.1", relay_ip="2001:db9::1",
         relay_host="127.0.0.1", reply_code=451),
    # 2: mostly nulls; addresses that are not plain addresses; a dsn that is not numeric
    dict(host="mx1", kind="deliver", dsn="x.y.z", client_ip="::ffff:192.0.2.1", relay_ip="fe80::1%eth0"),
    # 3: a delivery late on the 22nd in another zone's terms
    dict(ts=datetime(2026, 11, 22, 23, 59, 59, 999_999, tzinfo=UTC), host="mx2", kind="deliver", status="sent",
         recipient="carol@EXAMPLE.com", dsn="2.0.0", delay_s=0.5, size=1024, client_ip="192.0.2.255",
         relay_ip="2001:db8:ffff::7", relay_host="relay.example.net"),
]


def frame(rows: list[dict]) -> pl.DataFrame:
    schema = event_schema()
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


DF = frame(ROWS)


def selected(expr: str) -> list[int]:
    by_polars = DF.with_row_index("i").filter(compile_where(expr))["i"].to_list()
    by_python = [i for i, r in enumerate(ROWS) if evaluate(expr, r)]
    assert by_polars == by_python, f"engines disagree on {expr!r}"
    return by_polars


# ---------------------------------------------------------------- valid expressions

VALID = [
    # the brief's examples
    ("kind in (defer, bounce)", [0, 1]),
    ("status = bounced", [0]),
    ("host = mx2 or client_ip in 192.0.2.0/24", [0, 3]),
    (r'status = bounced and to ~ "@example\.com$" and dsn >= 5.0.0 and delay > 30s', [0]),
    ('not relay ~ "127.0.0.1"', [0, 2, 3]),
    # each comparison operator on text
    ("host = mx1", [1, 2]),
    ("host == mx1", [1, 2]),
    ("host != mx1", [0, 3]),
    ("status < deferred", [0]),
    ("status <= deferred", [0, 1]),
    ("status > deferred", [3]),
    ("status >= deferred", [1, 3]),
    ("status != sent", [0, 1]),  # row 2 (null status) matches neither = nor !=
    ("kind not in (defer, bounce)", [2, 3]),
    ("kind in deliver", [2, 3]),
    ('to ~ "(?i)@example\\.com$"', [0, 3]),
    ('to =~ "@example"', [0, 1]),  # case-sensitive: row 3 is @EXAMPLE.com
    ('to !~ "@example\\.com$"', [1, 3]),
    ('relay !~ "^127\\."', [0, 3]),
    # quoting and escapes
    ("reply = 'user \"bob\" unknown'", [0]),
    ('reply = "user \\"bob\\" unknown"', [0]),
    ('reply ~ "\\"bob\\""', [0]),
    ('host = "mx2"', [0, 3]),
    # case-insensitive keywords and field names
    ("STATUS = bounced OR Kind IN (defer)", [0, 1]),
    ("NOT host = mx1 AND size IS NOT NULL", [0, 3]),
    # precedence: not > and > or; parentheses
    ("host = mx1 or host = mx2 and status = sent", [1, 2, 3]),
    ("(host = mx1 or host = mx2) and status = sent", [3]),
    ("not not host = mx1", [1, 2]),
    ("not (host = mx1 or kind = bounce)", [3]),
    # integers, floats
    ("code = 550", [0]),
    ("code >= 451", [0, 1]),
    ("code < 499.5", [1]),
    ("reply_code in (451, 550)", [0, 1]),
    # sizes
    ("size > 10k", [0, 1]),
    ("size <= 1k", [3]),
    ("size > 5M", [1]),
    ("size > 5MiB", [1]),
    ("size < 1.5kb", [3]),
    ("size = 1024", [3]),
    ("size < 1G", [0, 1, 3]),
    # durations (NaN counts as null)
    ("delay > 30s", [0]),
    ("delay > 30", [0]),
    ("delay < 1m", [0, 3]),
    ("delay < 500ms", []),
    ("delay <= 0.5", [3]),
    ("delay_s < 1h30m", [0, 3]),
    ("delay is null", [1, 2]),
    ("delay is not null", [0, 3]),
    # DSN, part by part
    ("dsn >= 4.0.0", [0, 1]),
    ("dsn < 5.1.10", [0, 1, 3]),
    ("dsn > 4.7.9", [0, 1]),
    ("dsn = 5.1.1", [0]),
    ("dsn != 5.1.1", [1, 2, 3]),  # not null and not 5.1.1: "x.y.z" counts
    ("dsn in (2.0.0, 4.7.10)", [1, 3]),
    ('dsn ~ "^5\\."', [0]),
    # timestamps: a literal is the period its precision names; naive = UTC
    ("ts = 2026-11-22", [0, 3]),
    ("time = 2026-11-22T06", [0]),
    ("ts >= 2026-11-22T06:30", [0, 1, 3]),
    ("ts > 2026-11-22T06:30", [1, 3]),
    ("ts <= 2026-11-22T06", [0]),
    ("ts < 2026-11-22T06:30:00.000001", [0]),
    ("ts > 2026-11-22", [1]),
    ("ts >= 2026-11-23T00:00:00Z", [1]),
    ("ts >= 2026-11-23T01:00+01:00", [1]),
    ("ts = '2026-11-22 06:30:00'", [0]),
    ("ts != 2026-11-22", [1]),
    ("ts is null", [2]),
    # CIDR, IPv4 and IPv6
    ("client_ip in 192.0.2.0/24", [0, 3]),
    ("client_ip = 192.0.2.9", [0]),
    ("client_ip = 192.0.2.0/25", [0]),
    ("client_ip in (198.51.100.0/24, 192.0.2.255)", [1, 3]),
    ("client_ip not in 192.0.2.0/24", [1, 2]),
    ("client_ip in 0.0.0.0/0", [0, 1, 3]),
    ("relay_ip = 2001:db8::/32", [0, 3]),
    ("relay_ip = 2001:db8::1", [0]),
    ("relay_ip = 2001:db8:ff00::/40", [3]),
    ("relay_ip in 2001:db8:fffe::/47", [3]),
    ("relay_ip != 2001:db8::/32", [1, 2]),
    ("relay_ip = ::/0", [0, 1, 3]),
    ("client_ip = ::/0", []),
    ('relay_ip ~ "%"', [2]),
    # null tests on any field
    ("status is null", [2]),
    ("status is not null", [0, 1, 3]),
    ("reason is null", [0, 1, 2, 3]),
]


@pytest.mark.parametrize(("expr", "rows"), VALID, ids=[e for e, _ in VALID])
def test_valid(expr: str, rows: list[int]) -> None:
    assert selected(expr) == rows


def test_nulls_two_valued() -> None:
    # on row 2 status is null: = and != are false, not (=) is true
    assert 2 not in selected("status = sent") and 2 not in selected("status != sent")
    assert 2 in selected("not status = sent")


def test_evaluate_tolerates_sparse_and_naive_rows() -> None:
    assert evaluate("status is null", {})
    assert not evaluate("status != x", {})
    assert evaluate("ts = 2026-11-22T06", {"ts": datetime(2026, 11, 22, 6, 5)})  # naive = UTC
    assert evaluate("kind = bounce", {"kind": EventKind.BOUNCE})


# ---------------------------------------------------------------- failures, with columns

INVALID = [
    # (expr, col, message fragment, hint fragment)
    ("", 1, "empty", "status = bounced"),
    ("   ", 1, "empty", None),
    ("foo = 1", 1, "unknown field 'foo'", "fields: ts, host"),
    ("host = a and recipent = x", 14, "unknown field 'recipent'", "did you mean 'recipient'?"),
    ("size > abc", 8, "not a valid size", "10k"),
    ("delay > 3x", 9, "not a valid duration", "30s"),
    ("code = 5xx", 8, "not a valid integer", "550"),
    ("dsn >= 5.1", 8, "not a valid DSN", "5.1.1"),
    ("ts > yesterday", 6, "not a valid timestamp", "UTC"),
    ("ts > 2026-02-30", 6, "not a valid timestamp", None),
    ("client_ip in 192.0.2/24", 14, "not a valid IP address", "CIDR"),
    ("client_ip in (192.0.2.0/24, nope)", 29, "not a valid IP", None),
    ("client_ip < 192.0.2.1", 11, "'<' does not apply", None),
    ("size ~ big", 6, "needs a text field", None),
    ("ts !~ x", 4, "needs a text field", None),
    ('to ~ "a("', 6, "invalid regular expression", "Rust regex"),
    ('to ~ "(?<=a)b"', 6, "look-around", None),
    ('to ~ "x" and relay ~ "[z-a]"', 22, "invalid regular expression", None),
    ("(status = bounced", 1, "unclosed '('", "')'"),
    ("((status = bounced) or (kind = defer)", 1, "unclosed '('", None),
    ("status = bounced)", 17, "unmatched ')'", None),
    ('status = "bounced', 10, "unterminated string", None),
    ("status = bounced garbage", 18, "unexpected 'garbage'", "and"),
    ("status = bounced and", 21, "end of filter expression", "after 'and'"),
    ("and status = x", 1, "unexpected 'and'", None),
    ("status = x and or kind = y", 16, "unexpected 'or'", None),
    ("status = x and kind", 20, "end of filter expression", None),
    ("status", 7, "end of filter expression", None),
    ("status = ", 10, "end of filter expression", None),
    ("status in ()", 12, "unexpected ')'", "value"),
    ("status = (a)", 10, "unexpected '('", None),
    ("status = !x", 10, "unexpected '!'", None),
    ("not", 4, "end of filter expression", None),
    ("= bounced", 1, "unexpected '='", None),
    ("status bounced", 8, "unexpected 'bounced'", None),
]


@pytest.mark.parametrize(("expr", "col", "msg", "hint"), INVALID, ids=[e or "<empty>" for e, *_ in INVALID])
def test_invalid(expr: str, col: int, msg: str, hint: str | None) -> None:
    for fn in (compile_where, lambda e: evaluate(e, {})):
        with pytest.raises(QuerySyntaxError) as info:
            fn(expr)
        e = info.value
        assert e.expr == expr
        assert e.col == col, f"col {e.col}: {e.message}"
        assert msg in e.message
        assert e.hint
        if hint:
            assert hint in e.hint


def test_non_string_input() -> None:
    with pytest.raises(QuerySyntaxError):
        compile_where(None)  # type: ignore[arg-type]


def test_pyparsing_run_tests_table() -> None:
    """The raw grammar, run_tests-style: these parse, the failure table does not."""
    g = where_grammar()
    ok, _ = g.run_tests("""
        status = bounced
        kind in (defer, bounce)
        not relay ~ "127.0.0.1"
        host = mx2 or client_ip in 192.0.2.0/24
        size is not null and (dsn >= 5.0.0 or delay > 30s)
        """, print_results=False)
    assert ok
    bad, _ = g.run_tests("""
        status =
        status = a b
        (status = a
        in (a)
        """, failure_tests=True, print_results=False)
    assert bad


@given(st.lists(st.sampled_from([*"ab =!<>~()\"'\\,.:/ -5sk", "and", "or", "not", "in", "is", "null", "status", "size",
                                  "ts", "dsn", "client_ip"]), max_size=20).map(" ".join))
@settings(max_examples=300, deadline=None)
def test_only_query_syntax_errors(expr: str) -> None:
    try:
        compile_where(expr)
    except QuerySyntaxError as e:
        assert 1 <= e.col <= len(expr) + 1


@given(st.text(max_size=30))
@settings(max_examples=200, deadline=None)
def test_only_query_syntax_errors_any_text(expr: str) -> None:
    try:
        compile_where(expr)
    except QuerySyntaxError as e:
        assert 1 <= e.col <= len(expr) + 1


# ---------------------------------------------------------------- property: polars == Python

T0 = datetime(2026, 11, 22, tzinfo=UTC)
ts_st = st.one_of(st.none(), st.integers(-3 * 86400, 3 * 86400).map(lambda s: T0 + timedelta(seconds=s)),
                  st.sampled_from([T0, T0 + timedelta(hours=6), T0 + timedelta(days=1, microseconds=-1)]))
ip_st = st.one_of(
    st.none(),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.sampled_from(["192.0.2.1", "192.0.2.255", "198.51.100.7", "10.0.0.1", "256.1.1.1", "2001:db8::1", "2001:DB8:0:0::9",
                     "2001:db8:ff00::1", "::1", "::", "fe80::1%eth0", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::",
                     "1::2::3", "garbage", ""]),
)
text_st = st.one_of(st.none(), st.sampled_from(["bounced", "deferred", "sent", "", "a@example.com", "b@EXAMPLE.net",
                                                "127.0.0.1", "x y", "é"]), st.text(alphabet="abc.@ ", max_size=6))
row_st = st.fixed_dictionaries({
    "ts": ts_st,
    "status": text_st,
    "recipient": text_st,
    "kind": st.one_of(st.none(), st.sampled_from(["bounce", "defer", "deliver"])),
    "dsn": st.one_of(st.none(), st.sampled_from(["5.1.1", "4.7.1", "4.7.10", "2.0.0", "5.0.0", "x.y.z", "5.1", "5.1.1000"]),
                     st.tuples(*[st.integers(0, 20)] * 3).map(lambda t: ".".join(map(str, t)))),
    "delay_s": st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False), st.just(float("nan")), st.sampled_from([30.0, 60.0])),
    "size": st.one_of(st.none(), st.integers(0, 2**40), st.sampled_from([1024, 10240, 10241])),
    "reply_code": st.one_of(st.none(), st.integers(200, 599)),
    "client_ip": ip_st,
    "relay_ip": ip_st,
})

OPS = ["=", "!=", "<", "<=", ">", ">="]
LITERALS = {
    "status": ["bounced", "deferred", "sent", '""', "'x y'", "a"],
    "to": ["a@example.com", '"b@EXAMPLE.net"', "c"],
    "kind": ["bounce", "defer", "deliver"],
    "dsn": ["5.1.1", "4.0.0", "5.1.10", "2.0.0", "4.7.10", "0.0.0"],
    "delay": ["30s", "1m", "0", "1.5", "2h", "1d", "500ms", "1h30m"],
    "size": ["10k", "1M", "0", "1024", "1.5k", "1G"],
    "code": ["250", "451", "550", "499.5"],
    "ts": ["2026-11-22", "2026-11-22T06", "2026-11-22T06:00", "2026-11-21T23:59:59", "2026-11-23T00:00:00.5",
           "2026-11-22T06:00+02:00", "2026-11-22T00:00Z"],
}
IP_LITERALS = ["192.0.2.0/24", "192.0.2.1", "0.0.0.0/0", "10.0.0.0/8", "2001:db8::/32", "2001:db8::1", "::/0", "::1",
               "2001:db8:ff00::/40", "2001:db8:fe00::/39", "192.0.2.0/31"]
REGEXES = ['"^b"', '"(?i)example"', '"\\\\."', '"@example\\.com$"', '"^$"', '"x y"', '"é"', '"0\\.0"']


@st.composite
def term_st(draw: st.DrawFn) -> str:
    f = draw(st.sampled_from([*LITERALS, "client_ip", "relay_ip", "regex", "null"]))
    if f == "null":
        fld = draw(st.sampled_from(["status", "dsn", "delay", "ts", "client_ip", "size"]))
        return f"{fld} is {draw(st.sampled_from(['', 'not ']))}null"
    if f == "regex":
        fld = draw(st.sampled_from(["status", "to", "dsn", "client_ip", "relay_ip"]))
        return f"{fld} {draw(st.sampled_from(['~', '!~']))} {draw(st.sampled_from(REGEXES))}"
    if f in ("client_ip", "relay_ip"):
        form = draw(st.sampled_from(["=", "!=", "in", "not in", "in()", "not in()"]))
        if form.endswith("()"):
            vals = draw(st.lists(st.sampled_from(IP_LITERALS), min_size=1, max_size=3))
            return f"{f} {form[:-2]} ({', '.join(vals)})"
        return f"{f} {form} {draw(st.sampled_from(IP_LITERALS))}"
    lits = LITERALS[f]
    form = draw(st.sampled_from([*OPS, "in", "not in"]))
    if form.endswith("in"):
        return f"{f} {form} ({', '.join(draw(st.lists(st.sampled_from(lits), min_size=1, max_size=3)))})"
    return f"{f} {form} {draw(st.sampled_from(lits))}"


expr_st = st.recursive(
    term_st(),
    lambda inner: st.one_of(
        inner.map(lambda e: f"not {e}"),
        inner.map(lambda e: f"({e})"),
        st.tuples(inner, st.sampled_from(["and", "or", "AND", "Or"]), inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
    ),
    max_leaves=5,
)


@given(rows=st.lists(row_st, min_size=1, max_size=8), expr=expr_st)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_polars_matches_python(rows: list[dict], expr: str) -> None:
    df = frame(rows)
    got = df.with_row_index("i").filter(compile_where(expr))["i"].to_list()
    want = [i for i, r in enumerate(rows) if evaluate(expr, r)]
    assert got == want, (expr, [rows[i] for i in set(got) ^ set(want)])


@given(row=row_st)
@settings(max_examples=200, deadline=None)
def test_not_is_complement(row: dict) -> None:
    for e in ("status = bounced", "dsn >= 4.0.0", "client_ip in 192.0.2.0/24", "ts = 2026-11-22", "delay > 30s"):
        assert evaluate(f"not {e}", row) is (not evaluate(e, row))
        # != never matches null; otherwise it is the complement of =
        ne = e.replace(" = ", " != ").replace(" in ", " not in ")
        if ne != e:
            col = FIELDS[e.split()[0]]
            v = row.get(col)
            null = v is None or (isinstance(v, float) and math.isnan(v))
            assert evaluate(ne, row) is (not null and not evaluate(e, row))


# ---------------------------------------------------------------- fields and layering


def test_fields_cover_schema() -> None:
    assert set(COLUMNS) == set(event_schema())
    assert set(FIELDS.values()) <= set(COLUMNS)
    for alias, col in {"from": "sender", "to": "recipient", "rcpt": "recipient", "qid": "queue_id", "id": "queue_id",
                       "msgid": "message_id", "relay": "relay_host", "client": "client_host", "delay": "delay_s",
                       "code": "reply_code", "reply": "reply_text", "time": "ts"}.items():
        assert FIELDS[alias] == col
    for name in (*COLUMNS, "relay_ip", "client_ip"):
        assert FIELDS[name] == name


def test_docstring_documents_every_field() -> None:
    doc = query.__doc__ or ""
    for name in (*COLUMNS, *ALIASES):
        assert f"{name}" in doc, name
    for alias in ALIASES:
        assert f"``{alias}``" in doc


def test_every_field_compiles() -> None:
    for name in FIELDS:
        compile_where(f"{name} is not null")


def test_import_does_not_pull_in_pyparsing_or_polars() -> None:
    code = ("import sys, logtrace, logtrace.query; "
            "bad = [m for m in ('pyparsing', 'polars') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_error_caret_indexes_the_query_as_given_even_with_tabs():
    """pyparsing expands tabs before parsing unless told not to; the caret must point into the
    string the user typed (atheris found column 185 for a 26-character query of 23 tabs + 't=t')."""
    from logtrace.errors import QuerySyntaxError
    from logtrace.query.polars_backend import compile_where

    expr = "\t" * 23 + "t=t"
    with pytest.raises(QuerySyntaxError) as e:
        compile_where(expr)
    assert e.value.col == 24 and expr[e.value.col - 1] == "t"

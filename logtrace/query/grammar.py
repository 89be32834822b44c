"""``--where`` text → parse tree: the tree classes, the pyparsing grammar, and syntax errors.

pyparsing is imported only inside functions (and packrat switched on only in
:func:`where_grammar`), so importing this module stays cheap. :func:`parse` returns a tree
of :class:`Bool` and :class:`Test` nodes whose leaves are :class:`Tok` tokens that remember
their offset, or raises :class:`~logtrace.errors.QuerySyntaxError` pointing at the
offending token.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

from logtrace.errors import QuerySyntaxError

# ---------------------------------------------------------------- parse tree


@dataclasses.dataclass(frozen=True, slots=True)
class Tok:
    """One token of the filter text: a field name, operator or value."""

    text: str
    loc: int  # 0-based offset of the token's first character
    quote: str = ""  # '"' or "'" for quoted values


@dataclasses.dataclass(frozen=True, slots=True)
class Test:
    """``field OP value…``: a leaf of the parse tree."""

    field: Tok
    op: Tok  # "=", "!=", …, "in", "not in", "is null", "is not null"
    values: tuple[Tok, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Bool:
    """``and`` / ``or`` / ``not`` over parse-tree nodes."""

    op: str  # "and" | "or" | "not"
    args: tuple[Any, ...]


_OPS = {"=": "=", "==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "~": "~", "=~": "~", "!~": "!~"}


@functools.cache
def where_grammar() -> Any:
    """Build the pyparsing grammar once (pyparsing is imported only here).

    Packrat memoization is switched on here, not at import: ``infix_notation`` without it
    is exponential in nested ``not``/``(`` (atheris found 33 s for 15 ``not``).
    """
    import pyparsing as pp

    pp.ParserElement.enable_packrat()

    AND, OR, NOT, IN, IS, NULL = (pp.CaselessKeyword(k) for k in ("and", "or", "not", "in", "is", "null"))
    keyword = AND | OR | NOT | IN | IS | NULL

    # parse actions sit on the Regex itself: an And reports the location before skipped whitespace
    field = (~keyword + pp.Regex(r"[A-Za-z_][A-Za-z0-9_]*").set_parse_action(lambda s, loc, t: Tok(t[0], loc)))
    field.set_name("field name")
    op = pp.Regex(r"==|!=|<=|>=|!~|=~|=|<|>|~").set_name("operator (= != < <= > >= ~ !~ in is)")
    op.set_parse_action(lambda s, loc, t: Tok(_OPS[t[0]], loc))

    dq = pp.Regex(r'"(?:[^"\\]|\\.)*"', flags=re.S).set_name("quoted value")
    dq.set_parse_action(lambda s, loc, t: Tok(t[0][1:-1], loc, '"'))
    sq = pp.Regex(r"'(?:[^'\\]|\\.)*'", flags=re.S).set_name("quoted value")
    sq.set_parse_action(lambda s, loc, t: Tok(t[0][1:-1], loc, "'"))
    bare = (~keyword + pp.Regex(r"[^\s()\[\]{},\"'=<>!~]+").set_parse_action(lambda s, loc, t: Tok(t[0], loc)))
    bare.set_name("value")
    value = (dq | sq | bare).set_name("value")

    lpar, rpar = pp.Suppress("("), pp.Suppress(")")
    in_op = (pp.Opt(NOT) + IN).set_parse_action(lambda s, loc, t: Tok(" ".join(x.lower() for x in t), loc))
    value_list = lpar + pp.DelimitedList(value) + rpar
    membership = field + in_op + (value_list | value)
    null_op = (IS + pp.Opt(NOT) + NULL).set_parse_action(lambda s, loc, t: Tok(" ".join(x.lower() for x in t), loc))
    nulltest = field + null_op
    comparison = field + op + value

    test = (membership | nulltest | comparison).set_name("test (field OP value)")
    test.set_parse_action(lambda s, loc, t: Test(t[0], t[1], tuple(t[2:])))

    def unary(t: Any) -> Bool:
        return Bool("not", (t[0][1],))

    def binary(t: Any) -> Bool:
        items = t[0]
        return Bool(items[1].lower(), tuple(items[0::2]))

    expr = pp.infix_notation(
        test,
        [(NOT, 1, pp.OpAssoc.RIGHT, unary), (AND, 2, pp.OpAssoc.LEFT, binary), (OR, 2, pp.OpAssoc.LEFT, binary)],
    ).set_name("expression")
    # locations (a Tok's loc, an error's caret) index the string as given: pyparsing would
    # otherwise expand tabs first (atheris: a caret at column 185 of a 26-character query)
    return expr.parse_with_tabs()


def error_at(expr: str, loc: int, message: str, hint: str | None = None) -> QuerySyntaxError:
    """The error for ``expr`` at 0-based offset ``loc`` (reported as 1-based ``col``)."""
    return QuerySyntaxError(message, expr=expr, col=loc + 1, hint=hint)


#: The example a hint shows when the user needs to see what a filter looks like.
EXAMPLE_HINT = 'e.g. status = bounced and to ~ "@example\\.com$"'


def _prescan(expr: str) -> None:
    """Catch what pyparsing reports poorly: empty input, unclosed quotes and parentheses."""
    if not expr.strip():
        raise error_at(expr, 0, "empty filter expression", EXAMPLE_HINT)
    stack: list[int] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" else 1
            if j >= n:
                raise error_at(expr, i, "unterminated string", f"close it with {c}; write \\{c} for a {c} inside it")
            i = j
        elif c == "(":
            stack.append(i)
        elif c == ")":
            if not stack:
                raise error_at(expr, i, "unmatched ')'", "remove it or add a matching '('")
            stack.pop()
        i += 1
    if stack:
        raise error_at(expr, stack[-1], "unclosed '('", "add a matching ')'")


def parse(expr: str) -> Any:
    """``expr`` → its parse tree (:class:`Bool` / :class:`Test` nodes), or :class:`QuerySyntaxError`."""
    import pyparsing as pp

    _prescan(expr)
    try:
        return where_grammar().parse_string(expr, parse_all=True)[0]
    except pp.ParseBaseException as e:
        raise _syntax_error(expr, e.loc, str(e.msg)) from None


def _syntax_error(expr: str, loc: int, msg: str) -> QuerySyntaxError:
    """Turn pyparsing's failure position into a message about the offending token."""
    import pyparsing as pp

    loc = min(max(loc, 0), len(expr))
    while loc < len(expr) and expr[loc].isspace():
        loc += 1
    if loc >= len(expr):
        return error_at(expr, len(expr), "unexpected end of filter expression",
                    "a test is field OP value, joined with and/or; " + EXAMPLE_HINT)
    found = re.match(r"[A-Za-z0-9_.]+|\S", expr[loc:])
    tok = found.group() if found else expr[loc]
    low = tok.lower()
    if low in ("and", "or", "not"):
        nxt = loc + len(tok)
        while nxt < len(expr) and expr[nxt].isspace():
            nxt += 1
        if nxt >= len(expr):
            return error_at(expr, len(expr), f"unexpected end of filter expression after {tok!r}",
                        f"add a test after {tok!r}, e.g. status = bounced")
        after = re.match(r"[A-Za-z0-9_.]+|\S", expr[nxt:])
        nxt_tok = after.group() if after else ""
        if loc == 0 and low != "not":
            return error_at(expr, loc, f"unexpected {tok!r}", "'and'/'or' join two tests; 'not' goes before a test")
        if nxt_tok.lower() in ("and", "or", ")"):
            return error_at(expr, nxt, f"unexpected {nxt_tok!r}", f"add a test after {tok!r}")
        # pyparsing backtracked to the operator: find the failure inside the operand that follows it
        try:
            where_grammar().parse_string(expr[nxt:], parse_all=True)
        except pp.ParseBaseException as e2:
            inner = _syntax_error(expr[nxt:], e2.loc, str(e2.msg))
            return error_at(expr, nxt + inner.col - 1, inner.message, inner.hint)
    if loc > 0 and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok) and low not in ("and", "or", "not"):
        prev = expr[:loc].rstrip()
        hint = ("join tests with 'and' / 'or'; quote values containing spaces" if prev and prev[-1] not in "(=<>!~,"
                else "a test is field OP value; " + EXAMPLE_HINT)
    else:
        hint = ("expected a value; quote it if it contains spaces or ( ) , = < > ! ~" if "value" in msg
                else "a test is field OP value, OP one of = != < <= > >= ~ !~, or field in (…), field is null")
    return error_at(expr, loc, f"unexpected {tok!r}", hint)

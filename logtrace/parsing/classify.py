"""Classification by line shape: which rule of a daemon's table takes each body (first match
wins), with each rule tested only on the rows no earlier rule took, and by its *shape*
(:func:`shape_pattern`: the pattern without a tail that takes any rest of the line).
:meth:`logtrace.parsing.rules.RuleParser.rule_parts` uses it; ``tests/test_speed_classify.py``
holds it equal to the plain rule-by-rule peel on every sample, corpus and generated line."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any


#: tails that match every rest of a line without a newline, and what to test instead (classification only)
_FREE_TAILS = (
    (re.compile(r"\(\?P<\w+>\.\*\)\$$"), ""),  # (?P<detail>.*)$
    (re.compile(r"\(\?P<\w+> \.\*\)\?\$$"), "(?:$| )"),  # (?P<rcv> .*)?$
    (re.compile(r"\(\?: \(\?P<\w+>\.\*\)\)\?\$$"), "(?:$| )"),  # (?: (?P<detail>.*))?$
    (re.compile(r"\(\?::\.\*\)\?\$$"), "(?:$|:)"),  # (?::.*)?$
)


@functools.lru_cache(maxsize=1024)
def shape_pattern(pattern: str) -> str:
    """``pattern`` as a test of a line's shape, for bodies without a newline: a tail that takes
    any rest of the line (``(?P<detail>.*)$``, ``(?P<rcv> .*)?$`` …) is cut off, so a matching
    row is not scanned to its end (measured on 200-byte Exim lines: a match costs ~300 ns, a
    miss ~25 ns). ``pattern`` itself when it has no such tail. Which newline-free bodies match
    is unchanged (``tests/test_speed_classify.py``)."""
    for tail, instead in _FREE_TAILS:
        cut = tail.sub(lambda _: instead, pattern, count=1)
        if cut != pattern:
            return cut
    return pattern


def classify_rows(body: Any, rules: Sequence[Any]) -> Any:
    """Frame form of first-match-wins: an Int32 Series ``_r``, per body the index of the first
    rule whose pattern matches it, -1 for none. Rows are peeled off rule by rule, each rule
    tested on the rows no earlier rule took, with :func:`shape_pattern` (the full pattern when
    one of those rows holds a newline: checked once, when the first rule with a free tail comes)."""
    import polars as pl

    newline: bool | None = None
    # row numbers and bodies as two Series: a rule's hits gather only their row numbers (filtering a
    # frame of both per rule had cost as much as the tests); the bodies left are copied once per
    # rule that took any (masking taken rows out instead, and testing them again, measured slower)
    idx, rem = pl.int_range(len(body), dtype=pl.UInt32, eager=True), body
    taken: list[Any] = []  # per rule that took rows: their row numbers, and the rule's index
    for k, rule in enumerate(rules):
        if not len(rem):
            break
        pattern = shape_pattern(rule.pattern)
        if pattern is not rule.pattern:
            if newline is None:
                newline = bool(rem.str.contains("\n", literal=True).any())
            if newline:
                pattern = rule.pattern
        mask = rem.str.contains(pattern)
        if mask.any():
            hit = idx.filter(mask)
            taken.append((hit, pl.repeat(k, len(hit), dtype=pl.Int32, eager=True)))
            keep = ~mask
            idx, rem = idx.filter(keep), rem.filter(keep)
    which = pl.repeat(-1, len(body), dtype=pl.Int32, eager=True).alias("_r")
    if taken:  # one scatter of every rule's rows
        which = which.scatter(pl.concat([i for i, _ in taken]), pl.concat([r for _, r in taken]))
    return which

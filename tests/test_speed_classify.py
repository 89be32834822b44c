"""Classification by line shape (``classify.classify_rows`` with ``classify.shape_pattern``) equals the
rule-by-rule peel with the full patterns, on every sample, public-corpus and generated line of
every dialect and daemon, and on the same lines with a newline inside (where a free tail like
``(?P<rcv> .*)?$`` no longer matches every rest, and the full patterns must be used)."""

from __future__ import annotations


import pytest

from conftest import CORPUS, generate_exim_log, generate_log, line_bodies
from logtrace.parsing.protocol import ParseOptions
from logtrace.parsing.registry import Registry
from logtrace.parsing.classify import classify_rows, shape_pattern
from logtrace.parsing.rules import RuleParser

DIALECTS = [i.cls for i in Registry(include_plugins=False).available() if issubclass(i.cls, RuleParser)]
OPTS = ParseOptions(year=2026, tz="UTC")


def peel(body, rules):
    """The reference: first match wins, each rule's full pattern on the rows no earlier rule took."""
    import polars as pl

    which = pl.Series("_r", [-1] * len(body), dtype=pl.Int32)
    rem = pl.DataFrame({"_i": pl.int_range(len(body), dtype=pl.UInt32, eager=True), "body": body})
    for k, rule in enumerate(rules):
        mask = rem.get_column("body").str.contains(rule.pattern)
        which = which.scatter(rem.filter(mask).get_column("_i"), k)
        rem = rem.filter(~mask)
    return which


@pytest.fixture(scope="module")
def bodies(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("classify")
    files = sorted(CORPUS.glob("*/*.log")) + [generate_log(d / "gen.log", 20000, 7), generate_exim_log(d / "exim.log", 20000, 7)]
    samples = [s for cls in DIALECTS for r in cls.rules for s in r.samples]
    return list(dict.fromkeys(samples + line_bodies(files)))


def daemons(cls: type) -> list[str]:
    return sorted({r.program for r in cls.rules} | {"*"})


@pytest.mark.parametrize("cls", DIALECTS, ids=[c.name for c in DIALECTS])
def test_shape_classification_equals_the_peel(cls, bodies):
    import polars as pl

    parser = cls(OPTS)
    body = pl.Series("body", bodies, dtype=pl.String)
    for daemon in daemons(cls):
        rules = parser.rules_for(daemon)
        got, want = classify_rows(body, rules), peel(body, rules)
        bad = body.filter(got != want)
        assert bad.len() == 0, f"{cls.name}/{daemon}: {bad.head(3).to_list()}"
        assert (want >= 0).any() or daemon == "*", f"{cls.name}/{daemon}: no line classified, the test proves nothing"


@pytest.mark.parametrize("cls", DIALECTS, ids=[c.name for c in DIALECTS])
def test_bodies_with_a_newline_use_the_full_patterns(cls, bodies):
    import polars as pl

    parser = cls(OPTS)
    some = bodies[:: max(1, len(bodies) // 3000)]
    body = pl.Series("body", [b + "\nmore" for b in some] + [b.replace(" ", "\n", 1) for b in some] + some, dtype=pl.String)
    for daemon in daemons(cls):
        rules = parser.rules_for(daemon)
        assert classify_rows(body, rules).equals(peel(body, rules)), f"{cls.name}/{daemon}"


def swap(text: str, n: int, c: str) -> str:
    """``text`` with its ``n``-th space (from 0) turned into ``c``."""
    parts = text.split(" ")
    return text if n + 1 >= len(parts) else " ".join(parts[: n + 1]) + c + " ".join(parts[n + 1:])


@pytest.mark.parametrize("cls", DIALECTS, ids=[c.name for c in DIALECTS])
def test_near_misses_classify_as_the_peel_does(cls, bodies):
    """Lines one character off a rule's shape (a space turned into ``<``, ``>``, ``:`` or a tab;
    the end cut off), where a wrongly cut tail would take a line its pattern refuses."""
    import polars as pl

    parser = cls(OPTS)
    some = bodies[:: max(1, len(bodies) // 2000)]
    near = [swap(b, n, c) for b in some for c in ("<", ">", ":", "\t") for n in range(4)] + [b[: len(b) // 2] for b in some]
    body = pl.Series("body", near, dtype=pl.String)
    for daemon in daemons(cls):
        rules = parser.rules_for(daemon)
        assert classify_rows(body, rules).equals(peel(body, rules)), f"{cls.name}/{daemon}"


def test_free_tails_are_cut_and_other_patterns_kept():
    from logtrace_parsers.exim import EximParser

    by_id = {r.id: r.pattern for r in EximParser.rules}
    assert shape_pattern(by_id["exim.main.accept"]).endswith(">?(?:$| )")
    assert shape_pattern(by_id["exim.main.queue_run"]) == by_id["exim.main.queue_run"]  # `.*)$` inside a group: kept
    assert shape_pattern(r"^warning: (?P<detail>.*)$") == "^warning: "
    assert shape_pattern(r"^(?P<detail>.*)$") == "^"
    assert shape_pattern(r"^x(?: (?P<detail>.*))?$") == "^x(?:$| )"
    assert shape_pattern(r"^x from (?P<c>\S+)(?::.*)?$") == r"^x from (?P<c>\S+)(?:$|:)"
    shortened = sum(shape_pattern(r.pattern) != r.pattern for cls in DIALECTS for r in cls.rules)
    assert shortened >= 20


def test_first_match_wins_on_any_bodies_and_rules():
    """Any bodies (empty ones, ones with newlines and none at all included) and any rule list: the index
    of the first rule whose full pattern matches, -1 for none (the plain peel; and, on bodies with no
    newline at the end, where Python's ``$`` and the Rust regex's agree, what ``re`` finds)."""
    import re

    import polars as pl
    from hypothesis import given, settings, strategies as st

    from types import SimpleNamespace

    patterns = st.sampled_from(["^a", "b", "^ab$", "c.*d", "^$", "x(?P<detail>.*)$", "^a(?P<rcv> .*)?$", "d$"])

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.text(alphabet="abcdx \n", max_size=6), max_size=30), st.lists(patterns, max_size=5))
    def check(texts, pats):
        rules = [SimpleNamespace(pattern=p) for p in pats]
        body = pl.Series(texts, dtype=pl.String)
        got = classify_rows(body, rules).to_list()
        assert got == peel(body, rules).to_list()
        for t, k in zip(texts, got):
            if not t.endswith("\n"):
                assert k == next((i for i, p in enumerate(pats) if re.search(p, t)), -1)

    check()

"""Fast cuts beside rule patterns (logtrace/parsing/cuts.py): on every sample, public-corpus and
generated line a rule's pattern matches and its cut's guard accepts, the cut gives exactly the
pattern's groups, in the line form and in the frame form; and the frame engine with cuts gives
the same events as the line engine on those files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import CORPUS, assert_engines_agree, generate_log
from logtrace.containers.syslog import split_line
from logtrace.parsing.protocol import ParseOptions
from logtrace.parsing.registry import Registry
from logtrace.parsing.rules import RuleParser

OPTS = ParseOptions(year=2026, tz="UTC")
DIALECTS = [i.cls for i in Registry(include_plugins=False).available() if issubclass(i.cls, RuleParser)]
CUT_RULES = [(cls, r) for cls in DIALECTS for r in cls.rules if r.cut is not None]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_log(tmp_path_factory.mktemp("cuts") / "gen.log", 20000, 5)


def bodies(generated: Path) -> list[str]:
    """Message bodies of every corpus and generated line (a ``.msg.log`` line is a body already)."""
    out: list[str] = []
    files = sorted(CORPUS.glob("*/*.log")) + [generated]
    for f in files:
        for ln in f.read_text(encoding="utf-8", errors="replace").splitlines():
            g = split_line(ln)
            out.append(g["body"] if g else ln)
    return out


def test_some_rules_declare_cuts():
    assert {r.id for _, r in CUT_RULES} >= {"postfix.smtp.delivery_status", "postfix.qmgr.from", "postfix.smtpd.client"}


@pytest.mark.parametrize("cls,rule", CUT_RULES, ids=[f"{c.name}:{r.program}:{r.id}" for c, r in CUT_RULES])
def test_cut_equals_pattern_on_every_line_the_guard_accepts(cls, rule, generated):
    import polars as pl

    rx = re.compile(rule.pattern)
    cut = rule.cut
    taken: list[str] = []
    for body in [*rule.samples, *bodies(generated)]:
        m = rx.match(body)
        got = cut.cut_line(body)
        if m is None or got is None:
            continue
        want = {g: m.group(g) for g in cut.groups}
        assert got == want, f"{rule.id}: cut and pattern disagree on {body!r}"
        rest = set(rx.groupindex) - set(cut.groups)
        assert all(m.group(g) is None for g in rest), f"{rule.id}: the pattern captures {rest} the cut leaves out: {body!r}"
        taken.append(body)
    assert taken, f"{rule.id}: its cut took no sample, corpus or generated line"
    frame = cut.cut_frame(pl.DataFrame({"body": taken}))
    for body, row in zip(taken, frame.select(list(cut.groups)).iter_rows(named=True)):
        assert row == cut.cut_line(body), f"{rule.id}: frame and line form of the cut disagree on {body!r}"


def test_guards_refuse_what_the_cut_would_get_wrong():
    cut = next(r.cut for _, r in CUT_RULES if r.id == "postfix.smtp.delivery_status")
    # a comma in the address, an orig_to, a missing reply: all left to the pattern
    for body in ("1A2B3C4D5E: to=<a,b@example.org>, relay=x[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
                 "1A2B3C4D5E: to=<a@example.org>, orig_to=<b@example.org>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (x)",
                 "1A2B3C4D5E: to=<a@example.org>, relay=none, delay=1, delays=0/0/0/1, dsn=4.0.0, status=deferred"):
        assert cut.cut_line(body) is None


def test_frame_engine_with_cuts_agrees_with_the_line_engine_on_a_generated_log(generated):
    assert_engines_agree(generated, "postfix", OPTS)


def test_derivation_cuts_equal_their_patterns(generated):
    """The ``relay``/``client``/``delays`` cuts against the derivation patterns, on every such raw field."""
    import polars as pl

    from logtrace.parsing.rules import DERIVATION_CUTS

    fields: dict[str, set[str]] = {}
    for cls in DIALECTS:
        for rule in cls.rules:
            rx = re.compile(rule.pattern)
            for src in set(rx.groupindex) & {c.src for cs in DERIVATION_CUTS.values() for c in cs}:
                for body in [*rule.samples, *bodies(generated)]:
                    m = rx.match(body)
                    if m and m.group(src) is not None:
                        fields.setdefault(src, set()).add(m.group(src))
    for pattern, cuts in DERIVATION_CUTS.items():
        rx = re.compile(pattern)
        for cut in cuts:
            values = sorted(fields.get(cut.src, ()))
            taken = [v for v in values if cut.cut_line(v) is not None]
            assert taken, f"the {cut.src} cut {cut.guard!r} took no value"
            for v in taken:
                m = rx.search(v)
                assert m is not None
                want = {g: m.group(g) for g in cut.groups}
                assert cut.cut_line(v) == want, f"{cut.src}: cut and pattern disagree on {v!r}"
                assert all(m.group(g) is None for g in set(rx.groupindex) - set(cut.groups)), v
            frame = cut.cut_frame(pl.DataFrame({cut.src: taken}))
            assert frame.select(list(cut.groups)).rows(named=True) == [cut.cut_line(v) for v in taken]


def test_check_parser_reports_a_cut_that_disagrees_with_its_pattern():
    import dataclasses

    from logtrace.parsing.cuts import Cut
    from logtrace.parsing.rules import check_parser

    cls = next(c for c, r in CUT_RULES if r.id == "postfix.qmgr.removed")
    bad = Cut(r"^[0-9A-F]{5,}: removed$", (("strip", "body", "queue_id", "", "removed"),))  # keeps ": "
    rules = tuple(dataclasses.replace(r, cut=bad) if r.id == "postfix.qmgr.removed" else r for r in cls.rules)
    broken = type("Broken", (cls,), {"rules": rules})
    assert any("cut and pattern disagree" in p for p in check_parser(broken))
    assert check_parser(cls) == []

"""Fast cuts beside rule patterns (logtrace/parsing/cuts.py): on every sample, public-corpus and
generated line a rule's pattern matches and its cut's guard accepts, the cut gives exactly the
pattern's groups, in the line form and in the frame form; and the frame engine with cuts gives
the same events as the line engine on those files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import CORPUS, assert_engines_agree, generate_exim_log, generate_log, line_bodies
from logtrace.parsing.protocol import ParseOptions
from logtrace.parsing.registry import Registry
from logtrace.parsing.rules import RuleParser

OPTS = ParseOptions(year=2026, tz="UTC")
DIALECTS = [i.cls for i in Registry(include_plugins=False).available() if issubclass(i.cls, RuleParser)]
CUT_RULES = [(cls, r, c) for cls in DIALECTS for r in cls.rules for c in r.cuts]
_BODIES: dict[tuple[Path, ...], list[str]] = {}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    d = tmp_path_factory.mktemp("cuts")
    return generate_log(d / "gen.log", 20000, 5), generate_exim_log(d / "exim.log", 20000, 5)


def bodies(generated: tuple[Path, ...]) -> list[str]:
    """Message bodies of every corpus and generated line (a ``.msg.log`` line is a body already; an
    Exim main-log line is a body after its stamp)."""
    if generated not in _BODIES:
        _BODIES[generated] = line_bodies(sorted(CORPUS.glob("*/*.log")) + list(generated))
    return _BODIES[generated]


def group_values(m: re.Match[str], names: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    """A match's groups by field name: ``field__N`` groups (one field captured by several
    alternatives) give the first value that is set."""
    out: dict[str, str | None] = {}
    for g, v in m.groupdict().items():
        base = g.split("__", 1)[0]
        if base in names and out.get(base) is None:
            out[base] = v
    return {g: out.get(g) for g in names}


def test_some_rules_declare_cuts():
    assert {r.id for _, r, _ in CUT_RULES} >= {"postfix.smtp.delivery_status", "postfix.qmgr.from", "postfix.smtpd.client",
                                              "exim.main.accept", "exim.main.deliver"}


@pytest.mark.parametrize("cls,rule,cut", CUT_RULES,
                         ids=[f"{c.name}:{r.program}:{r.id}:{r.cuts.index(k)}" for c, r, k in CUT_RULES])
def test_cut_equals_pattern_on_every_line_the_guard_accepts(cls, rule, cut, generated):
    import polars as pl

    rx = re.compile(rule.pattern)
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
    cut = next(c for _, r, c in CUT_RULES if r.id == "postfix.smtp.delivery_status")
    # a comma in the address, an orig_to, a missing reply: all left to the pattern
    for body in ("1A2B3C4D5E: to=<a,b@example.org>, relay=x[1.2.3.4]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
                 "1A2B3C4D5E: to=<a@example.org>, orig_to=<b@example.org>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (x)",
                 "1A2B3C4D5E: to=<a@example.org>, relay=none, delay=1, delays=0/0/0/1, dsn=4.0.0, status=deferred"):
        assert cut.cut_line(body) is None


def test_frame_engine_with_cuts_agrees_with_the_line_engine_on_a_generated_log(generated):
    assert_engines_agree(generated[0], "postfix", OPTS)
    assert_engines_agree(generated[1], "exim", OPTS)


def test_derivation_cuts_equal_their_patterns(generated):
    """The derivation cuts (``relay``/``client``/``delays``, Exim's ``rcv``/``dlv``, ``reply_text``) against
    their derivation patterns, on every such raw or derived field of every sample, corpus and generated line."""
    import polars as pl

    DERIVATION_CUTS = {p: cs for cls in DIALECTS for p, cs in cls.derivation_cuts.items()}  # noqa: N806
    srcs = {c.src for cs in DERIVATION_CUTS.values() for c in cs}
    fields: dict[str, set[str]] = {}
    for cls in DIALECTS:
        derivs = [(src, re.compile(p)) for src, p in cls.derivations]
        for rule in cls.rules:
            rx = re.compile(rule.pattern)
            for body in [*rule.samples, *bodies(generated)]:
                m = rx.match(body)
                if m is None:
                    continue
                got = {k: v for k, v in m.groupdict().items() if v is not None}
                for src, drx in derivs:  # as RuleParser.make_event: derived fields feed later derivations
                    sv = got.get(src)
                    if sv is None:
                        continue
                    if src in srcs:
                        fields.setdefault(src, set()).add(sv)
                    dm = drx.search(sv)
                    if dm:
                        for k, v in dm.groupdict().items():
                            k = k.split("__", 1)[0]
                            if v is not None and got.get(k) is None:
                                got[k] = v
    assert {c.src for cs in DERIVATION_CUTS.values() for c in cs} >= {"relay", "client", "delays", "rcv", "dlv", "reply_text"}
    for pattern, cuts in DERIVATION_CUTS.items():
        rx = re.compile(pattern)
        for cut in cuts:
            values = sorted(fields.get(cut.src, ()))
            taken = [v for v in values if cut.cut_line(v) is not None]
            assert taken, f"the {cut.src} cut {cut.guard!r} took no value"
            for v in taken:
                m = rx.search(v)
                assert m is not None
                want = group_values(m, cut.groups)
                assert cut.cut_line(v) == want, f"{cut.src}: cut and pattern disagree on {v!r}"
                others = sorted({g.split("__", 1)[0] for g in rx.groupindex} - set(cut.groups))
                assert all(x is None for x in group_values(m, others).values()), v
            frame = cut.cut_frame(pl.DataFrame({cut.src: taken}))
            assert frame.select(list(cut.groups)).rows(named=True) == [cut.cut_line(v) for v in taken]


def test_check_parser_reports_a_cut_that_disagrees_with_its_pattern():
    import dataclasses

    from logtrace.parsing.cuts import Cut
    from logtrace.parsing.rules import check_parser

    cls = next(c for c, r, _ in CUT_RULES if r.id == "postfix.qmgr.removed")
    bad = Cut(r"^[0-9A-F]{5,}: removed$", (("strip", "body", "queue_id", "", "removed"),))  # keeps ": "
    rules = tuple(dataclasses.replace(r, cut=bad) if r.id == "postfix.qmgr.removed" else r for r in cls.rules)
    broken = type("Broken", (cls,), {"rules": rules})
    assert any("cut and pattern disagree" in p for p in check_parser(broken))
    assert check_parser(cls) == []

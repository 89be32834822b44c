"""Trace code never branches on an MTA name or tests a rule ID (STYLE §0: facts travel as
event fields or rule tags, see logtrace/parsing/tags.py)."""

from __future__ import annotations

import re
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
#: ``mta ==``/``mta !=`` (an MTA-name branch; comparing two events' mta fields is written
#: ``other.mta == lc.mta`` and is allowed), MTA names compared as strings, rule-ID literals.
PATTERNS = [
    re.compile(r"\bmta\s*[!=]=\s*[\"']"),
    re.compile(r"[\"']\s*[!=]=\s*\w*\.?mta\b"),
    re.compile(r"==\s*[\"'](?:postfix|exim|exchange)", re.I),
    re.compile(r"!=\s*[\"'](?:postfix|exim|exchange)", re.I),
    re.compile(r"[\"'](?:postfix|exim|exchange)\.", re.I),
    re.compile(r"startswith\(\s*[\"'](?:postfix|exim|exchange)", re.I),
]


def _offenders(folder: Path) -> list[str]:
    out = []
    for p in sorted(folder.rglob("*.py")):
        for no, line in enumerate(p.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if any(rx.search(code) for rx in PATTERNS):
                out.append(f"{p.relative_to(REPO)}:{no}: {line.strip()}")
    return out


def test_patterns_catch_what_they_should():
    bad = ['if ev.mta == "postfix":', 'e.mta != "exim"', 'rule == "postfix.qmgr.removed"', 'rule.startswith("exim.")',
           'x = "exchange.msgtrk.row"', '"exim" == e.mta']
    good = ["other.mta == lc.mta", 'has_tag(e, Tag.FINAL)', 'e.status == "bounce-of"', '# the exim.main.deliver rule']
    assert all(any(rx.search(s.split("#", 1)[0]) for rx in PATTERNS) for s in bad)
    assert not any(rx.search(s.split("#", 1)[0]) for s in good for rx in PATTERNS)


def test_trace_never_branches_on_mta_or_rule_id():
    offenders = _offenders(REPO / "logtrace" / "trace")
    assert not offenders, "use rule tags (has_tag/tagged) instead:\n" + "\n".join(offenders)


def test_reports_never_branch_on_mta_or_rule_id():
    folder = REPO / "logtrace" / "reports"
    assert folder.is_dir(), "logtrace/reports/ is where the reports live"
    offenders = _offenders(folder)
    assert not offenders, "use rule tags (has_tag/tagged) instead:\n" + "\n".join(offenders)

"""Reports ask rule tags, never MTA names or rule IDs (STYLE §0), and every tag they ask is on some rule.

If a rule is renamed or loses a tag the reports use, a total would silently drop to zero;
the second test turns that into a failure naming the tag.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from logtrace.parsing.tags import Tag, default_index

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "logtrace" / "reports"
CLI = REPO / "logtrace" / "cli"

#: what an MTA-name branch or a rule-ID test looks like in source
FORBIDDEN = [
    (re.compile(r"\bmta\s*[!=]="), "compares mta"),
    (re.compile(r"""\(\s*["']mta["']\s*\)\s*[!=]="""), "compares the mta column"),
    (re.compile(r"""[!=]=\s*["'](?:postfix|exim|exchange)"""), "compares with an MTA name"),
    (re.compile(r"""["'](?:postfix|exim|exchange)\.[\w.]*"""), "names a rule ID"),
]


def _offences(root: Path) -> list[str]:
    out = []
    for p in sorted(root.rglob("*.py")):
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            for pat, why in FORBIDDEN:
                if pat.search(line):
                    out.append(f"{p.relative_to(root.parent)}:{n}: {why}: {line.strip()}")
    return out


def test_reports_never_branch_on_mta_names_or_rule_ids():
    offences = _offences(REPORTS)
    assert not offences, "ask a rule tag (logtrace.parsing.tags) instead:\n" + "\n".join(offences)


def test_the_check_catches_what_it_should(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('a = pl.col("mta") == "postfix"\nb = rule == "postfix.cleanup.checks"\nc = x if mta != "exim" else y\n'
                   'd = rule.str.ends_with(".delivery_status")\ne = _X = "exim.main."\n')
    got = _offences(tmp_path)
    assert [o.split(":")[1] for o in got if "names a rule ID" in o] == ["2", "5"]
    assert {o.split(":")[1] for o in got} == {"1", "2", "3", "5"}


def _tags_used(root: Path) -> dict[str, list[str]]:
    """Tag member → where it is used (``Tag.X`` attribute references)."""
    used: dict[str, list[str]] = {}
    for p in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Tag":
                used.setdefault(node.attr, []).append(f"{p.relative_to(REPO)}:{node.lineno}")
    return used


def test_every_tag_the_reports_use_is_carried_by_a_registered_rule():
    used = _tags_used(REPORTS)
    assert {"PFLOGSUMM", "EXIMSTATS", "DELIVERY_STATUS", "EXIMSTATS_ACCEPT"} <= set(used), sorted(used)
    carried = default_index().all_tags()
    missing = {name: where for name, where in used.items() if Tag[name] not in carried}
    assert not missing, f"tags used by logtrace/reports but carried by no rule (totals would be zero): {missing}"


def test_counting_rules_come_from_the_events_tags():
    from logtrace.parsing.rules import ParseOptions
    from logtrace.reports.summary import summarize

    opts = ParseOptions(year=2024, tz="UTC")
    exim, pf, exch = (str(REPO / "sample_logs" / p) for p in
                      ("exim/bounce-with-ndr.log", "postfix/lab-mx1.log", "exchange/all-event-ids.log"))
    assert summarize([exim], options=opts).counting == "eximstats"
    assert summarize([pf], options=opts).counting == "pflogsumm"
    assert summarize([exim, pf], options=opts).counting == "pflogsumm"
    assert summarize([exim, exch], options=opts).counting == "pflogsumm"


def test_cli_has_one_csv_injection_guard():
    hits = [f"{p.name}:{n}" for p in sorted(CLI.glob("*.py"))
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"=\+\\?-@|csv_cell|startswith\(\(\"=\"", line)]
    assert len(hits) == 1 and hits[0].startswith("writers.py:"), hits

"""Layout rules for logtrace/trace/ (STYLE §0): modules by responsibility, none over ~600
lines, no private names imported across modules, exceptions live in logtrace/errors.py."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRACE = REPO / "logtrace" / "trace"
#: private imports still waiting for a public name in a module trace/ does not own
KNOWN: set[tuple[str, str]] = set()


def _modules() -> list[Path]:
    return sorted(TRACE.glob("*.py"))


def test_trace_has_one_module_per_responsibility():
    names = {p.stem for p in _modules()}
    assert {"lifecycles", "links", "verdicts", "narrative", "follow", "bounces"} <= names


def test_trace_modules_stay_under_600_lines():
    big = {p.name: n for p in _modules() if (n := len(p.read_text().splitlines())) > 600}
    assert not big, f"split these modules: {big}"


def test_no_private_names_imported_across_modules():
    offenders = []
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__") and (node.module, a.name) not in KNOWN:
                        offenders.append(f"{p.name}:{node.lineno}: from {node.module} import {a.name}")
    assert not offenders, "make what two modules need public in the lower one:\n" + "\n".join(offenders)


def test_trace_defines_no_exception_classes():
    offenders = []
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception")) for b in node.bases):
                offenders.append(f"{p.name}:{node.lineno}: {node.name}")
    assert not offenders, f"exceptions belong in logtrace/errors.py: {offenders}"


def test_follow_error_is_the_one_in_errors():
    from logtrace.errors import FollowError, LogtraceError
    from logtrace.trace import follow

    assert follow.FollowError is FollowError and issubclass(FollowError, LogtraceError)


def test_correlator_keeps_the_names_callers_import():
    from logtrace.trace import correlator, lifecycles, links, verdicts

    assert correlator.build_lifecycles is lifecycles.build_lifecycles
    assert correlator.instance_of is lifecycles.instance_of
    assert correlator.NOT_DELIVERED is verdicts.NOT_DELIVERED
    assert correlator.Link is links.Link and correlator.MessageStory is verdicts.MessageStory


def test_every_case_has_one_row_and_one_sentence():
    from logtrace.trace import narrative, verdicts

    rows = [d.case for d in verdicts.DECISIONS] + [verdicts.NO_ATTEMPT.case]
    assert sorted(rows) == sorted(verdicts.Case) and len(rows) == len(set(rows))
    assert set(narrative.SENTENCES) == set(verdicts.Case)

"""Golden events: sample_logs/postfix/<case>.log → <case>.events.jsonl, for BOTH engines."""

from __future__ import annotations

import difflib
import json
import tomllib
from pathlib import Path

import pytest

from conftest import golden_events
from logtrace.parsing.rules import ParseOptions
from logtrace_parsers.postfix import RULES

DIR = Path(__file__).resolve().parents[1] / "sample_logs" / "postfix"
CASES = sorted(p for p in DIR.glob("*.log"))
_opts = tomllib.loads((DIR / "options.toml").read_text())
OPTS = ParseOptions(year=_opts["year"], tz=_opts["tz"])


def _events(path: Path, engine: str) -> list[dict]:
    return golden_events(path, "postfix", OPTS, engine)


@pytest.mark.parametrize("engine", ["frame", "line"])
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_golden_events(path, engine, update_goldens):
    got = _events(path, engine)
    n_lines = len(path.read_text().splitlines())
    assert sorted(e["line_no"] for e in got) == list(range(1, n_lines + 1)), "every input line exactly once"
    golden = path.with_suffix(".events.jsonl")
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in got)
    if update_goldens and engine == "frame":
        golden.write_text(text)
    assert golden.exists(), f"no golden; run: pytest tests/test_golden.py --update-goldens -k {path.stem}"
    want = golden.read_text()
    if text != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True), "golden", engine, n=1))
        pytest.fail(f"{path.name} ({engine}) differs from its golden:\n{diff[:4000]}\n"
                    f"regenerate: pytest tests/test_golden.py --update-goldens -k {path.stem}")
    if not path.name.startswith("malformed-"):
        assert not [e for e in got if e["kind"] == "unparsed"], "samples other than malformed-* must parse completely"


def test_goldens_cover_the_main_rules():
    used = set()
    for g in DIR.glob("*.events.jsonl"):
        used |= {json.loads(l).get("rule") for l in g.read_text().splitlines()}
    core = {r.id for r in RULES if r.program in ("smtpd", "cleanup", "qmgr", "smtp", "bounce", "postsuper", "local", "pickup")
            and r.id.split(".")[-1] in ("connect", "disconnect", "client", "noqueue", "message_id", "removed", "from", "expired",
                                        "delivery_status", "notification", "uid")}
    missing = core - used
    assert not missing, f"rules without a golden sample: {sorted(missing)}"

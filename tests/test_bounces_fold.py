"""``bounces`` in two passes (a narrow fold selects the messages, a second read parses only their
lines) gives what the one-pass form gives (used for standard input, which cannot be read twice)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import generate_log

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_log(tmp_path_factory.mktemp("bfold") / "mail.log", 30000, 7)


def run(*args: str, stdin: Path | None = None) -> list[dict]:
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as fh:
        r = subprocess.run([sys.executable, "-m", "logtrace", "bounces", *args, "--json"], stdin=fh, capture_output=True,
                           cwd=REPO, timeout=300)
    assert r.returncode in (0, 4), r.stderr.decode()
    return json.loads(r.stdout)


@pytest.mark.parametrize("extra", [(), ("--include-rejected",)], ids=["default", "include-rejected"])
def test_two_passes_equal_one_pass(generated, extra):
    two = run(str(generated), *extra)
    one = run("-", *extra, stdin=generated)
    assert two, "the generated log has failures to report"
    norm = json.dumps(one).replace('"-:', f'"{generated}:')
    assert json.loads(norm) == two


def test_the_fold_selects_exactly_the_messages_with_a_problem_and_their_links(generated):
    from logtrace.parsing.rules import ParseOptions
    from logtrace.parsing.scan import ScanResult
    from logtrace.trace.candidates import select_candidates

    import polars as pl

    from logtrace.parsing.scan import parse_frame_all
    from logtrace.trace.candidates import per_message

    opts = ParseOptions(year=2026, tz="UTC")
    sel = select_candidates([str(generated)], options=opts, result=ScanResult())
    ev = parse_frame_all([str(generated)], options=opts)
    want = per_message(ev.filter(pl.col("queue_id").is_not_null())).sort("host", "queue_id")
    assert sel.per.sort("host", "queue_id").equals(want.select(sel.per.columns))
    pairs = ev.filter(pl.col("queue_id").is_not_null(), pl.col("next_queue_id").is_not_null()).select(
        "queue_id", "next_queue_id").unique().rows()
    assert sorted(sel.pairs) == sorted(pairs)

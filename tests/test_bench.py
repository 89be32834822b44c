"""The benchmark generator as a large-scale correctness test, and a smoke run of the harness.

``bench/genlog.py`` writes realistic interleaved logs (content-filter re-injection, relays
between hosts, alias forwarding, deferrals, expiries, bounces with NDRs, reused short IDs)
together with each message's true fate. ``follow`` and ``bounces`` must agree with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logtrace.trace.bounces import find_bounces
from logtrace.trace.follow import follow, story_to_json
from logtrace.parsing.rules import ParseOptions

REPO = Path(__file__).resolve().parents[1]
OPTS = ParseOptions(year=2026, tz="UTC")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    log, truth = d / "mail.log", d / "truth.jsonl"
    subprocess.run([sys.executable, str(REPO / "bench/genlog.py"), "--lines", "20000", "--seed", "11", "--out", str(log),
                    "--truth", str(truth), "-q"], check=True, timeout=300)
    return log, [json.loads(l) for l in truth.read_text().splitlines()]


def test_generator_is_deterministic_and_exact(tmp_path):
    outs = []
    for name in ("a.log", "b.log"):
        p = tmp_path / name
        subprocess.run([sys.executable, str(REPO / "bench/genlog.py"), "--lines", "3000", "--seed", "5", "--out", str(p), "-q"],
                       check=True, timeout=120)
        outs.append(p.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0].count(b"\n") == 3000


def test_follow_agrees_with_the_ground_truth_for_every_message(generated):
    log, truth = generated
    msgs = [t for t in truth if t.get("complete", True) and t["queue_id"] and t.get("kind") != "ndr"]
    assert len(msgs) > 300
    wrong = []
    for t in msgs[::2]:
        res = follow([str(log)], queue_id=t["queue_id"], options=OPTS)
        got = {}
        for s in res.stories:
            if any(lc.queue_id == t["queue_id"] for lc, _, _ in s.chain):
                got.update({r["recipient"]: r["verdict"] for r in story_to_json(s)["recipients"]})
        for r in t["recipients"]:
            if got.get(r["recipient"]) != r["verdict"]:
                wrong.append((t["queue_id"], r["recipient"], r["verdict"], got.get(r["recipient"])))
    assert not wrong, f"{len(wrong)} verdicts differ from the truth, e.g. {wrong[:5]}"


def test_bounces_finds_exactly_the_messages_the_truth_says_failed(generated):
    log, truth = generated
    # (queue ID, Message-ID): short queue IDs are reused, one generation may fail and the next succeed
    msgs = [t for t in truth if t.get("complete", True) and t["queue_id"] and t.get("kind") != "ndr"]
    failed = {(t["queue_id"], t["message_id"]) for t in msgs if any(r["verdict"] in ("bounced", "expired") for r in t["recipients"])}
    ok = {(t["queue_id"], t["message_id"]) for t in msgs if all(r["verdict"] in ("delivered", "relayed") for r in t["recipients"])}
    res = find_bounces([str(log)], options=OPTS)
    found = {(it.story.origin.queue_id, it.story.origin.message_id) for it in res.items}
    assert failed and failed <= found, f"missed: {sorted(failed - found)[:5]}"
    assert not (found & ok), f"delivered messages reported: {sorted(found & ok)[:5]}"


def test_bench_harness_smoke_run_produces_the_table(tmp_path):
    r = subprocess.run([str(REPO / "bench/run"), "--quick", "--no-install", "--workdir", str(tmp_path)],
                       capture_output=True, text=True, timeout=600, cwd=REPO, env=dict(os.environ))
    assert r.returncode == 0, r.stderr[-2000:]
    table = r.stdout
    for row in ("`logtrace parse --format parquet`", "`logtrace follow ID`", "`logtrace summary`", "`grep -F ID`"):
        assert row in table, row
    logtrace_rows = [ln for ln in table.splitlines() if "`logtrace " in ln]
    assert logtrace_rows and not [ln for ln in logtrace_rows if "n/a" in ln], logtrace_rows

"""End-to-end: ``logtrace watch`` follows two real Postfix instances while they write.

The lab (tests/realmta) runs its scenarios — a bounce at the next hop, an expiry with short
queue lifetimes, a content-filter discard, a multi-recipient bounce, deliveries, deferrals,
rejects — while ``watch --json`` follows both hosts' live log files. Every alert must arrive
(generous timeout, no latency assertion), exactly once, and must be exactly the failures
``bounces`` reports for the finished logs; delivered and relayed mail gives none.

Skipped when Postfix is not installed, unless LOGTRACE_REQUIRE_MTA=1.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REQUIRE_MTA as REQUIRE, unavailable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realmta.postfix import PostfixLab, postfix_available  # noqa: E402
from realmta.scenarios import run_all  # noqa: E402
from test_watch import Watch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.realmta
#: scenario → (recipient, alert verdict) that must be alerted
MUST_ALERT = {"relay_bounce": ("unknown-relay@via-mx2.example.test", "bounced"),
              "expired": ("tempfail-expire@ext.example.test", "expired"),
              "multi": ("unknown-multi@ext.example.test", "bounced"),
              "filter_discard": ("spam-discard@filtered.example.test", "discarded")}


def _bounces(paths: list[str]) -> set[tuple[str, str, str, str]]:
    p = subprocess.run([sys.executable, "-m", "logtrace", "bounces", "--json", *paths], capture_output=True, text=True,
                       cwd=REPO, timeout=300)
    want = set()
    for m in json.loads(p.stdout)["messages"]:
        for r in m["recipients"]:
            if r.get("category") in ("bounced", "expired", "discarded", "quarantined"):
                want.add((r["host"], r["queue_id"], r["recipient"], r["category"]))
                if r.get("ndr") and r["ndr"].get("delivered") is False:
                    want.add((r["host"], r["queue_id"], r["recipient"], "notification-failed"))
    return want


def test_watch_alerts_what_real_postfix_fails_while_it_writes():
    reason = postfix_available()
    if reason:
        unavailable(f"LOGTRACE_REQUIRE_MTA=1 but {reason}" if REQUIRE else reason, required=REQUIRE)
    lab = PostfixLab()
    w = None
    try:
        lab.start()
        paths = lab.log_paths("rfc3164")
        w = Watch("--from-start", "--max-alerts-per-minute", "1000", *paths)
        w.wait_ready()
        scenarios = run_all(lab, timeout=60)
        for name, (rcpt, verdict) in MUST_ALERT.items():
            assert name in scenarios
            w.wait_for(rcpt, verdict)
        lab.stop()
        want = _bounces(paths)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and {(a["host"], a["queue_id"], a["recipient"], a["verdict"]) for a in w.seen} < want:
            try:
                w.seen.append(w.alerts.get(timeout=1))
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting until the deadline
                pass
        time.sleep(3)  # a repeat, if any, would come now
        assert w.stop(signal.SIGTERM) == 0
        got = [(a["host"], a["queue_id"], a["recipient"], a["verdict"]) for a in w.seen]
        print("alerts:", sorted((v, r) for _, _, r, v in got))  # shown with -s
        assert len(got) == len(set(got)), "an alert came twice"
        assert set(got) == want
        delivered = {r for s in scenarios.values() for r, v in s.recipients.items() if v in ("delivered", "relayed")}
        assert not [a for a in w.seen if a["recipient"] in delivered]
        assert any(v == "discarded" for *_, v in got) == any(v == "discarded" for *_, v in want)
    finally:
        if w is not None and w.p.poll() is None:
            w.p.kill()
        lab.stop()
        lab.cleanup()

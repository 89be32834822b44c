"""End-to-end: ``logtrace watch`` follows a real Exim (and the Postfix lab, when installed) while they write.

The Exim lab (tests/realmta/exim.py, exim_scenarios.py) runs its scenarios — a bounce with
its NDR, one delivered and one bounced recipient, a retry-timeout expiry, a greylisted
deferral then delivery, an ACL reject, and with Postfix mx1 -> exim1 -> bounce — while
``watch --json`` follows exim1's main log (and mx1's log). Every failure must be alerted
(generous timeout, no latency assertion), exactly once, and the alerts must be exactly the
failures ``bounces`` reports for the finished logs; delivered and relayed mail gives none.

Skipped when Exim is not installed, unless LOGTRACE_REQUIRE_MTA=1 (then a failure).
Serialize with the other lab tests: ``flock /tmp/realmta.lock python -m pytest …``.
"""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from conftest import REQUIRE_MTA as REQUIRE, unavailable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realmta.exim import EximLab, exim_available  # noqa: E402
from realmta.exim_scenarios import run_all  # noqa: E402
from test_watch import Watch  # noqa: E402
from test_watch_real_postfix import _bounces  # noqa: E402

pytestmark = pytest.mark.realmta
#: scenario → (recipient, alert verdict) that must be alerted
MUST_ALERT = {"bounced": ("unknown-bounce@ext.example.test", "bounced"),
              "multi": ("unknown-multi@ext.example.test", "bounced"),
              "expired": ("tempfail-expire@ext.example.test", "expired")}


def test_watch_alerts_what_real_exim_fails_while_it_writes():
    reason = exim_available()
    if reason:
        unavailable(reason, required=REQUIRE)
    lab = EximLab()
    w = None
    try:
        lab.start()
        paths = lab.log_paths(("exim1", "mx1") if lab.postfix else ("exim1",))
        w = Watch("--from-start", "--max-alerts-per-minute", "1000", *paths)
        w.wait_ready()
        scenarios = run_all(lab, timeout=90)
        must = dict(MUST_ALERT)
        if "from_postfix_bounce" in scenarios:
            must["from_postfix_bounce"] = ("unknown-frompf@via-exim.example.test", "bounced")
        for name, (rcpt, verdict) in must.items():
            assert name in scenarios and scenarios[name].error is None, (name, scenarios.get(name))
            a = w.wait_for(rcpt, verdict)
            assert a["sender"] == scenarios[name].sender and a["schema"] == "logtrace.alert/1"
        lab.stop()
        # Exim's main log names no host: the correlator names an Exim hop's host from the hop before
        # it (mx1's relay), which a live watch may read after the hop itself; compare without it
        want = {k[1:] for k in _bounces(paths)}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and {(a["queue_id"], a["recipient"], a["verdict"]) for a in w.seen} < want:
            try:
                w.seen.append(w.alerts.get(timeout=1))
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting until the deadline
                pass
        time.sleep(3)  # a repeat, if any, would come now
        assert w.stop(signal.SIGTERM) == 0
        got = [(a["queue_id"], a["recipient"], a["verdict"]) for a in w.seen]
        print("alerts:", sorted((v, r) for _, r, v in got))  # shown with -s
        assert len(got) == len(set(got)) == len({a["alert_id"] for a in w.seen}), "an alert came twice"
        assert set(got) == want
        delivered = {r for s in scenarios.values() for r, v in s.recipients.items() if v in ("delivered", "relayed")}
        assert not [a for a in w.seen if a["recipient"] in delivered]
    finally:
        if w is not None and w.p.poll() is None:
            w.p.kill()
        lab.stop()
        lab.cleanup()

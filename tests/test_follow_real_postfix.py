"""End-to-end: real Postfix writes the logs, ``logtrace follow`` must explain them.

The scenarios (tests/realmta/scenarios.py) run once per module against two
private loopback Postfix instances (mx1, mx2), a scripted far-end SMTP server
and an amavis-like content filter.  Each follow test runs
``python -m logtrace follow <ID|--to ADDR> <mx1 log> <mx2 log> --json`` for both
timestamp styles (RFC 3164 and RFC 3339) and checks the verdicts.

Skipped when Postfix is not installed, unless LOGTRACE_REQUIRE_MTA=1, in which
case a missing Postfix is a failure.  Install with: bash .ci/install-mta.sh
Set LOGTRACE_MTA_KEEP=1 to keep the generated logs (path printed on failure).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REQUIRE_MTA as REQUIRE, unavailable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realmta.postfix import STYLES, PostfixLab, postfix_available  # noqa: E402
from realmta.common import find_message, find_recipient, run_follow  # noqa: E402
from realmta.scenarios import run_all  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.realmta
SCENARIOS = ["delivered", "relay_mx2", "relay_bounce", "greylist", "expired", "rejected",
             "multi", "deleted", "content_filter",
             # issue 15
             "filter_discard", "hold_deleted", "hold_released", "header_reject", "rcpt_reject_qid", "sender_reject", "requeued",
             "filter_no_id", "alias_bounce", "alias_relay_bounce"]
#: told to the client at SMTP time: not a failure after acceptance (``bounces`` may leave them out)
SMTP_TIME = {"rejected", "header_reject", "rcpt_reject_qid", "sender_reject"}


@pytest.fixture(scope="module")
def postfix_run():
    reason = postfix_available()
    if reason:
        unavailable(f"LOGTRACE_REQUIRE_MTA=1 but {reason}" if REQUIRE else reason, required=REQUIRE)
    lab = PostfixLab()
    try:
        lab.start()
        try:
            scenarios = run_all(lab, timeout=60)
        finally:
            lab.stop()  # flushes logs; the files stay until cleanup
        yield lab, scenarios
    finally:
        lab.stop()
        lab.cleanup()


def _follow(lab, scenario, style, hosts=("mx1", "mx2")):
    return run_follow(scenario.follow_args(), lab.log_paths(style, hosts))


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", SCENARIOS)
def test_follow_verdicts(postfix_run, name, style):
    lab, scenarios = postfix_run
    s = scenarios[name]
    assert not s.error, f"harness failed for {name}: {s.error}"
    code, data, ctx = _follow(lab, s, style)
    msg = find_message(data, s, ctx)
    for addr, verdict in s.recipients.items():
        r = find_recipient(msg, addr, ctx)
        assert r.get("verdict") == verdict, f"{addr}: expected {verdict}{ctx}"
        assert r.get("evidence"), f"{addr}: no evidence{ctx}"
        if addr in s.dsn:
            assert r.get("dsn") == s.dsn[addr], f"{addr}: dsn{ctx}"
    assert code == s.expect_exit, f"exit code {code} != {s.expect_exit}{ctx}"

    if s.queue_id:
        assert msg.get("sender") == s.sender, ctx
        if s.message_id_logged:
            assert msg.get("message_id") == s.message_id.strip("<>"), ctx  # data fields carry no <> (0.3.0)
        chain = msg.get("chain") or []
        assert chain, ctx
        assert chain[0].get("queue_id") == s.queue_id, ctx
        assert chain[0].get("link") == "origin", ctx
        assert chain[0].get("host") == lab.hostname(s.host, style), ctx
        assert chain[0].get("mta") == "postfix", ctx
        ids = {c.get("queue_id"): c for c in chain}
        for host, qid, link in s.chain[1:]:
            assert qid in ids, f"chain lacks {link} hop {host}:{qid}{ctx}"
            assert ids[qid].get("link") == link, ctx
            assert ids[qid].get("host") == lab.hostname(host, style), ctx
        if name in ("relay_mx2", "relay_bounce"):
            hop = ids[s.chain[1][1]]
            assert hop.get("host") != chain[0].get("host"), ctx
            r = find_recipient(msg, next(iter(s.recipients)), ctx)
            assert r.get("host") == lab.hostname("mx2", style), ctx
        if name == "requeued":
            hop = ids[s.chain[1][1]]
            assert hop.get("from_queue_id") == s.queue_id and hop.get("host") == chain[0].get("host"), ctx
        if name == "content_filter":
            assert len(chain) >= 2, ctx
            hop = ids[s.chain[1][1]]
            assert hop.get("link") == "content-filter", ctx
            assert hop.get("from_queue_id") == s.queue_id, ctx
            assert hop.get("host") == chain[0].get("host"), ctx
    _check_issue15(name, s, msg, ctx)
    if s.ndr:
        ndr_host, ndr_id = s.ndr
        bounced = [a for a, v in s.recipients.items() if v in ("bounced", "expired")]
        for addr in bounced:
            ndr = find_recipient(msg, addr, ctx).get("ndr")
            assert ndr and ndr.get("queue_id") == ndr_id, f"{addr}: ndr {ndr_id} not reported{ctx}"
            assert ndr.get("host") == lab.hostname(ndr_host, style), ctx


@pytest.mark.parametrize("style", STYLES)
def test_follow_into_the_mailbox_with_real_dovecot(postfix_run, style):
    """Issue 17: mx2 hands the message to a real Dovecot 2.3 over LMTP; with Dovecot's own log
    file beside the Postfix logs, each recipient's verdict names the folder or the Sieve action,
    with evidence from both sides, linked by the LMTP session ID (``:R2``… for later recipients)."""
    from realmta.dovecot import dovecot_available

    lab, scenarios = postfix_run
    if lab.dovecot is None:
        unavailable(dovecot_available() or "no Dovecot in the lab", required=REQUIRE)
    s = scenarios["mailbox"]
    assert not s.error, f"harness failed: {s.error}"
    code, data, ctx = run_follow([s.queue_id], lab.log_paths(style) + [str(lab.dovecot.log)])
    msg = find_message(data, s, ctx)
    got = {a: find_recipient(msg, a, ctx) for a in s.recipients}
    assert {a: r["verdict"] for a, r in got.items()} == s.recipients, ctx
    assert code == 4, ctx
    assert "saved into the mailbox folder 'INBOX'" in got["inbox@mbox.example.test"]["summary"], ctx
    assert "delivered, but into the junk folder: saved by Sieve into the mailbox folder 'Junk'" in got["junk@mbox.example.test"]["summary"], ctx
    assert "discarded by the recipient's own Sieve filter" in got["drop@mbox.example.test"]["summary"], ctx
    assert got["full@mbox.example.test"]["dsn"] == "5.2.2" and got["full@mbox.example.test"]["ndr"], ctx
    dove = str(lab.dovecot.log)
    for a in ("inbox@mbox.example.test", "junk@mbox.example.test", "drop@mbox.example.test"):
        ev = got[a]["evidence"]
        assert any(x.startswith(dove + ":") for x in ev) and any(not x.startswith(dove + ":") for x in ev), f"{a}: {ev}{ctx}"
    hops = [(h["link"], h["mta"]) for h in msg["chain"]]
    assert hops[:2] == [("origin", "postfix"), ("relay", "postfix")] and hops.count(("mailbox", "dovecot")) == 3, ctx
    # later recipients of the one LMTP transaction: the session ID with :R<n> (the quota failure has
    # its session ID on Dovecot's side only, so its :R<n> hop is not linked — not even by the weak
    # Message-ID link, whatever second Dovecot's whole-second stamps put it in: test_mailbox_link_timing.py)
    assert sum(":R" in h["queue_id"] for h in msg["chain"]) == 2, ctx
    assert not [h for h in msg["chain"] if h["link"] == "message-id"], ctx


def _check_issue15(name, s, msg, ctx):
    """What the sentence and the fields must say for the issue-15 scenarios."""
    rcpts = {a: find_recipient(msg, a, ctx) for a in s.recipients}
    if name == "filter_discard":
        r = next(iter(rcpts.values()))
        assert "discarded by content filter" in r["summary"], ctx
        assert re.search(r"250 2\.7\.0 Ok, discarded, id=\d{5}-\d{2} - spam", r["summary"]), ctx
        assert re.search(r"the filter's ID \d{5}-\d{2}", r["summary"]), ctx
    if name == "hold_deleted":
        r = next(iter(rcpts.values()))
        assert "placed on hold" in r["summary"] and "deleted by an administrator" in r["summary"], ctx
        assert len(r["evidence"]) == 2, ctx
    if name in SMTP_TIME:
        for addr, v in s.recipients.items():
            if v == "rejected":
                summ = rcpts[addr]["summary"]
                assert "at SMTP time" in summ, ctx
                assert re.search(r"5\.7\.1 \S", summ), f"no reason in {summ!r}{ctx}"
    if name == "hold_released":
        assert msg.get("sender") == s.sender, ctx
    if name == "sender_reject":
        assert msg.get("sender") == s.sender, ctx
    if name == "requeued":
        assert [c.get("link") for c in msg["chain"]] == ["origin", "requeued"], ctx
    if name == "filter_no_id":  # the filter's reply names no ID: smtpd's orig_queue_id= links the hops
        assert [c.get("link") for c in msg["chain"]] == ["origin", "content-filter"], ctx
        r = next(iter(rcpts.values()))
        assert r["queue_id"] == s.chain[1][1] and r["relay"] and str(s.chain[1][1]) not in r["relay"], ctx
        assert r["next_queue_id"] is not None, ctx  # the far end's ID, from the filtered hop's own delivery
    if name in ("alias_bounce", "alias_relay_bounce"):  # forwarded by an alias, then bounced: not "relayed"
        r = next(iter(rcpts.values()))
        final = "unknown-fwd@ext.example.test" if name == "alias_bounce" else "unknown-fwd@via-mx2.example.test"
        assert re.search(rf"forwarded it to mx1\S* as {re.escape(final)}, which accepted it as {s.chain[1][1]} ", r["summary"]), \
            f"{r['summary']!r}{ctx}"
        assert "550 5.1.1" in r["summary"] or "550 5.1.1" in (r.get("reply") or ""), ctx
        assert r["queue_id"] == s.chain[-1][1], ctx


def test_follow_relay_without_next_hop_log(postfix_run):
    """Only mx1's log given: a hand-off to mx2 is still 'relayed'."""
    lab, scenarios = postfix_run
    s = scenarios["relay_bounce"]
    assert not s.error, s.error
    code, data, ctx = _follow(lab, s, "rfc3164", hosts=("mx1",))
    msg = find_message(data, s, ctx)
    r = find_recipient(msg, next(iter(s.recipients)), ctx)
    assert r.get("verdict") == "relayed", ctx
    assert code == 0, ctx


# ------------------------------------------------------------------ harness --
_LINE = {
    "rfc3164": r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d {host} postfix-{name}/[\w-]+\[\d+\]: ",
    "rfc3339": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?([+-]\d\d:\d\d|Z) {host} postfix-{name}/[\w-]+\[\d+\]: ",
}


def test_harness_produces_logs(postfix_run):
    lab, scenarios = postfix_run
    errors = [f"{n}: {s.error}" for n, s in scenarios.items() if s.error]
    assert not errors, "\n".join(errors)
    for style in STYLES:
        texts = {}
        for name, h in lab.hosts.items():
            text = h.log_text(style)
            assert text, f"{h.logs[style]} is empty"
            line_re = re.compile(_LINE[style].replace("{host}", re.escape(lab.hostname(name, style)))
                                 .replace("{name}", name))
            bad = [ln for ln in text.splitlines() if not line_re.match(ln)]
            assert not bad, f"{style} {name}: unexpected line format: {bad[:3]}"
            texts[name] = text
        for s in scenarios.values():
            assert s.raw, f"{s.name}: no expectations recorded"
            for host, regex in s.raw:
                assert re.search(regex, texts[host], re.M), \
                    f"{s.name}: /{regex}/ not in {lab.hosts[host].logs[style]}"
            if s.queue_id and s.message_id_logged:
                assert re.search(rf"\b{s.queue_id}: message-id={re.escape(s.message_id)}$",
                                 texts[s.host], re.M), s.name
    # cross-checks on the recorded IDs
    sc = scenarios
    assert sc["rejected"].queue_id is None
    assert sc["relay_bounce"].ndr and sc["relay_bounce"].ndr[0] == "mx2"
    assert sc["expired"].ndr and sc["multi"].ndr
    assert [c[2] for c in sc["content_filter"].chain] == ["origin", "content-filter"]
    assert [c[0] for c in sc["relay_mx2"].chain] == ["mx1", "mx2"]
    assert sc["sender_reject"].queue_id is None
    assert [c[2] for c in sc["requeued"].chain] == ["origin", "requeued"]


@pytest.mark.parametrize("style", STYLES)
def test_bounces_finds_exactly_the_failed_scenarios(postfix_run, style):
    lab, scenarios = postfix_run
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-m", "logtrace", "bounces", *lab.log_paths(style, ("mx1", "mx2")), "--json"],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 4, r.stderr
    found = {m["chain"][0]["queue_id"]: m for m in json.loads(r.stdout)["messages"]}
    # SMTP-time rejects: whether ``bounces`` lists them is its own business (--include-rejected);
    # the mailbox scenario's Sieve verdicts need Dovecot's log (tested with it above)
    mine = [s for s in scenarios.values() if s.queue_id and s.name not in SMTP_TIME and s.name != "mailbox"]
    failed = {s.queue_id: s for s in mine if any(v not in ("delivered", "relayed") for v in s.recipients.values())}
    ok = {s.queue_id for s in mine} - set(failed)
    assert set(failed) <= set(found), f"missing: {set(failed) - set(found)}"
    assert not (ok & set(found)), f"delivered messages reported: {ok & set(found)}"
    for qid, s in failed.items():
        m = found[qid]
        got = {x["recipient"]: x["verdict"] for x in m["recipients"] if x["verdict"] not in ("delivered", "relayed")}
        want = {a: v for a, v in s.recipients.items() if v not in ("delivered", "relayed")}
        assert got == want, (qid, got, want)
        assert m["category"] in ("bounced", "expired", "deleted", "discarded")
        for x in m["recipients"]:
            if x["verdict"] == "bounced":
                assert x["class"] == "mailbox_unknown" and x["ndr"]["delivered"] is True

"""The last mile with real content filters: Debian's amavisd-new (SpamAssassin) as Postfix's
content filter and Debian's rspamd as a milter, beside real Postfix and Dovecot
(tests/realmta/filters.py, started once per test session).

Each scenario goes through the real daemons; ``follow`` on mx1's and mx2's logs plus the
filters' own logs (amavis through syslog, rspamd in its own ``rspamd.log``) must name the
filter's action — quarantined (with the quarantine ID), discarded, bounced by the filter,
passed, rejected at SMTP time by rspamd, discarded by rspamd — with evidence lines from both
Postfix and the filter; ``bounces`` lists the quarantined/discarded ones and not the passed
ones, and an rspamd reject (told at SMTP time) is not a failure.

Run serialized with the other lab tests: ``flock /tmp/realmta.lock python -m pytest …``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import REQUIRE_MTA as REQUIRE, unavailable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realmta.common import find_message, find_recipient, run_follow, run_logtrace  # noqa: E402
from realmta.filters import amavis_available, rspamd_available  # noqa: E402
from realmta.postfix import STYLES, PostfixLab, postfix_available  # noqa: E402
from realmta.scenarios import FILTER_SCENARIOS, run_all  # noqa: E402

pytestmark = pytest.mark.realmta

#: scenario → per recipient: (verdict, phrases the summary must hold)
EXPECT: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "content_filter": {"ok-filter@filtered.example.test": ("relayed", ("passed it through its content filter",
                                                                        "amavis logged: Passed CLEAN {RelayedInbound}"))},
    "filter_discard": {"spam-discard@filtered.example.test": ("discarded", ("discarded by content filter",
                                                                             "amavis logged: Blocked SPAM {DiscardedInbound}"))},
    "amavis_quarantine": {
        r: ("quarantined", ("quarantined by content filter", "amavis logged: Blocked SPAM {DiscardedInbound,Quarantined}",
                            "; quarantined as spam-"))
        for r in ("spam-q1@filtered.example.test", "spam-q2@filtered.example.test")},
    "amavis_banned": {"banned@filtered.example.test": (
        "quarantined", ("amavis logged: Blocked BANNED (application/octet-stream,invoice.exe) {DiscardedInbound,Quarantined}",
                        "; quarantined as banned-"))},
    "amavis_bounce": {"bounce-filter@filtered.example.test": ("discarded", ("BOUNCE", "amavis logged: Blocked SPAM {BouncedInbound}"))},
    "amavis_pass": {"pass-filter@filtered.example.test": ("relayed", ("amavis logged: Passed SPAM {RelayedTaggedInbound}",))},
    "amavis_split": {"spam-lover@filtered.example.test": (
                         "relayed", ("amavis logged: Passed SPAM {DiscardedInbound,RelayedTaggedInbound,Quarantined}",)),
                     "spam-q3@filtered.example.test": (
                         "quarantined", ("but passed on no copy for this recipient",
                                         "amavis logged: Blocked SPAM {DiscardedInbound,RelayedTaggedInbound,Quarantined}",
                                                                       "; quarantined as spam-"))},
    "rspamd_reject": {"spam@rspamd.example.test": ("rejected", ("rejected at SMTP time", "Gtube pattern",
                                                                 "rspamd logged: reject default: S"))},
    "rspamd_discard": {"discard@rspamd.example.test": ("discarded", ("milter triggers DISCARD action",
                                                                      "rspamd logged: discard default:"))},
    "rspamd_pass": {"ok@rspamd.example.test": ("relayed", ())},
}
#: where the filter's own line is: amavis' syslog file or rspamd's own file
FILTER_LOG = {n: ("rspamd" if n.startswith("rspamd") else "amavis") for n in EXPECT}
#: the filter's line is evidence of the verdict itself (not only of a hop before it)
FILTER_EVIDENCE = {"filter_discard", "amavis_quarantine", "amavis_banned", "amavis_bounce", "rspamd_reject", "rspamd_discard"}
#: … only for some recipients of the scenario
FILTER_EVIDENCE_FOR = {"spam-q3@filtered.example.test"}


@pytest.fixture(scope="module")
def lab_run():
    reason = postfix_available() or amavis_available() or rspamd_available()
    if reason:
        unavailable(f"LOGTRACE_REQUIRE_MTA=1 but {reason}" if REQUIRE else reason, required=REQUIRE)
    lab = PostfixLab()
    if lab.filters is None or lab.filters.error:
        lab.cleanup()
        pytest.fail(f"the content filters did not start: {lab.filters and lab.filters.error}")
    try:
        lab.start()
        try:
            scenarios = run_all(lab, timeout=150,  # SpamAssassin on 2 busy cores
                                only=frozenset(FILTER_SCENARIOS) | {"mailbox", "sieve_redirect"})
        finally:
            lab.stop()
        yield lab, scenarios
    finally:
        lab.stop()
        lab.cleanup()


def _paths(lab, style: str) -> list[str]:
    return lab.log_paths(style) + lab.filters.log_paths(style)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", list(EXPECT))
def test_follow_names_the_filters_action(lab_run, name, style):
    lab, scenarios = lab_run
    s = scenarios[name]
    assert not s.error, f"harness failed for {name}: {s.error}"
    code, data, ctx = run_follow(s.follow_args(), _paths(lab, style))
    msg = find_message(data, s, ctx)
    mx1 = str(lab.hosts["mx1"].logs[style])
    flog = lab.filters.logs[style] if FILTER_LOG[name] == "amavis" else lab.filters.rspamd.log
    for addr, (verdict, phrases) in EXPECT[name].items():
        r = find_recipient(msg, addr, ctx)
        assert r["verdict"] == verdict, f"{addr}: {r['verdict']} != {verdict}{ctx}"
        for p in phrases:
            assert p in r["summary"], f"{addr}: {p!r} not in {r['summary']!r}{ctx}"
        files = [e.rsplit(":", 1)[0] for e in r["evidence"]]
        assert mx1 in files, f"{addr}: no Postfix evidence{ctx}"
        if name in FILTER_EVIDENCE or addr in FILTER_EVIDENCE_FOR:
            assert str(flog) in files, f"{addr}: no {FILTER_LOG[name]} evidence{ctx}"
            line_no = int(r["evidence"][files.index(str(flog))].rsplit(":", 1)[1])
            line = Path(flog).read_text(errors="replace").splitlines()[line_no - 1]
            assert (s.queue_id in line and ("rspamd_task_write_log" in line or "Queue-ID: " in line)), line
        if verdict == "quarantined":
            qid = r["summary"].split("; quarantined as ", 1)[1].split()[0]
            assert qid in Path(flog).read_text(errors="replace"), qid
    assert code == s.expect_exit, f"exit {code} != {s.expect_exit}{ctx}"


def test_one_amavis_line_speaks_for_every_recipient(lab_run):
    """amavis logs ``-> <spam-q1@…>,<spam-q2@…>`` once: the event lists both recipients."""
    lab, scenarios = lab_run
    s = scenarios["amavis_quarantine"]
    assert not s.error, s.error
    from logtrace import parse
    from logtrace.parsing.protocol import ParseOptions

    for engine in ("frame", "line"):
        ev = parse([str(lab.filters.logs["rfc3164"])], options=ParseOptions(), engine=engine).events
        rows = ev.filter((ev["rule"] == "amavis.filter.verdict") & (ev["queue_id"] == s.queue_id)).select(
            "recipient", "reply_text", "status").rows()
        assert len(rows) == 1 and rows[0][0] == "spam-q1@filtered.example.test,spam-q2@filtered.example.test", rows
        assert rows[0][1].startswith("spam-") and rows[0][2] == "Blocked"


def test_bounces_lists_quarantined_and_discarded_not_passed_nor_smtp_time_rejects(lab_run):
    lab, scenarios = lab_run
    for name in EXPECT:
        assert not scenarios[name].error, f"{name}: {scenarios[name].error}"
    r, ctx = run_logtrace("bounces", *_paths(lab, "rfc3339"), "--json")
    assert r.returncode == 4, ctx
    doc = json.loads(r.stdout)
    items = doc if isinstance(doc, list) else doc["messages"]
    cats = {(x["queue_id"], x["recipient"]): x["category"] for m in items for x in m["recipients"] if x.get("category")}
    got = {(q, rc): c for (q, rc), c in cats.items()}
    want = {}
    for name, rcpts in EXPECT.items():
        for addr, (verdict, _) in rcpts.items():
            if verdict in ("quarantined", "discarded"):
                want[(scenarios[name].queue_id, addr)] = verdict
    for k, v in want.items():
        assert got.get(k) == v, f"{k}: {got.get(k)} != {v}{ctx}"
    listed = {rc for (_, rc) in got}
    for addr in ("ok-filter@filtered.example.test", "pass-filter@filtered.example.test", "ok@rspamd.example.test",
                 "spam@rspamd.example.test"):
        assert addr not in listed, f"{addr} listed{ctx}"
    only_q = run_logtrace("bounces", *_paths(lab, "rfc3339"), "--fail-on", "quarantined", "--where", "category = 'quarantined'")[0]
    assert only_q.returncode == 4 and "quarantined" in only_q.stdout, only_q.stdout + only_q.stderr


def test_bounces_with_real_dovecot_lists_sieve_discards_and_junk_only_with_junk(lab_run):
    """The mailbox scenario (mx1 → mx2 → Dovecot LMTP: INBOX, Sieve fileinto Junk, Sieve discard,
    quota): ``bounces`` lists the Sieve discard and the quota bounce, never the INBOX delivery; the
    Junk one only with ``--junk``, and it fails only when ``--fail-on`` names it."""
    lab, scenarios = lab_run
    s = scenarios.get("mailbox")
    if lab.dovecot is None or s is None:
        unavailable("dovecot is not installed (apt-get install dovecot-lmtpd dovecot-sieve)", required=REQUIRE)
    assert not s.error, s.error
    paths = lab.log_paths("rfc3164") + [str(lab.dovecot.log)]

    def cats(*args: str) -> tuple[int, dict[str, str], str]:
        r, ctx = run_logtrace("bounces", *paths, "--json", *args)
        doc = json.loads(r.stdout)
        got = {x["recipient"]: x["category"] for m in doc["messages"] if m["chain"][0]["queue_id"] == s.queue_id
               for x in m["recipients"] if x.get("category")}
        return r.returncode, got, ctx

    code, got, ctx = cats()
    assert got == {"drop@mbox.example.test": "discarded-by-sieve", "full@mbox.example.test": "bounced"}, ctx
    code, got, ctx = cats("--junk")
    assert got == {"drop@mbox.example.test": "discarded-by-sieve", "full@mbox.example.test": "bounced",
                   "junk@mbox.example.test": "junk"}, ctx
    code, got, ctx = cats("--fail-on", "junk", "--where", "category = 'junk'")
    assert code == 4 and got["junk@mbox.example.test"] == "junk", ctx  # naming junk implies --junk
    code, got, ctx = cats("--junk", "--fail-on", "expired", "--where", "category = 'junk'")
    assert code == 0 and got["junk@mbox.example.test"] == "junk", ctx  # listed, not a failure
    code, got, ctx = cats("--junk", "--junk-folders", "INBOX")
    assert got.get("inbox@mbox.example.test") == "junk" and "junk@mbox.example.test" not in got, ctx


def test_follow_a_real_sieve_redirect_to_the_copys_delivery(lab_run):
    """fwd@'s Sieve script redirects to inbox@: Dovecot submits the copy to the lab's mx1 (same
    Message-ID, a new queue ID), which relays it to mx2 and Dovecot files it into inbox@'s INBOX.
    ``follow`` names the redirect with evidence from Postfix (both hops) and Dovecot, and follows
    the copy to its delivery; ``bounces`` lists neither address."""
    lab, scenarios = lab_run
    s = scenarios.get("sieve_redirect")
    if lab.dovecot is None or s is None:
        unavailable("dovecot is not installed (apt-get install dovecot-lmtpd dovecot-sieve)", required=REQUIRE)
    assert not s.error, s.error
    paths = lab.log_paths("rfc3164") + [str(lab.dovecot.log)]
    code, data, ctx = run_follow(s.follow_args(), paths)
    msg = find_message(data, s, ctx)
    r = find_recipient(msg, "fwd@mbox.example.test", ctx)
    assert "redirected by the recipient's own Sieve filter (forwarded to <inbox@mbox.example.test>)" in r["summary"], ctx
    # followed: the verdict is the copy's, in inbox@'s INBOX
    assert r["verdict"] == "delivered", ctx
    assert " (same Message-ID); then saved into the mailbox folder 'INBOX' by dovecot on mx2.example.test at " in r["summary"], ctx
    files = [e.rsplit(":", 1)[0] for e in r["evidence"]]
    for f in paths:
        assert f in files, f"{r['recipient']}: no evidence from {f}{ctx}"
    dove = Path(lab.dovecot.log).read_text(errors="replace").splitlines()
    line = dove[int(r["evidence"][files.index(str(lab.dovecot.log))].rsplit(":", 1)[1]) - 1]
    assert "lmtp(fwd@mbox.example.test)" in line and "redirect action: forwarded to <inbox@mbox.example.test>" in line, line
    # the copy: mx1 (submitted by Dovecot) -> mx2 -> Dovecot, inbox@'s INBOX, in the same story
    q3 = next(q for h, q, how in s.chain if how == "redirected")
    q4 = s.chain[-1][1]
    chain = [(c["queue_id"], c["link"], c.get("from_queue_id")) for c in msg["chain"]]
    ids = [c[0] for c in chain]
    assert q3 in ids and q4 in ids and ids.index(q3) < ids.index(q4), chain
    q2 = s.chain[1][1]
    fwd_session = next(c[0] for c in chain if c[1] == "mailbox" and c[2] == q2)  # fwd@'s LMTP session: the Sieve line
    assert chain[ids.index(q3)][1:] == ("redirected", fwd_session), chain
    last = chain[ids.index(q4) + 1:]
    assert last and last[0][1] == "mailbox" and last[0][2] == q4, chain
    session = last[0][0]
    assert any(f"lmtp(inbox@mbox.example.test)<" in ln and f"<{session}>" in ln and s.message_id in ln
               and ln.endswith("saved mail to INBOX") for ln in dove), (session, chain)
    mx2 = Path(lab.hosts["mx2"].logs["rfc3164"]).read_text(errors="replace").splitlines()
    copy_lines = [mx2[int(e.rsplit(":", 1)[1]) - 1] for e in r["evidence"] if e.rsplit(":", 1)[0] == paths[1]]
    assert any(f"{q4}: to=<inbox@mbox.example.test>," in ln and ln.endswith(f"{session} Saved)") for ln in copy_lines), copy_lines
    assert code == s.expect_exit, f"exit {code} != {s.expect_exit}{ctx}"
    b, bctx = run_logtrace("bounces", *paths, "--json", "--junk")
    listed = {x["recipient"] for m in json.loads(b.stdout)["messages"] if m["chain"][0]["queue_id"] in (s.queue_id, q3)
              for x in m["recipients"] if x.get("category")}
    assert not listed, f"{listed} listed{bctx}"

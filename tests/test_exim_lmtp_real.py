"""Issue 17: the real Exim lab delivers to a real Dovecot over LMTP.

``exim1`` (tests/realmta/exim.py) routes ``@mbox.example.test`` with an ``accept`` router to a
``driver = lmtp`` transport on Dovecot's LMTP unix socket (tests/realmta/dovecot.py). Exim logs
``=> rcpt R=dovecot_user T=dovecot_lmtp C="250 2.0.0 <rcpt> SESSIONID Saved"``; Dovecot logs
``lmtp(rcpt)<pid><SESSIONID>: msgid=…: saved mail to INBOX`` (or the Sieve ``fileinto`` line).
``follow`` on Exim's main log plus Dovecot's log must link the two by that session ID and name
the folder: plain INBOX for ``inbox@``, the junk folder for ``junk@`` (Sieve ``fileinto "Junk"``).

Two variants, one lab each (Exim and Dovecot started once per variant): Exim alone with a Dovecot
the EximLab starts itself, and Exim beside the Postfix lab, sharing the PostfixLab's Dovecot.

Run serialized with the other lab tests: ``flock /tmp/realmta.lock python -m pytest …``.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from conftest import REQUIRE_MTA, unavailable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realmta.common import find_recipient, run_follow  # noqa: E402
from realmta.dovecot import DOMAIN, dovecot_available  # noqa: E402
from realmta.exim import LINE_RE, EximLab, exim_available  # noqa: E402
from realmta.postfix import postfix_available  # noqa: E402

pytestmark = pytest.mark.realmta

INBOX, JUNK = f"inbox@{DOMAIN}", f"junk@{DOMAIN}"


@pytest.fixture(scope="module", params=["exim-only", "with-postfix"])
def lmtp_run(request):
    """One lab per variant: Exim with a Dovecot of its own, and Exim beside the Postfix lab,
    sharing the PostfixLab's Dovecot."""
    reason = exim_available() or dovecot_available()
    if not reason and request.param == "with-postfix":
        reason = postfix_available()
    if reason:
        unavailable(reason, required=REQUIRE_MTA)
    lab = EximLab(with_postfix=request.param == "with-postfix")
    if lab.postfix is not None:
        assert lab.dovecot is lab.postfix.dovecot and not lab.own_dovecot
    try:
        lab.start()
        try:
            mid = "<exim-lmtp.%s@client.example.org>" % Path(lab.base).name
            qid, rcpt_replies, data_reply = lab.send("exim1", "sender@example.org", [INBOX, JUNK],
                                                     subject="logtrace exim lmtp", message_id=mid)
            assert qid, f"no Exim id in the DATA reply: {data_reply} {rcpt_replies}"
            lab.exim.wait_completed(qid, timeout=60)
        finally:
            lab.stop()
        yield lab, qid, mid
    finally:
        lab.stop()
        lab.cleanup()


def _delivery_sessions(lab, qid: str) -> dict[str, str]:
    """recipient → the LMTP session ID Exim logged in ``C="250 2.0.0 <rcpt> ID Saved"``."""
    # a local transport: Exim logs the local part, then the address in <> (``=> inbox <inbox@…>``)
    pat = re.compile(LINE_RE + re.escape(qid) + r' => \S+ <(\S+)> R=dovecot_user T=dovecot_lmtp .*'
                     r'C="250 2\.0\.0 <\S+> (\S+) Saved"', re.M)
    return {m.group(1): m.group(2) for m in pat.finditer(lab.exim.log_text())}


def test_exim_delivers_over_lmtp_to_dovecot(lmtp_run):
    """The lab itself: both recipients went over LMTP, Dovecot logged each session ID."""
    lab, qid, mid = lmtp_run
    sessions = _delivery_sessions(lab, qid)
    assert set(sessions) == {INBOX, JUNK}, lab.exim.log_text()[-3000:]
    dove = lab.dovecot.log.read_text(errors="replace")
    for rcpt, sid in sessions.items():
        assert re.search(rf"lmtp\({re.escape(rcpt)}\)<\d+><{re.escape(sid)}>: .*msgid={re.escape(mid)}", dove), dove[-3000:]


def test_follow_links_exim_delivery_to_dovecot_by_the_session_id(lmtp_run):
    lab, qid, mid = lmtp_run
    sessions = _delivery_sessions(lab, qid)
    dove = str(lab.dovecot.log)
    code, data, ctx = run_follow([qid], [str(lab.exim.mainlog), dove])
    assert code == 0, ctx
    (msg,) = [m for m in data["messages"] if any(c.get("queue_id") == qid for c in m.get("chain") or [])]
    got = {a: find_recipient(msg, a, ctx) for a in (INBOX, JUNK)}
    assert {a: r["verdict"] for a, r in got.items()} == {INBOX: "delivered", JUNK: "delivered"}, ctx
    assert "saved into the mailbox folder 'INBOX'" in got[INBOX]["summary"], ctx
    assert "into the junk folder" in got[JUNK]["summary"] and "'Junk'" in got[JUNK]["summary"], ctx
    for a, r in got.items():
        ev = r["evidence"]
        # evidence from both sides: Exim's => line and Dovecot's own line
        assert any(x.startswith(dove + ":") for x in ev), f"{a}: {ev}{ctx}"
        assert any(x.startswith(str(lab.exim.mainlog) + ":") for x in ev), f"{a}: {ev}{ctx}"
    hops = [(h["link"], h["mta"]) for h in msg["chain"]]
    assert hops[0] == ("origin", "exim") and hops.count(("mailbox", "dovecot")) == 2, ctx
    # the mailbox hops are exactly the two LMTP sessions Exim logged
    assert {h["queue_id"] for h in msg["chain"] if h["link"] == "mailbox"} == set(sessions.values()), ctx

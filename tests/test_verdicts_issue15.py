"""Issue 15 verdicts on Postfix lines (the same shapes the real-Postfix lab writes, see
tests/test_follow_real_postfix.py): a content filter's 2xx discard, a header_checks HOLD
then ``postsuper -d``, SMTP-time rejects with their sender and reason, ``postsuper -r``."""

from __future__ import annotations

import pytest

from logtrace.parsing.rules import ParseOptions
from logtrace.trace.follow import follow, story_to_json

LOG = """\
Nov 25 10:00:00 mx1 postfix-mx1/smtpd[100]: 1A2B3C4D5E: client=localhost[127.0.0.1]
Nov 25 10:00:00 mx1 postfix-mx1/cleanup[101]: 1A2B3C4D5E: message-id=<d1@example.org>
Nov 25 10:00:00 mx1 postfix-mx1/qmgr[102]: 1A2B3C4D5E: from=<a@example.org>, size=400, nrcpt=1 (queue active)
Nov 25 10:00:01 mx1 postfix-mx1/smtp[103]: 1A2B3C4D5E: to=<x@filtered.example.test>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0.1/0.8, dsn=2.7.0, status=sent (250 2.7.0 Ok, discarded, id=06435-02 - spam)
Nov 25 10:00:01 mx1 postfix-mx1/qmgr[102]: 1A2B3C4D5E: removed
Nov 25 10:01:00 mx1 postfix-mx1/smtpd[100]: 2B3C4D5E6F: client=localhost[127.0.0.1]
Nov 25 10:01:00 mx1 postfix-mx1/cleanup[101]: 2B3C4D5E6F: hold: header Subject: hold me from localhost[127.0.0.1]; from=<h@example.org> to=<r@ext.example.test> proto=ESMTP helo=<client.example.org>
Nov 25 10:01:00 mx1 postfix-mx1/cleanup[101]: 2B3C4D5E6F: message-id=<d2@example.org>
Nov 25 10:01:10 mx1 postfix-mx1/postsuper[200]: 2B3C4D5E6F: removed
Nov 25 10:02:00 mx1 postfix-mx1/smtpd[100]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.7.1 <blocked@ext.example.test>: Recipient address rejected: Recipient blocked by local policy; from=<frank@example.org> to=<blocked@ext.example.test> proto=ESMTP helo=<client.example.org>
Nov 25 10:03:00 mx1 postfix-mx1/smtpd[100]: 3C4D5E6F7A: client=localhost[127.0.0.1]
Nov 25 10:03:00 mx1 postfix-mx1/smtpd[100]: 3C4D5E6F7A: reject: RCPT from localhost[127.0.0.1]: 550 5.7.1 <blocked@ext.example.test>: Recipient address rejected: blocked; from=<g@example.org> to=<blocked@ext.example.test> proto=ESMTP helo=<client.example.org>
Nov 25 10:03:00 mx1 postfix-mx1/cleanup[101]: 3C4D5E6F7A: message-id=<d3@example.org>
Nov 25 10:03:00 mx1 postfix-mx1/qmgr[102]: 3C4D5E6F7A: from=<g@example.org>, size=400, nrcpt=1 (queue active)
Nov 25 10:03:01 mx1 postfix-mx1/smtp[103]: 3C4D5E6F7A: to=<ok@ext.example.test>, relay=127.0.0.1[127.0.0.1]:2525, delay=1, delays=0.1/0/0.1/0.8, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as ABCDEF)
Nov 25 10:03:01 mx1 postfix-mx1/qmgr[102]: 3C4D5E6F7A: removed
Nov 25 10:04:00 mx1 postfix-mx1/smtpd[100]: 4D5E6F7A8B: client=localhost[127.0.0.1]
Nov 25 10:04:00 mx1 postfix-mx1/cleanup[101]: 4D5E6F7A8B: reject: header Subject: reject me from localhost[127.0.0.1]; from=<r@example.org> to=<x@ext.example.test> proto=ESMTP helo=<client.example.org>: 5.7.1 message content rejected
Nov 25 10:05:00 mx1 postfix-mx1/smtpd[100]: 5E6F7A8B9C: client=localhost[127.0.0.1]
Nov 25 10:05:00 mx1 postfix-mx1/cleanup[101]: 5E6F7A8B9C: message-id=<d5@example.org>
Nov 25 10:05:00 mx1 postfix-mx1/qmgr[102]: 5E6F7A8B9C: from=<s@example.org>, size=400, nrcpt=1 (queue active)
Nov 25 10:05:01 mx1 postfix-mx1/smtp[103]: 5E6F7A8B9C: to=<t@ext.example.test>, relay=127.0.0.1[127.0.0.1]:2525, delay=1, delays=0.1/0/0.1/0.8, dsn=4.0.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.0.0 try later (in reply to RCPT TO command))
Nov 25 10:06:00 mx1 postfix-mx1/postsuper[300]: 5E6F7A8B9C: requeued
Nov 25 10:06:00 mx1 postfix-mx1/pickup[301]: 6F7A8B9C0D: uid=0 from=<s@example.org> orig_id=5E6F7A8B9C
Nov 25 10:06:00 mx1 postfix-mx1/cleanup[101]: 6F7A8B9C0D: message-id=<d5@example.org>
Nov 25 10:06:00 mx1 postfix-mx1/qmgr[102]: 6F7A8B9C0D: from=<s@example.org>, size=400, nrcpt=1 (queue active)
Nov 25 10:06:01 mx1 postfix-mx1/smtp[103]: 6F7A8B9C0D: to=<t@ext.example.test>, relay=127.0.0.1[127.0.0.1]:2525, delay=1, delays=0.1/0/0.1/0.8, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BCDEF1)
Nov 25 10:06:01 mx1 postfix-mx1/qmgr[102]: 6F7A8B9C0D: removed
Nov 25 10:07:00 mx1 postfix-mx1/smtpd[100]: NOQUEUE: discard: RCPT from localhost[127.0.0.1]: <d@ext.example.test>: Recipient address triggers DISCARD action; from=<o@example.org> to=<d@ext.example.test> proto=ESMTP helo=<client.example.org>
Nov 25 10:08:00 mx1 postfix-mx1/smtpd[100]: 7A8B9C0D1E: client=localhost[127.0.0.1]
Nov 25 10:08:00 mx1 postfix-mx1/cleanup[101]: 7A8B9C0D1E: hold: header Subject: hold me from localhost[127.0.0.1]; from=<p@example.org> to=<q@ext.example.test> proto=ESMTP helo=<client.example.org>
Nov 25 10:08:00 mx1 postfix-mx1/cleanup[101]: 7A8B9C0D1E: message-id=<d7@example.org>
Nov 25 10:09:00 mx1 postfix-mx1/smtpd[100]: 8B9C0D1E2F: client=mail.example.com[192.0.2.1]
Nov 25 10:09:01 mx1 postfix-mx1/cleanup[101]: 8B9C0D1E2F: milter-reject: END-OF-MESSAGE from mail.example.com[192.0.2.1]: 5.7.1 Blocked by SpamAssassin; from=<w@example.com> to=<v@example.org> proto=ESMTP helo=<mail.example.com>
Nov 25 10:10:00 mx1 postfix-mx1/smtpd[100]: 9C0D1E2F3A: client=mail.example.com[192.0.2.1]
Nov 25 10:10:01 mx1 postfix-mx1/cleanup[101]: 9C0D1E2F3A: discard: header Subject: win now from mail.example.com[192.0.2.1]; from=<w@example.com> to=<v@example.org> proto=ESMTP helo=<mail.example.com>: spam
"""


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    p = tmp_path_factory.mktemp("issue15") / "mail.log"
    p.write_text(LOG)
    return str(p)


def _follow(log, **q):
    res = follow([log], options=ParseOptions(year=2026, tz="UTC"), **q)
    return [story_to_json(s) for s in res.stories]


def test_content_filter_discard_is_not_a_delivery(log):
    (m,) = _follow(log, queue_id="1A2B3C4D5E")
    (r,) = m["recipients"]
    assert (r["verdict"], r["dsn"]) == ("discarded", "2.7.0")
    assert r["summary"].startswith("discarded by content filter 127.0.0.1:10024")
    assert "250 2.7.0 Ok, discarded, id=06435-02 - spam" in r["summary"] and "the filter's ID 06435-02" in r["summary"]
    assert m["delivered"] is False


def test_held_then_deleted_keeps_sender_and_recipient(log):
    (m,) = _follow(log, queue_id="2B3C4D5E6F")
    assert m["sender"] == "h@example.org"
    (r,) = m["recipients"]
    assert (r["recipient"], r["verdict"]) == ("r@ext.example.test", "deleted")
    assert "placed on hold" in r["summary"] and "then deleted by an administrator" in r["summary"]
    assert [e.rsplit(":", 1)[1] for e in r["evidence"]] == ["7", "9"]


def test_still_held(log):
    (m,) = _follow(log, queue_id="7A8B9C0D1E")
    assert m["sender"] == "p@example.org"
    (r,) = m["recipients"]
    assert (r["recipient"], r["verdict"]) == ("q@ext.example.test", "held")


def test_rcpt_reject_after_the_queue_file_opened_is_smtp_time(log):
    (m,) = _follow(log, queue_id="3C4D5E6F7A")
    v = {r["recipient"]: r for r in m["recipients"]}
    assert v["blocked@ext.example.test"]["verdict"] == "rejected"
    assert "rejected at SMTP time" in v["blocked@ext.example.test"]["summary"]
    assert v["ok@ext.example.test"]["verdict"] == "relayed"


def test_header_checks_reject_has_its_reason(log):
    (m,) = _follow(log, queue_id="4D5E6F7A8B")
    assert m["sender"] == "r@example.org"
    (r,) = m["recipients"]
    assert (r["verdict"], r["dsn"]) == ("rejected", "5.7.1")
    assert "rejected at SMTP time" in r["summary"] and r["summary"].count("5.7.1 message content rejected") == 1


def test_noqueue_reject_keeps_sender_and_reason(log):
    ms = _follow(log, sender="frank@example.org")
    (m,) = ms
    assert m["sender"] == "frank@example.org"
    (r,) = m["recipients"]
    assert r["verdict"] == "rejected" and "Recipient blocked by local policy" in r["summary"]
    assert r["summary"].startswith("rejected at SMTP time by mx1")


def test_noqueue_discard(log):
    (m,) = _follow(log, recipient="d@ext.example.test")
    (r,) = m["recipients"]
    assert r["verdict"] == "discarded" and m["sender"] == "o@example.org"


@pytest.mark.parametrize("qid", ["5E6F7A8B9C", "6F7A8B9C0D"])
def test_postsuper_requeue_continues_the_chain(log, qid):
    (m,) = _follow(log, queue_id=qid)
    assert [(c["queue_id"], c["link"]) for c in m["chain"]] == [("5E6F7A8B9C", "origin"), ("6F7A8B9C0D", "requeued")]
    (r,) = m["recipients"]
    assert (r["verdict"], r["queue_id"], r["next_queue_id"]) == ("relayed", "6F7A8B9C0D", "BCDEF1")


def test_requeue_without_the_new_lines_says_so(tmp_path):
    p = tmp_path / "m.log"
    p.write_text("".join(l + "\n" for l in LOG.splitlines() if "6F7A8B9C0D" not in l))
    (m,) = _follow(str(p), queue_id="5E6F7A8B9C")
    (r,) = m["recipients"]
    assert r["verdict"] == "deferred" and "re-queued by an administrator (postsuper -r)" in r["summary"]


def test_milter_end_of_message_reject_is_smtp_time(log):
    (m,) = _follow(log, queue_id="8B9C0D1E2F")
    assert m["sender"] == "w@example.com"
    (r,) = m["recipients"]
    assert (r["verdict"], r["dsn"]) == ("rejected", "5.7.1")
    assert "rejected at SMTP time" in r["summary"] and "Blocked by SpamAssassin" in r["summary"]


def test_header_checks_discard(log):
    (m,) = _follow(log, queue_id="9C0D1E2F3A")
    (r,) = m["recipients"]
    assert r["verdict"] == "discarded" and m["sender"] == "w@example.com"
    assert m["delivered"] is False

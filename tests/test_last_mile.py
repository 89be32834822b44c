"""The last mile (issue 17, first slice): Postfix hands the message to Dovecot over LMTP, and
the Dovecot lines of that delivery — linked by the LMTP session ID that Dovecot puts both in
its ``250 2.0.0 <rcpt> SESSION Saved`` reply and in its log prefix — say where it went.

The lines are the shapes Debian 12's Postfix 3.7 and Dovecot 2.3.19 (LMTP, Pigeonhole Sieve,
quota) write (``shared/reference/anchors.md`` §3b): INBOX, Sieve ``fileinto`` Junk with the
``:R2`` session suffix of a second recipient, Sieve ``discard``, quota. Through syslog and
through Dovecot's own ``log_path`` file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logtrace.parsing.protocol import ParseOptions
from logtrace.trace.follow import follow, story_to_json

REPO = Path(__file__).resolve().parents[1]
OPTS = ParseOptions(year=2026, tz="UTC")

MX2 = """\
Nov 22 10:42:01 mx2 postfix/smtpd[4101]: 4TwNdH5zwCz7fxV: client=mx1.example.org[192.0.2.11]
Nov 22 10:42:01 mx2 postfix/cleanup[4102]: 4TwNdH5zwCz7fxV: message-id=<m3@example.net>
Nov 22 10:42:01 mx2 postfix/qmgr[4103]: 4TwNdH5zwCz7fxV: from=<alice@example.net>, size=3100, nrcpt=2 (queue active)
Nov 22 10:42:02 mx2 dovecot: lmtp(6615): Connect from local
Nov 22 10:42:02 mx2 dovecot: lmtp(bob@example.org)<6615><6fnOAPQQB2vXGQAAg+zDdQ>: sieve: msgid=<m3@example.net>: stored mail into mailbox 'INBOX'
Nov 22 10:42:03 mx2 dovecot: lmtp(carol@example.org)<6615><6fnOAPQQB2vXGQAAg+zDdQ:R2>: sieve: msgid=<m3@example.net>: fileinto action: stored mail into mailbox 'Junk'
Nov 22 10:42:03 mx2 postfix/lmtp[4104]: 4TwNdH5zwCz7fxV: to=<bob@example.org>, relay=mail.example.org[private/dovecot-lmtp], delay=1.3, delays=0.1/0.01/0.04/1.2, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.org> 6fnOAPQQB2vXGQAAg+zDdQ Saved)
Nov 22 10:42:03 mx2 postfix/lmtp[4104]: 4TwNdH5zwCz7fxV: to=<carol@example.org>, relay=mail.example.org[private/dovecot-lmtp], delay=1.3, delays=0.1/0.01/0.04/1.2, dsn=2.0.0, status=sent (250 2.0.0 <carol@example.org> 6fnOAPQQB2vXGQAAg+zDdQ:R2 Saved)
Nov 22 10:42:03 mx2 dovecot: lmtp(6615): Disconnect from local: Client has quit the connection (state=READY)
Nov 22 10:42:03 mx2 postfix/qmgr[4103]: 4TwNdH5zwCz7fxV: removed
Nov 22 10:50:01 mx2 postfix/smtpd[4101]: 4TwNdJ0000z7fxW: client=mx1.example.org[192.0.2.11]
Nov 22 10:50:01 mx2 postfix/cleanup[4102]: 4TwNdJ0000z7fxW: message-id=<m4@example.net>
Nov 22 10:50:01 mx2 postfix/qmgr[4103]: 4TwNdJ0000z7fxW: from=<alice@example.net>, size=3100, nrcpt=1 (queue active)
Nov 22 10:50:02 mx2 dovecot: lmtp(carol@example.org)<6615><G9b4B/QQB2vXGQAAg+zDdQ>: sieve: msgid=<m4@example.net>: discard action: Marked message to be discarded if not explicitly delivered (discard action)
Nov 22 10:50:02 mx2 postfix/lmtp[4104]: 4TwNdJ0000z7fxW: to=<carol@example.org>, relay=mail.example.org[private/dovecot-lmtp], delay=1.3, delays=0.1/0.01/0.04/1.2, dsn=2.0.0, status=sent (250 2.0.0 <carol@example.org> G9b4B/QQB2vXGQAAg+zDdQ Saved)
Nov 22 10:50:02 mx2 postfix/qmgr[4103]: 4TwNdJ0000z7fxW: removed
Nov 22 10:55:01 mx2 postfix/smtpd[4101]: 4TwNdK1111z7fxX: client=mx1.example.org[192.0.2.11]
Nov 22 10:55:01 mx2 postfix/cleanup[4102]: 4TwNdK1111z7fxX: message-id=<m5@example.net>
Nov 22 10:55:01 mx2 postfix/qmgr[4103]: 4TwNdK1111z7fxX: from=<alice@example.net>, size=9100, nrcpt=1 (queue active)
Nov 22 10:55:02 mx2 dovecot: lmtp(erin@example.org)<6615><JYZbC/QQB2vXGQAAg+zDdQ>: msgid=<m5@example.net>: save failed to INBOX: Quota exceeded (mailbox for user is full)
Nov 22 10:55:02 mx2 postfix/lmtp[4104]: 4TwNdK1111z7fxX: to=<erin@example.org>, relay=mail.example.org[private/dovecot-lmtp], delay=1.1, delays=0.1/0.01/0.04/1, dsn=5.2.2, status=bounced (host mail.example.org[private/dovecot-lmtp] said: 552 5.2.2 <erin@example.org> Quota exceeded (mailbox for user is full) (in reply to end of DATA command))
Nov 22 10:55:02 mx2 postfix/qmgr[4103]: 4TwNdK1111z7fxX: removed
"""


@pytest.fixture()
def mx2(tmp_path: Path) -> Path:
    p = tmp_path / "mail.log"
    p.write_text(MX2)
    return p


def _recipients(path: Path, qid: str) -> dict[str, dict]:
    (story,) = follow([str(path)], queue_id=qid, options=OPTS).stories
    return {r["recipient"]: r for r in story_to_json(story)["recipients"]}


def test_inbox_and_junk_are_named_with_dovecots_lines_as_evidence(mx2):
    r = _recipients(mx2, "4TwNdH5zwCz7fxV")
    bob, carol = r["bob@example.org"], r["carol@example.org"]
    assert bob["verdict"] == carol["verdict"] == "delivered"
    assert "saved into the mailbox folder 'INBOX' by dovecot on mx2 at 2026-11-22 10:42:02" in bob["summary"]
    assert carol["summary"].startswith("delivered, but into the junk folder: saved by Sieve into the mailbox folder 'Junk'")
    assert bob["evidence"] == [f"{mx2}:7", f"{mx2}:5"] and carol["evidence"] == [f"{mx2}:8", f"{mx2}:6"]
    (story,) = follow([str(mx2)], queue_id="4TwNdH5zwCz7fxV", options=OPTS).stories
    chain = story_to_json(story)["chain"]
    assert [(h["queue_id"], h["link"]) for h in chain] == [
        ("4TwNdH5zwCz7fxV", "origin"), ("6fnOAPQQB2vXGQAAg+zDdQ", "mailbox"), ("6fnOAPQQB2vXGQAAg+zDdQ:R2", "mailbox")]


def test_a_sieve_discard_is_its_own_verdict_and_not_a_bounces_failure(mx2):
    r = _recipients(mx2, "4TwNdJ0000z7fxW")["carol@example.org"]
    assert r["verdict"] == "discarded-by-sieve"
    assert "discarded by the recipient's own Sieve filter at 2026-11-22 10:50:02 by dovecot on mx2" in r["summary"]
    out = subprocess.run([sys.executable, "-m", "logtrace", "bounces", str(mx2), "--json", "--year", "2026", "--tz", "UTC"],
                         capture_output=True, text=True, cwd=REPO)
    doc = json.loads(out.stdout)
    items = doc if isinstance(doc, list) else doc["messages"]
    cats = {(m["chain"][0]["queue_id"], x["recipient"]): x["category"] for m in items for x in m["recipients"] if x.get("category")}
    assert cats[("4TwNdJ0000z7fxW", "carol@example.org")] == "discarded-by-sieve"
    assert cats[("4TwNdK1111z7fxX", "erin@example.org")] == "bounced"
    # Dovecot's own "save failed … Quota exceeded" session is told with the MTA's bounce, not listed on its own
    assert set(cats) == {("4TwNdJ0000z7fxW", "carol@example.org"), ("4TwNdK1111z7fxX", "erin@example.org")}
    assert out.returncode == 4  # the quota bounce is a failure; the Sieve discard alone would not be
    only_sieve = subprocess.run([sys.executable, "-m", "logtrace", "bounces", str(mx2), "--year", "2026", "--tz", "UTC",
                                 "--where", "category = 'discarded-by-sieve'"], capture_output=True, text=True, cwd=REPO)
    assert only_sieve.returncode == 0, only_sieve.stderr


def test_quota_bounce_keeps_the_mtas_verdict_with_dovecots_reason_in_the_timeline(mx2):
    r = _recipients(mx2, "4TwNdK1111z7fxX")["erin@example.org"]
    assert r["verdict"] == "bounced" and r["dsn"] == "5.2.2" and "Quota exceeded" in r["reply"]


def test_summary_counts_each_delivery_once(mx2):
    """The mailbox server's side of a delivery is not a second delivery (pflogsumm counts the MTA's line)."""
    out = subprocess.run([sys.executable, "-m", "logtrace", "summary", str(mx2), "--format", "json", "--year", "2026", "--tz", "UTC"],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["delivered"] == 3


def test_dovecots_own_log_file_links_the_same_way(tmp_path):
    """Dovecot's ``log_path`` file (``Info:`` level, no host) beside the Postfix syslog file."""
    pf, dv = tmp_path / "mail.log", tmp_path / "dovecot.log"
    pf.write_text("".join(ln + "\n" for ln in MX2.splitlines() if " dovecot: " not in ln))
    dv.write_text("".join(ln.replace(" mx2 dovecot: ", " ").replace(">: ", ">: Info: ", 1).replace("): Connect", "): Info: Connect")
                          .replace("): Disconnect", "): Info: Disconnect") + "\n" for ln in MX2.splitlines() if " dovecot: " in ln))
    (story,) = follow([str(pf), str(dv)], queue_id="4TwNdH5zwCz7fxV", options=OPTS).stories
    r = {x["recipient"]: x for x in story_to_json(story)["recipients"]}
    assert "mailbox folder 'INBOX'" in r["bob@example.org"]["summary"]
    assert "junk folder" in r["carol@example.org"]["summary"]
    assert r["bob@example.org"]["evidence"][-1] == f"{dv}:2"


AMAVIS = """\
Nov 22 11:00:00 mx1 postfix/smtpd[2001]: 69AF12C01B3: client=ext.example.net[192.0.2.20]
Nov 22 11:00:00 mx1 postfix/cleanup[2002]: 69AF12C01B3: message-id=<gtube@example.net>
Nov 22 11:00:00 mx1 postfix/qmgr[2003]: 69AF12C01B3: from=<s@example.net>, size=1570, nrcpt=1 (queue active)
Nov 22 11:00:01 mx1 amavis[6435]: (06435-02) Blocked SPAM {DiscardedInbound,Quarantined}, [192.0.2.20]:48071 [192.0.2.20] <s@example.net> -> <alice@example.org>, quarantine: spam-TPu0VJzpoB7n, Queue-ID: 69AF12C01B3, Message-ID: <gtube@example.net>, mail_id: TPu0VJzpoB7n, Hits: 1002.1, size: 1570, 325 ms
Nov 22 11:00:01 mx1 postfix/smtp[2004]: 69AF12C01B3: to=<alice@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.1, delays=0.1/0/0/1, dsn=2.7.0, status=sent (250 2.7.0 Ok, discarded, id=06435-02 - spam)
Nov 22 11:00:01 mx1 postfix/qmgr[2003]: 69AF12C01B3: removed
Nov 22 11:01:00 mx1 postfix/smtpd[2001]: 0025630001C7: client=ext.example.net[192.0.2.7]
Nov 22 11:01:00 mx1 postfix/cleanup[2002]: 0025630001C7: message-id=<abc@example.net>
Nov 22 11:01:00 mx1 postfix/qmgr[2003]: 0025630001C7: from=<a@example.net>, size=3400, nrcpt=1 (queue active)
Nov 22 11:01:01 mx1 postfix/smtpd[2011]: 3F1A230001D2: client=localhost[127.0.0.1]
Nov 22 11:01:01 mx1 postfix/cleanup[2002]: 3F1A230001D2: message-id=<abc@example.net>
Nov 22 11:01:01 mx1 postfix/qmgr[2003]: 3F1A230001D2: from=<a@example.net>, size=4100, nrcpt=1 (queue active)
Nov 22 11:01:01 mx1 amavis[2546]: (02546-20) Passed CLEAN {RelayedInbound}, [192.0.2.7]:58754 [192.0.2.7] <a@example.net> -> <bob@example.org>, Queue-ID: 0025630001C7, Message-ID: <abc@example.net>, mail_id: Xq3Lw8PzRt, Hits: -1.2, size: 3400, queued_as: 3F1A230001D2, 512 ms
Nov 22 11:01:01 mx1 postfix/smtp[2004]: 0025630001C7: to=<bob@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 3F1A230001D2)
Nov 22 11:01:01 mx1 postfix/qmgr[2003]: 0025630001C7: removed
Nov 22 11:01:01 mx1 postfix/local[2012]: 3F1A230001D2: to=<bob@example.org>, relay=local, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 22 11:01:01 mx1 postfix/qmgr[2003]: 3F1A230001D2: removed
"""


def test_amavis_verdict_lines_join_the_message_they_name(tmp_path):
    """amavis' ``Blocked``/``Passed`` line names the Postfix Queue-ID: it is part of that
    message's story (one story, not two), and a discard quotes amavis' category and quarantine."""
    log = tmp_path / "mail.log"
    log.write_text(AMAVIS)
    from logtrace import parse

    ev = parse([str(log)], options=OPTS).events
    v = ev.filter(ev["rule"] == "amavis.filter.verdict").select("status", "detail", "queue_id", "next_queue_id", "reply_text",
                                                                 "recipient", "message_id").rows()
    assert v == [("Blocked", "SPAM {DiscardedInbound,Quarantined}", "69AF12C01B3", None, "spam-TPu0VJzpoB7n", "alice@example.org",
                  "gtube@example.net"),
                 ("Passed", "CLEAN {RelayedInbound}", "0025630001C7", "3F1A230001D2", None, "bob@example.org", "abc@example.net")]
    res = follow([str(log)], queue_id="69AF12C01B3", options=OPTS)
    (story,) = res.stories
    (r,) = story_to_json(story)["recipients"]
    assert r["verdict"] == "quarantined"  # Postfix alone says "discarded"; amavis' own line names the quarantine
    assert r["summary"].startswith("quarantined by content filter 127.0.0.1:10024 at 2026-11-22 11:00:01 on mx1")
    assert "amavis logged: Blocked SPAM {DiscardedInbound,Quarantined}; quarantined as spam-TPu0VJzpoB7n" in r["summary"]
    assert r["evidence"] == [f"{log}:5", f"{log}:4"]  # Postfix's line, then amavis' own
    pf_only = tmp_path / "postfix-only.log"
    pf_only.write_text("".join(ln + "\n" for ln in AMAVIS.splitlines() if " amavis[" not in ln))
    (r,) = story_to_json(follow([str(pf_only)], queue_id="69AF12C01B3", options=OPTS).stories[0])["recipients"]
    assert r["verdict"] == "discarded"
    (story,) = follow([str(log)], queue_id="0025630001C7", options=OPTS).stories
    doc = story_to_json(story)
    assert [(h["queue_id"], h["link"]) for h in doc["chain"]] == [("0025630001C7", "origin"), ("3F1A230001D2", "content-filter")]
    assert doc["recipients"][0]["verdict"] == "delivered"


RSPAMD = """\
Nov 22 11:10:00 mx1 postfix/smtpd[3001]: 6151C2C0A12: client=ext.example.net[192.0.2.20]
Nov 22 11:10:00 mx1 postfix/cleanup[3002]: 6151C2C0A12: message-id=<gtube@example.net>
Nov 22 11:10:01 mx1 rspamd[1180]: <c8d5b1>; task; rspamd_task_write_log: id: <gtube@example.net>, qid: <6151C2C0A12>, ip: 192.0.2.20, from: <s@example.net>, (default: S (reject): [1015.00/15.00] [GTUBE(1000.00){},MISSING_DATE(1.00){}]), len: 1570, time: 12.345ms, dns req: 0, digest: <4b5f1c2d>, rcpts: <alice@example.org>, mime_rcpts: <alice@example.org>
Nov 22 11:10:01 mx1 postfix/cleanup[3002]: 6151C2C0A12: milter-reject: END-OF-MESSAGE from ext.example.net[192.0.2.20]: 5.7.1 Gtube pattern; from=<s@example.net> to=<alice@example.org> proto=ESMTP helo=<ext.example.net>
"""


def test_rspamd_verdict_joins_the_message_and_explains_the_milter_reject(tmp_path):
    """rspamd's ``rspamd_task_write_log`` line names the Postfix queue ID (``qid``): its action
    and score join the story of the END-OF-MESSAGE reject (an SMTP-time reject: the client was told)."""
    log = tmp_path / "mail.log"
    log.write_text(RSPAMD)
    from logtrace import parse

    ev = parse([str(log)], options=OPTS).events
    (row,) = ev.filter(ev["mta"] == "rspamd").select("kind", "status", "detail", "queue_id", "recipient", "client_ip").rows()
    assert row == ("filter", "reject", "default: S", "6151C2C0A12", "alice@example.org", "192.0.2.20")
    (story,) = follow([str(log)], queue_id="6151C2C0A12", options=OPTS).stories
    (r,) = story_to_json(story)["recipients"]
    assert r["verdict"] == "rejected" and "at SMTP time" in r["summary"]
    assert "rspamd logged: reject default: S [1015.00/15.00]" in r["summary"], r["summary"]


def test_exim_lmtp_delivery_links_to_dovecot_by_the_session_id(tmp_path):
    """Exim's ``C="250 2.0.0 <rcpt> SESSION Saved"`` (log_selector +smtp_confirmation, the default)
    names the same LMTP session as Dovecot's prefix: the verdict names the folder."""
    ex, dv = tmp_path / "mainlog", tmp_path / "dovecot.log"
    ex.write_text(
        "2026-11-22 10:00:00 1tWxyz-000ABC-3F <= a@example.net H=ext.example.net [192.0.2.20] P=esmtp S=1200 id=x1@example.net\n"
        "2026-11-22 10:00:01 1tWxyz-000ABC-3F => bob@example.org R=dovecot_user T=dovecot_lmtp H=mail.example.org [192.0.2.5] "
        'C="250 2.0.0 <bob@example.org> LSmIM/xWB2uXBwAAg+zDdQ Saved"\n'
        "2026-11-22 10:00:01 1tWxyz-000ABC-3F Completed\n")
    dv.write_text("Nov 22 10:00:01 lmtp(bob@example.org)<1943><LSmIM/xWB2uXBwAAg+zDdQ>: Info: sieve: msgid=<x1@example.net>: "
                  "fileinto action: stored mail into mailbox 'Spam'\n")
    (story,) = follow([str(ex), str(dv)], queue_id="1tWxyz-000ABC-3F", options=OPTS).stories
    doc = story_to_json(story)
    (r,) = doc["recipients"]
    assert r["verdict"] == "delivered" and "into the junk folder" in r["summary"] and "'Spam'" in r["summary"], r
    assert [h["link"] for h in doc["chain"]] == ["origin", "mailbox"]


def test_dovecot_lda_line_without_a_session_id_is_matched_by_message_id_and_user(tmp_path):
    """Postfix pipe(8) to dovecot-lda: Dovecot logs ``lda(bob)<pid><>`` — no session ID, a bare
    user name. It is the mailbox hop of the final delivery with the same Message-ID and user."""
    log = tmp_path / "mail.log"
    log.write_text(
        "Nov 22 12:00:00 mx3 postfix/smtpd[5001]: 5A5B5C5D5E: client=ext.example.net[192.0.2.20]\n"
        "Nov 22 12:00:00 mx3 postfix/cleanup[5002]: 5A5B5C5D5E: message-id=<lda1@example.net>\n"
        "Nov 22 12:00:00 mx3 postfix/qmgr[5003]: 5A5B5C5D5E: from=<a@example.net>, size=1200, nrcpt=1 (queue active)\n"
        "Nov 22 12:00:01 mx3 dovecot: lda(bob)<5010><>: sieve: msgid=<lda1@example.net>: fileinto action: stored mail into mailbox 'Junk'\n"
        "Nov 22 12:00:01 mx3 postfix/pipe[5004]: 5A5B5C5D5E: to=<bob@example.org>, relay=dovecot, delay=0.2, delays=0.1/0/0/0.1, "
        "dsn=2.0.0, status=sent (delivered via dovecot service)\n"
        "Nov 22 12:00:01 mx3 postfix/qmgr[5003]: 5A5B5C5D5E: removed\n"
        # another message to the same user, a minute later: its own line must not be taken
        "Nov 22 12:01:00 mx3 postfix/smtpd[5001]: 6A6B6C6D6E: client=ext.example.net[192.0.2.20]\n"
        "Nov 22 12:01:00 mx3 postfix/cleanup[5002]: 6A6B6C6D6E: message-id=<lda2@example.net>\n"
        "Nov 22 12:01:00 mx3 postfix/qmgr[5003]: 6A6B6C6D6E: from=<a@example.net>, size=1200, nrcpt=1 (queue active)\n"
        "Nov 22 12:01:01 mx3 dovecot: lda(bob)<5011><>: msgid=<lda2@example.net>: saved mail to INBOX\n"
        "Nov 22 12:01:01 mx3 postfix/pipe[5004]: 6A6B6C6D6E: to=<bob@example.org>, relay=dovecot, delay=0.2, delays=0.1/0/0/0.1, "
        "dsn=2.0.0, status=sent (delivered via dovecot service)\n"
        "Nov 22 12:01:01 mx3 postfix/qmgr[5003]: 6A6B6C6D6E: removed\n")
    first = _recipients(log, "5A5B5C5D5E")["bob@example.org"]
    second = _recipients(log, "6A6B6C6D6E")["bob@example.org"]
    assert first["verdict"] == second["verdict"] == "delivered"
    assert "junk folder" in first["summary"] and f"{log}:4" in first["evidence"]
    assert "mailbox folder 'INBOX'" in second["summary"] and f"{log}:10" in second["evidence"]


def test_a_sieve_redirect_is_a_hand_off_to_the_new_address(tmp_path):
    """Sieve ``redirect``: the message left for another address (the copy enters the MTA
    through pickup, logged before the Sieve line): relayed, naming the new address."""
    log = tmp_path / "mail.log"
    log.write_text(
        "Nov 22 13:00:00 mx2 postfix/smtpd[4101]: 7B7C7D7E7F: client=mx1.example.org[192.0.2.11]\n"
        "Nov 22 13:00:00 mx2 postfix/cleanup[4102]: 7B7C7D7E7F: message-id=<r1@example.net>\n"
        "Nov 22 13:00:00 mx2 postfix/qmgr[4103]: 7B7C7D7E7F: from=<alice@example.net>, size=3100, nrcpt=1 (queue active)\n"
        "Nov 22 13:00:01 mx2 postfix/pickup[4110]: 8C8D8E8F90: uid=65534 from=<bob@example.org>\n"
        "Nov 22 13:00:01 mx2 dovecot: lmtp(bob@example.org)<6615><SFt9C/QQB2vXGQAAg+zDdQ>: sieve: msgid=<r1@example.net>: "
        "redirect action: forwarded to <carol@elsewhere.example>\n"
        "Nov 22 13:00:01 mx2 postfix/lmtp[4104]: 7B7C7D7E7F: to=<bob@example.org>, relay=mail.example.org[private/dovecot-lmtp], "
        "delay=1.3, delays=0.1/0.01/0.04/1.2, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.org> SFt9C/QQB2vXGQAAg+zDdQ Saved)\n"
        "Nov 22 13:00:01 mx2 postfix/qmgr[4103]: 7B7C7D7E7F: removed\n")
    r = _recipients(log, "7B7C7D7E7F")["bob@example.org"]
    assert r["verdict"] == "relayed"
    assert "redirected by the recipient's own Sieve filter (forwarded to <carol@elsewhere.example>)" in r["summary"]


def test_a_sieve_redirect_is_followed_to_the_copys_delivery_on_the_same_host(tmp_path):
    """The copy Dovecot submitted to the local Postfix (same host, same Message-ID, the new
    address as its recipient) is linked ``redirected`` from the Sieve line, and the original
    recipient's verdict is what became of the copy, after the redirect. Following the copy's own
    queue ID tells the same story."""
    log = tmp_path / "mail.log"
    log.write_text(
        "Nov 22 13:00:00 mx2 postfix/smtpd[4101]: 7B7C7D7E7F: client=mx1.example.org[192.0.2.11]\n"
        "Nov 22 13:00:00 mx2 postfix/cleanup[4102]: 7B7C7D7E7F: message-id=<r1@example.net>\n"
        "Nov 22 13:00:00 mx2 postfix/qmgr[4103]: 7B7C7D7E7F: from=<alice@example.net>, size=3100, nrcpt=1 (queue active)\n"
        "Nov 22 13:00:01 mx2 postfix/smtpd[4111]: 8C8D8E8F90: client=localhost[127.0.0.1]\n"
        "Nov 22 13:00:01 mx2 postfix/cleanup[4102]: 8C8D8E8F90: message-id=<r1@example.net>\n"
        "Nov 22 13:00:01 mx2 postfix/qmgr[4103]: 8C8D8E8F90: from=<alice@example.net>, size=3300, nrcpt=1 (queue active)\n"
        "Nov 22 13:00:01 mx2 dovecot: lmtp(bob@example.org)<6615><SFt9C/QQB2vXGQAAg+zDdQ>: sieve: msgid=<r1@example.net>: "
        "redirect action: forwarded to <carol@elsewhere.example>\n"
        "Nov 22 13:00:01 mx2 postfix/lmtp[4104]: 7B7C7D7E7F: to=<bob@example.org>, relay=mail.example.org[private/dovecot-lmtp], "
        "delay=1.3, delays=0.1/0.01/0.04/1.2, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.org> SFt9C/QQB2vXGQAAg+zDdQ Saved)\n"
        "Nov 22 13:00:01 mx2 postfix/qmgr[4103]: 7B7C7D7E7F: removed\n"
        "Nov 22 13:00:02 mx2 postfix/smtp[4112]: 8C8D8E8F90: to=<carol@elsewhere.example>, relay=mx.elsewhere.example[198.51.100.7]:25, "
        "delay=0.9, delays=0.1/0/0.3/0.5, dsn=5.1.1, status=bounced (host mx.elsewhere.example[198.51.100.7] said: "
        "550 5.1.1 <carol@elsewhere.example>: unknown user (in reply to RCPT TO command))\n"
        "Nov 22 13:00:02 mx2 postfix/qmgr[4103]: 8C8D8E8F90: removed\n")
    (story,) = follow([str(log)], queue_id="7B7C7D7E7F", options=OPTS).stories
    doc = story_to_json(story)
    assert [(c["queue_id"], c["link"]) for c in doc["chain"]] == [
        ("7B7C7D7E7F", "origin"), ("SFt9C/QQB2vXGQAAg+zDdQ", "mailbox"), ("8C8D8E8F90", "redirected")]
    (r,) = doc["recipients"]
    assert r["recipient"] == "bob@example.org" and r["verdict"] == "bounced", r
    assert r["summary"].startswith("mx2 delivered it to the mailbox server (mail.example.org, session SFt9C/QQB2vXGQAAg+zDdQ)"), r
    assert "; then redirected by the recipient's own Sieve filter (forwarded to <carol@elsewhere.example>) at " in r["summary"], r
    assert "; the copy re-entered the MTA as 8C8D8E8F90 on mx2 (same Message-ID); then " in r["summary"], r
    assert "550 5.1.1" in r["summary"] and f"{log}:7" in r["evidence"] and f"{log}:10" in r["evidence"], r
    (again,) = follow([str(log)], queue_id="8C8D8E8F90", options=OPTS).stories
    assert [c["queue_id"] for c in story_to_json(again)["chain"]] == [c["queue_id"] for c in doc["chain"]]


def test_a_sieve_redirect_to_a_fellow_recipient_links_the_copy_not_the_original(tmp_path):
    """bob's Sieve redirects to carol, who was a recipient of the same transaction: the original
    also names carol and has the same Message-ID, but it brought the message to bob (upstream):
    the copy is the one submitted after the redirect."""
    log = tmp_path / "mail.log"
    log.write_text(
        "Nov 22 13:00:00 mx2 postfix/smtpd[4101]: 7B7C7D7E7F: client=mx1.example.org[192.0.2.11]\n"
        "Nov 22 13:00:00 mx2 postfix/cleanup[4102]: 7B7C7D7E7F: message-id=<r2@example.net>\n"
        "Nov 22 13:00:00 mx2 postfix/qmgr[4103]: 7B7C7D7E7F: from=<alice@example.net>, size=3100, nrcpt=2 (queue active)\n"
        "Nov 22 13:00:01 mx2 dovecot: lmtp(bob@example.org)<6615><SFt9C/QQB2vXGQAAg+zDdQ>: sieve: msgid=<r2@example.net>: "
        "redirect action: forwarded to <carol@example.org>\n"
        "Nov 22 13:00:01 mx2 dovecot: lmtp(carol@example.org)<6615><SFt9C/QQB2vXGQAAg+zDdQ:R2>: msgid=<r2@example.net>: "
        "saved mail to INBOX\n"
        "Nov 22 13:00:01 mx2 postfix/lmtp[4104]: 7B7C7D7E7F: to=<bob@example.org>, relay=mail.example.org[private/dovecot-lmtp], "
        "delay=1.3, delays=0.1/0.01/0.04/1.2, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.org> SFt9C/QQB2vXGQAAg+zDdQ Saved)\n"
        "Nov 22 13:00:01 mx2 postfix/lmtp[4104]: 7B7C7D7E7F: to=<carol@example.org>, relay=mail.example.org[private/dovecot-lmtp], "
        "delay=1.3, delays=0.1/0.01/0.04/1.2, dsn=2.0.0, status=sent (250 2.0.0 <carol@example.org> SFt9C/QQB2vXGQAAg+zDdQ:R2 Saved)\n"
        "Nov 22 13:00:01 mx2 postfix/qmgr[4103]: 7B7C7D7E7F: removed\n"
        "Nov 22 13:00:03 mx2 postfix/smtpd[4111]: 8C8D8E8F90: client=localhost[127.0.0.1]\n"
        "Nov 22 13:00:03 mx2 postfix/cleanup[4102]: 8C8D8E8F90: message-id=<r2@example.net>\n"
        "Nov 22 13:00:03 mx2 postfix/qmgr[4103]: 8C8D8E8F90: from=<alice@example.net>, size=3300, nrcpt=1 (queue active)\n"
        "Nov 22 13:00:03 mx2 dovecot: lmtp(carol@example.org)<6616><TFt9C/QQB2vXGQAAg+zDdQ>: msgid=<r2@example.net>: "
        "saved mail to INBOX\n"
        "Nov 22 13:00:03 mx2 postfix/lmtp[4112]: 8C8D8E8F90: to=<carol@example.org>, relay=mail.example.org[private/dovecot-lmtp], "
        "delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <carol@example.org> TFt9C/QQB2vXGQAAg+zDdQ Saved)\n"
        "Nov 22 13:00:03 mx2 postfix/qmgr[4103]: 8C8D8E8F90: removed\n")
    (story,) = follow([str(log)], queue_id="7B7C7D7E7F", options=OPTS).stories
    doc = story_to_json(story)
    hops = {(c["queue_id"], c["link"], c.get("from_queue_id")) for c in doc["chain"]}
    assert ("8C8D8E8F90", "redirected", "SFt9C/QQB2vXGQAAg+zDdQ") in hops, doc["chain"]
    r = {x["recipient"]: x for x in doc["recipients"]}
    assert r["bob@example.org"]["verdict"] == r["carol@example.org"]["verdict"] == "delivered", r
    assert "as 8C8D8E8F90 on mx2 (same Message-ID); then saved into the mailbox folder 'INBOX'" in r["bob@example.org"]["summary"], r
    assert {f"{log}:12", f"{log}:13"} <= set(r["bob@example.org"]["evidence"]) and f"{log}:13" not in r["carol@example.org"]["evidence"], r


def _bounces(path: Path, *args: str) -> tuple[int, dict[tuple[str, str], str], str]:
    out = subprocess.run([sys.executable, "-m", "logtrace", "bounces", str(path), "--json", "--year", "2026", "--tz", "UTC", *args],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode in (0, 4), out.stderr
    doc = json.loads(out.stdout)
    cats = {(m["chain"][0]["queue_id"], x["recipient"]): x["category"] for m in doc["messages"] for x in m["recipients"]
            if x.get("category")}
    return out.returncode, cats, out.stderr


def test_bounces_lists_junk_only_with_junk_and_fails_only_when_fail_on_names_it(mx2):
    """Sieve filed carol's copy into 'Junk': delivered, so not listed by default; ``--junk``
    lists it (category ``junk``) without changing the exit code; ``--fail-on junk`` fails on it."""
    code, cats, _ = _bounces(mx2)
    assert ("4TwNdH5zwCz7fxV", "carol@example.org") not in cats and code == 4  # the quota bounce fails
    code, cats, _ = _bounces(mx2, "--junk")
    assert cats[("4TwNdH5zwCz7fxV", "carol@example.org")] == "junk"
    assert ("4TwNdH5zwCz7fxV", "bob@example.org") not in cats  # INBOX is not junk
    code, cats, _ = _bounces(mx2, "--junk", "--fail-on", "discarded-by-sieve")
    assert code == 4 and cats[("4TwNdJ0000z7fxW", "carol@example.org")] == "discarded-by-sieve"
    code, _, _ = _bounces(mx2, "--junk", "--fail-on", "bounced", "--where", "category = 'junk'")
    assert code == 0
    code, cats, _ = _bounces(mx2, "--fail-on", "junk", "--where", "category = 'junk'")  # naming junk implies --junk
    assert code == 4 and set(cats.values()) == {"junk"}


def test_junk_folder_names_are_configurable_and_case_insensitive(mx2):
    """``--junk-folders`` replaces the names: 'Junk' is then an ordinary folder, 'inbox' (any case) is junk."""
    _, cats, _ = _bounces(mx2, "--junk", "--junk-folders", "Quarantaine")
    assert not any(c == "junk" for c in cats.values())
    _, cats, _ = _bounces(mx2, "--junk", "--junk-folders", "inbox, Spam")
    assert cats[("4TwNdH5zwCz7fxV", "bob@example.org")] == "junk"
    assert ("4TwNdH5zwCz7fxV", "carol@example.org") not in cats
    log = mx2.parent / "junk2.log"
    log.write_text(MX2.replace("fileinto action: stored mail into mailbox 'Junk'", "fileinto action: stored mail into mailbox 'INBOX.Spam'"))
    _, cats, _ = _bounces(log, "--junk")
    assert cats[("4TwNdH5zwCz7fxV", "carol@example.org")] == "junk"
    r = _recipients(log, "4TwNdH5zwCz7fxV")["carol@example.org"]
    assert r["verdict"] == "delivered" and r["summary"].startswith("delivered, but into the junk folder")


def test_rspamds_own_log_file_joins_the_story_by_qid(tmp_path):
    """rspamd's own log file (no host name) joins the Postfix message its ``qid`` names; both engines agree."""
    pf, rs = tmp_path / "mail.log", tmp_path / "rspamd.log"
    pf.write_text("".join(ln + "\n" for ln in RSPAMD.splitlines() if " rspamd[" not in ln))
    body = next(ln for ln in RSPAMD.splitlines() if " rspamd[" in ln).split("rspamd[1180]: ", 1)[1]
    rs.write_text("2026-11-22 11:09:59 #1180(main) <44ac51>; main; main: rspamd 3.4 is loading configuration, build id: release\n"
                  f"2026-11-22 11:10:01 #1181(rspamd_proxy) {body.replace('; task; ', '; proxy; ')}\n")
    from logtrace import parse

    for engine in ("frame", "line"):
        ev = parse([str(rs)], options=OPTS, engine=engine).events
        rows = ev.select("kind", "status", "queue_id", "recipient", "pid", "host", "program").rows()
        assert rows == [("other", None, None, None, 1180, None, "rspamd"),
                        ("filter", "reject", "6151C2C0A12", "alice@example.org", 1181, None, "rspamd")], (engine, rows)
    (story,) = follow([str(pf), str(rs)], queue_id="6151C2C0A12", options=OPTS).stories
    (r,) = story_to_json(story)["recipients"]
    assert r["verdict"] == "rejected" and "rspamd logged: reject default: S [1015.00/15.00]" in r["summary"]
    assert r["evidence"] == [f"{pf}:3", f"{rs}:2"]


SPLIT = """\
Nov 26 01:33:57 mx1 postfix-mx1/smtpd[11682]: 1489D2126EA: client=localhost[127.0.0.1]
Nov 26 01:33:57 mx1 postfix-mx1/cleanup[11679]: 1489D2126EA: message-id=<amavis_split.59ee2e6c@client.example.org>
Nov 26 01:33:57 mx1 postfix-mx1/qmgr[11442]: 1489D2126EA: from=<wren@example.org>, size=623, nrcpt=2 (queue active)
Nov 26 01:33:59 mx1 amavis[11323]: (11323-07) Passed SPAM {DiscardedInbound,RelayedTaggedInbound,Quarantined}, [127.0.0.1]:58572 <wren@example.org> -> <spam-lover@filtered.example.test>, quarantine: spam-FG0qEdOSqTXA, Queue-ID: 1489D2126EA, Message-ID: <amavis_split.59ee2e6c@client.example.org>, mail_id: FG0qEdOSqTXA, Hits: 999, size: 623, queued_as: 8FF82212243, 90 ms
Nov 26 01:33:59 mx1 amavis[11323]: (11323-07) Blocked SPAM {DiscardedInbound,RelayedTaggedInbound,Quarantined}, [127.0.0.1]:58572 <wren@example.org> -> <spam-q3@filtered.example.test>, quarantine: spam-FG0qEdOSqTXA, Queue-ID: 1489D2126EA, Message-ID: <amavis_split.59ee2e6c@client.example.org>, mail_id: FG0qEdOSqTXA, Hits: 999, size: 623, 90 ms
Nov 26 01:33:59 mx1 postfix-mx1/smtpd[11709]: 8FF82212243: client=localhost[127.0.0.1], orig_queue_id=1489D2126EA, orig_client=localhost[127.0.0.1]
Nov 26 01:33:59 mx1 postfix-mx1/cleanup[11694]: 8FF82212243: message-id=<amavis_split.59ee2e6c@client.example.org>
Nov 26 01:33:59 mx1 postfix-mx1/smtp[11680]: 1489D2126EA: to=<spam-lover@filtered.example.test>, relay=127.0.0.1[127.0.0.1]:47487, delay=2.5, delays=0.01/2.4/0.01/0.09, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:40657): 250 2.0.0 Ok: queued as 8FF82212243, but 1 DISCARD)
Nov 26 01:33:59 mx1 postfix-mx1/smtp[11680]: 1489D2126EA: to=<spam-q3@filtered.example.test>, relay=127.0.0.1[127.0.0.1]:47487, delay=2.5, delays=0.01/2.4/0.01/0.09, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:40657): 250 2.0.0 Ok: queued as 8FF82212243, but 1 DISCARD)
Nov 26 01:33:59 mx1 postfix-mx1/qmgr[11442]: 1489D2126EA: removed
Nov 26 01:33:59 mx1 postfix-mx1/qmgr[11442]: 8FF82212243: from=<wren@example.org>, size=1200, nrcpt=1 (queue active)
Nov 26 01:33:59 mx1 postfix-mx1/smtp[11683]: 8FF82212243: to=<spam-lover@filtered.example.test>, relay=127.0.0.1[127.0.0.1]:41001, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 5EEA0731D3)
Nov 26 01:33:59 mx1 postfix-mx1/qmgr[11442]: 8FF82212243: removed
"""


def test_amavis_split_verdict_decides_each_recipient(tmp_path):
    """amavis splits one transaction by recipient (a spam lover passes, the other is blocked);
    Postfix logs ``queued as X, but 1 DISCARD`` for both: the Blocked line decides its recipient,
    and ``bounces`` lists it although Postfix logged no discard or bounce (real lines, Debian 12 lab)."""
    log = tmp_path / "mail.log"
    log.write_text(SPLIT)
    r = _recipients(log, "1489D2126EA")
    assert r["spam-lover@filtered.example.test"]["verdict"] == "relayed"
    q3 = r["spam-q3@filtered.example.test"]
    assert q3["verdict"] == "quarantined" and "passed on no copy for this recipient" in q3["summary"]
    assert "quarantined as spam-FG0qEdOSqTXA" in q3["summary"] and q3["evidence"] == [f"{log}:9", f"{log}:5"]
    code, cats, _ = _bounces(log)
    assert cats == {("1489D2126EA", "spam-q3@filtered.example.test"): "quarantined"} and code == 4


def test_exim_local_part_delivery_shows_the_full_address_in_the_timeline(tmp_path):
    """Exim logs a local delivery as ``=> junk <junk@mbox.example.test>`` (no ``H=``): the
    timeline names the address, not the bare local part (seen in the real Exim→Dovecot lab)."""
    ex = tmp_path / "mainlog"
    ex.write_text(
        "2026-11-22 10:00:00 1tWxyz-000ABD-3F <= a@example.net H=ext.example.net [192.0.2.20] P=esmtp S=1200 id=x2@example.net\n"
        "2026-11-22 10:00:01 1tWxyz-000ABD-3F => junk <junk@mbox.example.test> R=dovecot_user T=dovecot_lmtp "
        'C="250 2.0.0 <junk@mbox.example.test> mAgIBwKaB2ugLQAAg+zDdQ Saved"\n'
        "2026-11-22 10:00:01 1tWxyz-000ABD-3F Completed\n")
    out = subprocess.run([sys.executable, "-m", "logtrace", "follow", "1tWxyz-000ABD-3F", str(ex), "--tz", "UTC"],
                         capture_output=True, text=True, cwd=REPO, env=dict(os.environ, COLUMNS="200"))
    assert out.returncode == 0, out.stderr
    assert "to=<junk@mbox.example.test>" in out.stdout and "to=<junk>" not in out.stdout, out.stdout

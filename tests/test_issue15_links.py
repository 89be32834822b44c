"""Issue 15, the rest of the links: XFORWARD ``orig_queue_id=`` (a content filter whose reply
names no queue ID) and year inference anchored across the files a chain links.

The Postfix lines have the shapes real Postfix 3.7 writes in the lab
(tests/test_follow_real_postfix.py, scenario ``filter_no_id``); these tests pin the same
behaviour on hand-made files, where file times can be chosen."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone

from conftest import REPO
from logtrace.parsing.rules import ParseOptions
from logtrace.trace.follow import follow, story_to_json

# a content filter answers 250 without naming the re-injected queue ID; smtpd's XFORWARD line does
FILTER = """\
Nov 25 10:00:00 mx1 postfix-mx1/smtpd[100]: 1A2B3C4D5E: client=client.example.org[192.0.2.7]
Nov 25 10:00:00 mx1 postfix-mx1/cleanup[101]: 1A2B3C4D5E: message-id=<f1@example.org>
Nov 25 10:00:00 mx1 postfix-mx1/qmgr[102]: 1A2B3C4D5E: from=<a@example.org>, size=400, nrcpt=1 (queue active)
Nov 25 10:00:01 mx1 postfix-mx1/smtpd[110]: 2B3C4D5E6F: client=client.example.org[192.0.2.7], orig_queue_id=1A2B3C4D5E, orig_client=localhost[127.0.0.1]
Nov 25 10:00:01 mx1 postfix-mx1/cleanup[101]: 2B3C4D5E6F: message-id=<f1@example.org>
Nov 25 10:00:01 mx1 postfix-mx1/qmgr[102]: 2B3C4D5E6F: from=<a@example.org>, size=600, nrcpt=1 (queue active)
Nov 25 10:00:01 mx1 postfix-mx1/smtp[103]: 1A2B3C4D5E: to=<x@ext.example.test>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.2, delays=0.1/0/0.1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok, id=06435-02, from MTA([127.0.0.1]:10025): 250 2.0.0 Ok)
Nov 25 10:00:01 mx1 postfix-mx1/qmgr[102]: 1A2B3C4D5E: removed
Nov 25 10:00:02 mx1 postfix-mx1/smtp[104]: 2B3C4D5E6F: to=<x@ext.example.test>, relay=mx.ext.example.test[198.51.100.9]:25, delay=1, delays=0.1/0/0.1/0.8, dsn=5.1.1, status=bounced (host mx.ext.example.test[198.51.100.9] said: 550 5.1.1 <x@ext.example.test>: User unknown (in reply to RCPT TO command))
Nov 25 10:00:02 mx1 postfix-mx1/qmgr[102]: 2B3C4D5E6F: removed
"""


def _story(paths, qid, **opts):
    (s,) = follow([str(p) for p in paths], queue_id=qid, options=ParseOptions(tz="UTC", **opts)).stories
    return story_to_json(s)


def test_xforward_orig_queue_id_is_parsed_as_a_link_to_the_filtered_message():
    from logtrace_parsers.postfix import PostfixParser
    from logtrace.parsing.rules import FileContext

    line = FILTER.splitlines()[3]
    e = PostfixParser().parse_line(line, FileContext("t", None, ParseOptions(year=2026, tz="UTC")), 4)
    assert (e.kind, e.queue_id, e.next_queue_id, e.client_ip) == ("accept", "2B3C4D5E6F", "1A2B3C4D5E", "192.0.2.7")


def test_follow_continues_through_a_filter_whose_reply_names_no_queue_id(tmp_path):
    p = tmp_path / "mail.log"
    p.write_text(FILTER)
    for qid in ("1A2B3C4D5E", "2B3C4D5E6F"):
        m = _story([p], qid, year=2026)
        assert [(c["queue_id"], c["link"]) for c in m["chain"]] == [("1A2B3C4D5E", "origin"), ("2B3C4D5E6F", "content-filter")]
        (r,) = m["recipients"]
        # the bounce after the filter decides, not the filter's 250
        assert (r["verdict"], r["queue_id"], r["dsn"]) == ("bounced", "2B3C4D5E6F", "5.1.1")
        assert r["evidence"][0].endswith("mail.log:7") and r["evidence"][-1].endswith("mail.log:9")


# two hosts' logs, each with RFC 3164 stamps (no year): the year is guessed per file from its mtime
MX1 = """\
Dec 30 23:50:00 mx1 postfix/smtpd[100]: 3C4D5E6F7A: client=client.example.org[192.0.2.7]
Dec 30 23:50:00 mx1 postfix/cleanup[101]: 3C4D5E6F7A: message-id=<y1@example.org>
Dec 30 23:50:00 mx1 postfix/qmgr[102]: 3C4D5E6F7A: from=<a@example.org>, size=400, nrcpt=1 (queue active)
Dec 30 23:50:01 mx1 postfix/smtp[103]: 3C4D5E6F7A: to=<b@example.net>, relay=mx2.example.net[192.0.2.20]:25, delay=1, delays=0.1/0/0.1/0.8, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4D5E6F7A8B)
Dec 30 23:50:01 mx1 postfix/qmgr[102]: 3C4D5E6F7A: removed
"""
MX2 = """\
Dec 30 23:50:01 mx2 postfix/smtpd[200]: 4D5E6F7A8B: client=mx1.example.org[192.0.2.10]
Dec 30 23:50:01 mx2 postfix/cleanup[201]: 4D5E6F7A8B: message-id=<y1@example.org>
Dec 30 23:50:01 mx2 postfix/qmgr[202]: 4D5E6F7A8B: from=<a@example.org>, size=600, nrcpt=1 (queue active)
Dec 30 23:50:02 mx2 postfix/local[203]: 4D5E6F7A8B: to=<b@example.net>, relay=local, delay=1, delays=0.1/0/0.1/0.8, dsn=2.0.0, status=sent (delivered to mailbox)
Dec 30 23:50:02 mx2 postfix/qmgr[202]: 4D5E6F7A8B: removed
"""


def _files(tmp_path, mx1_year: int, mx2_year: int):
    a, b = tmp_path / "mx1.log", tmp_path / "mx2.log"
    a.write_text(MX1)
    b.write_text(MX2)
    for p, y in ((a, mx1_year), (b, mx2_year)):  # the file was last written on the 31st of that year
        t = datetime(y, 12, 31, 12, tzinfo=timezone.utc).timestamp()
        os.utime(p, (t, t))
    return a, b


def test_a_chain_across_files_of_different_mtime_years_is_anchored_to_the_origins_year(tmp_path):
    a, b = _files(tmp_path, 2025, 2023)
    for qid in ("3C4D5E6F7A", "4D5E6F7A8B"):
        m = _story([a, b], qid)
        assert [(c["queue_id"], c["first_seen"][:4]) for c in m["chain"]] == [("3C4D5E6F7A", "2025"), ("4D5E6F7A8B", "2025")]
        (r,) = m["recipients"]
        assert r["verdict"] == "delivered" and r["when"] == "2025-12-30T23:50:02+00:00"
    res = follow([str(a), str(b)], queue_id="3C4D5E6F7A", options=ParseOptions(tz="UTC"))
    years = {e.ts.year for e in res.stories[0].events}
    assert years == {2025}


def test_the_same_files_in_one_year_are_left_alone(tmp_path):
    a, b = _files(tmp_path, 2024, 2024)
    m = _story([a, b], "3C4D5E6F7A")
    assert {c["first_seen"][:4] for c in m["chain"]} == {"2024"}


def test_the_timeline_shows_no_730_day_step(tmp_path):
    a, b = _files(tmp_path, 2025, 2023)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), COLUMNS="200")
    r = subprocess.run([sys.executable, "-m", "logtrace", "follow", "3C4D5E6F7A", str(a), str(b), "--utc"],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "+730" not in r.stdout and "2023" not in r.stdout, r.stdout
    assert "2025-12-30" in r.stdout, r.stdout


# Exim 4.96 main log (+pid), as the real-Exim lab writes it (scenario rcpt_partial): the ACL's
# reject names no message id and comes before the "<=" of the same session (pid 4242); pid 4343's
# reject belongs to no accepted message (every RCPT refused)
EXIM = """\
2026-11-25 20:48:50.101 [4242] H=(client.example.org) [127.0.0.1] F=<mallory@example.org> rejected RCPT <blocked-partial@ext.example.test>: 5.7.1 Recipient blocked by local policy
2026-11-25 20:48:50.105 [4343] H=(client.example.org) [127.0.0.1] F=<mallory@example.org> rejected RCPT <blocked-other@ext.example.test>: 5.7.1 Recipient blocked by local policy
2026-11-25 20:48:50.120 [4242] 1xWJv5-0004pH-1I <= mallory@example.org H=(client.example.org) [127.0.0.1] P=esmtp S=612 id=p1@client.example.org for ok-partial@ext.example.test
2026-11-25 20:48:50.300 [4250] 1xWJv5-0004pH-1I => ok-partial@ext.example.test R=route0 T=remote_smtp H=127.0.0.1 [127.0.0.1]:40123 C="250 2.0.0 Ok: queued as 56A917E88D" QT=0.2s DT=0.1s
2026-11-25 20:48:50.301 [4250] 1xWJv5-0004pH-1I Completed QT=0.2s
"""


def test_an_exim_rcpt_reject_belongs_to_the_message_its_session_accepts_next(tmp_path):
    p = tmp_path / "exim1.mainlog"
    p.write_text(EXIM)
    from logtrace import parse
    from logtrace.trace.correlator import Correlator
    from logtrace.trace.follow import rows_to_events

    corr = Correlator(rows_to_events(parse([str(p)], options=ParseOptions(tz="UTC")).events))
    (lc,) = corr.find("1xWJv5-0004pH-1I")
    got = {v.recipient: (v.verdict, v.evidence) for v in corr.story(lc, "q").recipients}
    assert got == {"blocked-partial@ext.example.test": ("rejected", [f"{p}:1"]),
                   "ok-partial@ext.example.test": ("relayed", [f"{p}:4"])}
    res = follow([str(p)], sender="mallory@example.org", options=ParseOptions(tz="UTC"))
    # the message (with its rejected recipient) and pid 4343's reject on its own
    assert sorted(tuple(sorted(r.recipient for r in s.recipients)) for s in res.stories) == [
        ("blocked-other@ext.example.test",), ("blocked-partial@ext.example.test", "ok-partial@ext.example.test")]

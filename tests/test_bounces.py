"""``logtrace bounces`` on logs built from real Postfix line shapes (the lab logs in sample_logs/)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from logtrace.trace.bounces import find_bounces
from logtrace.parsing.rules import ParseOptions

REPO = Path(__file__).resolve().parents[1]
LABS = [str(REPO / "sample_logs/postfix/lab-mx1.log"), str(REPO / "sample_logs/postfix/lab-mx2.log")]
OPTS = ParseOptions(year=2026, tz="UTC")


def run(*args):
    return subprocess.run([sys.executable, "-m", "logtrace", *args], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, COLUMNS="200", NO_COLOR="1"), timeout=120)


def test_finds_the_bounced_expired_and_deleted_messages_and_no_delivered_one():
    res = find_bounces(LABS, options=OPTS)
    got = {(it.story.origin.queue_id, it.category) for it in res.items}
    assert got == {("482B920C2B6", "bounced"), ("3E0D620C2B0", "bounced"), ("4A13820C2B7", "deleted"), ("431C920C2B5", "expired")}
    relay_bounce = next(it for it in res.items if it.story.origin.queue_id == "3E0D620C2B0")
    r = relay_bounce.failed[0]
    assert (r.host, r.queue_id, r.dsn) == ("mx2", "4564D20C222", "5.1.1")  # failed at the later hop
    assert relay_bounce.classes == ["mailbox_unknown"]
    assert not relay_bounce.ndr_problem


def test_only_one_log_gives_relayed_not_bounced_for_the_later_hop():
    res = find_bounces(LABS[:1], options=OPTS)
    assert "3E0D620C2B0" not in {it.story.origin.queue_id for it in res.items}


def test_ndr_that_also_failed_is_the_worst_case(tmp_path):
    log = tmp_path / "m.log"
    log.write_text(
        "Nov 22 10:00:00 mx1 postfix/smtpd[1]: AAAA11111: client=a[192.0.2.1]\n"
        "Nov 22 10:00:00 mx1 postfix/qmgr[2]: AAAA11111: from=<s@example.org>, size=100, nrcpt=1 (queue active)\n"
        "Nov 22 10:00:01 mx1 postfix/smtp[3]: AAAA11111: to=<x@example.net>, relay=mx.example.net[192.0.2.9]:25, delay=1, "
        "delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.9] said: 550 5.1.1 User unknown (in reply to RCPT TO command))\n"
        "Nov 22 10:00:01 mx1 postfix/bounce[4]: AAAA11111: sender non-delivery notification: BBBB22222\n"
        "Nov 22 10:00:01 mx1 postfix/qmgr[2]: AAAA11111: removed\n"
        "Nov 22 10:00:01 mx1 postfix/qmgr[2]: BBBB22222: from=<>, size=2000, nrcpt=1 (queue active)\n"
        "Nov 22 10:00:02 mx1 postfix/smtp[3]: BBBB22222: to=<s@example.org>, relay=mx.example.org[192.0.2.8]:25, delay=1, "
        "delays=0/0/0.5/0.5, dsn=5.7.1, status=bounced (host mx.example.org[192.0.2.8] said: 550 5.7.1 blocked (in reply to RCPT TO command))\n"
        "Nov 22 10:00:02 mx1 postfix/qmgr[2]: BBBB22222: removed\n")
    res = find_bounces([str(log)], options=OPTS)
    assert len(res.items) == 1  # the failed NDR is reported with its original, not on its own
    it = res.items[0]
    assert it.ndr_problem and it.failed[0].ndr["delivered"] is False
    r = run("bounces", str(log), "--year", "2026")
    assert r.returncode == 4
    assert "never told the sender" in r.stdout


def test_json_csv_and_grouping():
    r = run("bounces", *LABS, "--json")
    assert r.returncode == 4
    whole = json.loads(r.stdout)
    assert whole["schema"] == "logtrace.bounces/1"
    doc = whole["messages"]
    assert {m["category"] for m in doc} == {"bounced", "deleted", "expired"}
    assert all("verdict" in x and "evidence" in x for m in doc for x in m["recipients"])
    r = run("bounces", *LABS, "--csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {row["recipient"] for row in rows} >= {"unknown-relay@via-mx2.example.test", "tempfail-expire@ext.example.test"}
    r = run("bounces", *LABS, "--by", "domain")
    assert "ext.example.test" in r.stdout and "via-mx2.example.test" in r.stdout


def test_where_filters_bounces():
    res = find_bounces(LABS, options=OPTS, where='status = expired')
    assert [it.category for it in res.items] == ["expired"]
    res = find_bounces(LABS, options=OPTS, where='to ~ "via-mx2" and dsn >= 5.0.0')
    assert [it.story.origin.queue_id for it in res.items] == ["3E0D620C2B0"]


def test_no_failures_exits_0(tmp_path):
    log = tmp_path / "m.log"
    log.write_text(
        "Nov 22 10:00:00 mx1 postfix/pickup[1]: CCCC11111: uid=0 from=<root>\n"
        "Nov 22 10:00:00 mx1 postfix/qmgr[2]: CCCC11111: from=<root@mx1>, size=100, nrcpt=1 (queue active)\n"
        "Nov 22 10:00:01 mx1 postfix/local[3]: CCCC11111: to=<root@mx1>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)\n"
        "Nov 22 10:00:01 mx1 postfix/qmgr[2]: CCCC11111: removed\n")
    r = run("bounces", str(log))
    assert r.returncode == 0
    assert "No accepted message failed" in r.stdout

"""``logtrace bounces --state FILE`` (a cron job reports only what is new since its last run)
and ``--where`` over bounces' own output fields ``category`` and ``class`` (issue 15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logtrace.errors import LogtraceError, QuerySyntaxError
from logtrace.parsing.rules import ParseOptions
from logtrace.trace.bounces import find_bounces, load_state

REPO = Path(__file__).resolve().parents[1]
OPTS = ParseOptions(year=2026, tz="UTC")

# one bounce (5.1.1, mailbox unknown) and one message still deferred at log end (Postfix 3.7 lines)
DAY1 = """\
Nov 25 10:00:00 mx1 postfix/smtpd[100]: 1A2B3C4D5E: client=client.example.org[192.0.2.7]
Nov 25 10:00:00 mx1 postfix/cleanup[101]: 1A2B3C4D5E: message-id=<b1@example.org>
Nov 25 10:00:00 mx1 postfix/qmgr[102]: 1A2B3C4D5E: from=<a@example.org>, size=400, nrcpt=1 (queue active)
Nov 25 10:00:01 mx1 postfix/smtp[103]: 1A2B3C4D5E: to=<nobody@example.net>, relay=mx.example.net[198.51.100.9]:25, delay=1, delays=0.1/0/0.1/0.8, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.9] said: 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))
Nov 25 10:00:01 mx1 postfix/qmgr[102]: 1A2B3C4D5E: removed
Nov 25 10:05:00 mx1 postfix/smtpd[100]: 2B3C4D5E6F: client=client.example.org[192.0.2.7]
Nov 25 10:05:00 mx1 postfix/cleanup[101]: 2B3C4D5E6F: message-id=<b2@example.org>
Nov 25 10:05:00 mx1 postfix/qmgr[102]: 2B3C4D5E6F: from=<a@example.org>, size=400, nrcpt=1 (queue active)
Nov 25 10:05:01 mx1 postfix/smtp[103]: 2B3C4D5E6F: to=<later@example.com>, relay=mx.example.com[198.51.100.10]:25, delay=1, delays=0.1/0/0.1/0.8, dsn=4.4.1, status=deferred (host mx.example.com[198.51.100.10] said: 451 4.4.1 try again later (in reply to RCPT TO command))
"""
# the next day's run reads a log that still holds day 1 plus a new bounce; the deferred one expired
DAY2 = DAY1 + """\
Nov 26 09:00:00 mx1 postfix/qmgr[102]: 2B3C4D5E6F: from=<a@example.org>, status=expired, returned to sender
Nov 26 09:00:00 mx1 postfix/qmgr[102]: 2B3C4D5E6F: removed
Nov 26 10:00:00 mx1 postfix/smtpd[100]: 3C4D5E6F7A: client=client.example.org[192.0.2.7]
Nov 26 10:00:00 mx1 postfix/cleanup[101]: 3C4D5E6F7A: message-id=<b3@example.org>
Nov 26 10:00:00 mx1 postfix/qmgr[102]: 3C4D5E6F7A: from=<c@example.org>, size=400, nrcpt=1 (queue active)
Nov 26 10:00:01 mx1 postfix/smtp[103]: 3C4D5E6F7A: to=<gone@example.net>, relay=mx.example.net[198.51.100.9]:25, delay=1, delays=0.1/0/0.1/0.8, dsn=5.1.1, status=bounced (host mx.example.net[198.51.100.9] said: 550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))
Nov 26 10:00:01 mx1 postfix/qmgr[102]: 3C4D5E6F7A: removed
"""


def run(*args):
    return subprocess.run([sys.executable, "-m", "logtrace", "bounces", *args, "--year", "2026", "--tz", "UTC"],
                          capture_output=True, text=True, cwd=REPO, env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
                          timeout=120)


def _ids(r):
    return sorted(m["chain"][0]["queue_id"] for m in json.loads(r.stdout)["messages"])


def test_state_reports_only_what_is_new_since_the_last_run(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "bounces.state"
    log.write_text(DAY1)
    r1 = run(str(log), "--json", "--state", str(state))
    assert r1.returncode == 4, r1.stderr
    assert _ids(r1) == ["1A2B3C4D5E", "2B3C4D5E6F"]
    assert {k[1:] for k in load_state(str(state))} == {("1A2B3C4D5E", "nobody@example.net", "bounced"),
                                                        ("2B3C4D5E6F", "later@example.com", "deferred")}
    # the same log again: nothing new, nothing to alert about
    r2 = run(str(log), "--json", "--state", str(state))
    assert (r2.returncode, json.loads(r2.stdout)["messages"]) == (0, []), r2.stderr
    # a day later: the new bounce, and the deferred message now expired (a new category); not the old bounce
    log.write_text(DAY2)
    r3 = run(str(log), "--json", "--state", str(state))
    assert r3.returncode == 4, r3.stderr
    got = {m["chain"][0]["queue_id"]: m["category"] for m in json.loads(r3.stdout)["messages"]}
    assert got == {"2B3C4D5E6F": "expired", "3C4D5E6F7A": "bounced"}
    r4 = run(str(log), "--state", str(state))  # the table form: nothing new
    assert r4.returncode == 0 and "1A2B3C4D5E" not in r4.stdout, r4.stdout + r4.stderr
    # only deferrals new: listed, but the exit code follows --fail-on for the new items only
    state.unlink()
    log.write_text(DAY1)
    assert run(str(log), "--json", "--state", str(state), "--fail-on", "bounced").returncode == 4
    log.write_text(DAY1.replace("status=bounced", "status=deferred").replace("dsn=5.1.1", "dsn=4.1.1"))
    r5 = run(str(log), "--json", "--state", str(state), "--fail-on", "bounced")
    assert r5.returncode == 0 and _ids(r5) == ["1A2B3C4D5E"], r5.stderr  # deferred is new for 1A2B3C4D5E


def test_state_file_is_replaced_atomically_and_no_temporary_is_left(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "bounces.state"
    log.write_text(DAY1)
    state.write_text(json.dumps({"version": 1, "reported": []}))
    before = state.stat().st_ino
    assert run(str(log), "--json", "--state", str(state)).returncode == 4
    assert state.stat().st_ino != before  # a new file renamed over the old one (os.replace), never rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bounces.state", "mail.log"]


@pytest.mark.parametrize("content", ["not json", '{"version": 99, "reported": []}', '{"version": 1}', "[1, 2]"])
def test_a_bad_state_file_is_a_clear_error_not_a_traceback_and_is_left_alone(tmp_path, content):
    log, state = tmp_path / "mail.log", tmp_path / "bounces.state"
    log.write_text(DAY1)
    state.write_text(content)
    r = run(str(log), "--state", str(state))
    assert r.returncode not in (0, 4) and "Traceback" not in r.stderr
    assert "not a bounces state file" in r.stderr and "remove it" in r.stderr, r.stderr
    assert state.read_text() == content
    with pytest.raises(LogtraceError):
        load_state(str(state))


def test_unwritable_state_directory_is_a_clear_error(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(DAY1)
    r = run(str(log), "--state", str(tmp_path / "no" / "such" / "dir" / "state"))
    assert r.returncode not in (0, 4) and "Traceback" not in r.stderr and "cannot write it" in r.stderr, r.stderr


def test_where_accepts_bounces_own_category_and_class(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(DAY1)
    paths = [str(log)]
    assert [it.category for it in find_bounces(paths, options=OPTS).items] == ["bounced", "deferred"]
    (it,) = find_bounces(paths, options=OPTS, where="category = deferred").items
    assert it.story.origin.queue_id == "2B3C4D5E6F"
    (it,) = find_bounces(paths, options=OPTS, where='class = mailbox_unknown and to ~ "@example\\.net$"').items
    assert it.story.origin.queue_id == "1A2B3C4D5E"
    assert find_bounces(paths, options=OPTS, where="category in (expired, lost)").items == []
    r = run(str(log), "--json", "--where", "category != bounced")
    assert _ids(r) == ["2B3C4D5E6F"], r.stderr
    with pytest.raises(QuerySyntaxError) as e:
        find_bounces(paths, options=OPTS, where="categroy = bounced")
    assert "category" in (e.value.hint or "")


def test_category_and_class_are_not_fields_of_other_commands(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(DAY1)
    r = subprocess.run([sys.executable, "-m", "logtrace", "parse", str(log), "--where", "category = bounced", "--year", "2026"],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode != 0 and "unknown field 'category'" in r.stderr and "Traceback" not in r.stderr, r.stderr

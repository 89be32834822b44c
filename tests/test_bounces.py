"""``logtrace bounces`` on logs built from real Postfix line shapes (the lab logs in sample_logs/)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
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


NDR_FAILED = (
    "Nov 22 10:00:00 mx1 postfix/smtpd[1]: AAAA11111: client=a[192.0.2.1]\n"
    "Nov 22 10:00:00 mx1 postfix/qmgr[2]: AAAA11111: from=<s@example.org>, size=100, nrcpt=1 (queue active)\n"
    "Nov 22 10:00:01 mx1 postfix/smtp[3]: AAAA11111: to=<x@example.net>, relay=mx.example.net[192.0.2.9]:25, delay=1, "
    "delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.9] said: 550 5.1.1 User unknown (in reply to RCPT TO command))\n"
    "Nov 22 10:00:01 mx1 postfix/bounce[4]: AAAA11111: sender non-delivery notification: BBBB22222\n"
    "Nov 22 10:00:01 mx1 postfix/qmgr[2]: AAAA11111: removed\n"
    "Nov 22 10:00:01 mx1 postfix/qmgr[2]: BBBB22222: from=<>, size=2000, nrcpt=1 (queue active)\n"
    "Nov 22 10:00:02 mx1 postfix/smtp[3]: BBBB22222: to=<s@example.org>, relay=mx.example.org[192.0.2.8]:25, delay=1, "
    "delays=0/0/0.5/0.5, dsn=5.7.1, status=bounced (host mx.example.org[192.0.2.8] said: 550 5.7.1 blocked (in reply to RCPT TO command))\n"
    "Nov 22 10:00:02 mx1 postfix/qmgr[2]: BBBB22222: removed\n"
)


def test_ndr_that_also_failed_is_the_worst_case(tmp_path):
    log = tmp_path / "m.log"
    log.write_text(NDR_FAILED)
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


# ------------------------------------------------------------------ the text form: one block per failed recipient

STAMP = re.compile(r"^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d ")


def text(*args, columns=200, **env):
    r = subprocess.run([sys.executable, "-m", "logtrace", "bounces", *args, "--year", "2026", "--tz", "UTC"], capture_output=True,
                       text=True, cwd=REPO, env={**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", **env}, timeout=120)
    assert r.returncode in (0, 4), r.stderr
    assert "Traceback" not in r.stderr
    return r


def blocks(out):
    """Each failed recipient's block: its lines, from the stamped first line to the next unindented line."""
    found, cur = [], None
    for ln in out.splitlines():
        if STAMP.match(ln):
            cur = [ln]
            found.append(cur)
        elif cur is not None and ln.startswith("  ") and not ln.startswith("  …"):
            cur.append(ln)
        else:
            cur = None
    return found


def test_text_is_one_block_per_failed_recipient_with_every_field_on_its_line():
    out = text(*LABS).stdout
    lines = out.splitlines()
    assert lines[0] == "4 accepted message(s) not delivered to every recipient"
    heads = [ln for ln in lines if ln and not ln.startswith(" ") and not STAMP.match(ln) and ln != lines[0]]
    assert heads == ["bounced: mailbox_unknown  (2)", "accepted (UTC)  host  queue id  <sender> -> <recipient>",
                     "deleted: connection_failure  (1)", "accepted (UTC)  host  queue id  <sender> -> <recipient>",
                     "expired: connection_failure  (1)", "accepted (UTC)  host  queue id  <sender> -> <recipient>"]
    got = {b[0]: b[1:] for b in blocks(out)}
    assert got == {
        "Nov 22 19:42:01  mx1  482B920C2B6  <grace@example.org> -> <unknown-multi@ext.example.test>": [
            "    failed at mx1:482B920C2B6  5.1.1  bounced/mailbox_unknown  NDR 60A9720C242 delivered",
            "    host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <unknown-multi@ext.example.test>: Recipient address rejected: "
            "User unknown (in reply to RCPT TO command)"],
        # relayed by mx1, refused at the next hop: failed at mx2's queue ID, the notification is mx2's too
        "Nov 22 19:42:01  mx1  3E0D620C2B0  <carol@example.org> -> <unknown-relay@via-mx2.example.test>": [
            "    failed at mx2:4564D20C222  5.1.1  bounced/mailbox_unknown  NDR 62F9C20C2C2 delivered",
            "    host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <unknown-relay@via-mx2.example.test>: Recipient address rejected: "
            "User unknown (in reply to RCPT TO command)"],
        "Nov 22 19:42:01  mx1  4A13820C2B7  <heidi@example.org> -> <tempfail-delete@ext.example.test>": [  # deleted: no NDR
            "    failed at mx1:4A13820C2B7  4.4.1  deleted/connection_failure",
            "    host 127.0.0.1[127.0.0.1] said: 451 4.4.1 <tempfail-delete@ext.example.test>: Recipient address rejected: "
            "try again later (in reply to RCPT TO command)"],
        "Nov 22 19:42:01  mx2  431C920C2B5  <erin@example.org> -> <tempfail-expire@ext.example.test>": [
            "    failed at mx2:431C920C2B5  4.4.1  expired/connection_failure  NDR 9225C20C2BF delivered",
            "    host 127.0.0.1[127.0.0.1] said: 451 4.4.1 <tempfail-expire@ext.example.test>: Recipient address rejected: "
            "try again later (in reply to RCPT TO command)"],
    }
    top = text(*LABS, "--top", "1").stdout.splitlines()
    i = top.index("bounced: mailbox_unknown  (2)")
    assert len(blocks("\n".join(top))) == 3 and top[i + 5] == "  … 1 more"


def test_text_ndr_failed_and_none_sent_and_a_zone_label_per_host(tmp_path):
    log = tmp_path / "m.log"
    log.write_text(NDR_FAILED + MX2_BOUNCE_AND_DEFERRAL)
    r = text(str(log), "--tz", "mx2=Europe/Berlin", "--by", "domain")
    lines = r.stdout.splitlines()
    assert lines[0] == ("3 accepted message(s) not delivered to every recipient; 2 of them never told the sender "
                        "(the bounce notification failed or was not sent)")
    assert lines[2:4] == ["example.net  (3)", "accepted  host  queue id  <sender> -> <recipient>"]  # two zones: each stamp says its own
    got = [b[:2] for b in blocks(r.stdout)]
    assert got == [  # in the order accepted: mx2's 10:00:03 CET is 09:00:03 UTC
        ["Nov 22 10:00:03 CET  mx2  CCCC33333  <s@example.org> -> <x@example.net>",
         "    failed at mx2:CCCC33333  4.4.1  deferred/connection_failure"],  # not returned: no NDR
        ["Nov 22 10:00:03 CET  mx2  CCCC33333  <s@example.org> -> <y@example.net>",
         "    failed at mx2:CCCC33333  5.1.1  bounced/mailbox_unknown  NDR none sent"],
        ["Nov 22 10:00:00 UTC  mx1  AAAA11111  <s@example.org> -> <x@example.net>",
         "    failed at mx1:AAAA11111  5.1.1  bounced/mailbox_unknown  NDR BBBB22222 FAILED"],
        ["Nov 22 14:00:01 CET  mx2  DDDD44444  ? -> <x@example.net>",  # no sender logged
         "    failed at mx2:DDDD44444  4.4.1  deferred/connection_failure"]]
    # on a terminal the notification problems are bold red, a delivered one is not; the text is the same
    t = text(str(log), "--tz", "mx2=Europe/Berlin", "--by", "domain", FORCE_COLOR="1", NO_COLOR="", TERM="xterm-256color").stdout
    assert "\x1b[1;31mNDR BBBB22222 FAILED\x1b[0m" in t and "\x1b[1;31mNDR none sent\x1b[0m" in t
    assert re.sub(r"\x1b\[[0-9;]*m", "", t) == r.stdout


MX2_BOUNCE_AND_DEFERRAL = (
    "Nov 22 10:00:03 mx2 postfix/smtpd[1]: CCCC33333: client=a[192.0.2.1]\n"
    "Nov 22 10:00:03 mx2 postfix/qmgr[2]: CCCC33333: from=<s@example.org>, size=100, nrcpt=2 (queue active)\n"
    "Nov 22 10:00:04 mx2 postfix/smtp[3]: CCCC33333: to=<x@example.net>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, "
    "status=deferred (connect to mx.example.net[192.0.2.9]:25: Connection timed out)\n"
    "Nov 22 10:00:04 mx2 postfix/smtp[3]: CCCC33333: to=<y@example.net>, relay=mx.example.net[192.0.2.9]:25, delay=1, "
    "delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.9] said: 550 5.1.1 User unknown "
    "(in reply to RCPT TO command))\n"
    "Nov 22 14:00:01 mx2 postfix/smtp[3]: DDDD44444: to=<x@example.net>, relay=none, delay=14401, delays=14400/0/1/0, "
    "dsn=4.4.1, status=deferred (connect to mx.example.net[192.0.2.9]:25: Connection timed out)\n"
)


LONG_LOCAL = "the-quarterly-report-distribution-list-for-the-regional-sales-offices-" + "x" * 20
LONG_REPLIES = (
    # Gmail's reply as Postfix logs it: 371 characters with a URL
    "Nov 22 11:00:00 mx1 postfix/smtpd[1]: EEEE55555: client=a[192.0.2.1]\n"
    "Nov 22 11:00:00 mx1 postfix/qmgr[2]: EEEE55555: from=<newsletter@example.org>, size=100, nrcpt=2 (queue active)\n"
    "Nov 22 11:00:01 mx1 postfix/smtp[3]: EEEE55555: to=<nosuchuser@example.com>, relay=gmail-smtp-in.l.google.com"
    "[142.250.150.140]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host gmail-smtp-in.l.google.com"
    "[142.250.150.140] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 "
    "double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to "
    "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser aa7a3c6b28si106 - gsmtp (in reply to RCPT TO command))\n"
    # an address longer than a line, and a reply longer than the text form shows (cut between words, "…")
    f"Nov 22 11:00:01 mx1 postfix/smtp[3]: EEEE55555: to=<{LONG_LOCAL}@example.com>, relay=mx.example.com[192.0.2.7]:25, "
    "delay=1, delays=0/0/0.5/0.5, dsn=5.7.1, status=bounced (host mx.example.com[192.0.2.7] said: 550 5.7.1 "
    + "this list does not take mail from outside the organisation, ask its owner; " * 8 + "(in reply to RCPT TO command))\n"
    "Nov 22 11:00:01 mx1 postfix/bounce[4]: EEEE55555: sender non-delivery notification: FFFF66666\n"
    "Nov 22 11:00:01 mx1 postfix/qmgr[2]: EEEE55555: removed\n"
    "Nov 22 11:00:01 mx1 postfix/qmgr[2]: FFFF66666: from=<>, size=2000, nrcpt=1 (queue active)\n"
    "Nov 22 11:00:02 mx1 postfix/smtp[3]: FFFF66666: to=<newsletter@example.org>, relay=mx.example.org[192.0.2.8]:25, "
    "delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4711)\n"
    "Nov 22 11:00:02 mx1 postfix/qmgr[2]: FFFF66666: removed\n"
)


def normalized(b):
    return " ".join(" ".join(b).split())


def test_text_at_80_columns_breaks_lines_between_words_and_keeps_every_field(tmp_path):
    """Cron mail and 80-column terminals: every line fits except a single word wider than a line,
    no word is split, and each failed recipient's block says the same as at 400 columns."""
    from rich.cells import cell_len

    log = tmp_path / "m.log"
    log.write_text(NDR_FAILED + MX2_BOUNCE_AND_DEFERRAL + LONG_REPLIES)
    files = [str(log), *LABS]
    narrow, wide = text(*files, columns=80).stdout, text(*files, columns=400).stdout
    over = [ln for ln in narrow.splitlines() if cell_len(ln) > 80]
    assert over and all(len(ln.split()) == 1 for ln in over), over  # only the long address, alone on its line
    assert all(ln == ln.rstrip() for ln in narrow.splitlines())
    assert sorted(narrow.split()) == sorted(wide.split())  # no word split, none lost
    nb, wb = blocks(narrow), blocks(wide)
    assert len(nb) == len(wb) == 10 and [normalized(b) for b in nb] == [normalized(b) for b in wb]
    assert all(len(b) == 3 for b in wb[:-1])  # wide: the first line, where and why it failed, the reply
    assert max(len(b) for b in nb) > 3  # narrow: the same words on more lines
    doc = json.loads(text(*files, "--json").stdout)["messages"]
    said = {}
    for b in nb:
        head = normalized(b).split(" failed at ")[0].split()  # Nov 22 11:00:00 mx1 QUEUEID <sender> -> <recipient>
        said[(head[4], head[-1])] = normalized(b)
    for m in doc:
        for x in m["recipients"]:
            if not x.get("category"):
                continue
            block = said[(m["chain"][0]["queue_id"], f"<{x['recipient']}>")]
            sender = f"<{m['sender']}>" if m["sender"] is not None else "?"
            assert f"{sender} -> <{x['recipient']}>" in block or f"{sender} <{x['recipient']}>" in block
            assert f"failed at {x['host']}:{x['queue_id']}" in block and f" {x['category']}/{x['class']}" in block
            assert x["dsn"] is None or f" {x['dsn']} " in block
            ndr = x.get("ndr")
            if x["verdict"] in ("bounced", "expired"):
                want = "NDR none sent" if ndr is None else f"NDR {ndr['queue_id']} " + {True: "delivered", False: "FAILED"}.get(
                    ndr["delivered"], "outcome unknown")
                assert want in block, block
            else:
                assert "NDR" not in block
            reply = " ".join((x["reply"] or x["summary"]).split())
            assert reply in block if len(reply) <= 400 else block.endswith(" …") and reply[:300] in block
    gmail = said[("EEEE55555", "<nosuchuser@example.com>")]
    assert "https://support.google.com/mail/?p=NoSuchUser" in gmail.split()


EVIL = ("[bold red]PWNED[/] [link=https://evil.example/x]click[/link] \x1b]8;;https://evil.example\x1b\\osc8\x1b]8;;\x1b\\ "
        "\x1b[31mred\x1b[0m \u202eexe.txt\u202c back\x08\x08\x08 over\rwrite\ttab 全角の返信テキストです")
RAW_CONTROL = ["\x1b", "\u202e", "\u202c", "\x08", "\r", "\t"]


def test_hostile_text_in_the_text_form_is_inert_and_fits(tmp_path):
    """Log text (sender, recipient, reply, host) never reaches the terminal as escapes or rich markup,
    in cron mail or on a colour terminal; wide characters count two columns."""
    from rich.cells import cell_len

    qid = "4F8B23C0F2"
    log = tmp_path / "evil.log"
    log.write_text(
        f"Nov 22 06:25:14 mx1 postfix/smtpd[1]: {qid}: client=evil[192.0.2.1]\n"
        f"Nov 22 06:25:14 mx1 postfix/qmgr[4]: {qid}: from=<@s{EVIL}@example.net>, size=10, nrcpt=1 (queue active)\n"
        f"Nov 22 06:25:15 mx1 postfix/smtp[3]: {qid}: to=<-r{EVIL}@example.com>, relay=x.example[192.0.2.2]:25, delay=1, "
        f"delays=0/0/0/1, dsn=5.7.1, status=bounced (host x.example[192.0.2.2] said: 550 5.7.1 {EVIL} (in reply to RCPT TO command))\n"
        f"Nov 22 06:25:15 mx1 postfix/qmgr[4]: {qid}: removed\n", encoding="utf-8")
    for by in ("reason", "sender"):  # --by sender: the sender is the group's heading too
        plain = text(str(log), "--by", by, columns=80).stdout
        colour = text(str(log), "--by", by, columns=80, FORCE_COLOR="1", NO_COLOR="", TERM="xterm-256color").stdout
        assert "\x1b[" in colour and re.sub(r"\x1b\[[0-9;]*m", "", colour) == plain  # rich's own SGR codes only
        for c in RAW_CONTROL:
            assert c not in plain, f"raw {c!r} reached the output"
        assert "\x1b]8;" not in colour  # no hyperlink, neither from the log's OSC 8 nor from [link=…]
        assert plain.count("[bold red]PWNED[/]") >= (3 if by == "reason" else 4)  # literally, not as markup
        assert "\\x1b]8;;https://evil.example\\x1b" in plain and "\\u202e" in plain and "\\x0d" in plain and "\\x08" in plain
        assert all(cell_len(ln) <= 80 for ln in plain.splitlines()), plain
        (b,) = blocks(plain)
        assert normalized(b).startswith(f"Nov 22 06:25:14 mx1 {qid} <@s[bold red]PWNED[/]")
        assert "failed at mx1:4F8B23C0F2 5.7.1 bounced/" in normalized(b) and "NDR none sent" in normalized(b)


def test_readme_sample_is_what_the_command_prints_at_80_columns():
    readme = (REPO / "README.md").read_text()
    cmd = "$ logtrace bounces --tz UTC sample_logs/postfix/lab-mx1.log sample_logs/postfix/lab-mx2.log\n"
    sample = readme.split(cmd, 1)[1].split("\n…\n```", 1)[0].splitlines()
    r = subprocess.run([sys.executable, "-m", "logtrace", "bounces", "--tz", "UTC", *cmd.split()[5:]], capture_output=True,
                       text=True, cwd=REPO, env={**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}, timeout=120)
    assert len(sample) == 17 and r.stdout.splitlines()[: len(sample)] == sample

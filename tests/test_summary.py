"""``logtrace summary``: every section in table and JSON form, reason classes, de-duplication, hostile text.

The logs are small and hand-written from real Postfix line shapes (the rule samples in
``parsers/postfix.py``); ``--year 2024 --tz UTC`` pins the time axis.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from logtrace.reports import summary as lib
from logtrace.cli import app

PIN = ["--year", "2024", "--tz", "UTC"]
REPO = Path(__file__).resolve().parent.parent

BASIC = """\
Mar  4 09:00:00 mx postfix/smtpd[100]: connect from mail.example.net[192.0.2.10]
Mar  4 09:00:01 mx postfix/smtpd[100]: 4104E3D: client=mail.example.net[192.0.2.10]
Mar  4 09:00:01 mx postfix/cleanup[200]: 4104E3D: message-id=<a1@example.net>
Mar  4 09:00:01 mx postfix/qmgr[300]: 4104E3D: from=<Alice@Example.NET>, size=1000, nrcpt=2 (queue active)
Mar  4 09:00:05 mx postfix/smtpd[100]: disconnect from mail.example.net[192.0.2.10] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6
Mar  4 09:00:02 mx postfix/smtp[400]: 4104E3D: to=<bob@example.com>, relay=mx.example.com[198.51.100.5]:25, delay=1.5, delays=0.1/0.2/0.3/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F00A1)
Mar  4 09:00:02 mx postfix/smtp[400]: 4104E3D: to=<carol@example.org>, relay=mx.example.org[198.51.100.6]:25, delay=2, delays=0.1/0.2/0.7/1, dsn=4.2.0, status=deferred (host mx.example.org[198.51.100.6] said: 450 4.2.0 <carol@example.org>: Recipient address rejected: Greylisted (in reply to RCPT TO command))
Mar  4 10:10:02 mx postfix/smtp[401]: 4104E3D: to=<carol@example.org>, relay=mx.example.org[198.51.100.6]:25, delay=4201, delays=4200/0.2/0.3/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 77AB1)
Mar  4 10:10:02 mx postfix/qmgr[300]: 4104E3D: removed
Mar  4 10:20:00 mx postfix/pickup[500]: D2FAE20586: uid=0 from=<root>
Mar  4 10:20:00 mx postfix/cleanup[200]: D2FAE20586: message-id=<a2@mx.example.com>
Mar  4 10:20:00 mx postfix/qmgr[300]: D2FAE20586: from=<root@mx.example.com>, size=500, nrcpt=1 (queue active)
Mar  4 10:20:01 mx postfix/smtp[402]: D2FAE20586: to=<nobody@example.net>, relay=mail.example.net[192.0.2.10]:25, delay=0.4, delays=0.1/0/0.1/0.2, dsn=5.1.1, status=bounced (host mail.example.net[192.0.2.10] said: 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
Mar  4 10:20:01 mx postfix/bounce[600]: D2FAE20586: sender non-delivery notification: ADD2F8052
Mar  4 10:20:01 mx postfix/qmgr[300]: D2FAE20586: removed
Mar  5 11:00:00 mx postfix/smtpd[101]: NOQUEUE: reject: RCPT from unknown[203.0.113.7]: 554 5.7.1 <x@example.org>: Relay access denied; from=<spam@example.biz> to=<x@example.org> proto=ESMTP helo=<spam>
Mar  5 11:00:01 mx postfix/smtpd[101]: NOQUEUE: reject: RCPT from unknown[203.0.113.7]: 554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org; from=<spam@example.biz> to=<y@example.com> proto=ESMTP helo=<spam>
Mar  5 11:00:02 mx postfix/smtpd[101]: NOQUEUE: reject_warning: RCPT from unknown[203.0.113.8]: 450 4.1.8 <s@nx.example>: Sender address rejected: Domain not found; from=<s@nx.example> to=<y@example.com> proto=ESMTP helo=<h>
Mar  5 11:00:03 mx postfix/smtpd[101]: NOQUEUE: hold: RCPT from unknown[203.0.113.9]: <h@example.com>: Sender address triggers HOLD action; from=<h@example.com> to=<y@example.com> proto=ESMTP helo=<h>
Mar  5 11:00:04 mx postfix/smtpd[101]: NOQUEUE: discard: RCPT from unknown[203.0.113.9]: <d@example.com>: Sender address triggers DISCARD action; from=<d@example.com> to=<y@example.com> proto=ESMTP helo=<h>
Mar  5 11:00:05 mx postfix/cleanup[201]: 5E5E5E5: milter-reject: END-OF-MESSAGE from unknown[203.0.113.9]: 5.7.1 Blocked by SpamAssassin; from=<m@example.biz> to=<y@example.com> proto=ESMTP helo=<h>
Mar  5 11:00:06 mx postfix/smtpd[101]: warning: hostname nx.example does not resolve to address 203.0.113.8
Mar  5 11:00:07 mx postfix/qmgr[300]: fatal: root(0): message file too big
Mar  5 11:00:08 mx postfix/postscreen[700]: PASS NEW [192.0.2.44]:36051
Mar  5 11:00:09 mx postfix/postscreen[700]: DNSBL rank 3 for [203.0.113.50]:1038
Mar  5 11:00:10 mx postfix/postscreen[700]: PASS OLD [192.0.2.44]:36052
Mar  5 11:00:11 mx postfix/smtp[403]: 0DEAD01: to=<orphan@example.com>, relay=mx.example.com[198.51.100.5]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)
"""

# mx accepts from the internet, hands to amavis on 127.0.0.1:10024, which re-injects on :10025.
REINJECT = """\
Mar  4 12:00:00 mx postfix/smtpd[10]: 34B3F4317: client=xmx2.example.net[192.0.2.20]
Mar  4 12:00:00 mx postfix/qmgr[30]: 34B3F4317: from=<sender@example.net>, size=3326, nrcpt=1 (queue active)
Mar  4 12:00:07 mx postfix/smtpd[11]: 8B22B43C3: client=localhost[127.0.0.1]
Mar  4 12:00:07 mx postfix/qmgr[30]: 8B22B43C3: from=<sender@example.net>, size=5800, nrcpt=1 (queue active)
Mar  4 12:00:07 mx postfix/smtp[40]: 34B3F4317: to=<rcpt@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=7, delays=0.1/0/0.1/6.8, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 8B22B43C3)
Mar  4 12:00:07 mx postfix/qmgr[30]: 34B3F4317: removed
Mar  4 12:00:08 mx postfix/virtual[50]: 8B22B43C3: to=<rcpt@example.com>, relay=virtual, delay=0.5, delays=0.4/0/0/0.1, dsn=2.0.0, status=sent (delivered to maildir)
Mar  4 12:00:08 mx postfix/qmgr[30]: 8B22B43C3: removed
"""

HOSTILE = """\
Mar  4 09:00:01 mx postfix/smtpd[100]: 4104E3D: client=evil.example[192.0.2.66]
Mar  4 09:00:01 mx postfix/qmgr[300]: 4104E3D: from=<[bold red]boom@example.net>, size=10, nrcpt=2 (queue active)
Mar  4 09:00:02 mx postfix/smtp[400]: 4104E3D: to=<=cmd()@example.com>, relay=mx.example.com[198.51.100.5]:25, delay=1, dsn=2.0.0, status=sent (250 ok)
Mar  4 09:00:02 mx postfix/smtp[400]: 4104E3D: to=<x@example.com>, relay=mx.example.com[198.51.100.5]:25, delay=1, dsn=5.0.0, status=bounced (host mx.example.com[198.51.100.5] said: 550 \x1b[31mred\x1b[0m | pipe [link](http://x) (in reply to end of DATA command))
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200"}).invoke(app, ["summary", *args])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def doc_for(path: str, *extra: str) -> dict:
    code, out, err = run(path, "--format", "json", *PIN, *extra)
    assert code == 0, err
    assert err == ""
    return json.loads(out)


@pytest.fixture
def basic(tmp_path: Path) -> str:
    return write(tmp_path, "basic.log", BASIC)


# ---------------------------------------------------------------- JSON


def test_json_totals_follow_pflogsumm_counting_rules(basic: str) -> None:
    d = doc_for(basic, "--smtpd-stats")
    assert d["schema"] == "logtrace.summary/2"
    assert d["totals"] == {
        "received": 2, "delivered": 3, "forwarded": 0, "deferred": 1, "deferrals": 1, "bounced": 1,
        # smtpd rejects (2) + cleanup milter-reject (1); rejected% = 3 / (3 delivered + 3 + 1 discarded)
        "rejected": 3, "rejected_pct": 42, "reject_warnings": 1, "held": 1, "discarded": 1, "discarded_pct": 14,
        # the orphan delivery (no qmgr size line) adds 0 bytes
        "bytes_received": 1500, "bytes_delivered": 2000, "senders": 2, "sending_hosts": 2,
        "recipients": 3, "recipient_hosts": 2,
    }
    assert list(d["totals"]) == list(lib.TOTAL_KEYS)


def test_json_has_every_section_and_line_accounting(basic: str) -> None:
    d = doc_for(basic, "--smtpd-stats")
    s = d["sections"]
    assert set(s) >= {"per_day", "per_hour", "delivery_by_domain", "delivery_by_relay", "reception_by_domain",
                      "reception_by_client", "senders_by_count", "senders_by_size", "recipients_by_count",
                      "recipients_by_size", "delays", "deferral_reasons", "deferral_hosts", "bounce_reasons",
                      "bounce_hosts", "reject_actions", "reject_reasons", "reject_hosts", "warnings", "no_size",
                      "postscreen", "smtpd_hosts"}
    assert s["per_day"] == [
        {"day": "2024-03-04", "received": 2, "delivered": 2, "deferrals": 1, "bounced": 1, "rejected": 0},
        {"day": "2024-03-05", "received": 0, "delivered": 1, "deferrals": 0, "bounced": 0, "rejected": 3},
    ]
    assert len(s["per_hour"]) == 24 and s["per_hour"][9]["received"] == 1 and s["per_hour"][11]["rejected"] == 3
    by_dom = {r["domain"]: r for r in s["delivery_by_domain"]}
    assert by_dom["example.org"] == {"domain": "example.org", "sent": 1, "bytes": 1000, "deferrals": 1,
                                     "avg_delay_s": 4201.0, "max_delay_s": 4201.0}
    assert s["senders_by_count"][0] == {"sender": "Alice@example.net", "count": 1, "bytes": 1000}
    assert {r["sender"] for r in s["senders_by_size"]} == {"Alice@example.net", "root@mx.example.com"}
    assert s["recipients_by_size"][0]["bytes"] == 1000
    delays = {r["part"]: r for r in s["delays"]}
    assert delays["delay"]["count"] == 3 and delays["delay"]["max"] == 4201.0
    assert delays["before_qmgr"]["max"] == 4200.0 and delays["transmission"]["p50"] == 0.5  # 0.9, 0.5, 0.5
    assert s["deferral_reasons"][0]["class"] == "greylisting" and s["deferral_reasons"][0]["code"] == "4.2.0"
    assert s["bounce_reasons"][0]["class"] == "mailbox_unknown"
    assert s["bounce_hosts"] == [{"class": "mailbox_unknown", "peer": "example.net", "count": 1}]  # pflogsumm gimme_domain
    classes = {r["class"] for r in s["reject_reasons"]}
    assert {"relay_denied", "policy_spam", "sender_rejected"} <= classes
    assert {r["action"]: r["count"] for r in s["reject_actions"]} == {"discard": 1, "hold": 1, "reject": 3, "reject_warning": 1}
    assert {(r["severity"], r["count"]) for r in s["warnings"]} == {("warning", 1), ("fatal", 1)}
    assert s["no_size"] == [{"queue_id": "0DEAD01", "recipient": "orphan@example.com", "host": "mx"}]
    assert {r["action"]: r["count"] for r in s["postscreen"]} == {"PASS NEW": 1, "PASS OLD": 1, "DNSBL": 1}
    assert d["smtpd"] == {"connections": 1, "hosts": 1, "total_connect_s": 5, "avg_connect_s": 5.0}
    assert s["smtpd_hosts"] == [{"client": "example.net", "connections": 1, "total_s": 5, "max_s": 5}]
    assert d["counts"] == {"warnings": 1, "fatal": 1, "panic": 0, "no_size": 1}
    assert d["accounting"]["unrecognized"] == 0 and d["accounting"]["parsed"] == BASIC.count("\n")
    assert d["period"]["timezone"] == "UTC" and d["period"]["first"].startswith("2024-03-04T09:00:00")


def test_top_limits_the_top_n_tables(basic: str) -> None:
    d = doc_for(basic, "--top", "1")
    assert len(d["sections"]["recipients_by_count"]) == 1
    assert len(d["sections"]["senders_by_size"]) == 1


def test_since_and_until_filter_events(basic: str) -> None:
    d = doc_for(basic, "--since", "2024-03-05T00:00:00", "--until", "2024-03-05T11:00:03")
    t = d["totals"]
    assert (t["received"], t["delivered"], t["rejected"], t["reject_warnings"], t["held"]) == (0, 0, 2, 1, 0)
    assert d["period"]["since"].startswith("2024-03-05T00:00:00")


def test_parse_time_spec_accepts_iso_relative_and_day_names() -> None:
    now = datetime(2024, 3, 5, 15, 30, tzinfo=timezone.utc)
    assert lib.parse_time_spec("2h ago", now=now) == datetime(2024, 3, 5, 13, 30, tzinfo=timezone.utc)
    assert lib.parse_time_spec("today", tz="UTC", now=now) == datetime(2024, 3, 5, tzinfo=timezone.utc)
    assert lib.parse_time_spec("yesterday", tz="UTC", now=now) == datetime(2024, 3, 4, tzinfo=timezone.utc)
    assert lib.parse_time_spec("2024-03-01T08:00", tz="UTC") == datetime(2024, 3, 1, 8, tzinfo=timezone.utc)
    assert lib.parse_time_spec("2024-03-01T08:00+02:00").utcoffset().total_seconds() == 7200
    with pytest.raises(ValueError):
        lib.parse_time_spec("last tuesday")


def test_bad_since_is_a_usage_error(basic: str) -> None:
    code, out, err = run(basic, "--since", "whenever")
    assert code == 2 and out == ""


def test_csv_without_output_dir_is_a_usage_error(basic: str) -> None:
    code, out, _ = run(basic, "--format", "csv")
    assert code == 2 and out == ""


def test_missing_file_exits_2_with_error_on_stderr(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "nope.log"), "--format", "json")
    assert code == 2 and "error" in err


# ---------------------------------------------------------------- table / markdown / csv


def test_table_shows_every_section_with_bars_and_accounting_on_stderr(basic: str) -> None:
    code, out, err = run(basic, *PIN, "--smtpd-stats")
    assert code == 0
    from logtrace.cli.render_summary import TITLES

    flat = " ".join(out.split())  # titles wrap to their table's width
    for name, title in TITLES.items():
        if not name.startswith(("exchange_", "last_mile_", "exim_")):  # only for logs of those kinds
            assert title in flat, title
    assert "Grand totals" in out and "De-duplicated" in out and "messages_received_unique" in out
    assert "█" in out  # bar chart
    assert "smtpd: 1 connections" in out
    assert "lines:" in err and "lines:" not in out


def test_problems_first_moves_problem_sections_up(basic: str) -> None:
    _, out, _ = run(basic, *PIN, "--problems-first")
    assert out.index("Deferrals by reason") < out.index("Per-day traffic")
    _, out, _ = run(basic, *PIN)
    assert out.index("Deferrals by reason") > out.index("Per-day traffic")


def test_markdown_has_every_section(basic: str) -> None:
    code, out, _ = run(basic, *PIN, "--format", "markdown")
    assert code == 0
    assert "## Grand totals" in out and "## Per-day traffic" in out and "## Line accounting" in out
    assert "| received | 2 |" in out


def test_csv_writes_one_file_per_section(basic: str, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    code, stdout, _ = run(basic, *PIN, "--format", "csv", "-o", str(out))
    assert code == 0 and stdout == ""
    names = {p.stem for p in out.glob("*.csv")}
    assert {"totals", "unique", "counts", "per_day", "per_hour", "deferral_reasons", "accounting", "no_size"} <= names
    rows = dict(csv.reader((out / "totals.csv").open()))
    assert rows["received"] == "2" and rows["delivered"] == "3"


# ---------------------------------------------------------------- de-duplication


def test_content_filter_reinjection_counts_twice_for_pflogsumm_and_once_unique(tmp_path: Path) -> None:
    d = doc_for(write(tmp_path, "reinject.log", REINJECT))
    t, u = d["totals"], d["unique"]
    assert (t["received"], t["delivered"], t["bytes_received"], t["bytes_delivered"]) == (2, 2, 3326 + 5800, 3326 + 5800)
    assert u["messages_received_unique"] == 1
    assert u["recipients_delivered_unique"] == 1
    assert u["bytes_received_unique"] == 3326
    assert u["bytes_delivered_unique"] == 5800
    assert (u["content_filter_reinjections"], u["host_handoffs"]) == (1, 0)
    assert "FAQ" in u["note"]


def test_unique_bytes_stay_exact_when_hand_off_sizes_pass_32_bits(tmp_path: Path) -> None:
    # the fold keeps hand-off rows with 32-bit positions and sizes where they fit (state.narrow_ints);
    # sums over them must not wrap: three 1.5 GB re-injected messages are 4.5 GB
    big = 1_500_000_000
    text = "".join(
        f"Mar  4 12:0{i}:00 mx postfix/smtpd[10]: 1111{i}A: client=ext.example.net[192.0.2.20]\n"
        f"Mar  4 12:0{i}:00 mx postfix/qmgr[30]: 1111{i}A: from=<s@example.net>, size={big}, nrcpt=1 (queue active)\n"
        f"Mar  4 12:0{i}:07 mx postfix/smtpd[11]: 2222{i}B: client=localhost[127.0.0.1]\n"
        f"Mar  4 12:0{i}:07 mx postfix/qmgr[30]: 2222{i}B: from=<s@example.net>, size={big + 10}, nrcpt=1 (queue active)\n"
        f"Mar  4 12:0{i}:07 mx postfix/smtp[40]: 1111{i}A: to=<r@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=7, "
        f"dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 2222{i}B)\n"
        f"Mar  4 12:0{i}:08 mx postfix/local[50]: 2222{i}B: to=<r@example.org>, relay=local, delay=1, dsn=2.0.0, "
        f"status=sent (delivered to mailbox)\n"
        for i in range(3))
    d = doc_for(write(tmp_path, "big.log", text))
    t, u = d["totals"], d["unique"]
    assert t["bytes_received"] == 3 * big + 3 * (big + 10)
    assert t["bytes_delivered"] == 3 * big + 3 * (big + 10)
    assert u["messages_received_unique"] == 3 and u["content_filter_reinjections"] == 3
    assert u["bytes_received_unique"] == 3 * big
    assert u["bytes_delivered_unique"] == 3 * (big + 10)


def test_handoff_between_two_input_hosts_is_one_message(tmp_path: Path) -> None:
    a = write(tmp_path, "relay.log", (
        "Mar  4 12:00:00 relay1 postfix/smtpd[1]: AAAA1: client=ws.example.com[10.0.0.5]\n"
        "Mar  4 12:00:00 relay1 postfix/qmgr[2]: AAAA1: from=<u@example.com>, size=100, nrcpt=1 (queue active)\n"
        "Mar  4 12:00:01 relay1 postfix/smtp[3]: AAAA1: to=<v@example.org>, relay=mx1.example.org[10.0.0.9]:25, delay=1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBBB2)\n"))
    b = write(tmp_path, "mx1.log", (
        "Mar  4 12:00:01 mx1 postfix/smtpd[1]: BBBB2: client=relay1.example.com[10.0.0.1]\n"
        "Mar  4 12:00:01 mx1 postfix/qmgr[2]: BBBB2: from=<u@example.com>, size=900, nrcpt=1 (queue active)\n"
        "Mar  4 12:00:02 mx1 postfix/virtual[3]: BBBB2: to=<v@example.org>, relay=virtual, delay=1, dsn=2.0.0, status=sent (delivered to maildir)\n"))
    code, out, err = run(a, b, "--format", "json", *PIN)
    assert code == 0, err
    d = json.loads(out)
    assert d["totals"]["received"] == 2 and d["unique"]["messages_received_unique"] == 1
    assert (d["unique"]["host_handoffs"], d["unique"]["content_filter_reinjections"]) == (1, 0)


# ---------------------------------------------------------------- reason classes

REASONS = [
    ("5.1.1", "host x[1.2.3.4] said: 550 5.1.1 <a@b>: Recipient address rejected: User unknown", "mailbox_unknown"),
    (None, "550 <a@b>: User unknown in local recipient table", "mailbox_unknown"),
    ("5.2.2", "host x said: 552 5.2.2 Mailbox full", "mailbox_full"),
    ("4.2.2", "452 4.2.2 The email account that you tried to reach is over quota", "mailbox_full"),
    ("5.7.1", "554 5.7.1 Service unavailable; Client host [1.2.3.4] blocked using zen.spamhaus.org", "policy_spam"),
    ("5.7.1", "550 5.7.1 Message rejected as spam", "policy_spam"),
    (None, "554 5.7.1 <x@example.org>: Relay access denied", "relay_denied"),
    ("5.0.0", "host x said: 550 Relaying not allowed", "relay_denied"),
    ("5.1.2", "Host or domain name not found. Name service error for name=nx.example type=MX", "dns_failure"),
    ("4.4.3", "Host or domain name not found", "dns_failure"),
    ("4.4.1", "connect to mx.example.com[192.0.2.1]:25: Connection timed out", "connection_failure"),
    ("4.4.1", "connect to mx.example.com[192.0.2.1]:25: Connection refused", "connection_failure"),
    ("4.7.5", "Cannot start TLS: handshake failure", "tls_failure"),
    ("4.2.0", "450 4.2.0 <a@b>: Recipient address rejected: Greylisted, see http://postgrey/", "greylisting"),
    ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", "message_too_large"),
    ("5.2.3", "552 5.2.3 message too large", "message_too_large"),
    (None, "450 4.1.8 <s@nx.example>: Sender address rejected: Domain not found", "sender_rejected"),
    ("5.1.8", "553 5.1.8 bad sender", "sender_rejected"),
    ("4.0.0", "Could not load DRD for domain", "other"),
    (None, None, "other"),
]


@pytest.mark.parametrize(("dsn", "text", "expected"), REASONS)
def test_classify_reason(dsn: str | None, text: str | None, expected: str) -> None:
    df = pl.DataFrame({"dsn": [dsn], "reply_text": [text]}, schema={"dsn": pl.String, "reply_text": pl.String})
    got = df.select(lib.classify_reason(pl.col("dsn"), pl.col("reply_text"))).item()
    assert got == expected
    assert got in lib.REASON_CLASSES


def test_classify_reason_is_one_vectorized_expression() -> None:
    df = pl.DataFrame({"dsn": [d for d, _, _ in REASONS], "reply_text": [t for _, t, _ in REASONS]},
                      schema={"dsn": pl.String, "reply_text": pl.String})
    got = df.select(c=lib.classify_reason(pl.col("dsn"), pl.col("reply_text")))["c"].to_list()
    assert got == [e for _, _, e in REASONS]


def test_gimme_domain_matches_pflogsumm() -> None:
    df = pl.DataFrame({"h": ["mail.sub.example.com", "unknown", "mx.example.co.uk", "mail.example.de", None],
                       "ip": ["1.1.1.1", "192.0.2.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]})
    got = df.select(d=lib.gimme_domain(pl.col("h"), pl.col("ip")))["d"].to_list()
    assert got == ["example.com", "192.0.2.1", "example.co.uk", "mail.example.de", "4.4.4.4"]


# ---------------------------------------------------------------- hostile text


def test_hostile_text_is_inert_in_table_json_markdown_and_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "hostile.log", HOSTILE)
    code, out, _ = run(path, *PIN, "--top", "5")
    assert code == 0
    assert "\x1b" not in out
    assert "[bold red]boom@example.net" in out  # markup shown literally, not interpreted
    assert "\\x1b[31mred" in out
    d = doc_for(path)
    assert d["sections"]["senders_by_count"][0]["sender"] == "[bold red]boom@example.net"
    code, md, _ = run(path, *PIN, "--format", "markdown")
    assert "\x1b" not in md and "\\|" in md and "[bold red]" in md
    outdir = tmp_path / "csv"
    run(path, *PIN, "--format", "csv", "-o", str(outdir))
    rcpt = (outdir / "recipients_by_count.csv").read_text()
    assert "'=cmd()@example.com" in rcpt
    assert "\n=cmd()" not in rcpt


def test_rendering_through_subprocess_with_no_color(basic: str) -> None:
    r = subprocess.run([sys.executable, "-m", "logtrace", "summary", basic, "--format", "json", *PIN],
                       capture_output=True, text=True, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"}, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["totals"]["received"] == 2


def test_where_filters_events_when_query_module_exists(basic: str) -> None:
    d = doc_for(basic, "--where", 'kind = "reject"')
    assert d["totals"]["rejected"] == 3 and d["totals"]["received"] == 0  # 2 smtpd + 1 cleanup milter-reject


def test_summary_library_does_not_import_rich() -> None:
    r = subprocess.run([sys.executable, "-c", "import logtrace.reports.summary, sys; assert 'rich' not in sys.modules and 'typer' not in sys.modules"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_mixed_postfix_and_exim_input_reports_both_grand_totals_each_by_its_own_rules(tmp_path):
    """A central file (Postfix and Exim lines in one syslog file): pflogsumm's totals over the
    Postfix part equal those of the Postfix log alone, eximstats' over the Exim part those of
    the Exim log alone; the de-duplicated view covers both."""
    from logtrace.parsing.protocol import ParseOptions
    from logtrace.reports.summary import summarize

    opts = ParseOptions(year=2026, tz="UTC")
    pf = REPO / "sample_logs/postfix/relay-to-exim.log"
    ex = REPO / "sample_logs/exim/delivered-relay-confirmation.log"
    wrapped = [f"Jun 20 00:{ln[14:19]} mx3 exim[4242]: {ln[20:]}" for ln in ex.read_text().splitlines() if ln[:4].isdigit()]
    central = tmp_path / "mail.log"
    central.write_text(pf.read_text() + "\n".join(wrapped) + "\n")
    s_pf, s_ex, s_mix = (summarize([str(p)], options=opts) for p in (pf, ex, central))
    assert s_pf.counting == "pflogsumm" and not s_pf.totals_eximstats
    assert s_ex.counting == "eximstats" and not s_ex.totals_eximstats
    assert s_mix.totals == s_pf.totals
    assert s_mix.totals_eximstats == s_ex.totals
    assert s_mix.unique["messages_received_unique"] >= s_pf.unique["messages_received_unique"]
    from logtrace.reports.document import to_document

    doc = to_document(s_mix)
    assert doc["totals_eximstats"] == s_ex.totals and "totals_eximstats" in doc["counting"]["note"]


def test_exim_rejects_written_twice_to_syslog_count_once(tmp_path):
    """syslog_duplication (Exim's default): a reject goes to syslog as the main-log line and as the
    reject-log entry (split at its newlines when it carries headers); eximstats' totals count it once."""
    from logtrace.parsing.protocol import ParseOptions
    from logtrace.reports.summary import summarize

    rcpt = ("2026-11-22 06:25:16 [2204] H=spam.example.net [203.0.113.66] F=<spam@example.net> "
            "rejected RCPT <bob@example.com>: relay not permitted")
    data = ("2026-11-22 06:25:17 [2205] 1wBcDg-000AbE-56 H=spam.example.net [203.0.113.66] F=<spam@example.net> "
            "rejected after DATA: message rejected as spam")
    lines = [f"Nov 22 06:25:16 mx3 exim[2204]: {rcpt}", f"Nov 22 06:25:16 mx3 exim[2204]: {rcpt}",
             f"Nov 22 06:25:17 mx3 exim[2205]: {data}", f"Nov 22 06:25:17 mx3 exim[2205]: [1\\3] {data}",
             "Nov 22 06:25:17 mx3 exim[2205]: [2\\3] Envelope-from: <spam@example.net>",
             "Nov 22 06:25:17 mx3 exim[2205]: [3/3] Envelope-to: <bob@example.com>"]
    p = tmp_path / "mail.log"
    p.write_text("\n".join(lines) + "\n")
    s = summarize([str(p)], options=ParseOptions(year=2026, tz="UTC"))
    assert s.counting == "eximstats"
    assert s.totals["rejected"] == 2 and s.totals["rejected_hosts"] == 1

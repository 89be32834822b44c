"""Times for people (issue 15): follow's timeline and sentences, bounces' table and the summary's
header and per-day/per-hour tables show times in the log's zone (``--tz``, per host with
``--tz HOST=ZONE``, else the machine's), with the zone named; ``--utc`` shows UTC. Machine outputs
(JSON, CSV) stay ISO 8601 in UTC, exactly as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB1 = str(REPO / "sample_logs" / "postfix" / "lab-mx1.log")  # stamps 19:42 local; mx1's 3AC2E20C2AE relayed
QID = "3AC2E20C2AE"


def run(*args: str, tz: str = "UTC") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TZ": tz, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "logtrace", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)


def test_follow_in_the_machines_zone_berlin():
    r = run("follow", QID, LAB1, "--year", "2026", tz="Europe/Berlin")
    assert r.returncode == 0, r.stderr
    assert "time (Europe/Berlin)" in r.stdout
    assert "Nov 22 19:42:01" in r.stdout and "18:42" not in r.stdout
    assert "relayed to 127.0.0.1:34585 at 2026-11-22 19:42:01 CET" in r.stdout


def test_follow_tz_option_wins_over_the_machines_zone():
    r = run("follow", QID, LAB1, "--year", "2026", "--tz", "Europe/Berlin", tz="UTC")
    assert r.returncode == 0, r.stderr
    assert "time (Europe/Berlin)" in r.stdout and "Nov 22 19:42:01" in r.stdout
    assert "at 2026-11-22 19:42:01 CET" in r.stdout


def test_follow_utc():
    r = run("follow", QID, LAB1, "--year", "2026", "--utc", tz="Europe/Berlin")
    assert r.returncode == 0, r.stderr
    assert "time (UTC)" in r.stdout and "Nov 22 18:42:01" in r.stdout and "19:42" not in r.stdout
    assert "at 2026-11-22 18:42:01 UTC" in r.stdout


def test_follow_json_unchanged_by_zone_and_utc():
    berlin = run("follow", QID, LAB1, "--year", "2026", "--json", tz="Europe/Berlin")
    utc = run("follow", QID, LAB1, "--year", "2026", "--json", "--utc", tz="Europe/Berlin")
    pinned = run("follow", QID, LAB1, "--year", "2026", "--json", "--tz", "Europe/Berlin", tz="UTC")
    assert berlin.returncode == 0, berlin.stderr
    assert berlin.stdout == utc.stdout == pinned.stdout
    doc = json.loads(berlin.stdout)
    text = berlin.stdout
    assert "2026-11-22T18:42:01" in text and "+00:00" in text and "19:42" not in text
    # the sentences in JSON stay as before: UTC, no label
    summaries = [r["summary"] for m in doc["messages"] for r in m["recipients"]]
    assert any("at 2026-11-22 18:42:01:" in s for s in summaries), summaries


CENTRAL = (  # mx1 logs in Berlin time, mx2 in UTC: the same instant is 10:00 on mx1 and 09:00 on mx2
    "Nov 22 10:00:00 mx1 postfix/smtpd[1]: AAAA11111: client=a[192.0.2.1]\n"
    "Nov 22 10:00:00 mx1 postfix/cleanup[5]: AAAA11111: message-id=<m1@example.org>\n"
    "Nov 22 10:00:00 mx1 postfix/qmgr[2]: AAAA11111: from=<s@example.org>, size=100, nrcpt=1 (queue active)\n"
    "Nov 22 10:00:01 mx1 postfix/smtp[3]: AAAA11111: to=<x@example.net>, relay=mx2[192.0.2.9]:25, delay=1, "
    "delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBBB22222)\n"
    "Nov 22 10:00:01 mx1 postfix/qmgr[2]: AAAA11111: removed\n"
    "Nov 22 09:00:01 mx2 postfix/smtpd[1]: BBBB22222: client=mx1[192.0.2.8]\n"
    "Nov 22 09:00:01 mx2 postfix/cleanup[5]: BBBB22222: message-id=<m1@example.org>\n"
    "Nov 22 09:00:01 mx2 postfix/qmgr[2]: BBBB22222: from=<s@example.org>, size=100, nrcpt=1 (queue active)\n"
    "Nov 22 09:00:02 mx2 postfix/local[3]: BBBB22222: to=<x@example.net>, relay=local, delay=1, delays=0/0/0/1, "
    "dsn=2.0.0, status=sent (delivered to mailbox)\n"
    "Nov 22 09:00:02 mx2 postfix/qmgr[2]: BBBB22222: removed\n")


def test_follow_host_zone_labels_each_time(tmp_path: Path):
    p = tmp_path / "central.log"
    p.write_text(CENTRAL)
    r = run("follow", "AAAA11111", str(p), "--year", "2026", "--tz", "UTC", "--tz", "mx1=Europe/Berlin")
    assert r.returncode == 0, r.stderr
    assert "Nov 22 10:00:01 CET" in r.stdout and "Nov 22 09:00:02 UTC" in r.stdout  # each host in its own zone
    assert "delivered at 2026-11-22 09:00:02 UTC by local on mx2" in r.stdout
    u = run("follow", "AAAA11111", str(p), "--year", "2026", "--tz", "UTC", "--tz", "mx1=Europe/Berlin", "--utc")
    assert "time (UTC)" in u.stdout and "Nov 22 09:00:01" in u.stdout and "10:00" not in u.stdout


def test_follow_host_zone_alone_names_that_zone(tmp_path: Path):
    r = run("follow", QID, LAB1, "--year", "2026", "--tz", "mx1=Europe/Berlin", tz="UTC")
    assert r.returncode == 0, r.stderr
    assert "time (Europe/Berlin)" in r.stdout and "Nov 22 19:42:01" in r.stdout
    assert "at 2026-11-22 19:42:01 CET" in r.stdout


def _hour_row(out: str, hour: int) -> list[str]:
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if cells and cells[0] == str(hour) and len(cells) > 2:
            return cells
    raise AssertionError(f"no per-hour row {hour}")


def test_summary_header_and_per_hour_agree_in_berlin():
    r = run("summary", LAB1, "--year", "2026", tz="Europe/Berlin")
    assert r.returncode == 0, r.stderr
    assert "logtrace summary: 2026-11-22 19:42:00 CET → 2026-11-22 19:42:04 CET (Europe/Berlin)" in r.stdout
    assert "Per-hour traffic (totals over all days) in Europe/Berlin" in r.stdout
    assert "Per-day traffic in Europe/Berlin" in r.stdout
    assert _hour_row(r.stdout, 19)[1] == "8" and _hour_row(r.stdout, 18)[1] == "0"
    pinned = run("summary", LAB1, "--year", "2026", "--tz", "Europe/Berlin", tz="UTC")
    assert pinned.stdout == r.stdout


def test_summary_utc():
    r = run("summary", LAB1, "--year", "2026", "--utc", tz="Europe/Berlin")
    assert r.returncode == 0, r.stderr
    assert "logtrace summary: 2026-11-22 18:42:00 UTC → 2026-11-22 18:42:04 UTC (UTC)" in r.stdout
    assert _hour_row(r.stdout, 18)[1] == "8" and _hour_row(r.stdout, 19)[1] == "0"
    md = run("summary", LAB1, "--year", "2026", "--utc", "-f", "markdown", tz="Europe/Berlin")
    assert "2026-11-22 18:42:00 UTC → 2026-11-22 18:42:04 UTC (UTC)" in md.stdout


def test_summary_json_unchanged_without_utc():
    berlin = run("summary", LAB1, "--year", "2026", "-f", "json", tz="Europe/Berlin")
    pinned = run("summary", LAB1, "--year", "2026", "-f", "json", "--tz", "Europe/Berlin", tz="UTC")
    assert berlin.returncode == 0, berlin.stderr
    assert berlin.stdout == pinned.stdout
    doc = json.loads(berlin.stdout)
    assert "18:42:00" in json.dumps(doc["period"]) and "19:42" not in json.dumps(doc["period"])


BOUNCE = (
    "Nov 22 10:00:00 mx1 postfix/smtpd[1]: AAAA11111: client=a[192.0.2.1]\n"
    "Nov 22 10:00:00 mx1 postfix/qmgr[2]: AAAA11111: from=<s@example.org>, size=100, nrcpt=1 (queue active)\n"
    "Nov 22 10:00:01 mx1 postfix/smtp[3]: AAAA11111: to=<x@example.net>, relay=mx.example.net[192.0.2.9]:25, delay=1, "
    "delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.9] said: 550 5.1.1 no such user)\n"
    "Nov 22 10:00:01 mx1 postfix/qmgr[2]: AAAA11111: removed\n")


def test_bounces_in_the_logs_zone_and_utc(tmp_path: Path):
    p = tmp_path / "b.log"
    p.write_text(BOUNCE)
    r = run("bounces", str(p), "--year", "2026", tz="Europe/Berlin")
    assert r.returncode == 4, r.stderr
    lines = r.stdout.splitlines()
    assert "accepted (Europe/Berlin)  host  queue id  <sender> -> <recipient>" in lines  # the group's key line
    assert "Nov 22 10:00:00  mx1  AAAA11111  <s@example.org> -> <x@example.net>" in lines
    u = run("bounces", str(p), "--year", "2026", "--utc", tz="Europe/Berlin").stdout.splitlines()
    assert "accepted (UTC)  host  queue id  <sender> -> <recipient>" in u
    assert "Nov 22 09:00:00  mx1  AAAA11111  <s@example.org> -> <x@example.net>" in u
    j1 = run("bounces", str(p), "--year", "2026", "--json", tz="Europe/Berlin")
    j2 = run("bounces", str(p), "--year", "2026", "--json", "--utc", "--tz", "Europe/Berlin")
    assert j1.stdout == j2.stdout and "T09:00:00" in j1.stdout and "10:00:0" not in j1.stdout
    c = run("bounces", str(p), "--year", "2026", "--csv", tz="Europe/Berlin")
    assert "2026-11-22T09:00:00+00:00" in c.stdout


def test_clock_labels_and_machine_default():
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from logtrace.trace.narrative import Clock, people_times, when

    ts = datetime(2026, 7, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert when(ts) == "2026-07-01 12:00:00"  # the library's default: UTC, no label (JSON sentences)
    with people_times(Clock(zone=ZoneInfo("Europe/Berlin"), name="Europe/Berlin", hosts={"mx2": ZoneInfo("America/Sao_Paulo")})):
        assert when(ts) == "2026-07-01 14:00:00 CEST"
        assert when(ts, "mx2") == "2026-07-01 09:00:00 -0300"  # a zone without an abbreviation: its offset
        assert when(None) == "?"
    assert when(ts) == "2026-07-01 12:00:00"


def test_summary_per_hour_counts_each_host_by_its_own_zone(tmp_path: Path):
    """--tz HOST=ZONE: mx1's lines (Berlin clock, 10:00 local = 09:00 UTC) fall in hour 10, mx2's
    (UTC clock) in hour 9, as each host's log shows them; header and titles name both zones."""
    p = tmp_path / "central.log"
    p.write_text(CENTRAL)
    r = run("summary", str(p), "--year", "2026", "--tz", "UTC", "--tz", "mx1=Europe/Berlin", tz="Asia/Tokyo")
    assert r.returncode == 0, r.stderr
    assert "(UTC (mx1: Europe/Berlin))" in r.stdout.splitlines()[0], r.stdout
    assert "Per-hour traffic (totals over all days) in UTC (mx1: Europe/Berlin)" in r.stdout
    assert _hour_row(r.stdout, 10)[1:3] == ["1", "1"] and _hour_row(r.stdout, 9)[1:3] == ["1", "1"]
    assert _hour_row(r.stdout, 8)[1] == "0" and _hour_row(r.stdout, 11)[1] == "0"
    # one zone for everything: --utc puts both hosts' lines in hour 9 (the same instants)
    u = run("summary", str(p), "--year", "2026", "--tz", "UTC", "--tz", "mx1=Europe/Berlin", "--utc", tz="Asia/Tokyo")
    assert _hour_row(u.stdout, 9)[1:3] == ["2", "2"] and _hour_row(u.stdout, 10)[1] == "0", u.stdout
    assert "mx1: Europe/Berlin" not in u.stdout
    j = json.loads(run("summary", str(p), "--year", "2026", "--tz", "UTC", "--tz", "mx1=Europe/Berlin", "-f", "json").stdout)
    hours = {row["hour"]: row["received"] for row in j["sections"]["per_hour"] if row["received"]}
    assert hours == {9: 1, 10: 1}, hours

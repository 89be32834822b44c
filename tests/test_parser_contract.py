"""The parser contract (logtrace/parsing/protocol.py) over every registered parser, the
program router over a central syslog file, and a third-party dialect installed through the
``logtrace.parsers`` entry point (an installed distribution's ``.dist-info`` on sys.path,
exactly what pip leaves behind) routed out of a file that also holds Postfix lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logtrace.parsing.protocol import Dialect, ParseOptions, dialect_problems
from logtrace.parsing.registry import Registry
from logtrace.parsing.rules import RuleParser, check_parser
from logtrace.parsing.scan import parse

REPO = Path(__file__).resolve().parent.parent
PLUGIN_DIR = REPO / "tests" / "plugin_dist"
OPTS = ParseOptions(year=2026, tz="UTC")
INFOS = Registry(include_plugins=False).available()


@pytest.mark.parametrize("info", INFOS, ids=[i.name for i in INFOS])
def test_every_registered_parser_satisfies_the_contract(info):
    cls = info.cls
    assert not dialect_problems(cls), dialect_problems(cls)
    assert isinstance(cls(OPTS), Dialect)
    assert check_parser(cls) == [], "fix these rules (logtrace parsers --check shows the same)"
    assert cls.rules, "every parser has a rule table with samples, Exchange included"
    for junk in ([], [""], ["\x00"], ["x" * 10000]):
        s = cls(OPTS).sniff(junk)
        assert 0.0 <= s <= 1.0


def test_names_and_aliases_are_unique_and_lowercase():
    seen: list[str] = []
    for i in INFOS:
        seen += [i.name, *i.cls.aliases]
    assert len(seen) == len(set(seen)), seen
    assert all(n == n.lower() for n in seen)


@pytest.mark.parametrize("info", [i for i in INFOS if issubclass(i.cls, RuleParser)], ids=lambda i: i.name)
def test_rule_dialects_claim_programs_and_never_raise_on_junk(info):
    from logtrace.parsing.protocol import FileContext

    d = info.cls(OPTS)
    ctx = FileContext("<junk>", None, OPTS)
    for line in ("", "\x00", "x" * 10000, "Nov 22 06:25:14 mx1 " + "a" * 5000 + ": b"):
        ev = d.parse_line(line, ctx, 1)
        assert ev.kind in ("other", "unparsed")


def _central_file(tmp_path: Path) -> Path:
    """Real lines: the Postfix relay-to-Exim sample and the Exim relay sample, the Exim lines
    written as Exim logs them to syslog (``exim[pid]:``, no stamp of its own), plus amavis,
    Dovecot and an unclaimed program."""
    pf = (REPO / "sample_logs/postfix/relay-to-exim.log").read_text().splitlines()
    ex = (REPO / "sample_logs/exim/delivered-relay-confirmation.log").read_text().splitlines()
    wrapped = [f"Jun 20 00:{ln[14:19]} mx3 exim[4242]: {ln[20:]}" for ln in ex if ln[:4].isdigit()]
    extra = ["Jun 20 00:13:17 mx3 amavis[2546]: (02546-20) Passed CLEAN {RelayedInbound}, [192.0.2.7]:58754",
             "Jun 20 00:13:18 mx3 dovecot: lmtp(bob@example.org)<19423><I861FWYuzl>: msgid=<abc@example.net>: saved mail to INBOX",
             "Jun 20 00:13:19 mx3 opendkim[77]: 1jmXgg: DKIM-Signature field added"]
    p = tmp_path / "mail.log"
    p.write_text("\n".join(pf + wrapped + extra) + "\n")
    return p


@pytest.mark.parametrize("engine", ["frame", "line"])
def test_postfix_and_exim_lines_in_one_syslog_file_are_both_parsed(tmp_path, engine):
    p = _central_file(tmp_path)
    res = parse([str(p)], options=OPTS, engine=engine)
    ev = res.events
    n_pf = sum(1 for ln in p.read_text().splitlines() if " postfix/" in ln)
    n_ex = sum(1 for ln in p.read_text().splitlines() if " exim[" in ln)
    assert ev.filter(ev["mta"] == "postfix").height == n_pf
    exim = ev.filter(ev["mta"] == "exim")
    assert exim.height == n_ex
    assert "unparsed" not in exim["kind"].to_list()
    assert "1jmXgg-000AIC-89" in set(exim["queue_id"].drop_nulls().to_list())
    assert exim.filter(exim["kind"] == "deliver").height >= 2
    assert set(ev.filter(ev["mta"] == "amavis")["kind"].to_list()) == {"other"}
    dove = ev.filter(ev["mta"] == "dovecot")  # Dovecot's delivery result: the mailbox hop (LMTP session ID)
    assert dove["kind"].to_list() == ["deliver"] and dove["queue_id"].to_list() == ["I861FWYuzl"]
    assert dove["detail"].to_list() == ["INBOX"] and dove["recipient"].to_list() == ["bob@example.org"]
    other = ev.filter(ev["rule"] == "other.program")
    assert other["program"].to_list() == ["opendkim"]


def test_both_engines_agree_on_the_central_file(tmp_path):
    from logtrace.events import canonical

    p = _central_file(tmp_path)
    rows = {}
    for engine in ("frame", "line"):
        df = parse([str(p)], options=OPTS, engine=engine).events
        rows[engine] = [canonical(r) for r in df.iter_rows(named=True)]
    assert rows["frame"] == rows["line"]


def test_mta_override_keeps_every_dialect_on_its_own_programs(tmp_path):
    p = _central_file(tmp_path)
    res = parse([str(p)], mta="exim", options=OPTS)
    assert res.events.filter(res.events["mta"] == "postfix").height > 0
    assert res.events.filter(res.events["mta"] == "exim").height > 0


def test_a_plugin_dialect_installed_by_entry_point_parses_its_program_out_of_a_syslog_file(tmp_path):
    log = tmp_path / "maillog"
    log.write_text(
        "Nov 22 06:25:14 mx1 postfix/smtpd[1]: connect from a.example.org[192.0.2.1]\n"
        "Nov 22 06:25:15 mx2 sm-mta[31]: 0AB1C2D3E4F5G6: from=<a@example.org>, size=1234, class=0, nrcpts=1, proto=ESMTP, relay=mx [192.0.2.1]\n"
        "Nov 22 06:25:16 mx1 postfix/qmgr[2]: 4F8B23C0F2: removed\n"
        "Nov 22 06:25:17 mx2 sm-mta[31]: 0AB1C2D3E4F5G6: to=<b@example.net>, delay=00:00:01, mailer=esmtp, stat=Sent (ok queued)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "logtrace", "parse", str(log), "--year", "2026", "--tz", "UTC"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["mta"] for x in rows] == ["postfix", "sendmail", "postfix", "sendmail"]
    assert rows[1]["rule"] == "sendmail-test.sm-mta.from" and rows[1]["sender"] == "a@example.org" and rows[1]["size"] == 1234
    assert rows[3]["kind"] == "deliver" and rows[3]["recipient"] == "b@example.net"
    listed = subprocess.run([sys.executable, "-m", "logtrace", "parsers", "--check"], capture_output=True, text=True, env=env,
                            cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "sendmail-test" in listed.stdout


def test_parse_accounting_says_which_dialect_read_what_in_a_central_file(tmp_path):
    p = _central_file(tmp_path)
    r = subprocess.run([sys.executable, "-m", "logtrace", "parse", str(p), "--year", "2026", "--tz", "UTC"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    n_pf = sum(1 for ln in p.read_text().splitlines() if " postfix/" in ln)
    n_ex = sum(1 for ln in p.read_text().splitlines() if " exim[" in ln)
    assert f"postfix {n_pf}" in line and f"exim {n_ex}" in line and "amavis 1" in line and "dovecot 1" in line, line
    assert "1 other programs/blank" in line and "0 unrecognized" in line, line


@pytest.mark.parametrize("engine", ["frame", "line"])
def test_tz_host_zone_applies_to_that_hosts_naive_stamps_only(tmp_path, engine):
    from datetime import datetime, timezone

    p = tmp_path / "central.log"
    p.write_text("Nov 22 06:25:14 mx1 postfix/qmgr[1]: 4F8B23C0F2: removed\n"
                 "Nov 22 06:25:14 mx2 postfix/qmgr[1]: 4F8B23C0F3: removed\n"
                 "2026-11-22T06:25:14 mx2 postfix/qmgr[1]: 4F8B23C0F4: removed\n"
                 "2026-11-22T06:25:14+00:00 mx2 postfix/qmgr[1]: 4F8B23C0F5: removed\n"
                 "Nov 22 06:25:15 mx3 exim[9]: 2026-11-22 06:25:15 1jmFYj-00039V-QX Completed\n")
    opts = ParseOptions(year=2026, tz="UTC", host_tz={"mx2": "Europe/Berlin", "mx3": "America/New_York"})
    ts = parse([str(p)], options=opts, engine=engine).events["ts"].to_list()
    utc = timezone.utc
    assert ts == [datetime(2026, 11, 22, 6, 25, 14, tzinfo=utc), datetime(2026, 11, 22, 5, 25, 14, tzinfo=utc),
                  datetime(2026, 11, 22, 5, 25, 14, tzinfo=utc), datetime(2026, 11, 22, 6, 25, 14, tzinfo=utc),
                  datetime(2026, 11, 22, 11, 25, 15, tzinfo=utc)]


def test_tz_option_takes_host_zones_and_refuses_bad_ones(tmp_path):
    p = tmp_path / "central.log"
    p.write_text("Nov 22 06:25:14 mx2 postfix/qmgr[1]: 4F8B23C0F3: removed\n")
    ok = subprocess.run([sys.executable, "-m", "logtrace", "parse", str(p), "--year", "2026", "--tz", "UTC",
                         "--tz", "mx2=Europe/Berlin"], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ts"] == "2026-11-22T05:25:14+00:00"
    for bad in ("mx2=", "mx2=Mars/Olympus"):
        r = subprocess.run([sys.executable, "-m", "logtrace", "parse", str(p), "--tz", bad], capture_output=True, text=True,
                           cwd=tmp_path)
        assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith("error: "), r.stderr


def test_a_central_file_starting_with_exim_lines_is_read_as_syslog_by_every_dialect(tmp_path):
    """Detection picks the container, not one MTA: Exim's lines first must not make it an Exim file."""
    src = _central_file(tmp_path).read_text().splitlines()
    exim_first = [ln for ln in src if " exim[" in ln] + [ln for ln in src if " exim[" not in ln]
    p = tmp_path / "exim-first.log"
    p.write_text("\n".join(exim_first) + "\n")
    for engine in ("frame", "line"):
        ev = parse([str(p)], options=OPTS, engine=engine).events
        assert ev.filter(ev["mta"] == "postfix").height == sum(1 for ln in src if " postfix/" in ln)
        assert ev.filter(ev["mta"] == "exim").height == sum(1 for ln in src if " exim[" in ln)
        assert "unparsed" not in ev["kind"].to_list()


DOVECOT_LOG = [
    "Nov 22 06:25:14 lmtp(19423): Info: Connect from local",
    "Nov 22 06:25:14 lmtp(bob@example.org)<19423><I861FWYuzl/fSwAAWP5Hkg>: Info: msgid=<a@example.net>: saved mail to INBOX",
    "Nov 22 06:25:15 imap-login: Info: Login: user=<bob@example.org>, method=PLAIN, rip=192.0.2.7, lip=192.0.2.1, mpid=2044, TLS",
    "Nov 22 06:25:16 auth: Error: passwd-file /etc/dovecot/users: User bob2 exists more than once",
    "",
    "Nov 22 06:25:17 mx1 postfix/qmgr[1]: 4F8B23C0F2: removed",
]


@pytest.mark.parametrize("engine", ["frame", "line"])
def test_dovecots_own_log_file_is_detected_and_read_like_its_syslog_lines(tmp_path, engine):
    p = tmp_path / "dovecot.log"
    p.write_text("\n".join(DOVECOT_LOG) + "\n")
    ev = parse([str(p)], options=OPTS, engine=engine).events
    assert ev["mta"].to_list()[:4] == ["dovecot"] * 4
    assert ev["detail"].to_list()[1] == "INBOX" and ev["queue_id"].to_list()[1] == "I861FWYuzl/fSwAAWP5Hkg"
    assert ev["kind"].to_list()[:2] == ["connect", "deliver"] and ev["recipient"].to_list()[1] == "bob@example.org"
    assert ev["detail"].to_list()[3].startswith("auth: Error: ")
    assert ev["rule"].to_list()[4:] == ["blank", "postfix.qmgr.removed"]
    assert ev["ts"].to_list()[1].isoformat() == "2026-11-22T06:25:14+00:00"
    # the same body through syslog gives the same event (one rule table, two containers)
    q = tmp_path / "syslog.log"
    q.write_text("Nov 22 06:25:14 mx1 dovecot: lmtp(bob@example.org)<19423><I861FWYuzl/fSwAAWP5Hkg>: msgid=<a@example.net>: "
                 "saved mail to INBOX\n")
    sv = parse([str(q)], options=OPTS, engine=engine).events
    assert sv["detail"].to_list() == [ev["detail"].to_list()[1]] and sv["rule"].to_list() == [ev["rule"].to_list()[1]]

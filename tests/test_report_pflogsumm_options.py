"""Issue 19, pflogsumm's remaining sections and options: per-day/per-hour SMTPD connections,
"smtp delivery failures", ``--verp-mung``, ``-i/--ignore-case``, ``--syslog-name``,
``--rej-add-from``, ``--problems-first``. Where pflogsumm has the option, its Grand Totals with
the same option are the reference (skipped without pflogsumm, a failure where it is required)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import CORPUS, corpus_file, generate_log
from logtrace.cli import app
from test_pflogsumm_crosscheck import adj_units, need_pflogsumm, pflogsumm_totals_with

PIN = ["--year", "2024", "--tz", "UTC"]


def doc(*args: str) -> dict:
    r = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200"}).invoke(app, ["summary", "--format", "json", *args])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def text(*args: str) -> str:
    r = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200"}).invoke(app, ["summary", *args])
    assert r.exit_code == 0, r.stderr
    return r.stdout


def msg(qid: str, sender: str, rcpt: str, t: str) -> str:
    return (f"Mar  4 09:00:{t} mx postfix/smtpd[10]: {qid}: client=c.example.net[192.0.2.10]\n"
            f"Mar  4 09:00:{t} mx postfix/qmgr[30]: {qid}: from=<{sender}>, size=100, nrcpt=1 (queue active)\n"
            f"Mar  4 09:00:{t} mx postfix/smtp[40]: {qid}: to=<{rcpt}>, relay=mx.example.com[198.51.100.5]:25, "
            f"delay=1, delays=0.1/0.1/0.4/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n")


@pytest.fixture(scope="module")
def addresses(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("addr") / "addr.log"
    p.write_text(msg("4F1A2B3C01", "Alice@Example.NET", "Bob@example.com", "01") + msg("4F1A2B3C02", "alice@example.net", "bob@Example.COM", "02")
                 + msg("4F1A2B3C03", "list-return-36-carol=example.org@lists.example.com", "carol@example.org", "03")
                 + msg("4F1A2B3C04", "list-return-37-dave=example.org@lists.example.com", "dave@example.org", "04")
                 + msg("4F1A2B3C05", "bounces+1234-erin=example.org@mailer.example.com", "erin@example.org", "05"))
    return p


def test_ignore_case_and_verp_mung_fold_senders(addresses: Path) -> None:
    base = doc(str(addresses), *PIN, "--top", "0")["totals"]
    ic = doc(str(addresses), *PIN, "-i")["totals"]
    v1 = doc(str(addresses), *PIN, "--verp-mung", "1", "--top", "0")
    v2 = doc(str(addresses), *PIN, "--verp-mung", "2", "--top", "0")
    assert base["senders"] == 5 and ic["senders"] == 4 and ic["recipients"] == base["recipients"] - 1
    s1 = {r["sender"] for r in v1["sections"]["senders_by_count"]}
    assert "list-return-ID-carol=example.org@lists.example.com" in s1 and "bounces-ID-erin=example.org@mailer.example.com" in s1
    s2 = {r["sender"]: r["count"] for r in v2["sections"]["senders_by_count"]}
    assert s2["list-return-ID@lists.example.com"] == 2 and v2["totals"]["senders"] == 4


@pytest.mark.parametrize("opts", [["-i"], ["--verp-mung=2"], ["-i", "--verp-mung=2"]])
def test_address_options_match_pflogsumm(addresses: Path, opts: list[str], tmp_path: Path) -> None:
    need_pflogsumm()
    ours = opts[:1] if opts == ["-i"] else [o.replace("=", " ").split(" ") for o in opts]
    flat: list[str] = []
    for o in ours:
        flat += o if isinstance(o, list) else [o]
    for path in (addresses, generate_log(tmp_path / "g.log", 8000, 3)):
        pf = pflogsumm_totals_with(path, opts)
        lt = doc(str(path), "--mta", "postfix", *flat)["totals"]
        for key in ("senders", "recipients", "sending_hosts", "received", "delivered"):
            assert str(lt[key]) == pf[key], (path.name, key)


def test_syslog_name_keeps_only_those_instances_and_then_equals_pflogsumm() -> None:
    path = corpus_file(CORPUS / "postfix" / "fail2ban-tests-postfix.log")
    need_pflogsumm()
    every = doc(str(path), "--mta", "postfix")["totals"]
    only = doc(str(path), "--mta", "postfix", "--syslog-name", "postfix")["totals"]
    pf = pflogsumm_totals_with(path, ["--syslog-name=postfix"])
    assert every["rejected"] == only["rejected"] + 3  # postfix-smo/…, postfix-incoming/… (the pinned difference)
    ours = {k: adj_units(v) if k.startswith("bytes_") else str(v) for k, v in only.items()}
    assert ours == pf


def test_rej_add_from_names_the_sender() -> None:
    path = corpus_file(CORPUS / "postfix" / "fail2ban-tests-postfix.log")
    plain = doc(str(path), "--mta", "postfix", "--top", "0")["sections"]["reject_hosts"]
    added = doc(str(path), "--mta", "postfix", "--top", "0", "--rej-add-from")["sections"]["reject_hosts"]
    assert not any("from=<" in (r["peer"] or "") for r in plain)
    assert any((r["peer"] or "").endswith("from=<spammer@example.com>") for r in added)
    assert sum(r["count"] for r in plain) == sum(r["count"] for r in added)


def test_smtp_delivery_failures_count_every_client_failure_line() -> None:
    path = corpus_file(CORPUS / "postfix" / "wendrowycz-two-days-relay-27k.log")
    shape = re.compile(r"postfix/smtp\[\d+\]: (?:[0-9A-F]+: )?(?:connect to \S+: |lost connection with |conversation with |"
                       r"host \S+ refused to talk to me: )")
    expected = sum(1 for line in path.read_text(errors="replace").splitlines() if shape.search(line))
    rows = doc(str(path), "--top", "0")["sections"]["smtp_failures"]
    assert expected > 5 and sum(r["count"] for r in rows) == expected
    assert all("[" not in r["reason"] for r in rows)


def test_smtpd_per_day_and_per_hour_tables(tmp_path: Path) -> None:
    log = generate_log(tmp_path / "c.log", 8000, 4)
    d = doc(str(log), *PIN, "--smtpd-stats")
    s, total = d["sections"], d["smtpd"]["connections"]
    assert total > 10
    assert sum(r["connections"] for r in s["smtpd_per_day"]) == total
    assert len(s["smtpd_per_hour"]) == 24 and sum(r["connections"] for r in s["smtpd_per_hour"]) == total
    out = text(str(log), *PIN, "--smtpd-stats", "--format", "text")
    assert "Per-day SMTPD connections" in out and "Per-hour SMTPD connections" in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "table"])
def test_problems_first_in_every_format(fmt: str, tmp_path: Path) -> None:
    log = generate_log(tmp_path / "p.log", 3000, 5)
    out = " ".join(text(str(log), *PIN, "--format", fmt, "--problems-first").split())
    flat = " ".join(text(str(log), *PIN, "--format", fmt).split())
    assert out.index("Deferrals by reason") < out.index("Per-day traffic")
    assert out.index("SMTP delivery failures") < out.index("Per-day traffic")
    assert flat.index("Deferrals by reason") > flat.index("Per-day traffic")

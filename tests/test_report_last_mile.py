"""Issue 19 (issue 17's report side), the last mile: where Dovecot put the mail (INBOX, Junk, other
folders, Sieve discards and redirects, quota rejects) and the content filters' verdicts (amavis
categories and dispositions, rspamd actions), from the Debian 12 line shapes of
``tests/test_last_mile.py`` (``shared/reference/anchors.md`` §3b)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from logtrace.cli import app
from test_last_mile import AMAVIS, MX2, RSPAMD

PIN = ["--year", "2026", "--tz", "UTC", "--top", "0"]


def doc(path: Path, *args: str) -> dict:
    r = CliRunner(env={"NO_COLOR": "1"}).invoke(app, ["summary", str(path), "--format", "json", *PIN, *args])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_mailbox_outcomes(tmp_path: Path) -> None:
    p = tmp_path / "mx2.log"
    p.write_text(MX2)
    d = doc(p)
    rows = {(r["outcome"], r["folder"]): r["count"] for r in d["sections"]["last_mile_mailbox"]}
    assert rows == {("inbox", "INBOX"): 1, ("junk folder", "Junk"): 1, ("sieve discard", ""): 1, ("quota reject", ""): 1}
    # the mailbox server's lines do not change the MTA's counts
    assert (d["totals"]["delivered"], d["totals"]["bounced"]) == (3, 1)


def test_filter_verdicts(tmp_path: Path) -> None:
    p = tmp_path / "mx1.log"
    p.write_text(AMAVIS + RSPAMD)
    rows = doc(p)["sections"]["last_mile_filter"]
    got = {(r["filter"], r["verdict"], r["category"], r["disposition"]): r["count"] for r in rows}
    want_amavis = {}
    for line in AMAVIS.splitlines():
        if " amavis[" in line and (" Passed " in line or " Blocked " in line):
            words = line.split(") ", 1)[1].split()
            key = ("amavis", words[0], words[1], words[2].strip("{,").split(",")[0].rstrip("},"))
            want_amavis[key] = want_amavis.get(key, 0) + 1
    assert {k: v for k, v in got.items() if k[0] == "amavis"} == want_amavis
    assert got.get(("rspamd", "reject", "", ""), 0) == sum(1 for ln in RSPAMD.splitlines() if "(reject)" in ln and "rspamd[" in ln)


def test_no_last_mile_section_without_those_programs() -> None:
    repo = Path(__file__).resolve().parents[1]
    d = doc(repo / "sample_logs" / "postfix" / "lab-mx1.log")
    assert "last_mile_mailbox" not in d["sections"] and "last_mile_filter" not in d["sections"]

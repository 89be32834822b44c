"""Issue 19, ``summary --format text``: a plain 80-column report for cron mail (golden), and every
number of the JSON totals whole in it (and in the rich table at 60/80/120 columns, see
``test_report_tables.py``)."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import generate_log
from logtrace.cli import app
from logtrace.reports.text import human_duration, human_size

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_logs" / "postfix"
GOLDEN = Path(__file__).resolve().parent / "golden_reports" / "lab-mx-text80.txt"
PIN = ["--year", "2026", "--tz", "UTC"]
BOX = set("─│┌┐└┘├┤┬┴┼━┃┏┓┗┛┡┩╇╈┳┻╋█▏▎▍▌▋▊▉")


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200"}).invoke(app, ["summary", *args])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def test_text_report_golden_at_80_columns(update_goldens: bool) -> None:
    code, out, err = run(str(SAMPLES / "lab-mx1.log"), str(SAMPLES / "lab-mx2.log"), *PIN, "--format", "text",
                         "--smtpd-stats")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    assert not (set(out) & BOX) and "\x1b" not in out
    if update_goldens:
        GOLDEN.write_text(out)
    want = GOLDEN.read_text()
    if out != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), out.splitlines(True), "golden", "now", n=1))
        pytest.fail(f"text report differs from {GOLDEN.name}:\n{diff[:4000]}\nregenerate: pytest {__file__} --update-goldens")


def test_every_json_number_is_whole_in_the_text_report(tmp_path: Path) -> None:
    log = str(generate_log(tmp_path / "busy.log", 20000, 7))
    code, out, _ = run(log, *PIN, "--format", "text", "--top", "5")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    code, js, _ = run(log, *PIN, "--format", "json", "--top", "5")
    d = json.loads(js)
    values = [v for v in d["totals"].values()] + [v for k, v in d["unique"].items() if k != "note"]
    values += [v for r in d["sections"]["per_day"] for k, v in r.items() if k != "day"]
    values += [r["count"] for name in ("reject_reasons", "deferral_reasons", "bounce_reasons") for r in d["sections"][name]]
    for v in set(values):
        assert re.search(rf"(?<![\d,.]){re.escape(f'{v:,}')}(?![\d,])", out), f"{v:,} missing or cut"
    # sizes are human-readable in the sections
    assert human_size(d["totals"]["bytes_received"]) in out


def test_human_units() -> None:
    assert [human_size(v) for v in (0, 1023, 1024, 195317851, 5 << 40)] == ["0", "1023", "1.0k", "186.3M", "5.0T"]
    assert [human_duration(v) for v in (0.42, 4.66, 32, 569, 4201, 3 * 86400)] == ["0.42 s", "4.7 s", "32 s", "9.5 m",
                                                                                  "1.2 h", "3.0 d"]


def test_text_report_escapes_log_text(tmp_path: Path) -> None:
    p = tmp_path / "h.log"
    p.write_text("Mar  4 09:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 554 5.7.1 "
                 "\x1b[31mred\x1b[0m rejected; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<x>\n")
    code, out, _ = run(str(p), *PIN, "--format", "text")
    assert code == 0 and "\x1b" not in out and "\\x1b[31mred" in out

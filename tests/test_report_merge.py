"""Issue 19, merging: ``summary --format json`` documents carry mergeable state, and
``summary --merge a.json b.json`` equals a summary of the logs read together (except what a
lifecycle spanning the boundary contributes, pinned below as documented)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_summary, summary_doc


REPO = Path(__file__).resolve().parents[1]
PIN = ["--year", "2024", "--tz", "UTC"]
COMPARED = ("totals", "totals_eximstats", "unique", "counts", "smtpd", "sections", "accounting")


run, doc = run_summary, summary_doc


def day_log(tmp: Path, name: str, seed: int, start: str, *extra: str) -> Path:
    out = tmp / name
    subprocess.run([sys.executable, str(REPO / "bench" / "genlog.py"), "--lines", "5000", "--seed", str(seed), "--start", start,
                    "--out", str(out), "-q", *extra], check=True, timeout=300)
    return out


def save(tmp: Path, name: str, d: dict) -> str:
    p = tmp / name
    p.write_text(json.dumps(d))
    return str(p)


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("days")
    return day_log(tmp, "d1.log", 21, "2024-03-04T00:00:00"), day_log(tmp, "d2.log", 22, "2024-03-05T00:00:00")


def test_merged_json_of_two_days_equals_reading_them_together(two_days: tuple[Path, Path], tmp_path: Path) -> None:
    d1, d2 = two_days
    a = save(tmp_path, "a.json", doc(str(d1), *PIN, "--top", "0", "--smtpd-stats"))
    b = save(tmp_path, "b.json", doc(str(d2), *PIN, "--top", "0", "--smtpd-stats"))
    merged = doc("--merge", a, b, "--top", "0")
    together = doc(str(d1), str(d2), *PIN, "--top", "0", "--smtpd-stats")
    assert together["totals"]["received"] > 1000 and len(together["sections"]["per_day"]) == 2
    for key in COMPARED:
        assert merged.get(key) == together.get(key), key
    assert merged["period"]["first"] == together["period"]["first"] and merged["period"]["last"] == together["period"]["last"]
    # --top applies after merging, and a merged document merges again (a month of weeks)
    top3 = doc("--merge", a, b, "--top", "3")
    assert top3["sections"]["recipients_by_count"] == together["sections"]["recipients_by_count"][:3]
    week = save(tmp_path, "week.json", merged)
    again = doc("--merge", week, "--top", "0")
    for key in COMPARED:
        assert again.get(key) == together.get(key), key


def test_merged_exim_days_equal_eximstats_totals_read_together(tmp_path: Path) -> None:
    d1 = day_log(tmp_path, "x1.log", 31, "2024-03-04T00:00:00", "--mta", "exim")
    d2 = day_log(tmp_path, "x2.log", 32, "2024-03-05T00:00:00", "--mta", "exim")
    a = save(tmp_path, "a.json", doc(str(d1), *PIN, "--top", "0"))
    b = save(tmp_path, "b.json", doc(str(d2), *PIN, "--top", "0"))
    merged, together = doc("--merge", a, b, "--top", "0"), doc(str(d1), str(d2), *PIN, "--top", "0")
    assert together["counting"]["rules"] == "eximstats" and merged["counting"]["rules"] == "eximstats"
    assert merged["totals"] == together["totals"]
    assert merged["sections"]["per_day"] == together["sections"]["per_day"]


SPAN_DAY1 = """\
Mar  4 23:59:58 mx postfix/smtpd[10]: 4F1A2B3C01: client=c.example.net[192.0.2.10]
Mar  4 23:59:58 mx postfix/qmgr[30]: 4F1A2B3C01: from=<alice@example.net>, size=1000, nrcpt=1 (queue active)
"""
SPAN_DAY2 = """\
Mar  5 00:00:03 mx postfix/smtp[40]: 4F1A2B3C01: to=<bob@example.com>, relay=mx.example.com[198.51.100.5]:25, delay=5, delays=0.1/0.1/0.4/4.4, dsn=2.0.0, status=sent (250 2.0.0 Ok)
"""


def test_a_lifecycle_across_the_boundary_is_the_documented_exception(tmp_path: Path) -> None:
    p1, p2 = tmp_path / "s1.log", tmp_path / "s2.log"
    p1.write_text(SPAN_DAY1)
    p2.write_text(SPAN_DAY2)
    merged = doc("--merge", save(tmp_path, "a.json", doc(str(p1), *PIN)), save(tmp_path, "b.json", doc(str(p2), *PIN)))
    together = doc(str(p1), str(p2), *PIN)
    assert merged["totals"]["received"] == together["totals"]["received"] == 1
    assert merged["totals"]["delivered"] == together["totals"]["delivered"] == 1
    assert together["totals"]["bytes_delivered"] == 1000 and merged["totals"]["bytes_delivered"] == 0  # no size line in day 2
    assert together["counts"]["no_size"] == 0 and merged["counts"]["no_size"] == 1


def test_merge_errors_are_one_line(two_days: tuple[Path, Path], tmp_path: Path) -> None:
    d1, _ = two_days
    bogus = tmp_path / "x.json"
    bogus.write_text('{"schema": "logtrace.bounces/1"}')
    code, out, err = run("--merge", str(bogus))
    assert code == 2 and out == "" and err.startswith("error:") and "logtrace.summary/2" in err and "Traceback" not in err
    code, _, err = run("--merge", str(d1))
    assert code == 2 and "not JSON" in err
    utc = save(tmp_path, "u.json", doc(str(d1), "--year", "2024", "--tz", "UTC"))
    ber = save(tmp_path, "b.json", doc(str(d1), "--year", "2024", "--tz", "Europe/Berlin"))
    code, _, err = run("--merge", utc, ber)
    assert code == 2 and "different zones" in err
    code, _, err = run("--merge", utc, "--since", "2024-03-04")
    assert code == 2 and "--since" in err
    code, _, err = run("--merge", utc, "--verp-mung", "2")
    assert code == 2 and "--verp-mung" in err


def test_merged_report_renders_in_every_format(two_days: tuple[Path, Path], tmp_path: Path) -> None:
    a = save(tmp_path, "a.json", doc(str(two_days[0]), *PIN))
    b = save(tmp_path, "b.json", doc(str(two_days[1]), *PIN))
    for fmt in ("table", "text", "markdown"):
        code, out, err = run("--merge", a, b, "--format", fmt)
        assert code == 0, err
        assert "Grand totals" in out and "2024-03-04" in out and "2024-03-05" in out


def test_mixed_postfix_and_exim_days_merge(tmp_path: Path) -> None:
    """Each day: a Postfix host's log and an Exim host's log (both grand totals are reported)."""
    days = [(day_log(tmp_path, f"pf{i}.log", 40 + i, f"2024-03-0{3 + i}T00:00:00"),
             day_log(tmp_path, f"ex{i}.log", 50 + i, f"2024-03-0{3 + i}T00:00:00", "--mta", "exim")) for i in (1, 2)]
    docs = [save(tmp_path, f"d{i}.json", doc(str(pf), str(ex), *PIN, "--top", "0")) for i, (pf, ex) in enumerate(days)]
    merged = doc("--merge", *docs, "--top", "0")
    together = doc(*(str(p) for pair in days for p in pair), *PIN, "--top", "0")
    assert "totals_eximstats" in together
    for key in COMPARED:
        assert merged.get(key) == together.get(key), key


def test_redacted_documents_merge_and_merged_html(two_days: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--redact tokenizes the state too; with one $LOGTRACE_REDACT_KEY the same input gives the same
    token in every run, so redacted days merge; a merged report renders as the HTML page."""
    monkeypatch.setenv("LOGTRACE_REDACT_KEY", "test-key-for-merging")
    docs = [save(tmp_path, f"r{i}.json", doc(str(p), *PIN, "--redact", "--top", "0")) for i, p in enumerate(two_days)]
    for path in docs:
        text = Path(path).read_text()
        assert "@example.com" not in text and "@example.org" not in text
    merged = doc("--merge", *docs, "--top", "0")
    plain = doc(str(two_days[0]), str(two_days[1]), *PIN, "--top", "0")
    assert merged["totals"] == plain["totals"]
    assert all(r["sender"].startswith(("u-", "from=<>")) or r["sender"] == "" for r in merged["sections"]["senders_by_count"])
    out = tmp_path / "week.html"
    code, _, err = run("--merge", *docs, "--format", "html", "-o", str(out))
    assert code == 0, err
    assert out.read_text().lstrip().lower().startswith("<!doctype html")

"""The command line: exit codes, stdout/stderr separation, error text, hostile text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAB1 = str(REPO / "sample_logs/postfix/lab-mx1.log")
LAB2 = str(REPO / "sample_logs/postfix/lab-mx2.log")


def run(*args, input=None, env_extra=None):
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "logtrace", *args], capture_output=True, text=True, cwd=REPO,
                          input=input, env=env, timeout=120)


def test_parse_jsonl_to_stdout_and_accounting_to_stderr():
    r = run("parse", LAB1, "--year", "2026", "--tz", "UTC")
    assert r.returncode == 0
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(rows) == len(Path(LAB1).read_text().splitlines())
    assert rows[0]["line_no"] == 1 and rows[0]["file"] == LAB1
    assert r.stderr.startswith("lines: ")
    assert "0 unrecognized" in r.stderr


def test_parse_csv_escapes_formulas(tmp_path):
    p = tmp_path / "m.log"
    p.write_text("Nov 22 06:25:14 mx1 postfix/cleanup[1]: 4F8B23C0F2: message-id==cmd|' /C calc'!A0\n")
    r = run("parse", str(p), "--format", "csv")
    assert r.returncode == 0
    assert "'=cmd|" in r.stdout
    assert ",=cmd" not in r.stdout


def test_parse_parquet_needs_output():
    r = run("parse", LAB1, "--format", "parquet")
    assert r.returncode == 2
    assert r.stdout == ""


def test_parse_parquet_round_trip(tmp_path):
    import polars as pl

    out = tmp_path / "x.parquet"
    r = run("parse", LAB1, "--format", "parquet", "-o", str(out))
    assert r.returncode == 0, r.stderr
    df = pl.read_parquet(out)
    assert df.height == len(Path(LAB1).read_text().splitlines())


def test_missing_file_is_one_line_error_exit_2():
    r = run("parse", "/nonexistent/mail.log")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == "error: /nonexistent/mail.log: no such file"
    assert "Traceback" not in r.stderr


def test_directory_of_garbage_and_good_file_keeps_going(tmp_path):
    (tmp_path / "bin").write_bytes(bytes(range(256)) * 50)
    r = run("parse", str(tmp_path / "bin"), LAB1)
    assert r.returncode == 2  # an input failed …
    assert r.stdout.count("\n") == len(Path(LAB1).read_text().splitlines())  # … but the good one was parsed
    assert "binary" in r.stderr and "Traceback" not in r.stderr


def test_strict_exits_1_on_unrecognized(tmp_path):
    p = tmp_path / "m.log"
    p.write_text("Nov 22 06:25:14 mx1 postfix/smtp[1]: 4F8B23C0F2: something new\n")
    assert run("parse", str(p)).returncode == 0
    r = run("parse", str(p), "--strict")
    assert r.returncode == 1
    assert "1 unrecognized (postfix/smtp 1)" in r.stderr


def test_stdin_is_read():
    r = run("parse", "-", input=Path(LAB1).read_text())
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == len(Path(LAB1).read_text().splitlines())


def test_bad_where_shows_caret_and_exits_2():
    r = run("parse", LAB1, "--where", "recipent = x")
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert lines[1].strip() == "recipent = x" and lines[2].strip() == "^"


def test_sigpipe_exits_0_quietly():
    p = subprocess.Popen(f"{sys.executable} -m logtrace parse {LAB1} {LAB2} {LAB1} | head -1", shell=True, cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0
    assert len(out.splitlines()) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_ctrl_c_exits_130_without_traceback(tmp_path):
    big = tmp_path / "big.log"
    big.write_text(Path(LAB1).read_text() * 3000)
    p = subprocess.Popen([sys.executable, "-m", "logtrace", "parse", str(big)], cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    import time

    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    if p.returncode == 0:
        pytest.fail("parse finished before SIGINT; make the input bigger")
    assert p.returncode == 130
    assert "Traceback" not in err


def test_follow_json_is_documented_shape_and_exit_4_for_bounce():
    r = run("follow", "3E0D620C2B0", LAB1, LAB2, "--json")
    assert r.returncode == 4, r.stderr
    assert r.stderr == ""
    doc = json.loads(r.stdout)
    m = doc["messages"][0]
    assert [c["link"] for c in m["chain"]] == ["origin", "relay", "ndr"]
    rc = m["recipients"][0]
    assert rc["verdict"] == "bounced" and rc["dsn"] == "5.1.1" and rc["host"] == "mx2"
    assert rc["ndr"]["queue_id"] and rc["ndr"]["delivered"] is True
    assert "accepted it as 4564D20C222" in rc["summary"]


def test_follow_quick_start_example_exits_0_and_shows_the_chain():
    r = run("follow", "3D02620C222", LAB1, LAB2)
    assert r.returncode == 0, r.stderr
    assert "mx1:3D02620C222 —relay→ mx2:" in r.stdout
    assert "RELAYED" in r.stdout


def test_follow_not_found_exits_1():
    r = run("follow", "ABCDEF12345", LAB1)
    assert r.returncode == 1
    assert r.stderr.startswith("not found")


def test_follow_rejects_nonsense_id_with_hint():
    r = run("follow", "<abc@x>", LAB1)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "hint: " in r.stderr


def test_hostile_log_text_is_rendered_inert(tmp_path):
    p = tmp_path / "m.log"
    evil = "[bold red]PWNED[/] \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ \x1b[31m red \u202e rtl \r over"
    p.write_text(
        "Nov 22 06:25:14 mx1 postfix/smtpd[1]: 4F8B23C0F2: client=evil[192.0.2.1]\n"
        f"Nov 22 06:25:14 mx1 postfix/cleanup[2]: 4F8B23C0F2: message-id=<{evil}>\n"
        f"Nov 22 06:25:15 mx1 postfix/smtp[3]: 4F8B23C0F2: to=<a@example.com>, relay=x[192.0.2.2]:25, delay=1, "
        f"delays=0/0/0/1, dsn=5.7.1, status=bounced (host x said: 550 5.7.1 {evil})\n")
    r = run("follow", "4F8B23C0F2", str(p), env_extra={"TERM": "xterm-256color"})
    assert r.returncode == 4
    out = r.stdout
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out
    assert "[bold red]PWNED[/]" in out  # shown literally, not interpreted
    assert "\\x1b" in out and "\\u202e" in out


def test_follow_from_listing_filtered_by_where():
    r = run("follow", "--from", "carol@example.org", LAB1, LAB2, "--json", "--where", "status = bounced")
    doc = json.loads(r.stdout)
    assert [m["chain"][0]["queue_id"] for m in doc["messages"]] == ["3E0D620C2B0"]
    r = run("follow", "--from", "carol@example.org", LAB1, LAB2, "--json", "--where", "status = delivered")
    assert json.loads(r.stdout)["messages"] == [] and r.returncode == 1
    r = run("follow", "--from", "carol@example.org", LAB1, "--where", "nosuchfield = 1")
    assert r.returncode == 2 and "^" in r.stderr


def test_parse_of_several_hosts_is_one_timeline():
    r = run("parse", LAB2, LAB1, "--year", "2026", "--tz", "UTC")
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    ts = [x["ts"] for x in rows if "ts" in x]
    assert ts == sorted(ts)
    assert {x["file"] for x in rows} == {LAB1, LAB2}


def test_streamed_jsonl_is_the_canonical_event_form():
    """The fast JSONL writer produces exactly events.canonical() (key order, nulls, stamps)."""
    from logtrace.parsing.scan import parse
    from logtrace.events import canonical
    from logtrace.parsing.rules import ParseOptions

    for f in (LAB1, str(REPO / "sample_logs/postfix/lab-mx1-rfc3339.log"), str(REPO / "sample_logs/exim/pid-millisec-zone.log")):
        out = run("parse", f, "--year", "2026", "--tz", "UTC").stdout.splitlines()
        want = []
        for row in parse([f], options=ParseOptions(year=2026, tz="UTC")).events.iter_rows(named=True):
            want.append(json.dumps(canonical(row, include_file=True), ensure_ascii=False, separators=(",", ":")))
        assert out == want, f

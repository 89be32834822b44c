"""Issue 18: one CLI convention. Every command that reads logs takes the shared options; every
input path works everywhere (compressed stdin, the zstd command, journald JSON in follow);
data outputs carry a schema and the event schema's names; errors are error:/hint: lines."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import IN_CI, unavailable

REPO = Path(__file__).resolve().parents[1]
LAB1 = str(REPO / "sample_logs/postfix/lab-mx1.log")
LAB2 = str(REPO / "sample_logs/postfix/lab-mx2.log")
RFC3339 = str(REPO / "sample_logs/postfix/lab-mx1-rfc3339.log")
N_LAB1 = len(Path(LAB1).read_text().splitlines())


def run(*args, input=None, env_extra=None, code=None):
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    env.update(env_extra or {})
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "logtrace", *args]
    return subprocess.run(argv, capture_output=True, cwd=REPO, input=input, env=env, timeout=180)


def text(r) -> tuple[str, str]:
    return r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


# ------------------------------------------------------------------ every command × every shared option

#: what each log-reading command is given besides its files, and the exit codes that mean "ran fine"
COMMANDS = {
    "parse": ([], {0}),
    "follow": (["3D02620C222"], {0}),
    "summary": ([], {0}),
    "bounces": ([], {0, 4}),
}
#: the shared options (README "Shared options"), each with a value every command accepts
SHARED = [
    ["--format", "json"], ["--json"], ["-o", "{out}"], ["--since", "2026-11-22 19:00"], ["--until", "2026-11-23"],
    ["--since", "-100000d"], ["--where", "queue_id is not null"], ["--mta", "postfix"], ["--tz", "UTC"], ["--year", "2026"],
    ["--redact"], ["--debug"], ["-h"],
]


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
@pytest.mark.parametrize("opt", SHARED, ids=lambda o: " ".join(o))
def test_every_command_takes_every_shared_option(cmd, opt, tmp_path):
    extra, ok = COMMANDS[cmd]
    out = tmp_path / "out"
    opt = [o.replace("{out}", str(out)) for o in opt]
    r = run(cmd, *extra, LAB1, LAB2, *opt)
    so, se = text(r)
    if opt == ["-h"]:
        assert r.returncode == 0 and "--format" in so and "--since" in so, se
        return
    assert r.returncode in ok, (r.returncode, se)
    assert "Traceback" not in se and "Usage:" not in se
    if opt[0] in ("--format", "--json"):
        if cmd == "parse":  # parse --format json is JSONL
            assert all(json.loads(ln)["line_no"] for ln in so.splitlines())
        else:
            doc = json.loads(so)
            assert doc["schema"] == f"logtrace.{cmd}/{2 if cmd == 'summary' else 1}"  # summary/2: issue 19
    if opt[0] == "-o":
        assert so == "" and out.stat().st_size > 0


@pytest.mark.parametrize("cmd", ["summary", "bounces"])
def test_top_zero_means_all(cmd):
    r = run(cmd, LAB1, LAB2, "--top", "0")
    assert r.returncode in (0, 4), text(r)[1]
    assert run(cmd, LAB1, "--top", "-1").returncode == 2


def test_version_and_short_help():
    from logtrace import __version__

    r = run("--version")
    assert (r.returncode, text(r)[0]) == (0, f"logtrace {__version__}\n")
    for args in (["-h"], ["follow", "-h"], ["parsers", "-h"]):
        r = run(*args)
        assert r.returncode == 0 and text(r)[0].startswith("Usage: logtrace"), args


def test_help_lists_commands_in_question_order_untruncated():
    so = text(run("-h", env_extra={"COLUMNS": "80"}))[0]
    commands = so.split("Commands:", 1)[1].strip().splitlines()
    assert [c.split()[0] for c in commands] == ["follow", "summary", "bounces", "parse", "watch", "parsers"]
    assert not any(c.rstrip().endswith("...") for c in commands)
    assert all(len(c) <= 80 for c in commands)


def test_debug_is_visible_in_help():
    assert "--debug" in text(run("parse", "-h"))[0]


# ------------------------------------------------------------------ --since / --until


def test_since_until_journalctl_forms_are_read():
    from zoneinfo import ZoneInfo

    from logtrace.timewindow import parse_when

    now = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_when("10:00", zone=berlin, now=now) == datetime(2026, 11, 22, 10, 0, tzinfo=berlin)
    assert parse_when("-1h", zone=berlin, now=now) == now - timedelta(hours=1)
    assert parse_when("2h ago", now=now) == now - timedelta(hours=2)
    assert parse_when("-1d 2h", now=now) == now - timedelta(hours=26)
    assert parse_when("yesterday", zone=berlin, now=now) == datetime(2026, 11, 21, tzinfo=berlin)
    assert parse_when("2026-11-22", zone=timezone.utc, now=now) == datetime(2026, 11, 22, tzinfo=timezone.utc)
    assert parse_when("2026-11-22 10:00", zone=berlin) == datetime(2026, 11, 22, 10, tzinfo=berlin)
    assert parse_when("2026-11-22T10:00:00+02:00").utcoffset() == timedelta(hours=2)
    assert parse_when("10:00 UTC", zone=berlin, now=now) == datetime(2026, 11, 22, 10, tzinfo=timezone.utc)
    assert parse_when("@0") == datetime(1970, 1, 1, tzinfo=timezone.utc)
    for bad in ("soon", "25:00", "-1q", ""):
        with pytest.raises(ValueError):
            parse_when(bad)


def test_since_selects_rows_in_the_display_zone():
    r = run("parse", LAB1, "--year", "2026", "--tz", "Europe/Berlin", "--since", "2026-11-22 19:42:02")
    rows = [json.loads(ln) for ln in text(r)[0].splitlines()]
    assert rows and all(x["ts"] >= "2026-11-22T18:42:02" for x in rows)  # 19:42:02 CET is 18:42:02 UTC
    assert len(rows) < N_LAB1


@pytest.mark.parametrize("cmd", ["parse", "summary", "bounces", "follow"])
def test_a_window_outside_the_logs_warns_with_their_range(cmd):
    extra = ["3D02620C222"] if cmd == "follow" else []
    r = run(cmd, *extra, LAB1, "--tz", "UTC", "--since", "2020-01-01", "--until", "2020-01-02")
    se = text(r)[1]
    assert "warning: nothing in the window --since 2020-01-01 00:00:00 UTC --until 2020-01-02 00:00:00 UTC" in se, se
    assert re.search(r"the logs run from 2026-11-22 19:42:0\d UTC to 2026-11-22 19:42:0\d UTC", se), se


@pytest.mark.parametrize("cmd", ["parse", "summary", "bounces", "follow"])
def test_since_after_until_is_a_usage_error(cmd):
    extra = ["3D02620C222"] if cmd == "follow" else []
    r = run(cmd, *extra, LAB1, "--since", "2026-11-23", "--until", "2026-11-22")
    so, se = text(r)
    assert r.returncode == 2 and so == ""
    assert se.startswith("error: --since (2026-11-23") and "is after --until" in se
    assert se.splitlines()[1].startswith("  hint: ")


# ------------------------------------------------------------------ inputs


def _zstd(data: bytes) -> bytes:
    try:
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    except ImportError:
        return subprocess.run(["zstd", "-c"], input=data, capture_output=True, check=True).stdout


COMPRESSORS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress, "zstd": _zstd}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
@pytest.mark.parametrize("cmd", ["parse", "summary", "bounces", "follow"])
def test_compressed_stdin_works_for_every_command(kind, cmd):
    data = COMPRESSORS[kind](Path(LAB1).read_bytes())
    extra = ["3D02620C222"] if cmd == "follow" else []
    r = run(cmd, *extra, "-", "--json", input=data)
    so, se = text(r)
    assert "empty input" not in se and "Traceback" not in se, se
    if cmd == "parse":
        assert len(so.splitlines()) == N_LAB1
    elif cmd == "summary":
        assert json.loads(so)["totals"]["received"] > 0
    elif cmd == "bounces":
        assert json.loads(so)["messages"]
    else:
        assert json.loads(so)["messages"][0]["chain"][0]["queue_id"] == "3D02620C222"


BLOCK_ZSTANDARD = "import sys; sys.modules['zstandard'] = None; from logtrace.cli import main; sys.argv[0] = 'logtrace'; main()"


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_zstd_through_the_command_when_the_module_is_missing(via, tmp_path):
    if shutil.which("zstd") is None:  # .ci/install-mta.sh installs it
        unavailable("the zstd command is not installed", required=IN_CI)
    data = subprocess.run(["zstd", "-c"], input=Path(LAB1).read_bytes(), capture_output=True, check=True).stdout
    p = tmp_path / "mail.log.zst"
    p.write_bytes(data)
    r = run("parse", str(p) if via == "file" else "-", input=data if via == "stdin" else None, code=BLOCK_ZSTANDARD)
    assert len(text(r)[0].splitlines()) == N_LAB1, text(r)[1]


def _journal_export(tmp_path) -> Path:
    """lab-mx1 as `journalctl -o json` writes it (one JSON record per line)."""
    recs = []
    for ln in Path(RFC3339).read_text().splitlines():
        stamp, host, tag, msg = re.match(r"(\S+) (\S+) ([^:]+): (.*)", ln).groups()
        ident, _, pid = tag.partition("[")
        us = int(datetime.fromisoformat(stamp).timestamp() * 1e6)
        recs.append(json.dumps({"__REALTIME_TIMESTAMP": str(us), "_HOSTNAME": host.split(".")[0], "SYSLOG_IDENTIFIER": ident,
                                "_PID": pid.rstrip("]"), "MESSAGE": msg}))
    p = tmp_path / "journal.json"
    p.write_text("\n".join(recs) + "\n")
    return p


def test_follow_reads_a_journald_json_export_like_the_other_commands(tmp_path):
    p = _journal_export(tmp_path)
    r = run("follow", "3D02620C222", str(p), "--json")
    so, se = text(r)
    assert r.returncode == 0, se
    m = json.loads(so)["messages"][0]
    assert m["chain"][0]["queue_id"] == "3D02620C222" and m["recipients"]


def test_only_unparsed_prints_the_raw_line(tmp_path):
    p = tmp_path / "m.log"
    lines = ["Nov 22 06:25:14 mx1 postfix/smtp[1]: 4F8B23C0F2: something new", "garbage that is no syslog line"]
    p.write_text("\n".join(lines) + "\n")
    r = run("parse", str(p), "--only-unparsed")
    rows = [json.loads(ln) for ln in text(r)[0].splitlines()]
    assert [x["raw"] for x in rows] == lines and [x["line_no"] for x in rows] == [1, 2]
    r = run("parse", str(p), "--only-unparsed", "--csv")
    assert [row["raw"] for row in csv.DictReader(io.StringIO(text(r)[0]))] == lines


def test_a_file_given_as_the_queue_id_is_named():
    r = run("follow", "--where", "status = bounced", LAB1)
    so, se = text(r)
    assert r.returncode == 2 and so == ""
    assert se.splitlines()[0] == f"error: QUEUE_ID: '{LAB1}' is a file, not a queue ID"


@pytest.mark.parametrize("query", ["3d02620c222", "3D02620C22"])
def test_did_you_mean_for_a_lowercase_or_near_miss_queue_id(query):
    r = run("follow", query, LAB1)
    assert r.returncode == 1
    assert "hint: did you mean 3D02620C222?" in text(r)[1]


# ------------------------------------------------------------------ data outputs


def test_data_outputs_use_the_event_schemas_names_and_one_timestamp_style(tmp_path):
    so = text(run("parse", LAB1, "--tz", "UTC", "--year", "2026"))[0]
    first = json.loads(so.splitlines()[0])
    assert list(first)[:2] == ["file", "line_no"] and "line" not in first
    rows = list(csv.DictReader(io.StringIO(text(run("parse", LAB1, "--csv", "--tz", "UTC", "--year", "2026"))[0])))
    assert rows[0]["ts"] == first["ts"]  # CSV and JSONL write the same stamp
    doc = json.loads(text(run("follow", "3D02620C222", LAB1, LAB2, "--json"))[0])
    assert doc["schema"] == "logtrace.follow/1"
    mid = doc["messages"][0]["message_id"]
    assert mid and not mid.startswith("<") and not mid.endswith(">")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00", doc["messages"][0]["accepted"])


def test_bounces_json_is_an_object_and_jsonl_one_message_per_line():
    doc = json.loads(text(run("bounces", LAB1, LAB2, "--format", "json"))[0])
    assert doc["schema"] == "logtrace.bounces/1" and isinstance(doc["messages"], list) and doc["messages"]
    lines = text(run("bounces", LAB1, LAB2, "--format", "jsonl"))[0].splitlines()
    assert [json.loads(ln)["chain"][0]["queue_id"] for ln in lines] == [m["chain"][0]["queue_id"] for m in doc["messages"]]
    follow_lines = text(run("follow", "--from", "carol@example.org", LAB1, LAB2, "--format", "jsonl"))[0].splitlines()
    assert follow_lines and all(json.loads(ln)["recipients"] for ln in follow_lines)


def test_csv_booleans_are_lower_case():
    rows = list(csv.DictReader(io.StringIO(text(run("bounces", LAB1, LAB2, "--csv"))[0])))
    assert {r["ndr_delivered"] for r in rows} <= {"true", "false", ""} and "true" in {r["ndr_delivered"] for r in rows}


def test_parsers_json_has_a_schema():
    doc = json.loads(text(run("parsers", "--json"))[0])
    assert doc["schema"] == "logtrace.parsers/1" and {"postfix", "exim"} <= {p["name"] for p in doc["parsers"]}


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("args, first", [
    (["parse", LAB1, "--format", "xml"], "error: --format: 'xml' is not one of 'jsonl', 'json', 'csv', 'parquet'"),
    (["summary", LAB1, "--top", "x"], "error: --top: 'x' is not an integer"),
    (["parse"], "error: missing argument FILES"),
    (["parse", LAB1, "--jsn"], "error: no such option: --jsn"),
    (["parse", LAB1, "--json", "--csv"], "error: --format: choose one output format, not --csv, --json"),
    (["parse", LAB1, "--since", "soon"], "error: --since: cannot read time 'soon'"),
    (["nosuch"], "error: no such command 'nosuch'."),
])
def test_usage_errors_are_error_and_hint_lines_with_exit_2(args, first):
    r = run(*args)
    so, se = text(r)
    assert r.returncode == 2 and so == ""
    lines = se.splitlines()
    assert lines[0] == first and lines[1].startswith("  hint: ") and len(lines) == 2, se
    assert "Usage:" not in se and "╭" not in se


def test_no_such_option_suggests_the_near_one():
    hint = text(run("parse", LAB1, "--jsn"))[1].splitlines()[1]
    assert hint.startswith("  hint: did you mean ") and "--json" in hint


@pytest.mark.parametrize("args", [
    ["follow", "3D02620C222", LAB1, LAB2], ["summary", LAB1], ["bounces", LAB1, LAB2], ["parse", LAB1, "--json"],
    ["follow", "--from", "bob@example.org", LAB1, LAB2, "--json"], ["-h"],
])
def test_an_ascii_only_terminal_never_gives_an_internal_error(args, tmp_path):
    p = tmp_path / "m.log"
    p.write_text(Path(LAB1).read_text().replace("bob@example.org", "bøb@exämple.org"), encoding="utf-8")
    args = [str(p) if a == LAB1 else a for a in args]
    r = run(*args, env_extra={"PYTHONIOENCODING": "ascii", "LC_ALL": "C"})
    so, se = text(r)
    assert r.returncode in (0, 1, 4), se
    assert "internal error" not in se and "Traceback" not in se
    r.stdout.decode("ascii")  # nothing but ASCII reached the terminal
    if "--json" in args:
        json.loads(so) if not args[0] == "parse" else [json.loads(ln) for ln in so.splitlines()]


def test_a_usage_error_found_inside_a_command_names_that_commands_help():
    """Checks across options run inside the command; the hint still names its --help."""
    r = run("follow", "4F8B23C0F2", LAB1, "--json", "--format", "table")
    assert r.returncode == 2
    assert r.stderr.decode().splitlines()[-1] == "  hint: 'logtrace follow --help' lists the options"


def test_follow_at_80_columns_stacks_the_timeline_and_splits_no_name():
    """Mail and 80-column terminals: every line fits, program names and queue IDs stay whole."""
    r = run("follow", "3D02620C222", LAB1, LAB2, "--files", env_extra={"COLUMNS": "80"})
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    lines = out.splitlines()
    assert lines and all(len(ln) <= 80 for ln in lines), [ln for ln in lines if len(ln) > 80]
    assert all(ln == ln.rstrip() for ln in lines if ln.startswith("    ") and "evidence" not in ln)  # details: no padding
    heads = [ln for ln in lines if ln.startswith("Nov ")]
    assert heads and all(" postfix-mx" in ln and ln.split()[-1] in ("accept", "header", "queued", "deliver", "remove", "notify",
                                                                     "bounce", "defer") for ln in heads), heads
    assert any("(" + LAB1 + ":" in ln.strip() or LAB1 in ln for ln in lines)
    wide = run("follow", "3D02620C222", LAB1, LAB2, env_extra={"COLUMNS": "200"}).stdout.decode()
    assert "time (" in wide.splitlines()[3] or any(ln.startswith("time (") for ln in wide.splitlines())


# ------------------------------------------------------------------ piped output: plain and sized


@pytest.mark.parametrize("cmd", [["follow", "3D02620C222", LAB1, LAB2], ["bounces", LAB1, LAB2], ["summary", LAB1, LAB2]],
                         ids=lambda c: c[0])
def test_piped_output_is_plain_and_80_columns_without_a_terminal(cmd):
    """``… | less`` or cron mail: no colour or cursor codes, and the width of the terminal the user
    sits at ($COLUMNS, else stderr's/stdin's terminal), else 80 — never rich's 160-column guess."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    r = subprocess.run([sys.executable, "-m", "logtrace", *cmd], capture_output=True, cwd=REPO, env=env, timeout=180,
                       stdin=subprocess.DEVNULL)
    out = r.stdout.decode()
    assert r.returncode in (0, 4), r.stderr
    assert out.strip() and "\x1b" not in out
    assert max(len(line) for line in out.splitlines()) <= 80, max(out.splitlines(), key=len)
    wide = subprocess.run([sys.executable, "-m", "logtrace", *cmd], capture_output=True, cwd=REPO, timeout=180,
                          env=dict(env, COLUMNS="132"), stdin=subprocess.DEVNULL).stdout.decode()
    assert max(len(line) for line in wide.splitlines()) <= 132

"""follow's search (issue 14): one full scan for the query, windows for revealed IDs.

The windows are only ever a speed-up: every test here compares the windowed search with a
reference that scans the whole file for every ID (what follow did before), on a generated
day of logs with content-filter re-injection, relays, forwards, bounces with notifications
and reused IDs, with windows shrunk to a few KiB so that nearly every ID needs the
fallbacks; and the grep path with the pure-Python path.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from logtrace.input import grep
from logtrace.parsing.protocol import ParseOptions
from logtrace.trace import search as search_mod
from logtrace.trace.follow import follow, story_to_json

REPO = Path(__file__).resolve().parents[1]
OPTS = ParseOptions(year=2026, tz="UTC")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    d = tmp_path_factory.mktemp("search")
    out, truth = d / "mail.log", d / "truth.jsonl"
    subprocess.run([sys.executable, str(REPO / "bench" / "genlog.py"), "--lines", "30000", "--seed", "23", "--out", str(out),
                    "--truth", str(truth), "-q"], check=True)
    return out, [json.loads(ln) for ln in truth.read_text().splitlines()]


def _doc(paths: list[str], **query: str) -> list[dict]:
    res = follow(paths, options=OPTS, **query)
    docs = [story_to_json(s) for s in res.stories]
    for d in docs:
        for hop in d["chain"]:
            hop.pop("generation")  # the index among the uses of an ID the search saw (documented)
    return docs


def _picks(truth: list[dict], n: int = 60) -> list[str]:
    rng = random.Random(5)
    long_chains = [r["queue_id"] for r in truth if r.get("queue_id") and len(r["chain"]) >= 3]
    ndr = [r["queue_id"] for r in truth if r.get("queue_id") and r.get("ndr_queue_id")]
    rest = [r["queue_id"] for r in truth if r.get("queue_id")]
    return sorted(set(rng.sample(long_chains, min(25, len(long_chains))) + rng.sample(ndr, min(15, len(ndr)))
                      + rng.sample(rest, min(n - 40, len(rest)))))


@pytest.fixture()
def reference(monkeypatch: pytest.MonkeyPatch):
    """follow as it was: every revealed ID searched in the whole file."""
    def full(self, needle, anchors):
        return self._full(needle.encode(), [])

    def full_mid(self, needle, span):
        return self._full(needle.encode(), [])

    def run(paths: list[str], **q: str) -> list[dict]:
        with monkeypatch.context() as m:
            m.setattr(search_mod.Search, "reveal", full)
            m.setattr(search_mod.Search, "reveal_message_id", full_mid)
            return _doc(paths, **q)
    return run


def test_tiny_windows_give_the_same_stories_as_full_scans(day, reference, monkeypatch):
    """4 KiB windows: many hops start outside their first window, so the backward search
    and the horizon run (and the full-scan fallback when they cannot decide); the stories
    stay the same."""
    log, truth = day
    ids = _picks(truth)
    assert len(ids) >= 40
    want = {q: reference([str(log)], queue_id=q) for q in ids}
    monkeypatch.setattr(search_mod, "SLACK", 4096)
    backward = 0
    orig_back = search_mod.Search._backward

    def counting_back(self, *a):
        nonlocal backward
        backward += 1
        return orig_back(self, *a)

    monkeypatch.setattr(search_mod.Search, "_backward", counting_back)
    for q in ids:
        assert _doc([str(log)], queue_id=q) == want[q], q
    assert backward > 0, "no hop started before its window: the test does not exercise the backward search"


def _filler(start_min: int, minutes: int, tag: str) -> list[str]:
    """Other messages' lines, one every 2 seconds (about 60 KiB per minute of log)."""
    out = []
    for k in range(minutes * 30):
        t = start_min * 60 + k * 2
        stamp = f"Nov 22 {10 + t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"
        qid = f"{tag}{k:07X}"
        out += [f"{stamp} mx1 postfix/smtpd[11]: {qid}: client=c{k}.example.net[198.51.100.{k % 250}]",
                f"{stamp} mx1 postfix/qmgr[13]: {qid}: removed"]
    return out


def test_an_id_that_must_exist_but_is_not_in_its_window_falls_back_to_a_full_scan(tmp_path, reference, monkeypatch):
    """A bounce notification is made on the same host: it must be in this log. Here its
    lines come 40 minutes after the line naming it (a stalled bounce daemon): the window
    finds nothing, the full scan finds it, the story is the reference's."""
    lines = [
        "Nov 22 10:00:00 mx1 postfix/smtpd[1]: 3A1B2C3D4E: client=a.example.net[192.0.2.1]",
        "Nov 22 10:00:00 mx1 postfix/cleanup[2]: 3A1B2C3D4E: message-id=<m1@example.net>",
        "Nov 22 10:00:00 mx1 postfix/qmgr[3]: 3A1B2C3D4E: from=<s@example.net>, size=1200, nrcpt=1 (queue active)",
        "Nov 22 10:00:01 mx1 postfix/smtp[4]: 3A1B2C3D4E: to=<r@example.org>, relay=mx.example.org[192.0.2.9]:25, delay=1,"
        " delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.example.org[192.0.2.9] said: 550 5.1.1 no such user"
        " (in reply to RCPT TO command))",
        "Nov 22 10:00:01 mx1 postfix/bounce[5]: 3A1B2C3D4E: sender non-delivery notification: 5F6A7B8C9D",
        "Nov 22 10:00:01 mx1 postfix/qmgr[3]: 3A1B2C3D4E: removed",
    ] + _filler(1, 40, "B") + [
        "Nov 22 10:41:00 mx1 postfix/cleanup[2]: 5F6A7B8C9D: message-id=<n1@mx1.example.net>",
        "Nov 22 10:41:00 mx1 postfix/qmgr[3]: 5F6A7B8C9D: from=<>, size=3000, nrcpt=1 (queue active)",
        "Nov 22 10:41:01 mx1 postfix/smtp[4]: 5F6A7B8C9D: to=<s@example.net>, relay=a.example.net[192.0.2.1]:25, delay=1,"
        " delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9E8D7C6B5A)",
        "Nov 22 10:41:01 mx1 postfix/qmgr[3]: 5F6A7B8C9D: removed",
    ] + _filler(42, 10, "C")
    log = tmp_path / "mail.log"
    log.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(search_mod, "SLACK", 4096)
    want = reference([str(log)], queue_id="3A1B2C3D4E")
    fell_back = []
    orig_full = search_mod.Search._full

    def counting_full(self, raw, have):
        fell_back.append(raw)
        return orig_full(self, raw, have)

    monkeypatch.setattr(search_mod.Search, "_full", counting_full)
    got = _doc([str(log)], queue_id="3A1B2C3D4E")
    assert got == want
    assert fell_back == [b"5F6A7B8C9D"]
    (rcpt,) = got[0]["recipients"]
    assert rcpt["verdict"] == "bounced" and rcpt["ndr"]["queue_id"] == "5F6A7B8C9D" and rcpt["ndr"]["delivered"], rcpt


def test_default_windows_give_the_same_stories_without_full_scans(day, reference, monkeypatch):
    log, truth = day
    calls = {"full": 0}
    orig_full = search_mod.Search._full

    def counting_full(self, raw, have):
        calls["full"] += 1
        return orig_full(self, raw, have)

    ids = _picks(truth, 50)
    want = {q: reference([str(log)], queue_id=q) for q in ids}
    monkeypatch.setattr(search_mod.Search, "_full", counting_full)
    for q in ids:
        assert _doc([str(log)], queue_id=q) == want[q], q
    assert calls["full"] <= len(ids) // 10, f"{calls['full']} fallbacks to a full scan for {len(ids)} messages"


def test_an_id_whose_lifecycle_began_in_another_file_is_found_there(day, tmp_path, reference):
    """A rotated pair cut in the middle of a chain: the revealed hop's first lines are in the
    older file, outside any window of the newer one; the fallback finds them."""
    log, truth = day
    lines = log.read_bytes().splitlines(keepends=True)
    rec = next(r for r in truth if r.get("queue_id") and len(r["chain"]) >= 3 and 8000 < r["first_line"] < 25000
               and r["last_line"] - r["first_line"] > 5)
    cut = rec["first_line"] + 2  # the origin's first lines in the old file, the rest in the new one
    old, new = tmp_path / "mail.log.1", tmp_path / "mail.log"
    old.write_bytes(b"".join(lines[:cut]))
    new.write_bytes(b"".join(lines[cut:]))
    paths = [str(old), str(new)]
    for q in [h["queue_id"] for h in rec["chain"]]:
        assert _doc(paths, queue_id=q) == reference(paths, queue_id=q), q


def test_without_grep_the_python_scan_finds_the_same(day, monkeypatch):
    """GNU grep (started for files of at least grep.MIN_SIZE) and the pure-Python scan agree,
    hit for hit: PATH without grep, and a grep that fails, both fall back."""
    log, truth = day
    monkeypatch.setattr(grep, "MIN_SIZE", 0)
    ids = _picks(truth, 45)[:20]
    with_grep = {q: _doc([str(log)], queue_id=q) for q in ids}
    used = grep.start(str(log), ids[0].encode())
    assert used is not None and grep.take(str(log), ids[0].encode()) is not None, "grep did not run"
    monkeypatch.setenv("PATH", "/nonexistent")
    assert grep.start(str(log), ids[0].encode()) is None
    for q in ids:
        assert _doc([str(log)], queue_id=q) == with_grep[q], q
    sender = next(r["sender"] for r in truth if r.get("sender"))
    monkeypatch.setenv("PATH", os.environ["PATH"])
    by_grep = _doc([str(log)], sender=sender.upper())
    monkeypatch.setenv("PATH", "/nonexistent")
    assert _doc([str(log)], sender=sender.upper()) == by_grep and by_grep


def test_grep_output_that_is_not_gnu_format_falls_back(day, tmp_path, monkeypatch):
    """A grep without -b (busybox) prints no offsets: the result is refused, Python scans."""
    log, truth = day
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "grep").write_text("#!/bin/sh\necho 'some line without numbers'\n")
    (fake / "grep").chmod(0o755)
    monkeypatch.setattr(grep, "MIN_SIZE", 0)
    q = next(r["queue_id"] for r in truth if r.get("queue_id") and len(r["chain"]) >= 2)
    want = _doc([str(log)], queue_id=q)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    job = grep.start(str(log), q.encode())
    assert job is not None and grep.take(str(log), q.encode()) is None
    assert _doc([str(log)], queue_id=q) == want


def test_the_console_entry_starts_the_search_before_typer(day):
    """`logtrace follow ID FILE` starts grep before importing typer, rich or polars; the
    answer is the library's."""
    log, truth = day
    q = next(r["queue_id"] for r in truth if r.get("queue_id") and len(r["chain"]) >= 3)
    code = (
        "import sys; sys.argv = ['logtrace', 'follow', %r, %r, '--json', '--year', '2026', '--tz', 'UTC']\n"
        "import logtrace.input.grep as g\n"
        "g.MIN_SIZE = 0\n"
        "seen = []\n"
        "orig = g.GrepJob.__init__\n"
        "def init(self, *a, **k):\n"
        "    seen.append(sorted(m for m in ('typer', 'rich', 'polars', 'pydantic') if m in sys.modules))\n"
        "    orig(self, *a, **k)\n"
        "g.GrepJob.__init__ = init\n"
        "import atexit; atexit.register(lambda: print('EARLY', seen, 'pydantic' in sys.modules, 'polars' in sys.modules, file=sys.stderr))\n"
        "from logtrace.cli import main; main()\n"
    ) % (q, str(log))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode in (0, 4), r.stderr
    assert "EARLY [[]] False False" in r.stderr, r.stderr  # grep started with none loaded; no pydantic, no polars at all
    doc = json.loads(r.stdout)
    assert [m["chain"] for m in doc["messages"]] == [story_to_json(s)["chain"] for s in
                                                    follow([str(log)], queue_id=q, options=OPTS).stories]


@pytest.mark.parametrize("argv, plan", [
    (["follow", "4F8B23C0F2", "a.log", "b.log"], ("id", "4F8B23C0F2", ["a.log", "b.log"])),
    (["follow", "--json", "--tz", "UTC", "4F8B23C0F2", "a.log"], ("id", "4F8B23C0F2", ["a.log"])),
    (["follow", "--message-id", "<x@y>", "a.log"], ("mid", "x@y", ["a.log"])),
    (["follow", "--from=Alice@Example.org", "a.log"], ("from", "Alice@Example.org", ["a.log"])),
    (["follow", "--to", "bob@x", "--where", "status = bounced", "a.log"], ("to", "bob@x", ["a.log"])),
    (["follow", "0b9a2f5e-1c3d-4e5f-8a7b-9c0d1e2f3a4b", "t.log"], ("org", "0b9a2f5e-1c3d-4e5f-8a7b-9c0d1e2f3a4b", ["t.log"])),
    (["follow", "--help"], None),
    (["follow", "4F8B23C0F2", "a.log", "--some-new-option"], None),
    (["follow", "--mta", "exchange", "X", "a.log"], None),
    (["summary", "a.log", "b.log"], None),
    (["follow", "4F8B23C0F2"], None),
])
def test_the_early_reader_of_argv(argv, plan):
    from logtrace.cli.early import follow_plan

    assert follow_plan(argv) == plan


def test_the_early_reader_knows_every_follow_option():
    """The early start reads argv with its own small table; it must list exactly follow's
    options (the typer command stays the one definition: this test keeps them in step)."""
    import typer.main

    from logtrace.cli import app
    from logtrace.cli.early import FLAGS, VALUE_OPTIONS

    cmd = typer.main.get_command(app).commands["follow"]
    values, flags = set(), set()
    for p in cmd.params:
        if getattr(p, "param_type_name", "") != "option" or "--help" in p.opts:
            continue
        (flags if p.is_flag else values).update(o for o in p.opts + p.secondary_opts)
    assert values == set(VALUE_OPTIONS)
    assert flags == set(FLAGS)

"""``logtrace watch`` (issue 20): live files, alerts once, rotation, restarts with --state.

The live tests run ``logtrace watch --json`` as a subprocess while a writer appends real
Postfix lines (from ``sample_logs/postfix/lab-mx1.log``, the lab's own output, with queue IDs
renamed per message) to the file it follows. Nothing here measures latency: every wait is a
generous timeout, and a test knows everything before a *sentinel* message was read once the
sentinel's alert has arrived (lines are read in file order).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAB = (REPO / "sample_logs/postfix/lab-mx1.log").read_text().splitlines()
TIMEOUT = 90  # seconds; a shared 2-core machine can be slow, nothing here is a latency assertion


def _lines_of(*qids: str) -> list[str]:
    return [ln for ln in LAB if any(q in ln for q in qids)]


#: accepted, relayed with 250, removed: no alert
DELIVERED = _lines_of("3AC2E20C2AE")
#: two recipients: one bounced 5.1.1 (an alert), one delivered; the notification to the sender is delivered
BOUNCE = _lines_of("482B920C2B6", "60A9720C242")


def message(template: list[str], n: int, *, ndr_fails: bool = False) -> list[str]:
    """A copy of ``template`` as message number ``n``: its own queue IDs and failed recipient."""
    out = []
    for ln in template:
        for old in ("482B920C2B6", "60A9720C242", "3AC2E20C2AE"):
            ln = ln.replace(old, f"{n:05X}{old[5:]}")
        ln = ln.replace("unknown-multi@", f"unknown-{n}@").replace("ok-delivered@", f"ok-{n}@")
        if ndr_fails and "to=<grace@example.org>" in ln:
            ln = (ln.replace("dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as AE50D0B196)",
                             "dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <grace@example.org>: "
                             "Recipient address rejected: User unknown (in reply to RCPT TO command))"))
        out.append(ln)
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(REPO))
    env["LOGTRACE_NO_GREP"] = "1"
    return env


class Watch:
    """``logtrace watch --json ARGS`` in the background, its alerts collected as they come."""

    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "logtrace", "watch", "--json", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)
        self.alerts: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        self.stderr: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.alerts.put(json.loads(line))

    def _err(self) -> None:
        assert self.p.stderr is not None
        for line in self.p.stderr:
            self.stderr.append(line)
            if line.startswith("watching "):
                self.ready.set()

    def wait_ready(self) -> None:
        assert self.ready.wait(TIMEOUT), f"watch did not start: {''.join(self.stderr)}"

    def wait_for(self, recipient: str, verdict: str = "bounced") -> dict:
        """The alert for ``recipient`` (every alert received on the way is kept in :attr:`seen`)."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for a in self.seen:
                if a.get("recipient") == recipient and a.get("verdict") == verdict:
                    return a
            try:
                self.seen.append(self.alerts.get(timeout=1))
            except queue.Empty:
                assert self.p.poll() is None, f"watch ended early: {''.join(self.stderr)}"
        raise AssertionError(f"no {verdict} alert for {recipient}; got {self.seen}; stderr {''.join(self.stderr)}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.p.send_signal(sig)
        rc = self.p.wait(TIMEOUT)
        time.sleep(0.1)
        while not self.alerts.empty():
            self.seen.append(self.alerts.get())
        return rc


def append(path: Path, lines: list[str], pause: float = 0.0) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for ln in lines:
            f.write(ln + "\n")
            f.flush()
            if pause:
                time.sleep(pause)


def writer(fn, *args) -> threading.Thread:  # noqa: ANN001
    t = threading.Thread(target=fn, args=args)
    t.start()
    return t


def _count(alerts: list[dict], recipient: str, verdict: str = "bounced") -> int:
    return sum(1 for a in alerts if a["recipient"] == recipient and a["verdict"] == verdict)


# ---------------------------------------------------------------------- live


def test_a_bounce_alerts_once_and_delivered_mail_never(tmp_path):
    log = tmp_path / "mail.log"
    append(log, message(BOUNCE, 1))  # already there: watch starts at the end, so no alert for it
    w = Watch(str(log))
    try:
        w.wait_ready()
        t = writer(lambda: append(log, message(DELIVERED, 2) + message(BOUNCE, 3) + message(DELIVERED, 4) + message(BOUNCE, 5),
                                  0.01))
        a = w.wait_for("unknown-3@ext.example.test")
        w.wait_for("unknown-5@ext.example.test")  # the sentinel: every line before it was read
        t.join()
    finally:
        assert w.stop() == 0
    assert a["schema"] == "logtrace.alert/1" and a["verdict"] == "bounced" and a["dsn"] == "5.1.1"
    assert a["class"] == "mailbox_unknown" and a["sender"] == "grace@example.org" and a["host"] == "mx1"
    assert a["queue_id"] == f"{3:05X}20C2B6" and a["chain"][0]["queue_id"] == a["queue_id"]
    assert {"ts", "verdict", "queue_id", "host", "sender", "recipient", "dsn", "reason", "class", "chain", "alert_id"} <= set(a)
    assert a["ndr"] and a["ndr"]["queue_id"] == f"{3:05X}20C242"  # decided after the notification line
    assert _count(w.seen, "unknown-3@ext.example.test") == 1
    assert not [x for x in w.seen if x["recipient"] in ("unknown-1@ext.example.test", "ok-2@ext.example.test",
                                                           "ok-4@ext.example.test", "ok-multi@ext.example.test")]
    assert len({x["alert_id"] for x in w.seen}) == len(w.seen) == 2


def test_a_failed_bounce_notification_is_its_own_alert(tmp_path):
    log = tmp_path / "mail.log"
    log.touch()
    w = Watch(str(log))
    try:
        w.wait_ready()
        append(log, message(BOUNCE, 7, ndr_fails=True))
        w.wait_for("unknown-7@ext.example.test", "notification-failed")
        w.wait_for("unknown-7@ext.example.test", "bounced")
    finally:
        assert w.stop() == 0
    assert [a["verdict"] for a in w.seen].count("notification-failed") == 1
    assert [a["verdict"] for a in w.seen].count("bounced") == 1


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_rotation_in_the_middle_of_a_message_still_alerts_once(tmp_path, how):
    log = tmp_path / "mail.log"
    log.touch()
    msg = message(BOUNCE, 9)
    cut = next(i for i, ln in enumerate(msg) if "status=bounced" in ln)  # the deciding line comes after the rotation
    w = Watch(str(log))
    try:
        w.wait_ready()
        append(log, message(DELIVERED, 8) + msg[:cut])
        time.sleep(1.0)  # let watch read the first half (not required for correctness of rename; it drains the old file)
        if how == "rename":
            os.rename(log, tmp_path / "mail.log.1")
            append(log, msg[cut:])
        else:
            shutil.copyfile(log, tmp_path / "mail.log.1")
            with open(log, "r+") as f:
                f.truncate(0)
            append(log, msg[cut:])
        append(log, message(BOUNCE, 10))  # the sentinel
        w.wait_for("unknown-9@ext.example.test")
        w.wait_for("unknown-10@ext.example.test")
        time.sleep(1.0)
    finally:
        assert w.stop() == 0
    assert _count(w.seen, "unknown-9@ext.example.test") == 1
    assert _count(w.seen, "unknown-10@ext.example.test") == 1
    assert len(w.seen) == 2, w.seen


def test_restart_with_state_resumes_without_repeating(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "watch.state"
    log.touch()
    w = Watch("--state", str(state), str(log))
    try:
        w.wait_ready()
        append(log, message(BOUNCE, 11) + message(BOUNCE, 12)[:3])  # 12 is accepted, not yet decided
        w.wait_for("unknown-11@ext.example.test")
        time.sleep(1.0)
    finally:
        assert w.stop() == 0
    assert json.loads(state.read_text())["schema"] == "logtrace.alert/1"
    append(log, message(BOUNCE, 12)[3:] + message(DELIVERED, 13))  # written while watch is down
    w2 = Watch("--state", str(state), "--from-start", str(log))  # the state's offsets win over --from-start
    try:
        w2.wait_ready()
        a = w2.wait_for("unknown-12@ext.example.test")
        append(log, message(BOUNCE, 14))
        w2.wait_for("unknown-14@ext.example.test")
    finally:
        assert w2.stop() == 0
    assert a["sender"] == "grace@example.org"  # the open lifecycle came back from the state
    assert _count(w2.seen, "unknown-11@ext.example.test") == 0
    assert _count(w2.seen, "unknown-12@ext.example.test") == 1 and len(w2.seen) == 2


def test_kill_9_loses_no_alert_and_a_repeat_has_the_same_id(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "watch.state"
    log.touch()
    w = Watch("--state", str(state), str(log))
    try:
        w.wait_ready()
        append(log, message(BOUNCE, 21))
        first = w.wait_for("unknown-21@ext.example.test")
    finally:
        w.stop(signal.SIGKILL)
    append(log, message(BOUNCE, 22))
    w2 = Watch("--state", str(state), str(log))
    try:
        w2.wait_ready()
        w2.wait_for("unknown-22@ext.example.test")
    finally:
        assert w2.stop() == 0
    again = [a for a in w2.seen if a["recipient"] == "unknown-21@ext.example.test"]
    assert all(a["alert_id"] == first["alert_id"] for a in again) and len(again) <= 1


def test_for_stops_the_watch_and_exec_gets_each_alert_on_stdin(tmp_path):
    log, got = tmp_path / "mail.log", tmp_path / "exec.out"
    append(log, message(BOUNCE, 31) + message(DELIVERED, 32) + message(BOUNCE, 33))
    hook = f"{sys.executable} -c 'import sys; open(sys.argv[1], \"a\").write(sys.stdin.read())' {got}"
    p = subprocess.run([sys.executable, "-m", "logtrace", "watch", "--from-start", "--for", "3", "--exec", hook, str(log)],
                       capture_output=True, text=True, env=_env(), cwd=REPO, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    human = p.stdout.splitlines()
    assert len(human) == 2 and all(" bounced mx1:" in ln for ln in human)
    sent = [json.loads(ln) for ln in got.read_text().splitlines()]
    assert [a["recipient"] for a in sent] == ["unknown-31@ext.example.test", "unknown-33@ext.example.test"]


def test_a_stream_on_stdin_ends_with_its_input():
    data = "\n".join(message(BOUNCE, 41) + message(DELIVERED, 42)) + "\n"
    p = subprocess.run([sys.executable, "-m", "logtrace", "watch", "--json", "-"], input=data, capture_output=True, text=True,
                       env=_env(), cwd=REPO, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    alerts = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert [(a["verdict"], a["recipient"]) for a in alerts] == [("bounced", "unknown-41@ext.example.test")]


def test_bad_exec_and_bad_state_are_usage_errors(tmp_path):
    log = tmp_path / "mail.log"
    log.touch()
    p = subprocess.run([sys.executable, "-m", "logtrace", "watch", "--for", "0", "--exec", "'unbalanced", str(log)],
                       capture_output=True, text=True, env=_env(), cwd=REPO, timeout=TIMEOUT)
    assert p.returncode == 2 and p.stderr.startswith("error: --exec")
    bad = tmp_path / "state"
    bad.write_text("{not json")
    p = subprocess.run([sys.executable, "-m", "logtrace", "watch", "--for", "0", "--state", str(bad), str(log)],
                       capture_output=True, text=True, env=_env(), cwd=REPO, timeout=TIMEOUT)
    assert p.returncode == 2 and "not a watch state file" in p.stderr and "hint:" in p.stderr


# ---------------------------------------------------------------------- the same verdicts as `bounces`


def test_a_replay_alerts_exactly_what_bounces_reports(tmp_path):
    """Over a generated log (relays, content filters, NDRs, expiries) watch's alerts are the
    failed recipients of ``bounces`` (bounced, expired, discarded; a failed notification too)."""
    log = tmp_path / "gen.log"
    subprocess.run([sys.executable, str(REPO / "bench/genlog.py"), "--lines", "40000", "--seed", "11", "--out", str(log), "-q"],
                   check=True, env=_env())
    p = subprocess.run([sys.executable, "-m", "logtrace", "watch", "--json", "--max-alerts-per-minute", "100000", "-"],
                       stdin=open(log, "rb"), capture_output=True, text=True, env=_env(), cwd=REPO, timeout=600)
    assert p.returncode == 0, p.stderr
    alerts = [json.loads(ln) for ln in p.stdout.splitlines()]
    got = {(a["host"], a["queue_id"], a["recipient"], a["verdict"]) for a in alerts}
    assert len(got) == len(alerts) and alerts, "one alert per failure, and some failures"
    b = subprocess.run([sys.executable, "-m", "logtrace", "bounces", "--json", str(log)], capture_output=True, text=True,
                       env=_env(), cwd=REPO, timeout=600)
    want = set()
    for m in json.loads(b.stdout)["messages"]:
        for r in m["recipients"]:
            if r.get("category") in ("bounced", "expired", "discarded", "quarantined"):
                want.add((r["host"], r["queue_id"], r["recipient"], r["category"]))
                if r.get("ndr") and r["ndr"].get("delivered") is False:
                    want.add((r["host"], r["queue_id"], r["recipient"], "notification-failed"))
    assert got == want


# ---------------------------------------------------------------------- the parts


def test_tail_follows_rename_copytruncate_partial_lines_and_late_files(tmp_path):
    from logtrace.input.tail import Tail

    log = tmp_path / "a.log"
    log.write_text("old 1\nold 2\n")
    t = Tail(str(log))
    assert t.poll() == []  # starts at the end
    append(log, ["one"])
    with open(log, "a") as f:
        f.write("par")
    assert t.poll() == [(3, "one")]
    with open(log, "a") as f:
        f.write("tial\nlast before rotation\n")
    os.rename(log, tmp_path / "a.log.1")
    append(log, ["new 1"])
    assert [x for _, x in t.poll()] == ["partial", "last before rotation", "new 1"] and t.rotations == 1
    append(log, ["new 2 " + "x" * 50])
    assert t.poll() == [(2, "new 2 " + "x" * 50)]
    log.write_text("after truncate, grown back past the old offset: " + "y" * 80 + "\n")  # copytruncate, unseen in between
    assert [x for _, x in t.poll()] == ["after truncate, grown back past the old offset: " + "y" * 80] and t.truncations == 1
    late = Tail(str(tmp_path / "late.log"))
    assert late.poll() == []
    append(tmp_path / "late.log", ["first line of a file that appeared later"])
    assert late.poll() == [(1, "first line of a file that appeared later")]
    for x in (t, late):
        x.close()


def test_tail_resumes_at_a_saved_position_only_in_the_same_file(tmp_path):
    from logtrace.input.tail import Position, Tail

    log = tmp_path / "a.log"
    log.write_text("1\n2\n")
    t = Tail(str(log), from_start=True)
    assert [x for _, x in t.poll()] == ["1", "2"]
    pos = Position.from_json(t.pos.to_json())
    t.close()
    append(log, ["3"])
    again = Tail(str(log), resume=pos)
    assert again.poll() == [(3, "3")]
    again.close()
    os.rename(log, tmp_path / "a.log.1")
    log.write_text("other file\n")
    other = Tail(str(log), resume=pos)  # another inode: read from its beginning
    assert other.poll() == [(1, "other file")]
    other.close()


def test_rate_limit_holds_back_and_then_says_how_many():
    from logtrace.trace.watching import RateLimit

    now = [0.0]
    rl = RateLimit(2, clock=lambda: now[0])
    assert len(rl.admit([{"n": i} for i in range(5)])) == 2 and rl.held == 3
    now[0] = 61.0
    out = rl.admit([{"n": 9}])
    assert out[0]["verdict"] == "held-back" and out[0]["held_back"] == 3 and out[1] == {"n": 9}


def test_alert_ids_are_stable_and_human_lines_are_inert(capsys):
    from logtrace.cli import render
    from logtrace.trace.narrative import Clock
    from logtrace.trace.watch import alert_id

    assert alert_id("mx1", "ABC", "Bob@x", "bounced") == alert_id("mx1", "ABC", "bob@x", "bounced")
    assert alert_id("mx1", "ABC", "bob@x", "bounced") != alert_id("mx1", "ABC", "bob@x", "notification-failed")
    render.print_alert({"ts": "2026-11-22T19:42:01+00:00", "verdict": "bounced", "host": "mx1", "queue_id": "ABC",
                        "sender": "a@b", "recipient": "evil\x1b[31m@x", "dsn": "5.1.1", "class": "other",
                        "summary": "bounced\r\x1b]0;pwned\x07"}, Clock())
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\\x1b[31m" in out and out.count("\n") == 1


def test_readme_documents_the_alert_schema_and_docs_hold_a_systemd_unit():
    readme = (REPO / "README.md").read_text()
    section = readme.split("### `logtrace watch`", 1)[1].split("\n### ", 1)[0]
    for key in ("schema", "alert_id", "ts", "verdict", "host", "queue_id", "origin", "sender", "recipient", "dsn", "reason",
                "class", "chain", "ndr", "evidence"):
        assert f'"{key}"' in section, key
    assert "logtrace.alert/1" in section and "Exit codes" in section
    unit = (REPO / "docs/logtrace-watch.service").read_text()
    assert "ExecStart=/usr/local/bin/logtrace watch" in unit and "[Install]" in unit


def test_ctrl_c_exits_130_and_keeps_the_state(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "watch.state"
    log.touch()
    w = Watch("--state", str(state), str(log))
    try:
        w.wait_ready()
        append(log, message(BOUNCE, 51))
        w.wait_for("unknown-51@ext.example.test")
    finally:
        rc = w.stop(signal.SIGINT)
    assert rc == 130 and "interrupted" in "".join(w.stderr) and "Traceback" not in "".join(w.stderr)
    doc = json.loads(state.read_text())
    assert doc["files"][str(log)]["offset"] == log.stat().st_size and len(doc["sent"]) == 1

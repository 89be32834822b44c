"""``logtrace watch`` (issue 20), second part: metrics, ``--alert-deferred-after``, journald
JSON streams, globs and directories, and memory bounded on a 1M-line-class replay.

The metrics test scrapes the live endpoint and parses it with ``prometheus_client``'s own
parsers (Prometheus text and OpenMetrics); the counters with a ``summary`` total must equal
``summary --format json`` over the same lines. Nothing here measures time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from test_watch import BOUNCE, DELIVERED, LAB, TIMEOUT, Watch, _env, append, message

REPO = Path(__file__).resolve().parents[1]
GENLOG = REPO / "bench" / "genlog.py"

# prometheus_client is in the [test] extra (and logtrace[watch]): no skip
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus


def _samples(text: str, parser=parse_prometheus) -> dict[tuple[str, tuple], float]:  # noqa: ANN001
    out = {}
    for fam in parser(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _total(samples: dict[tuple[str, tuple], float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def _gen(tmp_path: Path, lines: int, seed: int) -> Path:
    log = tmp_path / f"gen-{lines}.log"
    subprocess.run([sys.executable, str(GENLOG), "--lines", str(lines), "--seed", str(seed), "--out", str(log), "-q"],
                   check=True, env=_env(), timeout=300)
    return log


# ---------------------------------------------------------------------- metrics


def test_metrics_endpoint_equals_summary_totals_and_labels_are_bounded(tmp_path):
    from logtrace.reports.reasons import REASON_CLASSES
    from logtrace.trace.metrics import SUMMARY_EQUIVALENTS

    log = tmp_path / "mail.log"
    gen = _gen(tmp_path, 30_000, 7)
    lines = gen.read_text().splitlines() + LAB  # generated relays/filters/NDRs plus the lab's rejects and deferrals
    log.write_text("\n".join(lines) + "\n")
    textfile = tmp_path / "logtrace.prom"
    w = Watch("--from-start", "--max-alerts-per-minute", "100000", "--metrics-listen", "127.0.0.1:0",
              "--metrics-file", str(textfile), str(log))
    try:
        w.wait_ready()
        url = next(ln.split()[-1] for ln in w.stderr if ln.startswith("metrics at "))
        deadline = time.monotonic() + TIMEOUT * 3
        while True:
            text = urllib.request.urlopen(url, timeout=30).read().decode()
            got = _samples(text)
            if _total(got, "logtrace_lines_total") == len(lines) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        while time.monotonic() < deadline:  # every line is in: wait until the step that read them has finished too
            time.sleep(0.5)
            again = _samples(urllib.request.urlopen(url, timeout=30).read().decode())
            if {k: v for k, v in again.items() if k[0].endswith("_total")} == {k: v for k, v in got.items() if k[0].endswith("_total")}:
                break  # counters only: gauges such as the lag move with the clock
            got = again
        req = urllib.request.Request(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        om = urllib.request.urlopen(req, timeout=30)
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        om_samples = _samples(om.read().decode(), parse_openmetrics)
    finally:
        assert w.stop() == 0
    assert _total(got, "logtrace_lines_total") == len(lines)
    s = subprocess.run([sys.executable, "-m", "logtrace", "summary", "--format", "json", str(log)], capture_output=True,
                       text=True, env=_env(), cwd=REPO, timeout=600)
    totals = json.loads(s.stdout)["totals"]
    for metric, key in SUMMARY_EQUIVALENTS.items():
        assert _total(got, metric) == totals[key], (metric, key)
    for key in ("received", "delivered", "bounced", "rejected", "deferred"):
        assert totals[key] > 0, key  # the comparison is not 0 == 0
    assert _total(om_samples, "logtrace_messages_accepted_total") == totals["received"]  # the same in OpenMetrics
    # postfix_exporter's names, meaning what they mean there
    assert _total(got, "postfix_smtpd_connects_total") == sum(" connect from " in ln and "/smtpd[" in ln for ln in lines)
    assert _total(got, "postfix_qmgr_messages_removed_total") == sum(ln.endswith(": removed") and "/qmgr[" in ln for ln in lines)
    n_delays = sum("/smtp[" in ln and " delays=" in ln for ln in lines)
    assert got[("postfix_smtp_delivery_delay_seconds_count", (("stage", "transmission"),))] == n_delays
    # alerts counted by verdict and class, from bounded sets
    alerts = [a for a in w.seen if a["verdict"] in ("bounced", "expired", "discarded", "quarantined")]
    assert alerts and _total(got, "logtrace_accepted_then_failed_total") == len(alerts)
    labels = {dict(k[1]).get("class") for k in got if k[0] in ("logtrace_accepted_then_failed_total", "logtrace_rejected_total")}
    assert labels and labels <= set(REASON_CLASSES)
    verdicts = {dict(k[1])["verdict"] for k in got if k[0] == "logtrace_accepted_then_failed_total"}
    assert verdicts <= {"bounced", "expired", "discarded", "quarantined"}
    programs = {dict(k[1])["program"] for k in got if k[0] == "logtrace_lines_total"}
    assert {"smtpd", "qmgr", "smtp", "cleanup"} <= programs and all(" " not in p and len(p) < 33 for p in programs)
    assert ("logtrace_watch_lag_seconds", ()) in got and got[("logtrace_watch_backlog_bytes", ())] == 0
    assert not [k for k in got if k[0].endswith("_created")]  # no per-counter creation stamps in the exposition
    # the textfile (written at exit, atomically) says the same
    final = _samples(textfile.read_text())
    for metric in SUMMARY_EQUIVALENTS:
        assert _total(final, metric) == _total(got, metric)
    assert not list(tmp_path.glob("*.prom.*")), "no temporary file left behind"


def test_metrics_options_errors(tmp_path):
    log = tmp_path / "mail.log"
    log.touch()
    for args, text in ((["--metrics-listen", "nonsense"], "not HOST:PORT"),
                       (["--metrics-file", str(tmp_path / "no/such/dir/x.prom")], "--metrics-file"),
                       (["--alert-deferred-after", "soon"], "time span")):
        p = subprocess.run([sys.executable, "-m", "logtrace", "watch", "--for", "0", *args, str(log)], capture_output=True,
                           text=True, env=_env(), cwd=REPO, timeout=TIMEOUT)
        assert p.returncode == 2 and p.stderr.startswith("error:") and text in p.stderr and "Traceback" not in p.stderr, p.stderr


# ---------------------------------------------------------------------- deferred too long


def _at(line: str, when: datetime) -> str:
    """``line`` with its RFC 3164 stamp set to ``when`` (two-digit days only)."""
    return when.strftime("%b %d %H:%M:%S") + line[15:]


def test_alert_deferred_after_names_recipients_still_deferred_that_long(tmp_path):
    from logtrace.trace.watching import Watcher

    mine = [ln for ln in LAB if "3F2FC20C2B1" in ln or ("4A13820C2B7" in ln and "postsuper" not in ln)]
    t0 = datetime(2026, 11, 22, 19, 42, 1)
    later = [_at(ln, t0 + timedelta(minutes=m)) for m, ln in ((3, LAB[0]), (6, LAB[0]), (8, LAB[0]))]
    log = tmp_path / "mail.log"
    log.write_text("\n".join(mine + later) + "\n")
    os.utime(log, (t0.replace(tzinfo=timezone.utc).timestamp(),) * 2)
    w = Watcher([str(log)], from_start=True, deferred_after=timedelta(minutes=5))
    alerts = w.step() + w.finish()
    w.close()
    deferred = [a for a in alerts if a["verdict"] == "deferred"]
    assert [a["recipient"] for a in deferred] == ["tempfail-delete@ext.example.test"]  # greylist-1 was delivered
    a = deferred[0]
    assert a["queue_id"] == "4A13820C2B7" and a["dsn"] == "4.4.1" and a["sender"] == "heidi@example.org"
    assert a["deferred_for_s"] >= 300 and a["schema"] == "logtrace.alert/1" and a["class"]
    # without the option: no deferred alert
    w = Watcher([str(log)], from_start=True)
    assert not [a for a in w.step() + w.finish() if a["verdict"] == "deferred"]
    w.close()


# ---------------------------------------------------------------------- journald, globs, directories


def _journal(line: str, year: int = 2026) -> str:
    """A syslog line of the lab as ``journalctl -o json`` would give it."""
    ts = datetime.strptime(f"{year} {line[:15]}", "%Y %b %d %H:%M:%S").replace(tzinfo=timezone.utc)
    host, rest = line[16:].split(" ", 1)
    tag, msg = rest.split(": ", 1)
    ident, pid = tag.rstrip("]").split("[")
    return json.dumps({"__REALTIME_TIMESTAMP": str(int(ts.timestamp() * 1e6)), "_HOSTNAME": host, "SYSLOG_IDENTIFIER": ident,
                       "SYSLOG_PID": pid, "_PID": pid, "MESSAGE": msg, "PRIORITY": "6", "_TRANSPORT": "syslog"})


def test_a_journalctl_json_stream_alerts_like_the_syslog_file():
    lines = message(DELIVERED, 1) + message(BOUNCE, 2)
    p = subprocess.run([sys.executable, "-m", "logtrace", "watch", "--json", "-"], input="\n".join(map(_journal, lines)) + "\n",
                       capture_output=True, text=True, env=_env(), cwd=REPO, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    alerts = [json.loads(ln) for ln in p.stdout.splitlines()]
    q = subprocess.run([sys.executable, "-m", "logtrace", "watch", "--json", "-"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, env=_env(), cwd=REPO, timeout=TIMEOUT)
    plain = [json.loads(ln) for ln in q.stdout.splitlines()]
    assert [(a["verdict"], a["recipient"], a["queue_id"], a["host"]) for a in alerts] == [
        ("bounced", "unknown-2@ext.example.test", f"{2:05X}20C2B6", "mx1")]
    assert [a["alert_id"] for a in alerts] == [a["alert_id"] for a in plain]


def test_globs_and_directories_follow_new_files_and_not_rotated_ones(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    other = tmp_path / "hosts"
    other.mkdir()
    append(logs / "mail.log", message(BOUNCE, 1))  # there before: watch starts at its end
    (logs / "mail.log.2.gz").write_bytes(b"\x1f\x8b not followed")
    w = Watch(str(logs), str(other / "*.log"))
    try:
        w.wait_ready()
        append(logs / "mail.log", message(BOUNCE, 2))
        w.wait_for("unknown-2@ext.example.test")
        append(other / "mx-b.log", message(DELIVERED, 3) + message(BOUNCE, 3))  # a new file matching the glob
        w.wait_for("unknown-3@ext.example.test")
        os.rename(logs / "mail.log", logs / "mail.log.1")  # rotation: mail.log.1 is the old file, not a new one
        append(logs / "mail.log.1", message(BOUNCE, 4))
        append(logs / "mail.log", message(BOUNCE, 5))
        (logs / "late.log").write_text("\n".join(message(BOUNCE, 6)) + "\n")  # a new file in the directory
        w.wait_for("unknown-4@ext.example.test")
        w.wait_for("unknown-5@ext.example.test")
        w.wait_for("unknown-6@ext.example.test")
        time.sleep(5)  # two rescans: a repeat, if any, would come now
    finally:
        assert w.stop() == 0
    got = sorted(a["recipient"] for a in w.seen)
    assert got == [f"unknown-{n}@ext.example.test" for n in (2, 3, 4, 5, 6)], got


# ---------------------------------------------------------------------- memory

_HELPER = """
import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stdin=open(sys.argv[1], "rb"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
sys.stdout.write("%d %d\\n" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode))
sys.stderr.buffer.write(r.stderr[-2000:])
"""
#: the larger replay may cost at most this much more than the smaller (the open-lifecycle set,
#: log-time TTL/linger, is the same size in both: the generator's traffic rate is the same)
GROWTH_MAX = 1.25


def test_memory_stays_bounded_on_a_long_replay(tmp_path):
    """Peak RSS of ``watch`` replaying 300k and 600k generated lines (about 45 and 90 MB; the
    1M-line bench replay is in ``bench/run``): the larger must not cost much more. Replayed
    from a stream so the run ends by itself; the file follower reads the same way
    (``READ_MAX`` per poll)."""
    peaks = {}
    for n in (300_000, 600_000):
        log = _gen(tmp_path, n, 3)
        r = subprocess.run([sys.executable, "-c", _HELPER, str(log), sys.executable, "-m", "logtrace", "watch", "--json",
                            "--max-alerts-per-minute", "1000000", "-"], capture_output=True, text=True, cwd=REPO,
                           env=_env(), timeout=1800)
        kb, rc = map(int, r.stdout.split())
        assert rc == 0 and "Traceback" not in r.stderr, r.stderr
        peaks[n] = kb / 1024
        log.unlink()
    print("watch peak RSS MB:", peaks)  # shown with -s
    assert peaks[600_000] <= GROWTH_MAX * peaks[300_000], peaks


def test_a_backlog_parsed_as_a_frame_gives_what_line_by_line_gives(tmp_path, monkeypatch):
    """Polls of many lines (a replay, a backlog) go through the frame engine, small ones line by
    line: the same alerts and the same metrics either way."""
    from prometheus_client import generate_latest

    from logtrace.trace import watching
    from logtrace.trace.metrics import Metrics

    log = tmp_path / "mail.log"
    log.write_text(_gen(tmp_path, 12_000, 13).read_text() + "\n".join(LAB) + "\n")
    out = {}
    for frame_min in (1, 10**9):
        monkeypatch.setattr(watching, "FRAME_MIN", frame_min)
        m = Metrics()
        w = watching.Watcher([str(log)], from_start=True, metrics=m)
        alerts = w.step() + w.finish()
        w.close()
        samples = {k: v for k, v in _samples(generate_latest(m.registry).decode()).items()
                   if not k[0].endswith("_created") and "lag" not in k[0]}
        out[frame_min] = ({(a["alert_id"], a["verdict"], a["reason"]) for a in alerts}, samples)
    assert out[1][0] and out[1][0] == out[10**9][0]
    assert out[1][1] == out[10**9][1]

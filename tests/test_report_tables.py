"""Issue 19, correct tables: numbers are never cut at any width, ``--top`` reaches every table,
rejects are counted as rejects, per-day columns agree with the grand totals, errors print no
report of zeros, time windows are checked.

Logs: ``bench/genlog.py`` (a busy day with rejects, deferrals, bounces and content filtering) and
the public corpus; ``--year``/``--tz UTC`` pin the time axis.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import CORPUS, corpus_file, generate_log
from logtrace.cli import app

PIN = ["--year", "2024", "--tz", "UTC"]
#: sections cut to --top rows (reject tables: --top rows per action, warnings: per severity)
TOP_SECTIONS = ("delivery_by_domain", "delivery_by_relay", "reception_by_domain", "reception_by_client", "senders_by_count",
                "senders_by_size", "recipients_by_count", "recipients_by_size", "deferral_reasons", "deferral_hosts",
                "bounce_reasons", "bounce_hosts", "no_size", "smtpd_hosts")
PER_GROUP = {"reject_reasons": "action", "reject_hosts": "action", "warnings": "severity"}


def run(*args: str, columns: int = 200) -> tuple[int, str, str]:
    r = CliRunner(env={"NO_COLOR": "1", "COLUMNS": str(columns)}).invoke(app, ["summary", *args])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def doc(path: str, *extra: str) -> dict:
    code, out, err = run(path, "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(generate_log(tmp_path_factory.mktemp("busy") / "busy.log", 20000, 7))


def numbers_of(d: dict) -> list[int]:
    """Every count of the JSON totals, the de-duplicated counts and the per-day table."""
    vals = [v for v in d["totals"].values() if isinstance(v, int)]
    vals += [v for k, v in d["unique"].items() if isinstance(v, int)]
    vals += [v for row in d["sections"]["per_day"] for v in row.values() if isinstance(v, int)]
    return vals


def assert_whole(text: str, values: list[int], where: str) -> None:
    for v in set(values):
        pat = rf"(?<![\d,.]){re.escape(f'{v:,}')}(?![\d,])"
        assert re.search(pat, text), f"{v:,} is cut or missing in the {where}"


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_rich_table_never_cuts_a_number(busy: str, columns: int) -> None:
    d = doc(busy, *PIN, "--top", "5")
    code, out, _ = run(busy, *PIN, "--top", "5", columns=columns)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= columns
    assert_whole(out, numbers_of(d), f"table at {columns} columns")
    # every number of every section shown too (reasons, hosts, delays …)
    for name, rows in d["sections"].items():
        for row in rows:
            for k, v in row.items():
                if isinstance(v, int) and not isinstance(v, bool):
                    assert_whole(out, [v], f"table at {columns} columns, section {name}.{k}")


def test_top_applies_to_every_table(busy: str) -> None:
    every = doc(busy, *PIN, "--top", "0")
    one = doc(busy, *PIN, "--top", "1")
    for name in TOP_SECTIONS:
        if name in one["sections"]:
            assert len(one["sections"][name]) <= 1, name
    for name, group in PER_GROUP.items():
        seen = [r[group] for r in one["sections"][name]]
        assert len(seen) == len(set(seen)), name
    # --top 0: everything, and more than one row where there is more than one
    assert len(every["sections"]["reject_reasons"]) > 3
    assert len(every["sections"]["recipients_by_count"]) > 10


def test_rejects_by_reason_count_rejects_and_per_day_agrees_with_totals(busy: str) -> None:
    d = doc(busy, *PIN, "--top", "0")
    t, s = d["totals"], d["sections"]
    assert t["rejected"] > 10
    by_action: dict[str, int] = {}
    for r in s["reject_reasons"]:
        by_action[r["action"]] = by_action.get(r["action"], 0) + r["count"]
        assert "messages" not in r  # NOQUEUE rejects have no message to count
    assert by_action.get("reject", 0) == t["rejected"]
    assert by_action.get("reject_warning", 0) == t["reject_warnings"]
    acts = {r["action"]: r["count"] for r in s["reject_actions"]}
    assert acts.get("reject", 0) == t["rejected"]
    for key, total in (("rejected", "rejected"), ("deferrals", "deferrals"), ("received", "received"),
                       ("delivered", "delivered"), ("bounced", "bounced")):
        assert sum(r[key] for r in s["per_day"]) == t[total], key
        assert sum(r[key] for r in s["per_hour"]) == t[total], key
    for name in ("deferral_reasons", "bounce_reasons"):
        assert all(r["messages"] <= r["count"] for r in s[name])


def test_binary_file_and_unknown_mta_print_no_report(tmp_path: Path) -> None:
    binary = tmp_path / "x.bin"
    binary.write_bytes(bytes(range(256)) * 20)
    for args in ([str(binary)], ["--mta", "sendmail", str(binary)]):
        code, out, err = run(*args)
        assert code == 2
        assert out == "" and "Grand totals" not in err
        assert err.startswith("error:")


def test_since_after_until_is_a_usage_error(busy: str) -> None:
    code, out, err = run(busy, "--since", "2024-05-02", "--until", "2024-05-01", "--tz", "UTC")
    assert code == 2 and out == ""
    assert "--since" in err and "after --until" in err


def test_window_outside_the_logs_names_their_range(busy: str) -> None:
    d = doc(busy, *PIN)
    first = d["period"]["first"][:10]
    code, _, err = run(busy, *PIN, "--since", "2030-01-01", "--format", "json")
    assert code == 0
    assert "warning: nothing in the window" in err and first in err


def test_real_corpus_rejects_are_grouped_by_normalized_reason() -> None:
    """fail2ban's test log: 26 rejects from many clients; groups are far fewer than rejects."""
    path = corpus_file(CORPUS / "postfix" / "fail2ban-tests-postfix.log")
    d = doc(str(path), "--top", "0", "--mta", "postfix")
    rows = d["sections"]["reject_reasons"]
    assert sum(r["count"] for r in rows if r["action"] == "reject") == d["totals"]["rejected"]
    for r in rows:
        assert "@" not in r["reason"] and not re.search(r"\d+\.\d+\.\d+\.\d+", r["reason"])
        assert r["example"]  # one raw example per group


@pytest.mark.parametrize("name", ["busy", "exchange", "last_mile"])
def test_streaming_fold_equals_the_whole_frame_build(name: str, busy: str, tmp_path: Path) -> None:
    """The two paths to a summary (the block fold ``summarize`` uses, ``build`` over a whole event
    frame) give the same totals and sections, new sections included."""
    from logtrace.parsing.protocol import ParseOptions
    from logtrace.reports.collect import collect_events
    from logtrace.reports.document import rows
    from logtrace.reports.summary import build, summarize
    from test_last_mile import AMAVIS, MX2

    repo = Path(__file__).resolve().parents[1]
    if name == "busy":
        path = busy
    elif name == "exchange":
        path = str(repo / "sample_logs" / "exchange" / "all-event-ids.log")
    else:
        p = tmp_path / "lm.log"
        p.write_text(MX2 + AMAVIS)
        path = str(p)
    opts = ParseOptions(year=2024, tz="UTC")
    s = summarize([path], options=opts, top=5, smtpd_stats=True, zone="UTC")
    c = collect_events([path], options=opts, smtpd_stats=True)
    totals, unique, sections, smtpd, counts = build(c.events, tz="UTC", top=5, smtpd_stats=True)
    assert (totals, unique, smtpd, counts) == (s.totals, s.unique, s.smtpd, s.counts)
    assert set(sections) == set(s.sections)
    for k in sections:
        assert rows(sections[k]) == rows(s.sections[k]), k


def test_delay_distribution_in_eximstats_buckets(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    lines = []
    for i, delay in enumerate((0.4, 30, 59, 61, 4201, 90000)):
        q = f"4F1A2B3C{i:02d}"
        lines += [f"Mar  4 09:00:0{i} mx postfix/smtpd[1]: {q}: client=c.example.net[192.0.2.1]",
                  f"Mar  4 09:00:0{i} mx postfix/qmgr[2]: {q}: from=<a@example.net>, size=100, nrcpt=1 (queue active)",
                  f"Mar  4 09:00:0{i} mx postfix/smtp[3]: {q}: to=<b@example.com>, relay=mx.example.com[198.51.100.5]:25, "
                  f"delay={delay}, delays=0/0/0/0, dsn=2.0.0, status=sent (250 ok)"]
    log.write_text("\n".join(lines) + "\n")
    d = doc(str(log), *PIN)
    rows = {r["delay"]: r["count"] for r in d["sections"]["delay_distribution"]}
    assert rows["under 1m"] == 3 and rows["1m-5m"] == 1 and rows["1h-3h"] == 1 and rows["over 1d"] == 1
    assert sum(rows.values()) == {r["part"]: r for r in d["sections"]["delays"]}["delay"]["count"] == 6
    assert d["sections"]["delay_distribution"][-1]["cumulative_percent"] == 100.0

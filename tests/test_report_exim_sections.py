"""Issue 19, eximstats' "Deliveries by transport" and "Relayed messages" in ``logtrace summary``: the
transport field they read, ``--merge`` (merged days equal the days read together), mixed inputs,
``--top``, the fold against the whole-frame build, every output format and ``--redact``. Their numbers
against eximstats itself: ``tests/test_report_exim_tables.py``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_summary, summary_doc

from logtrace.parsing.rules import FileContext, ParseOptions

REPO = Path(__file__).resolve().parents[1]
PIN = ["--year", "2024", "--tz", "UTC"]
SECTIONS = ("exim_transports", "exim_relayed")
OPTS = ParseOptions(year=2024, tz="UTC")


def run(*args: str, columns: int = 200) -> tuple[int, str, str]:
    return run_summary(*args, columns=columns)


doc = summary_doc


def save(tmp: Path, name: str, d: dict) -> str:
    p = tmp / name
    p.write_text(json.dumps(d))
    return str(p)


def genlog(out: Path, seed: int, start: str, *extra: str, lines: int = 6000) -> Path:
    subprocess.run([sys.executable, str(REPO / "bench" / "genlog.py"), "--lines", str(lines), "--seed", str(seed), "--start", start,
                    "--out", str(out), "-q", *extra], check=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def exim_days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("exim-days")
    return (genlog(tmp / "x1.log", 41, "2024-03-04T00:00:00", "--mta", "exim"),
            genlog(tmp / "x2.log", 42, "2024-03-05T00:00:00", "--mta", "exim"))


# ---------------------------------------------------------------- the transport field


@pytest.mark.parametrize("engine", ["line", "frame"])
def test_exim_deliveries_carry_their_transport_in_detail(engine: str, tmp_path: Path) -> None:
    from logtrace_parsers.exim import EximParser

    lines = [
        "2020-06-19 06:26:02 1jmH1s-000AVD-5t => dave@example.com R=dnslookup T=remote_smtp H=mail.example.com [198.51.100.1] "
        'C="250 2.0.0 Ok: queued as 4TwNdH5zwCz7fxV"',
        "2020-06-19 06:26:02 1jmH1s-000AVD-5t -> erin@example.com R=dnslookup T=remote_smtp H=mail.example.com [198.51.100.1]",
        "2020-06-19 06:26:03 1jmH1t-0000dO-Un => abcd <abcd@example.net> R=server T=local_delivery",
        "2020-06-19 06:26:03 1jmH1t-0000dO-Un => :blackhole: <userx@example.net> R=null",
        "2020-06-19 06:26:04 1jmFYj-00039V-QX == bob@example.org R=dnslookup T=remote_smtp defer (110): Connection timed out",
        "2020-06-19 06:26:05 1jmFYj-00039V-QX ** bob@example.org R=dnslookup T=remote_smtp: retry timeout exceeded",
    ]
    want = ["remote_smtp", "remote_smtp", "local_delivery", None, "defer (110)", "remote_smtp"]
    parser = EximParser(OPTS)
    if engine == "line":
        got = [parser.parse_line(line, FileContext("mainlog", None, OPTS), i).detail for i, line in enumerate(lines, 1)]
    else:
        log = tmp_path / "mainlog"
        log.write_text("\n".join(lines) + "\n")
        r = subprocess.run([sys.executable, "-m", "logtrace", "parse", str(log), "--mta", "exim", "--format", "jsonl", *PIN],
                           capture_output=True, text=True, check=True, cwd=REPO)
        got = [json.loads(x).get("detail") for x in r.stdout.splitlines()]
    assert got == want


# ---------------------------------------------------------------- merging


def test_merged_exim_tables_equal_the_days_read_together(exim_days: tuple[Path, Path], tmp_path: Path) -> None:
    d1, d2 = exim_days
    a = save(tmp_path, "a.json", doc(str(d1), *PIN, "--top", "0"))
    b = save(tmp_path, "b.json", doc(str(d2), *PIN, "--top", "0"))
    together = doc(str(d1), str(d2), *PIN, "--top", "0")
    merged = doc("--merge", a, b, "--top", "0")
    for name in SECTIONS:
        assert merged["sections"][name] == together["sections"][name], name
    assert len(together["sections"]["exim_transports"]) >= 2 and len(together["sections"]["exim_relayed"]) > 100
    # the tables add up across the days: per transport, messages and bytes are the two days' sums
    day = [{r["transport"]: (r["messages"], r["bytes"]) for r in json.loads(Path(p).read_text())["sections"]["exim_transports"]}
           for p in (a, b)]
    for r in together["sections"]["exim_transports"]:
        assert (r["messages"], r["bytes"]) == tuple(sum(x) for x in zip(*(d.get(r["transport"], (0, 0)) for d in day)))
    assert sum(r["messages"] for r in together["sections"]["exim_transports"]) == together["totals"]["delivered"]
    # --top applies after merging, and a merged document merges again
    top3 = doc("--merge", a, b, "--top", "3")
    for name in SECTIONS:
        assert top3["sections"][name] == together["sections"][name][:3], name
    again = doc("--merge", save(tmp_path, "week.json", merged), "--top", "0")
    for name in SECTIONS:
        assert again["sections"][name] == together["sections"][name], name


def test_mixed_postfix_and_exim_input_reports_the_exim_events(exim_days: tuple[Path, Path], tmp_path: Path) -> None:
    pf = genlog(tmp_path / "pf.log", 43, "2024-03-04T00:00:00")
    exim_only = doc(str(exim_days[0]), *PIN, "--top", "0")
    postfix_only = doc(str(pf), *PIN, "--top", "0")
    mixed = doc(str(pf), str(exim_days[0]), *PIN, "--top", "0")
    assert not set(SECTIONS) & set(postfix_only["sections"])  # Postfix logs have no such tables
    assert "totals_eximstats" in mixed
    for name in SECTIONS:
        assert mixed["sections"][name] == exim_only["sections"][name], name
    merged = doc("--merge", save(tmp_path, "p.json", postfix_only), save(tmp_path, "x.json", exim_only), "--top", "0")
    for name in SECTIONS:
        assert merged["sections"][name] == exim_only["sections"][name], name


# ---------------------------------------------------------------- --top, fold = build


def test_top_limits_both_tables(exim_days: tuple[Path, Path]) -> None:
    every = doc(str(exim_days[0]), *PIN, "--top", "0")["sections"]
    one = doc(str(exim_days[0]), *PIN, "--top", "1")["sections"]
    for name in SECTIONS:
        assert len(every[name]) > 1 and one[name] == every[name][:1], name
    # largest first
    assert [r["messages"] for r in every["exim_transports"]] == sorted((r["messages"] for r in every["exim_transports"]), reverse=True)
    assert [r["count"] for r in every["exim_relayed"]] == sorted((r["count"] for r in every["exim_relayed"]), reverse=True)


def test_streaming_fold_equals_the_whole_frame_build(exim_days: tuple[Path, Path]) -> None:
    from logtrace.reports.collect import EXIMSTATS_COUNTING, collect_events
    from logtrace.reports.document import rows
    from logtrace.reports.summary import build, summarize

    path = str(exim_days[1])
    s = summarize([path], options=OPTS, top=7, zone="UTC")
    c = collect_events([path], options=OPTS)
    assert c.counting == EXIMSTATS_COUNTING
    totals, _, sections, _, _ = build(c.events, tz="UTC", top=7, counting=EXIMSTATS_COUNTING)
    assert totals == s.totals
    for name in SECTIONS:
        assert rows(sections[name]) == rows(s.sections[name]) and len(rows(sections[name])) >= 2, name


# ---------------------------------------------------------------- every format


def test_every_format_shows_both_tables(exim_days: tuple[Path, Path], tmp_path: Path) -> None:
    log = str(exim_days[0])
    d = doc(log, *PIN, "--top", "4")
    transports, relayed = d["sections"]["exim_transports"], d["sections"]["exim_relayed"]
    code, text, _ = run(log, *PIN, "--top", "4", "--format", "text")
    assert code == 0
    assert max(len(line) for line in text.splitlines()) <= 80  # the relayed rows stack their four texts
    assert "Deliveries by transport" in text and "Relayed messages" in text
    for r in transports:
        assert re.search(rf"{re.escape(r['transport'])}\s+{r['messages']:,}\b", text)
    for r in relayed:
        assert r["client"] in text and r["recipient"] in text
    for columns in (60, 80, 120):
        code, table, _ = run(log, *PIN, "--top", "4", columns=columns)
        assert code == 0 and "Relayed messages" in table
        assert max(len(line) for line in table.splitlines()) <= columns
        for r in transports:
            assert f"{r['messages']:,}" in table and f"{r['bytes']:,}" in table  # whole, never cut
    code, md, _ = run(log, *PIN, "--top", "4", "--format", "markdown")
    assert "## Deliveries by transport" in md and "| count | client | sender | relay | recipient |" in md
    out = tmp_path / "csv"
    code, _, err = run(log, *PIN, "--top", "4", "--format", "csv", "-o", str(out))
    assert code == 0, err
    assert (out / "exim_transports.csv").read_text().splitlines()[0] == "transport,messages,bytes"
    assert len((out / "exim_relayed.csv").read_text().splitlines()) == len(relayed) + 1
    page = tmp_path / "r.html"
    code, _, err = run(log, *PIN, "--top", "4", "--format", "html", "-o", str(page))
    assert code == 0, err
    html = page.read_text()
    for name in SECTIONS:
        assert f'id="t-{name}"' in html
    assert "Relayed messages" in html and relayed[0]["sender"].split("@")[0] in html


def test_redact_tokenizes_the_relayed_table_and_its_state(exim_days: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGTRACE_REDACT_KEY", "test-key-exim-tables")
    plain = doc(str(exim_days[0]), *PIN, "--top", "0")
    red = doc(str(exim_days[0]), *PIN, "--top", "0", "--redact")
    rows = red["sections"]["exim_relayed"]
    assert len(rows) == len(plain["sections"]["exim_relayed"])
    assert sorted(r["count"] for r in rows) == sorted(r["count"] for r in plain["sections"]["exim_relayed"])
    for r in rows:
        assert r["sender"].startswith("u-") or r["sender"] == "<>"
        assert r["recipient"].startswith("u-")
        assert re.fullmatch(r"(?:h-[0-9a-f]{8}\.invalid|unknown)?\[ip-[0-9a-f]{8}\]", r["client"]), r["client"]
        assert re.fullmatch(r"(?:h-[0-9a-f]{8}\.invalid|unknown)?\[ip-[0-9a-f]{8}\]", r["relay"]), r["relay"]
    state = json.dumps(red["state"]["fold"]["counters"]["exim_relayed"])
    for r in plain["sections"]["exim_relayed"][:20]:
        assert r["recipient"] not in state and r["sender"] not in state
    assert red["sections"]["exim_transports"] == plain["sections"]["exim_transports"]  # transport names are no one's

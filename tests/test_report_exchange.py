"""Issue 19, the Exchange section: message-tracking event IDs, connectors, servers and DSN codes,
counted against the tracking logs' own columns (read here with the csv module)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import CORPUS, corpus_file
from logtrace.cli import app

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_logs" / "exchange"


def doc(*args: str) -> dict:
    r = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "120"}).invoke(app, ["summary", "--format", "json", "--top", "0", *args])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def tracking_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a message-tracking log by its ``#Fields:`` header."""
    rows: list[dict[str, str]] = []
    fields: list[str] | None = None
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if line.startswith("#Fields:"):
            fields = line.split(":", 1)[1].strip().split(",")
        elif line and not line.startswith("#") and fields:
            rows.append(dict(zip(fields, next(csv.reader([line])))))
    return rows


@pytest.mark.parametrize("path", [SAMPLES / "all-event-ids.log", SAMPLES / "dl-expand-multi-recipient.log",
                                  CORPUS / "exchange" / "kinesis-agent-windows-msgtrk-ex2013.log",
                                  CORPUS / "exchange" / "beats-bom8-msgtrk-ex2010.log"], ids=lambda p: p.name)
def test_event_ids_connectors_and_servers_count_tracking_rows(path: Path) -> None:
    rows = tracking_rows(corpus_file(path))
    assert rows
    s = doc(str(path), "--mta", "exchange")["sections"]
    assert {r["event"]: r["count"] for r in s["exchange_events"]} == dict(Counter(r["event-id"].upper() for r in rows))
    by_conn: Counter[str] = Counter()
    for r in s["exchange_connectors"]:
        by_conn[r["connector"]] += r["count"]
    assert dict(by_conn) == dict(Counter(r.get("connector-id") or "(none)" for r in rows))
    by_server: Counter[str] = Counter()
    for r in s["exchange_servers"]:
        by_server[r["server"]] += r["count"]
    assert sum(by_server.values()) == len(rows)


def test_dsn_codes_of_failures() -> None:
    s = doc(str(SAMPLES / "fail-recipnotfound.log"), "--mta", "exchange")["sections"]
    codes = {(r["code"], r["event"]): r["count"] for r in s["exchange_dsn"]}
    assert codes.get(("5.1.1", "FAIL"), 0) >= 1


def test_no_exchange_section_for_postfix_logs() -> None:
    s = doc(str(REPO / "sample_logs" / "postfix" / "lab-mx1.log"), "--year", "2026", "--tz", "UTC")["sections"]
    assert not [k for k in s if k.startswith("exchange_")]


def test_exchange_sections_merge(tmp_path: Path) -> None:
    a, b = SAMPLES / "all-event-ids.log", SAMPLES / "defer-then-deliver.log"
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(doc(str(a), "--mta", "exchange", "--tz", "UTC")))
    pb.write_text(json.dumps(doc(str(b), "--mta", "exchange", "--tz", "UTC")))
    merged = doc("--merge", str(pa), str(pb))["sections"]
    together = doc(str(a), str(b), "--mta", "exchange", "--tz", "UTC")["sections"]
    for k in ("exchange_events", "exchange_connectors", "exchange_servers", "exchange_dsn"):
        assert merged[k] == together[k], k

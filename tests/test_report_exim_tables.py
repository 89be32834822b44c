"""Cross-check: eximstats' "Deliveries by transport" and "Relayed messages" tables in ``logtrace summary``
(sections ``exim_transports`` and ``exim_relayed``) equal Debian eximstats 1.61's, run on the same logs.

eximstats is found and run as in ``tests/test_eximstats_crosscheck.py`` (``/opt/exim4/usr/sbin/eximstats``,
``LOGTRACE_EXIMSTATS``; skipped when it is not runnable unless ``LOGTRACE_REQUIRE_MTA=1``), here with
``-nvr -t0 -h0 -q0`` so that only these two tables are printed besides the grand totals.

How eximstats' text maps onto logtrace's rows (``--top 0``: every row):

    Deliveries by transport   name  Volume  Messages  → transport, bytes, messages
                              (``:blackhole:``, a => line without T=, is logtrace's ``(blackhole)``)
    Relayed messages          count  from-host[ip] sender
                                     => to-host[ip] recipient  → count, client, sender, relay, recipient

eximstats strips every ``H=`` and ``A=`` from a relayed key before printing it (``s/[HA]=//g``, which
also takes them out of an address); logtrace's keys are compared after the same step.

Where the two differ by design (pinned below): eximstats keys a client or relay by the first word after
``H=``, so ``H=(helo) [ip]`` is ``(helo)[ip]`` and ``H=[ip]`` is ``[ip][ip]``; logtrace does not keep the
HELO name and writes ``[ip]`` for both (as for the grand totals' hosts). eximstats' keys are normalized
that way before comparing, so rows that differ only by the HELO name add up.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import corpus_dir, corpus_file
from test_eximstats_crosscheck import PINNED as GRAND_TOTAL_FILES, need_eximstats

REPO = Path(__file__).resolve().parents[1]
FLAGS = ["-nvr", "-t0", "-h0", "-q0"]

_TRANSPORT = re.compile(r"^  (\S+)\s+(\d+)\s+(\d+)$")
_RELAY_FROM = re.compile(r"^\s*(\d+) (\S+) (\S+) $")
_RELAY_TO = re.compile(r"^      => (\S+) (\S+)$")
#: eximstats' transport names that logtrace writes otherwise (a => line without T=)
TRANSPORT_NAMES = {":blackhole:": "(blackhole)"}
_HELO_OR_IP = re.compile(r"^(?:\([^)]*\)|\[[^\]]*\])(\[[^\]]*\])$")

# corpus file → what logtrace counts and eximstats does not (the rest must be equal)
PINNED: dict[str, dict[str, dict[str, int]]] = {
    # Exim 4.97+ long message IDs: eximstats 1.61 reads no message at all (see the grand-total cross-check);
    # logtrace's five => lines are all local deliveries to the test suite's t1 transport
    "testsuite-0551-log-selector-pid-millisec.log": {"transports": {"t1": 5}},
}
#: the corpus files of the grand-total cross-check (the others are Exim 4.97+ test-suite logs eximstats cannot read)
CORPUS = tuple(sorted(GRAND_TOTAL_FILES))


def section(out: str, title: str) -> list[str]:
    """The lines of one eximstats text section (after its underline, up to the next title); [] if absent."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line == title and i + 1 < len(lines) and set(lines[i + 1]) == {"-"}:
            body = []
            for row in lines[i + 2:]:
                if row and not row.startswith(" ") and not row.startswith("Total:"):
                    break
                body.append(row)
            return body
    return []


def parse_transports(out: str) -> dict[str, tuple[int, int]]:
    """eximstats' "Deliveries by transport" → {transport: (messages, bytes)}."""
    got = {}
    for line in section(out, "Deliveries by transport"):
        if m := _TRANSPORT.match(line):
            got[TRANSPORT_NAMES.get(m.group(1), m.group(1))] = (int(m.group(3)), int(m.group(2)))
        elif line.strip() and line.split() != ["Volume", "Messages"]:
            raise AssertionError(f"unexpected line in eximstats' transport table: {line!r}")
    return got


def host_key(word: str) -> str:
    """An eximstats ``host[ip]`` word as logtrace writes it (``(helo)[ip]`` and ``[ip][ip]`` → ``[ip]``)."""
    return _HELO_OR_IP.sub(r"\1", word)


def parse_relayed(out: str) -> tuple[Counter, int]:
    """eximstats' "Relayed messages" → (Counter of (client, sender, relay, recipient), its printed total)."""
    if "No relayed messages" in out or "No valid log lines read" in out:
        return Counter(), 0
    rows: Counter = Counter()
    total = None
    body = section(out, "Relayed messages")
    i = 0
    while i < len(body):
        line = body[i]
        if m := _RELAY_FROM.match(line):
            t = _RELAY_TO.match(body[i + 1])
            assert t, f"eximstats' relayed row without its '=>' line: {body[i:i + 2]}"
            rows[(host_key(m.group(2)), m.group(3), host_key(t.group(1)), t.group(2))] += int(m.group(1))
            i += 2
            continue
        if line.startswith("Total:"):
            total = int(re.match(r"Total: (\d+) \(plus 0 unshown\)", line).group(1))
        elif line.strip():
            raise AssertionError(f"unexpected line in eximstats' relayed table: {line!r}")
        i += 1
    assert total is not None, "eximstats printed relayed messages without a total"
    assert sum(rows.values()) == total
    return rows, total


def run_eximstats(path: Path) -> str:
    r = subprocess.run(["perl", str(need_eximstats()), *FLAGS, str(path)], capture_output=True, text=True, check=False,
                       env={**os.environ, "LC_ALL": "C"})
    out = r.stdout + r.stderr
    assert r.returncode == 0 or "No valid log lines read" in out, out
    return out


def summary_doc(*args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "logtrace", "summary", *args, "--format", "json", "--top", "0"],
                       capture_output=True, text=True, check=False, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def logtrace_tables(doc: dict) -> tuple[dict[str, tuple[int, int]], Counter]:
    s = doc["sections"]
    transports = {r["transport"]: (r["messages"], r["bytes"]) for r in s["exim_transports"]}
    relayed: Counter = Counter()
    for r in s["exim_relayed"]:
        # eximstats prints its key after s/[HA]=//g
        key = tuple(re.sub(r"[HA]=", "", r[k]) for k in ("client", "sender", "relay", "recipient"))
        relayed[key] += r["count"]
    return transports, relayed


def compare(path: Path, pinned: dict[str, dict[str, int]] | None = None) -> tuple[dict, Counter]:
    pinned = pinned or {}
    out = run_eximstats(path)
    doc = summary_doc(str(path), "--mta", "exim")
    transports, relayed = logtrace_tables(doc)
    want_t = parse_transports(out)
    extra = pinned.get("transports", {})
    got_t = {k: v for k, v in transports.items() if k not in extra}
    assert {k: v[0] for k, v in transports.items() if k in extra} == extra
    assert got_t == want_t, f"eximstats {want_t}"
    want_r, total = parse_relayed(out)
    extra_r = pinned.get("relayed", {})
    assert Counter({k[0]: v for k, v in relayed.items() if k[0] in extra_r}) == Counter(extra_r)
    relayed_cmp = Counter({k: v for k, v in relayed.items() if k[0] not in extra_r})
    assert relayed_cmp == want_r, f"only logtrace: {relayed_cmp - want_r}\nonly eximstats: {want_r - relayed_cmp}"
    # every => line is in one transport row, and the transport table adds up to the grand totals
    assert sum(m for m, _ in transports.values()) == doc["totals"]["delivered"]
    assert sum(b for _, b in transports.values()) == doc["totals"]["bytes_delivered"]
    return transports, relayed


@pytest.mark.parametrize(("seed", "lines"), [(3, 50000), (7, 20000)])
def test_tables_match_eximstats_on_generated_log(seed: int, lines: int, tmp_path: Path) -> None:
    need_eximstats()
    log = tmp_path / f"exim-{seed}.log"
    subprocess.run([sys.executable, str(REPO / "bench" / "genlog.py"), "--mta", "exim", "--lines", str(lines), "--seed", str(seed),
                    "--out", str(log), "-q"], check=True)
    transports, relayed = compare(log)
    # the generated log has local and remote transports and a few thousand relayed messages
    assert len(transports) >= 2 and sum(relayed.values()) > lines // 20, (transports, sum(relayed.values()))


@pytest.mark.parametrize("name", CORPUS)
def test_tables_match_eximstats_on_public_corpus(name: str) -> None:
    need_eximstats()
    compare(corpus_file(corpus_dir("exim") / name), PINNED.get(name))


SAMPLES = REPO / "sample_logs" / "exim"
#: sample file → what logtrace counts and eximstats does not
SAMPLE_PINNED: dict[str, dict[str, dict[str, int]]] = {
    # its test-suite lines carry Exim 4.97+ IDs (10HmaX-000000005vi-0000): eximstats skips those messages,
    # a => to send_to_server, one to local_delivery and one blackholed (no T=)
    "delivered-relay-confirmation.log": {"transports": {"send_to_server": 1, "local_delivery": 1, "(blackhole)": 1}},
    # every message has a 4.97+ ID: two => to remote_smtp, one to t1; both remote ones were relayed
    "pid-millisec-zone.log": {"transports": {"remote_smtp": 2, "t1": 1}, "relayed": {"mail.example.org[192.0.2.10]": 1,
                                                                                    "[192.0.2.77]": 1}},
}


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.log")))
def test_tables_match_eximstats_on_the_exim_samples(name: str) -> None:
    need_eximstats()
    compare(SAMPLES / name, SAMPLE_PINNED.get(name))

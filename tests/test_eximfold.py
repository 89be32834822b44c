"""eximstats' counting as a streaming fold (``logtrace/reports/eximfold.py``): folding a log in blocks of any
size gives what folding it as one block gives (counts, host sets, transport and relayed tables), across
block boundaries that cut a message between its ``<=``, its deliveries and its ``Completed``, a
``->`` from its ``=>``, and a syslog-duplicated reject from its copy. One block equals eximstats itself
(``tests/test_eximstats_crosscheck.py``, ``tests/test_report_exim_tables.py``).

The in-flight state (:class:`~logtrace.reports.eximfold.Latest`, sorted runs with tombstones) is held to a
dict by hypothesis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logtrace.parsing.protocol import ParseOptions
from conftest import corpus_dir, corpus_file

REPO = Path(__file__).resolve().parents[1]
OPTS = ParseOptions(year=2026, tz="UTC")

# one message ID used twice (Completed in between), a "->" right after its "=>", a local and a remote
# "<=" of the same message, deferrals and bounces before and after "<=", a delivery of a message
# received before the log started, a blackholed address
HANDMADE = """\
2026-11-22 06:00:00 1wAAAA-000001-AA ** early@example.org R=dnslookup T=remote_smtp: retry timeout exceeded
2026-11-22 06:00:01 1wAAAA-000001-AA => late@example.org R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.7] C="250 ok"
2026-11-22 06:00:01 1wAAAA-000001-AA Completed
2026-11-22 06:00:02 1wBBBB-000002-BB <= alice@example.net H=mail.example.net [198.51.100.5] P=esmtp S=1234
2026-11-22 06:00:02 1wBBBB-000002-BB <= alice@example.net U=alice P=local S=1300
2026-11-22 06:00:03 1wBBBB-000002-BB == bob@example.com R=dnslookup T=remote_smtp defer (111): Connection refused
2026-11-22 06:00:04 1wBBBB-000002-BB == bob@example.com R=dnslookup T=remote_smtp defer (111): Connection refused
2026-11-22 06:00:05 1wBBBB-000002-BB => bob@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1] C="250 queued as 1"
2026-11-22 06:00:05 1wBBBB-000002-BB -> carol@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1] C="250 queued as 1"
2026-11-22 06:00:05 1wBBBB-000002-BB => dave@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.1] C="250 queued as 2"
2026-11-22 06:00:05 1wBBBB-000002-BB => :blackhole: <junk@example.net> R=null
2026-11-22 06:00:06 1wBBBB-000002-BB Completed
2026-11-22 06:00:07 1wBBBB-000002-BB <= <> H=relay.example.org [203.0.113.9] P=esmtp S=900
2026-11-22 06:00:08 1wBBBB-000002-BB ** erin@example.org R=dnslookup T=remote_smtp: 550 no such user
2026-11-22 06:00:09 1wBBBB-000002-BB ** erin@example.org R=dnslookup T=remote_smtp: 550 no such user
2026-11-22 06:00:09 1wBBBB-000002-BB => frank@example.org R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.7] C="250 ok"
2026-11-22 06:00:09 1wBBBB-000002-BB Completed
2026-11-22 06:00:10 1wCCCC-000003-CC <= root@mx3 U=root P=local S=77
2026-11-22 06:00:10 1wCCCC-000003-CC == grace@example.com R=dnslookup T=remote_smtp defer (-44): SMTP error
2026-11-22 06:00:11 H=spam.example.net [203.0.113.66] F=<spam@example.net> rejected RCPT <bob@example.com>: relay not permitted
"""


def narrow_events(path: Path) -> object:
    from logtrace.reports.collect import collect_events

    ev = collect_events([str(path)], options=OPTS).events
    assert ev.height, path
    return ev.sort("seq")


def folded(ev: object, block: int) -> tuple:
    from logtrace.reports.eximfold import EximFold

    fold = EximFold()
    for off in range(0, ev.height, block):
        fold.add(ev.slice(off, block))
    counts, hosts, transports, relayed = fold.report()
    return counts, hosts, transports.sort(transports.columns).rows(), relayed.sort(relayed.columns).rows()


def syslog_copy(lines: list[str], every: int) -> list[str]:
    """Exim's main-log lines as syslog carries them (``exim[pid]:``), every ``every``-th reject written twice."""
    out: list[str] = []
    n = 0
    for ln in lines:
        if not ln[:4].isdigit():
            continue
        wrapped = f"Nov 22 {ln[11:19]} mx3 exim[{2000 + len(out) % 7}]: {ln[20:]}"
        out.append(wrapped)
        if " rejected " in ln:
            n += 1
            if n % every == 0:
                out.append(wrapped)
    return out


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("eximfold")
    gen = d / "gen.log"
    subprocess.run([sys.executable, str(REPO / "bench" / "genlog.py"), "--mta", "exim", "--lines", "3000", "--seed", "7",
                    "--start", "2026-11-22T00:00:00", "--out", str(gen), "-q"], check=True, timeout=300)
    hand = d / "handmade.log"
    hand.write_text(HANDMADE)
    sys_log = d / "syslog.log"
    sys_log.write_text("\n".join(syslog_copy(gen.read_text().splitlines()[:1500], 2) + syslog_copy(HANDMADE.splitlines(), 1)) + "\n")
    return {"generated": gen, "handmade": hand, "syslog": sys_log}


@pytest.mark.parametrize("name", ["generated", "syslog"])
@pytest.mark.parametrize("block", [5, 64, 1000])
def test_folding_in_blocks_equals_one_block(logs: dict[str, Path], name: str, block: int) -> None:
    ev = narrow_events(logs[name])
    whole = folded(ev, ev.height)
    assert whole[0]["received"] and whole[0]["delivered"] and whole[0]["rejected"] and whole[0]["delayed"], whole[0]
    if name == "syslog":
        assert whole[0]["rejected"] < ev.filter(ev["kind"] == "reject").height, "the duplicated rejects count once"
    assert folded(ev, block) == whole


def test_handmade_log_in_one_row_blocks(logs: dict[str, Path]) -> None:
    """Every boundary at once. The numbers are eximstats 1.61's own on this log (Grand total summary,
    Deliveries by transport, Relayed messages), its ``:blackhole:`` transport being ``(blackhole)``."""
    ev = narrow_events(logs["handmade"])
    whole = folded(ev, ev.height)
    assert folded(ev, 1) == whole
    counts, hosts, transports, relayed = whole
    assert counts == {
        "received": 4, "bytes_received": 1234 + 1300 + 900 + 77,
        # BBBB's first incarnation (deferred twice: once) and CCCC; AAAA's "**" has no "<=" before it,
        # BBBB's second incarnation bounced (twice: once)
        "delayed": 2, "failed": 1,
        # AAAA (0 bytes: no "<="), bob, dave, the blackhole, frank; carol is bob's "->"
        "delivered": 5, "delivered_addresses": 6, "bytes_delivered": 0 + 1300 * 3 + 900,
        "rejected": 2, "temp_rejected": 0, "ham": 0, "spam": 0}
    assert hosts["received_hosts"] == ["local", "mail.example.net", "relay.example.org"]
    assert hosts["delivered_hosts"] == ["local", "mx.example.com", "mx.example.org"]
    assert hosts["rejected_hosts"] == ["[203.0.113.66]", "local"]
    assert transports == [("(blackhole)", 1, 1300), ("remote_smtp", 4, 1300 * 2 + 900)]
    # relayed: received from a host and delivered to one (BBBB's first incarnation from mail.example.net
    # despite the later local "<="; its second from relay.example.org with the null sender)
    assert relayed == [("mail.example.net[198.51.100.5]", "alice@example.net", "mx.example.com[192.0.2.1]", "bob@example.com", 1),
                       ("mail.example.net[198.51.100.5]", "alice@example.net", "mx.example.com[192.0.2.1]", "dave@example.com", 1),
                       ("relay.example.org[203.0.113.9]", "<>", "mx.example.org[192.0.2.7]", "frank@example.org", 1)]


def test_the_whole_frame_functions_are_one_fold(logs: dict[str, Path]) -> None:
    from logtrace.reports.eximstats import exim_finish, exim_parts, exim_tables, exim_totals

    ev = narrow_events(logs["generated"])
    counts, hosts, transports, relayed = folded(ev, 500)
    assert exim_parts(ev) == (counts, hosts)
    assert exim_totals(ev) == exim_finish([(counts, hosts)])
    t, r = exim_tables(ev)
    assert (t.sort(t.columns).rows(), r.sort(r.columns).rows()) == (transports, relayed)


@pytest.mark.parametrize("name", ["exim-exporter-mainlog-bounces-tz.log", "whm-grok-tests-cpanel-exim.log",
                                  "testsuite-0612-dsn-rcpt-options-bounces.log", "testsuite-4110-filter-frozen-unfrozen.log"])
def test_corpus_logs_in_one_row_blocks(name: str) -> None:
    ev = narrow_events(corpus_file(corpus_dir("exim") / name))
    assert folded(ev, 1) == folded(ev, ev.height)


def test_a_message_in_flight_costs_state_until_completed(logs: dict[str, Path]) -> None:
    """The fold keeps the messages not yet ``Completed``, not every message it saw."""
    from logtrace.reports.eximfold import EximFold

    ev = narrow_events(logs["generated"])
    fold = EximFold()
    for off in range(0, ev.height, 200):
        fold.add(ev.slice(off, 200))
    live = sum(r.filter(r["live"]).height for r in fold.messages.runs)
    seen = ev["queue_id"].drop_nulls().n_unique()
    assert fold.counts["received"] > 500 and live < seen / 10, (live, seen)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 40), st.one_of(st.none(), st.integers(0, 9))), max_size=30), max_size=25))
def test_latest_state_equals_a_dict(batches: list[list[tuple[int, int | None]]]) -> None:
    """Puts (a value, or None: forget the key) and lookups against a dict, through run merges."""
    import polars as pl

    from logtrace.reports.eximfold import Latest

    state = Latest({"v": pl.Int64})
    model: dict[int, int] = {}
    for batch in batches:
        last = dict(batch)  # the batch's last word per key, as a block's state after its last line
        keys = pl.Series("k", list(range(45)), pl.UInt64)
        got = state.lookup(keys)
        assert {k: v for k, live, v in zip(keys, got["live"], got["v"]) if live} == model
        if last:
            state.put(pl.DataFrame({"k": list(last), "live": [v is not None for v in last.values()], "v": list(last.values())},
                                   schema={"k": pl.UInt64, "live": pl.Boolean, "v": pl.Int64}))
        for k, v in last.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
    got = state.lookup(pl.Series("k", list(range(45)), pl.UInt64))
    assert {k: v for k, live, v in zip(range(45), got["live"], got["v"]) if live} == model
    assert state.height <= 3 * 45


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["a", "b", "[10.0.0.1]", ""]), st.sampled_from(["x@y", "<>", "z@w"]),
                               st.sampled_from(["mx1", "mx2[10.0.0.2]"]), st.text("rst@", max_size=3),
                               st.integers(1, 4)), max_size=60),
       top=st.integers(1, 12), size=st.integers(1, 9))
def test_relayed_top_ranked_by_slices_is_the_top_of_the_whole(rows, top, size):
    """eximstats' relayed-messages table (one row per key) is ranked slice by slice, then the slices' tops:
    the same rows in the same order as ranking the whole table, ties on the count included."""
    import polars as pl

    from logtrace.reports import eximstats

    seen: dict = {}
    for *key, n in rows:
        seen.setdefault(tuple(key), n)
    df = pl.DataFrame([(*k, n) for k, n in seen.items()], orient="row",
                      schema={**dict.fromkeys(eximstats.RELAY_KEYS, pl.String), "count": pl.UInt32})
    transports = pl.DataFrame(schema={"transport": pl.String, "messages": pl.UInt32, "bytes": pl.Int64})
    whole = eximstats.exim_tables_finish(transports, df, top, unique=True)["exim_relayed"]
    saved, eximstats.RELAYED_SLICE = eximstats.RELAYED_SLICE, size
    try:
        sliced = eximstats.exim_tables_finish(transports, df, top, unique=True)["exim_relayed"]
    finally:
        eximstats.RELAYED_SLICE = saved
    assert sliced.to_dicts() == whole.to_dicts()
    assert whole.height == min(top, df.height)

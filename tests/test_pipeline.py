"""Blocks parsed on threads (``logtrace.parsing.scan.pipelined``) give exactly what the caller's own
thread gives: order, line accounting, summary, bounces and parse output, on a generated log cut into
many small blocks so that several are in flight at once. And the summary fold's end-of-run hand-off
join, run in slices of the hashed queue IDs to bound its memory, counts what one join counts."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import polars as pl

from conftest import generate_log
from logtrace.input import reader
from logtrace.parsing import scan


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_log(tmp_path_factory.mktemp("pipe") / "mail.log", 12000, 11)


def test_results_come_in_job_order_with_ready_values_between():
    seen: list[str] = []

    def job(i: int):
        def run() -> int:
            seen.append(threading.current_thread().name)
            return i * 10
        return run

    jobs = [job(0), job(1), "ready", job(2), job(3), job(4)]
    for threads in (0, 1, 3):
        seen.clear()
        assert list(scan.pipelined(iter(jobs), threads)) == [0, 10, "ready", 20, 30, 40]
        if threads:
            assert all(n.startswith("logtrace-parse") for n in seen)
        else:
            assert seen == [threading.current_thread().name] * 5


def test_a_failing_job_raises_where_its_result_would_be():
    def boom() -> int:
        raise ValueError("block 2 is bad")

    out = []
    with pytest.raises(ValueError, match="block 2 is bad"):
        for x in scan.pipelined(iter([lambda: 1, boom, lambda: 3]), 2):
            out.append(x)
    assert out == [1]


def test_thread_count_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LOGTRACE_THREADS", "0")
    assert scan.parse_threads() == 0
    monkeypatch.setenv("LOGTRACE_THREADS", "3")
    assert scan.parse_threads() == 3
    assert scan.parse_threads(caller_busy=False) == 3  # the variable wins either way
    monkeypatch.delenv("LOGTRACE_THREADS")
    assert 1 <= scan.parse_threads() <= 3
    assert scan.parse_threads() <= scan.parse_threads(caller_busy=False) <= 3


def _with_threads(monkeypatch, n: int, fn):
    monkeypatch.setenv("LOGTRACE_THREADS", str(n))
    monkeypatch.setattr(reader, "CHUNK_BYTES", 96 << 10)  # ~18 blocks: several in flight at once
    return fn()


def test_parse_frames_and_accounting_are_the_same_with_and_without_threads(log, monkeypatch):
    def run():
        st = scan.parse_stream([str(log)])
        frames = list(st.frames)
        return frames, st.accounting.sort("program")

    f0, a0 = _with_threads(monkeypatch, 0, run)
    f2, a2 = _with_threads(monkeypatch, 2, run)
    assert len(f0) == len(f2) > 10
    for x, y in zip(f0, f2):
        assert x.equals(y)
    assert a0.equals(a2)
    assert int(a0["parsed"].sum()) > 11000


def test_summary_is_the_same_with_and_without_threads(log, monkeypatch):
    from logtrace.reports import summary

    monkeypatch.setattr(summary, "BLOCK_BYTES", 96 << 10)

    def run():
        return summary.summarize([str(log)])

    s0 = _with_threads(monkeypatch, 0, run)
    s2 = _with_threads(monkeypatch, 2, run)
    assert s0.totals == s2.totals and s0.totals["received"] > 500
    assert s0.unique == s2.unique
    for name, df in s0.sections.items():
        assert df.equals(s2.sections[name]), name
    assert s0.state == s2.state


def test_bounces_are_the_same_with_and_without_threads(log, monkeypatch):
    from logtrace.trace.bounces import find_bounces

    def run():
        r = find_bounces([str(log)])
        return [(i.story.origin.queue_id, [str(r.verdict) for r in i.failed], i.categories) for i in r.items]

    b0 = _with_threads(monkeypatch, 0, run)
    b2 = _with_threads(monkeypatch, 2, run)
    assert b0 == b2 and len(b0) > 5
    assert all(failed for _, failed, _ in b0)


def test_hand_off_join_in_slices_counts_what_one_join_counts(log, monkeypatch):
    from logtrace.reports import fold, summary

    one = summary.summarize([str(log)], keep_state=False).unique
    monkeypatch.setattr(fold, "HANDOFF_SLICE_ROWS", 50)  # the generated log has a few hundred hand-offs: 8 slices
    sliced = summary.summarize([str(log)], keep_state=False).unique
    assert sliced == one
    assert one["content_filter_reinjections"] > 50 and one["host_handoffs"] > 50


def test_a_smaller_first_block_keeps_every_line_and_its_number(log):
    f = reader.expand([str(log)])[0]
    plain = list(reader.frames(f, [], 256 << 10))
    ramped = list(reader.frames(f, [], 256 << 10, 32 << 10))
    assert ramped[0].height < plain[0].height / 4
    assert len(ramped) == len(plain) + 1 or len(ramped) == len(plain)
    a, b = (pl.concat(x) for x in (plain, ramped))
    assert a.equals(b) and a.height == 12000
    assert b.get_column("line_no").to_list() == list(range(1, 12001))


def test_usable_cpus_is_lowered_to_the_cgroup_quota(tmp_path):
    """A container limited to 2 CPUs sees the host's CPUs in its affinity mask; its cgroup's quota
    is what it may use. v2: the smallest ``cpu.max`` from the process's cgroup up to the root."""
    from logtrace.input.cpus import usable_cpus

    mask = len(os.sched_getaffinity(0))
    own = tmp_path / "self-cgroup"
    own.write_text("0::/system.slice/mail.service\n")
    unit = tmp_path / "system.slice" / "mail.service"
    unit.mkdir(parents=True)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "system.slice" / "cpu.max").write_text("max 100000\n")
    (unit / "cpu.max").write_text("max 100000\n")
    assert usable_cpus(str(tmp_path), str(own)) == mask  # no quota anywhere
    (tmp_path / "system.slice" / "cpu.max").write_text("100000 100000\n")  # a parent's limit holds its children
    assert usable_cpus(str(tmp_path), str(own)) == 1
    (tmp_path / "system.slice" / "cpu.max").write_text("max 100000\n")
    (unit / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: two threads may run
    assert usable_cpus(str(tmp_path), str(own)) == min(mask, 2)
    (unit / "cpu.max").write_text("garbage\n")
    assert usable_cpus(str(tmp_path), str(own)) == mask
    assert usable_cpus(str(tmp_path / "absent"), str(tmp_path / "absent")) == mask  # nothing readable: the mask
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cpus(str(v1), str(own)) == mask
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    assert usable_cpus(str(v1), str(own)) == 1


def test_a_filters_few_lines_per_block_are_parsed_together_and_give_the_same_rows(log, monkeypatch):
    """With a line filter, the few lines each block keeps are gathered (copied) up to
    ``GATHER_ROWS`` before one parse: fewer parses, the same rows in the same order."""
    from logtrace.parsing.protocol import ParseOptions

    monkeypatch.setattr(reader, "CHUNK_BYTES", 96 << 10)  # ~18 blocks
    keep = pl.col("line").str.contains(" postfix/qmgr\\[") | (pl.col("line_no") % 97 == 0)

    def run(gather: int) -> list:
        monkeypatch.setattr(scan, "GATHER_ROWS", gather)
        return list(scan.scan_frames([str(log)], options=ParseOptions(year=2026, tz="UTC"), line_filter=keep, threads=0))

    one_each, gathered = run(1), run(400)
    assert len(one_each) > 10 and 1 < len(gathered) < len(one_each) / 2
    a, b = pl.concat(one_each), pl.concat(gathered)
    assert a.height > 1000 and a.equals(b)
    assert b["line_no"].is_sorted()

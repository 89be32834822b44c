"""The summary fold's keyed counters (``logtrace/reports/state.py``): whatever the compaction and
bucketing thresholds, a counter's merged table is the group-by of everything added to it."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logtrace.reports import state

KEYS = ("client", "recipient")


def blocks_strategy() -> st.SearchStrategy[list[list[tuple[str, str, int]]]]:
    row = st.tuples(st.sampled_from(["a[1.2.3.4]", "b", "", "é[::1]"]), st.text("xyz@", max_size=4), st.integers(0, 3))
    return st.lists(st.lists(row, max_size=30), max_size=12)


def expected(blocks: list[list[tuple[str, str, int]]]) -> pl.DataFrame:
    rows = [r for b in blocks for r in b]
    df = pl.DataFrame(rows, schema={"client": pl.String, "recipient": pl.String, "count": pl.UInt32}, orient="row")
    return df.group_by(*KEYS).agg(pl.col("count").sum()).sort(*KEYS)


@settings(max_examples=60, deadline=None)
@given(blocks=blocks_strategy(), buckets=st.sampled_from([0, 1, 3, 16]), merged_first=st.booleans())
def test_merged_is_the_group_by_of_all_rows_bucketed_or_not(blocks, buckets, merged_first, monkeypatch_module) -> None:
    c = state.Counter(KEYS, ("count",), buckets=buckets)
    for i, b in enumerate(blocks):
        df = pl.DataFrame(b, schema={"client": pl.String, "recipient": pl.String, "count": pl.UInt32}, orient="row")
        if merged_first and i == 0:  # a table that has one row per key already (eximstats' relayed messages at the end)
            df = df.group_by(*KEYS, maintain_order=True).agg(pl.col("count").sum())
            c.add(df, owned=True, merged=True)
        else:
            c.add(df)
    got = c.merged()
    want = expected(blocks)
    if got is None:
        assert want.height == 0
        return
    assert got.get_column("count").dtype == pl.UInt32
    assert got.sort(*KEYS).equals(want)
    assert got.select(pl.struct(*KEYS).is_unique().all()).item()


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Tiny thresholds, so that a few dozen rows compact and spread into buckets."""
    mp = pytest.MonkeyPatch()
    mp.setattr(state, "COMPACT_ROWS", 5)
    mp.setattr(state, "BUCKET_ROWS", 8)
    yield mp
    mp.undo()


def test_a_spread_counter_really_spreads(monkeypatch_module) -> None:
    c = state.Counter(KEYS, ("count",), buckets=4)
    for i in range(10):
        c.add(pl.DataFrame({"client": [f"c{i}-{j}" for j in range(10)], "recipient": ["r"] * 10,
                            "count": pl.Series([1] * 10, dtype=pl.UInt32)}))
    assert c.spread is not None and sum(1 for b in c.spread if b.parts) > 1
    m = c.merged()
    assert m.height == 100 and m.get_column("count").sum() == 100

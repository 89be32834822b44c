"""The state the summary folds carry from block to block, and its JSON form.

* :class:`Counter`: one keyed counter as partial aggregates, merged when they have grown
  (amortized O(block) per block), spread over hash buckets once it holds many keys;
* :class:`FirstSeen`: the first ``(seq, size)`` per key hash, as sorted runs (an LSM tree);
* :func:`key_hash` and :func:`narrow_ints`: per-message rows in as few bytes as they fit;
* :func:`table_state` / :func:`table_from_state`: a table as JSON-ready rows and back (documents
  that ``summary --merge`` combines).

:class:`~logtrace.reports.fold.SummaryFold` and :class:`~logtrace.reports.eximfold.EximFold` build on these.
"""

from __future__ import annotations

from typing import Any

from logtrace.parsing.frames import detach

COMPACT_ROWS = 50_000  #: merge a counter's partial aggregates once they grew by this many rows and doubled
#: a counter made with ``buckets`` keeps its keys in that many hash buckets once it holds this many: a merge
#: then groups one bucket (measured: merging eximstats' 1.4M relayed keys at 8M lines took +400 MB at once)
BUCKET_ROWS = 200_000


def key_hash(col: str) -> Any:
    """A 64-bit hash of a string column (queue IDs, hosts) for compact per-message state; null stays null."""
    import polars as pl

    return pl.when(pl.col(col).is_not_null()).then(pl.col(col).hash(seed=0x1F0D))


def narrow_ints(df: Any) -> Any:
    """``df`` with every Int64 column as UInt32 where all its values fit (positions, sizes, counts):
    the rows kept per message to the end of a fold take 4 bytes a value instead of 8. Sums over
    such a column must cast it back to Int64 first (polars sums UInt32 in UInt32 and wraps)."""
    import polars as pl

    ints = [c for c, t in df.schema.items() if t == pl.Int64]
    if not ints or not df.height:
        return df
    row = df.select(*(pl.col(c).min().alias(f"lo{i}") for i, c in enumerate(ints)),
                    *(pl.col(c).max().alias(f"hi{i}") for i, c in enumerate(ints))).row(0)
    fits = [c for i, c in enumerate(ints)
            if (row[i] is None or row[i] >= 0) and (row[len(ints) + i] is None or row[len(ints) + i] < 1 << 32)]
    return df.with_columns(pl.col(c).cast(pl.UInt32) for c in fits) if fits else df


def lookup_runs(runs: list[Any], keys: Any, columns: dict[str, Any]) -> Any:
    """DataFrame of ``columns`` aligned with a Series of key hashes: each key's values in the newest of
    ``runs`` (DataFrames sorted by a unique ``k``) that holds it, nulls where none does. Sorted
    searches per run: O(len(keys) · log state), never a join over the whole state."""
    import polars as pl

    out = pl.DataFrame({"k": keys}).with_columns(pl.lit(None, t).alias(c) for c, t in columns.items())
    filled = keys.fill_null(0)
    for run in runs:
        k = run.get_column("k")
        got = run[k.search_sorted(filled).clip(0, max(len(k) - 1, 0))]
        hit = (got.get_column("k") == keys).fill_null(False)
        out = out.with_columns(pl.when(hit).then(got.get_column(c)).otherwise(pl.col(c)).alias(c) for c in columns)
    return out.drop("k")


class FirstSeen:
    """First ``(seq, size)`` per key hash, as sorted runs merged when a run outgrows the one
    before it (an LSM tree): a block's lookups cost O(block · log state), never a join or a
    hash table over the whole state, and a key costs 16 bytes (24 once positions or sizes pass 2^32)."""

    def __init__(self) -> None:
        self.runs: list[Any] = []  # DataFrames k (u64, sorted), seq, size

    def lookup(self, keys: Any) -> Any:
        """DataFrame ``seq, size`` for a Series of key hashes (nulls where unknown; runs hold disjoint keys)."""
        import polars as pl

        return lookup_runs(self.runs, keys, {"seq": pl.Int64, "size": pl.Int64})

    def insert(self, df: Any) -> None:
        """Add keys not seen before (``k, seq, size``)."""
        if not df.height:
            return
        self.runs.append(narrow_ints(df).sort("k"))
        while len(self.runs) > 1 and self.runs[-1].height * 2 >= self.runs[-2].height:
            import polars as pl

            b, a = self.runs.pop(), self.runs.pop()
            self.runs.append(pl.concat([a, b], how="vertical_relaxed").sort("k"))

    @property
    def height(self) -> int:
        return sum(r.height for r in self.runs)


class Counter:
    """Partial aggregates of one keyed counter: ``keys`` → summed (or max'ed) value columns.

    With ``buckets``, a counter that grows past :data:`BUCKET_ROWS` keys spreads them over that many
    counters by a hash of the key, so that no merge groups the whole table at once; :meth:`merged`
    is then the buckets' tables one after another (rows in no particular order: give it only to
    consumers that sort by the whole key)."""

    def __init__(self, keys: tuple[str, ...], sums: tuple[str, ...] = ("n",), maxes: tuple[str, ...] = (),
                 buckets: int = 0) -> None:
        self.keys, self.sums, self.maxes = keys, sums, maxes
        self.parts: list[Any] = []
        self.rows = 0
        self.merged_rows = 0  #: rows of the last merged table (equal to ``rows``: ``parts`` is that one table)
        self.buckets = buckets
        self.spread: list[Counter] | None = None  #: the buckets, once the counter is spread

    def add(self, df: Any, owned: bool = False, merged: bool = False) -> None:
        """Add partial aggregates; ``owned``: ``df``'s strings are its own already (not views into a
        block), so they are not copied (the end-of-fold tables: eximstats' relayed messages at 8M
        lines are ~180 MB of strings); ``merged``: ``df`` has one row per key already."""
        if not df.height:
            return
        if self.spread is not None:
            self._spread(df, owned, merged)
            return
        first = not self.parts
        self.parts.append(df if owned else detach(df))
        self.rows += df.height
        if merged and first:  # one merged table: nothing to merge (and not to spread: a report's last step)
            self.merged_rows = self.rows
        elif self.rows - self.merged_rows > max(COMPACT_ROWS, self.merged_rows):
            # copied: a group-by's keys are views into the tables it grouped, so a merged table kept every
            # part's strings alive, repeated keys included (no change measured on generated logs, whose
            # blocks bring mostly new keys; bounces' per-message flags had grown by ~160 MB at 8M lines)
            table = detach(self.merged())
            if self.buckets and table.height > BUCKET_ROWS:
                self.parts, self.rows, self.merged_rows = [], 0, 0
                self.spread = [Counter(self.keys, self.sums, self.maxes) for _ in range(self.buckets)]
                self._spread(table, True, True)
            else:
                self.keep_merged(table)

    def _spread(self, df: Any, owned: bool, merged: bool) -> None:
        import polars as pl

        b = df.select(pl.struct(*self.keys).hash(seed=0x5EED) % self.buckets).to_series()
        for (i,), piece in df.with_columns(_b=b).partition_by("_b", as_dict=True, include_key=False).items():
            self.spread[i].add(piece, owned, merged)  # type: ignore[index]

    def keep_merged(self, df: Any) -> None:
        """Replace the parts with their :meth:`merged` table (one copy of its strings, not two)."""
        if self.spread is not None:  # the buckets' tables are the merged table already
            return
        self.parts = [df]
        self.rows = self.merged_rows = df.height

    def compact(self) -> None:
        """Replace the parts with their merged table, bucket by bucket once spread: the parts of one
        bucket at a time are alive beside its merged copy, not every bucket's (eximstats' relayed
        messages at the end of an 8M-line Exim summary: ~+200 MB when merged all at once)."""
        from logtrace.parsing.frames import detach

        for c in self.spread if self.spread is not None else [self]:
            if len(c.parts) > 1 or c.rows != c.merged_rows:
                c.keep_merged(detach(c.merged()))  # copied: a group-by's keys are views into its parts

    def merged(self) -> Any:
        """One row per key (a table of millions of keys is not grouped again once it is merged)."""
        import polars as pl

        if self.spread is not None:
            tables = [t for t in (c.merged() for c in self.spread) if t is not None]
            return pl.concat(tables, how="vertical_relaxed") if tables else None
        if not self.parts:
            return None
        if len(self.parts) == 1 and self.rows == self.merged_rows:
            return self.parts[0]
        df = pl.concat(self.parts, how="vertical_relaxed")
        if not self.sums and not self.maxes:
            return df.unique(maintain_order=True)
        return df.group_by(list(self.keys), maintain_order=True).agg(
            *[pl.col(c).sum() for c in self.sums], *[pl.col(c).max() for c in self.maxes])


def table_state(df: Any) -> dict[str, Any] | None:
    """A DataFrame as JSON-ready ``{"columns", "dtypes", "rows"}`` (rows sorted, dates as ISO strings); None stays None."""
    import polars as pl

    if df is None:
        return None
    df = df.sort(df.columns, nulls_last=True) if df.height and df.width else df  # byte-stable documents
    out = df.with_columns(*(pl.col(c).cast(pl.String) for c, t in df.schema.items() if t in (pl.Date, pl.Datetime)),
                          # float sums (delay seconds) are added in thread order: their last bits vary between runs
                          *(pl.col(c).round(6) for c, t in df.schema.items() if t in (pl.Float32, pl.Float64)))
    return {"columns": list(df.columns), "dtypes": [str(t) for t in df.schema.values()], "rows": [list(r) for r in out.iter_rows()]}


#: polars dtype names a summary state may hold
STATE_DTYPES = {"String": "String", "Boolean": "Boolean", "Date": "Date", "Int8": "Int8", "Int16": "Int16", "Int32": "Int32",
                "Int64": "Int64", "UInt8": "UInt8", "UInt16": "UInt16", "UInt32": "UInt32", "UInt64": "UInt64",
                "Float32": "Float32", "Float64": "Float64", "Null": "Null"}


def table_from_state(t: dict[str, Any]) -> Any:
    """The DataFrame of a :func:`table_state` (a ValueError for a malformed one)."""
    import polars as pl

    try:
        cols, dtypes, rows = list(t["columns"]), list(t["dtypes"]), list(t["rows"])
        kinds = [STATE_DTYPES[d] for d in dtypes]
    except (KeyError, TypeError) as e:
        raise ValueError(f"malformed summary state table ({e})") from None
    schema = {c: (pl.String if k == "Date" else getattr(pl, k)) for c, k in zip(cols, kinds)}
    df = pl.DataFrame(rows, schema=schema, orient="row")
    return df.with_columns(pl.col(c).str.to_date() for c, k in zip(cols, kinds) if k == "Date")

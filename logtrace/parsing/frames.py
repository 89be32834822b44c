"""Frame-engine steps shared by every dialect: derivations over raw helper fields, and the
final conform to :func:`~logtrace.events.event_schema` (the line engine's equivalents live in
:class:`~logtrace.parsing.rules.RuleParser`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from logtrace.events import event_schema
from logtrace.parsing.cuts import split_by_guard


def detach(df: Any) -> Any:
    """``df`` with its strings copied into buffers of their own. A string column cut from a block
    (a filter, a group key) is a view into the block's line buffers and would keep every block
    alive (measured: 6,000 group keys pinned 325 MB); what outlives a block must not."""
    import polars as pl

    strs = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns(pl.concat_str([pl.col(c), pl.lit("")]).alias(c) for c in strs) if strs and df.height else df


def apply_derivations(df: Any, derivations: Sequence[tuple[str, str]], want: frozenset[str] | None = None,
                      cuts: dict[str, tuple[Any, ...]] | None = None) -> Any:
    """Frame form of the derivation step: fill empty target fields from raw helpers.

    Only rows whose source is set, that still miss a wanted target and that the derivation's
    pattern matches are captured (a no-capture ``contains`` is several times cheaper than
    ``extract_groups``); the result is the same as capturing every row. A derivation's
    :class:`~logtrace.parsing.cuts.Cut` (``cuts[pattern]``, those whose ``src`` is the derivation's source) takes
    the rows its guard accepts; guards only see rows the pattern matches."""
    import polars as pl

    for src, pattern in derivations:
        if src not in df.columns:
            continue
        groups = list(re.compile(pattern).groupindex)
        targets: dict[str, list[str]] = {}
        for g in groups:
            t = g.split("__", 1)[0]
            if want is None or t in want or _feeds(t, derivations):
                targets.setdefault(t, []).append(g)
        if not targets:
            continue
        for t in targets:
            if t not in df.columns:
                df = df.with_columns(pl.lit(None, pl.String).alias(t))
            elif df.schema[t] != pl.String:
                df = df.with_columns(pl.col(t).cast(pl.String))
        need = pl.col(src).is_not_null() & pl.any_horizontal([pl.col(t).is_null() for t in targets])
        idx = df.select(pl.arg_where((need & pl.col(src).str.contains(pattern)).fill_null(False))).to_series()
        if not len(idx):
            continue
        # only the rows that need it, only the source and target columns; results scattered back
        todo = df.select(src, *targets)[idx].with_columns(__row=idx)
        done = []
        for cut in (cuts or {}).get(pattern, ()):
            if cut.src != src or not todo.height:  # a pattern two sources share (Exim's ``H=``) has cuts per source
                continue
            hit, todo = split_by_guard(todo, cut, "__d_")
            if hit is not None:
                got = [t for t in targets if t in cut.groups]
                done.append(hit.with_columns([pl.coalesce(pl.col(t), pl.col("__d_" + t)).alias(t) for t in got])
                            .select("__row", *targets))
        if todo.height:
            ex = pl.col(src).str.extract_groups(pattern)
            done.append(todo.with_columns([pl.coalesce(pl.col(t), *(ex.struct.field(g) for g in gs)).alias(t)
                                           for t, gs in targets.items()]).select("__row", *targets))
        new = pl.concat(done) if len(done) > 1 else done[0]
        rows = new.get_column("__row")
        df = df.with_columns([df.get_column(t).scatter(rows, new.get_column(t)) for t in targets])
    return df


def _feeds(target: str, derivations: Sequence[tuple[str, str]]) -> bool:
    """Whether a derived field is the source of a later derivation (``reply_text`` feeds ``dsn``)."""
    return any(src == target for src, _ in derivations)


#: columns every frame keeps, narrowed or not (envelope and line accounting)
CORE = frozenset({"ts", "host", "mta", "program", "pid", "kind", "rule", "file", "line_no", "reason"})


def conform(df: Any, path: str, columns: frozenset[str] | None = None) -> Any:
    """Cast to :func:`event_schema`, add missing columns as nulls, order by line. With
    ``columns`` (a narrowed batch read): only those plus the envelope and accounting columns,
    left in the order the dialects produced them (``line_no`` orders them; sorting a whole
    chunk costs more than the consumer's own ordering of the rows it keeps)."""
    import polars as pl

    schema = event_schema()
    cols = []
    for name, dtype in schema.items():
        if columns is not None and name not in columns and name not in CORE:
            continue
        if name == "file":
            cols.append(pl.lit(path, pl.String).alias("file"))
        elif name in df.columns:
            c = pl.col(name)
            if dtype in (pl.Int64, pl.Float64):
                c = c.cast(dtype, strict=False)
            elif dtype == pl.String:
                c = c.cast(pl.String)
            else:
                c = c.cast(dtype, strict=False)
            cols.append(c.alias(name))
        else:
            cols.append(pl.lit(None, dtype).alias(name))
    out = df.select(cols)
    return out if columns is not None else out.sort("line_no")


def own_log_frame(parser: Any, lines: Any, ctx: Any, envelope: Any, daemon: str) -> Any:
    """Frame form of a program's own log file (Dovecot's ``log_path``, rspamd's ``rspamd.log``):
    ``envelope(lines)`` frames the lines it knows (``program`` set) and the dialect's rules read
    their bodies as ``daemon``; every other line goes to the parser's router, as syslog would."""
    import polars as pl

    from logtrace.containers.stamps import assign_years, frame_timestamps
    from logtrace.parsing.rules import empty_frame, local_zone

    if "_year" not in lines.columns:
        lines = assign_years(lines, ctx.years)
    env = envelope(lines)
    mine = env.filter(pl.col("program").is_not_null())
    parts: list[Any] = []
    if mine.height:
        mine = frame_timestamps(mine, parser.options.tz or local_zone(), ctx.years).with_columns(_daemon=pl.lit(daemon))
        parts += parser.body_parts(mine, ["line_no", "ts", "host", "program", "pid"])
    rest = env.filter(pl.col("program").is_null()).select(lines.columns)
    if rest.height:
        parts.append(parser._router.parse_frame(rest, ctx))
    if not parts:
        return empty_frame()
    return conform(pl.concat(parts, how="diagonal_relaxed"), ctx.path)

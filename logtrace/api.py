"""The library API the CLI is thin over: functions returning polars DataFrames and records.

>>> res = parse(["sample_logs/postfix/deferred-then-sent.log"])   # doctest: +SKIP
>>> res.events.filter(pl.col("kind") == "deliver")                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .engine import ScanResult, accounting, parse_frame_all, parse_lines, scan_frames
from .errors import Diagnostic
from .rules import ParseOptions


@dataclass
class ParseResult:
    events: Any  #: polars DataFrame, :func:`logtrace.events.event_schema` columns
    accounting: Any  #: per program: parsed / other / unrecognized
    diagnostics: list[Diagnostic] = field(default_factory=list)
    failed_inputs: int = 0


def parse(paths: Sequence[str], *, mta: str = "auto", options: ParseOptions | None = None,
          engine: str = "frame", where: str | None = None, keep_going: bool = True) -> ParseResult:
    """Parse inputs into one events DataFrame (frame engine) or via the line engine."""
    import polars as pl

    from .events import event_schema, to_dict
    from .rules import empty_frame

    scan = ScanResult()
    if engine == "line":
        rows = []
        for ev in parse_lines(paths, mta=mta, options=options, result=scan, keep_going=keep_going):
            d = {k: getattr(ev, k, None) for k in event_schema()}
            d["kind"] = str(d["kind"]) if d.get("kind") is not None else None
            rows.append(d)
        df = pl.DataFrame(rows, schema=event_schema()) if rows else empty_frame()
        _ = to_dict
    else:
        df = parse_frame_all(paths, mta=mta, options=options, result=scan, keep_going=keep_going)
    if len(scan.files) > 1 and df.height:  # several inputs (hosts, rotations): one timeline
        df = (df.with_columns(_k=pl.col("ts").forward_fill().over("file"))
              .sort("_k", "file", "line_no", nulls_last=False, maintain_order=True).drop("_k"))
    if where:
        from .query import compile_where

        df = df.filter(compile_where(where))
    acc = accounting(df)
    return ParseResult(df, acc, scan.diagnostics, scan.failed_inputs)


@dataclass
class ParseStream:
    """Events chunk by chunk (memory stays at one chunk); ``accounting`` is complete once
    ``frames`` has been exhausted."""

    frames: Iterator[Any]
    result: ScanResult
    _acc: list[Any] = field(default_factory=list)

    @property
    def accounting(self) -> Any:
        import polars as pl

        if not self._acc:
            return pl.DataFrame(schema={"program": pl.String, "parsed": pl.UInt32, "other": pl.UInt32, "unrecognized": pl.UInt32})
        return pl.concat(self._acc).group_by("program").agg(pl.all().sum()).sort(["unrecognized", "parsed", "other"], descending=True)


def parse_stream(paths: Sequence[str], *, mta: str = "auto", options: ParseOptions | None = None,
                 where: str | None = None, keep_going: bool = True) -> ParseStream:
    """Like :func:`parse` with the frame engine, but yielding each chunk's events as soon as
    they are parsed, in input order (one file after another; :func:`parse` merges several
    inputs into one timeline instead)."""
    scan = ScanResult()
    expr = None
    if where:
        from .query import compile_where

        expr = compile_where(where)
    out = ParseStream(iter(()), scan)

    def gen() -> Iterator[Any]:
        for df in scan_frames(paths, mta=mta, options=options, result=scan, keep_going=keep_going):
            out._acc.append(accounting(df))
            yield df.filter(expr) if expr is not None else df

    out.frames = gen()
    return out

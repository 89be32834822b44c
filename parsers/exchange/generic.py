"""Rows under a ``#Fields`` header this package does not know (neither tracking nor protocol
nor EXO columns): ``exchange.generic.row``, kind ``other``."""

from __future__ import annotations

from typing import Any

from logtrace_parsers.exchange.columns import timestamp

__all__ = ["generic_frame"]


def generic_frame(raw: Any, program: str | None) -> Any:
    """Rows of an unrecognised ``#Fields`` layout: ``other`` events with their stamp, nothing else."""
    import polars as pl

    ts = timestamp(pl.col("date-time"), "UTC", local=False) if "date-time" in raw.columns else pl.lit(None)
    return raw.select("line_no", ts=ts, program=pl.lit(program or "MSExchange"), kind=pl.lit("other"),
                      rule=pl.lit("exchange.generic.row"))

"""Conversions of a rule's raw group into an event field, in line and frame form (same result).

``addresses``: ``<a@x>,<b@y>`` (a content filter's recipient list) → ``a@x,b@y``.
"""

from __future__ import annotations

from typing import Any


def addresses(v: str | None) -> str | None:
    return None if v is None else v.strip("<>").replace(">,<", ",")


def addresses_expr(col: str) -> Any:
    import polars as pl

    return pl.col(col).str.strip_chars("<>").str.replace_all(">,<", ",", literal=True)

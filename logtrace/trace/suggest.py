""""Did you mean …?" for a queue ID that ``follow`` did not find: the IDs in the logs that
differ from it only in letter case or by a typo or two (one extra scan, only on that path)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

__all__ = ["similar_ids"]


def similar_ids(paths: Sequence[str], query: str, *, mta: str = "auto", options: Any = None, limit: int = 3) -> list[str]:
    """Queue IDs in ``paths`` close to ``query`` (same ID in another case first, then near misses)."""
    import polars as pl

    from logtrace.parsing.scan import ScanResult, scan_frames

    query = query.strip()
    if not query or "-" in paths:  # stdin was consumed by the search
        return []
    ids: set[str] = set()
    for df in scan_frames(paths, mta=mta, options=options, result=ScanResult(), keep_going=True):
        ids.update(pl.concat([df["queue_id"], df["next_queue_id"]]).drop_nulls().unique().to_list())
    ids.discard(query)
    same = sorted(i for i in ids if i.lower() == query.lower())
    if same:
        return same[:limit]
    upper = {i.upper(): i for i in ids}
    near = difflib.get_close_matches(query.upper(), list(upper), n=limit, cutoff=0.8)
    return [upper[n] for n in near]

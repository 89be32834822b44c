"""Frame helpers every Exchange log type shares: CSV rows into string frames, column
cleaning, ``<message-id>``, the ``key=value`` detail bag, timestamps (and rows whose stamp
does not parse), recipient/status alignment, and conformed frames back into records.

polars is imported inside each function, so importing this module stays cheap.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

from logtrace.events import Event, EventKind, Unparsed
from logtrace_parsers.exchange.table import QUOTED, SMTP_SPLIT

__all__ = [
    "field_count_expr", "field_counts", "read_rows", "ensure", "clean", "msgid", "endpoint_ip", "bag", "timestamp", "bad_stamps",
    "align_statuses", "frame_records",
]


def field_count_expr(text: Any) -> Any:
    """Fields in each CSV line of ``text`` (commas outside quoted fields, plus one)."""
    import polars as pl

    return text.str.replace_all(QUOTED, "$1").str.count_matches(",", literal=True).cast(pl.Int64) + 1


def field_counts(s: Any) -> Any:
    """:func:`field_count_expr` over a Series of lines."""
    import polars as pl

    return s.to_frame("line").select(field_count_expr(pl.col("line"))).to_series()


def read_rows(ok: Any, fields: list[str]) -> Any:
    """CSV lines (all with ``len(fields)`` fields) → string frame with ``line_no``; None if polars disagrees."""
    import polars as pl

    body = ("\n".join(ok.get_column("line").to_list()) + "\n").encode("utf-8")
    names = [f if fields.count(f) == 1 else f"{f}#{i}" for i, f in enumerate(fields)]
    try:
        df = pl.read_csv(io.BytesIO(body), has_header=False, schema={n: pl.String for n in names}, quote_char='"',
                         encoding="utf8-lossy", truncate_ragged_lines=True)
    except Exception:  # noqa: BLE001 - polars refuses odd CSV; the caller retries row by row
        return None
    if df.height != ok.height:
        return None
    return df.with_columns(line_no=ok.get_column("line_no"), _seq=pl.lit(0, pl.Int64))


def ensure(raw: Any, names: Sequence[str]) -> Any:
    """Add the ``names`` that ``raw`` lacks as null string columns."""
    import polars as pl

    missing = [n for n in names if n not in raw.columns]
    return raw.with_columns([pl.lit(None, pl.String).alias(n) for n in missing]) if missing else raw


def clean(name: str) -> Any:
    """Column ``name`` stripped; empty → null."""
    import polars as pl

    s = pl.col(name).str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def msgid(e: Any) -> Any:
    """``<message-id>`` → ``message-id`` (null when empty)."""
    import polars as pl

    s = e.str.strip_chars().str.strip_prefix("<").str.strip_suffix(">").str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def endpoint_ip(e: Any) -> Any:
    """``ip:port``/``[ipv6]:port`` → the address; a bare address (no port) as is; null when empty."""
    import polars as pl

    s = e.str.strip_chars()
    bare = pl.when(s.str.contains(r"^[0-9A-Fa-f.:]+$") & (s.str.count_matches(":", literal=True) != 1)).then(s)
    ip = pl.coalesce(s.str.extract(r"^\[([^\]]+)\](?::\d+)?$", 1), s.str.extract(r"^([^:\[\]]+):\d+$", 1), bare)
    return pl.when(ip == "").then(None).otherwise(ip)


def bag(pairs: list[tuple[str, Any]]) -> Any:
    """The ``detail`` bag: ``key=value`` for each non-null value, joined by ``"; "`` in ``pairs`` order; null if none."""
    import polars as pl

    s = pl.concat_str([pl.lit(f"{k}=") + v for k, v in pairs], separator="; ", ignore_nulls=True)
    return pl.when(s == "").then(None).otherwise(s)


_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%:z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S",
                  "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S")


def timestamp(col: Any, tz: str | None, *, local: bool) -> Any:
    """UTC stamps (``Z``/offset) as is; naive ones in ``tz`` (``local``: else this machine's zone)."""
    import polars as pl

    from logtrace.containers.stamps import local_zone_name

    s = col.str.strip_chars()
    aware = [s.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in _ISO_FORMATS[2:]]
    zulu = [s.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC") for f in _ISO_FORMATS[:2]]
    zone = tz or (local_zone_name() if local else "UTC")
    naive = [s.str.to_datetime(f, strict=False, time_unit="us") for f in _NAIVE_FORMATS]
    naive_utc = pl.coalesce(naive).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    return pl.coalesce([*zulu, *aware, naive_utc])


def bad_stamps(out: Any) -> Any:
    """Rows whose stamp does not parse become ``unparsed``/``bad-field`` (one record per line)."""
    import polars as pl

    bad = pl.col("ts").is_null()
    cols = [c for c in out.columns if c not in ("_raw_ts", "_bad_ts")]
    good = out.filter(~bad).select(cols)
    worse = out.filter(bad)
    if not worse.height:
        return good
    worse = worse.filter(pl.col("_seq") == 0) if "_seq" in worse.columns else worse
    un = worse.select("line_no", program="program" if "program" in worse.columns else pl.lit(None), kind=pl.lit("unparsed"),
                      reason=pl.lit("bad-field"),
                      detail=pl.format("bad date-time {}", pl.col("_raw_ts").fill_null("(empty)").str.slice(0, 60)))
    return pl.concat([good, un], how="diagonal_relaxed")


def align_statuses(df: Any) -> Any:
    """Explode recipients; pair each with its ``recipient-status`` entry (``_recipient``, ``_reply``).

    Statuses are split only at a ``;`` that starts another SMTP reply, because one status
    may contain ``;`` itself (``550 5.1.1 RESOLVER.ADR.RecipNotFound; not found``). If the
    counts still differ, the whole status applies to every recipient.
    """
    import polars as pl

    smart = pl.col("_rstat").str.replace_all(SMTP_SPLIT, "\x1e$1").str.split("\x1e")
    naive = pl.col("_rstat").str.split(";")
    n = pl.col("_recips").list.len()
    chosen = (
        pl.when(pl.col("_rstat").is_null()).then(pl.lit(None, pl.String).repeat_by(n))
        .when(smart.list.len() == n).then(smart)
        .when(naive.list.len() == n).then(naive)
        .otherwise(pl.col("_rstat").repeat_by(n))
    )
    df = df.with_columns(_rlist=chosen).with_row_index("_row")
    df = df.explode(["_recips", "_rlist"]).with_columns(
        _seq=pl.int_range(pl.len()).over("_row").cast(pl.Int64),
        _recipient=pl.col("_recips").str.strip_chars().replace("", None),
        _reply=pl.col("_rlist").str.strip_chars().replace("", None),
    )
    return df


def frame_records(df: Any) -> Iterator[Event | Unparsed]:
    """Conformed event frame → :class:`Event`/:class:`Unparsed` records, in frame order."""
    from logtrace.events import EVENT_FIELDS

    for row in df.iter_rows(named=True):
        if row["kind"] == "unparsed":
            yield Unparsed(reason=row.get("reason") or "no-rule", program=row.get("program"), detail=row.get("detail"),
                           host=row.get("host"), ts=row.get("ts"), file=row.get("file"), line_no=row.get("line_no"))
        else:
            kw = {k: row.get(k) for k in EVENT_FIELDS}
            kw["kind"] = EventKind(kw["kind"])
            kw["mta"] = kw.get("mta") or "exchange"
            yield Event(**kw)

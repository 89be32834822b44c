"""Writing rows out: JSONL, CSV and Parquet of events, CSV of bounce rows and summary
sections, and JSON documents. The one CSV-injection guard lives here (:func:`guard`).

Every CSV cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, TAB or CR — OWASP's CSV injection list) gets a leading ``'``; every CSV this command
writes goes through :func:`write_csv`, which applies it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

#: the version of each command's JSON document (``"schema": "logtrace.<command>/N"``); bump N on a breaking change
SCHEMAS = {"follow": 1, "bounces": 1, "parsers": 1, "summary": 1}
#: the one timestamp style of every machine output: ISO 8601 in UTC, ``+00:00``, microseconds only when not zero
TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.6f"

#: a string cell matching this would run as a spreadsheet formula
FORMULA = r"^[=+\-@\t\r]"

#: columns of ``logtrace bounces --csv`` (one row per failed recipient)
BOUNCE_COLUMNS = ("accepted", "host", "queue_id", "sender", "message_id", "recipient", "category", "class", "failed_host",
                  "failed_queue_id", "dsn", "reply", "chain", "ndr_queue_id", "ndr_delivered")


def schema(command: str) -> str:
    """``logtrace.<command>/N``, the ``schema`` key of that command's JSON document."""
    return f"logtrace.{command}/{SCHEMAS[command]}"


def iso(ts: datetime | None) -> str | None:
    """A timestamp in the one machine style (:data:`TS_FORMAT`)."""
    return ts.astimezone(timezone.utc).isoformat() if ts is not None else None


def ts_column(col: Any) -> Any:
    """A polars datetime column as :func:`iso` strings."""
    return col.dt.convert_time_zone("UTC").dt.to_string(TS_FORMAT).str.strip_suffix(".000000") + "+00:00"


def _ascii_only() -> bool:
    from logtrace.cli.render import can_encode

    return not can_encode(sys.stdout, "é")


@contextmanager
def output_to(path: Path | None) -> Iterator[None]:
    """stdout goes to ``path`` inside this block (``-o FILE``); nothing changes for None."""
    if path is None:
        yield
        return
    from logtrace.errors import InputError

    try:
        fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as e:
        raise InputError(f"{path}: {e.strerror.lower() if e.strerror else e}", hint="-o needs a writable file path") from None
    old, sys.stdout = sys.stdout, fh
    try:
        yield
    finally:
        sys.stdout = old
        fh.close()


def guard(df: Any) -> Any:
    """The CSV-injection guard: string cells matching :data:`FORMULA` get a leading quote."""
    import polars as pl

    cols = [pl.when(pl.col(c).str.contains(FORMULA)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
            for c, t in df.schema.items() if t == pl.String]
    return df.with_columns(cols) if cols else df


def redacted(obj: Any) -> Any:
    """``obj`` (a DataFrame or a JSON-ready structure) with personal data replaced by tokens when
    ``--redact`` is on (:mod:`logtrace.redact`); unchanged otherwise."""
    from logtrace.redact import active

    r = active()
    if r is None:
        return obj
    return r.frame(obj) if hasattr(obj, "schema") and hasattr(obj, "with_columns") else r.deep(obj)


def write_csv(df: Any, dest: Path | IO[str], *, header: bool = True, line_terminator: str = "\n") -> None:
    """``df`` as CSV (guarded) to a path or an open text file."""
    out = guard(redacted(df)).write_csv(include_header=header, line_terminator=line_terminator)
    if isinstance(dest, Path):
        dest.write_text(out, encoding="utf-8", newline="")
    else:
        dest.write(out)


def write_json(doc: Any, fh: IO[str] | None = None, *, ensure_ascii: bool = False) -> None:
    """One JSON document, indented, newline-terminated (stdout by default), written in pieces of
    about :data:`JSON_PIECE` characters: an indented ``json.dumps`` is the pure-Python encoder,
    whose millions of small chunks were joined into one string (``bounces --json`` on 8M lines:
    a 54 MB document, a few hundred MB while it was joined)."""
    out = fh or sys.stdout
    piece: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2, ensure_ascii=ensure_ascii or _ascii_only()).iterencode(redacted(doc)):
        piece.append(chunk)
        size += len(chunk)
        if size >= JSON_PIECE:
            out.write("".join(piece))
            piece.clear()
            size = 0
    piece.append("\n")
    out.write("".join(piece))


#: characters of an indented JSON document joined before each write
JSON_PIECE = 1 << 20


def write_jsonl(docs: Iterable[Any], fh: IO[str] | None = None) -> None:
    """One compact JSON object per line (for ``jq``, ``--format jsonl``)."""
    out = fh or sys.stdout
    ascii_only = _ascii_only()
    for d in docs:
        out.write(json.dumps(redacted(d), ensure_ascii=ascii_only, separators=(",", ":")) + "\n")


def write_events(frames: Iterable[Any], fmt: str, output: Path | None) -> None:
    """Write event frames as they come (``fmt``: ``jsonl``, ``csv`` or ``parquet``).

    Parquet goes through polars' streaming sink (:func:`_write_parquet`); CSV and JSONL chunk by chunk. JSONL is the
    canonical form (:mod:`logtrace.events`): file, line_no, schema order, nulls omitted, ISO stamps.
    A ``raw`` column (``parse --only-unparsed``) is written last.
    """
    import polars as pl

    from logtrace.events import KEY_ORDER, event_schema

    if fmt == "parquet":
        _write_parquet(frames, output)
        return
    fh = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
    try:
        first = True
        for df in frames:
            if fmt == "csv":
                write_csv(df.with_columns(ts_column(pl.col("ts"))), fh, header=first)
                first = False
                continue
            df = redacted(df)
            cols = ["file", *(k for k in KEY_ORDER if k in df.columns), *(["raw"] if "raw" in df.columns else [])]
            names = cols
            view = df.select(cols).with_columns(ts_column(pl.col("ts")))
            enc = json.JSONEncoder(ensure_ascii=_ascii_only(), separators=(",", ":")).encode
            lines = [enc({k: v for k, v in zip(names, row) if v is not None}) for row in view.iter_rows()]
            if lines:
                fh.write("\n".join(lines) + "\n")
        if first and fmt == "csv":
            write_csv(pl.DataFrame(schema=event_schema()), fh)
        fh.flush()
    finally:
        if output:
            fh.close()


def _write_parquet(frames: Iterable[Any], output: Path | None) -> None:
    """Event frames → one Parquet file, each frame first written as a small compressed Parquet file.

    polars' streaming sink pulls a Python source (``register_io_source``) to its end before it
    writes, so the frames themselves, with the line buffers their strings point into, all stayed
    in memory (measured: +220 MiB peak RSS on 1M lines). Each frame is encoded when it comes
    (LZ4 Parquet, ~26 MiB for those 1M lines) into a hidden directory beside the output, removed
    at the end (it had been held in memory: ~210 MB at 8M lines), and the sink reads those files
    back; the Parquet bytes written are the same (``tests/test_speed_parquet.py``)."""
    import os
    import shutil
    import tempfile

    import polars as pl

    from logtrace.errors import InputError
    from logtrace.events import event_schema

    assert output is not None  # the command checks --output first
    out = Path(output)
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        why = "no such file or directory" if not out.parent.is_dir() else "permission denied"
        raise InputError(f"{output}: {why}", hint="-o needs a writable file path")  # before the work, not after it
    spool = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".parts", dir=out.parent))
    try:
        held: list[str] = []
        sch: dict[str, Any] | None = None
        for df in frames:
            if sch is None:
                sch = dict(event_schema()) | ({"raw": pl.String} if "raw" in df.columns else {})
            df = redacted(df)
            if df.schema != sch:
                df = df.select([pl.col(c).cast(t) for c, t in sch.items()])
            part = str(spool / f"{len(held):06d}.parquet")
            df.write_parquet(part, compression="lz4", statistics=False)
            held.append(part)
        lf = pl.scan_parquet(held) if held else pl.LazyFrame(schema=event_schema())
        lf.sink_parquet(output)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def bounce_frame(items: list[Any]) -> Any:
    """``logtrace bounces --csv`` rows (:data:`BOUNCE_COLUMNS`), all strings, missing values null."""
    import polars as pl

    def cell(v: Any) -> str | None:
        if isinstance(v, bool):
            return "true" if v else "false"
        return None if v is None or v == "" else str(v)

    rows = []
    for it in items:
        o = it.story.origin
        chain = " > ".join(f"{lc.host}:{lc.queue_id}" for lc, _, _ in it.story.chain)
        for r, c in zip(it.failed, it.classes):
            ndr = r.ndr or {}
            rows.append([cell(x) for x in (
                iso(o.start), o.host, o.queue_id, o.sender, o.message_id, r.recipient,
                it.category, c, r.host, r.queue_id, r.dsn, r.reply, chain, ndr.get("queue_id"), ndr.get("delivered"))])
    return pl.DataFrame(rows, schema={k: pl.String for k in BOUNCE_COLUMNS}, orient="row")


def write_bounces_csv(items: list[Any], fh: IO[str] | None = None) -> None:
    """One CSV row per failed recipient (RFC 4180 line ends, as Python's csv module writes them)."""
    write_csv(bounce_frame(items), fh or sys.stdout, line_terminator="\r\n")

"""``parse --format parquet`` holds each frame as a small compressed Parquet buffer (then sinks
them into the output) and writes the same bytes as polars' streaming sink over a Python source,
which it replaced because that sink pulls the whole source, frames and the line buffers their
strings point into, into memory first."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import generate_log
from logtrace.cli.writers import write_events
from logtrace.errors import InputError
from logtrace.parsing.protocol import ParseOptions
from logtrace.parsing.scan import parse

OPTS = ParseOptions(year=2026, tz="UTC")


def streaming_sink(frames: list, out: Path) -> None:
    """The writer before: ``register_io_source`` over the frames, ``sink_parquet``."""
    import polars as pl
    from polars.io.plugins import register_io_source

    from logtrace.events import event_schema

    def source(with_columns, predicate, n_rows, batch_size):  # noqa: ANN001
        for df in frames:
            yield df.select(with_columns) if with_columns is not None else df

    sch = dict(event_schema()) | ({"raw": pl.String} if frames and "raw" in frames[0].columns else {})
    register_io_source(io_source=source, schema=sch).sink_parquet(out)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory):
    log = generate_log(tmp_path_factory.mktemp("pq") / "gen.log", 6000, 3)
    return parse([str(log)], mta="postfix", options=OPTS).events


def test_parquet_of_several_frames_is_byte_identical_to_the_streaming_sink(events, tmp_path):
    import polars as pl

    frames = [events.slice(0, 2000), events.slice(2000, 1), events.slice(2001, 4000)]
    assert sum(f.height for f in frames) == events.height
    write_events(iter(frames), "parquet", tmp_path / "new.parquet")
    streaming_sink(frames, tmp_path / "old.parquet")
    assert (tmp_path / "new.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
    assert pl.read_parquet(tmp_path / "new.parquet").equals(events)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.parquet", "old.parquet"]  # nothing left beside the output


def test_parquet_with_raw_and_without_frames(events, tmp_path):
    import polars as pl

    with_raw = [events.head(50).with_columns(raw=pl.lit("x <y>"))]
    write_events(iter(with_raw), "parquet", tmp_path / "raw.parquet")
    streaming_sink(with_raw, tmp_path / "raw_old.parquet")
    assert (tmp_path / "raw.parquet").read_bytes() == (tmp_path / "raw_old.parquet").read_bytes()
    write_events(iter([]), "parquet", tmp_path / "empty.parquet")
    streaming_sink([], tmp_path / "empty_old.parquet")
    assert (tmp_path / "empty.parquet").read_bytes() == (tmp_path / "empty_old.parquet").read_bytes()


def test_parquet_into_a_missing_directory_is_an_input_error(events, tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        write_events(iter([events.head(5)]), "parquet", tmp_path / "nope" / "x.parquet")


def test_a_failure_while_parsing_leaves_no_parts_beside_the_output(events, tmp_path):
    def frames():
        yield events.head(10)
        raise RuntimeError("input went away")

    with pytest.raises(RuntimeError):
        write_events(frames(), "parquet", tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []  # the frames written so far were removed with their directory

"""Running parsers over inputs: the frame engine (bulk) and the line engine (reference).

* :func:`scan_frames` yields one polars DataFrame per chunk per input (bounded memory);
  :func:`parse_frame_all` concatenates them.
* :func:`parse_lines` yields :class:`~logtrace.events.Event` / :class:`~logtrace.events.Unparsed`
  records, one per input line.
* :func:`accounting` counts lines as parsed / other program / unrecognized, per program.

Per-input failures raise :class:`~logtrace.errors.LogtraceError` unless ``keep_going`` is set,
in which case they become :class:`~logtrace.errors.Diagnostic` errors and the next input is
read (the CLI keeps going and exits 2 at the end).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from logtrace.input import reader
from logtrace.input.cpus import usable_cpus
from logtrace.parsing.frames import detach
from logtrace.errors import Diagnostic, LogtraceError
from logtrace.events import Event, Unparsed
from logtrace.parsing.registry import Registry, default_registry
from logtrace.parsing.protocol import FileContext, ParseOptions, reads_whole_files
from logtrace.containers.syslog import looks_like_syslog
from logtrace.parsing.router import Router
from logtrace.parsing.rules import RuleParser


@dataclass
class ScanResult:
    """What a scan saw besides events."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, parser name)
    failed_inputs: int = 0


def _parser_for(f: reader.InputFile, mta: str, options: ParseOptions, registry: Registry) -> Any:
    """The reader of one input: a :class:`Router` over every rule dialect (the sniffed or
    ``--mta`` one first) for a syslog file, else the chosen parser's own container."""
    if mta and mta != "auto":
        cls = registry.get(mta)
        head = reader.sniff_head(f) if has_native_container(cls) else []
        native = has_native_container(cls) and (_native_share(cls, head) >= 0.5 or not looks_like_syslog(head))
    else:
        head = reader.sniff_head(f)
        if not any(h.strip() for h in head):
            return None
        cls = _native_container(head, registry)
        native = cls is not None
        if cls is None:
            syslog = looks_like_syslog(head)
            cls = (syslog and _syslog_majority(head, registry)) or registry.sniff(head, f.path)
            native = has_native_container(cls) and not syslog
    if not issubclass(cls, RuleParser):
        return cls(options)
    dialects = [cls(options)] + [i.cls(options) for i in registry.available()
                                 if i.cls is not cls and isinstance(i.cls, type) and issubclass(i.cls, RuleParser)]
    router = Router(dialects, options)
    if native:
        dialects[0].use_router(router)  # its own format, other programs' syslog lines to their dialects
        return dialects[0]
    return router


def _native_container(head: Sequence[str], registry: Registry) -> Any:
    """The parser whose own file format (Exim's mainlog, Dovecot's log_path …) most head lines
    are in, when that is at least half of them; None otherwise (then syslog or sniffing decide)."""
    best, best_share = None, 0.5
    for i in registry.available():
        share = _native_share(i.cls, head)
        if share >= best_share and (best is None or share > best_share):
            best, best_share = i.cls, share
    return best


def _syslog_majority(head: Sequence[str], registry: Registry) -> Any:
    """In a syslog file every dialect reads its own programs: the one claiming most head
    lines goes first (registry order breaks ties); None when no dialect claims any."""
    from logtrace.containers.syslog import split_line

    programs = [g.get("program") or "" for g in map(split_line, head) if g]
    best, best_n = None, 0
    for i in registry.available():
        if not (isinstance(i.cls, type) and issubclass(i.cls, RuleParser)):
            continue
        try:
            d = i.cls()
            n = sum(1 for p in programs if d.claims(p))
        except Exception:  # noqa: BLE001 - a plugin must not break detection
            continue
        if n > best_n:
            best, best_n = i.cls, n
    return best


def _native_share(cls: Any, head: Sequence[str]) -> float:
    """Share of head lines in ``cls``'s own file format (0 without ``native_sniff``)."""
    fn = getattr(cls, "native_sniff", None)
    try:
        return float(fn(head)) if fn is not None else 0.0
    except Exception:  # noqa: BLE001 - a plugin must not break detection
        return 0.0


def has_native_container(cls: Any) -> bool:
    """Whether a parser reads a file format of its own besides syslog (it overrides the
    syslog container's ``parse_frame``)."""
    return getattr(cls, "parse_frame", None) is not RuleParser.parse_frame


def syslog_framed(parser: Any) -> bool:
    """Whether ``parser`` reads its input as syslog lines (the router, or a dialect without a file format of
    its own): then each physical line is one record, and a line filter may drop lines before parsing."""
    return isinstance(parser, Router) or not has_native_container(type(parser))


def _inputs(paths: Sequence[str], result: ScanResult, keep_going: bool) -> list[reader.InputFile]:
    if not keep_going:
        return reader.expand(paths)
    out: list[reader.InputFile] = []
    seen: set[str] = set()
    for p in paths:
        try:
            for f in reader.expand([p]):
                key = f.path if f.is_stdin else os.path.realpath(f.path)
                if key not in seen:  # `mail.log *.log` names mail.log twice: read it once
                    seen.add(key)
                    out.append(f)
        except LogtraceError as e:
            result.diagnostics.append(Diagnostic("error", e.message, hint=e.hint))
            result.failed_inputs += 1
    if len(out) > 1 and not any(f.is_stdin for f in out):
        order = reader.sort_rotated([f.path for f in out])
        by = {f.path: f for f in out}
        out = [by[p] for p in order]
    return out


def open_inputs(paths: Sequence[str], mta: str, options: ParseOptions | None, registry: Registry | None,
                result: ScanResult, keep_going: bool) -> Iterator[tuple[reader.InputFile, Any, FileContext]]:
    options = options or ParseOptions()
    registry = registry or default_registry()
    for f in _inputs(paths, result, keep_going):
        try:
            reader.check_text(f)
            parser = _parser_for(f, mta, options, registry)
        except LogtraceError as e:
            if not keep_going:
                raise
            result.diagnostics.append(Diagnostic("error", e.message, hint=e.hint))
            result.failed_inputs += 1
            continue
        if parser is None:
            if f.compression is not None:  # a damaged stream can decode to nothing: say so
                before = len(result.diagnostics)
                for _ in reader.read_chunks(f, result.diagnostics):
                    pass
                if len(result.diagnostics) > before:
                    continue
            result.diagnostics.append(Diagnostic("warning", "empty input, nothing to read", path=f.path))
            continue
        result.files.append((f.path, parser.name))
        yield f, parser, FileContext(f.path, f.mtime, options)


def scan_frames(paths: Sequence[str], *, mta: str = "auto", options: ParseOptions | None = None,
                registry: Registry | None = None, result: ScanResult | None = None,
                keep_going: bool = False, line_filter: Any = None, narrow: Any = None,
                chunk_bytes: int | None = None, filter_native: bool = True, raw: bool = False,
                threads: int | None = None) -> Iterator[Any]:
    """Yield event DataFrames (:func:`~logtrace.events.event_schema`), chunk by chunk.

    ``line_filter`` is an optional polars expression over the raw ``line`` and ``line_no``
    columns applied before parsing (``follow`` narrows a day of logs to the lines naming its
    IDs this way), or a function of an input's path giving that input's expression.
    ``narrow`` (:class:`~logtrace.parsing.rules.Narrow`) asks syslog files for fewer rows and
    columns; a parser with a file format of its own ignores it (callers filter its events).
    ``filter_native=False`` reads inputs in a format of their own whole (their lines may take
    fields from the lines above them), ``line_filter`` applying to syslog files only.
    ``raw=True`` adds a ``raw`` column: the line's text on unparsed rows (``parse --only-unparsed``).
    ``threads``: parsing threads (default :func:`parse_threads`).
    """
    result = result if result is not None else ScanResult()

    def jobs() -> Iterator[Any]:
        for f, parser, ctx in open_inputs(paths, mta, options, registry, result, keep_going):
            syslog = syslog_framed(parser)
            flt = line_filter if filter_native or syslog else None
            if reads_whole_files(parser):
                for df in parser.parse_file(f, ctx, result.diagnostics, flt(f.path) if callable(flt) else flt):
                    yield _with_raw(df, None) if raw else df
                continue
            narrowed = narrow is not None and syslog
            for lines in _prepared(f, parser, ctx, result, flt, chunk_bytes):
                yield functools.partial(_parse_block, parser, lines, ctx, narrow if narrowed else None, raw)

    yield from pipelined(jobs(), parse_threads() if threads is None else threads)


def _parse_block(parser: Any, lines: Any, ctx: FileContext, narrow: Any, raw: bool) -> Any:
    df = parser.parse_frame(lines, ctx, narrow) if narrow is not None else parser.parse_frame(lines, ctx)
    return _with_raw(df, lines) if raw else df


#: the first block of an input is this much smaller than the others (the thread pipeline starts sooner)
FIRST_BLOCK_DIVISOR = 8


def parse_threads(caller_busy: bool = True) -> int:
    """Threads that parse blocks while the caller works on the blocks before (folds, filters, writes):
    ``$LOGTRACE_THREADS``, else one less than the CPUs this process may use (at least 1, at most 3).
    polars releases the GIL while it runs a plan, so on 2 cores one parsing thread beside the
    folding caller took a 1M-line summary from 4.4 to 3.4 s (two threads: 3.2 s, but 620 MB
    instead of 500 MB peak: two blocks' working sets at once). 0 parses in the caller's thread.

    ``caller_busy=False``: the caller only writes or lightly folds what is parsed (``parse``,
    ``bounces``' first pass) and waits for the parse most of the time, so one thread per CPU (at
    most 3): on 2 cores, 8M lines to Parquet took 22 s instead of 29 s (same CPU time; +105 MiB
    peak), ``bounces`` on them 46 s instead of 52 s (same peak). ``bounces``' second pass builds
    events from what is parsed: busy (two threads there: the same 10 s on 8M lines, +30 MiB)."""
    raw = os.environ.get("LOGTRACE_THREADS", "").strip()
    if raw.isdigit():
        return int(raw)
    return max(1, min(usable_cpus() - (1 if caller_busy else 0), 3))


def pipelined(jobs: Iterator[Any], threads: int) -> Iterator[Any]:
    """Results of ``jobs`` in order. A job is a ready value or a callable, run on a pool of ``threads``
    threads (0: in the caller's thread) with at most ``threads`` blocks being parsed ahead of the one
    the caller holds, so memory stays at a few blocks. The ``jobs`` iterator itself (reading, year
    inference: sequential) runs in the caller's thread; a job's exception is raised where its result
    would have been yielded."""
    if threads <= 0:
        for job in jobs:
            yield job() if callable(job) else job
        return
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="logtrace-parse")
    pending: deque[Any] = deque()

    def take() -> Any:
        head = pending.popleft()
        return head.result() if isinstance(head, Future) else head

    try:
        for job in jobs:
            pending.append(pool.submit(job) if callable(job) else job)
            while len(pending) > threads or (pending and not isinstance(pending[0], Future)):
                yield take()
        while pending:
            yield take()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _with_raw(df: Any, lines: Any) -> Any:
    """``df`` with ``raw``: the source line of each unparsed row (null elsewhere, and for whole-file containers)."""
    import polars as pl

    if lines is None:
        return df.with_columns(raw=pl.lit(None, pl.String))
    df = df.join(lines.select("line_no", pl.col("line").alias("raw")), on="line_no", how="left", maintain_order="left")
    return df.with_columns(raw=pl.when(pl.col("kind") == "unparsed").then(pl.col("raw")))


def _prepared(f: Any, parser: Any, ctx: FileContext, result: ScanResult, line_filter: Any,
              chunk_bytes: int | None = None) -> Iterator[Any]:
    """Chunks with their years fixed in order (year inference is sequential), filtered."""
    from logtrace.containers.stamps import assign_years

    flt = line_filter(f.path) if callable(line_filter) else line_filter  # a callable gives each input its own
    size = chunk_bytes or reader.CHUNK_BYTES
    # a small first block gets the caller folding while the next blocks are parsed on threads; also
    # without threads, so that blocks, and float sums over them, are the same whatever the thread count
    pending: list[Any] = []  # a filter's few lines held for one parse (copied: views would pin their blocks)
    for lines in reader.frames(f, result.diagnostics, size, size // FIRST_BLOCK_DIVISOR):
        lines = assign_years(lines, ctx.years)
        if flt is not None:
            lines = lines.filter(flt)
            if not lines.height:
                continue
            if lines.height < GATHER_ROWS:
                pending.append(detach(lines))
                if sum(p.height for p in pending) < GATHER_ROWS:
                    continue
                lines, pending = _gathered(pending), []
            elif pending:
                yield _gathered(pending)
                pending = []
        yield lines
    if pending:
        yield _gathered(pending)


#: a filter's few lines of each block are parsed together up to this many (a parse has a fixed cost
#: of ~80 ms a block whatever its rows: ``bounces``' second pass over 1M lines parsed 68k lines in
#: 10 parses). The parse of a gathered batch is ``bounces``' peak working set: on 8M lines (523k lines
#: kept) 50k / 25k / 12.5k rows peaked at 562 / 502 / 468 MiB in pass 2, in 20 / 20 / 21 s
GATHER_ROWS = 25_000


def _gathered(frames: list[Any]) -> Any:
    import polars as pl

    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")


def parse_frame_all(paths: Sequence[str], **kw: Any) -> Any:
    """All events of ``paths`` as one DataFrame (see :func:`scan_frames`)."""
    import polars as pl

    from logtrace.parsing.rules import empty_frame

    frames = list(scan_frames(paths, **kw))
    return pl.concat(frames, how="vertical_relaxed") if frames else empty_frame()


def parse_lines(paths: Sequence[str], *, mta: str = "auto", options: ParseOptions | None = None,
                registry: Registry | None = None, result: ScanResult | None = None,
                keep_going: bool = False) -> Iterator[Event | Unparsed]:
    """The line engine: one record per input line, in file order."""
    result = result if result is not None else ScanResult()
    for f, parser, ctx in open_inputs(paths, mta, options, registry, result, keep_going):
        if reads_whole_files(parser):
            yield from parser.parse_file_lines(f, ctx, result.diagnostics)
            continue
        for n, line in reader.iter_lines(f, result.diagnostics):
            yield parser.parse_line(line, ctx, n)


def accounting(df: Any) -> Any:
    """Line accounting per program: ``program, parsed, other, unrecognized``."""
    import polars as pl

    cat = (
        pl.when(pl.col("kind") == "unparsed").then(pl.lit("unrecognized"))
        .when(pl.col("rule").is_in(["other.program", "blank", "syslog.noise"])).then(pl.lit("other"))
        .otherwise(pl.lit("parsed"))
    )
    return (
        df.lazy()
        .select(program=pl.col("program").fill_null("(none)"), cat=cat)
        .group_by("program")
        .agg(
            parsed=(pl.col("cat") == "parsed").sum(),
            other=(pl.col("cat") == "other").sum(),
            unrecognized=(pl.col("cat") == "unrecognized").sum(),
        )
        .sort(["unrecognized", "parsed", "other"], descending=True)
        .collect()
    )

def parsed_by_dialect(acc: Any, registry: Registry | None = None) -> dict[str, int]:
    """Parsed lines per dialect (``{"postfix": 120, "exim": 40}``) from an :func:`accounting`
    frame: each program goes to the dialect that claims it, as the router does."""
    registry = registry or default_registry()
    dialects = [i.cls() for i in registry.available() if isinstance(i.cls, type) and issubclass(i.cls, RuleParser)]
    out: dict[str, int] = {}
    if not dialects or not acc.height:
        return out
    router = Router(dialects)
    for program, parsed in acc.select("program", "parsed").iter_rows():
        own = router.owner(program or "") if parsed else None
        name = router.dialects[own[0]].name if own else "native formats"
        if parsed:
            out[name] = out.get(name, 0) + int(parsed)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------- results for the library API


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

    from logtrace.events import event_schema, to_dict
    from logtrace.parsing.rules import empty_frame

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
        from logtrace.query import compile_where

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
                 where: str | None = None, keep_going: bool = True, raw: bool = False) -> ParseStream:
    """Like :func:`parse` with the frame engine, but yielding each chunk's events as soon as
    they are parsed, in input order (one file after another; :func:`parse` merges several
    inputs into one timeline instead)."""
    scan = ScanResult()
    expr = None
    if where:
        from logtrace.query import compile_where

        expr = compile_where(where)
    out = ParseStream(iter(()), scan)

    def gen() -> Iterator[Any]:
        for df in scan_frames(paths, mta=mta, options=options, result=scan, keep_going=keep_going, raw=raw,
                              threads=parse_threads(caller_busy=False)):
            out._acc.append(accounting(df))
            yield df.filter(expr) if expr is not None else df

    out.frames = gen()
    return out

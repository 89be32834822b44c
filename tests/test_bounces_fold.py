"""``bounces`` in two passes: a narrow fold selects the messages, a second read parses only their
lines (standard input is read twice from a temporary copy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import generate_log

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_log(tmp_path_factory.mktemp("bfold") / "mail.log", 30000, 7)


def run(*args: str, stdin: Path | None = None, tmpdir: Path | None = None) -> list[dict]:
    import os

    env = dict(os.environ, **({"TMPDIR": str(tmpdir)} if tmpdir else {}))
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as fh:
        r = subprocess.run([sys.executable, "-m", "logtrace", "bounces", *args, "--json"], stdin=fh, capture_output=True,
                           cwd=REPO, timeout=300, env=env)
    assert r.returncode in (0, 4), r.stderr.decode()
    return json.loads(r.stdout)


@pytest.mark.parametrize("extra", [(), ("--include-rejected",)], ids=["default", "include-rejected"])
def test_standard_input_gives_what_the_file_gives(generated, extra, tmp_path):
    """stdin is read twice from a copy in $TMPDIR (removed afterwards), gzip-compressed or not."""
    import gzip

    two = run(str(generated), *extra)
    spool = tmp_path / "spool"
    spool.mkdir()
    one = run("-", *extra, stdin=generated, tmpdir=spool)
    assert two, "the generated log has failures to report"
    norm = json.dumps(one).replace('"-:', f'"{generated}:')
    assert json.loads(norm) == two
    packed = tmp_path / "mail.log.gz"
    packed.write_bytes(gzip.compress(generated.read_bytes(), compresslevel=1))
    assert run("-", *extra, stdin=packed, tmpdir=spool) == one
    assert not list(spool.iterdir()), "the copy of standard input is removed"


def test_the_fold_selects_exactly_the_messages_with_a_problem_and_their_links(generated):
    from logtrace.parsing.rules import ParseOptions
    from logtrace.parsing.scan import ScanResult
    from logtrace.trace.candidates import select_candidates

    import polars as pl

    from logtrace.parsing.scan import parse_frame_all
    from logtrace.trace.candidates import per_message

    opts = ParseOptions(year=2026, tz="UTC")
    sel = select_candidates([str(generated)], options=opts, result=ScanResult())
    ev = parse_frame_all([str(generated)], options=opts)
    want = per_message(ev.filter(pl.col("queue_id").is_not_null())).sort("host", "queue_id")
    assert sel.per.sort("host", "queue_id").equals(want.select(sel.per.columns))
    pairs = ev.filter(pl.col("queue_id").is_not_null(), pl.col("next_queue_id").is_not_null()).select(
        "queue_id", "next_queue_id").unique().rows()
    assert sorted(sel.pairs.rows()) == sorted(pairs)


# ------------------------------------------------------------------ pass 2's line filter

def _runs(line: str) -> set[str]:
    import re

    from logtrace.trace.candidates import ID_RUN

    return set(re.findall(ID_RUN + "+", line))


def _named(qid: str, line: str) -> bool:
    """How pass 2 finds ``qid`` in ``line`` (:func:`~logtrace.trace.candidates.naming_any` beyond a few IDs):
    an ID of :data:`~logtrace.trace.candidates.ID_RUN` characters as a whole run, another anywhere."""
    import re

    from logtrace.trace.candidates import ID_RUN

    return qid in _runs(line) if re.fullmatch(ID_RUN + "+", qid) else qid in line


def _corpus_and_generated(generated: Path, tmp: Path) -> list[Path]:
    from conftest import CORPUS, corpus_dir, generate_exim_log

    corpus_dir("postfix"), corpus_dir("exim")
    native = generate_exim_log(tmp / "exim.log", 20000, 7)
    syslog = tmp / "exim-syslog.log"  # the same lines as Exim writes them through syslog (log_file_path = syslog)
    with open(native, encoding="utf-8") as src, open(syslog, "w", encoding="utf-8") as out:
        for line in src:
            out.write(f"Nov 21 {line[11:19]} mx3 exim[4242]: {line[20:]}")
    return [*sorted(p for p in CORPUS.glob("*/*.log") if "exchange" not in p.parts), generated, native, syslog]


def test_every_parsed_queue_id_is_named_as_pass_2_looks_for_it(generated, tmp_path):
    """Pass 2 keeps a line when one of its runs of :data:`~logtrace.trace.candidates.ID_RUN` is a wanted
    ID: exact only if every dialect's ``queue_id`` is such a run of its line, on every corpus and
    generated line that pass 2 filters (syslog-framed files: a file format of its own is read whole)."""
    import polars as pl

    from logtrace.parsing.protocol import ParseOptions
    from logtrace.parsing.scan import ScanResult, open_inputs, parse, syslog_framed

    opts = ParseOptions(year=2026, tz="UTC")
    checked = 0
    for path in _corpus_and_generated(generated, tmp_path):
        parser = next((p for _, p, _ in open_inputs([str(path)], "auto", opts, None, ScanResult(), True)), None)
        if parser is None or not syslog_framed(parser):
            continue  # a file format of its own (Exim's main and reject logs, Exchange): pass 2 reads it whole
        ev = parse([str(path)], options=opts).events.filter(pl.col("queue_id").is_not_null())
        lines = path.read_bytes().decode("utf-8", "replace").split("\n")
        bad = [(n, q) for n, q in ev.select("line_no", "queue_id").iter_rows() if not _named(q, lines[n - 1])]
        assert not bad, f"{path.name}: queue IDs that are not a whole run of their line: {bad[:5]}"
        checked += ev.height
    assert checked > 20000


def test_every_rule_sample_names_its_queue_id_as_pass_2_looks_for_it():
    from datetime import datetime, timezone

    from logtrace.events import Event
    from logtrace.parsing.protocol import FileContext, ParseOptions
    from logtrace.parsing.registry import Registry
    from logtrace.parsing.rules import RuleParser

    opts = ParseOptions(year=2026, tz="UTC")
    ctx = FileContext("-", None, opts)
    seen = 0
    for info in Registry(include_plugins=False).available():
        if not issubclass(info.cls, RuleParser):
            continue
        parser = info.cls(opts)
        for rule in parser.rules:
            daemon = rule.program if rule.program != "*" else None
            for body in rule.samples:
                ev = parser.body_event(daemon, body, ts=datetime(2026, 1, 1, tzinfo=timezone.utc), host="h",
                                       program=None, pid=None, ctx=ctx, line_no=1) if daemon else None
                if isinstance(ev, Event) and ev.queue_id:
                    assert _named(ev.queue_id, body), (rule.id, body)
                    seen += 1
    assert seen > 50


def test_the_runs_filter_gives_what_contains_any_gives(generated, monkeypatch):
    """Beyond :data:`~logtrace.trace.candidates.CONTAINS_ANY_IDS` IDs pass 2 looks lines' runs up instead
    of one Aho-Corasick search: the same messages come out either way."""
    from logtrace.trace import candidates
    from logtrace.trace.bounces import bounce_rows, find_bounces
    from logtrace.parsing.protocol import ParseOptions

    opts = ParseOptions(year=2026, tz="UTC")

    def rows() -> list:
        res = find_bounces([str(generated)], options=opts, include_rejected=True)
        return [bounce_rows(it) for it in res.items]

    assert candidates.CONTAINS_ANY_IDS < 10_000
    by_search = rows()
    monkeypatch.setattr(candidates, "CONTAINS_ANY_IDS", 0)
    by_runs = rows()
    assert by_search and by_runs == by_search


def test_pass_2_events_share_their_stamps_across_blocks(generated):
    """Pass 2's events are the peak of ``bounces``: a stamp (a second of log holds many lines) is one
    Python object shared by its events, across blocks, however few rows of a block carry it; the
    events are equal to those built block by block without a shared cache."""
    import polars as pl

    from logtrace.parsing.scan import ScanResult, scan_frames
    from logtrace.trace.follow import rows_to_events

    frames = [df.filter(pl.col("queue_id").is_not_null()) for df in scan_frames([str(generated)], result=ScanResult(),
                                                                                 chunk_bytes=1 << 20)]
    assert len(frames) > 2
    caches: dict = {}
    events = [e for df in frames for e in rows_to_events(df.head(40), caches)]  # 40 rows: below the n_unique rule's floor
    alone = [e for df in frames for e in rows_to_events(df.head(40))]
    assert events == alone
    stamps = [e.ts for e in events]
    assert len(set(stamps)) < len(stamps)  # the log repeats seconds, so sharing is tested
    assert len({id(t) for t in stamps}) == len(set(stamps))

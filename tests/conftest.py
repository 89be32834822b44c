"""Shared test set-up: golden-update flag, corpus location, hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "public"

settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite sample_logs/*/*.events.jsonl")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens")) or os.environ.get("LOGTRACE_UPDATE_GOLDENS") == "1"


#: CI sets both: a missing tool or file is then a failure, never a skip
REQUIRE_MTA = os.environ.get("LOGTRACE_REQUIRE_MTA") == "1"
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(why: str, *, required: bool) -> None:
    """A test's tool or data is missing: a failure where it is ``required`` (every caller passes
    :data:`IN_CI` or :data:`REQUIRE_MTA`, both set by ``.ci/run``), a skip only on a developer's
    machine without them."""
    (pytest.fail if required else pytest.skip)(why)


def corpus_file(path: Path) -> Path:
    """A corpus file; skipped when absent, a failure in CI."""
    if not path.exists():
        unavailable(f"corpus file not present: {path}", required=IN_CI)
    return path


def corpus_dir(sub: str) -> Path:
    """The shared public corpus; skipped when absent, a failure in CI (it must be there)."""
    d = CORPUS / sub
    if not d.is_dir():
        unavailable(f"{d} not present (the shared corpus lives beside the repo; CI must run with ../shared beside the clone)",
                    required=IN_CI)
    return d


def golden_events(path: Path, mta: str, options: object, engine: str) -> list[dict]:
    """What ``logtrace parse FILE`` prints (the canonical JSONL form), minus the ``file`` key."""
    from logtrace.parsing.scan import parse
    from logtrace.events import canonical

    out = []
    for row in parse([str(path)], mta=mta, options=options, engine=engine).events.iter_rows(named=True):
        out.append(canonical(row))
    return out


def assert_engines_agree(path: Path | str, mta: str, options: object) -> None:
    """The frame engine and the per-line reference engine give the same events, column by column."""
    import polars as pl

    from logtrace.parsing.scan import parse

    a = parse([str(path)], mta=mta, options=options, engine="frame").events
    b = parse([str(path)], mta=mta, options=options, engine="line").events
    assert a.height == b.height
    diff = a.join(b, on="line_no", suffix="_l")
    for col in a.columns:
        if col in ("line_no", "file"):
            continue
        mism = diff.filter(~pl.col(col).eq_missing(pl.col(col + "_l")))
        assert mism.height == 0, f"{col}: {mism.select('line_no', col, col + '_l').head(3)}"


def generate_log(out: Path, lines: int, seed: int) -> Path:
    """A ``bench/genlog.py`` Postfix log (with its truth file beside it)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, str(REPO / "bench" / "genlog.py"), "--lines", str(lines), "--seed", str(seed),
                    "--out", str(out), "--truth", str(out.with_suffix(".truth")), "-q"], check=True, timeout=300)
    return out


def generate_exim_log(out: Path, lines: int, seed: int) -> Path:
    """A ``bench/genlog.py --mta exim`` main log."""
    import subprocess
    import sys

    subprocess.run([sys.executable, str(REPO / "bench" / "genlog.py"), "--mta", "exim", "--lines", str(lines), "--seed",
                    str(seed), "--out", str(out), "-q"], check=True, timeout=300)
    return out


def line_bodies(files: list[Path]) -> list[str]:
    """Message bodies of every line of ``files``: a syslog line's body, any other line as it is, and an
    Exim main-log line also without its stamp."""
    import re

    from logtrace.containers.syslog import split_line
    from logtrace_parsers.exim.table import STAMP

    stamp = re.compile(rf"^{STAMP}(?: [+-]\d{{4}})? (?:\[\d+\] )?")
    out: list[str] = []
    for f in files:
        for ln in f.read_text(encoding="utf-8", errors="replace").splitlines():
            g = split_line(ln)
            body = g["body"] if g else ln
            out.append(body)
            m = stamp.match(body)
            if m:
                out.append(body[m.end():])
    return out


def run_summary(*args: str, columns: int = 120) -> tuple[int, str, str]:
    """``logtrace summary ARGS`` in-process: (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from logtrace.cli import app

    r = CliRunner(env={"NO_COLOR": "1", "COLUMNS": str(columns)}).invoke(app, ["summary", *args])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def summary_doc(*args: str) -> dict:
    """``logtrace summary --format json ARGS`` as a dict (exit code 0 asserted)."""
    import json

    code, out, err = run_summary("--format", "json", *args)
    assert code == 0, err
    return json.loads(out)

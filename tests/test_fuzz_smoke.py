"""Run every fuzz harness briefly (~5 s each), as CI's smoke check of fuzz/.

With atheris installed the harness runs under libFuzzer; without it (atheris has no wheel
for the platform and cannot be built) the same harness falls back to the hypothesis loop in
fuzz/fallback.py, so this still fuzzes. LOGTRACE_FUZZ_SECONDS overrides the time per harness.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("LOGTRACE_FUZZ_SECONDS", "5"))
HARNESSES = ["postfix", "exchange", "query"]
if importlib.util.find_spec("logtrace_parsers.exim") is not None:
    HARNESSES.append("exim")
HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_runs_without_crashing(name, tmp_path):
    cmd = [sys.executable, str(REPO / "fuzz" / f"fuzz_{name}.py"), f"-max_total_time={SECONDS}"]
    if HAVE_ATHERIS:
        cmd += ["-timeout=30", f"-artifact_prefix={tmp_path}/", str(tmp_path / "corpus")]
        (tmp_path / "corpus").mkdir()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=SECONDS + 120)
    tail = (r.stdout + r.stderr)[-4000:]
    assert r.returncode == 0, f"fuzz_{name} failed ({'atheris' if HAVE_ATHERIS else 'hypothesis fallback'}):\n{tail}"
    assert ("Done " in r.stderr) if HAVE_ATHERIS else ("ok," in r.stdout), tail


def test_fallback_loop_fuzzes_too(tmp_path):
    """The hypothesis fallback is exercised even where atheris is installed."""
    r = subprocess.run([sys.executable, str(REPO / "fuzz" / "fuzz_query.py"), "-max_total_time=2"], capture_output=True,
                       text=True, cwd=REPO, timeout=120, env=dict(os.environ, LOGTRACE_FUZZ_ENGINE="hypothesis"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hypothesis fallback" in r.stdout

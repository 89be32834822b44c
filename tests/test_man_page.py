"""The committed man page (docs/logtrace.1) is generated from --help and must not drift."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_man_page_matches_the_help():
    r = subprocess.run([sys.executable, "scripts/gen_man.py", "--check"], cwd=REPO, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])))
    assert r.returncode == 0, r.stderr


def test_man_page_documents_every_command():
    from typer.main import get_command

    from logtrace.cli import app

    page = (REPO / "docs/logtrace.1").read_text()
    for name in get_command(app).commands:  # type: ignore[attr-defined]
        assert f".SS logtrace {name}" in page


def test_license_is_the_mit_license_pyproject_names():
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert 'license = { text = "MIT" }' in (REPO / "pyproject.toml").read_text()


def test_completion_can_be_installed():
    # as a user runs it: from a shell, which typer detects (shellingham) to pick the script
    r = subprocess.run(["bash", "-c", f"'{sys.executable}' -m logtrace --show-completion; exit $?"], cwd=REPO, capture_output=True,
                       text=True, env=dict(os.environ, SHELL="/bin/bash"))
    assert r.returncode == 0 and "_LOGTRACE_COMPLETE" in r.stdout.upper(), r.stderr

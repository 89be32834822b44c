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


def corpus_dir(sub: str) -> Path:
    """The shared public corpus; skipped when absent, a failure in CI (it must be there)."""
    d = CORPUS / sub
    if not d.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{d} is missing: CI must run with ../shared beside the clone")
        pytest.skip(f"{d} not present (the shared corpus lives beside the repo)")
    return d

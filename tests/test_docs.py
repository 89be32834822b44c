"""The README documents every command, and every command has help text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command

from logtrace.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_there_are_commands():
    assert {"parse", "follow", "summary", "bounces", "parsers"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_readme_and_has_help(name):
    assert f"logtrace {name}" in README, f"README does not document `logtrace {name}`"
    cmd = get_command(app).commands[name]  # type: ignore[attr-defined]
    assert (cmd.help or "").strip(), f"{name} has no help text"


def test_quick_start_has_exactly_two_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2 and all(len(b.strip().splitlines()) == 1 for b in blocks)
    assert "sample_logs/" in blocks[0] and "pytest" in blocks[1]


def test_every_exit_code_is_documented():
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 130 |"):
        assert code in README


def test_event_fields_are_documented():
    from logtrace.events import event_schema

    for name in event_schema():
        assert f"`{name}`" in README, name

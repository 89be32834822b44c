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


LOG_COMMANDS = ("follow", "summary", "bounces", "parse")


def _shared_table() -> dict[str, str]:
    section = README.split("### Shared options", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cell, meaning = line.split("|")[1:3]
            for name in re.findall(r"`(-[-\w]+)`", cell):
                rows[name] = meaning
    return rows


def _options(name: str) -> dict[str, object]:
    cmd = get_command(app).commands[name]  # type: ignore[attr-defined]
    return {o: p for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


def test_readme_shared_options_table_matches_every_log_commands_help():
    table = _shared_table()
    assert table, "README has no Shared options table"
    for name in LOG_COMMANDS:
        opts = _options(name)
        for opt in table:
            if opt in ("--csv",) and name == "follow":  # follow has no CSV form; the row says "where that format exists"
                continue
            if opt == "--top" and name in ("follow", "parse"):  # the row names the commands it applies to
                continue
            assert opt in opts, f"README's shared option {opt} is missing from logtrace {name} --help"


def test_readme_format_choices_match_help():
    row = next(line for line in README.split("### Shared options", 1)[1].splitlines() if line.startswith("| `-f`"))
    for name in LOG_COMMANDS:
        import typing

        from logtrace.cli import commands

        assert "--format" in _options(name)
        ann = typing.get_type_hints(getattr(commands, name), include_extras=True)["fmt"]  # the enum --format takes
        enum = [a for a in typing.get_args(typing.get_args(ann)[0]) if a is not type(None)][0]
        choices = [m.value for m in enum]
        part = re.search(rf"`{name}`: ((?:`[a-z]+`(?: \(= jsonl\))? ?)+)", row)
        assert part, f"README's --format row does not list {name}'s formats"
        assert re.findall(r"`([a-z]+)`", part.group(1)) == choices, name


def test_every_shared_option_in_the_help_is_in_the_readme_table():
    from logtrace.cli import application

    table = _shared_table()
    shared = {"--format", "-f", "--json", "--csv", "--output", "-o", "--since", "-S", "--until", "-U", "--where", "-w",
              "--mta", "--tz", "--year", "--top", "--debug"}
    assert shared <= set(table), shared - set(table)
    assert application.SinceOpt and application.TopOpt  # declared once, in application.py

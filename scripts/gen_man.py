#!/usr/bin/env python3
"""Generate docs/logtrace.1 (the man page) from the command line's own help.

    python scripts/gen_man.py           # rewrite docs/logtrace.1
    python scripts/gen_man.py --check   # exit 1 when docs/logtrace.1 is out of date

``tests/test_man_page.py`` runs the check, so the committed page cannot drift from ``--help``.
The page carries no date, so it only changes when the help does.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "logtrace.1"


def _esc(s: str) -> str:
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + ln) if ln[:1] in (".", "'") else ln for ln in s.splitlines())


def _help(cmd, ctx) -> str:  # noqa: ANN001
    return cmd.get_help(ctx)


def render() -> str:
    sys.path.insert(0, str(ROOT))
    import typer.main

    from logtrace import __version__
    from logtrace.cli import app

    group = typer.main.get_command(app)
    ctx = group.make_context("logtrace", [], resilient_parsing=True)
    out = [f'.TH LOGTRACE 1 "" "logtrace {__version__}" "User Commands"',
           ".SH NAME", "logtrace \\- mail log analyzer and queue\\-ID tracer for Postfix, Exim and Exchange",
           ".SH SYNOPSIS", ".B logtrace", "[\\fB\\-\\-version\\fR] [\\fB\\-h\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIFILES\\fR...]",
           ".SH DESCRIPTION", _esc(group.help or ""), ".SH COMMANDS"]
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        sub = cmd.make_context(name, [], parent=ctx, resilient_parsing=True)
        out += [f".SS logtrace {name}", ".nf", _esc(_help(cmd, sub)), ".fi"]
    out += [".SH EXIT STATUS", "0 success; 1 negative answer (follow found nothing, \\-\\-strict); 2 usage or input error;",
            "3 internal error; 4 a recipient not delivered (follow) or a \\-\\-fail\\-on category (bounces); 130 interrupted.",
            ".SH SEE ALSO", "README.md in the source distribution; \\fBjournalctl\\fR(1) for the \\-\\-since/\\-\\-until syntax."]
    return "\n".join(out) + "\n"


def main() -> int:
    import os

    os.environ["COLUMNS"] = "80"  # help wraps at a fixed width, so the page does not depend on the terminal
    text = render()
    if "--check" in sys.argv[1:]:
        if not PAGE.exists() or PAGE.read_text() != text:
            sys.stderr.write(f"{PAGE.relative_to(ROOT)} is out of date: run python scripts/gen_man.py\n")
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

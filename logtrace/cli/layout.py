"""Plain lines laid out at a width: pieces of text broken between pieces, never inside one.

What ``bounces`` prints goes through here: plain text where stdout is not a terminal (cron mail,
``… | less``, ``-o FILE``), one rich :class:`~rich.text.Text` per flush on a terminal (styles only
there). Callers pass text that is already made inert (:func:`logtrace.cli.render.safe`); nothing
here interprets markup.
"""

from __future__ import annotations

import sys
from typing import Any

#: one piece of a line: (what goes before it: indent or separator, the text, a rich style or "")
Piece = tuple[str, str, str]


def cells(s: str) -> int:
    """Terminal columns ``s`` takes (wide East Asian characters count 2)."""
    if s.isascii():
        return len(s)
    from rich.cells import cell_len

    return cell_len(s)


def fill(pieces: list[Piece], width: int, cont: str = "    ") -> list[list[Piece]]:
    """Lay ``pieces`` out in lines of at most ``width`` columns, breaking only between pieces:
    a piece's separator is dropped where a line breaks and the next line starts with ``cont``.
    A piece wider than a line of its own gets a line of its own, whole (an address, a URL)."""
    total = sum(len(p[0]) + len(p[1]) for p in pieces)
    if total <= width and all(p[1].isascii() for p in pieces):
        return [pieces]  # the usual case: one line
    room = width - len(cont)
    if any(" " in p[1] and cells(p[1]) > room for p in pieces):  # too wide for any line: break it between words
        pieces = [q for p in pieces for q in (words(p[1], p[2], p[0]) if " " in p[1] and cells(p[1]) > room else [p])]
    lines: list[list[Piece]] = []
    line: list[Piece] = []
    used = 0
    for sep, text, style in pieces:
        w = cells(text)
        if line and used + len(sep) + w > width:
            lines.append(line)
            line, used, sep = [], 0, cont
        line.append((sep, text, style))
        used += len(sep) + w
    if line:
        lines.append(line)
    return lines


def words(text: str, style: str = "", first: str = " ") -> list[Piece]:
    """``text`` as pieces one word each (runs of blanks and tabs become one space)."""
    return [(first if i == 0 else " ", w, style) for i, w in enumerate(text.split())]


class Lines:
    """Lines for stdout: plain text where stdout is not a terminal (cron mail, ``| less``, ``-o``),
    styled through rich on a terminal; written a group at a time."""

    def __init__(self, con: Any) -> None:
        self.con, self.styled = con, bool(con.is_terminal)
        self.width = max(20, con.width)
        self.buf: list[list[Piece]] = []

    def add(self, pieces: list[Piece], cont: str = "    ") -> None:
        if pieces:
            self.buf.extend(fill(pieces, self.width, cont))

    def blank(self) -> None:
        self.buf.append([])

    def flush(self) -> None:
        if not self.buf:
            return
        if self.styled:
            from rich.text import Text

            t = Text()
            for line in self.buf:
                run, now = [], ""
                for sep, text, style in line:  # one span per run of pieces in one style
                    if style != now and run:
                        t.append("".join(run), style=now or None)
                        run = []
                    if style != now:
                        t.append(sep)
                        run, now = [text], style
                    else:
                        run += [sep, text]
                t.append("".join(run), style=now or None)
                t.append("\n")
            self.con.print(t, soft_wrap=True, end="")
        else:
            sys.stdout.write("".join("".join(sep + text for sep, text, _ in line).rstrip(" ") + "\n" for line in self.buf))
        self.buf = []

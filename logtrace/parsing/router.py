"""The program router: one syslog file, every dialect parsing the programs it claims.

A central ``/var/log/mail.log`` carries Postfix, Exim, amavis, Dovecot and maybe a plugin's
program side by side. The syslog container frames each chunk into ``ts, host, program, pid,
body`` once; the router then maps every *distinct* program name to the first dialect that
claims it (a dictionary of a few dozen names, not a per-line Python call), partitions the
chunk by that mapping and hands each partition to its dialect's generic rule executor.
Programs no dialect claims are "other programs" (recognized, not mail events).

The per-line form (:meth:`Router.parse_line`, used by ``follow`` on its few hit lines) takes
the same steps with ``re`` and gives the same events; the engine-parity tests hold them equal.

Order: the dialect the file was sniffed as (or ``--mta``) comes first, then the built-ins,
then plugins; the first dialect whose ``program_pattern`` (or ``family_pattern``) matches a
program owns it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from logtrace.containers.stamps import parse_3164, parse_3339, zone
from logtrace.containers.syslog import SYSLOG_NOISE, split_line, split_syslog_frame
from logtrace.events import Event, EventKind, Unparsed
from logtrace.parsing.protocol import FileContext, ParseOptions
from logtrace.parsing.rules import BLANK, Narrow, RuleParser, cast_field, conform, empty_frame, local_zone, with_rust_whitespace

_BLANK_RE = re.compile(BLANK)
_NOISE_RE = re.compile(SYSLOG_NOISE)


class Router:
    """Syslog container + program router over an ordered list of rule dialects.

    Has the parser interface the scanners use (``name``, ``parse_frame``, ``parse_line``),
    so a routed file is read exactly like a single-dialect one.
    """

    def __init__(self, dialects: Sequence[RuleParser], options: ParseOptions | None = None) -> None:
        if not dialects:
            raise ValueError("a router needs at least one dialect")
        self.dialects = list(dialects)
        self.options = options or ParseOptions()
        self.name = self.dialects[0].name
        self.mta = self.dialects[0].mta
        self._tz = zone(self.options.tz)
        self._host_tz = {h: zone(z) for h, z in self.options.host_tz.items()}
        self._owner_cache: dict[str, tuple[int, str | None] | None] = {}

    # ---------------------------------------------------------------- routing

    def owner(self, program: str) -> tuple[int, str | None] | None:
        """(dialect index, daemon) for a program name; daemon None = the dialect's family
        but no known daemon (unparsed, not "other"). None when no dialect claims it."""
        hit = self._owner_cache.get(program, False)
        if hit is not False:
            return hit  # type: ignore[return-value]
        out: tuple[int, str | None] | None = None
        for i, d in enumerate(self.dialects):
            daemon = d.daemon_of(program)
            if daemon is not None:
                out = (i, daemon)
                break
            if d.family_pattern and re.match(d.family_pattern, program):
                out = (i, None)
                break
        self._owner_cache[program] = out
        return out

    # ---------------------------------------------------------------- frame engine

    def parse_frame(self, lines: Any, ctx: FileContext, narrow: Narrow | None = None) -> Any:
        """DataFrame ``line_no, line`` (``_year`` optional) → events (:func:`event_schema`;
        with ``narrow``, only its columns and only its rules' rows extracted)."""
        import polars as pl

        from logtrace.containers.stamps import frame_timestamps

        env = split_syslog_frame(lines)
        env = frame_timestamps(env, self.options.tz or local_zone(), ctx.years, self.options.host_tz)
        progs = env.get_column("program").drop_nulls().unique().to_list()
        owners = {p: self.owner(p) for p in progs}
        # one partition (not a filter per category: each copies the whole block's columns):
        # -1 blank, -2 no envelope, -3 another program, else the dialect's index
        dialect = pl.col("program").replace_strict({p: (o[0] if o else None) for p, o in owners.items()},
                                                   default=None, return_dtype=pl.Int32)
        env = env.with_columns(
            _cat=pl.when(pl.col("line").str.contains(BLANK)).then(pl.lit(-1, pl.Int32))
            .when(pl.col("program").is_null()).then(pl.lit(-2, pl.Int32))
            .otherwise(dialect.fill_null(-3)),
            _daemon=pl.col("program").replace_strict({p: (o[1] if o else None) for p, o in owners.items()},
                                                     default=None, return_dtype=pl.String),
        )
        by_cat = env.partition_by("_cat", as_dict=True, maintain_order=True, include_key=False)
        parts: list[Any] = []
        blank = by_cat.pop((-1,), None)
        if blank is not None:
            parts.append(blank.select("line_no", kind=pl.lit("other"), rule=pl.lit("blank"), mta=pl.lit("")))
        noenv = by_cat.pop((-2,), None)
        if noenv is not None:
            noise = noenv.get_column("line").str.contains(SYSLOG_NOISE)
            parts.append(noenv.filter(noise).select("line_no", kind=pl.lit("other"), rule=pl.lit("syslog.noise"), mta=pl.lit("")))
            parts.append(noenv.filter(~noise).select("line_no", kind=pl.lit("unparsed"), reason=pl.lit("no-envelope")))
        base = ["line_no", "ts", "host", "program", "pid"]
        other = by_cat.pop((-3,), None)
        if other is not None:
            parts.append(other.select(*base, kind=pl.lit("other"), rule=pl.lit("other.program"), mta=pl.lit("")))
        for (i,), part in sorted(by_cat.items()):
            parts += self.dialects[i].body_parts(part, base, narrow)
        cols = narrow.columns if narrow is not None else None
        if not parts:
            return conform(empty_frame(), ctx.path, cols)
        return conform(pl.concat(parts, how="diagonal_relaxed"), ctx.path, cols)

    # ---------------------------------------------------------------- line engine

    def parse_line(self, line: str, ctx: FileContext, line_no: int) -> Event | Unparsed:
        return with_rust_whitespace(self.read_line, line, ctx, line_no)

    def read_line(self, line: str, ctx: FileContext, line_no: int) -> Event | Unparsed:
        """:meth:`parse_line` without the whitespace guard (for containers that already hold it)."""
        if _BLANK_RE.match(line):
            return Event(ts=None, host=None, mta="", program=None, pid=None, kind=EventKind.OTHER, rule="blank",
                         file=ctx.path, line_no=line_no)
        g = split_line(line)
        if g is None:
            if _NOISE_RE.match(line):
                return Event(ts=None, host=None, mta="", program=None, pid=None, kind=EventKind.OTHER,
                             rule="syslog.noise", file=ctx.path, line_no=line_no)
            return Unparsed(reason="no-envelope", file=ctx.path, line_no=line_no)
        tz = self._host_tz.get(g.get("host") or "", self._tz) if self._host_tz else self._tz
        if g.get("ts3164"):
            ts = parse_3164(g["ts3164"], ctx.years, tz)  # type: ignore[arg-type]
        elif g.get("ts3339"):
            ts = parse_3339(g["ts3339"], tz)  # type: ignore[arg-type]
        else:
            ts = None
        program, host = g.get("program") or "", g.get("host")
        pid = cast_field("pid", g.get("pid"))
        own = self.owner(program)
        if own is None:
            return Event(ts=ts, host=host, mta="", program=program, pid=pid, kind=EventKind.OTHER,
                         rule="other.program", file=ctx.path, line_no=line_no)
        return self.dialects[own[0]].body_event(own[1], g.get("body") or "", ts=ts, host=host, program=program, pid=pid,
                                                ctx=ctx, line_no=line_no)

"""Dovecot: the mailbox server at the end of the chain (LMTP/LDA delivery, Sieve, IMAP/POP3).

Claimed syslog programs: ``dovecot`` and its helpers' names (``dovecot-lda``,
``dovecot-auth``). Dovecot's own log file (``log_path``) is read by the container in
:mod:`logtrace.containers.dovecot_log`, which gives the same bodies as syslog carries.

Today every line is a recognized event of kind ``other`` carrying the text in ``detail``;
delivery results (``saved mail to INBOX``, Sieve ``stored mail into mailbox``, quota
rejects) get their own rules with the last-mile work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from logtrace.containers import dovecot_log
from logtrace.containers.stamps import parse_3164, parse_3339
from logtrace.events import Event, EventKind as K, Unparsed
from logtrace.parsing.protocol import FileContext
from logtrace.parsing.rules import Rule, RuleParser, conform, empty_frame, local_zone

RULES: tuple[Rule, ...] = (
    Rule("dovecot.any.message", "dovecot", r"^(?P<detail>.*)$", K.OTHER,
         ("lmtp(bob@example.org)<19423><I861FWYuzl/fSwAAWP5Hkg>: msgid=<abc@example.net>: saved mail to INBOX",
          "imap-login: Login: user=<info@example.com>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.2, mpid=22445, TLS, session=<sessionid>")),
)


class DovecotParser(RuleParser):
    """Dovecot lines in a syslog file, or Dovecot's own log file."""

    name: ClassVar[str] = "dovecot"
    aliases: ClassVar[tuple[str, ...]] = ()
    mta: ClassVar[str] = "dovecot"
    rules: ClassVar[tuple[Rule, ...]] = RULES
    program_pattern: ClassVar[str] = r"^(?P<daemon>dovecot)(?:-[\w.-]+)?$"

    # ---------------------------------------------------------------- Dovecot's log_path container

    @classmethod
    def native_sniff(cls, head: Sequence[str]) -> float:
        """Share of head lines in Dovecot's own log-file format."""
        return dovecot_log.share(head)

    def read_line(self, line: str, ctx: FileContext, line_no: int) -> Event | Unparsed:
        g = dovecot_log.split_line(line)
        if g is None:  # blank, or a syslog line in the same file
            return self._router.read_line(line, ctx, line_no)
        ts = (parse_3164(g["ts3164"], ctx.years, self._tz) if g["ts3164"]  # type: ignore[arg-type]
              else parse_3339(g["ts3339"], self._tz))  # type: ignore[arg-type]
        return self.body_event("dovecot", g["body"] or "", ts=ts, host=None, program=dovecot_log.PROGRAM, pid=None,
                               ctx=ctx, line_no=line_no)

    def parse_frame(self, lines: Any, ctx: FileContext) -> Any:
        import polars as pl

        from logtrace.containers.stamps import assign_years, frame_timestamps

        if "_year" not in lines.columns:
            lines = assign_years(lines, ctx.years)
        env = dovecot_log.frame(lines)
        mine = env.filter(pl.col("program").is_not_null())
        parts: list[Any] = []
        if mine.height:
            mine = frame_timestamps(mine, self.options.tz or local_zone(), ctx.years).with_columns(_daemon=pl.lit("dovecot"))
            parts += self.body_parts(mine, ["line_no", "ts", "host", "program", "pid"])
        rest = env.filter(pl.col("program").is_null()).select(lines.columns)
        if rest.height:
            parts.append(self._router.parse_frame(rest, ctx))
        if not parts:
            return empty_frame()
        return conform(pl.concat(parts, how="diagonal_relaxed"), ctx.path)

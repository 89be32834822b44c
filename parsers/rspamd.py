"""rspamd: the spam filter that Postfix or Exim call as a milter (or that a proxy worker runs).

Claimed syslog program: ``rspamd``. Its one line per scanned message, written by
``rspamd_task_write_log`` (rspamd 3.x defaults), is a ``filter`` event of the MTA lifecycle
whose queue ID it names (``qid: <…>``, Tag.FILTER_VERDICT, like amavis' verdict line):
``status`` is the action (``reject``, ``add header``, ``rewrite subject``, ``greylist``,
``soft reject``, ``no action``), ``detail`` the settings ID and the spam flag
(``default: S``), ``reply_text`` the score and symbols. The MTA's own line says what the
client was told (Postfix ``milter-reject: END-OF-MESSAGE … 5.7.1 Gtube pattern``). Every other
rspamd line is a recognized event of kind ``other``. rspamd's own log file
(``2026-11-25 10:42:03 #1234(normal) <a1b2c3>; task; …``) is read by the container in
:mod:`logtrace.containers.rspamd_log`, which gives the same bodies as syslog carries; its lines
name no host, and a verdict line joins the MTA lifecycle of its ``qid`` on whichever host logged it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from logtrace.containers import rspamd_log
from logtrace.containers.stamps import parse_3339
from logtrace.events import Event, EventKind as K, Unparsed
from logtrace.parsing.protocol import FileContext
from logtrace.parsing.frames import own_log_frame
from logtrace.parsing.rules import Rule, RuleParser
from logtrace.parsing.tags import Tag

#: ``<c8d5b1>; task; rspamd_task_write_log: id: <msgid>, qid: <QID>, ip: …, from: <…>,
#: (default: S (reject): [15.00/15.00] [GTUBE(0.00){}]), len: …, time: …, dns req: …, digest: <…>,
#: rcpts: <r@x>, mime_rcpts: <…>``
TASK_LOG = (r"^(?:<[0-9a-f]+>; )?(?:task|proxy|lua); rspamd_task_write_log: id: <(?P<message_id>[^>]*)>, "
            r"(?:qid: <(?P<queue_id>[^>]*)>, )?(?:ip: (?P<client_ip>[^,\s]+), )?(?:user: [^,]+, )?(?:from: <(?P<sender>[^>]*)>, )?"
            r"\((?P<detail>[^():]+: [TFS]) \((?P<status>[^)]+)\): (?P<reply_text>\[[^\]]*\](?: \[[^\]]*\])?)\)"
            r"(?:.*?, rcpts: <(?P<recipient>[^>]*)>)?.*$")

RULES: tuple[Rule, ...] = (
    Rule("rspamd.task.verdict", "rspamd", TASK_LOG, K.FILTER,
         ("<c8d5b1>; task; rspamd_task_write_log: id: <gtube@example.net>, qid: <6151C2C0A12>, ip: 192.0.2.20, "
          "from: <s@example.net>, (default: S (reject): [1015.00/15.00] [GTUBE(1000.00){},MISSING_DATE(1.00){}]), len: 1570, "
          "time: 12.345ms, dns req: 0, digest: <4b5f1c2d>, rcpts: <alice@example.org>, mime_rcpts: <alice@example.org>",
          # Debian 12 rspamd 3.4 as a milter in the lab (tests/realmta/filters.py): GTUBE forced reject
          "<19a6f0>; proxy; rspamd_task_write_log: id: <rspamd_reject.66cbe143@client.example.org>, qid: <82898212528>, ip: 127.0.0.1, "
          "from: <xena@example.org>, (default: S (reject): [15.00/15.00] [GTUBE(0.00){}]), len: 428, time: 156.280ms, dns req: 0, "
          "digest: <24beb335d4da78c687a91e50114c2398>, rcpts: <spam@rspamd.example.test>, mime_rcpts: <spam@rspamd.example.test>, "
          "forced: reject \"Gtube pattern\"; score=15.00 (set by GTUBE)",
          "<0a1b2c>; task; rspamd_task_write_log: id: <ok@example.net>, qid: <7A2B3C4D5E>, ip: 192.0.2.7, from: <a@example.net>, "
          "(default: F (no action): [-0.20/15.00] [ARC_NA(0.00){},MIME_GOOD(-0.10){text/plain;}]), len: 900, time: 5.1ms, "
          "dns req: 0, digest: <9e8d7c6b>, rcpts: <bob@example.org>, mime_rcpts: <bob@example.org>",
          "<0a1b2d>; task; rspamd_task_write_log: id: <t@example.net>, qid: <7A2B3C4D5F>, ip: 192.0.2.7, user: carol, "
          "from: <c@example.net>, (default: T (add header): [7.10/15.00] [BAYES_SPAM(5.10){99.0%;}]), len: 900, time: 5.1ms, "
          "dns req: 0, digest: <9e8d7c6c>, rcpts: <bob@example.org>"),
         tags=frozenset({Tag.FILTER_VERDICT})),
    Rule("rspamd.any.message", "rspamd", r"^(?P<detail>.*)$", K.OTHER,
         ("<8a9b0c>; lua; lua_redis.lua:123: cannot connect to redis server: localhost:6379",
          "rspamd 3.4 is loading configuration, build id: release",
          "<90d0ae>; proxy; lua_task_set_pre_result: known defined action: greylist = 4")),
)


class RspamdParser(RuleParser):
    """rspamd lines in a syslog file, or rspamd's own log file."""

    name: ClassVar[str] = "rspamd"
    aliases: ClassVar[tuple[str, ...]] = ()
    mta: ClassVar[str] = "rspamd"
    rules: ClassVar[tuple[Rule, ...]] = RULES
    program_pattern: ClassVar[str] = r"^(?P<daemon>rspamd)$"

    # ---------------------------------------------------------------- rspamd's own log file

    @classmethod
    def native_sniff(cls, head: Sequence[str]) -> float:
        """Share of head lines in rspamd's own log-file format."""
        return rspamd_log.share(head)

    def read_line(self, line: str, ctx: FileContext, line_no: int) -> Event | Unparsed:
        g = rspamd_log.split_line(line)
        if g is None:  # blank, or a syslog line in the same file
            return self._router.read_line(line, ctx, line_no)
        ts = parse_3339(g["ts3339"], self._tz)  # type: ignore[arg-type]
        return self.body_event("rspamd", g["body"] or "", ts=ts, host=None, program=rspamd_log.PROGRAM,
                               pid=int(g["pid"]) if g["pid"] else None, ctx=ctx, line_no=line_no)

    def parse_frame(self, lines: Any, ctx: FileContext) -> Any:
        return own_log_frame(self, lines, ctx, rspamd_log.frame, "rspamd")

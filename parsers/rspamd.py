"""rspamd: the spam filter that Postfix or Exim call as a milter (or that a proxy worker runs).

Claimed syslog program: ``rspamd``. Its one line per scanned message, written by
``rspamd_task_write_log`` (rspamd 3.x defaults), is a ``filter`` event of the MTA lifecycle
whose queue ID it names (``qid: <…>``, Tag.FILTER_VERDICT, like amavis' verdict line):
``status`` is the action (``reject``, ``add header``, ``rewrite subject``, ``greylist``,
``soft reject``, ``no action``), ``detail`` the settings ID and the spam flag
(``default: S``), ``reply_text`` the score and symbols. The MTA's own line says what the
client was told (Postfix ``milter-reject: END-OF-MESSAGE … 5.7.1 Gtube pattern``). Every other
rspamd line is a recognized event of kind ``other``. rspamd's own log file format
(``#pid(worker) <uid>; task; …``) is not read yet.
"""

from __future__ import annotations

from typing import ClassVar

from logtrace.events import EventKind as K
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
          "<0a1b2c>; task; rspamd_task_write_log: id: <ok@example.net>, qid: <7A2B3C4D5E>, ip: 192.0.2.7, from: <a@example.net>, "
          "(default: F (no action): [-0.20/15.00] [ARC_NA(0.00){},MIME_GOOD(-0.10){text/plain;}]), len: 900, time: 5.1ms, "
          "dns req: 0, digest: <9e8d7c6b>, rcpts: <bob@example.org>, mime_rcpts: <bob@example.org>",
          "<0a1b2d>; task; rspamd_task_write_log: id: <t@example.net>, qid: <7A2B3C4D5F>, ip: 192.0.2.7, user: carol, "
          "from: <c@example.net>, (default: T (add header): [7.10/15.00] [BAYES_SPAM(5.10){99.0%;}]), len: 900, time: 5.1ms, "
          "dns req: 0, digest: <9e8d7c6c>, rcpts: <bob@example.org>"),
         tags=frozenset({Tag.FILTER_VERDICT})),
    Rule("rspamd.any.message", "rspamd", r"^(?P<detail>.*)$", K.OTHER,
         ("<8a9b0c>; lua; lua_redis.lua:123: cannot connect to redis server: localhost:6379",
          "rspamd 3.4 is loading configuration, build id: release")),
)


class RspamdParser(RuleParser):
    """rspamd lines in a syslog file."""

    name: ClassVar[str] = "rspamd"
    aliases: ClassVar[tuple[str, ...]] = ()
    mta: ClassVar[str] = "rspamd"
    rules: ClassVar[tuple[Rule, ...]] = RULES
    program_pattern: ClassVar[str] = r"^(?P<daemon>rspamd)$"

"""amavis (amavisd-new): the content filter between Postfix's ``smtp`` hand-off and re-injection.

Claimed programs: ``amavis``, ``amavisd``, ``amavisd-new`` (also with a path, as some
distributions log ``/usr/sbin/amavisd``). Today every line is a recognized event of kind
``other`` carrying the text in ``detail``; the verdict lines (``Passed CLEAN``, ``Blocked
SPAM`` …) get their own rules with the last-mile work. The lines are then in ``follow``'s
timeline by program instead of being "other programs".
"""

from __future__ import annotations

from typing import ClassVar

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule, RuleParser

RULES: tuple[Rule, ...] = (
    Rule("amavis.any.message", "amavis", r"^(?P<detail>.*)$", K.OTHER,
         ("(02546-20) Passed CLEAN {RelayedInbound}, [192.0.2.7]:58754 [192.0.2.7] <a@example.net> -> <bob@example.org>, "
          "Queue-ID: 0025630001C7, Message-ID: <abc@example.net>, mail_id: Xq3Lw8PzRt, Hits: -1.2, size: 3400, queued_as: 3F1A230001D2, 512 ms",
          "(!)connect to /var/run/clamav/clamd.ctl failed, attempt #1: Can't connect to a UNIX socket")),
)


class AmavisParser(RuleParser):
    """amavisd-new lines in a syslog file."""

    name: ClassVar[str] = "amavis"
    aliases: ClassVar[tuple[str, ...]] = ("amavisd", "amavisd-new")
    mta: ClassVar[str] = "amavis"
    rules: ClassVar[tuple[Rule, ...]] = RULES
    program_pattern: ClassVar[str] = r"^(?:\S*/)?(?P<daemon>amavis)(?:d(?:-new)?)?$"


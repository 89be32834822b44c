"""Postfix rule table: any daemon: severity prefixes (the qid may follow the level).

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace_parsers.postfix.patterns import QID

RULES: tuple[Rule, ...] = (
    Rule("postfix.any.warning_qid", "*", rf"^warning: {QID}: (?P<detail>.*)$", K.WARNING,
         ("warning: 9BECF3F19D: sender_canonical_maps map lookup problem for sender@example.com -- message not accepted, try again later",)),
    Rule("postfix.any.warning", "*", r"^warning: (?P<detail>.*)$", K.WARNING,
         ("warning: dict_nis_init: NIS domain name not set - NIS lookups disabled",)),
    Rule("postfix.any.error", "*", r"^error: (?P<detail>.*)$", K.WARNING,
         ("error: open database /etc/postfix/transport.db: No such file or directory",), set=(("status", "error"),)),
    Rule("postfix.any.table_changed", "*", r"^(?P<detail>table \S+ has changed -- restarting)$", K.OTHER,
         ("table hash:/etc/postfix/virtual_mailbox_maps(0,lock|fold_fix) has changed -- restarting",)),
    Rule("postfix.any.fatal", "*", r"^fatal: (?P<detail>.*)$", K.FATAL, ("fatal: root(0): message file too big",)),
    Rule("postfix.any.panic", "*", r"^panic: (?P<detail>.*)$", K.PANIC,
         ("panic: myfree: corrupt or unallocated memory block",)),
)

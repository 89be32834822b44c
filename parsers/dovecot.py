"""Dovecot: the mailbox server at the end of the chain (LMTP/LDA delivery, Sieve, IMAP/POP3).

Claimed programs: ``dovecot`` and its helpers' syslog names (``dovecot-lda``, ``deliver``
for 1.x LDA). Today every line is a recognized event of kind ``other`` carrying the text in
``detail``; delivery results (``saved mail to INBOX``, Sieve ``stored mail into mailbox``,
quota rejects) get their own rules with the last-mile work.
"""

from __future__ import annotations

from typing import ClassVar

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule, RuleParser

RULES: tuple[Rule, ...] = (
    Rule("dovecot.any.message", "dovecot", r"^(?P<detail>.*)$", K.OTHER,
         ("lmtp(bob@example.org)<19423><I861FWYuzl/fSwAAWP5Hkg>: msgid=<abc@example.net>: saved mail to INBOX",
          "imap-login: Login: user=<info@example.com>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.2, mpid=22445, TLS, session=<sessionid>")),
)


class DovecotParser(RuleParser):
    """Dovecot lines in a syslog file."""

    name: ClassVar[str] = "dovecot"
    aliases: ClassVar[tuple[str, ...]] = ()
    mta: ClassVar[str] = "dovecot"
    rules: ClassVar[tuple[Rule, ...]] = RULES
    program_pattern: ClassVar[str] = r"^(?P<daemon>dovecot)(?:-lda)?$"

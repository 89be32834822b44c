"""Dovecot: the mailbox server at the end of the chain (LMTP/LDA delivery, Sieve, IMAP/POP3).

Claimed syslog programs: ``dovecot`` and its helpers' names (``dovecot-lda``,
``dovecot-auth``). Dovecot's own log file (``log_path``) is read by the container in
:mod:`logtrace.containers.dovecot_log`, which gives the same bodies as syslog carries.

Delivery results are events of the *mailbox hop*: its queue ID is the LMTP session ID (also
named by the MTA's ``250 2.0.0 <rcpt> SESSION Saved`` reply, which links the two), ``detail``
the folder: ``saved mail to INBOX`` and Sieve ``stored mail into mailbox 'Junk'`` (deliver,
Tag.MAILBOX), Sieve ``discard`` (discard), ``redirect`` (a delivery by the user's filter,
Tag.USER_FILTER: ``detail`` names the new address), vacation/reject replies (other), ``save failed``/``rejected: Quota
exceeded`` (defer: whether it bounces is the MTA's answer), LMTP connect/disconnect. Every
other Dovecot line (IMAP, POP3, auth) is a recognized event of kind ``other``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from logtrace.containers import dovecot_log
from logtrace.containers.stamps import parse_3164, parse_3339
from logtrace.events import Event, EventKind as K, Unparsed
from logtrace.parsing.protocol import FileContext
from logtrace.parsing.frames import own_log_frame
from logtrace.parsing.rules import Rule, RuleParser
from logtrace.parsing.tags import Tag

#: ``lmtp(USER)<PID><SESSION>: `` (Dovecot 2.3; 2.2 wrote ``lmtp(PID, USER): ``, old LMTP and LDA
#: ``lmtp(USER): ``); SESSION is the LMTP session ID Dovecot also puts in its ``250 … Saved``
#: reply (``:R2`` … for the 2nd, 3rd recipient of one transaction): the queue ID of this hop.
_WHO = (r"^(?:lmtp|lda|deliver)\((?:\d+, )?(?P<recipient>[^)\s]+)\)"
        r"(?:<\d+>)?(?:<(?P<queue_id>[0-9A-Za-z+/]{8,}(?::R\d+)?)>|<>)?: ")
_MSGID = r"msgid=(?:<(?P<message_id>[^>]*)>|\S*|\? ?)"
# Tags: saved mail names the folder in ``detail`` (Tag.MAILBOX) and is final delivery (Tag.FINAL)
_SAVED = frozenset({Tag.MAILBOX, Tag.FINAL})

RULES: tuple[Rule, ...] = (
    Rule("dovecot.deliver.saved", "dovecot", rf"{_WHO}{_MSGID}: saved mail to (?P<detail>.+)$", K.DELIVER,
         ("lmtp(ivan@example.org)<6615><OOmyEvQQB2vXGQAAg+zDdQ>: msgid=<20261122.1@example.net>: saved mail to INBOX",
          "lmtp(user@domain.com): msgid=<E1dJxFC-0006k0-Pw@domain.com>: saved mail to INBOX",
          "lda(bob): msgid=<x@example.net>: saved mail to Archive/2026"),
         set=(("status", "saved"),), tags=_SAVED),
    Rule("dovecot.sieve.stored", "dovecot",
         rf"{_WHO}sieve: {_MSGID}: (?:(?P<status>fileinto|keep) action: )?stored mail into mailbox '(?P<detail>[^']*)'$", K.DELIVER,
         ("lmtp(bob@example.org)<6615><6fnOAPQQB2vXGQAAg+zDdQ>: sieve: msgid=<m2@example.net>: stored mail into mailbox 'INBOX'",
          "lmtp(carol@example.org)<6615><+/sdK/QQB2vXGQAAg+zDdQ:R2>: sieve: msgid=<m3@example.net>: fileinto action: "
          "stored mail into mailbox 'Junk'"),
         tags=_SAVED),
    Rule("dovecot.sieve.discard", "dovecot",
         rf"{_WHO}sieve: {_MSGID}: (?P<status>discard) action: (?P<detail>.*)$", K.DISCARD,
         ("lmtp(carol@example.org)<6615><G9b4B/QQB2vXGQAAg+zDdQ>: sieve: msgid=<m4@example.net>: discard action: "
          "Marked message to be discarded if not explicitly delivered (discard action)",),
         tags=frozenset({Tag.USER_FILTER, Tag.MAILBOX})),
    Rule("dovecot.sieve.redirect", "dovecot",
         rf"{_WHO}sieve: {_MSGID}: (?P<status>redirect) action: (?P<detail>forwarded to <[^>]*>.*)$", K.DELIVER,
         ("lmtp(bob@example.org)<6615><SFt9C/QQB2vXGQAAg+zDdQ>: sieve: msgid=<m5@example.net>: redirect action: "
          "forwarded to <alice@example.org>",), tags=frozenset({Tag.MAILBOX, Tag.USER_FILTER})),
    Rule("dovecot.sieve.reply", "dovecot",
         rf"{_WHO}sieve: {_MSGID}: (?P<status>vacation|reject|notify|report) action: (?P<detail>.*)$", K.OTHER,
         ("lmtp(bob@example.org)<6615><SFt9C/QQB2vXGQAAg+zDdQ>: sieve: msgid=<m6@example.net>: vacation action: "
          "sent vacation response to <alice@example.org>",
          "lda(bob): sieve: msgid=<m7@example.net>: reject action: rejected message from <spam@example.com> (reject)")),
    Rule("dovecot.deliver.failed", "dovecot",
         rf"{_WHO}{_MSGID}: (?:save failed to (?P<status>[^:]+)|(?P<status__2>rejected)): (?P<detail>.*)$", K.DEFER,
         ("lmtp(erin@example.org)<6615><JYZbC/QQB2vXGQAAg+zDdQ>: msgid=<m8@example.net>: save failed to INBOX: "
          "Quota exceeded (mailbox for user is full)",
          "lda(erin): msgid=<m9@example.net>: rejected: Quota exceeded (mailbox for user is full)"),
         tags=frozenset({Tag.MAILBOX})),
    Rule("dovecot.lmtp.connect", "dovecot", r"^lmtp\((?P<detail>\d+)\): Connect from (?P<client_host>\S+)$", K.CONNECT,
         ("lmtp(6615): Connect from local", "lmtp(28765): Connect from 127.0.0.1")),
    Rule("dovecot.lmtp.disconnect", "dovecot",
         r"^lmtp\((?P<detail>\d+)\): Disconnect from (?P<client_host>[^:\s]+): (?P<status>.*)$", K.DISCONNECT,
         ("lmtp(6615): Disconnect from local: Client has quit the connection (state=READY)",)),
    Rule("dovecot.any.message", "dovecot", r"^(?P<detail>.*)$", K.OTHER,
         ("imap-login: Login: user=<info@example.com>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.2, mpid=22445, TLS, session=<sessionid>",)),
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
        return own_log_frame(self, lines, ctx, dovecot_log.frame, "dovecot")

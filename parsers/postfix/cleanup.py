"""Postfix rule table: cleanup.

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace.parsing.tags import Tag
from logtrace.parsing.cuts import Cut
from logtrace_parsers.postfix.patterns import QID, QIDG, CHECKS_KIND

MESSAGE_ID_CUT = Cut(rf"^{QIDG}: message-id=<[^>]*>$", (("split", "body", ": message-id=<", ("queue_id", "_m")),
                                                        ("strip", "_m", "message_id", "", ">")))

RULES: tuple[Rule, ...] = (
    Rule("postfix.cleanup.message_id", "cleanup", rf"^{QID}: message-id=<?(?P<message_id>[^>]*)>?$", K.HEADER,
         ("0F5383D: message-id=<544D2523.30609@rhsoft.net>", "4104E3D: message-id=<>",
          "ADD961003206D: message-id==?UTF-8?B?PDE5?=? =?UTF-8?B?MTIyMDExMjkxNjYxMUBDbGllbnQtMDQ1LnJ1YmluZXR0ZXJpZS5sb2NhbD4=?="),
         cut=MESSAGE_ID_CUT),
    Rule("postfix.cleanup.resent_message_id", "cleanup", rf"^{QID}: resent-message-id=(?P<detail>.*)$", K.OTHER,
         ("1A2B3C4D5E: resent-message-id=<20140225.1@example.com>",)),
    # header/body checks with an optional text after the envelope: the text is what the client was told
    Rule("postfix.cleanup.checks_text", "cleanup",
         rf"^{QID}: (?P<status>(?:header-|body-)?(?:reject|hold|discard|redirect|filter|warning|info|replace|prepend|bcc|strip)): "
         r"(?P<detail>(?:header|body) .*?; from=<[^>]*>(?: to=<[^>]*>)?(?: proto=\S+)?(?: helo=<[^>]*>)?): (?P<reply_text>.*)$",
         K.OTHER,
         ("4D5E6F7A8B: reject: header Subject: reject me from localhost[127.0.0.1]; from=<r@example.org> to=<x@ext.example.test> proto=ESMTP helo=<client.example.org>: 5.7.1 message content rejected",
          "2B3C4D5E6F: hold: header Subject: hold me from localhost[127.0.0.1]; from=<h@example.org> to=<r@ext.example.test> proto=ESMTP helo=<client.example.org>: held for review"),
         kind_by=("status", CHECKS_KIND), tags=frozenset({Tag.CHECKS})),
    Rule("postfix.cleanup.checks", "cleanup",
         rf"^{QID}: (?P<status>(?:milter-)?(?:header-|body-)?(?:reject|hold|discard|redirect|filter|warning|info|replace|prepend|bcc|strip)): (?P<detail>.*)$",
         K.OTHER,
         ("4104E3D: milter-reject: END-OF-MESSAGE from 061238241086.static.ctinets.com[61.238.241.86]: 5.7.1 Blocked by SpamAssassin; from=<wumt5@cchfdc.com> to=<voorzitter@example.com> proto=ESMTP helo=<ecsolved.com>",
          "D95341E50350: info: header Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?= test from local; from=<from@example.com> to=<to@example.com>",
          "48rT2v1hQrz1J0N: prepend: header X-Spam-Status: Yes, score=45.1 required=10.0 tests=ADVANCE_FE from mx2.example.org[192.0.2.41]; from=<noreply@srs.example.org> to=<recipient@example.net> proto=ESMTP helo=<mx2.example.org>"),
         kind_by=("status", CHECKS_KIND), tags=frozenset({Tag.CHECKS})),
)

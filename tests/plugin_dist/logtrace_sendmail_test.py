"""A third-party dialect as a plugin author would write one: data only, over RuleParser."""

from typing import ClassVar

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule, RuleParser

QID = r"(?P<queue_id>[0-9A-Za-z]{14})"


class SendmailParser(RuleParser):
    name: ClassVar[str] = "sendmail-test"
    aliases: ClassVar[tuple[str, ...]] = ()
    mta: ClassVar[str] = "sendmail"
    program_pattern: ClassVar[str] = r"^(?P<daemon>sm-mta)$"
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("sendmail-test.sm-mta.from", "sm-mta", rf"^{QID}: from=<(?P<sender>[^>]*)>, size=(?P<size>\d+),.*$", K.ACCEPT,
             ("0AB1C2D3E4F5G6: from=<a@example.org>, size=1234, class=0, nrcpts=1, proto=ESMTP, relay=mx.example.org [192.0.2.1]",)),
        Rule("sendmail-test.sm-mta.to", "sm-mta", rf"^{QID}: to=<(?P<recipient>[^>]*)>, .*stat=(?P<status>Sent)(?: \((?P<reply_text>.*)\))?$",
             K.DELIVER, ("0AB1C2D3E4F5G6: to=<b@example.net>, delay=00:00:01, mailer=esmtp, stat=Sent (ok queued)",)),
    )

"""Postfix rule table: postsuper.

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace_parsers.postfix.patterns import QID

RULES: tuple[Rule, ...] = (
    Rule("postfix.postsuper.removed", "postsuper", rf"^{QID}: removed$", K.DELETE, ("D4F2023DB: removed",)),
    Rule("postfix.postsuper.requeued", "postsuper", rf"^{QID}: requeued$", K.REQUEUE, ("D4F2023DB: requeued",)),
    Rule("postfix.postsuper.hold", "postsuper", rf"^{QID}: placed on hold$", K.HOLD, ("D4F2023DB: placed on hold",)),
    Rule("postfix.postsuper.released", "postsuper", rf"^{QID}: released from hold$", K.RELEASE, ("D4F2023DB: released from hold",)),
    Rule("postfix.postsuper.expired", "postsuper", rf"^{QID}: (?P<detail>expired)$", K.OTHER, ("D4F2023DB: expired",)),
    Rule("postfix.postsuper.count", "postsuper", r"^(?P<detail>(?:Deleted|Requeued|Placed on hold|Released from hold|Expired): \d+ messages?)$", K.OTHER,
         ("Deleted: 115 messages", "Requeued: 1 message")),
)

"""Postfix rule table: bounce (defer and trace share it).

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace_parsers.postfix.patterns import QID

RULES: tuple[Rule, ...] = (
    Rule("postfix.bounce.notification", "bounce",
         rf"^{QID}: (?P<detail>sender|postmaster) (?P<status>non-delivery|delivery status|delay|success) notification: (?P<next_queue_id>[0-9A-Za-z]{{5,}})$", K.NOTIFY,
         ("17CCA8044: sender non-delivery notification: ADD2F8052", "264FE1A18: sender delay notification: 0A87A1A08",
          "482E4404AC8: postmaster non-delivery notification: 47335405A44")),
)

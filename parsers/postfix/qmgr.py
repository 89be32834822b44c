"""Postfix rule table: qmgr (oqmgr/nqmgr share it).

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace.parsing.cuts import Cut
from logtrace_parsers.postfix.patterns import QID, QIDG, delivery_rule

FROM_CUT = Cut(rf"^{QIDG}: from=<[^>,]*>, size=\d+, nrcpt=\d+ \([^)]*\)$",
               (("split", "body", ", ", ("_a", "_size", "_n")),
                ("split", "_a", ": ", ("queue_id", "_from")),
                ("strip", "_from", "sender", "from=<", ">"),
                ("strip", "_size", "size", "size=", ""),
                ("split", "_n", " (", ("_nrcpt", "_detail")),
                ("strip", "_nrcpt", "nrcpt", "nrcpt=", ""),
                ("strip", "_detail", "detail", "", ")")))

RULES: tuple[Rule, ...] = (
    Rule("postfix.qmgr.removed", "qmgr", rf"^{QID}: removed$", K.REMOVE, ("0F5383D: removed",),
         cut=Cut(rf"^{QIDG}: removed$", (("strip", "body", "queue_id", "", ": removed"),))),
    Rule("postfix.qmgr.from", "qmgr", rf"^{QID}: from=<(?P<sender>[^>]*)>, size=(?P<size>\d+), nrcpt=(?P<nrcpt>\d+) \((?P<detail>[^)]*)\)$", K.QUEUED,
         ("0F5383D: from=<owner-postfix-users@postfix.org>, size=5360, nrcpt=1 (queue active)",), cut=FROM_CUT),
    Rule("postfix.qmgr.expired", "qmgr", rf"^{QID}: from=<(?P<sender>[^>]*)>, status=(?P<status>expired|force-expired), returned to sender$", K.EXPIRE,
         ("66C15648577B: from=<uvnhbl@yahoo.com.tw>, status=expired, returned to sender", "585BC3F: from=<>, status=expired, returned to sender")),
    Rule("postfix.qmgr.skipped", "qmgr", rf"^{QID}: (?P<detail>skipped, still being delivered)$", K.OTHER,
         ("ED06590130AA1C9D6D862: skipped, still being delivered",)),
    delivery_rule("qmgr",
              "2DC5552A34: to=<user@yahoo.com>, relay=none, delay=63495, delays=63350/144/0/0, dsn=4.4.2, status=deferred (delivery temporarily suspended: lost connection with mta7.am0.yahoodns.net[98.136.216.22] while sending RCPT TO)"),
)

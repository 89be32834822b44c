"""Postfix rule table: pickup.

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace_parsers.postfix.patterns import QID

RULES: tuple[Rule, ...] = (
    Rule("postfix.pickup.uid", "pickup", rf"^{QID}: uid=(?P<detail>\d+) from=<(?P<sender>[^>]*)>(?: orig_id=\S+)?$", K.ACCEPT,
         ("D2FAE20586: uid=0 from=<fail2ban>",)),
)

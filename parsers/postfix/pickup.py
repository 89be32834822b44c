"""Postfix rule table: pickup.

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace.parsing.tags import Tag
from logtrace_parsers.postfix.patterns import QID

RULES: tuple[Rule, ...] = (
    Rule("postfix.pickup.uid", "pickup", rf"^{QID}: uid=(?P<detail>\d+) from=<(?P<sender>[^>]*)>(?: orig_id=(?P<next_queue_id>\S+))?$", K.ACCEPT,
         ("D2FAE20586: uid=0 from=<fail2ban>", "6F7A8B9C0D: uid=0 from=<s@example.org> orig_id=5E6F7A8B9C"),
         tags=frozenset({Tag.PREVIOUS_ID})),  # postsuper -r: orig_id= is the ID before re-injection
)

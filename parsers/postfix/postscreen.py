"""Postfix rule table: postscreen.

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace.parsing.tags import Tag
from logtrace_parsers.postfix.patterns import CLIENT, NOQUEUE_KIND, NOQUEUE

RULES: tuple[Rule, ...] = (
    Rule("postfix.postscreen.connect", "postscreen", rf"^CONNECT from {CLIENT}(?: to \[[^\]]*\]:\d+)?$", K.CONNECT,
         ("CONNECT from [61.238.241.86]:53024 to [89.105.204.244]:25",)),
    Rule("postfix.postscreen.disconnect", "postscreen", rf"^DISCONNECT {CLIENT}$", K.DISCONNECT, ("DISCONNECT [216.81.72.72]:43421",)),
    Rule("postfix.postscreen.noqueue", "postscreen", NOQUEUE, K.REJECT,
         ("NOQUEUE: reject: RCPT from [182.98.255.184]:2413: 550 5.5.1 Protocol error; from=<lvtowxfdp@yahoo.com>, to=<tom@example.com>, proto=SMTP, helo=<mx32.usaindiamunish.net>",
          "NOQUEUE: reject: CONNECT from [1.2.3.4]:1337: too many connections"),
         kind_by=("status", NOQUEUE_KIND), tags=frozenset({Tag.NOQUEUE})),
    Rule("postfix.postscreen.action", "postscreen",
         rf"^(?P<status>PASS OLD|PASS NEW|WHITELISTED|BLACKLISTED|ALLOWLISTED|DENYLISTED|WHITELIST VETO|ALLOWLIST VETO|PREGREET|DNSBL|HANGUP|COMMAND TIME LIMIT|COMMAND COUNT LIMIT|COMMAND LENGTH LIMIT|NON-SMTP COMMAND|COMMAND PIPELINING|BARE NEWLINE)(?P<detail>[^\[]*?)(?:from |for )?{CLIENT}(?:\s.*|:.*)?$",
         K.OTHER,
         ("PASS NEW [2607:f8b0:4003:c01::23a]:36051", "PREGREET 6 after 1.2 from [216.81.72.72]:43421: RSET\\r\\n",
          "DNSBL rank 3 for [111.73.45.149]:1038", "HANGUP after 63 from [111.73.45.149]:1038 in tests after SMTP handshake",
          "COMMAND TIME LIMIT from [182.246.250.243]:51799 after CONNECT", "DENYLISTED [192.0.2.5]:1234"),
         tags=frozenset({Tag.POSTSCREEN})),
    Rule("postfix.postscreen.without_rcpt", "postscreen", rf"^(?P<detail>(?:DATA|BDAT) without valid RCPT) from {CLIENT}$", K.OTHER,
         ("DATA without valid RCPT from [123.45.67.89]:12345", "BDAT without valid RCPT from [123.45.67.89]:12345")),
    Rule("postfix.postscreen.cache", "postscreen", r"^(?P<detail>cache \S+ (?:full|partial) cleanup: .*)$", K.OTHER,
         ("cache btree:/var/lib/postfix-in/postscreen_cache full cleanup: retained=242 dropped=7 entries",)),
    Rule("postfix.postscreen.note", "postscreen", r"^(?P<detail>(?:all screening ports busy|all server ports busy|reloading|saving).*)$", K.OTHER,
         ("all screening ports busy",)),
)

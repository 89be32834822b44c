"""Postfix rule table: final delivery agents.

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace.parsing.tags import Tag
from logtrace_parsers.postfix.patterns import delivery_rule

RULES: tuple[Rule, ...] = (
    delivery_rule("local",
              "8B22B43C3: to=<gabriel.matthews@cs.tcd.ie>, relay=local, delay=0, status=sent (forwarded as 9627443F0)",
              "2A22C263F6: to=user@hostname.example.com, orig_to=root@localhost, relay=local, delay=0.07, delays=0.04/0/0/0.03, dsn=2.0.0, status=sent (delivered to command: procmail -a \"$EXTENSION\")",
              "892A0205B6: to=ghdsgfhdslfh@localhost, relay=local, delay=0.05, delays=0.02/0/0/0.02, dsn=5.1.1, status=bounced (unknown user: \"ghdsgfhdslfh\")",
              tags=frozenset({Tag.FINAL})),
    delivery_rule("virtual", "B657F2DB195D: to=<postmaster@example.com>, relay=virtual, delay=0.52, delays=0.51/0.01/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
              tags=frozenset({Tag.FINAL})),
    delivery_rule("pipe",
              "0F5383D: to=<tom@example.com>, relay=dovecot, delay=4.3, delays=4.1/0.01/0/0.15, dsn=2.0.0, status=sent (delivered via dovecot service)",
              "2F6C83D: to=<user@example.org>, relay=dovecot, delay=5.1, delays=4.4/0.02/0/0.61, dsn=5.1.1, status=bounced (user unknown)",
              tags=frozenset({Tag.FINAL})),
    delivery_rule("error",
              "2DC5552A34: to=<user@yahoo.com>, relay=none, delay=63495, delays=63350/144/0/0, dsn=4.4.2, status=deferred (delivery temporarily suspended: lost connection with mta7.am0.yahoodns.net[98.136.216.22] while sending RCPT TO)",
              "3E29030F8637E: to=<user@yahoo.com>, relay=none, delay=0.01, delays=0.01/0/0/0, dsn=5.1.1, status=undeliverable-but-not-cached (User unknown in virtual alias table)"),
    delivery_rule("discard", "25F2E5E061: to=<george.desantis@test.example.com>, relay=none, delay=0.05, delays=0.05/0/0/0, dsn=2.0.0, status=sent (test.example.com)",
              kind=K.DISCARD, by_status=False, tags=frozenset({Tag.DISCARD_SENT})),
)

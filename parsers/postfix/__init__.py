"""Postfix: rule tables per daemon, as data, each rule proven by real sample lines.

Program names: ``postfix/smtpd``, multi-instance ``postfix-out/smtp``, service-prefixed
``postfix/submission/smtpd`` and ``postfix/relay/smtp`` all select the daemon's table (the
last path element). Queue IDs: short uppercase hex, long ``enable_long_queue_ids`` IDs
(vowel-free base-52 with a ``z``), or ``NOQUEUE``.

Samples come from the public corpus (``shared/corpus/public/postfix``: whyscream's grok test
cases, the postfix_exporter fixtures, fail2ban, SEKOIA) or from a real Postfix 3.7 started by
the test suite. Order matters: first match wins, most frequent shapes first.
"""

from __future__ import annotations

from typing import ClassVar

from logtrace.parsing.rules import Rule, RuleParser
from logtrace.parsing.tags import Tag
from logtrace_parsers.postfix import common
from logtrace_parsers.postfix import smtp
from logtrace_parsers.postfix import smtpd
from logtrace_parsers.postfix import postscreen
from logtrace_parsers.postfix import pickup
from logtrace_parsers.postfix import cleanup
from logtrace_parsers.postfix import qmgr
from logtrace_parsers.postfix import bounce
from logtrace_parsers.postfix import postsuper
from logtrace_parsers.postfix import agents
from logtrace_parsers.postfix import auxiliary

#: One table per daemon, concatenated; order within a daemon is first-match-wins.
RULES: tuple[Rule, ...] = (*common.RULES, *smtp.RULES, *smtpd.RULES, *postscreen.RULES, *pickup.RULES, *cleanup.RULES, *qmgr.RULES, *bounce.RULES, *postsuper.RULES, *agents.RULES, *auxiliary.RULES)

DAEMONS = sorted({r.program for r in RULES if r.program != "*"} | {"lmtp", "oqmgr", "nqmgr", "defer", "trace", "retry"})


class PostfixParser(RuleParser):
    """Postfix syslog / ``maillog_file`` lines."""

    name: ClassVar[str] = "postfix"
    aliases: ClassVar[tuple[str, ...]] = ("pf",)
    mta: ClassVar[str] = "postfix"
    tags: ClassVar[frozenset[str]] = frozenset({Tag.PFLOGSUMM, Tag.INSTANCE_FROM_PROGRAM})
    rules: ClassVar[tuple[Rule, ...]] = RULES
    daemon_aliases: ClassVar[dict[str, str]] = {"lmtp": "smtp", "oqmgr": "qmgr", "nqmgr": "qmgr", "defer": "bounce",
                                                 "trace": "bounce", "retry": "error"}
    family_pattern: ClassVar[str | None] = r"^postfix(?:-[\w.-]+)?/"
    program_pattern: ClassVar[str] = r"^[\w.-]+(?:/[\w.-]+)*/(?P<daemon>" + "|".join(d.replace("-", r"\-") for d in DAEMONS) + r")$"

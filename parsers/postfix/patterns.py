"""Postfix line shapes shared by the per-daemon rule tables: queue IDs, clients, the
delivery-status line, NOQUEUE decisions and the helpers that build rules."""


from __future__ import annotations


from logtrace.events import EventKind as K
from logtrace.parsing.cuts import Cut
from logtrace.parsing.rules import Rule
from logtrace.parsing.tags import Tag

QID = r"(?P<queue_id>[0-9A-F]{5,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,})"
CLIENT = r"(?P<client>[^\s\[\]]*\[[^\]]*\](?::\d+)?)"
ADDR = r"<?(?P<recipient>[^>,\s]*)>?"
TAIL = (
    r"(?:;(?: from=<(?P<sender>[^>]*)>,?)?(?: to=<(?P<recipient>[^>]*)>,?)?"
    r"(?: proto=[^\s,]+,?)?(?: helo=<[^>]*>)?)?\s*$"
)

#: a queue ID in a guard (no capture): the same alternation as :data:`QID`
QIDG = r"(?:[0-9A-F]{5,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,})"

STATUS_KIND = (
    ("sent", K.DELIVER),
    ("deferred", K.DEFER),
    ("bounced", K.BOUNCE),
    ("expired", K.EXPIRE),
    ("SOFTBOUNCE", K.DEFER),
    ("deliverable", K.OTHER),
    ("undeliverable", K.OTHER),
    ("undeliverable-but-not-cached", K.OTHER),
)

DELIVERY = (
    rf"^{QID}: to=<?(?P<recipient>[^>,]*)>?, (?:orig_to=<?(?P<orig_recipient>[^>,]*)>?, )?"
    r"relay=(?P<relay>[^,]+), (?:conn_use=\d+, )?delay=(?P<delay_s>[\d.]+), "
    r"(?:delays=(?P<delays>[\d./]+), )?(?:tls=[^,\s]*, )?(?:dsn=(?P<dsn>[\d.]+), )?"
    r"status=(?P<status>[\w-]+)(?: \((?P<reply_text>.*)\))?$"
)

#: fast cut of the common delivery line (no orig_to, conn_use or tls; all of delays, dsn and a reply)
DELIVERY_CUT = Cut(
    rf"^{QIDG}: to=<[^>,]*>, relay=[^,]+, delay=[\d.]+, delays=[\d./]+, dsn=[\d.]+, status=[\w-]+ \(.*\)$",
    (("split", "body", ", ", ("_a", "_relay", "_delay", "_delays", "_dsn", "_st")),
     ("split", "_a", ": ", ("queue_id", "_to")),
     ("strip", "_to", "recipient", "to=<", ">"),
     ("strip", "_relay", "relay", "relay=", ""),
     ("strip", "_delay", "delay_s", "delay=", ""),
     ("strip", "_delays", "delays", "delays=", ""),
     ("strip", "_dsn", "dsn", "dsn=", ""),
     ("split", "_st", " (", ("_status", "_reply")),
     ("strip", "_status", "status", "status=", ""),
     ("strip", "_reply", "reply_text", "", ")")))

#: a content filter's 2xx that says it dropped the message (amavis: ``discarded, id=…`` for
#: D_DISCARD, ``id=…, BOUNCE`` for a bounce it will not send): ``detail`` is the filter's ID
FILTER_DISCARD = DELIVERY.replace(
    r"status=(?P<status>[\w-]+)(?: \((?P<reply_text>.*)\))?$",
    r"status=(?P<status>sent) \((?P<reply_text>2\d\d [\d.]+ Ok, (?:discarded, )?id=(?P<detail>[^\s,]+)(?: - .*|, BOUNCE))\)$")
assert FILTER_DISCARD != DELIVERY

NOQUEUE_KIND = (
    ("reject", K.REJECT),
    ("reject_warning", K.REJECT_WARNING),
    ("discard", K.DISCARD),
    ("filter", K.FILTER),
    ("hold", K.HOLD),
    ("redirect", K.REDIRECT),
    ("milter-reject", K.REJECT),
    ("milter-discard", K.DISCARD),
    ("milter-hold", K.HOLD),
)
NOQUEUE = (
    rf"^(?:NOQUEUE|{QID}): (?P<status>reject|reject_warning|discard|filter|hold|redirect|milter-reject|milter-discard|milter-hold): "
    rf"(?P<detail>[A-Z][A-Z-]*) from {CLIENT}: (?P<reply_text>.*?){TAIL}"
)

CHECKS_KIND = tuple(
    (f"{m}{p}{a}", k)
    for m in ("", "milter-")
    for p in ("", "header-", "body-")
    for a, k in (("reject", K.REJECT), ("hold", K.HOLD), ("discard", K.DISCARD), ("redirect", K.REDIRECT),
                 ("filter", K.FILTER), ("warning", K.OTHER), ("info", K.OTHER), ("replace", K.OTHER),
                 ("prepend", K.OTHER), ("bcc", K.OTHER), ("strip", K.OTHER))
)


def delivery_rule(daemon: str, *samples: str, kind: K = K.DELIVER, by_status: bool = True, tags: frozenset[str] = frozenset()) -> Rule:
    return Rule(f"postfix.{daemon}.delivery_status", daemon, DELIVERY, kind, samples,
                kind_by=("status", STATUS_KIND) if by_status else None, tags=frozenset({Tag.DELIVERY_STATUS}) | tags,
                cut=DELIVERY_CUT)


def catch_all_rule(daemon: str, *samples: str) -> Rule:
    """For auxiliary daemons whose every message is operational, with no lifecycle meaning."""
    return Rule(f"postfix.{daemon}.message", daemon, r"^(?P<detail>.*)$", K.OTHER, samples)

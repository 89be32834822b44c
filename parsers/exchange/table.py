"""Exchange's tables: event-id and EXO status kinds, the rule table, the documented column
sets, column-name normalisation and the patterns and hints that recognise each layout.

Data only (no polars): every other module of the package reads these names.
"""

from __future__ import annotations

import re

from logtrace.events import EventKind
from logtrace.parsing.rules import DERIVATIONS, Rule
from logtrace.parsing.tags import Tag

__all__ = [
    "EVENT_KINDS", "EXO_STATUS_KINDS", "AGENT_ACTION_KINDS", "RULES", "FIELDS_2010", "FIELDS_2013", "FIELDS_2016",
    "FIELDS_PROTOCOL", "FIELDS_AGENT", "BY_COUNT", "ALIASES", "norm", "TRACKING_KEYS", "AGENT_KEYS", "AGENT_ACTION",
    "ISO_ROW", "ISO_ROW_COMMA", "FORMATTED_OUTPUT", "QUOTED", "SMTP_SPLIT",
    "REPLY_DERIVS", "HOP_DERIVS", "TRACKING_HINT", "FORMATTED_HINT",
]

K = EventKind

#: event-id → kind. Unknown ids pass through as ``other`` (``status`` keeps the raw id).
EVENT_KINDS: dict[str, EventKind] = {
    "RECEIVE": K.ACCEPT,
    "SEND": K.DELIVER,  # relayed to the next hop (relay_host); next_queue_id from its reply
    "SENDEXTERNAL": K.DELIVER,
    "DELIVER": K.DELIVER,  # into a mailbox
    "FAIL": K.BOUNCE,
    "DELIVERFAIL": K.BOUNCE,
    "DEFER": K.DEFER,
    "SUBMITDEFER": K.DEFER,
    "RESUBMITDEFER": K.DEFER,
    "THROTTLE": K.DEFER,
    "DSN": K.NOTIFY,  # queue_id = the DSN's own internal id; reference = original Message-Id
    "REDIRECT": K.REDIRECT,
    "POISONMESSAGE": K.HOLD,
    "DROP": K.DISCARD,
    "BADMAIL": K.DISCARD,
    "SUPPRESSED": K.DISCARD,
    "MODERATIONEXPIRE": K.EXPIRE,
    "MODERATORREJECT": K.REJECT,
    "SUBMITFAIL": K.WARNING,
    "RESUBMITFAIL": K.WARNING,
    "HAREDIRECTFAIL": K.WARNING,
    # everything else (SUBMIT, CLIENTSUBMISSION, EXPAND, RESOLVE, TRANSFER, HAREDIRECT,
    # HARECEIVE, HADISCARD, AGENTINFO, NOTIFYMAPI, DUPLICATE*, PROCESS, …) is ``other``
}

#: Exchange Online ``Status`` → kind.
EXO_STATUS_KINDS: dict[str, EventKind] = {
    "DELIVERED": K.DELIVER,
    "FAILED": K.BOUNCE,
    "PENDING": K.DEFER,
    "QUARANTINED": K.HOLD,
    "FILTEREDASSPAM": K.FILTER,
    "RESOLVED": K.REDIRECT,
    "EXPANDED": K.OTHER,
    "GETTINGSTATUS": K.OTHER,
    "NONE": K.OTHER,
    # historical-search recipient_status events
    "RECEIVE": K.ACCEPT,
    "SEND": K.DELIVER,
    "DELIVER": K.DELIVER,
    "FAIL": K.BOUNCE,
    "DEFER": K.DEFER,
    "EXPAND": K.OTHER,
}

#: Agent Log ``Action`` → kind (matched without regard to case). Every other action
#: (``AcceptMessage``, ``AcceptCommand``, ``Disconnect`` …) is ``other``; ``status`` keeps the raw action.
AGENT_ACTION_KINDS: dict[str, EventKind] = {
    "RejectMessage": K.REJECT,
    "RejectCommand": K.REJECT,
    "RejectAuthentication": K.REJECT,
    "QuarantineMessage": K.HOLD,
    "DeleteMessage": K.DISCARD,
    "RedirectMessage": K.REDIRECT,
}

_EVENT_ID = r"^(?P<status>[A-Z][A-Z_]*)$"
_FINAL = ("status", (("DELIVER", frozenset({Tag.FINAL})),
                     # the recipient is what related-recipient-address resolved/was redirected to
                     ("RESOLVE", frozenset({Tag.RECIPIENT_ALIAS})), ("REDIRECT", frozenset({Tag.RECIPIENT_ALIAS}))))
#: tracking rows carry network-message-id (in ``detail``): the org-wide join key of every hop
_ORG = frozenset({Tag.ORG_MESSAGE_ID})
#: tracking rows' ``status`` is Exchange's event ID (the summary's Exchange section counts them)
_TRACKING = _ORG | {Tag.EVENT_ID}

#: Row shapes, one rule per rule id this parser emits. The "body" a rule matches is the
#: row's shape key: the ``event-id`` of a tracking row, the ``event`` column (plus the reply
#: for ``<`` lines) of a protocol-log row, the raw line of a header. ``kind_by`` over
#: ``status`` is :data:`EVENT_KINDS`; a ``DELIVER`` row is a final delivery (tag).
RULES: tuple[Rule, ...] = (
    Rule("exchange.header", "header", r"^#(?P<detail>[A-Za-z-]+:.*)$", K.OTHER,
         ("#Software: Microsoft Exchange Server", "#Fields: date-time,client-ip,client-hostname",
          "#Log-type: Message Tracking Log", "#Log-type: Agent Log")),
    Rule("exchange.blank", "blank", r"^[ \t]*$", K.OTHER, ("",)),
    Rule("exchange.msgtrk.row", "msgtrk", _EVENT_ID, K.OTHER, ("RECEIVE", "DELIVER", "SENDEXTERNAL", "FAIL", "DEFER", "DSN", "EXPAND"),
         kind_by=("status", tuple(EVENT_KINDS.items())), tags=_TRACKING, tags_by=_FINAL),
    Rule("exchange.export.row", "export", _EVENT_ID, K.OTHER, ("RECEIVE", "DELIVER", "SEND", "FAIL"),
         kind_by=("status", tuple(EVENT_KINDS.items())), tags=_TRACKING, tags_by=_FINAL),
    Rule("exchange.exo.row", "exo", r"^(?P<status>[A-Za-z]+)$", K.OTHER, ("Delivered", "Failed", "FilteredAsSpam", "Pending", "Deliver"),
         tags_by=("status", (("Deliver", frozenset({Tag.FINAL})), ("DELIVER", frozenset({Tag.FINAL}))))),
    Rule("exchange.smtp.connect", "smtp", r"^\+$", K.CONNECT, ("+",)),
    Rule("exchange.smtp.disconnect", "smtp", r"^-$", K.DISCONNECT, ("-",)),
    Rule("exchange.smtp.data_reply", "smtp", r"^< (?P<reply_text>[2-5]\d\d[ -].*)$", K.OTHER,
         ("< 250 2.6.0 <a@example.com> [InternalId=4617089] Queued mail for delivery",
          "< 451 4.7.0 Temporary server error. Please try again later")),
    Rule("exchange.smtp.line", "smtp", r"^(?P<detail>[<>*].*)$", K.OTHER, ("> EHLO mx.example.com", "* Tls", "<")),
    Rule("exchange.agent.row", "agent", r"^(?P<status>[A-Za-z]+)$", K.OTHER,
         ("RejectMessage", "RejectCommand", "QuarantineMessage", "DeleteMessage", "RedirectMessage", "AcceptMessage",
          "AcceptCommand", "Disconnect", "RejectAuthentication"),
         kind_by=("status", tuple(AGENT_ACTION_KINDS.items()))),
    Rule("exchange.generic.row", "generic", r"^(?P<detail>.*,.*)$", K.OTHER, ("2019-01-01T00:00:00.000Z,a@example.com,b@example.com",)),
)

#: The documented ``#Fields`` sets, used only for header-less files (by column count).
FIELDS_2010 = (
    "date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,connector-id,source,event-id,"
    "internal-message-id,message-id,recipient-address,recipient-status,total-bytes,recipient-count,"
    "related-recipient-address,reference,message-subject,sender-address,return-path,message-info,directionality,"
    "tenant-id,original-client-ip,original-server-ip,custom-data"
).split(",")
FIELDS_2013 = [*FIELDS_2010[:11], "network-message-id", *FIELDS_2010[11:]]
FIELDS_2016 = [*FIELDS_2013, "transport-traffic-type", "log-id", "schema-version"]
FIELDS_PROTOCOL = "date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context".split(",")
#: Agent Log (``AgentLog\AGENT*.LOG``, Exchange 2013–2019) columns, canonical names in ``#Fields`` order
FIELDS_AGENT = (
    "date-time,session-id,local-endpoint,remote-endpoint,entered-org-from-ip,message-id,p1-from-address,"
    "p2-from-addresses,recipient-address,num-recipients,agent,event,action,smtp-response,reason,reason-data,"
    "diagnostics,network-message-id,tenant-id,directionality"
).split(",")
#: column count → (format, fields, label) for header-less files (an Agent Log's rows must also
#: have its shape, see :data:`AGENT_ACTION`)
BY_COUNT = {26: ("msgtrk", FIELDS_2010, "2010"), 27: ("msgtrk", FIELDS_2013, "2013"),
            30: ("msgtrk", FIELDS_2016, "2016/2019"), 9: ("smtp", FIELDS_PROTOCOL, "SMTP protocol"),
            20: ("agent", FIELDS_AGENT, "Agent Log")}

#: normalised column name (lowercase, alphanumerics only) → canonical tracking-log name.
ALIASES: dict[str, str] = {
    "timestamp": "date-time",
    "recipients": "recipient-address",
    "sender": "sender-address",
    # EXO message trace / historical search
    "received": "date-time",
    "origintimestamputc": "date-time",
    "datetimeutc": "date-time",
    "recipientaddress": "recipient-address",
    "recipient": "recipient-address",
    "senderaddress": "sender-address",
    "subject": "message-subject",
    "size": "total-bytes",
    "fromip": "client-ip",
    "toip": "server-ip",
    "networkmsgid": "network-message-id",  # Agent Log
}
_CANONICAL = [*FIELDS_2016, "session-id", "sequence-number", "local-endpoint", "remote-endpoint", "event", "data",
              "context", "status", "message-trace-id", "organization", *FIELDS_AGENT]
for _c in _CANONICAL:
    ALIASES.setdefault(re.sub(r"[^a-z0-9]", "", _c), _c)

#: a data row starts with an ISO stamp (header-less layout inference; the sniffer wants a comma after it)
ISO_ROW = re.compile(r'^"?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d')
ISO_ROW_COMMA = re.compile(r'^"?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?"?,')
#: PowerShell's Format-Table/Format-List output (refused with :data:`FORMATTED_HINT`)
FORMATTED_OUTPUT = re.compile(r"^(?:EventId\s+\S|-{4,}\s+-{4,}|EventId\s*:|Timestamp\s*:\s*\S)")
#: a quoted CSV field, removed before counting commas
QUOTED = r'(^|,)"(?:[^"]|"")*"'
SMTP_SPLIT = r";\s*([2-5]\d\d[ -])"  # a ';' that starts another recipient's SMTP status
#: the shared derivations over ``reply_text``, and those that find the next hop, over ``_hop``
REPLY_DERIVS = tuple(d for d in DERIVATIONS if d[0] == "reply_text")
HOP_DERIVS = tuple(("_hop", p) for s, p in DERIVATIONS if s == "reply_text" and "next_queue_id" in p)

TRACKING_HINT = "this looks like an Exchange tracking log without its #Fields header; restore the file's header lines"
FORMATTED_HINT = ("this is PowerShell's formatted output, which truncates columns; re-run as "
                  "Get-MessageTrackingLog ... | Export-Csv -NoTypeInformation -Encoding UTF8 tracking.csv")


def norm(name: str) -> str:
    """A column name as written (any case, quoted, ``EventId``/``event-id``) → its canonical name."""
    n = re.sub(r"[^a-z0-9]", "", name.strip().strip('"').lower())
    return ALIASES.get(n, name.strip().strip('"').lower())


#: column names that make a ``#Fields`` header a tracking log even without ``event-id``
TRACKING_KEYS = frozenset({"internal-message-id", "message-id", "network-message-id", "recipient-address"})
#: column names that make a header an Agent Log's (checked before the protocol log's ``session-id``+``event``)
AGENT_KEYS = frozenset({"agent", "action"})
#: header-less Agent Log rows: ``NumRecipients`` is a number, ``Agent`` is set and ``Action`` is one word
AGENT_ACTION = re.compile(r"^[A-Z][A-Za-z]+$")

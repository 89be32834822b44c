"""Which fields ``--where`` accepts and what type of value each one holds.

The event schema columns (:data:`COLUMNS`), the short aliases (:data:`ALIASES`), the name →
column map (:data:`FIELDS`) and each column's value type (:data:`FIELD_TYPES`), with the
type names and hints the error messages use.
"""

from __future__ import annotations

import dataclasses

from logtrace.events import EVENT_FIELDS, Event

#: Schema column names (``event_schema()`` order), all usable in ``--where``.
COLUMNS: tuple[str, ...] = (*EVENT_FIELDS, "reason")

#: Short names accepted in ``--where``, mapped to their column.
ALIASES: dict[str, str] = {
    "from": "sender",
    "to": "recipient",
    "rcpt": "recipient",
    "qid": "queue_id",
    "id": "queue_id",
    "msgid": "message_id",
    "relay": "relay_host",
    "client": "client_host",
    "delay": "delay_s",
    "code": "reply_code",
    "reply": "reply_text",
    "time": "ts",
}

#: Every name accepted in ``--where`` (columns and aliases) → the column it reads.
FIELDS: dict[str, str] = {**{c: c for c in COLUMNS}, **ALIASES}


def _field_types() -> dict[str, str]:
    ann = {f.name: str(f.type) for f in dataclasses.fields(Event)}
    out: dict[str, str] = {}
    for c in COLUMNS:
        t = ann.get(c, "str")
        if c == "ts":
            out[c] = "time"
        elif c == "dsn":
            out[c] = "dsn"
        elif c in ("client_ip", "relay_ip"):
            out[c] = "ip"
        elif c == "size":
            out[c] = "size"
        elif t.startswith("float"):
            out[c] = "duration"
        elif t.startswith("int"):
            out[c] = "int"
        else:
            out[c] = "text"
    return out


#: Column → value type (``text int size duration dsn time ip``).
FIELD_TYPES: dict[str, str] = _field_types()

TYPE_NAMES = {"text": "text", "int": "integer", "size": "size in bytes", "duration": "duration in seconds",
               "dsn": "DSN status code", "time": "timestamp", "ip": "IP address or CIDR block"}
TYPE_HINTS = {
    "int": "{f} takes an integer, e.g. 550",
    "size": "{f} takes bytes, e.g. 2048, 10k, 5M, 1G (k = 1024)",
    "duration": "{f} takes seconds or a duration, e.g. 90, 0.5, 30s, 5m, 2h, 1d, 1h30m",
    "dsn": "{f} takes a status code like 5.1.1 (compared part by part)",
    "time": "{f} takes an ISO date or time (UTC unless a zone is given), e.g. 2026-11-22, 2026-11-22T06:00, "
            "2026-11-22T06:00:00+01:00",
    "ip": "{f} takes an address or CIDR block, e.g. 192.0.2.7, 192.0.2.0/24, 2001:db8::/32",
}

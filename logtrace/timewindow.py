"""``--since``/``--until``: journalctl's time syntax and the window it selects.

:func:`parse_when` reads the forms of systemd.time(7) that ``journalctl --since`` takes —
``now``, ``today``, ``yesterday``, ``tomorrow``; ``2026-11-22``, ``2026-11-22 10:00[:00]``,
``10:00[:00]`` (today), ISO 8601 with ``T`` and an offset; ``-1h``, ``+30min``,
``-1d 2h``, ``2h ago``, ``3 days ago``; ``@1700000000`` (Unix time) — plus a trailing
``UTC``/``Z``. Everything without an offset is in the *display zone* (``--tz``, ``--utc``,
else this machine's) and relative to ``now``. Anything else raises :class:`ValueError`
with a message naming the accepted forms.

:class:`TimeWindow` is the half-open interval ``[since, until)`` those two options select.

Standard library only (``follow`` reads its options before polars is imported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

__all__ = ["TimeWindow", "parse_when", "parse_span", "FORMS"]

#: the accepted forms, for error hints and help text
FORMS = "ISO 8601 (2026-11-22, '2026-11-22 10:00'), 10:00, today, yesterday, -1h, '2h ago', @EPOCH"

_UNITS: dict[str, float] = {}
for _names, _secs in (
    (("us", "usec", "usecs"), 1e-6), (("ms", "msec", "msecs"), 1e-3),
    (("s", "sec", "secs", "second", "seconds"), 1), (("m", "min", "mins", "minute", "minutes"), 60),
    (("h", "hr", "hrs", "hour", "hours"), 3600), (("d", "day", "days"), 86400), (("w", "week", "weeks"), 7 * 86400),
    (("M", "month", "months"), 30.44 * 86400), (("y", "year", "years"), 365.25 * 86400),
):
    for _n in _names:
        _UNITS[_n] = _secs

_SPAN_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?")


def parse_span(text: str) -> timedelta:
    """``1h``, ``1h 30min``, ``2 days`` → timedelta (systemd.time's time spans; ``m`` is minutes, ``M`` months)."""
    pos, total, s = 0, 0.0, text.strip()
    if not s:
        raise ValueError("empty time span")
    while pos < len(s):
        m = _SPAN_PART.match(s, pos)
        if not m or (unit := m.group(2)) not in _UNITS and unit.lower() not in _UNITS:
            raise ValueError(f"cannot read time span '{text}'")
        total += float(m.group(1)) * _UNITS.get(unit, _UNITS.get(unit.lower(), 0))
        pos = m.end()
    return timedelta(seconds=total)


def parse_when(spec: str, *, zone: tzinfo | None = None, now: datetime | None = None) -> datetime:
    """A ``--since``/``--until`` value → aware datetime (see the module doc; ``zone=None`` is this machine's)."""
    now = (now or datetime.now(timezone.utc)).astimezone(zone) if zone else (now or datetime.now(timezone.utc)).astimezone()
    s = spec.strip()
    low = s.lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = {"today": 0, "yesterday": -1, "tomorrow": 1}
    try:
        if low == "now":
            return now
        if low in days:
            return _shift_day(midnight, days[low])
        if low.startswith("@"):
            return datetime.fromtimestamp(float(low[1:]), tz=timezone.utc)
        if low.endswith(" ago"):
            return now - parse_span(s[:-4])
        if low.endswith(" left"):
            return now + parse_span(s[:-5])
        if s[:1] in "+-" and len(s) > 1 and not s[1:2].isspace() and re.match(r"[+-]\d", s):
            span = parse_span(s[1:])
            return now - span if s[0] == "-" else now + span
        utc = False
        if low.endswith(" utc"):
            s, utc = s[:-4].rstrip(), True
        m = _CLOCK.fullmatch(s)
        if m:
            base = (now.astimezone(timezone.utc) if utc else now).replace(hour=0, minute=0, second=0, microsecond=0)
            t = base.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=int(m.group(3) or 0),
                             microsecond=int((m.group(4) or "0").ljust(6, "0")))
            return t
        dt = datetime.fromisoformat(s)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"cannot read time '{spec}' (use {FORMS})") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc) if utc else (dt.replace(tzinfo=zone) if zone else dt.astimezone())
    return dt


def _shift_day(midnight: datetime, n: int) -> datetime:
    """Midnight ``n`` days away in the same zone (a DST change keeps it at 00:00 wall time)."""
    day = (midnight.replace(tzinfo=None) + timedelta(days=n))
    return day.replace(tzinfo=midnight.tzinfo) if midnight.tzinfo is not None else day


@dataclass(frozen=True)
class TimeWindow:
    """``[since, until)``; either end may be open (None)."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"--since ({self.since.isoformat()}) is after --until ({self.until.isoformat()})")

    @property
    def is_open(self) -> bool:
        """True when neither end is set (the window selects everything)."""
        return self.since is None and self.until is None

    def contains(self, ts: datetime | None) -> bool:
        """``ts`` is in the window (an unknown time is in it only when the window is open)."""
        if ts is None:
            return self.is_open
        return (self.since is None or ts >= self.since) and (self.until is None or ts < self.until)

    def overlaps(self, first: datetime | None, last: datetime | None) -> bool:
        """The logs' span ``[first, last]`` meets the window (unknown spans are given the benefit of the doubt)."""
        if self.is_open or first is None or last is None:
            return True
        return (self.since is None or last >= self.since) and (self.until is None or first < self.until)

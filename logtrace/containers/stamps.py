"""Syslog envelopes and timestamps: ``<ts> <host> <program>[<pid>]: <body>``.

Supported stamps: RFC 3164 (``Nov 22 06:25:14``, no year, optional ``.ffffff``), RFC 3339
(``2026-11-22T06:25:14.123456+01:00``, also ``journalctl -o short-iso``'s ``+0100``), and the
Solaris ``[ID 197553 mail.info]`` tag after the pid. Year inference for RFC 3164 lives in
:meth:`YearInference.year_for`, the one function both engines call (the frame engine once per
run of equal months, the line engine per line; ``follow``'s random access seeks with
:meth:`YearInference.seek`). The rule: the first stamp's year comes from ``--year`` or the file's mtime (a first
month later than the mtime's month means the previous year), each backwards jump of more
than six months (Dec→Jan) adds one year, and a forward jump of more than six months (a
December line after January ones) takes one away again.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


@cache
def local_zone_name() -> str:
    """IANA name of this machine's zone (syslog writes naive stamps in local time)."""
    tz = os.environ.get("TZ")
    if tz and not tz.startswith(":"):
        try:
            ZoneInfo(tz)
            return tz
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/timezone", encoding="ascii") as f:
            name = f.read().strip()
            ZoneInfo(name)
            return name
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    try:
        link = os.readlink("/etc/localtime")
        name = link.split("zoneinfo/", 1)[1]
        ZoneInfo(name)
        return name
    except (OSError, IndexError, ZoneInfoNotFoundError, ValueError):
        return "UTC"


def zone(name: str | None) -> tzinfo:
    if not name:
        name = local_zone_name()
    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    return ZoneInfo(name)


def zone_label(ts: datetime) -> str:
    """The abbreviation of an aware time's zone (``CET``, ``UTC``), or its offset (``+0530``) where it has none."""
    name = ts.strftime("%Z")
    return name if name and name[0] not in "+-" else ts.strftime("%z")


def base_year(first_month: int | None, mtime: float | None, year: int | None) -> int:
    """The year of a file's first RFC 3164 stamp."""
    if year is not None:
        return year
    ref = datetime.fromtimestamp(mtime) if mtime is not None else datetime.now()
    if first_month is not None and first_month > ref.month:
        return ref.year - 1
    return ref.year


@dataclass(slots=True)
class YearInference:
    """Stateful year tracker for one file (line engine)."""

    year: int | None
    mtime: float | None
    _cur: int | None = None
    _prev_month: int | None = None

    def year_for(self, month: int) -> int:
        """The year of the next stamp, in file order, whose month is ``month`` (advances)."""
        if self._cur is None:
            self._cur = base_year(month, self.mtime, self.year)
        elif self._prev_month is not None and self._prev_month - month > 6:
            self._cur += 1
        elif self._prev_month is not None and month - self._prev_month > 6:
            self._cur -= 1
        self._prev_month = month
        return self._cur

    def seek(self, month: int, first_month: int | None) -> int:
        """Random access (``follow`` reads hit lines only): the state a reader in file order
        would have at a line of ``month`` in a file whose first stamp has ``first_month``
        (files span less than a year: an earlier month than the first is the next year)."""
        self._cur, self._prev_month = None, None
        base = self.year_for(first_month if first_month is not None else month)
        year = base + (1 if first_month is not None and month < first_month else 0)
        self._cur, self._prev_month = year, month
        return year

    def state(self) -> tuple[int | None, int | None]:
        return self._cur, self._prev_month

    def set_state(self, cur: int | None, prev_month: int | None) -> None:
        self._cur, self._prev_month = cur, prev_month


_FRAC_RE = re.compile(r"\.(\d+)")


def parse_3164(stamp: str, yi: YearInference, tz: tzinfo) -> datetime | None:
    if stamp[5:6] == " ":  # "Mar 7 02:09:33": some relays drop the day's padding
        stamp = stamp[:4] + " " + stamp[4:]
    try:
        month = MONTHS[stamp[:3]]
        day = int(stamp[4:6])
        hh, mm, ss = int(stamp[7:9]), int(stamp[10:12]), int(stamp[13:15])
        m = _FRAC_RE.match(stamp, 15)
        us = int((m.group(1) + "000000")[:6]) if m else 0
        y = yi.year_for(month)
        leap = ss == 60  # 23:59:60 rolls over, as polars' strptime does
        dt = datetime(y, month, day, hh, mm, 59 if leap else ss, us, tzinfo=tz)
        return (dt + timedelta(seconds=1) if leap else dt).astimezone(timezone.utc)
    except (KeyError, ValueError):
        return None


def parse_3339(stamp: str, tz: tzinfo) -> datetime | None:
    s = stamp.replace(" ", "T", 1)
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    elif len(s) > 5 and s[-5] in "+-" and s[-3] != ":":
        s = s[:-2] + ":" + s[-2:]
    leap = s[17:19] == "60" and s[16:17] == ":"
    if leap:
        s = s[:17] + "59" + s[19:]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if leap:
        dt += timedelta(seconds=1)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(timezone.utc)


# ----------------------------------------------------------------- frame helpers

def frame_timestamps(df: Any, tz_name: str, state: YearInference, host_zones: dict[str, str] | None = None) -> Any:
    """Add a ``ts`` column (Datetime us UTC) from ``ts3164``/``ts3339`` string columns.

    ``state`` carries the year across chunks of one file and is updated. Naive stamps are in
    ``tz_name``, or, for the hosts ``host_zones`` names (``--tz HOST=ZONE``), in their zone.
    """
    import polars as pl

    if "_year" not in df.columns:
        df = df.with_columns(_year=_years(df.get_column("ts3164").str.slice(0, 3), state))
    n3164 = df.height - df.get_column("ts3164").null_count()
    n3339 = df.height - df.get_column("ts3339").null_count() if "ts3339" in df.columns else 0
    ts = _ts_expr(tz_name, n3164 > 0, n3339 > 0)
    keys = [c for c in ("_year", "ts3164", "ts3339") if c in df.columns] + (["host"] if host_zones and "host" in df.columns else [])
    if host_zones and "host" in df.columns:
        by_zone: dict[str, list[str]] = {}
        for host, z in host_zones.items():
            by_zone.setdefault(z, []).append(host)
        chain: Any = None
        for z, hosts in by_zone.items():
            cond = pl.col("host").is_in(hosts).fill_null(False)
            chain = (pl.when(cond) if chain is None else chain.when(cond)).then(_ts_expr(z, n3164 > 0, n3339 > 0))
        ts = chain.otherwise(ts)
    # each distinct stamp is parsed once (a busy log repeats every second's stamp many times)
    stamps = df.select(keys).unique().with_columns(ts=ts)
    return df.join(stamps, on=keys, how="left", nulls_equal=True, maintain_order="left").drop("_year")


def _ts_expr(tz_name: str, has3164: bool, has3339: bool) -> Any:
    import polars as pl

    tzn = "UTC" if tz_name.upper() in ("UTC", "Z") else tz_name
    naive3164 = (
        pl.concat_str([pl.col("_year").cast(pl.String), pl.lit(" "), pl.col("ts3164").str.replace(r"^(\w{3}) +(\d) ", "$1 0$2 ")])
        .str.strptime(pl.Datetime("us"), "%Y %b %d %H:%M:%S%.f", strict=False)
        .dt.replace_time_zone(tzn, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )
    s3339 = pl.col("ts3339").str.replace(" ", "T").str.replace(r"Z$", "+00:00").str.replace(r"([+-]\d\d)(\d\d)$", "$1:$2")
    with_off = s3339.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False)
    no_off = (
        s3339.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S%.f", strict=False)
        .dt.replace_time_zone(tzn, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )
    full3339 = pl.when(s3339.str.contains(r"[+-]\d\d:\d\d$")).then(with_off).otherwise(no_off)
    if has3164 and has3339:
        return pl.coalesce(naive3164, full3339)
    if has3164:
        return naive3164
    if has3339:
        return full3339
    return pl.lit(None, pl.Datetime("us", "UTC"))


def _years(mon: Any, state: YearInference) -> Any:
    """Series of month names (null where none) → Series of years; advances ``state``.

    Months change rarely (a run per month of the file), so :meth:`YearInference.year_for` is
    called once per run of equal months and the runs are expanded: one rule, no per-line
    Python. Lines without a stamp take the year of the month before them."""
    import polars as pl

    months = mon.replace_strict(MONTHS, default=None, return_dtype=pl.Int32)
    present = months.drop_nulls()
    cur, prev = state.state()
    if not len(present):
        return pl.repeat(cur or 1970, len(months), dtype=pl.Int32, eager=True)
    filled = months.fill_null(strategy="forward").fill_null(prev if prev is not None else int(present[0]))
    runs = filled.rle()
    years = [state.year_for(int(m)) for m in runs.struct.field("value")]
    return pl.Series(years, dtype=pl.Int32).repeat_by(runs.struct.field("len")).explode()


def assign_years(lines: Any, state: YearInference) -> Any:
    """Add ``_year`` to a ``line`` frame from the RFC 3164 month at the start of each line."""
    import polars as pl

    mon = pl.when(pl.col("line").str.contains(r"^[A-Z][a-z]{2} [ 0-3]?\d \d\d:")).then(pl.col("line").str.slice(0, 3))
    return lines.with_columns(_year=_years(lines.select(mon).to_series(), state))

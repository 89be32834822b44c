"""Exchange: message tracking CSV, SMTP protocol logs, Get-MessageTrackingLog and EXO trace exports.

Formats, each recognised from its header (never from column positions):

* **Message tracking logs** (``MSGTRK*.LOG``): ``#Software/#Version/#Log-type/#Date/#Fields``
  header, then CSV rows in the ``#Fields`` order (26 columns in 2010, 27 in 2013, 30 in
  2016/2019; any other set works too, columns are looked up by name). UTF-8, BOM or not.
* **SMTP protocol logs** (``#Log-type: SMTP Send|Receive Protocol Log``): one event per row
  (``+`` connect, ``-`` disconnect, ``>``/``<``/``*`` other); the final reply to ``DATA``/``BDAT``
  of each session (rebuilt by ``session-id`` and ``sequence-number``) becomes a
  ``exchange.smtp.data_reply`` event: in a Send log ``deliver``/``defer``/``bounce`` with
  ``next_queue_id`` from ``queued as X``/``[InternalId=N]``; in a Receive log ``accept`` with
  ``queue_id`` = Exchange's own ``InternalId``.
* **``Get-MessageTrackingLog | Export-Csv``** (``#TYPE`` line optional; ``Timestamp,EventId,…``
  header row) and **Exchange Online message trace** (``Received,SenderAddress,…`` CSV, or
  the JSON records of ``Get-MessageTrace``/Reporting Web Service, one per line; the historical
  search ``origin_timestamp_utc,…,recipient_status`` report too). UTF-16 (PowerShell 5's
  default) is detected by BOM or NUL pattern and decoded.

Conventions (documented in the README glossary too):

* ``queue_id`` = ``internal-message-id`` (per server); for EXO rows the ``MessageTraceId``.
* ``message_id`` = ``message-id`` without ``<>`` (the cross-server key).
* ``detail`` holds Exchange-only identifiers as ``key=value`` pairs joined by ``"; "`` in
  this order: ``network-message-id`` (the org-wide GUID that survives bifurcation and DL
  expansion), ``reference`` (DSN rows: the original Message-Id), ``return-path`` (when it
  differs from ``sender-address``), ``connector-id``, ``original-client-ip``,
  ``original-server-ip``, ``source-context`` (last, free text). Protocol logs:
  ``session-id``, ``sequence-number``, ``connector-id``, ``data``, ``context``.
  Query it with ``detail ~ "network-message-id=<guid>"``.
* ``status`` = the raw ``event-id`` (``SENDEXTERNAL``, ``HAREDIRECTFAIL`` …) or EXO ``Status``;
  ``kind`` comes from :data:`EVENT_KINDS` (unknown ids pass through as ``other``).
* ``program`` = the ``source`` column (``SMTP``, ``STOREDRIVER`` …; ``MSExchange`` when empty),
  ``SmtpSend``/``SmtpReceive`` for protocol logs, ``ExchangeOnline`` for EXO traces.
* ``host`` is the server that logged the row: ``server-hostname`` (else ``client-hostname``),
  except on ``SEND``/``SENDEXTERNAL`` rows, where ``server-*`` is the *destination*: there
  ``host`` = ``client-hostname`` and ``relay_host``/``relay_ip`` = ``server-hostname``/``server-ip``.
* ``reply_text`` = the recipient's entry of ``recipient-status``; ``reply_code``/``dsn``/
  ``next_queue_id``/``next_host`` come from :data:`logtrace.parsing.rules.DERIVATIONS` over it and,
  for ``SEND*`` rows, over ``source-context`` (where Exchange writes the next hop's reply to
  DATA, e.g. ``250 2.6.0 <…> [InternalId=N, Hostname=H] Queued mail for delivery``).
* ``orig_recipient`` = ``related-recipient-address`` (EXPAND: the group; REDIRECT: the old address).
* ``message-subject`` is not copied anywhere (attacker-controlled, personal data, no field).
* **One row, several events**: ``recipient-address``/``recipient-status`` are ``;`` lists; each
  recipient becomes one event, all sharing the row's physical ``line_no`` (in recipient order).
* Naive timestamps: tracking and protocol logs are UTC (``Z``); ``Export-Csv`` writes the
  exporting machine's local time in its culture's format (``--tz`` names that zone); EXO
  times are UTC.

Every physical line yields at least one record: ``#`` lines and CSV header rows are ``other``
/ ``exchange.header``; blank lines ``other``/``exchange.blank``; rows with the wrong field
count, unbalanced quotes (a field spanning lines is not supported), unreadable JSON or an
unparseable stamp are ``unparsed`` with reason ``bad-field`` and a ``detail``. A file with no
header at all is accepted when its rows have exactly a known layout's column count (26/27/30
tracking, 9 protocol; a warning diagnostic says so); otherwise :class:`InputError`.
PowerShell's *formatted* table or list output is refused with a hint to use ``Export-Csv``.

``parse_file``'s ``line_filter`` (an expression over raw lines) is ignored: CSV rows need
their header, and Exchange logs are small (10 MB per file by default), so every event is
returned and the caller's filter on events does the narrowing.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from logtrace.input import reader
from logtrace.errors import Diagnostic, InputError
from logtrace.events import Event, EventKind, Unparsed
from logtrace.parsing.tags import Tag
from logtrace.parsing.rules import Rule, DERIVATIONS, FileContext, ParseOptions, apply_derivations, conform

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

_EVENT_ID = r"^(?P<status>[A-Z][A-Z_]*)$"
_FINAL = ("status", (("DELIVER", frozenset({Tag.FINAL})),))

#: Row shapes, one rule per rule id this parser emits. The "body" a rule matches is the
#: row's shape key: the ``event-id`` of a tracking row, the ``event`` column (plus the reply
#: for ``<`` lines) of a protocol-log row, the raw line of a header. ``kind_by`` over
#: ``status`` is :data:`EVENT_KINDS`; a ``DELIVER`` row is a final delivery (tag).
RULES: tuple[Rule, ...] = (
    Rule("exchange.header", "header", r"^#(?P<detail>[A-Za-z-]+:.*)$", K.OTHER,
         ("#Software: Microsoft Exchange Server", "#Fields: date-time,client-ip,client-hostname", "#Log-type: Message Tracking Log")),
    Rule("exchange.blank", "blank", r"^[ \t]*$", K.OTHER, ("",)),
    Rule("exchange.msgtrk.row", "msgtrk", _EVENT_ID, K.OTHER, ("RECEIVE", "DELIVER", "SENDEXTERNAL", "FAIL", "DEFER", "DSN", "EXPAND"),
         kind_by=("status", tuple(EVENT_KINDS.items())), tags_by=_FINAL),
    Rule("exchange.export.row", "export", _EVENT_ID, K.OTHER, ("RECEIVE", "DELIVER", "SEND", "FAIL"),
         kind_by=("status", tuple(EVENT_KINDS.items())), tags_by=_FINAL),
    Rule("exchange.exo.row", "exo", r"^(?P<status>[A-Za-z]+)$", K.OTHER, ("Delivered", "Failed", "FilteredAsSpam", "Pending", "Deliver"),
         tags_by=("status", (("Deliver", frozenset({Tag.FINAL})), ("DELIVER", frozenset({Tag.FINAL}))))),
    Rule("exchange.smtp.connect", "smtp", r"^\+$", K.CONNECT, ("+",)),
    Rule("exchange.smtp.disconnect", "smtp", r"^-$", K.DISCONNECT, ("-",)),
    Rule("exchange.smtp.data_reply", "smtp", r"^< (?P<reply_text>[2-5]\d\d[ -].*)$", K.OTHER,
         ("< 250 2.6.0 <a@example.com> [InternalId=4617089] Queued mail for delivery",
          "< 451 4.7.0 Temporary server error. Please try again later")),
    Rule("exchange.smtp.line", "smtp", r"^(?P<detail>[<>*].*)$", K.OTHER, ("> EHLO mx.example.com", "* Tls", "<")),
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
_BY_COUNT = {26: ("msgtrk", FIELDS_2010, "2010"), 27: ("msgtrk", FIELDS_2013, "2013"),
             30: ("msgtrk", FIELDS_2016, "2016/2019"), 9: ("smtp", FIELDS_PROTOCOL, "SMTP protocol")}

#: normalised column name (lowercase, alphanumerics only) → canonical tracking-log name.
_ALIASES: dict[str, str] = {
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
}
_CANONICAL = [*FIELDS_2016, "session-id", "sequence-number", "local-endpoint", "remote-endpoint", "event", "data",
              "context", "status", "message-trace-id", "organization"]
for _c in _CANONICAL:
    _ALIASES.setdefault(re.sub(r"[^a-z0-9]", "", _c), _c)

_ISO_ROW = re.compile(r'^"?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d')
_ISO_ROW_COMMA = re.compile(r'^"?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?"?,')
_TABLE = re.compile(r"^(?:EventId\s+\S|-{4,}\s+-{4,}|EventId\s*:|Timestamp\s*:\s*\S)")
_QUOTED = r'(^|,)"(?:[^"]|"")*"'
_SMTP_SPLIT = r";\s*([2-5]\d\d[ -])"  # a ';' that starts another recipient's SMTP status
_REPLY_DERIVS = tuple(d for d in DERIVATIONS if d[0] == "reply_text")
_HOP_DERIVS = tuple(("_hop", p) for s, p in DERIVATIONS if s == "reply_text" and "next_queue_id" in p)

_TRACKING_HINT = "this looks like an Exchange tracking log without its #Fields header; restore the file's header lines"
_TABLE_HINT = ("this is PowerShell's formatted output, which truncates columns; re-run as "
               "Get-MessageTrackingLog ... | Export-Csv -NoTypeInformation -Encoding UTF8 tracking.csv")


def _norm(name: str) -> str:
    n = re.sub(r"[^a-z0-9]", "", name.strip().strip('"').lower())
    return _ALIASES.get(n, name.strip().strip('"').lower())


@dataclass
class _Layout:
    fmt: str  #: msgtrk | export | exo | smtp | generic
    fields: list[str]  #: canonical names, in column order
    program: str | None = None


@dataclass
class _State:
    """What carries from one chunk to the next."""

    layout: _Layout | None = None
    log_type: str = ""
    first_chunk: bool = True
    sessions: Any = None  #: protocol logs: last known per-session values
    seen_header: bool = False


class ExchangeParser:
    """Exchange tracking/protocol logs and exports; see the module docstring."""

    name: ClassVar[str] = "exchange"
    aliases: ClassVar[tuple[str, ...]] = ("msexchange", "exo")
    mta: ClassVar[str] = "exchange"
    rules: ClassVar[tuple[Rule, ...]] = RULES  #: row shapes by log type; CSV columns are read by header
    #: Exchange never writes to syslog: no program is claimed, only its own containers are read
    program_pattern: ClassVar[str | None] = None
    tags: ClassVar[frozenset[str]] = frozenset()

    def claims(self, program: str) -> bool:
        return False
    #: rule ids this parser emits (stable; they appear in goldens)
    rule_ids: ClassVar[tuple[str, ...]] = (
        "exchange.header", "exchange.blank", "exchange.msgtrk.row", "exchange.export.row", "exchange.exo.row",
        "exchange.smtp.connect", "exchange.smtp.disconnect", "exchange.smtp.line", "exchange.smtp.data_reply",
        "exchange.generic.row",
    )

    def __init__(self, options: ParseOptions | None = None) -> None:
        self.options = options or ParseOptions()

    # ------------------------------------------------------------------ sniffing

    def sniff(self, head: Sequence[str]) -> float:
        """1.0 for Exchange headers (also UTF-16: NULs are dropped first), 0.8 for header-less rows."""
        lines = [ln.replace("\x00", "").lstrip("\ufeff\ufffd").strip() for ln in head]
        lines = [ln for ln in lines if ln]
        if not lines:
            return 0.0
        for ln in lines[:12]:
            low = ln.lower()
            if low.startswith(("#software: microsoft exchange", "#log-type: message tracking", "#fields: date-time,")):
                return 1.0
            if low.startswith("#log-type: smtp ") and "protocol log" in low:
                return 1.0
            if low.startswith("#type ") and ("messagetracking" in low or "messagetrace" in low):
                return 1.0
            if _TABLE.match(ln):
                return 1.0  # refused later with a hint, which beats "unknown format"
        first = lines[0]
        nf = [_norm(c) for c in first.split(",")]
        if "event-id" in nf and "date-time" in nf or "message-trace-id" in nf or (
                "date-time" in nf and "sender-address" in nf and "recipient-address" in nf):
            return 1.0
        if first.startswith("{") and '"MessageTraceId"' in first or '"SenderAddress"' in first and first.startswith("{"):
            return 1.0
        if _ISO_ROW_COMMA.match(first) and first.count(",") >= 8:
            return 0.8
        return 0.0

    # ------------------------------------------------------------------ entry points

    def parse_file(self, f: reader.InputFile, ctx: FileContext, diags: list[Diagnostic],
                   line_filter: Any = None) -> Iterator[Any]:
        """Yield event frames (``conform``-ed) for one input. ``line_filter`` is ignored (see module doc)."""
        state = _State()
        for first, data in self._chunks(f, diags):
            yield self._parse_chunk(data, first, ctx, state, diags)

    def parse_file_lines(self, f: reader.InputFile, ctx: FileContext, diags: list[Diagnostic]) -> Iterator[Event | Unparsed]:
        """The line engine's view: the same frames, as records."""
        for df in self.parse_file(f, ctx, diags):
            yield from frame_records(df)

    def parse_bytes(self, data: bytes, path: str = "<bytes>", diags: list[Diagnostic] | None = None) -> Any:
        """Parse a whole file's bytes (tests, API use). Same result as :meth:`parse_file`."""
        import polars as pl

        diags = diags if diags is not None else []
        ctx = FileContext(path, None, self.options)
        text = _decode(data)
        frames = [self._parse_chunk(text, 1, ctx, _State(), diags)]
        return pl.concat(frames, how="vertical_relaxed")

    def parse_line(self, line: str, ctx: FileContext, line_no: int) -> Event | Unparsed:
        """One line without its file's header: header lines are recognised, rows need ``#Fields``."""
        try:
            df = self._parse_chunk(line.encode("utf-8", "replace"), line_no, ctx, _State(), [])
        except InputError as e:
            return Unparsed(reason="no-rule", program=None, detail=e.message, file=ctx.path, line_no=line_no)
        recs = list(frame_records(df))
        return recs[0] if recs else Unparsed(reason="no-rule", file=ctx.path, line_no=line_no)

    # ------------------------------------------------------------------ input

    def _chunks(self, f: reader.InputFile, diags: list[Diagnostic]) -> Iterator[tuple[int, bytes]]:
        head = reader.head(f, 4)
        if any("\x00" in h for h in head):  # UTF-16: read whole (exports are small) and re-encode
            stream = reader.open_binary(f)
            try:
                data = stream.read()
            finally:
                if not f.is_stdin:
                    stream.close()
            yield 1, _decode(data)
            return
        first = True
        for n, data in reader.read_chunks(f, diags):
            if first and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            first = False
            yield n, data

    # ------------------------------------------------------------------ one chunk

    def _parse_chunk(self, data: bytes, first: int, ctx: FileContext, state: _State, diags: list[Diagnostic]) -> Any:
        import polars as pl

        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        lines = reader.chunk_frame(data, first).with_columns(
            pl.col("line").str.strip_suffix("\r"), pl.col("line_no").cast(pl.Int64))
        if state.first_chunk:
            self._refuse_formatted(lines, ctx)
        state.first_chunk = False
        line = pl.col("line")
        lines = lines.with_columns(
            _blank=line.str.strip_chars() == "",
            _hash=line.str.starts_with("#"),
            _json=line.str.strip_chars_start().str.starts_with("{"),
        )
        parts: list[Any] = []
        blank = lines.filter(pl.col("_blank"))
        if blank.height:
            parts.append(blank.select("line_no", kind=pl.lit("other"), rule=pl.lit("exchange.blank")))
        hashes = lines.filter(pl.col("_hash") & ~pl.col("_blank"))
        rest = lines.filter(~pl.col("_hash") & ~pl.col("_blank"))
        jsn = rest.filter(pl.col("_json"))
        rows = rest.filter(~pl.col("_json"))
        if jsn.height:
            parts.append(self._exo_json(jsn))

        # layout-setting lines: "#Fields:" comments and CSV header rows (exports), in line order
        cands = rows.filter(line.str.contains(r'^"?[A-Za-z][A-Za-z_ -]*"?(,|$)'))
        setters: list[tuple[int, _Layout | None, str]] = []
        for ln_no, text in hashes.select("line_no", "line").iter_rows():
            low = text.lower()
            if low.startswith("#log-type:"):
                setters.append((ln_no, None, text.split(":", 1)[1].strip()))
            elif low.startswith("#fields:"):
                setters.append((ln_no, _layout_from_names(_split_header(text.split(":", 1)[1]), "fields"), ""))
        header_rows: list[int] = []
        for ln_no, text in cands.select("line_no", "line").iter_rows():
            lay = _layout_from_names(_split_header(text), "row")
            if lay is not None and lay.fmt != "generic":
                setters.append((ln_no, lay, ""))
                header_rows.append(ln_no)
        setters.sort(key=lambda t: t[0])
        if hashes.height or header_rows:
            state.seen_header = True
            hdr = pl.concat([hashes.select("line_no"), pl.DataFrame({"line_no": header_rows}, schema={"line_no": pl.Int64})])
            parts.append(hdr.select("line_no", kind=pl.lit("other"), rule=pl.lit("exchange.header"), mta=pl.lit(self.mta)))
            rows = rows.filter(~pl.col("line_no").is_in(header_rows))

        # assign each data row the layout in force: segments between setters
        bounds: list[tuple[int, _Layout | None]] = [(first - 1, state.layout)]
        for ln_no, lay, log_type in setters:
            if lay is None:
                state.log_type = log_type
                continue
            if lay.fmt == "smtp":
                lay.program = _protocol_program(state.log_type, ctx.path)
            state.layout = lay
            bounds.append((ln_no, lay))
        for i, (start, lay) in enumerate(bounds):
            end = bounds[i + 1][0] if i + 1 < len(bounds) else None
            seg = rows.filter(pl.col("line_no") > start)
            if end is not None:
                seg = seg.filter(pl.col("line_no") < end)
            if not seg.height:
                continue
            if lay is None:
                lay = self._infer_layout(seg, ctx, state, diags)
                if i == len(bounds) - 1:
                    state.layout = lay
            parts.append(self._rows(seg, lay, ctx, state))
        if not parts:
            from logtrace.parsing.rules import empty_frame

            return empty_frame()
        df = pl.concat([p for p in parts if p.height or len(parts) == 1], how="diagonal_relaxed")
        if "_seq" not in df.columns:
            df = df.with_columns(_seq=pl.lit(0, pl.Int64))
        df = df.with_columns(pl.col("_seq").fill_null(0),
                             mta=pl.when(pl.col("kind") == "unparsed").then(None).otherwise(pl.lit(self.mta)))
        df = df.sort(["line_no", "_seq"], maintain_order=True).drop("_seq")
        return conform(df, ctx.path)

    def _refuse_formatted(self, lines: Any, ctx: FileContext) -> None:
        for text in lines.get_column("line").head(6).to_list():
            t = (text or "").replace("\x00", "").lstrip("\ufeff").strip()
            if not t:
                continue
            if _TABLE.match(t):
                raise InputError(f"{ctx.path}: formatted Get-MessageTrackingLog output (a table or list), not a log",
                                 hint=_TABLE_HINT)
            return

    def _infer_layout(self, seg: Any, ctx: FileContext, state: _State, diags: list[Diagnostic]) -> _Layout:
        counts = _field_counts(seg.get_column("line"))
        iso = seg.get_column("line").str.contains(_ISO_ROW.pattern)
        good = counts.filter(iso)
        if good.len():
            n = int(good.mode().sort()[-1])
            if n in _BY_COUNT:
                fmt, fields, label = _BY_COUNT[n]
                lay = _Layout(fmt, list(fields))
                if fmt == "smtp":
                    lay.program = _protocol_program(state.log_type, ctx.path, seg)
                diags.append(Diagnostic("warning", f"no #Fields header; assumed the Exchange {label} layout ({n} columns)",
                                        path=ctx.path, hint="keep the #Fields header when copying Exchange logs"))
                return lay
        raise InputError(f"{ctx.path}: no #Fields header and no known Exchange column layout", hint=_TRACKING_HINT)

    # ------------------------------------------------------------------ CSV rows

    def _rows(self, seg: Any, lay: _Layout, ctx: FileContext, state: _State) -> Any:
        import polars as pl

        n = len(lay.fields)
        text = pl.col("line")
        seg = seg.with_columns(
            _q=text.str.count_matches('"', literal=True) % 2 == 1,
            _n=_field_count_expr(text),
        )
        bad_q = seg.filter(pl.col("_q"))
        bad_n = seg.filter(~pl.col("_q") & (pl.col("_n") != n))
        ok = seg.filter(~pl.col("_q") & (pl.col("_n") == n))
        parts = []
        if bad_q.height:
            parts.append(bad_q.select("line_no", kind=pl.lit("unparsed"), reason=pl.lit("bad-field"),
                                      detail=pl.lit("unbalanced quotes (a field spanning lines is not supported)")))
        if bad_n.height:
            parts.append(bad_n.select("line_no", kind=pl.lit("unparsed"), reason=pl.lit("bad-field"),
                                      detail=pl.format("expected {} fields (#Fields), got {}", pl.lit(n), pl.col("_n"))))
        if ok.height:
            raw = _read_rows(ok, lay.fields)
            if raw is None:  # polars split some row differently from our count: row by row
                pieces = []
                for ln_no, t in ok.select("line_no", "line").iter_rows():
                    one = _read_rows(pl.DataFrame({"line_no": [ln_no], "line": [t]}), lay.fields)
                    if one is None:
                        parts.append(pl.DataFrame({"line_no": [ln_no], "kind": ["unparsed"], "reason": ["bad-field"],
                                                   "detail": ["CSV row not readable"]}))
                    else:
                        pieces.append(one)
                raw = pl.concat(pieces, how="diagonal_relaxed") if pieces else None
            if raw is not None:
                mapper = {"msgtrk": self._tracking, "export": self._tracking, "exo": self._exo,
                          "smtp": self._protocol}.get(lay.fmt, self._generic)
                parts.append(mapper(raw, lay, ctx, state))
        return pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame({"line_no": []}, schema={"line_no": pl.Int64})

    # ------------------------------------------------------------------ mappers

    def _tracking(self, raw: Any, lay: _Layout, ctx: FileContext, state: _State) -> Any:
        import polars as pl

        raw = _ensure(raw, FIELDS_2016)
        c = _clean
        export = lay.fmt == "export"
        eid = c("event-id").str.to_uppercase()
        is_send = eid.is_in(["SEND", "SENDEXTERNAL"])
        ts = _timestamp(pl.col("date-time"), self.options.tz if export else "UTC", local=export)
        recip = c("recipient-address")
        rstat = c("recipient-status")
        if export:  # Export-Csv flattens arrays to their type name; Format output adds braces
            recip = pl.when(recip == "System.String[]").then(None).otherwise(recip.str.strip_chars("{} "))
            rstat = pl.when(rstat == "System.String[]").then(None).otherwise(rstat.str.strip_chars("{} "))
        split_re = r"\s*[;,]\s*|\s+" if export else r"\s*;\s*"
        df = raw.with_columns(
            _ts=ts,
            _eid=eid,
            _send=is_send,
            _recips=recip.str.replace_all(split_re, "\x1e").str.strip_chars("\x1e").str.split("\x1e"),
            _rstat=rstat,
        )
        df = _align_statuses(df)
        hop = c("source-context").str.extract(r"(?:^|;)\s*([2-5]\d\d[ -][^;]*)", 1)
        bag = _bag([
            ("network-message-id", c("network-message-id")),
            ("reference", c("reference")),
            ("return-path", pl.when(c("return-path") != pl.coalesce(c("sender-address"), pl.lit(""))).then(c("return-path"))),
            ("connector-id", c("connector-id")),
            ("original-client-ip", c("original-client-ip")),
            ("original-server-ip", c("original-server-ip")),
            ("source-context", c("source-context")),
        ])
        kinds = {k: v.value for k, v in EVENT_KINDS.items()}
        out = df.select(
            "line_no",
            "_seq",
            ts=pl.col("_ts"),
            _bad_ts=pl.col("_ts").is_null(),
            host=pl.when(pl.col("_send")).then(pl.coalesce(c("client-hostname"), c("server-hostname")))
            .otherwise(pl.coalesce(c("server-hostname"), c("client-hostname"))),
            program=pl.coalesce(c("source"), pl.lit("MSExchange")),
            kind=pl.col("_eid").replace_strict(kinds, default="other", return_dtype=pl.String),
            rule=pl.lit("exchange.export.row" if export else "exchange.msgtrk.row"),
            queue_id=c("internal-message-id"),
            message_id=_msgid(c("message-id")),
            sender=c("sender-address"),
            recipient=pl.col("_recipient"),
            orig_recipient=c("related-recipient-address"),
            relay_host=pl.when(pl.col("_send")).then(c("server-hostname")),
            relay_ip=pl.when(pl.col("_send")).then(c("server-ip")),
            client_host=pl.when(~pl.col("_send")).then(c("client-hostname")),
            client_ip=pl.when(~pl.col("_send")).then(c("client-ip")),
            reply_text=pl.col("_reply"),
            size=c("total-bytes"),
            nrcpt=c("recipient-count"),
            status=pl.col("_eid"),
            detail=bag,
            _hop=pl.when(pl.col("_send")).then(hop),
            _raw_ts=pl.col("date-time"),
        )
        out = apply_derivations(out, _REPLY_DERIVS)
        out = apply_derivations(out, _HOP_DERIVS)
        return _bad_stamps(out.drop("_hop"))

    def _exo(self, raw: Any, lay: _Layout, ctx: FileContext, state: _State) -> Any:
        import polars as pl

        raw = _ensure(raw, [*FIELDS_2016, "status", "message-trace-id", "organization"])
        c = _clean
        tz = "UTC"  # EXO reports UTC whatever the exporting machine's zone
        # historical search: recipient_status = "addr##Receive, Deliver;addr2##Receive, Fail"
        hist = c("recipient-status").str.contains("##")
        df = raw.with_columns(
            _ts=_timestamp(pl.col("date-time"), tz, local=True),
            _recips=pl.when(hist).then(c("recipient-status")).otherwise(c("recipient-address"))
            .str.replace_all(r"\s*;\s*", "\x1e").str.strip_chars("\x1e").str.split("\x1e"),
        ).with_row_index("_row").explode("_recips").with_columns(
            _seq=pl.int_range(pl.len()).over("_row").cast(pl.Int64))
        rcpt = pl.col("_recips").str.split("##").list.first().str.strip_chars().replace("", None)
        hstat = pl.col("_recips").str.split("##").list.get(1, null_on_oob=True).str.split(",").list.last().str.strip_chars()
        status = pl.when(hist).then(hstat).otherwise(c("status"))
        kinds = {k: v.value for k, v in EXO_STATUS_KINDS.items()}
        out = df.select(
            "line_no",
            "_seq",
            ts=pl.col("_ts"),
            host=c("organization"),
            program=pl.lit("ExchangeOnline"),
            kind=status.str.to_uppercase().str.replace_all(r"\s", "").replace_strict(kinds, default="other", return_dtype=pl.String),
            rule=pl.lit("exchange.exo.row"),
            queue_id=pl.coalesce(c("message-trace-id"), c("network-message-id")),
            message_id=_msgid(c("message-id")),
            sender=c("sender-address"),
            recipient=rcpt,
            relay_ip=c("server-ip"),
            client_ip=pl.coalesce(c("client-ip"), c("original-client-ip")),
            size=c("total-bytes"),
            status=status,
            detail=_bag([("network-message-id", c("network-message-id")), ("connector-id", c("connector-id"))]),
            _raw_ts=pl.col("date-time"),
        )
        return _bad_stamps(out)

    def _exo_json(self, jsn: Any) -> Any:
        import polars as pl

        rows: list[dict[str, Any]] = []
        bad: list[int] = []
        for ln_no, text in jsn.select("line_no", "line").iter_rows():
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                bad.append(ln_no)
                continue
            row = {_norm(k): None if v is None else str(v) for k, v in obj.items() if not isinstance(v, (dict, list))}
            row["line_no"] = ln_no
            rows.append(row)
        parts = []
        if bad:
            parts.append(pl.DataFrame({"line_no": bad}, schema={"line_no": pl.Int64}).with_columns(
                kind=pl.lit("unparsed"), reason=pl.lit("bad-field"), detail=pl.lit("not a JSON object")))
        if rows:
            cols = sorted({k for r in rows for k in r} - {"line_no"})
            raw = pl.DataFrame(rows, schema={"line_no": pl.Int64, **{k: pl.String for k in cols}})
            parts.append(self._exo(raw, _Layout("exo", cols), FileContext("", None, self.options), _State()))
        return pl.concat(parts, how="diagonal_relaxed")

    def _protocol(self, raw: Any, lay: _Layout, ctx: FileContext, state: _State) -> Any:
        import polars as pl

        raw = _ensure(raw, FIELDS_PROTOCOL)
        c = _clean
        send = (lay.program or "") == "SmtpSend"
        ev = c("event")
        data = c("data")
        cmd_dir, reply_dir = (">", "<") if send else ("<", ">")
        df = raw.with_columns(
            _sid=c("session-id"),
            _seqn=c("sequence-number").cast(pl.Int64, strict=False),
            _cmd=pl.when(ev == cmd_dir).then(data.str.extract(r"^([A-Za-z]+)", 1).str.to_uppercase()),
            _from=pl.when(ev == cmd_dir).then(data.str.extract(r"(?i)^MAIL FROM:\s*<([^>]*)>", 1)),
            _to=pl.when(ev == cmd_dir).then(data.str.extract(r"(?i)^RCPT TO:\s*<([^>]*)>", 1)),
            _rid=pl.coalesce(data, pl.lit("")).add(pl.coalesce(c("context"), pl.lit(""))).str.extract(r"RecordId (\d+)", 1),
            _mid=pl.coalesce(data, pl.lit("")).add(pl.coalesce(c("context"), pl.lit(""))).str.extract(r"InternetMessageId <([^>]*)>", 1),
        ).sort(["_sid", "_seqn", "line_no"], nulls_last=True, maintain_order=True)
        fill = ["_cmd", "_from", "_rid", "_mid"]
        df = df.with_columns([pl.col(x).forward_fill().over("_sid").alias(f"{x}_f") for x in fill])
        if state.sessions is not None and state.sessions.height:
            df = df.join(state.sessions, on="_sid", how="left", suffix="_s").with_columns(
                [pl.coalesce(pl.col(f"{x}_f"), pl.col(f"{x}_f_s")).alias(f"{x}_f") for x in fill])
        last = df.filter(pl.col("_sid").is_not_null()).group_by("_sid", maintain_order=True).agg(
            [pl.col(f"{x}_f").last() for x in fill])
        if state.sessions is not None and state.sessions.height:
            last = pl.concat([state.sessions.join(last, on="_sid", how="anti"), last], how="vertical_relaxed")
        state.sessions = last
        code = data.str.extract(r"^([2-5]\d\d)[ -]", 1)
        is_reply = (ev == reply_dir) & code.is_not_null()
        final = is_reply & pl.col("_cmd_f").is_in(["DATA", "BDAT"]) & (code != "354")
        by_code = pl.when(code.str.starts_with("2")).then(pl.lit("deliver" if send else "accept")) \
            .when(code.str.starts_with("4")).then(pl.lit("defer")).otherwise(pl.lit("bounce" if send else "reject"))
        kind = pl.when(final).then(by_code).when(ev == "+").then(pl.lit("connect")).when(ev == "-") \
            .then(pl.lit("disconnect")).otherwise(pl.lit("other"))
        rule = pl.when(final).then(pl.lit("exchange.smtp.data_reply")).when(ev == "+").then(pl.lit("exchange.smtp.connect")) \
            .when(ev == "-").then(pl.lit("exchange.smtp.disconnect")).otherwise(pl.lit("exchange.smtp.line"))
        remote = c("remote-endpoint").str.extract_groups(r"^\[?(?P<ip>[^\]]*?)\]?:(?P<port>\d+)$")
        out = df.select(
            "line_no",
            ts=_timestamp(pl.col("date-time"), "UTC", local=False),
            program=pl.lit(lay.program or "SmtpProtocol"),
            kind=kind,
            rule=rule,
            queue_id=pl.when(final & pl.lit(send)).then(pl.col("_rid_f")),
            message_id=pl.when(final).then(pl.coalesce(pl.col("_mid_f"), data.str.extract(r"^2\d\d [\d.]+ <([^>]*)>", 1))),
            sender=pl.when(final).then(pl.col("_from_f")).otherwise(pl.col("_from")),
            recipient=pl.col("_to"),
            relay_ip=pl.when(pl.lit(send)).then(remote.struct.field("ip")),
            relay_port=pl.when(pl.lit(send)).then(remote.struct.field("port")),
            client_ip=pl.when(pl.lit(not send)).then(remote.struct.field("ip")),
            reply_text=pl.when(is_reply).then(data),
            detail=_bag([("session-id", pl.col("_sid")), ("sequence-number", c("sequence-number")),
                         ("connector-id", c("connector-id")), ("data", pl.when(~is_reply).then(data)),
                         ("context", c("context"))]),
            _raw_ts=pl.col("date-time"),
            _final=final,
        )
        out = apply_derivations(out, _REPLY_DERIVS)
        if not send:  # our own reply: InternalId/Hostname are this server's queue id and name
            out = out.with_columns(
                queue_id=pl.when(pl.col("_final")).then(pl.col("next_queue_id")).otherwise(pl.col("queue_id")),
                host=pl.when(pl.col("_final")).then(pl.col("next_host")),
                next_queue_id=pl.lit(None, pl.String),
                next_host=pl.lit(None, pl.String),
            )
        return _bad_stamps(out.drop("_final"))

    def _generic(self, raw: Any, lay: _Layout, ctx: FileContext, state: _State) -> Any:
        import polars as pl

        ts = _timestamp(pl.col("date-time"), "UTC", local=False) if "date-time" in raw.columns else pl.lit(None)
        return raw.select("line_no", ts=ts, program=pl.lit(lay.program or "MSExchange"), kind=pl.lit("other"),
                          rule=pl.lit("exchange.generic.row"))


# ---------------------------------------------------------------------- helpers


def _decode(data: bytes) -> bytes:
    """Any supported encoding → UTF-8 bytes without BOM."""
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", "replace").encode("utf-8")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", "replace").encode("utf-8")
    sample = data[:4096]
    if sample.count(b"\x00") > len(sample) // 4:  # BOM-less UTF-16: where do the NULs sit?
        odd = sample[1::2].count(b"\x00")
        even = sample[0::2].count(b"\x00")
        return data.decode("utf-16-le" if odd >= even else "utf-16-be", "replace").encode("utf-8")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:]
    return data


def _split_header(text: str) -> list[str]:
    import polars as pl

    try:
        df = pl.read_csv(io.BytesIO(text.strip().encode()), has_header=False, infer_schema=False, encoding="utf8-lossy",
                         truncate_ragged_lines=True)
        return [v or "" for v in df.row(0)] if df.height else []
    except Exception:  # noqa: BLE001 - an unreadable header is "no header"
        return [p.strip() for p in text.split(",")]


_TRACKING_KEYS = frozenset({"internal-message-id", "message-id", "network-message-id", "recipient-address"})


def _layout_from_names(names: list[str], origin: str) -> _Layout | None:
    canon = [_norm(n) for n in names]
    s = set(canon)
    if not names or len(s) != len(canon):
        return None if origin == "row" else _Layout("generic", [f"_c{i}" for i in range(len(names))])
    if "session-id" in s and "event" in s:
        return _Layout("smtp", canon)
    if "event-id" in s or origin == "fields" and s & _TRACKING_KEYS:
        # "#Fields" → tracking log; a CSV header row with EventId → Get-MessageTrackingLog export
        return _Layout("msgtrk" if origin == "fields" else "export", canon)
    if "date-time" in s and ("message-trace-id" in s or ("sender-address" in s and ("recipient-address" in s
                                                                                    or "recipient-status" in s))):
        return _Layout("exo", canon)
    if origin == "fields":
        return _Layout("generic", canon)
    return None


def _protocol_program(log_type: str, path: str, seg: Any = None) -> str:
    low = log_type.lower()
    if "send" in low:
        return "SmtpSend"
    if "receive" in low:
        return "SmtpReceive"
    name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if "send" in name:
        return "SmtpSend"
    if "recv" in name or "receive" in name or "recive" in name:
        return "SmtpReceive"
    return "SmtpProtocol"


def _field_count_expr(text: Any) -> Any:
    import polars as pl

    return text.str.replace_all(_QUOTED, "$1").str.count_matches(",", literal=True).cast(pl.Int64) + 1


def _field_counts(s: Any) -> Any:
    import polars as pl

    return s.to_frame("line").select(_field_count_expr(pl.col("line"))).to_series()


def _read_rows(ok: Any, fields: list[str]) -> Any:
    """CSV lines (all with ``len(fields)`` fields) → string frame with ``line_no``; None if polars disagrees."""
    import polars as pl

    body = ("\n".join(ok.get_column("line").to_list()) + "\n").encode("utf-8")
    names = [f if fields.count(f) == 1 else f"{f}#{i}" for i, f in enumerate(fields)]
    try:
        df = pl.read_csv(io.BytesIO(body), has_header=False, schema={n: pl.String for n in names}, quote_char='"',
                         encoding="utf8-lossy", truncate_ragged_lines=True)
    except Exception:  # noqa: BLE001 - polars refuses odd CSV; the caller retries row by row
        return None
    if df.height != ok.height:
        return None
    return df.with_columns(line_no=ok.get_column("line_no"), _seq=pl.lit(0, pl.Int64))


def _ensure(raw: Any, names: Sequence[str]) -> Any:
    import polars as pl

    missing = [n for n in names if n not in raw.columns]
    return raw.with_columns([pl.lit(None, pl.String).alias(n) for n in missing]) if missing else raw


def _clean(name: str) -> Any:
    import polars as pl

    s = pl.col(name).str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def _msgid(e: Any) -> Any:
    s = e.str.strip_chars().str.strip_prefix("<").str.strip_suffix(">").str.strip_chars()
    import polars as pl

    return pl.when(s == "").then(None).otherwise(s)


def _bag(pairs: list[tuple[str, Any]]) -> Any:
    import polars as pl

    s = pl.concat_str([pl.lit(f"{k}=") + v for k, v in pairs], separator="; ", ignore_nulls=True)
    return pl.when(s == "").then(None).otherwise(s)


_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%:z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S",
                  "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S")


def _timestamp(col: Any, tz: str | None, *, local: bool) -> Any:
    """UTC stamps (``Z``/offset) as is; naive ones in ``tz`` (``local``: else this machine's zone)."""
    import polars as pl

    from logtrace.containers.stamps import local_zone_name

    s = col.str.strip_chars()
    aware = [s.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in _ISO_FORMATS[2:]]
    zulu = [s.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC") for f in _ISO_FORMATS[:2]]
    zone = tz or (local_zone_name() if local else "UTC")
    naive = [s.str.to_datetime(f, strict=False, time_unit="us") for f in _NAIVE_FORMATS]
    naive_utc = pl.coalesce(naive).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    return pl.coalesce([*zulu, *aware, naive_utc])


def _bad_stamps(out: Any) -> Any:
    """Rows whose stamp does not parse become ``unparsed``/``bad-field`` (one record per line)."""
    import polars as pl

    bad = pl.col("ts").is_null()
    cols = [c for c in out.columns if c not in ("_raw_ts", "_bad_ts")]
    good = out.filter(~bad).select(cols)
    worse = out.filter(bad)
    if not worse.height:
        return good
    worse = worse.filter(pl.col("_seq") == 0) if "_seq" in worse.columns else worse
    un = worse.select("line_no", program="program" if "program" in worse.columns else pl.lit(None), kind=pl.lit("unparsed"),
                      reason=pl.lit("bad-field"),
                      detail=pl.format("bad date-time {}", pl.col("_raw_ts").fill_null("(empty)").str.slice(0, 60)))
    return pl.concat([good, un], how="diagonal_relaxed")


def _align_statuses(df: Any) -> Any:
    """Explode recipients; pair each with its ``recipient-status`` entry (``_recipient``, ``_reply``).

    Statuses are split only at a ``;`` that starts another SMTP reply, because one status
    may contain ``;`` itself (``550 5.1.1 RESOLVER.ADR.RecipNotFound; not found``). If the
    counts still differ, the whole status applies to every recipient.
    """
    import polars as pl

    smart = pl.col("_rstat").str.replace_all(_SMTP_SPLIT, "\x1e$1").str.split("\x1e")
    naive = pl.col("_rstat").str.split(";")
    n = pl.col("_recips").list.len()
    chosen = (
        pl.when(pl.col("_rstat").is_null()).then(pl.lit(None, pl.String).repeat_by(n))
        .when(smart.list.len() == n).then(smart)
        .when(naive.list.len() == n).then(naive)
        .otherwise(pl.col("_rstat").repeat_by(n))
    )
    df = df.with_columns(_rlist=chosen).with_row_index("_row")
    df = df.explode(["_recips", "_rlist"]).with_columns(
        _seq=pl.int_range(pl.len()).over("_row").cast(pl.Int64),
        _recipient=pl.col("_recips").str.strip_chars().replace("", None),
        _reply=pl.col("_rlist").str.strip_chars().replace("", None),
    )
    return df


def frame_records(df: Any) -> Iterator[Event | Unparsed]:
    """Conformed event frame → :class:`Event`/:class:`Unparsed` records, in frame order."""
    from logtrace.events import EVENT_FIELDS

    for row in df.iter_rows(named=True):
        if row["kind"] == "unparsed":
            yield Unparsed(reason=row.get("reason") or "no-rule", program=row.get("program"), detail=row.get("detail"),
                           host=row.get("host"), ts=row.get("ts"), file=row.get("file"), line_no=row.get("line_no"))
        else:
            kw = {k: row.get(k) for k in EVENT_FIELDS}
            kw["kind"] = EventKind(kw["kind"])
            kw["mta"] = kw.get("mta") or "exchange"
            yield Event(**kw)


__all__ = ["ExchangeParser", "EVENT_KINDS", "EXO_STATUS_KINDS", "frame_records"]

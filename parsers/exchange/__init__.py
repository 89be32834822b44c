"""Exchange: message tracking CSV, SMTP protocol logs, Agent Logs, Get-MessageTrackingLog and EXO trace exports.

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
* **Agent Logs** (``#Log-type: Agent Log``, ``TransportRoles\\Logs\\Hub\\AgentLog\\AGENT*.LOG``,
  2013–2019; columns ``Timestamp,SessionId,…,Agent,Event,Action,SmtpResponse,Reason,ReasonData,
  Diagnostics,NetworkMsgID,TenantID,Directionality``, found by name, ``Agent``+``Action`` tell it
  from a protocol log): one ``exchange.agent.row`` event per recipient of each transport-agent
  decision, ``kind`` from :data:`AGENT_ACTION_KINDS` (``RejectMessage``/``RejectCommand``/
  ``RejectAuthentication`` → ``reject``, ``QuarantineMessage`` → ``hold``, ``DeleteMessage`` →
  ``discard``, ``RedirectMessage`` → ``redirect``, any other action → ``other``). A CSV header
  row with those columns (an export) reads naive stamps in ``--tz`` like the tracking exports.
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
  ``session-id``, ``sequence-number``, ``connector-id``, ``data``, ``context``. Agent Logs:
  ``network-message-id``, ``session-id`` (the SMTP Receive protocol log's), ``event`` (``OnEndOfData``
  …), ``reason``, ``reason-data`` (e.g. the SCL), ``entered-org-from-ip`` (when it differs from
  ``client_ip``), ``p2-from`` (``P2FromAddresses``, the header From, when it differs from the
  envelope sender); ``Diagnostics`` (free text: ``DV:…;SID:…;SCL:…;PCL:…``), ``TenantID`` and
  ``Directionality`` are not copied.
  Query it with ``detail ~ "network-message-id=<guid>"``. Tracking and export rows carry the
  tag ``link:org-message-id`` (the correlator joins every lifecycle of one message, on any
  service or server, by it; ``follow <guid>`` finds them all); ``RESOLVE``/``REDIRECT`` rows
  carry ``link:recipient-alias`` (verdicts for ``recipient`` are reported for ``orig_recipient``).
* ``status`` = the raw ``event-id`` (``SENDEXTERNAL``, ``HAREDIRECTFAIL`` …), EXO ``Status`` or Agent Log
  ``Action``; ``kind`` comes from :data:`EVENT_KINDS` (unknown ids pass through as ``other``), and
  :data:`EXO_STATUS_KINDS`/:data:`AGENT_ACTION_KINDS`.
* ``program`` = the ``source`` column (``SMTP``, ``STOREDRIVER`` …; ``MSExchange`` when empty),
  ``SmtpSend``/``SmtpReceive`` for protocol logs, ``ExchangeOnline`` for EXO traces, the ``Agent``
  column for Agent Logs (``Content Filter Agent`` …).
* ``host`` is the server that logged the row: ``server-hostname`` (else ``client-hostname``),
  except on ``SEND``/``SENDEXTERNAL`` rows, where ``server-*`` is the *destination*: there
  ``host`` = ``client-hostname`` and ``relay_host``/``relay_ip`` = ``server-hostname``/``server-ip``.
  Agent Log rows name no server: ``host`` is null; ``client_ip`` = ``RemoteEndpoint`` without its
  port, else ``EnteredOrgFromIP``; ``sender`` = ``P1FromAddress``; ``nrcpt`` = ``NumRecipients``;
  ``message_id`` = ``MessageId`` without ``<>``; no ``queue_id`` (the log has none).
* ``reply_text`` = the recipient's entry of ``recipient-status``; ``reply_code``/``dsn``/
  ``next_queue_id``/``next_host`` come from :data:`logtrace.parsing.rules.DERIVATIONS` over it and,
  for ``SEND*`` rows, over ``source-context`` (where Exchange writes the next hop's reply to
  DATA, e.g. ``250 2.6.0 <…> [InternalId=N, Hostname=H] Queued mail for delivery``). Agent Logs:
  ``reply_text`` = ``SmtpResponse``, the same for every recipient of the row (never split at ``;``).
* ``orig_recipient`` = ``related-recipient-address`` (EXPAND: the group; REDIRECT: the old address).
* ``message-subject`` is not copied anywhere (attacker-controlled, personal data, no field).
* **One row, several events**: ``recipient-address``/``recipient-status`` (Agent Log: ``Recipients``)
  are ``;`` lists; each recipient becomes one event, all sharing the row's physical ``line_no`` (in
  recipient order).
* Naive timestamps: tracking, protocol and agent logs are UTC (``Z``); ``Export-Csv`` writes the
  exporting machine's local time in its culture's format (``--tz`` names that zone); EXO
  times are UTC.

Every physical line yields at least one record: ``#`` lines and CSV header rows are ``other``
/ ``exchange.header``; blank lines ``other``/``exchange.blank``; rows with the wrong field
count, unbalanced quotes (a field spanning lines is not supported), unreadable JSON or an
unparseable stamp are ``unparsed`` with reason ``bad-field`` and a ``detail``. A file with no
header at all is accepted when its rows have exactly a known layout's column count (26/27/30
tracking, 9 protocol, 20 Agent Log when every such row also has its shape: a numeric
``NumRecipients``, an ``Agent`` and a one-word ``Action``; a warning diagnostic says so);
otherwise :class:`InputError`. ``#Log-type: Agent Log`` makes a file an Agent Log whatever
its ``#Fields``.
PowerShell's *formatted* table or list output is refused with a hint to use ``Export-Csv``.

``parse_file``'s ``line_filter`` (an expression over raw lines) is ignored: CSV rows need
their header, and Exchange logs are small (10 MB per file by default), so every event is
returned and the caller's filter on events does the narrowing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from logtrace.input import reader
from logtrace.errors import Diagnostic, InputError
from logtrace.events import Event, Unparsed
from logtrace.parsing.rules import Rule, FileContext, ParseOptions, conform
from logtrace_parsers.exchange.agent import agent_frame
from logtrace_parsers.exchange.columns import field_count_expr, frame_records, read_rows
from logtrace_parsers.exchange.exo import exo_frame, exo_json_frame
from logtrace_parsers.exchange.generic import generic_frame
from logtrace_parsers.exchange.layout import (
    Layout, infer_layout, is_agent_log, layout_from_names, protocol_program, refuse_formatted, split_header,
)
from logtrace_parsers.exchange.smtp_protocol import protocol_frame
from logtrace_parsers.exchange.table import (
    AGENT_ACTION_KINDS, EVENT_KINDS, EXO_STATUS_KINDS, FIELDS_2010, FIELDS_2013, FIELDS_2016, FIELDS_PROTOCOL, FIELDS_AGENT,
    FORMATTED_OUTPUT, ISO_ROW_COMMA, RULES,
    norm,
)
from logtrace_parsers.exchange.tracking import tracking_frame

__all__ = ["ExchangeParser", "EVENT_KINDS", "EXO_STATUS_KINDS", "AGENT_ACTION_KINDS", "frame_records",
           "RULES", "FIELDS_2010", "FIELDS_2013", "FIELDS_2016", "FIELDS_PROTOCOL", "FIELDS_AGENT"]


@dataclass
class _State:
    """What carries from one chunk to the next."""

    layout: Layout | None = None
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
    #: rule ids this parser emits (stable; they appear in goldens)
    rule_ids: ClassVar[tuple[str, ...]] = (
        "exchange.header", "exchange.blank", "exchange.msgtrk.row", "exchange.export.row", "exchange.exo.row",
        "exchange.smtp.connect", "exchange.smtp.disconnect", "exchange.smtp.line", "exchange.smtp.data_reply",
        "exchange.agent.row", "exchange.generic.row",
    )

    def claims(self, program: str) -> bool:
        return False

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
            if (low.startswith("#log-type: smtp ") and "protocol log" in low) or low.startswith("#log-type: agent log"):
                return 1.0
            if low.startswith("#type ") and ("messagetracking" in low or "messagetrace" in low):
                return 1.0
            if FORMATTED_OUTPUT.match(ln):
                return 1.0  # refused later with a hint, which beats "unknown format"
        first = lines[0]
        nf = [norm(c) for c in first.split(",")]
        if "event-id" in nf and "date-time" in nf or "message-trace-id" in nf or (
                "date-time" in nf and "sender-address" in nf and "recipient-address" in nf):
            return 1.0
        if first.startswith("{") and '"MessageTraceId"' in first or '"SenderAddress"' in first and first.startswith("{"):
            return 1.0
        if ISO_ROW_COMMA.match(first) and first.count(",") >= 8:
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
            refuse_formatted(lines, ctx.path)
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
            parts.append(exo_json_frame(jsn))

        # layout-setting lines: "#Fields:" comments and CSV header rows (exports), in line order
        cands = rows.filter(line.str.contains(r'^"?[A-Za-z][A-Za-z_ -]*"?(,|$)'))
        setters: list[tuple[int, Layout | None, str]] = []
        for ln_no, text in hashes.select("line_no", "line").iter_rows():
            low = text.lower()
            if low.startswith("#log-type:"):
                setters.append((ln_no, None, text.split(":", 1)[1].strip()))
            elif low.startswith("#fields:"):
                setters.append((ln_no, layout_from_names(split_header(text.split(":", 1)[1]), "fields"), ""))
        header_rows: list[int] = []
        for ln_no, text in cands.select("line_no", "line").iter_rows():
            lay = layout_from_names(split_header(text), "row")
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
        bounds: list[tuple[int, Layout | None]] = [(first - 1, state.layout)]
        for ln_no, lay, log_type in setters:
            if lay is None:
                state.log_type = log_type
                continue
            if is_agent_log(state.log_type) and lay.fmt in ("smtp", "generic"):
                lay = Layout("agent", lay.fields)  # the log type wins over a partial or renamed #Fields
            if lay.fmt == "smtp":
                lay.program = protocol_program(state.log_type, ctx.path)
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
                lay = infer_layout(seg, ctx.path, state.log_type, diags)
                if i == len(bounds) - 1:
                    state.layout = lay
            parts.append(self._rows(seg, lay, state))
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


    # ------------------------------------------------------------------ CSV rows

    def _rows(self, seg: Any, lay: Layout, state: _State) -> Any:
        """Data rows of one layout: bad quotes/field counts are ``unparsed``; the rest go to the log type's module."""
        import polars as pl

        n = len(lay.fields)
        text = pl.col("line")
        seg = seg.with_columns(
            _q=text.str.count_matches('"', literal=True) % 2 == 1,
            _n=field_count_expr(text),
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
            raw = read_rows(ok, lay.fields)
            if raw is None:  # polars split some row differently from our count: row by row
                pieces = []
                for ln_no, t in ok.select("line_no", "line").iter_rows():
                    one = read_rows(pl.DataFrame({"line_no": [ln_no], "line": [t]}), lay.fields)
                    if one is None:
                        parts.append(pl.DataFrame({"line_no": [ln_no], "kind": ["unparsed"], "reason": ["bad-field"],
                                                   "detail": ["CSV row not readable"]}))
                    else:
                        pieces.append(one)
                raw = pl.concat(pieces, how="diagonal_relaxed") if pieces else None
            if raw is not None:
                parts.append(self._frame(raw, lay, state))
        return pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame({"line_no": []}, schema={"line_no": pl.Int64})

    def _frame(self, raw: Any, lay: Layout, state: _State) -> Any:
        """Readable rows (a string frame by canonical column name) → events, by the layout's log type."""
        if lay.fmt in ("msgtrk", "export"):
            return tracking_frame(raw, export=lay.fmt == "export", tz=self.options.tz)
        if lay.fmt == "exo":
            return exo_frame(raw)
        if lay.fmt in ("agent", "agent-export"):
            return agent_frame(raw, export=lay.fmt == "agent-export", tz=self.options.tz)
        if lay.fmt == "smtp":
            out, state.sessions = protocol_frame(raw, lay.program, state.sessions)
            return out
        return generic_frame(raw, lay.program)


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

"""Rules as data, and :class:`RuleParser`, which runs a rule table in two engines.

A parser is mostly a table of :class:`Rule` objects (each with real sample lines). The same
patterns drive

* the **line engine** (:meth:`RuleParser.parse_line`, Python ``re``), the reference used by
  ``follow`` on the few lines it needs, and
* the **frame engine** (:meth:`RuleParser.parse_frame`, polars), used for bulk work: it
  partitions lines by program and peels rows off rule by rule, so every row is extracted
  by exactly one rule and no Python runs per line.

Both engines apply the same :data:`DERIVATIONS` (regexes over captured raw fields) and the
same casts, so they agree by construction; ``tests/test_golden.py`` holds them to it.

Patterns use the portable dialect (named groups, no look-around or back-references);
:func:`check_portable` compiles every pattern in both engines. Group names are event field
names, or one of the raw helper names (``relay``, ``client``, ``delays``) that derivations
split into fields.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar

from logtrace.containers.stamps import parse_3339, zone


from logtrace.events import EVENT_FIELDS, Event, EventKind, Unparsed, event_schema
from logtrace.parsing.classify import classify_rows
from logtrace.parsing.cuts import Cut, split_by_guard
from logtrace.parsing.converters import addresses, addresses_expr, seconds, seconds_expr
from logtrace.parsing.frames import apply_derivations, conform  # noqa: F401 - conform re-exported for containers
from logtrace.parsing.protocol import FileContext, ParseOptions  # noqa: F401 - re-exported for parsers


@dataclass(frozen=True)
class Rule:
    """One line shape. ``id`` is ``<mta>.<program>.<what>`` and stable forever."""

    id: str
    program: str  #: daemon key (``smtp``) or ``*`` for rules tried on every program first
    pattern: str  #: anchored, portable regex over the message body
    kind: EventKind
    samples: tuple[str, ...]  #: real message bodies this rule must match (and no sibling)
    kind_by: tuple[str, tuple[tuple[str, EventKind], ...]] | None = None  #: (field, value→kind) overrides
    set: tuple[tuple[str, str], ...] = ()  #: constant fields, e.g. (("status", "expired"),)
    tags: frozenset[str] = frozenset()  #: facts for the correlator and reports (:mod:`logtrace.parsing.tags`)
    tags_by: tuple[str, tuple[tuple[str, frozenset[str]], ...]] | None = None  #: (field, value→tags) additions
    #: optional split-based fast cut(s) beside ``pattern`` (:mod:`logtrace.parsing.cuts`), tried in order; rows
    #: every cut refuses use the pattern
    cut: Cut | tuple[Cut, ...] | None = None

    @property
    def cuts(self) -> tuple[Cut, ...]:
        """The rule's cuts as a tuple (empty without one)."""
        return () if self.cut is None else (self.cut,) if isinstance(self.cut, Cut) else tuple(self.cut)


@dataclass(frozen=True)
class Narrow:
    """What a batch consumer needs from the frame engine: rows of the rules ``keep`` accepts,
    with the fields in ``columns`` (None: all). Rows of other rules are classified (for line
    accounting) but not extracted: they come out with ``line_no, ts, host, program, kind, rule`` only."""

    keep: Any  #: Rule → bool
    columns: frozenset[str] | None = None


#: Raw helper groups split into event fields, in order; a target is only filled when empty.
#: A group named ``field__N`` fills ``field`` (regexes forbid repeated group names, and one
#: alternation is one pass instead of several).
DERIVATIONS: tuple[tuple[str, str], ...] = (
    ("relay", r"^(?P<relay_host>[^\[\],\s]+)(?:\[(?P<relay_ip>[^\]]*)\](?::(?P<relay_port>\d+))?)?"),
    ("client", r"^(?P<client_host>[^\[\],\s]+)(?:\[(?P<client_ip>[^\]]*)\](?::\d+)?)?"),
    ("delays", r"^(?P<delay_before_qmgr_s>[\d.]+)/(?P<delay_in_qmgr_s>[\d.]+)/(?P<delay_conn_s>[\d.]+)/(?P<delay_xmit_s>[\d.]+)"),
    ("reply_text", r"^(?P<reply_code>[2-5]\d\d)[ -](?:(?P<dsn>[2-5]\.\d{1,3}\.\d{1,3})\b)?"),
    ("reply_text", r" said: (?P<reply_code>[2-5]\d\d)[ -](?:(?P<dsn>[2-5]\.\d{1,3}\.\d{1,3})\b)?"),
    ("reply_text", r"^(?P<dsn>[245]\.\d{1,3}\.\d{1,3}) "),
    ("reply_text", r"(?:queued as (?P<next_queue_id>[0-9A-Za-z]{5,})"
                   r"|(?:^|[\s(])(?:OK )?id=(?P<next_queue_id__2>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4})\b"
                   r"|\[InternalId=(?P<next_queue_id__3>\d+)(?:, Hostname=(?P<next_host>[^\]\s,]+))?"
                   r"|^250 2\.0\.0 <[^>]*> (?P<next_queue_id__4>[0-9A-Za-z+/]{8,}(?::R\d+)?) Saved$)"),
    ("reply_text", r"^forwarded as (?P<next_queue_id>[0-9A-Za-z]+)"),
    ("detail", r"^.*; from=<(?P<sender>[^>]*)>(?: to=<(?P<recipient>[^>]*)>)?"),
    ("detail", r"^[A-Z][A-Z-]* from [^\s:]*(?:\[[^\]]*\])?(?::\d+)?: (?P<dsn>[245]\.\d{1,3}\.\d{1,3}) "),
)

#: split-based fast cuts beside derivation patterns (keyed by pattern): the common ``host[ip]:port``,
#: bare ``host`` and ``a/b/c/d`` shapes; every other value goes through the pattern
DERIVATION_CUTS: dict[str, tuple[Cut, ...]] = {
    DERIVATIONS[0][1]: (Cut(r"^[^\[\],\s]+\[[^\]]*\]:\d+$", (("split", "relay", "[", ("relay_host", "_r")),
                                                            ("split", "_r", "]:", ("relay_ip", "relay_port"))), src="relay"),
                        Cut(r"^[^\[\],\s]+$", (("strip", "relay", "relay_host", "", ""),), src="relay")),
    DERIVATIONS[1][1]: (Cut(r"^[^\[\],\s]+\[[^\]]*\](?::\d+)?$", (("split", "client", "[", ("client_host", "_r")),
                                                                ("split", "_r", "]", ("client_ip", "_p"))), src="client"),),
    DERIVATIONS[2][1]: (Cut(r"^[\d.]+/[\d.]+/[\d.]+/[\d.]+$",
                            (("split", "delays", "/", ("delay_before_qmgr_s", "delay_in_qmgr_s", "delay_conn_s", "delay_xmit_s")),),
                            src="delays"),),
    #: the downstream queue id in a reply: Exim's ``250 OK id=…``, Exchange's ``[InternalId=…, Hostname=…]``,
    #: Postfix's ``… Ok: queued as …``; each guard shuts out an earlier place any alternative could match at
    DERIVATIONS[6][1]: (Cut(r"^250 OK id=[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}$",
                            (("strip", "reply_text", "next_queue_id", "250 OK id=", ""),), src="reply_text"),
                        Cut(r"^[2-5]\d\d [2-5]\.\d{1,3}\.\d{1,3} <[^<>\s(=]*> \[InternalId=\d+, Hostname=[^\]\s,]+\]",
                            (("split", "reply_text", "[InternalId=", ("_a", "_b")),
                             ("split", "_b", ", Hostname=", ("next_queue_id", "_c")),
                             ("split", "_c", "]", ("next_host", "_d"))), src="reply_text"),
                        Cut(r"^[2-5]\d\d [2-5]\.\d{1,3}\.\d{1,3} Ok: queued as [0-9A-Za-z]{5,}$",
                            (("split", "reply_text", "queued as ", ("_a", "next_queue_id")),), src="reply_text")),
}

_INT_FIELDS = frozenset({"pid", "relay_port", "reply_code", "size", "nrcpt"})
_FLOAT_FIELDS = frozenset(f for f in EVENT_FIELDS if f.startswith("delay"))


def check_portable(pattern: str) -> None:
    """Raise ValueError unless ``pattern`` compiles in both ``re`` and polars (Rust regex)."""
    import polars as pl

    re.compile(pattern)
    try:
        pl.DataFrame({"s": ["x"]}).select(pl.col("s").str.contains(pattern))
    except Exception as e:  # polars raises ComputeError for unsupported syntax
        raise ValueError(f"pattern not portable to polars: {e}") from None


def cast_field(name: str, v: str | None) -> Any:
    """A captured string → the field's type (None when it does not convert)."""
    if v is None:
        return None
    if name in _INT_FIELDS:
        try:
            return int(v)
        except ValueError:
            return None
    if name in _FLOAT_FIELDS:
        try:
            return float(v)
        except ValueError:
            return None
    return v


class RuleParser:
    """A dialect driven by a rule table: data plus the generic executors below.

    Subclasses declare class attributes only (name, rules, program_pattern …). The two
    executors — :meth:`body_event` (one body, ``re``) and :meth:`body_parts` (a partition of
    a chunk, polars) — read the same table: rules, :data:`DERIVATIONS`, ``conversions`` and
    ``body_stamp``. ``parse_frame``/``parse_line`` are the syslog container (a one-dialect
    :class:`~logtrace.parsing.router.Router`); a dialect with a file format of its own
    (Exim's mainlog) overrides those two as its container, never the executors.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    mta: ClassVar[str]
    rules: ClassVar[tuple[Rule, ...]]
    #: tags every rule of this dialect carries (:mod:`logtrace.parsing.tags`)
    tags: ClassVar[frozenset[str]] = frozenset()
    #: regex over the envelope's program; group ``daemon`` selects the rule list
    program_pattern: ClassVar[str]
    derivations: ClassVar[tuple[tuple[str, str], ...]] = DERIVATIONS
    #: programs of this MTA's family; one that matches but names no known daemon is unparsed, not "other"
    family_pattern: ClassVar[str | None] = None
    #: daemons that share another daemon's table (``lmtp`` → ``smtp``)
    daemon_aliases: ClassVar[dict[str, str]] = {}
    #: (source group, target field, converter) applied after derivations, first non-null wins
    #: per target; converters: :data:`CONVERTERS`
    conversions: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    #: optional portable regex at the start of a body: the program's own stamp and pid inside
    #: a syslog line (groups ``bts``, ``btz``, ``bpid``); stripped, its stamp wins over syslog's
    body_stamp: ClassVar[str | None] = None
    #: split-based cuts beside derivation patterns, keyed by pattern (:data:`DERIVATION_CUTS`)
    derivation_cuts: ClassVar[dict[str, tuple[Cut, ...]]] = DERIVATION_CUTS
    #: daemon whose unmatched rows are unparsed with reason ``no-envelope`` (not ``no-rule``)
    unstamped_daemon: ClassVar[str | None] = None

    def __init__(self, options: ParseOptions | None = None) -> None:
        self.options = options or ParseOptions()
        self._tz = zone(self.options.tz)

    # ---------------------------------------------------------------- metadata

    def sniff(self, head: Sequence[str]) -> float:
        """0.0–1.0: share of syslog lines in ``head`` whose program this dialect claims."""
        from logtrace.containers.syslog import split_line

        n = hits = 0
        for ln in head:
            if not ln.strip():
                continue
            n += 1
            g = split_line(ln)
            if g and self.claims(g.get("program") or ""):
                hits += 1
        if not n or not hits:
            return 0.0
        return min(1.0, 0.5 + hits / n)

    def claims(self, program: str) -> bool:
        """Whether this dialect parses syslog program ``program`` (its family included)."""
        return self.daemon_of(program) is not None or bool(self.family_pattern and re.match(self.family_pattern, program))

    @cached_property
    def _prog_re(self) -> re.Pattern[str]:
        return re.compile(self.program_pattern)

    @cached_property
    def _compiled(self) -> RuleTable:
        return compile_table(self.rules)

    @cached_property
    def _derivs(self) -> list[tuple[str, re.Pattern[str]]]:
        return [(src, re.compile(p)) for src, p in self.derivations]

    @cached_property
    def _stamp_re(self) -> re.Pattern[str] | None:
        return re.compile(self.body_stamp) if self.body_stamp else None

    def rules_for(self, daemon: str) -> list[Rule]:
        return [r for r, _ in self._compiled.for_daemon(daemon)]

    def daemon_of(self, program: str) -> str | None:
        m = self._prog_re.match(program)
        if not m:
            return None
        d = m.group("daemon")
        return self.daemon_aliases.get(d, d)

    @cached_property
    def _router(self) -> Any:
        from logtrace.parsing.router import Router

        return Router([self], self.options)

    def use_router(self, router: Any) -> None:
        """The router a native container hands other programs' syslog lines to (every dialect)."""
        self.__dict__["_router"] = router

    # ---------------------------------------------------------------- syslog container (one dialect)

    def parse_line(self, line: str, ctx: FileContext, line_no: int) -> Event | Unparsed:
        return with_rust_whitespace(self.read_line, line, ctx, line_no)

    def read_line(self, line: str, ctx: FileContext, line_no: int) -> Event | Unparsed:
        """The container for one line: syslog by default; a native container overrides this."""
        return self._router.read_line(line, ctx, line_no)

    def parse_frame(self, lines: Any, ctx: FileContext, narrow: Narrow | None = None) -> Any:
        """DataFrame ``line_no, line`` → DataFrame with :func:`event_schema` columns (plus ``file``)."""
        return self._router.parse_frame(lines, ctx, narrow)

    # ---------------------------------------------------------------- line executor

    def classify_body(self, daemon: str, body: str) -> tuple[Rule, dict[str, str | None]] | None:
        return classify(self._compiled, daemon, body)

    def body_event(self, daemon: str | None, body: str, *, ts: datetime | None, host: str | None, program: str | None,
                   pid: int | None, ctx: FileContext, line_no: int) -> Event | Unparsed:
        """One body of a claimed program → its event (``daemon`` None: family, no known daemon)."""
        if daemon is not None and self._stamp_re is not None:
            m = self._stamp_re.match(body)
            if m and m.end():
                if m.group("bts"):
                    tz = zone(self.options.host_tz[host]) if host in self.options.host_tz else self._tz
                    ts = parse_3339(m.group("bts") + (m.group("btz") or ""), tz) or ts
                if pid is None and m.group("bpid"):
                    pid = cast_field("pid", m.group("bpid"))
                body = body[m.end():]
        hit = self.classify_body(daemon, body) if daemon is not None else None
        if hit is None:
            return Unparsed(reason="no-rule", program=program, host=host, pid=pid, ts=ts, file=ctx.path, line_no=line_no,
                            detail=body[:200])
        return self.make_event(hit[0], hit[1], ts=ts, host=host, program=program, pid=pid, ctx=ctx, line_no=line_no)

    def make_event(self, rule: Rule, groups: dict[str, str | None], *, ts: datetime | None, host: str | None,
                   program: str | None, pid: int | None, ctx: FileContext, line_no: int) -> Event:
        """Line form of one rule hit: constants, derivations, kind mapping, conversions, casts."""
        fields = {k: v for k, v in groups.items() if v is not None}
        for k, v in rule.set:
            fields.setdefault(k, v)
        for src, rx in self._derivs:
            sv = fields.get(src)
            if sv is None:
                continue
            dm = rx.search(sv)
            if dm:
                for k, v in dm.groupdict().items():
                    k = k.split("__", 1)[0]
                    if v is not None and fields.get(k) is None:
                        fields[k] = v
        kind = rule.kind
        if rule.kind_by:
            fname, mapping = rule.kind_by
            kind = dict(mapping).get(fields.get(fname) or "", kind)
        kw = {k: cast_field(k, v) for k, v in fields.items() if k in _EVENT_FIELD_SET and k not in _ENV_FIELDS}
        converted: dict[str, Any] = {}
        for src, target, conv in self.conversions:
            if converted.get(target) is None:
                converted[target] = CONVERTERS[conv][0](fields.get(src))
        kw.update({k: v for k, v in converted.items() if v is not None})
        return Event(ts=ts, host=host, mta=self.mta, program=program, pid=pid, kind=kind, rule=rule.id,
                     file=ctx.path, line_no=line_no, **kw)

    # ---------------------------------------------------------------- frame executor

    def body_parts(self, env: Any, base: list[str], narrow: Narrow | None = None) -> list[Any]:
        """A chunk's rows of programs this dialect claims (columns ``base``, ``body``,
        ``_daemon``) → event frames: family rows without a daemon are unparsed, the rest go
        through :meth:`rule_parts` after the optional ``body_stamp`` is taken off."""
        import polars as pl

        parts: list[Any] = []
        fam = env.filter(pl.col("_daemon").is_null())
        if fam.height:
            parts.append(fam.select(*base, kind=pl.lit("unparsed"), reason=pl.lit("no-rule"), detail=pl.col("body").str.slice(0, 200)))
            env = env.filter(pl.col("_daemon").is_not_null())
        if self.body_stamp and env.height:
            env = self._strip_stamp(env)
        if env.height:
            parts += self.rule_parts(env, base, narrow)
        return parts

    def _strip_stamp(self, env: Any) -> Any:
        import polars as pl

        from logtrace.containers.stamps import YearInference, frame_timestamps

        whole = "^(?P<bs_all>" + self.body_stamp[1:] + ")"  # type: ignore[index]  # body_stamp starts with ^
        g = env.get_column("body").str.extract_groups(whole)
        env = env.with_columns(g.alias("_bs")).unnest("_bs")
        has = pl.col("bs_all").str.len_bytes() > 0
        if not env.select(has.any()).item():
            return env.drop("bs_all", "bts", "btz", "bpid")
        stamp = env.select("host", ts3339=pl.concat_str([pl.col("bts"), pl.col("btz").fill_null("")]),
                           ts3164=pl.lit(None, pl.String), _year=pl.lit(0, pl.Int32))
        own = frame_timestamps(stamp, self.options.tz or local_zone(), YearInference(None, None), self.options.host_tz).get_column("ts")
        return env.with_columns(  # the stamp is ASCII: its length in characters is its length in bytes
            ts=pl.coalesce(own, pl.col("ts")),
            pid=pl.coalesce(pl.col("pid"), pl.col("bpid")),
            body=pl.when(has).then(pl.col("body").str.slice(pl.col("bs_all").str.len_chars())).otherwise(pl.col("body")),
        ).drop("bs_all", "bts", "btz", "bpid")

    def rule_parts(self, env: Any, base: list[str], narrow: Narrow | None = None) -> list[Any]:
        """Frame form of first-match-wins, per daemon: every row is extracted by exactly one rule
        (rows are peeled off rule by rule), derivations run on each rule's own dense rows. A
        rule's :class:`~logtrace.parsing.cuts.Cut` takes the rows its guard accepts; with
        ``narrow``, rows of rules it does not keep are only classified."""
        import polars as pl

        parts: list[Any] = []
        for (daemon,), part in env.partition_by("_daemon", as_dict=True, maintain_order=True).items():
            rules = self.rules_for(daemon)
            part = part.select(*base, "body")
            which = classify_rows(part.get_column("body"), rules)
            by_rule = part.with_columns(which).partition_by("_r", as_dict=True, include_key=False)
            skipped: dict[int, Any] = {}
            for (k,), rows in sorted(by_rule.items()):
                if k < 0:
                    continue
                rule = rules[k]
                if narrow is not None and not narrow.keep(rule):
                    skipped[k] = rows
                    continue
                groups = self._groups(rule, rows)
                if len(groups) > 1:  # the cut's rows and the pattern's: one derivation pass over both
                    groups = [pl.concat(groups, how="diagonal_relaxed")]
                parts += [self._extract(rule, ex, narrow) for ex in groups]
            if skipped:  # classified only: kind and rule for the line accounting, stamp and host for the period
                ks = sorted(skipped)
                rows = pl.concat([skipped[k].select("line_no", "ts", "host", "program", _r=pl.lit(k, pl.Int32)) for k in ks])
                parts.append(rows.select("line_no", "ts", "host", "program",
                                         kind=pl.col("_r").replace_strict({k: rules[k].kind.value for k in ks}, return_dtype=pl.String),
                                         rule=pl.col("_r").replace_strict({k: rules[k].id for k in ks}, return_dtype=pl.String)))
            remaining = by_rule.get((-1,))
            if remaining is not None and remaining.height:
                if daemon == self.unstamped_daemon:
                    parts.append(remaining.select("line_no", kind=pl.lit("unparsed"), reason=pl.lit("no-envelope")))
                else:
                    parts.append(remaining.select(*base, kind=pl.lit("unparsed"), reason=pl.lit("no-rule"),
                                                  detail=pl.col("body").str.slice(0, 200)))
        return parts

    @staticmethod
    def _groups(rule: Rule, hit: Any) -> list[Any]:
        """A rule's hit rows with its groups as columns: the cut's rows, then the pattern's."""
        import polars as pl

        out = []
        for cut in rule.cuts:
            if not hit.height:
                break
            fast, hit = split_by_guard(hit, cut)
            if fast is not None:
                out.append(fast.drop("body"))
        if hit.height:
            out.append(hit.with_columns(pl.col("body").str.extract_groups(rule.pattern).alias("_g")).unnest("_g").drop("body"))
        return out

    def _extract(self, rule: Rule, ex: Any, narrow: Narrow | None) -> Any:
        """Constants, kind mapping, derivations and conversions on one rule's extracted rows."""
        import polars as pl

        ex = ex.with_columns(kind=pl.lit(rule.kind.value), rule=pl.lit(rule.id), mta=pl.lit(self.mta))
        if rule.set:
            ex = ex.with_columns(**{k: pl.coalesce(pl.col(k), pl.lit(v)) if k in ex.columns else pl.lit(v) for k, v in rule.set})
        if rule.kind_by:
            fname, mapping = rule.kind_by
            ex = ex.with_columns(kind=pl.col(fname).replace_strict({k: v.value for k, v in mapping}, default=pl.col("kind"),
                                                                   return_dtype=pl.String))
        want = narrow.columns if narrow is not None else None
        ex = apply_derivations(ex, self._derivations_for(tuple(ex.columns)), want, self.derivation_cuts)
        ex = apply_conversions(ex, self.conversions)
        if want is not None:
            ex = ex.select([c for c in ex.columns if c in want or c in _ENV_FIELDS])
        return ex

    @functools.lru_cache(maxsize=256)  # noqa: B019 - keyed by column sets, a handful per parser
    def _derivations_for(self, columns: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        """The derivations whose source a rule's frame has, following chains (a derived
        ``reply_text`` feeds the ``dsn`` derivation): each ``with_columns`` costs ~0.4 ms."""
        have = set(columns)
        out = []
        for src, pattern in self.derivations:
            if src in have:
                out.append((src, pattern))
                have |= {g.split("__", 1)[0] for g in re.compile(pattern).groupindex}
        return tuple(out)


#: U+001C–U+001F: whitespace to Python's ``re`` (``\s``), not to Rust's regex (polars). The line
#: engine hides them behind private-use characters while matching, so both engines split and
#: match the same way, and shows them again in the record it returns.
SEPARATORS = "\x1c\x1d\x1e\x1f"
_HIDE = str.maketrans({c: chr(0xE000 + ord(c)) for c in SEPARATORS})
_SHOW = str.maketrans({chr(0xE000 + ord(c)): c for c in SEPARATORS})


def with_rust_whitespace(parse: Any, line: str, *args: Any) -> Any:
    """``parse(line, *args)`` with U+001C–U+001F matched as Rust's regex does (not whitespace)."""
    if not any(c in line for c in SEPARATORS):
        return parse(line, *args)
    import dataclasses

    rec = parse(line.translate(_HIDE), *args)
    changes = {f.name: v.translate(_SHOW) for f in dataclasses.fields(rec)
               if isinstance(v := getattr(rec, f.name), str) and not isinstance(v, EventKind)}
    return dataclasses.replace(rec, **changes)


def local_zone() -> str:
    from logtrace.containers.stamps import local_zone_name

    return local_zone_name()


#: name → (line form, frame form) of a conversion (same arithmetic in both)
CONVERTERS: dict[str, tuple[Any, Any]] = {"duration": (seconds, seconds_expr), "addresses": (addresses, addresses_expr)}


def apply_conversions(df: Any, conversions: Sequence[tuple[str, str, str]]) -> Any:
    """Frame form of the conversion step (:attr:`RuleParser.conversions`)."""
    out: dict[str, Any] = {}
    for src, target, conv in conversions:
        if src not in df.columns:
            continue
        import polars as pl

        e = CONVERTERS[conv][1](src)
        prev = out.get(target)
        out[target] = e if prev is None else pl.coalesce(prev, e)
    return df.with_columns(**out) if out else df


_EVENT_FIELD_SET = frozenset(EVENT_FIELDS)
#: One definition of an empty line for both engines (Python's str.strip() also strips
#: U+001C–U+001F, Rust's \s does not).
BLANK = r"^[ \t\n\r\f\v]*$"
BLANK_RE = re.compile(BLANK)
_ENV_FIELDS = frozenset({"ts", "host", "program", "pid", "mta", "kind", "rule", "file", "line_no"})


def empty_frame() -> Any:
    import polars as pl

    return pl.DataFrame(schema=event_schema())


class RuleTable:
    """Per daemon: its own rules, then the common (``*``) rules, then catch-alls; each
    daemon's patterns compiled the first time a line of that daemon is classified (``follow``
    parses a few dozen lines of two or three daemons and should not compile every rule).

    Common rules (``warning: …``) come after the daemon's own, which never start with a
    severity, so the frequent shapes are tried first; a catch-all (a pattern matching the
    empty body) always comes last.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._by_program: dict[str, list[Rule]] = {}
        for r in rules:
            self._by_program.setdefault(r.program, []).append(r)
        self._done: dict[str, list[tuple[Rule, re.Pattern[str]]]] = {}
        self._rx: dict[str, re.Pattern[str]] = {}

    def _compile(self, r: Rule) -> re.Pattern[str]:
        rx = self._rx.get(r.pattern)
        if rx is None:
            rx = self._rx[r.pattern] = re.compile(r.pattern)
        return rx

    def for_daemon(self, daemon: str) -> list[tuple[Rule, re.Pattern[str]]]:
        """The ordered ``(rule, pattern)`` list tried for ``daemon`` (the common rules for an unknown one)."""
        got = self._done.get(daemon)
        if got is not None:
            return got
        common = [(r, self._compile(r)) for r in self._by_program.get("*", ())]
        if daemon == "*" or daemon not in self._by_program:
            got = common
        else:
            own = [(r, self._compile(r)) for r in self._by_program[daemon]]
            got = [x for x in own if x[1].match("") is None] + common + [x for x in own if x[1].match("") is not None]
        self._done[daemon] = got
        return got


def compile_table(rules: Sequence[Rule]) -> RuleTable:
    return RuleTable(rules)


def classify(table: RuleTable, daemon: str, body: str) -> tuple[Rule, dict[str, str | None]] | None:
    """First rule of ``daemon`` (else the common rules) matching ``body``, with its groups."""
    for rule, rx in table.for_daemon(daemon):
        m = rx.match(body)
        if m:
            return rule, m.groupdict()
    return None


def check_parser(cls: type) -> list[str]:
    """Validate a rule table (used by tests and ``logtrace parsers --check``).

    Every rule has samples; every sample's first matching rule (in table order) is its own
    rule; every pattern is portable; rule IDs start with ``<name>.``; IDs are unique.
    """
    issues: list[str] = []
    rules: tuple[Rule, ...] = getattr(cls, "rules", ())
    if not rules:
        return issues
    table = compile_table(rules)
    seen: set[str] = set()
    for r in rules:
        key = f"{r.program}:{r.id}"
        if key in seen:
            issues.append(f"{r.id}: duplicate rule id for program {r.program}")
        seen.add(key)
        if not r.id.startswith(f"{cls.name}."):
            issues.append(f"{r.id}: rule ids must start with '{cls.name}.'")
        try:
            check_portable(r.pattern)
        except (ValueError, re.error) as e:
            issues.append(f"{r.id}: {e}")
            continue
        if not r.samples:
            issues.append(f"{r.id}: no sample line; add one real line it matches")
        if r.cut is not None:
            from logtrace.parsing.cuts import cut_problems

            issues += [f"{r.id}: {p}" for cut in r.cuts for p in cut_problems(r.pattern, cut, list(r.samples))]
        daemons = [r.program] if r.program != "*" else ["*"]
        for s in r.samples:
            for d in daemons:
                hit = classify(table, d, s)
                if hit is None:
                    issues.append(f"{r.id}: sample matches no rule: {s[:80]!r}")
                elif hit[0].id != r.id:
                    issues.append(f"{r.id}: sample is taken by earlier rule {hit[0].id}: {s[:80]!r}")
    return issues

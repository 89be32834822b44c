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
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar

from logtrace.containers.stamps import YearInference, frame_timestamps, parse_3164, parse_3339, zone

from logtrace.containers.syslog import SOLARIS_TAG, SYSLOG_ENVELOPE, SYSLOG_NOISE, SYSLOG_PREFIX, split_syslog_frame
from logtrace.events import EVENT_FIELDS, Event, EventKind, Unparsed, event_schema


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
                   r"|\[InternalId=(?P<next_queue_id__3>\d+)(?:, Hostname=(?P<next_host>[^\]\s,]+))?)"),
    ("reply_text", r"^forwarded as (?P<next_queue_id>[0-9A-Za-z]+)"),
    ("detail", r"^.*; from=<(?P<sender>[^>]*)>(?: to=<(?P<recipient>[^>]*)>)?"),
    ("detail", r"^[A-Z][A-Z-]* from [^\s:]*(?:\[[^\]]*\])?(?::\d+)?: (?P<dsn>[245]\.\d{1,3}\.\d{1,3}) "),
)

HELPER_FIELDS = frozenset({"relay", "client", "delays"})
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


@dataclass
class ParseOptions:
    """Typed settings shared by all parsers."""

    year: int | None = None  #: year of the first RFC 3164 stamp (else from the file's mtime)
    tz: str | None = None  #: IANA zone for naive stamps (else the machine's zone)


@dataclass
class FileContext:
    """Per-file state threaded through chunks: name, mtime, year tracker."""

    path: str
    mtime: float | None
    options: ParseOptions
    years: YearInference = field(init=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.years = YearInference(self.options.year, self.mtime)


def _cast(name: str, v: str | None) -> Any:
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
    """Base class for syslog-style parsers driven by a rule table."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    mta: ClassVar[str]
    rules: ClassVar[tuple[Rule, ...]]
    #: regex over the envelope's program; group ``daemon`` selects the rule list
    program_pattern: ClassVar[str]
    envelope: ClassVar[str] = SYSLOG_ENVELOPE
    #: fast path: the envelope before the first ": " (no body group); None to use ``envelope``
    envelope_prefix: ClassVar[str | None] = SYSLOG_PREFIX
    derivations: ClassVar[tuple[tuple[str, str], ...]] = DERIVATIONS
    #: programs of this MTA's family; one that matches but names no known daemon is unparsed, not "other"
    family_pattern: ClassVar[str | None] = None
    #: daemons that share another daemon's table (``lmtp`` → ``smtp``)
    daemon_aliases: ClassVar[dict[str, str]] = {}

    def __init__(self, options: ParseOptions | None = None) -> None:
        self.options = options or ParseOptions()
        self._tz = zone(self.options.tz)

    # ---------------------------------------------------------------- metadata

    def sniff(self, head: Sequence[str]) -> float:
        """0.0–1.0: how sure this parser is that ``head`` is its format."""
        prog = self._prog_re
        n = hits = 0
        for ln in head:
            if not ln.strip():
                continue
            n += 1
            g = self.split_envelope(ln)
            if g and prog.match(g.get("program") or ""):
                hits += 1
        if not n or not hits:
            return 0.0
        return min(1.0, 0.5 + hits / n)

    @cached_property
    def _env_re(self) -> re.Pattern[str]:
        return re.compile(self.envelope)

    @cached_property
    def _prefix_re(self) -> re.Pattern[str] | None:
        return re.compile(self.envelope_prefix) if self.envelope_prefix else None

    def split_envelope(self, line: str) -> dict[str, str | None] | None:
        """Envelope groups plus ``body`` for one line, or None (both engines split the same way)."""
        if self._prefix_re is None:
            m = self._env_re.match(line)
            return m.groupdict() if m else None
        off = line.find(": ")
        if off < 0:
            return None
        m = self._prefix_re.match(line, 0, off)
        if not m:
            return None
        g = m.groupdict()
        g["body"] = _SOLARIS_RE.sub("", line[off + 2:], count=1)
        return g

    @cached_property
    def _prog_re(self) -> re.Pattern[str]:
        return re.compile(self.program_pattern)

    @cached_property
    def _compiled(self) -> dict[str, list[tuple[Rule, re.Pattern[str]]]]:
        return compile_table(self.rules)

    @cached_property
    def _derivs(self) -> list[tuple[str, re.Pattern[str]]]:
        return [(src, re.compile(p)) for src, p in self.derivations]

    def rules_for(self, daemon: str) -> list[Rule]:
        return [r for r, _ in self._compiled.get(daemon, self._compiled["*"])]

    def daemon_of(self, program: str) -> str | None:
        m = self._prog_re.match(program)
        if not m:
            return None
        d = m.group("daemon")
        return self.daemon_aliases.get(d, d)

    # ---------------------------------------------------------------- line engine

    def classify_body(self, daemon: str, body: str) -> tuple[Rule, dict[str, str | None]] | None:
        return classify(self._compiled, daemon, body)

    def timestamp(self, g: dict[str, str | None], ctx: FileContext) -> datetime | None:
        if g.get("ts3164"):
            return parse_3164(g["ts3164"], ctx.years, self._tz)  # type: ignore[arg-type]
        if g.get("ts3339"):
            return parse_3339(g["ts3339"], self._tz)  # type: ignore[arg-type]
        return None

    def parse_line(self, line: str, ctx: FileContext, line_no: int) -> Event | Unparsed:
        if _BLANK_RE.match(line):
            return Event(ts=None, host=None, mta="", program=None, pid=None, kind=EventKind.OTHER, rule="blank",
                         file=ctx.path, line_no=line_no)
        g = self.split_envelope(line)
        if g is None:
            if _NOISE_RE.match(line):
                return Event(ts=None, host=None, mta="", program=None, pid=None, kind=EventKind.OTHER, rule="syslog.noise",
                             file=ctx.path, line_no=line_no)
            return Unparsed(reason="no-envelope", file=ctx.path, line_no=line_no)
        ts = self.timestamp(g, ctx)
        program = g.get("program")
        host = g.get("host")
        pid = _cast("pid", g.get("pid"))
        daemon = self.daemon_of(program or "")
        if daemon is None and self.family_pattern and re.match(self.family_pattern, program or ""):
            return Unparsed(reason="no-rule", program=program, host=host, pid=pid, ts=ts, file=ctx.path, line_no=line_no,
                            detail=(g.get("body") or "")[:200])
        if daemon is None:
            return Event(ts=ts, host=host, mta="", program=program, pid=pid, kind=EventKind.OTHER,
                         rule="other.program", file=ctx.path, line_no=line_no)
        hit = self.classify_body(daemon, g.get("body") or "")
        if hit is None:
            return Unparsed(reason="no-rule", program=program, host=host, pid=pid, ts=ts, file=ctx.path, line_no=line_no,
                            detail=(g.get("body") or "")[:200])
        return self.make_event(hit[0], hit[1], ts=ts, host=host, program=program, pid=pid, ctx=ctx, line_no=line_no)

    def make_event(self, rule: Rule, groups: dict[str, str | None], *, ts: datetime | None, host: str | None,
                   program: str | None, pid: int | None, ctx: FileContext, line_no: int) -> Event:
        """Line-engine form of one rule hit: constants, derivations, kind mapping, casts."""
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
        kw = {k: _cast(k, v) for k, v in fields.items() if k in _EVENT_FIELD_SET and k not in _ENV_FIELDS}
        self.extra_fields(fields, kw)
        return Event(ts=ts, host=host, mta=self.mta, program=program, pid=pid, kind=kind, rule=rule.id,
                     file=ctx.path, line_no=line_no, **kw)

    def extra_fields(self, fields: dict[str, str], kw: dict[str, Any]) -> None:
        """Hook: fields a parser computes beyond groups and derivations (Exim's ``QT=1m2s``)."""

    def rule_parts(self, env: Any, base: list[str]) -> list[Any]:
        """Frame form of first-match-wins, per daemon: every row is extracted by exactly one rule
        (rows are peeled off rule by rule), derivations run on each rule's own dense rows."""
        import polars as pl

        parts: list[Any] = []
        for (daemon,), part in env.partition_by("_daemon", as_dict=True, maintain_order=True).items():
            remaining = part.select(*base, "body")
            for rule in self.rules_for(daemon):
                if not remaining.height:
                    break
                mask = remaining.get_column("body").str.contains(rule.pattern)
                hit = remaining.filter(mask)
                if not hit.height:
                    continue
                remaining = remaining.filter(~mask)
                ex = hit.with_columns(pl.col("body").str.extract_groups(rule.pattern).alias("_g")).unnest("_g").drop("body")
                ex = ex.with_columns(kind=pl.lit(rule.kind.value), rule=pl.lit(rule.id), mta=pl.lit(self.mta))
                if rule.set:
                    ex = ex.with_columns(**{k: pl.coalesce(pl.col(k), pl.lit(v)) if k in ex.columns else pl.lit(v) for k, v in rule.set})
                if rule.kind_by:
                    fname, mapping = rule.kind_by
                    ex = ex.with_columns(kind=pl.col(fname).replace_strict({k: v.value for k, v in mapping}, default=pl.col("kind"),
                                                                           return_dtype=pl.String))
                parts.append(apply_derivations(ex, self._derivations_for(tuple(ex.columns))))
            if remaining.height:
                parts.append(self.unmatched_frame(daemon, remaining, base))
        return parts

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

    def unmatched_frame(self, daemon: str, remaining: Any, base: list[str]) -> Any:
        """Rows no rule of their daemon matched: unparsed, reason ``no-rule``."""
        import polars as pl

        return remaining.select(*base, kind=pl.lit("unparsed"), reason=pl.lit("no-rule"), detail=pl.col("body").str.slice(0, 200))

    # ---------------------------------------------------------------- frame engine

    def parse_frame(self, lines: Any, ctx: FileContext) -> Any:
        """DataFrame ``line_no, line`` → DataFrame with :func:`event_schema` columns (plus ``file``)."""
        import polars as pl

        if self.envelope_prefix == SYSLOG_PREFIX:
            env = split_syslog_frame(lines)
        elif self.envelope_prefix:
            off = pl.col("line").str.find(": ", literal=True)
            env = lines.with_columns(_off=off).with_columns(
                pl.when(pl.col("_off").is_not_null()).then(pl.col("line").str.slice(0, pl.col("_off")))
                .str.extract_groups(self.envelope_prefix).alias("_e"),
                body=pl.col("line").str.slice(pl.col("_off") + 2).str.replace(SOLARIS_TAG, ""),
            ).unnest("_e").drop("_off")
        else:
            env = lines.with_columns(pl.col("line").str.extract_groups(self.envelope).alias("_e")).unnest("_e")
        env = frame_timestamps(env, self.options.tz or _local(), ctx.years)
        env = env.with_columns(
            _daemon=self._daemon_expr(env.get_column("program")),
            _blank=pl.col("line").str.contains(BLANK),
        )
        parts: list[Any] = []
        blank = env.filter(pl.col("_blank"))
        if blank.height:
            parts.append(blank.select("line_no", kind=pl.lit("other"), rule=pl.lit("blank"), mta=pl.lit("")))
        env = env.filter(~pl.col("_blank"))
        noenv = env.filter(pl.col("program").is_null())
        if noenv.height:
            noise = noenv.get_column("line").str.contains(SYSLOG_NOISE)
            parts.append(noenv.filter(noise).select("line_no", kind=pl.lit("other"), rule=pl.lit("syslog.noise"), mta=pl.lit("")))
            parts.append(noenv.filter(~noise).select("line_no", kind=pl.lit("unparsed"), reason=pl.lit("no-envelope")))
        env = env.filter(pl.col("program").is_not_null())
        other = env.filter(pl.col("_daemon").is_null())
        if other.height:
            fam = other.get_column("program").str.contains(self.family_pattern) if self.family_pattern else pl.repeat(False, other.height, eager=True)
            parts.append(other.filter(~fam).select("line_no", "ts", "host", "program", "pid", kind=pl.lit("other"),
                                                   rule=pl.lit("other.program"), mta=pl.lit("")))
            parts.append(other.filter(fam).select("line_no", "ts", "host", "program", "pid", kind=pl.lit("unparsed"),
                                                  reason=pl.lit("no-rule"), detail=pl.col("body").str.slice(0, 200)))
        env = env.filter(pl.col("_daemon").is_not_null())
        parts += self.rule_parts(env, ["line_no", "ts", "host", "program", "pid"])
        if not parts:
            return empty_frame()
        df = pl.concat(parts, how="diagonal_relaxed")
        return conform(df, ctx.path)

    def _daemon_expr(self, programs: Any) -> Any:
        """Daemon per row, computed once per distinct program name with :meth:`daemon_of`
        (program names are few; this keeps both engines on the same function)."""
        import polars as pl

        uniq = programs.drop_nulls().unique().to_list()
        mapping = {p: self.daemon_of(p) for p in uniq}
        return pl.col("program").replace_strict(mapping, default=None, return_dtype=pl.String)


def _local() -> str:
    from logtrace.containers.stamps import local_zone_name

    return local_zone_name()


_EVENT_FIELD_SET = frozenset(EVENT_FIELDS)
_NOISE_RE = re.compile(SYSLOG_NOISE)
#: One definition of an empty line for both engines (Python's str.strip() also strips
#: U+001C–U+001F, Rust's \s does not).
BLANK = r"^[ \t\n\r\f\v]*$"
_BLANK_RE = re.compile(BLANK)
_SOLARIS_RE = re.compile(SOLARIS_TAG)
_ENV_FIELDS = frozenset({"ts", "host", "program", "pid", "mta", "kind", "rule", "file", "line_no"})


def apply_derivations(df: Any, derivations: Sequence[tuple[str, str]]) -> Any:
    """Frame form of the derivation step: fill empty target fields from raw helpers."""
    import polars as pl

    for src, pattern in derivations:
        if src not in df.columns:
            continue
        groups = list(re.compile(pattern).groupindex)
        ex = pl.col(src).str.extract_groups(pattern)
        targets: dict[str, list[str]] = {}
        for g in groups:
            targets.setdefault(g.split("__", 1)[0], []).append(g)
        df = df.with_columns(
            [
                pl.coalesce(*([pl.col(t)] if t in df.columns else []), *(ex.struct.field(g) for g in gs)).alias(t)
                for t, gs in targets.items()
            ]
        )
    return df


def empty_frame() -> Any:
    import polars as pl

    return pl.DataFrame(schema=event_schema())


def conform(df: Any, path: str) -> Any:
    """Cast to :func:`event_schema`, add missing columns as nulls, order by line."""
    import polars as pl

    schema = event_schema()
    cols = []
    for name, dtype in schema.items():
        if name == "file":
            cols.append(pl.lit(path, pl.String).alias("file"))
        elif name in df.columns:
            c = pl.col(name)
            if dtype in (pl.Int64, pl.Float64):
                c = c.cast(dtype, strict=False)
            elif dtype == pl.String:
                c = c.cast(pl.String)
            else:
                c = c.cast(dtype, strict=False)
            cols.append(c.alias(name))
        else:
            cols.append(pl.lit(None, dtype).alias(name))
    return df.select(cols).sort("line_no")



def compile_table(rules: Sequence[Rule]) -> dict[str, list[tuple[Rule, re.Pattern[str]]]]:
    """Per daemon: its own rules, then the common (``*``) rules, then catch-alls.

    Common rules (``warning: …``) come after the daemon's own, which never start with a
    severity, so the frequent shapes are tried first; a catch-all (a pattern matching the
    empty body) always comes last.
    """
    comp = [(r, re.compile(r.pattern)) for r in rules]
    common = [(r, rx) for r, rx in comp if r.program == "*"]
    table: dict[str, list[tuple[Rule, re.Pattern[str]]]] = {}
    for r, rx in comp:
        if r.program != "*":
            table.setdefault(r.program, []).append((r, rx))
    for d, lst in table.items():
        specific = [x for x in lst if x[1].match("") is None]
        catch = [x for x in lst if x[1].match("") is not None]
        table[d] = specific + common + catch
    table["*"] = list(common)
    return table


def classify(table: dict[str, list[tuple[Rule, re.Pattern[str]]]], daemon: str, body: str) -> tuple[Rule, dict[str, str | None]] | None:
    """First rule of ``daemon`` (else the common rules) matching ``body``, with its groups."""
    for rule, rx in table.get(daemon, table["*"]):
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
        daemons = [r.program] if r.program != "*" else ["*"]
        for s in r.samples:
            for d in daemons:
                hit = classify(table, d, s)
                if hit is None:
                    issues.append(f"{r.id}: sample matches no rule: {s[:80]!r}")
                elif hit[0].id != r.id:
                    issues.append(f"{r.id}: sample is taken by earlier rule {hit[0].id}: {s[:80]!r}")
    return issues

"""The parser contract: what a dialect must declare, and the settings every parser gets.

A **dialect** parses the message bodies of the programs it claims (``postfix*/smtp``,
``exim*``, ``amavis``, ``dovecot`` …). It is mostly data — a rule table with real samples —
and the generic executors in :mod:`logtrace.parsing.rules` run that table per line (``re``)
and per chunk (polars); a dialect overrides neither. The :mod:`router <logtrace.parsing.router>`
hands each dialect the rows of the programs it claims, so one syslog file can carry Postfix,
Exim, amavis, Dovecot and a plugin's program at once.

A dialect whose logs also come in a file format of their own (Exim's mainlog, Dovecot's
``log_path`` file, Exchange's W3C logs) additionally provides that **container**:
``parse_frame``/``parse_line`` over the raw lines of such a file, and a classmethod
``native_sniff(head) -> float`` (share of head lines in that format). Detection picks the
container per file: a native format when at least half the head is in it, else syslog (the
router, every dialect), else the parsers' ``sniff``. Lines of other programs inside a native
file go to the router (``use_router``).

Everything downstream code needs from a dialect travels as event fields or **rule tags**
(:mod:`logtrace.parsing.tags`), never as an MTA name or a rule ID tested in the correlator
or the reports.

Third-party dialects register through the ``logtrace.parsers`` entry point group; see the
README's "Writing a parser plugin".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from logtrace.containers.stamps import YearInference


@dataclass
class ParseOptions:
    """Typed settings shared by all parsers."""

    year: int | None = None  #: year of the first RFC 3164 stamp (else from the file's mtime)
    tz: str | None = None  #: IANA zone for naive stamps (else the machine's zone)
    #: per-host zones for naive stamps in a central log (``--tz mx2=Europe/Berlin``)
    host_tz: dict[str, str] = field(default_factory=dict)


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


@runtime_checkable
class Dialect(Protocol):
    """The plugin contract (``logtrace.parsers`` entry points point at classes like this).

    :class:`logtrace.parsing.rules.RuleParser` implements everything but the class
    attributes; a dialect normally subclasses it and declares data only.
    """

    #: CLI value of ``--mta``; lowercase, stable forever
    name: ClassVar[str]
    #: other lowercase names accepted by ``--mta``; unique across parsers
    aliases: ClassVar[tuple[str, ...]]
    #: value of the events' ``mta`` field
    mta: ClassVar[str]
    #: ordered rule table; every rule has real samples and an id starting with ``<name>.``
    rules: ClassVar[tuple[Any, ...]]
    #: regex over the syslog program name; group ``daemon`` selects the rule list. A program it
    #: matches is claimed by this dialect (the router sends its rows here). None: the parser
    #: reads only a container of its own (Exchange's W3C logs) and claims no syslog program
    program_pattern: ClassVar[str | None]
    #: tags every rule of this dialect carries (``count:pflogsumm`` …)
    tags: ClassVar[frozenset[str]]

    def __init__(self, options: ParseOptions | None = None) -> None: ...

    def sniff(self, head: Sequence[str]) -> float:
        """0.0–1.0: how sure this dialect is that ``head`` (a file's first lines) is its log."""
        ...

    def claims(self, program: str) -> bool:
        """Whether this dialect parses the lines of syslog program ``program``."""
        ...


@runtime_checkable
class FileContainer(Protocol):
    """A container that reads a whole file itself instead of chunks of lines: Exchange's W3C
    and CSV logs need their ``#Fields``/header line for every row. The scanners call these
    instead of ``parse_frame``/``parse_line`` for such a parser."""

    def parse_file(self, f: Any, ctx: FileContext, diags: list[Any], line_filter: Any) -> Iterator[Any]:
        """Event frames of input ``f`` (``line_filter``, an expression over raw lines, may be ignored)."""
        ...

    def parse_file_lines(self, f: Any, ctx: FileContext, diags: list[Any]) -> Iterator[Any]:
        """Events and unparsed records of input ``f``, in file order (the line engine)."""
        ...


def reads_whole_files(parser: Any) -> bool:
    """Whether ``parser`` is a :class:`FileContainer` (reads whole files, not lines)."""
    return isinstance(parser, FileContainer)


def dialect_problems(cls: Any) -> list[str]:
    """What a class lacks to satisfy :class:`Dialect` (empty when it conforms)."""
    out = []
    for attr in ("name", "aliases", "mta", "rules", "program_pattern", "tags"):
        if not hasattr(cls, attr):
            out.append(f"missing class attribute '{attr}'")
    for meth in ("sniff", "claims"):
        if not callable(getattr(cls, meth, None)):
            out.append(f"missing method '{meth}'")
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or name != name.lower() or not name:
        out.append("name must be a non-empty lowercase string")
    for a in getattr(cls, "aliases", ()):
        if a != a.lower():
            out.append(f"alias '{a}' must be lowercase")
    return out

"""Parser discovery: an explicit index of built-ins, then ``logtrace.parsers`` entry points.

Built-ins win: a plugin reusing a built-in name or alias is reported, not honoured. A
plugin that fails to import is recorded with its error and skipped; nothing crashes unless
that parser is asked for. Classes are imported lazily, so ``import logtrace`` stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from logtrace.errors import AmbiguousFormatError, PluginLoadError, UnknownFormatError, UnknownParserError

BUILTIN_PARSERS: dict[str, str] = {
    "postfix": "logtrace_parsers.postfix:PostfixParser",
    "exim": "logtrace_parsers.exim:EximParser",
    "exchange": "logtrace_parsers.exchange:ExchangeParser",
    "amavis": "logtrace_parsers.amavis:AmavisParser",
    "dovecot": "logtrace_parsers.dovecot:DovecotParser",
    "rspamd": "logtrace_parsers.rspamd:RspamdParser",
}

ENTRY_POINT_GROUP = "logtrace.parsers"


@dataclass
class ParserInfo:
    name: str
    target: str
    origin: str  # "builtin" or the distribution name
    cls: Any = None
    error: str | None = None
    aliases: tuple[str, ...] = ()


def _load(target: str) -> Any:
    mod, _, attr = target.partition(":")
    return getattr(importlib.import_module(mod), attr)


class Registry:
    def __init__(self, include_plugins: bool = True) -> None:
        self.include_plugins = include_plugins

    @cache  # noqa: B019 - one registry per process in practice
    def infos(self) -> list[ParserInfo]:
        out: list[ParserInfo] = []
        taken: set[str] = set()
        for name, target in BUILTIN_PARSERS.items():
            info = ParserInfo(name, target, "builtin")
            try:
                info.cls = _load(target)
                info.aliases = tuple(info.cls.aliases)
            except (ImportError, AttributeError) as e:
                info.error = f"{type(e).__name__}: {e}"
                if isinstance(e, ModuleNotFoundError) and e.name == target.partition(":")[0]:
                    continue  # not shipped in this build
            out.append(info)
            taken.add(name)
            taken.update(info.aliases)
        if self.include_plugins:
            from importlib.metadata import entry_points

            for ep in entry_points(group=ENTRY_POINT_GROUP):
                dist = getattr(ep.dist, "name", None) or "unknown"
                info = ParserInfo(ep.name, ep.value, dist)
                if ep.name in taken:
                    info.error = f"name '{ep.name}' is taken by a built-in parser; ignored"
                    out.append(info)
                    continue
                try:
                    info.cls = ep.load()
                    info.aliases = tuple(getattr(info.cls, "aliases", ()))
                    clash = taken.intersection(info.aliases)
                    if clash:
                        info.error = f"alias {sorted(clash)} is taken; ignored"
                        info.cls = None
                except Exception as e:  # a broken plugin must not break logtrace
                    info.error = f"{type(e).__name__}: {e}"
                out.append(info)
                if info.cls is not None:
                    taken.add(ep.name)
                    taken.update(info.aliases)
        return out

    def available(self) -> list[ParserInfo]:
        return [i for i in self.infos() if i.cls is not None]

    def get(self, name: str) -> Any:
        key = name.lower()
        for i in self.infos():
            if key == i.name or key in i.aliases:
                if i.cls is None:
                    raise PluginLoadError(f"parser '{name}' failed to load: {i.error}")
                return i.cls
        names = ", ".join(i.name for i in self.available())
        raise UnknownParserError(f"unknown --mta '{name}'", hint=f"choose one of: auto, {names}")

    def sniff(self, head: Sequence[str], path: str = "") -> Any:
        scores = []
        for i in self.available():
            try:
                s = float(i.cls().sniff(head))
            except Exception:  # noqa: BLE001 - a plugin's sniff must not break detection
                s = 0.0
            if s >= 1.0:
                return i.cls
            scores.append((s, i.name, i.cls))
        scores.sort(key=lambda t: -t[0])
        if not scores or scores[0][0] <= 0:
            raise UnknownFormatError(f"{path}: not a mail log format logtrace knows",
                                     hint="pass --mta postfix|exim|exchange if it is one")
        if len(scores) > 1 and scores[1][0] == scores[0][0]:
            raise AmbiguousFormatError(f"{path}: could be {scores[0][1]} or {scores[1][1]}", hint="pass --mta")
        return scores[0][2]


@cache
def default_registry() -> Registry:
    return Registry(include_plugins=True)

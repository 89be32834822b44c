"""``logtrace parsers``: built-ins listed and their rule tables valid; plugins via entry points."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from logtrace.parsing.registry import Registry


def test_parsers_json_lists_builtins_and_check_passes():
    r = subprocess.run([sys.executable, "-m", "logtrace", "parsers", "--json", "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)["parsers"]}
    assert {"postfix", "exim", "exchange"} <= set(rows)
    assert all(row["error"] is None and row.get("check", []) == [] for row in rows.values() if row["origin"] == "builtin")


@pytest.mark.parametrize("info", Registry(include_plugins=False).available(), ids=lambda i: i.name)
def test_parser_contract(info):
    cls = info.cls
    assert cls.name == cls.name.lower()
    assert all(a == a.lower() for a in cls.aliases)
    p = cls()
    for junk in ([""], ["\x00"], ["x" * 10000], ["hello world"]):
        s = p.sniff(junk)
        assert 0.0 <= s <= 1.0
    for rule in getattr(cls, "rules", ()):
        assert rule.id.startswith(f"{cls.name}.")


def test_names_and_aliases_unique_across_parsers():
    seen = set()
    for i in Registry(include_plugins=False).available():
        for n in (i.name, *i.aliases):
            assert n not in seen, n
            seen.add(n)


def test_plugin_that_reuses_a_builtin_name_is_reported_not_honoured(monkeypatch):
    import importlib.metadata as md

    class EP:
        name = "postfix"
        value = "x:y"
        dist = None

        def load(self):
            raise AssertionError("must not be loaded")

    monkeypatch.setattr(md, "entry_points", lambda group=None: [EP()])
    infos = Registry(include_plugins=True).infos()
    bad = [i for i in infos if i.origin != "builtin"]
    assert bad and "taken" in bad[0].error

"""Architecture rules that keep the code base legible (STYLE.md §1)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_logtrace_pulls_in_neither_typer_rich_polars_nor_pyparsing():
    code = ("import logtrace, logtrace.events, logtrace.errors, sys; "
            "bad = [m for m in ('typer', 'rich', 'polars', 'pyparsing') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def _modules():
    return [p for p in sorted((REPO / "logtrace").rglob("*.py")) if "__pycache__" not in p.parts]


def test_only_the_cli_package_imports_typer_or_rich():
    offenders = []
    for p in _modules():
        if "cli" in p.relative_to(REPO / "logtrace").parts[:1]:
            continue
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("typer", "rich", "click") for n in names):
                offenders.append(p.name)
    assert not offenders, f"{offenders} import typer/rich/click; move presentation to render.py"


def test_library_modules_never_print_or_exit():
    offenders = []
    for p in _modules() + list((REPO / "parsers").rglob("*.py")):
        if p.name == "__main__.py" or p.relative_to(REPO).parts[:2] == ("logtrace", "cli"):
            continue
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "exit"):
                offenders.append(f"{p.name}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "exit" and isinstance(node.value, ast.Name) and node.value.id == "sys":
                offenders.append(f"{p.name}:{node.lineno}")
    assert not offenders, offenders


def test_modules_stay_readable_in_size():
    big = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in _modules() + list((REPO / "parsers").rglob("*.py"))}
    too_big = {k: v for k, v in big.items() if v > 600}
    assert not too_big, f"split these modules: {too_big}"


def test_help_starts_fast_enough_to_not_import_polars():
    code = "import sys; sys.argv=['logtrace','--help']\ntry:\n import logtrace.cli as c; c.main()\nexcept SystemExit: pass\nprint('polars' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    assert out == "False"


def test_every_package_directory_is_listed_in_pyproject():
    """A wheel built from pyproject.toml contains every package (an editable install hides a missing one)."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for root, prefix in ((REPO / "logtrace", "logtrace"), (REPO / "parsers", "logtrace_parsers")):
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root).parts
            found.add(".".join((prefix, *rel)))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"

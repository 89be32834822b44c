"""Run one target under atheris (coverage-guided libFuzzer), or under the hypothesis
fallback when atheris is not installed. ``python fuzz/fuzz_postfix.py -max_total_time=60``."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main(name: str) -> None:
    try:
        import atheris
    except ImportError:
        atheris = None
    if atheris is None or os.environ.get("LOGTRACE_FUZZ_ENGINE") == "hypothesis":
        import fallback

        secs = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("-max_total_time=")), 60)
        sys.exit(fallback.run(name, secs))
    with atheris.instrument_imports(include=["logtrace", "logtrace_parsers", "_targets"]):
        import _targets
        import logtrace.containers.stamps, logtrace.query, logtrace.parsing.rules  # noqa: E401,F401
        from logtrace.parsing.registry import Registry

        for info in Registry(include_plugins=False).available():
            pass  # import every parser module under instrumentation
    target = _targets.TARGETS[name]
    _targets.parsers()  # build parsers (and their compiled regexes) before fuzzing starts
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()

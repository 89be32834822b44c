"""Hypothesis-based fuzz loop: the fallback when atheris cannot be installed.

``run(name, seconds)`` feeds random byte strings (hypothesis ``st.binary``, shrunk on failure)
to the same target the atheris harness uses, round after round with fresh random seeds, until
the time is up. Returns 0, or 1 after printing the shrunk failing input and its traceback.
"""

from __future__ import annotations

import time
import traceback

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def run(name: str, seconds: float, rounds_examples: int = 200) -> int:
    import _targets

    target = _targets.TARGETS[name]
    _targets.parsers()

    @settings(max_examples=rounds_examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(data=st.binary(max_size=512))
    def one_round(data: bytes) -> None:
        target(data)

    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        try:
            one_round()
        except Exception:  # noqa: BLE001 - report and fail, like libFuzzer's crash exit
            traceback.print_exc()
            print(f"fuzz {name}: FAILED after {rounds} rounds (hypothesis printed the shrunk input above)")
            return 1
        rounds += 1
    print(f"fuzz {name}: ok, {rounds} rounds of {rounds_examples} inputs in {seconds:.0f}s (hypothesis fallback)")
    return 0

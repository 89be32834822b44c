#!/usr/bin/env python3
"""atheris harness: exim (see fuzz/README.md). Example: python fuzz/fuzz_exim.py -max_total_time=60"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import main  # noqa: E402

if __name__ == "__main__":
    main("exim")

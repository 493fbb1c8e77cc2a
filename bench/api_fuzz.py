"""Every public method of the API (MindBank and its parts), called 40 times each with hostile
values for its arguments (those of tests/test_hostile.py): the cases run and the exceptions
that are not mindbank's, by method and kind. The aim, and the test, is none.

Run: ``python bench/api_fuzz.py [SEED ...]`` from the repository.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_hostile import fuzz_api


def main() -> None:
    seeds = [int(a) for a in sys.argv[1:]] or [1, 2, 3]
    total = 0
    for seed in seeds:
        start = time.perf_counter()
        cases, bad = fuzz_api(seed)
        total += cases
        print(f"seed {seed}: {cases:,} calls in {time.perf_counter() - start:.1f} s, "
              f"{len(bad)} kinds of non-mindbank exceptions")  # fmt: skip
        for (part, name, kind), where in sorted(bad.items()):
            print(f"  {part}.{name}: {kind}: {where}")
    print(f"{total:,} hostile calls in all")


if __name__ == "__main__":
    main()

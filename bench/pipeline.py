"""Pipeline speed: runs per second on 2 workers for the easy MBPP tasks, and the overhead per
run beyond the test command itself (target < 150 ms), measured in the same run as that
baseline: the bare ``python -m pytest`` on the same files.

Run: ``python bench/pipeline.py [--tasks 30]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mindbank
from mindbank.pipeline.runner import run_one
from mindbank.pipeline.strategies import Strategy
from mindbank.pipeline.tasks import from_mbpp

# The MBPP tasks beside the project (../shared/data; MINDBANK_MBPP names another copy).
MBPP = Path(
    os.environ.get("MINDBANK_MBPP")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "sanitized-mbpp.json"
)


def bare(task_solution: str, tests: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "solution.py").write_text(task_solution)
        (d / "test_task.py").write_text(tests)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-o", "addopts=", "test_task.py"], cwd=d, capture_output=True, check=False)  # fmt: skip
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=30)
    args = parser.parse_args()
    easy = [t for t in from_mbpp(MBPP) if t.complexity == "easy"][: args.tasks]
    overheads, lint_overheads = [], []
    for t in easy[:10]:
        base = bare(t.solution, t.tests)
        ours = run_one(t, Strategy("balanced"), lint=False).seconds
        with_lint = run_one(t, Strategy("balanced"), lint=True).seconds
        overheads.append((ours - base) * 1000)
        lint_overheads.append((with_lint - base) * 1000)
    print(f"overhead per run beyond the bare pytest command (median of 10): "
          f"{statistics.median(overheads):.0f} ms without lint, "
          f"{statistics.median(lint_overheads):.0f} ms with ruff (target < 150 ms)")  # fmt: skip
    strategies = [Strategy(n) for n in ("conservative", "balanced", "aggressive")]
    with (
        tempfile.TemporaryDirectory() as tmp,
        mindbank.open(Path(tmp) / "m.db", embedder="hashing") as mb,
    ):
        t0 = time.perf_counter()
        runs = mb.pipeline.run(easy, strategies, workers=2)
        took = time.perf_counter() - t0
    print(f"{len(runs)} runs ({len(easy)} easy MBPP tasks x 3 strategies, with ruff) on 2 workers "
          f"in {took:.1f} s: {len(runs) / took:.2f} runs/s")  # fmt: skip


if __name__ == "__main__":
    main()

"""What the pipeline's sandbox costs a run: the same pytest run of a small task, N times,
inside the full sandbox (namespaces) and with the limits only, interleaved, in the same run.

Run: ``python bench/sandbox.py [N]`` (Linux; the namespaces need root or user namespaces).
"""

from __future__ import annotations

import statistics
import sys
import time

from mindbank.pipeline.sandbox import Sandbox, level
from mindbank.pipeline.strategies import stripped_env

TESTS = "from solution import f\n\ndef test_f():\n    assert f() == 1\n"


def once(mode: str) -> float:
    box = Sandbox()
    box.level = mode
    try:
        (box.folder / "solution.py").write_text("def f():\n    return 1\n")
        (box.folder / "test_task.py").write_text(TESTS)
        start = time.perf_counter()
        ran = box.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "test_task.py"], stripped_env(str(box.folder)), 60)  # fmt: skip
        seconds = time.perf_counter() - start
        if ran is None or ran[0] != 0:
            raise SystemExit(f"the run failed under {mode}: {ran}")
        return seconds
    finally:
        box.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if level() != "namespaces":
        raise SystemExit("this machine cannot make namespaces: nothing to compare")
    times: dict[str, list[float]] = {"namespaces": [], "limits": []}
    for _ in range(n):
        for mode in times:
            times[mode].append(once(mode))
    full, bare = (statistics.median(times[m]) for m in ("namespaces", "limits"))
    print(
        f"pytest run of a one-test task, median of {n}: full sandbox {full * 1000:.0f} ms, "
        f"limits only {bare * 1000:.0f} ms (x{full / bare:.2f}, +{(full - bare) * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()

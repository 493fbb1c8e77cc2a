"""Hostile input, counted: cases per interface, non-mindbank exceptions (tracebacks; must be 0),
the slowest case and the peak memory. The cases are those of tests/test_hostile.py: hostile
command lines and crafted files through real processes (each one's peak memory read with
wait4), and every API call of the fuzz with every hostile value as each argument.

Run: ``python bench/hostile.py`` from the repository (it reads tests/data/hostile/).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_hostile import _HOSTILE_VALUES, HOSTILE_CLI, _api_calls  # noqa: E402

import mindbank  # noqa: E402

CRAFTED = [
    ["neural", "import", str(ROOT / "tests/data/hostile" / n)]
    for n in ("layers-60000.clf", "sizes-not-numbers.clf", "no-activations.clf",
              "deep-header.clf", "header-bomb.clf")
] + [["memory", "import", str(ROOT / "tests/data/hostile" / n)]
     for n in ("deep.jsonl", "nan-expiry.jsonl", "not-utf8.jsonl")]  # fmt: skip


def cli() -> None:
    env = {**os.environ, "MINDBANK_EMBEDDER": "hashing"}
    tracebacks = 0
    slowest = (0.0, "")
    peak = 0
    cases = [[a.encode("utf-8", "surrogateescape") for a in c] for c in HOSTILE_CLI + CRAFTED]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "m.db").encode()
        for case in cases:
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable.encode(), b"-m", b"mindbank", *case, b"--db",
                                     db], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    env=env)  # fmt: skip
            err = proc.stderr.read() if proc.stderr else b""
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - start
            peak = max(peak, usage.ru_maxrss)
            tracebacks += b"Traceback" in err or proc.returncode not in (1, 2)
            if seconds > slowest[0]:
                slowest = (seconds, b" ".join(c[:20] for c in case).decode(errors="replace"))
    print(
        f"CLI (real processes): {len(cases)} cases, {tracebacks} tracebacks, slowest "
        f"{slowest[0]:.2f} s ({slowest[1][:60]}), peak memory {peak / 1024:.0f} MB"
    )


def api() -> None:
    import resource

    n = tracebacks = 0
    slowest = (0.0, "")
    with tempfile.TemporaryDirectory() as tmp:
        os.mkfifo(Path(tmp) / "fifo")
        with mindbank.open(Path(tmp) / "m.db", embedder="hashing") as mb:
            mb.store("keep", {"me": 1}, namespace="safe")
            calls = _api_calls(mb, Path(tmp))
            for name, call in calls:
                for i, value in enumerate(_HOSTILE_VALUES):
                    for args in ((value, None), ("k", value)):
                        n += 1
                        start = time.perf_counter()
                        try:
                            with contextlib.suppress(mindbank.MindbankError):
                                call(*args)
                        except Exception as exc:
                            tracebacks += 1
                            print(f"  {name} value {i}: {type(exc).__name__}: {exc}"[:200])
                        seconds = time.perf_counter() - start
                        if seconds > slowest[0]:
                            slowest = (seconds, f"{name} with value {i}")
            assert mb.get("keep", namespace="safe").value == {"me": 1}  # type: ignore[union-attr]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"API (in process): {n} cases over {len(calls)} calls, {tracebacks} non-mindbank "
        f"exceptions, slowest {slowest[0]:.2f} s ({slowest[1]}), peak memory {peak:.0f} MB"
    )


if __name__ == "__main__":
    cli()
    api()

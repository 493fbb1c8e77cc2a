"""Benchmark of the memory store against plain sqlite3 doing the same work in the same run.

Run: ``make bench`` (or ``python bench/bench_store.py [--entries N]``). Prints each figure, the
issue's target, and the ratio to the baseline (mindbank / sqlite3 for throughput; sqlite3 time /
mindbank time for latency, so > 1 is always "faster than baseline"). The machine is shared and
noisy: compare ratios, not absolute numbers, across runs.

Embedding is turned off here (``Settings(embed=False)``): this measures the store. The cost of
embedding as entries are stored is measured in ``bench/search.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import mindbank
from mindbank.store.memory import _SQL_ROW

STORE_ONLY = mindbank.Settings(embed=False)


def _best_rate(fn: Callable[[], int], repeat: int = 3) -> float:
    """Operations per second, best of ``repeat`` runs."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def _baseline_conn(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS kv (namespace TEXT, key TEXT, value TEXT, "
        "UNIQUE (namespace, key))"
    )
    return conn


def _row(name: str, value: float, unit: str, target: str, ratio: float) -> None:
    print(f"{name:<34} {value:>12,.1f} {unit:<10} target {target:<12} vs sqlite3 x{ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--cli-runs", type=int, default=15)
    args = parser.parse_args()
    n = args.entries
    tmp = Path(tempfile.mkdtemp(prefix="mindbank-bench-"))
    keys = [f"key-{i:07d}" for i in range(n)]
    print(f"mindbank {mindbank.__version__}, SQLite {sqlite3.sqlite_version}, {n:,} entries, "
          f"{os.cpu_count()} CPUs")  # fmt: skip

    # store_many ---------------------------------------------------------------------------
    counter = iter(range(1_000_000))

    def mb_many() -> int:
        with mindbank.open(tmp / f"many-{next(counter)}.db", settings=STORE_ONLY) as mb:
            return mb.store_many({"key": k, "value": f"value {k}", "namespace": "b"} for k in keys)

    def base_many() -> int:
        conn = _baseline_conn(tmp / f"base-many-{next(counter)}.db")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (("b", k, f"value {k}") for k in keys)
        )
        conn.execute("COMMIT")
        conn.close()
        return n

    rate, base = _best_rate(mb_many), _best_rate(base_many)
    _row("store_many", rate, "entries/s", ">= 50,000", rate / base)

    # single autocommitted store -----------------------------------------------------------
    m = min(n, 5000)
    mb = mindbank.open(tmp / "single.db", settings=STORE_ONLY)
    conn = _baseline_conn(tmp / "base-single.db")

    def mb_single() -> int:
        for k in keys[:m]:
            mb.store(k, "v", namespace="s")
        return m

    def base_single() -> int:
        for k in keys[:m]:
            conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", ("s", k, "v"))
        return m

    rate, base = _best_rate(mb_single), _best_rate(base_single)
    _row("store (autocommit)", rate, "entries/s", ">= 5,000", rate / base)

    # retrieve by key ----------------------------------------------------------------------
    mb.store_many({"key": k, "value": f"value {k}", "namespace": "r"} for k in keys)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (("r", k, f"value {k}") for k in keys)
    )
    conn.execute("COMMIT")
    shuffled = random.Random(7).sample(keys, len(keys))

    def base_get(order: list[str]) -> Callable[[], int]:
        def run() -> int:
            for k in order:
                conn.execute(
                    "SELECT value FROM kv WHERE namespace = ? AND key = ?", ("r", k)
                ).fetchone()
            return len(order)

        return run

    def fresh_rate(
        work: Callable[[mindbank.MindBank], int],
        settings: mindbank.Settings = STORE_ONLY,
        prepare: Callable[[mindbank.MindBank], int] | None = None,
    ) -> float:
        """Operations per second of ``work`` on a handle just opened (nothing of it cached
        but what ``prepare`` read), best of three; the handle's close (it writes the last
        access counts) is timed too."""
        best = 0.0
        for _ in range(3):
            fresh = mindbank.open(tmp / "single.db", settings=settings)
            if prepare is not None:
                prepare(fresh)
            start = time.perf_counter()
            ops = work(fresh)
            fresh.close()
            best = max(best, ops / (time.perf_counter() - start))
        return best

    def retrieves(order: list[str]) -> Callable[[mindbank.MindBank], int]:
        def work(handle: mindbank.MindBank) -> int:
            for k in order:
                handle.retrieve(k, namespace="r")
            return len(order)

        return work

    for label, order in (("in key order", keys), ("shuffled", shuffled)):
        rate, base = fresh_rate(retrieves(order)), _best_rate(base_get(order))
        _row(f"retrieve, cold, {label}", rate, "ops/s", ">= 150,000", rate / base)
    # What SQLite alone does when it reads a whole entry row per key, as retrieve must: the
    # ceiling for a retrieve that goes to the database.
    full = sqlite3.connect(tmp / "single.db")
    full_cur = full.cursor()

    def base_full_row() -> int:
        for k in keys:
            full_cur.execute(_SQL_ROW, ("r", k)).fetchone()
        return n

    bound = _best_rate(base_full_row)
    print(f"  (sqlite3 alone reading the whole row per key, nothing else: {bound:,.1f} ops/s)")

    # The second pass over the same keys: every row is in the working-memory tier; each
    # retrieve still asks SQLite whether anything changed (PRAGMA data_version).
    rate = fresh_rate(retrieves(keys), prepare=retrieves(keys))
    _row(
        "retrieve, warm (row cached)",
        rate,
        "ops/s",
        ">= 150,000",
        rate / _best_rate(base_get(keys)),
    )

    def many(handle: mindbank.MindBank) -> int:
        for i in range(0, n, 100):
            handle.retrieve_many(keys[i : i + 100], namespace="r")
        return n

    def base_many_get() -> int:
        sql = f"SELECT value FROM kv WHERE namespace = ? AND key IN ({', '.join('?' * 100)})"
        for i in range(0, n, 100):
            conn.execute(sql, ("r", *keys[i : i + 100])).fetchall()
        return n

    rate, base = fresh_rate(many), _best_rate(base_many_get)
    _row("retrieve_many, 100 keys a call", rate, "keys/s", ">= 150,000", rate / base)

    # A hot set of 100 keys, retrieved the same number of times: access counts are
    # buffered, so the count write is shared by many reads, as for an agent's working set.
    hot = [keys[i % 100] for i in range(n)]
    rate, base = fresh_rate(retrieves(hot)), _best_rate(base_get(hot))
    _row("retrieve, hot set of 100 keys", rate, "ops/s", ">= 150,000", rate / base)

    # The hot set with one store (of one of its keys) per ten retrieves: the handle's own
    # writes keep the other cached rows. The same work with the working-memory tier off
    # shows what the tier is worth.
    def mixed(handle: mindbank.MindBank) -> int:
        for i, k in enumerate(hot[: n // 2]):
            if i % 10 == 9:
                handle.store(k, f"new {i}", namespace="r")
            else:
                handle.retrieve(k, namespace="r")
        return n // 2

    def base_mixed() -> int:
        for i, k in enumerate(hot[: n // 2]):
            if i % 10 == 9:
                conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", ("r", k, f"new {i}"))
            else:
                conn.execute(
                    "SELECT value FROM kv WHERE namespace = ? AND key = ?", ("r", k)
                ).fetchone()
        return n // 2

    rate, base = fresh_rate(mixed), _best_rate(base_mixed)
    no_tier = fresh_rate(mixed, dataclasses.replace(STORE_ONLY, working_memory_bytes=0))
    _row("hot set, 1 store per 10 retrieves", rate, "ops/s", "-", rate / base)
    print(f"  (the same with the working-memory tier off: {no_tier:,.1f} ops/s; "
          f"the tier makes it x{rate / no_tier:.2f})")  # fmt: skip

    mb = mindbank.open(tmp / "single.db", settings=STORE_ONLY)

    def mb_peek() -> int:
        for k in keys:
            mb.get(k, namespace="r")
        return n

    rate, base = _best_rate(mb_peek), _best_rate(base_get(keys))
    _row("get (no access count)", rate, "ops/s", "-", rate / base)

    # What the handle's lock costs (threads may share a handle): the same gets through the
    # method without its lock, in the same run.
    unlocked_get = mindbank.MindBank.get.__wrapped__  # type: ignore[attr-defined]

    def mb_peek_unlocked() -> int:
        for k in keys:
            unlocked_get(mb, k, namespace="r")
        return n

    bare = _best_rate(mb_peek_unlocked)
    print(
        f"{'  the lock':<34} {1e9 / rate - 1e9 / bare:>12,.0f} ns/call   "
        f"(get without it: {bare:,.0f}/s; with: x{rate / bare:.2f})"
    )

    # list 100 by prefix -------------------------------------------------------------------
    # Each prefix matches 1,000 keys; the list takes the first 100.
    prefixes = [f"key-{i:04d}" for i in range(max(n // 1000, 1))]

    def mb_list() -> int:
        for p in prefixes * 50:
            assert len(mb.list(namespace="r", pattern=p + "*", limit=100)) == 100
        return len(prefixes) * 50

    def base_list() -> int:
        for p in prefixes * 50:
            conn.execute(
                "SELECT key, value FROM kv WHERE namespace = ? AND key >= ? AND key < ? "
                "ORDER BY key LIMIT 100",
                ("r", p, p[:-1] + chr(ord(p[-1]) + 1)),
            ).fetchall()
        return len(prefixes) * 50

    rate, base = _best_rate(mb_list), _best_rate(base_list)
    _row("list 100 by prefix", 1000.0 / rate, "ms", "< 1 ms", (1 / base) / (1 / rate))
    mb.close()
    conn.close()

    # CLI: process start to exit -----------------------------------------------------------
    db = tmp / "single.db"
    env = {**os.environ, "MINDBANK_DB": str(db)}
    cli = [sys.executable, "-m", "mindbank", "memory", "retrieve", keys[0], "-n", "r"]
    base_cmd = [
        sys.executable,
        "-c",
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute(\"SELECT value FROM memory_store WHERE namespace='r' AND key=?\", "
        "(sys.argv[2],)).fetchone()[0])",
        str(db),
        keys[0],
    ]

    def median_ms(cmd: list[str]) -> float:
        times = []
        for _ in range(args.cli_runs):
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    cli_ms, base_ms = median_ms(cli), median_ms(base_cmd)
    _row("CLI retrieve, start to exit", cli_ms, "ms median", "<= 150 ms", base_ms / cli_ms)
    print(f"(baseline for the CLI: `python -c` with sqlite3 alone, {base_ms:.1f} ms median)")


if __name__ == "__main__":
    main()

"""Many agents, one memory: eight processes storing and reading at once, on PostgreSQL (a real
server from the pgserver wheel, each agent a connection of one tenant) and on one SQLite file,
in the same run.

Each agent does 500 operations, alternating a store of a new key and a retrieve of one of its
earlier keys. Reported: operations per second for all agents together, and p50/p99 latency of
stores and of retrieves. Search is not on PostgreSQL yet and is not measured here.

Run: ``python bench/shared.py`` (needs ``pip install .[dev]`` for pgserver).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mindbank
from mindbank.store.postgres import create_tenant
from pg_server import pg_server

AGENTS = 8
OPS = 500

AGENT = """
import json, sys, time, mindbank
target, name, ops = sys.argv[1], sys.argv[2], int(sys.argv[3])
stores, reads = [], []
with mindbank.open(target, settings=mindbank.Settings(embed=False)) as mb:
    for i in range(ops // 2):
        t = time.perf_counter()
        mb.store(f"{name}-{i}", {"agent": name, "i": i, "note": "x" * 100}, namespace="shared")
        stores.append(time.perf_counter() - t)
        t = time.perf_counter()
        mb.retrieve(f"{name}-{i // 2}", namespace="shared")
        reads.append(time.perf_counter() - t)
print(json.dumps({"stores": stores, "reads": reads}))
"""


def run(target: str) -> tuple[float, list[float], list[float]]:
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", AGENT, target, f"a{n}", str(OPS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(AGENTS)
    ]
    outs = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    wall = time.perf_counter() - start
    stores = [x for o in outs for x in o["stores"]]
    reads = [x for o in outs for x in o["reads"]]
    return wall, stores, reads


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000


def report(label: str, wall: float, stores: list[float], reads: list[float]) -> float:
    rate = (len(stores) + len(reads)) / wall
    print(f"{label:12s} {rate:8,.0f} ops/s   store p50 {pct(stores, .5):6.2f} ms  p99 "
          f"{pct(stores, .99):6.2f} ms   retrieve p50 {pct(reads, .5):6.2f} ms  p99 "
          f"{pct(reads, .99):6.2f} ms")  # fmt: skip
    return rate


def main() -> None:
    print(f"{AGENTS} agent processes x {OPS} operations (store / retrieve alternating), "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    with pg_server() as admin:
        mindbank.open(admin).close()
        token = create_tenant(admin, f"bench_{os.getpid()}")
        url = admin.replace("postgres:@", f"bench_{os.getpid()}:{token}@")
        sqlite_path = str(Path(tempfile.mkdtemp()) / "shared.db")
        mindbank.open(sqlite_path, settings=mindbank.Settings(embed=False)).close()
        s = report("SQLite file", *run(sqlite_path))
        p = report("PostgreSQL", *run(url))
        print(f"PostgreSQL / SQLite throughput: x{p / s:.2f}")


if __name__ == "__main__":
    main()

"""Many agents, one memory: eight processes storing, reading and searching at once, on
PostgreSQL (a real server from the pgserver wheel, each agent a connection of one tenant) and on
one SQLite file, in the same run.

Each agent does 600 operations in rounds of three: a store of a new key (embedded with the
hashing embedder, so every entry has a vector; the model's cost would hide the store's), a
retrieve of one of its earlier keys, and a hybrid search (vectors + keywords) over everything
stored so far by all agents. Reported: operations per second for all agents together, and p50/p99
latency of each kind.

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
OPS = 600
KINDS = ("stores", "reads", "searches")

AGENT = """
import json, sys, time, mindbank
target, name, ops = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {"stores": [], "reads": [], "searches": []}
topics = ["retry with backoff", "cache invalidation", "schema migration", "token refresh"]
with mindbank.open(target, embedder="hashing") as mb:
    for i in range(ops // 3):
        t = time.perf_counter()
        mb.store(f"{name}-{i}", f"{topics[i % 4]}: note {i} by agent {name}", namespace="shared")
        out["stores"].append(time.perf_counter() - t)
        t = time.perf_counter()
        mb.retrieve(f"{name}-{i // 2}", namespace="shared")
        out["reads"].append(time.perf_counter() - t)
        t = time.perf_counter()
        mb.search(topics[(i + 1) % 4], k=5, namespace="shared")
        out["searches"].append(time.perf_counter() - t)
print(json.dumps(out))
"""


def run(target: str) -> tuple[float, dict[str, list[float]]]:
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", AGENT, target, f"a{n}", str(OPS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(AGENTS)
    ]
    outs = [json.loads(p.communicate(timeout=900)[0]) for p in procs]
    wall = time.perf_counter() - start
    return wall, {k: [x for o in outs for x in o[k]] for k in KINDS}


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000


def report(label: str, wall: float, times: dict[str, list[float]]) -> float:
    rate = sum(len(v) for v in times.values()) / wall
    parts = "   ".join(
        f"{k} p50 {pct(v, 0.5):6.2f} ms p99 {pct(v, 0.99):6.2f} ms" for k, v in times.items()
    )
    print(f"{label:12s} {rate:7,.0f} ops/s   {parts}")
    return rate


def main() -> None:
    print(f"{AGENTS} agent processes x {OPS} operations (store / retrieve / hybrid search), "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    with pg_server() as admin:
        mindbank.open(admin).close()
        token = create_tenant(admin, f"bench_{os.getpid()}")
        url = admin.replace("postgres:@", f"bench_{os.getpid()}:{token}@")
        sqlite_path = str(Path(tempfile.mkdtemp()) / "shared.db")
        mindbank.open(sqlite_path, embedder="hashing").close()
        s = report("SQLite file", *run(sqlite_path))
        p = report("PostgreSQL", *run(url))
        print(f"PostgreSQL / SQLite throughput: x{p / s:.2f}")


if __name__ == "__main__":
    main()

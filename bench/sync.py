"""Replica sync: what a round costs, against writing the same entries straight into the shared
PostgreSQL memory, in the same run.

Replica A stores N entries locally (each one a local write, as an agent offline would), then
one round of sync pushes them (capture, the operations kept once, every touched entry merged
into the shared memory) and replica B pulls them (added, merged into its own memory). The
baseline writes the same N entries into the shared memory with ``store_many`` (one
transaction), and one by one with ``store`` (what an agent without a replica does).

Run: ``python bench/sync.py [N]`` (needs ``pip install .[dev]`` for pgserver).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import mindbank
from mindbank.store.postgres import create_tenant
from pg_server import pg_server


def tenant(admin: str, name: str) -> str:
    token = create_tenant(admin, name)
    return admin.replace("postgres:@", f"{name}:{token}@")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    folder = Path(tempfile.mkdtemp(prefix="mindbank-bench-sync-"))
    items = [{"key": f"k{i}", "value": {"i": i, "note": "x" * 80}, "tags": ["t"]}
             for i in range(n)]  # fmt: skip
    print(f"{n} entries, hashing embedder, server on this machine ({os.cpu_count()} CPUs)")
    with pg_server() as admin:
        mindbank.open(admin).close()
        url = tenant(admin, f"sync_{os.getpid()}")
        with mindbank.open(folder / "a.db", embedder="hashing") as a:
            t = time.perf_counter()
            for it in items:
                a.store(it["key"], it["value"], tags=it["tags"])
            local = time.perf_counter() - t
            t = time.perf_counter()
            ra = a.sync(url)
            push = time.perf_counter() - t
        with mindbank.open(folder / "b.db", embedder="hashing") as b:
            t = time.perf_counter()
            rb = b.sync(url)
            pull = time.perf_counter() - t
            if b.count() != n or rb.pulled < n:
                raise SystemExit(f"replica B did not get every entry: {rb}")
        direct = tenant(admin, f"direct_{os.getpid()}")
        with mindbank.open(direct, embedder="hashing") as d:
            t = time.perf_counter()
            d.store_many(items)
            many = time.perf_counter() - t
        direct2 = tenant(admin, f"single_{os.getpid()}")
        with mindbank.open(direct2, embedder="hashing") as d:
            t = time.perf_counter()
            for it in items:
                d.store(it["key"], it["value"], tags=it["tags"])
            single = time.perf_counter() - t
    print(f"replica A, local stores:      {n / local:9,.0f} entries/s ({local:.2f} s)")
    print(f"replica A, one sync (push):   {ra.pushed / push:9,.0f} ops/s ({ra.pushed} ops, "
          f"{ra.server_written} entries written on the server, {push:.2f} s)")  # fmt: skip
    print(f"replica B, one sync (pull):   {rb.pulled / pull:9,.0f} ops/s ({rb.pulled} ops, "
          f"{pull:.2f} s)")  # fmt: skip
    print(f"baseline: store_many on PG:   {n / many:9,.0f} entries/s ({many:.2f} s)")
    print(f"baseline: store one by one:   {n / single:9,.0f} entries/s ({single:.2f} s)")
    print(f"A's write + push + B's pull, per entry, against store one by one on PG: "
          f"x{single / (local + push + pull):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

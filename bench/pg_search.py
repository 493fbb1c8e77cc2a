"""Search on PostgreSQL at 100,000 entries: the per-tenant pgvector HNSW index against the exact
ranking, in the same run, on the same queries.

The entries' vectors are synthetic unit vectors of 384 dimensions (the default embedder's
length; the benchmark measures the index, not the embedding model), clustered like text
embeddings (default) or uniformly random (``--data random``, the worst case for any index),
stored through mindbank as one tenant. Reported: time to build the index, p50/p99 of ``semantic`` search through the index and
exactly, recall@10 of the index against the exact ranking, and whether the plan used the index.

Run: ``python bench/pg_search.py [--entries 100000]`` (needs ``pip install .[dev]``; several
minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import mindbank
from mindbank.store.pg_vectors import PgVectorRepo, vector_literal
from mindbank.store.postgres import HNSW_DIMS, PgDatabase, create_tenant
from pg_server import pg_server

_CENTERS: dict[int, np.ndarray] = {}


def _vectors(rng: np.random.Generator, n: int, dims: int, kind: str) -> np.ndarray:
    """Unit vectors: uniformly random (the hardest case for any index: every point is about
    as far from every other), or clustered like embeddings of text on a few thousand topics
    (each a noisy copy of one of 2,000 topic directions)."""
    if kind == "random":
        x = rng.standard_normal((n, dims)).astype(np.float32)
    else:
        if dims not in _CENTERS:
            _CENTERS[dims] = np.random.default_rng(1).standard_normal((2000, dims))
        centers = _CENTERS[dims]
        x = (centers[rng.integers(0, len(centers), n)]
             + 0.6 * rng.standard_normal((n, dims))).astype(np.float32)  # fmt: skip
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=["clustered", "random"], default="clustered")
    args = parser.parse_args()
    n, dims = args.entries, HNSW_DIMS
    with pg_server() as admin:
        mindbank.open(admin).close()
        name = f"bench_{os.getpid()}"
        url = admin.replace("postgres:@", f"{name}:{create_tenant(admin, name)}@")
        adb = PgDatabase(admin)
        index_sql = next(
            r[0]
            for r in adb.run(
                "SELECT indexdef FROM pg_indexes WHERE indexname = ?", (f"embeddings_hnsw_{name}",)
            )
        )
        adb.run(f"DROP INDEX embeddings_hnsw_{name}")  # built once, after the rows
        rng = np.random.default_rng(0)
        vecs = _vectors(rng, n, dims, args.data)
        t0 = time.perf_counter()
        with mindbank.open(url, settings=mindbank.Settings(embed=False)) as mb:
            for lo in range(0, n, 10_000):
                mb.store_many({"key": f"k{i:06d}", "value": f"entry {i}"}
                              for i in range(lo, min(n, lo + 10_000)))  # fmt: skip
            ids = [int(r[0]) for r in mb._db.run("SELECT id FROM memory_store ORDER BY id")]
            repo = PgVectorRepo(mb._db)
            with mb._db.transaction():
                for lo in range(0, n, 5_000):
                    repo.put([(ids[i], "random:384", str(i), vecs[i]) for i in
                              range(lo, min(n, lo + 5_000))])  # fmt: skip
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        adb.run(index_sql)
        build = time.perf_counter() - t0
        adb.run("ANALYZE embeddings")
        adb.close()
        print(f"{n:,} entries ({args.data} vectors of {dims} dims) in one tenant; loaded in {load:.1f} s; "
              f"HNSW index built in {build:.1f} s")  # fmt: skip
        db = PgDatabase(url)
        repo = PgVectorRepo(db)
        queries = _vectors(rng, args.queries, dims, args.data)
        filters = (None, (), 0.0, None, None)
        times: dict[str, list[float]] = {"hnsw": [], "exact": []}
        recall = []
        for q in queries:
            t = time.perf_counter()
            approx = repo.semantic(q, "random:384", 10, filters)
            times["hnsw"].append(time.perf_counter() - t)
            t = time.perf_counter()
            exact = repo.semantic(q, "random:384", 10, filters, exact=True)
            times["exact"].append(time.perf_counter() - t)
            recall.append(len({i for i, _ in approx} & {i for i, _ in exact}) / 10)
        q = vector_literal(queries[0])
        plan = "\n".join(r[0] for r in db.run(
            f"EXPLAIN SELECT entry_id FROM embeddings WHERE tenant = '{name}' AND "
            f"vector_dims(vector) = {dims} AND embedder = 'random:384' ORDER BY "
            f"(vector::vector({dims})) <=> ?::vector({dims}) LIMIT 40", (q,)))  # fmt: skip
        for label, xs in times.items():
            ms = sorted(x * 1000 for x in xs)
            print(f"semantic search, {label:5s}: p50 {statistics.median(ms):8.2f} ms   "
                  f"p99 {ms[int(0.99 * (len(ms) - 1))]:8.2f} ms")  # fmt: skip
        ratio = statistics.median(times["exact"]) / statistics.median(times["hnsw"])
        print(f"recall@10 of the index against exact: {statistics.mean(recall):.3f} "
              f"({len(recall)} queries); the index is x{ratio:.1f} faster at p50")  # fmt: skip
        print("plan uses the tenant's HNSW index:", f"embeddings_hnsw_{name}" in plan)
        db.close()


if __name__ == "__main__":
    main()

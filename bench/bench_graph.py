"""The memory graph at scale: LSH neighbour search and sparse PageRank.

Vectors: 384-dimensional unit vectors in clusters (synthetic: embedding 100,000 real texts
with the default model would take about half an hour here; the search's cost depends on the
vectors' distribution, which clusters of near-duplicates resemble). Prints, at 10,000 and
100,000 entries: the LSH neighbour search time, its recall of the pairs above the threshold
against the exact blocked search (10,000 only: the exact search at 100,000 is what LSH avoids),
and PageRank's time over the resulting edges, against a dense baseline at 2,000 nodes.

Run: ``python bench/bench_graph.py``.
"""

from __future__ import annotations

import time

import numpy as np

from mindbank.learning.graph import pagerank
from mindbank.vectors.lsh import similar_neighbours
from mindbank.vectors.pairs import similar_pairs


def vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(1, n // 20), 384))
    m = centers[rng.integers(0, len(centers), n)] + 0.4 * rng.standard_normal((n, 384))
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    for n in (10_000, 100_000):
        m = vectors(n)
        t0 = time.perf_counter()
        src, dst, _ = similar_neighbours(m, 0.8, k=10)
        t_lsh = time.perf_counter() - t0
        line = f"{n:>7,} entries: LSH neighbours {t_lsh:6.2f} s, {len(src):,} directed edges"
        if n <= 10_000:
            t0 = time.perf_counter()
            exact = similar_pairs(m, 0.8)
            t_exact = time.perf_counter() - t0
            fs, fd, _ = similar_neighbours(m, 0.8, k=10_000)  # every pair it finds
            pairs = {(min(a, b), max(a, b)) for a, b in zip(fs.tolist(), fd.tolist(), strict=True)}
            recall = len(pairs) / max(1, len(exact))
            line += (
                f" | exact all-pairs {t_exact:.2f} s, {len(exact):,} pairs; LSH recall {recall:.3f}"
            )
        t0 = time.perf_counter()
        rank = pagerank(n, src, dst)
        t_pr = time.perf_counter() - t0
        line += f" | PageRank {t_pr * 1000:.0f} ms (sum {rank.sum():.6f})"
        print(line, flush=True)
    n = 2000
    rng = np.random.default_rng(1)
    src = rng.integers(0, n, 20_000)
    dst = rng.integers(0, n, 20_000)
    t0 = time.perf_counter()
    sparse = pagerank(n, src, dst, tol=1e-12)
    t_sparse = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = np.zeros((n, n))
    np.add.at(g, (dst, src), 1.0)
    out = g.sum(axis=0)
    g = np.where(out > 0, g / np.where(out > 0, out, 1), 1.0 / n)
    r = np.full(n, 1.0 / n)
    for _ in range(200):
        new = 0.15 / n + 0.85 * g @ r
        if np.abs(new - r).sum() < 1e-12:
            break
        r = new
    t_dense = time.perf_counter() - t0
    print(f"  2,000 nodes, 20,000 edges: sparse {t_sparse * 1000:.1f} ms, dense {t_dense * 1000:.1f} ms "
          f"(x{t_dense / t_sparse:.1f}); max difference {np.abs(sparse - r).max():.2e}")  # fmt: skip


if __name__ == "__main__":
    main()

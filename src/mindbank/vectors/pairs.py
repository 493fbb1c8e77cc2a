"""All pairs of unit vectors above a cosine threshold, without an n x n matrix in memory.

Rows are compared in blocks (``block`` rows against all later rows), so memory stays at
``block x n`` floats and the work is BLAS matrix products: 10,000 x 384 takes about a second
on two cores. Exact: every pair is scored.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["similar_pairs"]


def similar_pairs(
    matrix: npt.NDArray[np.float32], threshold: float, block: int = 1024
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, cosine)`` with ``i < j`` and cosine >= threshold, sorted by cosine
    descending (ties by i, then j)."""
    n = len(matrix)
    out: list[tuple[int, int, float]] = []
    m = np.ascontiguousarray(matrix, dtype=np.float32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        sims = m[lo:hi] @ m[lo:].T  # rows lo..hi against lo..n
        # keep only j > i: in the block's square, the strict upper triangle
        sims[:, : hi - lo] = np.where(
            np.triu(np.ones((hi - lo, hi - lo), dtype=bool), k=1), sims[:, : hi - lo], -np.inf
        )
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            out.append((lo + r, lo + c, float(sims[r, c])))
    out.sort(key=lambda p: (-p[2], p[0], p[1]))
    return out

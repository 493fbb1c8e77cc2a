"""Maximal marginal relevance: pick results that are relevant and not redundant.

``lambda_`` is the weight of relevance: 1.0 is pure relevance (the input order), 0.0 pure
diversity. Each step picks the candidate maximising
``lambda_ * relevance - (1 - lambda_) * max(similarity to already picked)``; ties go to the
earlier candidate. The output is in selection order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["mmr"]


def mmr(
    relevance: npt.NDArray[np.float64] | npt.NDArray[np.float32],
    vectors: npt.NDArray[np.float32],
    k: int,
    lambda_: float,
) -> list[int]:
    """Greedy MMR over candidates.

    Args:
        relevance: one relevance score per candidate.
        vectors: unit vectors of the candidates (rows); a zero row has no similarity to anything.
        k: how many to pick.
        lambda_: weight of relevance in [0, 1].

    Returns:
        Candidate positions in selection order.
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"lambda must be in [0, 1], got {lambda_}")
    n = len(relevance)
    k = min(k, n)
    if k <= 0:
        return []
    rel = np.asarray(relevance, dtype=np.float64)
    sims = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    picked: list[int] = []
    max_sim = np.full(n, -np.inf)
    available = np.ones(n, dtype=bool)
    for _ in range(k):
        redundancy = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lambda_ * rel - (1.0 - lambda_) * redundancy
        value[~available] = -np.inf
        best = int(np.argmax(value))
        picked.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, sims[best])
    return picked

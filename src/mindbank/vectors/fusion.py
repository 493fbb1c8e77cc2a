"""Hybrid fusion: one score from a semantic (cosine) and a keyword (BM25) score.

Two rules, both measured in ``bench/retrieval_quality.py`` (the figures are in docs/search.md):

- ``"convex"`` (default): ``alpha * cosine + (1 - alpha) * bm25 / (bm25 + k)``. BM25 is
  unbounded, so it is squashed into [0, 1) by a saturating curve whose half-point is ``k``: a
  weak match on a common word adds little, a strong match on rare terms adds up to
  ``1 - alpha``. A candidate the keyword index did not match gets 0 for that part. Scaling BM25
  by the best score among the candidates instead (the common recipe) turned the weakest keyword
  match into a full point and made hybrid worse than semantic alone on paraphrased queries.
- ``"rrf"``: reciprocal rank fusion, ``1 / (60 + rank_semantic) + 1 / (60 + rank_keyword)``;
  scale-free, but it throws away how much better the first result is than the second.
"""

from __future__ import annotations

from collections.abc import Mapping

from mindbank.errors import shown

__all__ = ["FUSIONS", "fuse"]

FUSIONS = ("convex", "rrf")
_RRF_K = 60.0


def fuse(
    semantic: Mapping[int, float],
    keyword: Mapping[int, float],
    *,
    rule: str = "convex",
    alpha: float = 0.7,
    k: float = 16.0,
) -> dict[int, float]:
    """Fuse per-id scores; ids missing from one side score 0 (or no rank) there.

    Args:
        semantic: id -> cosine similarity.
        keyword: id -> BM25 score (higher is better, > 0).
        rule: ``"convex"`` or ``"rrf"``.
        alpha: the semantic weight of the convex rule.
        k: the BM25 score that counts as half a keyword point in the convex rule.
    """
    ids = set(semantic) | set(keyword)
    if rule == "convex":
        return {
            i: alpha * semantic.get(i, 0.0) + (1.0 - alpha) * _squash(keyword.get(i, 0.0), k)
            for i in ids
        }
    if rule == "rrf":
        sem_rank = {i: r for r, i in enumerate(sorted(semantic, key=lambda i: -semantic[i]), 1)}
        kw_rank = {i: r for r, i in enumerate(sorted(keyword, key=lambda i: -keyword[i]), 1)}
        return {
            i: (1.0 / (_RRF_K + sem_rank[i]) if i in sem_rank else 0.0)
            + (1.0 / (_RRF_K + kw_rank[i]) if i in kw_rank else 0.0)
            for i in ids
        }
    raise ValueError(f"unknown fusion rule {shown(rule)}; choose one of {FUSIONS}")


def _squash(bm25: float, k: float) -> float:
    return bm25 / (bm25 + k) if bm25 > 0 else 0.0

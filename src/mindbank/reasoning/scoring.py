"""The ReasoningBank's arithmetic, as pure functions: confidence updates, recency, scores.

Kept free of the database so each rule is tested on its own and documented in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # numpy loads when a query scores, not when a trajectory is recorded
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]

__all__ = ["blend_similarity", "merged_confidence", "recency", "score", "update_confidence"]


def update_confidence(confidence: float, success: bool, rate_up: float, rate_down: float) -> float:
    """The confidence after one reported use.

    A success moves it ``rate_up`` of the way to 1, a failure ``rate_down`` of the way to 0;
    so it stays in [0, 1], approaches but never reaches either end, and a use that agrees with a
    confident item changes it little.
    """
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be in [0, 1], got {confidence}")
    if success:
        return confidence + rate_up * (1.0 - confidence)
    return confidence - rate_down * confidence


def merged_confidence(confidences: list[float], usage_counts: list[int]) -> float:
    """Confidence of items merged into one: their mean weighted by evidence (uses + 1)."""
    weights = [u + 1 for u in usage_counts]
    return sum(c * w for c, w in zip(confidences, weights, strict=True)) / sum(weights)


def recency(age: Floats, half_life: float) -> Floats:
    """``0.5 ** (age / half_life)``: 1 for now, 0.5 one half-life ago (negative ages count 0)."""
    import numpy as np

    return np.power(0.5, np.maximum(age, 0.0) / half_life)


def blend_similarity(
    content: Floats, task: Floats, has_task: npt.NDArray[np.bool_], task_weight: float
) -> Floats:
    """Content similarity, blended with task similarity where the item has a task vector."""
    blended = (1.0 - task_weight) * content + task_weight * task
    import numpy as np

    return np.where(has_task, blended, content)


def score(
    similarity: Floats,
    recency_: Floats,
    reliability: Floats,
    w_similarity: float,
    w_recency: float,
    w_reliability: float,
) -> Floats:
    """The ranking score: a weighted sum of similarity, recency and reliability."""
    return w_similarity * similarity + w_recency * recency_ + w_reliability * reliability

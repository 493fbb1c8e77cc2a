"""The learning rules, as pure functions of an entry's state and the time.

Tested on their own; the settings are :class:`mindbank.config.LearningSettings`.
"""

from __future__ import annotations

from mindbank.config import MODES, LearningSettings

__all__ = ["confidence", "learn_boost"]

DAY = 86400.0


def learn_boost(boost: float, reward: float, rate: float) -> float:
    """Move a boost ``rate`` of the way toward ``reward`` (both in [-1, 1]); it stays in
    [-1, 1] and repeated equal rewards approach it geometrically."""
    if not -1.0 <= reward <= 1.0:
        raise ValueError(f"reward must be in [-1, 1], got {reward}")
    return boost + rate * (reward - boost)


def confidence(
    access_count: int,
    created_at: float,
    accessed_at: float | None,
    now: float,
    settings: LearningSettings,
) -> float:
    """An entry's confidence in [0, 1] (the reference's LearningBridge).

    A new entry starts at 0.5 (stored, not yet shown useful). Each access adds
    ``access_boost`` (capped at 1); each idle day since the last access (or creation) multiplies it by
    ``1 - confidence_decay_rate``, at half that rate once the entry has reached
    ``consolidation_threshold`` accesses. ``mode`` scales both rates (aggressive x2,
    conservative x0.5).
    """
    scale = MODES[settings.mode]
    rate = min(1.0, settings.confidence_decay_rate * scale)
    if access_count >= settings.consolidation_threshold:
        rate /= 2
    boost = settings.access_boost * scale
    base = min(1.0, 0.5 + boost * access_count)
    last = accessed_at if accessed_at is not None else created_at
    idle_days = max(0.0, now - last) / DAY
    return float(base * (1.0 - rate) ** idle_days)

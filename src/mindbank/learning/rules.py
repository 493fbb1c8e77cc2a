"""The learning rules, as pure functions of an entry's state and the time.

Tested on their own; the settings are :class:`mindbank.config.LearningSettings`.
"""

from __future__ import annotations

from mindbank.config import MODES, LearningSettings

__all__ = ["confidence", "learn_boost", "tier_of"]

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
    """An entry's confidence in [0, 1] (Claude-Flow's LearningBridge).

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


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < DAY:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY:.1f} d"


def tier_of(
    access_count: int,
    updated_at: float,
    accessed_at: float | None,
    now: float,
    settings: LearningSettings,
) -> tuple[str, str]:
    """An entry's tier (``hot``, ``warm``, ``cold``) and why, from its use and age.

    Hot: at least ``hot_accesses`` accesses and the last within ``hot_within``. Cold: no
    access and no update for ``cold_after``. Warm: the rest.
    """
    last_access = accessed_at if accessed_at is not None else None
    last_touch = max(updated_at, accessed_at or 0.0)
    if (
        access_count >= settings.hot_accesses
        and last_access is not None
        and now - last_access <= settings.hot_within
    ):
        return "hot", (
            f"{access_count} accesses, the last {_ago(now - last_access)} ago "
            f"(hot: >= {settings.hot_accesses} within {_ago(settings.hot_within)})"
        )
    if now - last_touch >= settings.cold_after:
        return "cold", (
            f"untouched for {_ago(now - last_touch)} (cold: idle >= {_ago(settings.cold_after)})"
        )
    return "warm", f"{access_count} accesses, last touched {_ago(now - last_touch)} ago"

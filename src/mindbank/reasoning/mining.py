"""Pattern learning: which strategies, task kinds, agents and contexts go with success or
failure, mined from the judged trajectories (every pipeline run is one, in namespace
``pipeline``).

Every judged trajectory is described by its attributes: ``strategy``, ``kind``, ``agent``,
``namespace`` and ``lessons`` (whether it used ReasoningBank items: ``used`` / ``none``).
Every single attribute value and every pair is counted; a combination is a **pattern** when
its support reaches ``min_support`` and the 95 % Wilson interval of its success rate lies wholly
above the overall success rate, an **anti-pattern** when it lies wholly below. A pair is kept
only if it says more than each of its two single-attribute parts (its rate differs from each
part's by at least ``min_gain``), so "strategy X on kind Y" appears only when the combination
matters. Anti-patterns carry the most common failure reasons of their trajectories.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mindbank.errors import ValidationError, shown
from mindbank.records import MinedPattern
from mindbank.store.database import Database
from mindbank.store.repos import bank_repo

__all__ = ["ATTRIBUTES", "conditions_of", "describe", "item_key", "mine", "wilson"]

ATTRIBUTES = ("strategy", "kind", "agent", "namespace", "lessons")
_Z = 1.959964  # two-sided 95 %


def wilson(successes: int, n: int, z: float = _Z) -> tuple[float, float]:
    """The Wilson score interval of a success rate."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class _Group:
    ids: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)


def _reason(steps: Any, outcome: Any) -> str:
    """A short failure reason from a trajectory's outcome or its last step."""
    if isinstance(outcome, dict):
        for k in ("error", "reason", "exception"):
            if outcome.get(k):
                return str(outcome[k]).splitlines()[0][:80]
    if isinstance(steps, list) and steps and isinstance(steps[-1], dict):
        last = steps[-1]
        for k in ("error", "observation", "result"):
            if last.get(k):
                return str(last[k]).splitlines()[0][:80]
    return "no reason recorded"


def mine(
    db: Database,
    *,
    min_support: int = 5,
    min_gain: float = 0.1,
    namespace: str | None = None,
) -> tuple[int, float, list[MinedPattern]]:
    """Mine the judged trajectories; returns ``(trajectories, base rate, patterns)``,
    strongest first (anti-patterns by how far below, patterns by how far above).

    Raises:
        ValidationError: ``min_support`` < 2 or ``min_gain`` outside [0, 1].
    """
    if isinstance(min_support, bool) or not isinstance(min_support, int) or min_support < 2:
        raise ValidationError(f"min_support must be an integer >= 2, got {shown(min_support)}")
    if not 0.0 <= min_gain <= 1.0:
        raise ValidationError(f"min_gain must be in [0, 1], got {shown(min_gain)}")
    groups: dict[tuple[tuple[str, str], ...], _Group] = {}
    total = wins = 0
    rows = bank_repo(db).judged_trajectories(namespace)
    for tid, ns, kind, strategy, agent, success, steps, outcome, used in rows:
        attrs = {
            "strategy": strategy, "kind": kind, "agent": agent, "namespace": ns,
            "lessons": "used" if used not in (None, "", "[]") else "none",
        }  # fmt: skip
        present = sorted((a, str(v)) for a, v in attrs.items() if v is not None)
        ok = bool(success)
        total += 1
        wins += ok
        reason = None if ok else _reason(json.loads(steps), json.loads(outcome))
        for size in (1, 2):
            for combo in itertools.combinations(present, size):
                g = groups.setdefault(combo, _Group())
                g.ids.append(tid)
                if not ok:
                    g.failed.append(tid)
                    g.reasons[reason or ""] += 1
    if total == 0:
        return 0, 0.0, []
    base = wins / total
    rates = {c: 1 - len(g.failed) / len(g.ids) for c, g in groups.items()}
    out: list[MinedPattern] = []
    for combo, g in groups.items():
        n = len(g.ids)
        if n < min_support:
            continue
        s = n - len(g.failed)
        low, high = wilson(s, n)
        if low > base:
            label = "success"
        elif high < base:
            label = "failure"
        else:
            continue
        if len(combo) == 2 and any(
            abs(rates[combo] - rates[(part,)]) < min_gain for part in combo
        ):  # says no more than one of its parts
            continue
        failed = set(g.failed)
        evidence = (
            g.failed[:20] if label == "failure" else [i for i in g.ids if i not in failed][:20]
        )
        reasons = tuple(g.reasons.most_common(3)) if label == "failure" else ()
        out.append(
            MinedPattern(combo, label, n, s, s / n, base, low, high, tuple(evidence), reasons, None)
        )
    out.sort(key=lambda p: -(p.low - base if p.label == "success" else base - p.high))
    return total, base, out


def item_key(pattern: MinedPattern) -> str:
    """The ReasoningBank key a mined pattern is stored under (stable across runs)."""
    return "learned:" + ",".join(f"{a}={v}" for a, v in pattern.conditions)


def describe(pattern: MinedPattern) -> str:
    """The evidence, for the item's description."""
    parts = [
        f"support {pattern.support}, success rate {pattern.rate:.0%} "
        f"(95 % interval {pattern.low:.0%}-{pattern.high:.0%}; all tasks {pattern.base_rate:.0%})",
        "trajectories " + ", ".join(f"#{i}" for i in pattern.evidence[:10]),
    ]
    if pattern.reasons:
        parts.append("failures: " + "; ".join(f"{r} x{c}" for r, c in pattern.reasons))
    return ". ".join(parts)


def conditions_of(pattern: MinedPattern, name: str) -> str | None:
    """The value of one attribute in a pattern's conditions, if it has one."""
    return next((v for a, v in pattern.conditions if a == name), None)

"""What the pipeline learns from its runs: strategy profiles, selection, validation.

Profiles, per strategy and per task kind, are folded over the runs in order with
Claude-Flow's exponential moving average (rate 0.4): ``value = value * 0.6 + run * 0.4`` for the
success rate (1 or 0), the score and the time; plus uses, the trend (the last 10 runs' success
rate minus the 10 before) and the improvement rate (EMA success rate minus the plain success
rate). A Thompson-sampling selector draws from Beta(successes + 1, failures + 1) per strategy.

Selection with priorities (reliability, speed, score; presets ``production``,
``prototyping``, ``balanced``) ranks strategies by
``reliability * success_rate + speed * (1 - min(time / 10 s, 1)) + score * avg_score / 100``
and says why; the success rate used is the plain one by default (the EMA chose worse on
held-out tasks: ``bench/pipeline_learning.py``). Validation compares two sets of profiles metric by metric, higher being better
except for time, with a +/-5 % threshold and no division by zero.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mindbank.errors import ValidationError, shown

__all__ = ["PRESETS", "Profile", "Selection", "profiles", "select", "thompson", "validate"]

RATE = 0.4
PRESETS = {
    "production": {"reliability": 0.7, "speed": 0.1, "score": 0.2},
    "prototyping": {"reliability": 0.2, "speed": 0.6, "score": 0.2},
    "balanced": {"reliability": 0.4, "speed": 0.3, "score": 0.3},
}


@dataclass
class Profile:
    """A strategy's record (for one task kind, or all)."""

    strategy: str
    kind: str
    uses: int = 0
    successes: int = 0
    success_rate: float = 0.0
    avg_score: float = 0.0
    avg_seconds: float = 0.0
    recent: list[bool] = field(default_factory=list)

    def update(self, success: bool, run_score: float, seconds: float) -> None:
        if self.uses == 0:
            self.success_rate, self.avg_score, self.avg_seconds = float(success), run_score, seconds
        else:
            self.success_rate = self.success_rate * (1 - RATE) + float(success) * RATE
            self.avg_score = self.avg_score * (1 - RATE) + run_score * RATE
            self.avg_seconds = self.avg_seconds * (1 - RATE) + seconds * RATE
        self.uses += 1
        self.successes += int(success)
        self.recent = [*self.recent[-19:], success]

    @property
    def plain_rate(self) -> float:
        """Successes over uses (every run weighs the same)."""
        return self.successes / self.uses if self.uses else 0.0

    @property
    def trend(self) -> float | None:
        """Success rate of the last 10 runs minus the 10 before (None: fewer than 20 runs)."""
        if len(self.recent) < 20:
            return None
        return sum(self.recent[-10:]) / 10 - sum(self.recent[-20:-10]) / 10

    @property
    def improvement_rate(self) -> float:
        """EMA success rate minus the plain success rate over all runs."""
        return self.success_rate - (self.successes / self.uses if self.uses else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "kind": self.kind, "uses": self.uses,
            "successes": self.successes, "success_rate": round(self.success_rate, 4),
            "avg_score": round(self.avg_score, 3), "avg_seconds": round(self.avg_seconds, 4),
            "trend": self.trend, "improvement_rate": round(self.improvement_rate, 4),
        }  # fmt: skip


def profiles(runs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Profile]:
    """Profiles by ``(strategy, kind)`` and ``(strategy, "*")`` from runs in order."""
    out: dict[tuple[str, str], Profile] = {}
    for r in runs:
        for kind in (r["kind"], "*"):
            key = (r["strategy"], kind)
            p = out.setdefault(key, Profile(r["strategy"], kind))
            p.update(r["status"] == "passed", float(r["score"]), float(r["seconds"]))
    return out


@dataclass(frozen=True, slots=True)
class Selection:
    """The strategy picked for a task, and why."""

    strategy: str
    kind: str
    value: float
    reason: str
    ranking: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "kind": self.kind, "value": self.value,
                "reason": self.reason, "ranking": [list(r) for r in self.ranking]}  # fmt: skip


def select(
    profs: Mapping[tuple[str, str], Profile],
    kind: str,
    priorities: Mapping[str, float] | str = "balanced",
    strategies: Sequence[str] | None = None,
    rate: str = "plain",
) -> Selection:
    """The best strategy for a task kind under the priorities (the kind's own profiles when
    they exist, else the strategy's overall profile). ``rate`` is the success rate used:
    ``plain`` (successes over uses, the default) or ``ema`` (the profile's moving average,
    rate 0.4: on held-out MBPP it chose worse, 0.921 vs 1.000, see docs/pipeline.md). Ties
    go to the strategy with more runs, then by name."""
    if rate not in ("ema", "plain"):
        raise ValidationError(f"rate must be ema or plain, got {shown(rate)}")
    pri = PRESETS.get(priorities) if isinstance(priorities, str) else dict(priorities)
    if pri is None:
        raise ValidationError(f"priorities must be one of {', '.join(PRESETS)} or weights")
    if set(pri) - {"reliability", "speed", "score"}:
        raise ValidationError("priorities are reliability, speed and score")
    names = sorted({s for s, _ in profs} if strategies is None else set(strategies))
    ranked = []
    for name in names:
        p = profs.get((name, kind)) or profs.get((name, "*"))
        if p is None:
            continue
        success = p.success_rate if rate == "ema" else p.plain_rate
        value = (pri.get("reliability", 0) * success
                 + pri.get("speed", 0) * (1 - min(p.avg_seconds / 10.0, 1.0))
                 + pri.get("score", 0) * p.avg_score / 100.0)  # fmt: skip
        ranked.append((name, round(value, 4), p))
    if not ranked:
        raise ValidationError("no runs yet: run the pipeline first (`mindbank pipeline run`)")
    ranked.sort(key=lambda t: (-t[1], -t[2].uses, t[0]))
    name, value, p = ranked[0]
    scope = f"on {kind} tasks" if p.kind == kind else "overall (no runs of this kind yet)"
    rate_shown = p.success_rate if rate == "ema" else p.plain_rate
    reason = (f"{name}: success rate {rate_shown:.0%}, score {p.avg_score:.1f}, "
              f"{p.avg_seconds:.2f} s over {p.uses} runs {scope}")  # fmt: skip
    return Selection(name, kind, value, reason, tuple((n, v) for n, v, _ in ranked))


def thompson(
    profs: Mapping[tuple[str, str], Profile],
    kind: str,
    strategies: Sequence[str],
    rng: random.Random,
) -> str:
    """A strategy drawn by Thompson sampling from Beta(successes + 1, failures + 1)."""
    best, draw = strategies[0], -1.0
    for s in strategies:
        p = profs.get((s, kind))
        a, b = (p.successes + 1, p.uses - p.successes + 1) if p else (1, 1)
        x = rng.betavariate(a, b)
        if x > draw:
            best, draw = s, x
    return best


def validate(
    before: Mapping[str, float], after: Mapping[str, float], threshold: float = 0.05
) -> dict[str, dict[str, Any]]:
    """Per metric: before, after, relative change (None when before is 0) and a verdict
    (improved, regressed, unchanged) with time lower-is-better."""
    out: dict[str, dict[str, Any]] = {}
    for metric in sorted(set(before) & set(after)):
        b, a = float(before[metric]), float(after[metric])
        change = None if b == 0 else (a - b) / abs(b)
        lower_better = "seconds" in metric or "time" in metric
        delta = (b - a) if lower_better else (a - b)
        if change is None:
            verdict = "unchanged" if a == b else ("improved" if delta > 0 else "regressed")
        elif abs(change) < threshold:
            verdict = "unchanged"
        else:
            verdict = "improved" if delta > 0 else "regressed"
        out[metric] = {"before": b, "after": a, "change": change, "verdict": verdict}
    return out

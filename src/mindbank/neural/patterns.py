"""Cognitive patterns: which way of thinking an operation calls for, learned from examples.

The six patterns of Claude-Flow (convergent, divergent, lateral, systems, critical,
adaptive), each with its description and examples. ``analyze`` embeds the operation and scores
each pattern by its highest cosine to the pattern's texts, plus the cosine to their mean, plus
half the cosine to the mean of the operations learned for it (the texts' mean when none were);
the confidence is a softmax over the scores (temperature 0.1). With nothing learned this is
zero-shot; every ``learn`` adds a labelled example to its pattern's mean. The weights were
chosen on the hand-labelled set of the benchmark. ``predict``
estimates the chance of success of an operation from the outcomes of the most similar learned
operations (none learned with an outcome: no estimate, said so).

The accuracy on a hand-labelled set is measured in ``bench/cognitive_patterns.py``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mindbank.errors import ValidationError, shown
from mindbank.store.database import Database
from mindbank.store.neural import NeuralRepo

if TYPE_CHECKING:
    from mindbank.embedders.base import Embedder

__all__ = ["PATTERNS", "CognitivePatterns", "PatternAnalysis", "PatternPrediction"]

PATTERNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "convergent": ("Focused problem-solving with clear goal",
                   ("Bug fixes", "Algorithm optimization", "Test coverage")),
    "divergent": ("Creative exploration of alternatives",
                  ("Architecture design", "Feature brainstorming", "API design")),
    "lateral": ("Indirect and creative problem-solving",
                ("Innovative solutions", "Workarounds", "Refactoring")),
    "systems": ("Understanding interconnections and dependencies",
                ("Microservices", "CI/CD pipelines", "Distributed systems")),
    "critical": ("Analytical evaluation of information",
                 ("Code review", "Security audit", "Performance analysis")),
    "adaptive": ("Flexible response to changing conditions",
                 ("Dynamic optimization", "Fault tolerance", "Auto-scaling")),
}  # fmt: skip
TEMPERATURE = 0.1
NEIGHBOURS = 5
LEARNED_WEIGHT = 0.5


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


@dataclass(frozen=True, slots=True)
class PatternAnalysis:
    """The pattern an operation calls for, how sure, and each pattern's score."""

    operation: str
    pattern: str
    confidence: float
    probabilities: dict[str, float]
    similarities: dict[str, float]
    learned_examples: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation, "pattern": self.pattern, "confidence": self.confidence,
            "probabilities": self.probabilities, "similarities": self.similarities,
            "learned_examples": self.learned_examples,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class PatternPrediction:
    """The chance an operation succeeds, from similar learned operations (None: no data)."""

    operation: str
    success_probability: float | None
    neighbours: int
    reasoning: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation, "success_probability": self.success_probability,
            "neighbours": self.neighbours, "reasoning": self.reasoning,
        }  # fmt: skip


class CognitivePatterns:
    """Get one as ``mb.neural.patterns``."""

    def __init__(self, db: Database, embedder: Callable[[], Embedder], clock: Callable[[], float]):
        self._db = db
        self._repo = NeuralRepo(db)
        self._embedder_fn = embedder
        self._clock = clock
        self._prototypes: tuple[list[str], np.ndarray] | None = None

    def _base(self) -> tuple[list[str], np.ndarray]:
        if self._prototypes is None:
            labels, texts = [], []
            for name, (description, examples) in PATTERNS.items():
                for text in (description, *examples):
                    labels.append(name)
                    texts.append(text)
            self._prototypes = (labels, self._embedder_fn().embed(texts).astype(np.float64))
        return self._prototypes

    def _examples(self) -> tuple[list[str], list[str | None], list[str], np.ndarray]:
        e = self._embedder_fn()
        rows = self._repo.examples(e.identity)
        if not rows:
            return [], [], [], np.zeros((0, e.dims))
        vecs = np.stack([np.frombuffer(r[3], dtype="<f4") for r in rows]).astype(np.float64)
        return [r[1] for r in rows], [r[2] for r in rows], [r[0] for r in rows], vecs

    @staticmethod
    def _check(operation: object) -> str:
        if not isinstance(operation, str) or not operation.strip():
            raise ValidationError("the operation must be a non-empty description")
        return operation

    def analyze(self, operation: str) -> PatternAnalysis:
        """The pattern the operation calls for (zero-shot plus what was learned)."""
        self._check(operation)
        q = self._embedder_fn().embed_one(operation).astype(np.float64)
        labels, base = self._base()
        learned, _, _, vecs = self._examples()
        names = list(PATTERNS)
        score, best = np.zeros(len(names)), {}
        for j, name in enumerate(names):
            own = base[[i for i, lab in enumerate(labels) if lab == name]]
            sims = own @ q
            best[name] = float(sims.max())
            proto = _unit(own.mean(axis=0)) @ q
            mine = [i for i, lab in enumerate(learned) if lab == name]
            taught = _unit(vecs[mine].mean(axis=0)) @ q if mine else proto
            score[j] = best[name] + proto + LEARNED_WEIGHT * taught
        probs = np.exp((score - score.max()) / TEMPERATURE)
        probs /= probs.sum()
        i = int(np.argmax(probs))
        return PatternAnalysis(
            operation, names[i], float(probs[i]),
            {n: float(p) for n, p in zip(names, probs, strict=True)},
            {n: round(best[n], 6) for n in names}, len(learned),
        )  # fmt: skip

    def learn(self, operation: str, pattern: str, outcome: str | None = None) -> int:
        """Store a labelled operation (and how it turned out, if known); returns how many
        examples are learned now."""
        self._check(operation)
        if pattern not in PATTERNS:
            raise ValidationError(
                f"pattern must be one of {', '.join(PATTERNS)}, got {shown(pattern)}"
            )
        if outcome not in (None, "success", "failure"):
            raise ValidationError(f"outcome must be success or failure, got {shown(outcome)}")
        e = self._embedder_fn()
        vec = e.embed_one(operation).astype("<f4").tobytes()
        with self._db.transaction():
            self._repo.add_example(operation, pattern, outcome, e.identity, vec, self._clock())
        return len(self._repo.examples(e.identity))

    def learn_many(self, rows: builtins.list[tuple[str, str, str | None]]) -> int:
        """Store many labelled operations at once (embedded in one batch)."""
        for op, pattern, outcome in rows:
            self._check(op)
            if pattern not in PATTERNS or outcome not in (None, "success", "failure"):
                raise ValidationError(
                    f"bad label for {shown(op)}: {shown(pattern)}, {shown(outcome)}"
                )
        e = self._embedder_fn()
        vecs = e.embed([r[0] for r in rows])
        now = self._clock()
        with self._db.transaction():
            for (op, pattern, outcome), v in zip(rows, vecs, strict=True):
                self._repo.add_example(op, pattern, outcome, e.identity,
                                       v.astype("<f4").tobytes(), now)  # fmt: skip
        return len(self._repo.examples(e.identity))

    def predict(self, operation: str) -> PatternPrediction:
        """The chance of success, from the outcomes of the most similar learned operations."""
        self._check(operation)
        _, outcomes, texts, vecs = self._examples()
        known = [i for i, o in enumerate(outcomes) if o is not None]
        if not known:
            return PatternPrediction(operation, None, 0, "no operation with an outcome learned yet")
        q = self._embedder_fn().embed_one(operation).astype(np.float64)
        sims = vecs[known] @ q
        order = np.argsort(-sims, kind="stable")[:NEIGHBOURS]
        weights = np.maximum(sims[order], 1e-6)
        wins = np.array([outcomes[known[i]] == "success" for i in order], dtype=np.float64)
        p = float((weights * wins).sum() / weights.sum())
        nearest = texts[known[int(order[0])]]
        return PatternPrediction(
            operation, p, len(order),
            f"{int(wins.sum())} of the {len(order)} most similar learned operations succeeded "
            f"(nearest: {nearest!r}, cosine {float(sims[order[0]]):.2f})",
        )  # fmt: skip

"""Records of the ReasoningBank: items, trajectories, verdicts, links, query hits and reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mindbank.records._base import JSON, Record

__all__ = [
    "BankHit",
    "BankStatus",
    "ConsolidationReport",
    "Item",
    "Link",
    "Recorded",
    "TablesCheck",
    "Trajectory",
    "Verdict",
]


@dataclass(frozen=True, slots=True)
class Item(Record):
    """One reasoning item: a lesson with when to use it (and when not), and its track record.

    Attributes:
        id: a UUID.
        namespace: the item's domain (Claude-Flow's ``domain``).
        key: the memory-model key when stored with :meth:`ReasoningBank.store`, else None.
        title: a one-line name.
        description: when to use it, and when not.
        content: the lesson itself.
        type: ``reasoning_memory`` (stored) or ``pattern`` (distilled), or the caller's type.
        kind: the kind of task it was learned on, if known.
        strategy: the strategy or agent whose attempt it was learned from, if any.
        outcome: ``success`` or ``failure`` when distilled from a judged attempt, else None.
        confidence: in [0, 1]; raised by successful uses, lowered by failed ones.
        usage_count: attempts that reported using it.
        success_count: ... of which succeeded.
        failure_count: ... of which failed.
        status: ``active``, ``superseded`` (merged into ``superseded_by``) or ``archived``.
        superseded_by: the item this one was merged into.
        origin: ``stored``, ``distilled`` (from structure) or ``distilled:command``.
        agent: who stored it.
        sources: ids of the trajectories it was distilled from (provenance).
        data: the whole ``pattern_data`` object as stored.
        created_at, updated_at, last_used: Unix seconds (``last_used`` None until used).
    """

    id: str
    namespace: str
    key: str | None
    title: str
    description: str
    content: str
    type: str
    kind: str | None
    strategy: str | None
    outcome: str | None
    confidence: float
    usage_count: int
    success_count: int
    failure_count: int
    status: str
    superseded_by: str | None
    origin: str
    agent: str | None
    sources: tuple[int, ...]
    data: Mapping[str, JSON]
    created_at: float
    updated_at: float
    last_used: float | None

    @property
    def value(self) -> str:
        """The content (Claude-Flow's memory-model ``value``)."""
        return self.content

    @property
    def success_rate(self) -> float | None:
        """Successful uses over all reported uses; None before any use."""
        uses = self.success_count + self.failure_count
        return None if uses == 0 else self.success_count / uses


@dataclass(frozen=True, slots=True)
class Verdict(Record):
    """Whether an attempt succeeded, and who said so.

    Attributes:
        label: ``success``, ``failure`` or ``unknown``.
        source: ``tests`` (real test results), ``caller`` (an explicit verdict), ``judge``
            (the judge command) or ``none``.
        detail: the evidence: test counts, the judge's reason, or why it is unknown.
    """

    label: str
    source: str
    detail: Mapping[str, JSON] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        """True for success or failure."""
        return self.label != "unknown"


@dataclass(frozen=True, slots=True)
class Trajectory(Record):
    """One attempt at a task: its steps, its outcome and its verdict."""

    id: int
    task_id: str
    namespace: str
    task: str
    kind: str | None
    strategy: str | None
    agent: str | None
    steps: tuple[JSON, ...]
    outcome: Mapping[str, JSON]
    verdict: Verdict
    used: tuple[str, ...]
    duration: float | None
    timestamp: float
    distilled_at: float | None


@dataclass(frozen=True, slots=True)
class Recorded(Record):
    """What ``record_trajectory`` did: the trajectory stored, the items distilled from it, and
    the used items whose confidence it updated."""

    trajectory: Trajectory
    items: tuple[Item, ...]
    updated: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Link(Record):
    """A typed, weighted link between two items, seen from one of them.

    Attributes:
        source, target: item ids.
        type: ``related``, ``prerequisite``, ``contradicts`` or ``supersedes``.
        strength: in [0, 1].
        direction: ``out`` when the item asked about is the source, ``in`` when the target.
        other: the item at the other end.
    """

    id: int
    source: str
    target: str
    type: str
    strength: float
    created_at: float
    direction: str
    other: Item


@dataclass(frozen=True, slots=True)
class BankHit(Record):
    """One query result and the parts of its score.

    Attributes:
        item: the item found.
        score: ``w_sim * similarity + w_recency * recency + w_reliability * reliability``.
        similarity: the blend of content and task similarity the score used.
        content_similarity: cosine of the query to the item's content.
        task_similarity: cosine of the query to the task the item was learned on (None: none).
        recency: ``0.5 ** (age / half_life)``, age since last use or update.
        reliability: the item's confidence.
        rank: 1-based position after MMR.
    """

    item: Item
    score: float
    similarity: float
    content_similarity: float
    task_similarity: float | None
    recency: float
    reliability: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (with Claude-Flow's ``key``/``value`` fields)."""
        return {
            "rank": self.rank,
            "score": self.score,
            "similarity": self.similarity,
            "content_similarity": self.content_similarity,
            "task_similarity": self.task_similarity,
            "recency": self.recency,
            "reliability": self.reliability,
            "key": self.item.key or self.item.title,
            "value": self.item.content,
            "confidence": self.item.confidence,
            "item": self.item.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class BankStatus(Record):
    """The state of the ReasoningBank (Claude-Flow's ``getStatus`` fields, measured)."""

    total_memories: int
    total_categories: int
    avg_confidence: float | None
    total_embeddings: int
    total_trajectories: int
    total_links: int
    storage_backend: str
    database_path: str
    embedder: str
    by_status: Mapping[str, int]
    verdicts: Mapping[str, int]
    undistilled_trajectories: int
    query_cache: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class TablesCheck(Record):
    """Which ReasoningBank tables exist."""

    backend: str
    existing_tables: tuple[str, ...]
    missing_tables: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConsolidationReport(Record):
    """What a consolidation changed.

    Attributes:
        examined: active items looked at.
        merged: ``(merged_away, into, cosine)`` for each near-duplicate merged.
        contradictions: ``(a, b, cosine)`` for each new ``contradicts`` link.
        archived: ids of items archived as unused, old and unreliable.
        seconds: wall time.
    """

    examined: int
    merged: tuple[tuple[str, str, float], ...]
    contradictions: tuple[tuple[str, str, float], ...]
    archived: tuple[str, ...]
    seconds: float

    @property
    def changed(self) -> bool:
        """True if anything changed."""
        return bool(self.merged or self.contradictions or self.archived)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with counts and details."""
        return {
            "examined": self.examined,
            "merged_count": len(self.merged),
            "contradiction_count": len(self.contradictions),
            "archived_count": len(self.archived),
            "merged": [list(m) for m in self.merged],
            "contradictions": [list(c) for c in self.contradictions],
            "archived": list(self.archived),
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class MinedPattern(Record):
    """A combination of task attributes that goes with success or failure more often than
    tasks overall do, with its evidence.

    Attributes:
        conditions: ``(attribute, value)`` pairs, e.g. ``(("strategy", "tdd"), ("kind",
            "parse"))``.
        label: ``success`` (a pattern to follow) or ``failure`` (an anti-pattern).
        support: judged trajectories matching the conditions.
        successes: how many of them succeeded.
        rate: ``successes / support``.
        base_rate: the success rate of all judged trajectories.
        low: the 95 % Wilson interval of the rate, lower end.
        high: its upper end.
        evidence: ids of matching trajectories (failures first for an anti-pattern; at
            most 20).
        reasons: the most common failure reasons among them, with counts.
        item: the ReasoningBank item it was stored as (None if not stored).
    """

    conditions: tuple[tuple[str, str], ...]
    label: str
    support: int
    successes: int
    rate: float
    base_rate: float
    low: float
    high: float
    evidence: tuple[int, ...]
    reasons: tuple[tuple[str, int], ...]
    item: str | None

    @property
    def text(self) -> str:
        """The pattern in one sentence."""
        what = ", ".join(f"{a} {v}" for a, v in self.conditions)
        verb = "succeeded" if self.label == "success" else "failed"
        n = self.successes if self.label == "success" else self.support - self.successes
        return (
            f"{what}: {verb} {n} of {self.support} times ({self.rate:.0%} success; "
            f"{self.base_rate:.0%} over all tasks)"
        )

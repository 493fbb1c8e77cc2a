"""Records of the coordination tables: sessions, agents, tasks, shared state, events,
metrics, workflows, topology and consensus."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mindbank.records._base import JSON, Record, _plain

__all__ = [
    "Agent",
    "AgentMemory",
    "Consensus",
    "Event",
    "MetricSummary",
    "Session",
    "SharedState",
    "Task",
    "Topology",
    "WorkflowState",
]


@dataclass(frozen=True, slots=True)
class Session(Record):
    """A session: context that persists across process runs until it expires."""

    id: str
    data: Mapping[str, JSON]
    created_at: float
    last_accessed: float
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Agent(Record):
    """A registered agent."""

    id: str
    type: str
    capabilities: tuple[str, ...]
    state: Mapping[str, JSON]
    swarm_id: str | None
    created_at: float
    last_active: float


@dataclass(frozen=True, slots=True)
class AgentMemory(Record):
    """One key of an agent's private memory."""

    agent_id: str
    key: str
    value: JSON
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Task(Record):
    """A task with status, priority, dependencies and result."""

    id: str
    description: str
    status: str
    priority: str
    assigned_to: str | None
    dependencies: tuple[str, ...]
    result: JSON
    created_at: float
    updated_at: float
    completed_at: float | None


@dataclass(frozen=True, slots=True)
class SharedState(Record):
    """A versioned value shared between agents. ``version`` starts at 1 and grows by one."""

    key: str
    value: JSON
    version: int
    updated_by: str | None
    updated_at: float


@dataclass(frozen=True, slots=True)
class Event(Record):
    """One row of the append-only events log."""

    id: int
    type: str
    source: str
    data: JSON
    timestamp: float


@dataclass(frozen=True, slots=True)
class MetricSummary(Record):
    """Aggregate of one metric over a time window. ``count == 0`` means no data (others None)."""

    name: str
    count: int
    mean: float | None
    minimum: float | None
    maximum: float | None
    total: float | None
    p50: float | None
    p95: float | None
    since: float | None
    until: float


@dataclass(frozen=True, slots=True)
class WorkflowState(Record):
    """A saved workflow checkpoint, to resume after a crash."""

    id: str
    workflow_type: str
    state: str
    checkpoint: JSON
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Topology(Record):
    """One saved version of a swarm's topology."""

    id: int
    swarm_id: str
    topology_type: str
    nodes: tuple[JSON, ...]
    edges: tuple[JSON, ...]
    metadata: Mapping[str, JSON]
    created_at: float


@dataclass(frozen=True, slots=True)
class Consensus(Record):
    """A proposal and its votes. ``reached`` is true once ``len(acceptors) >= quorum``."""

    key: str
    value: JSON
    version: int
    proposer: str
    voters: tuple[str, ...]
    acceptors: tuple[str, ...]
    quorum: int
    timestamp: float

    @property
    def reached(self) -> bool:
        """Whether enough acceptors have accepted this version of the proposal."""
        return len(self.acceptors) >= self.quorum

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = _plain(self)
        out["reached"] = self.reached
        return out

"""The records mindbank returns: frozen, typed dataclasses.

Times are Unix seconds (UTC) as floats, the same numbers that are stored in the database, so a
record read back compares equal to the one written. ``JSON`` is any value ``json.dumps`` accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeAlias

__all__ = [
    "JSON",
    "Agent",
    "AgentMemory",
    "CheckReport",
    "CleanupReport",
    "Consensus",
    "Entry",
    "Event",
    "HotKey",
    "MetricSummary",
    "MigrationInfo",
    "NamespaceUsage",
    "QueryResult",
    "Session",
    "SharedState",
    "Stats",
    "Task",
    "Topology",
    "UsageReport",
    "WorkflowState",
]

JSON: TypeAlias = Any
"""Any JSON-serialisable value: str, int, float, bool, None, list, dict."""


def _plain(obj: Any) -> dict[str, Any]:
    out = asdict(obj)
    for k, v in out.items():
        if isinstance(v, tuple):
            out[k] = list(v)
    return out


@dataclass(frozen=True, slots=True)
class Entry:
    """One memory entry, unique by ``(key, namespace)``.

    Attributes:
        key: the key, unique within its namespace.
        namespace: the namespace (``"default"`` unless given).
        value: text, or any JSON value, exactly as stored.
        tags: tags, in the order given, without duplicates.
        metadata: a JSON object.
        created_at: when the key was first stored.
        updated_at: when the value last changed.
        accessed_at: when it was last retrieved (``None`` if never).
        access_count: how many times it was retrieved.
        expires_at: when it expires (``None`` = never). An expired entry is never returned.
    """

    key: str
    namespace: str
    value: JSON
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, JSON] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    accessed_at: float | None = None
    access_count: int = 0
    expires_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the export format of one line)."""
        return {
            "key": self.key,
            "namespace": self.namespace,
            "value": self.value,
            "tags": list(self.tags),
            "metadata": dict(self.metadata),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "accessed_at": self.accessed_at,
            "access_count": self.access_count,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class Session:
    """A session: context that persists across process runs until it expires."""

    id: str
    data: Mapping[str, JSON]
    created_at: float
    last_accessed: float
    expires_at: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class Agent:
    """A registered agent."""

    id: str
    type: str
    capabilities: tuple[str, ...]
    state: Mapping[str, JSON]
    swarm_id: str | None
    created_at: float
    last_active: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class AgentMemory:
    """One key of an agent's private memory."""

    agent_id: str
    key: str
    value: JSON
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class Task:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class SharedState:
    """A versioned value shared between agents. ``version`` starts at 1 and grows by one."""

    key: str
    value: JSON
    version: int
    updated_by: str | None
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the append-only events log."""

    id: int
    type: str
    source: str
    data: JSON
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class MetricSummary:
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

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class WorkflowState:
    """A saved workflow checkpoint, to resume after a crash."""

    id: str
    workflow_type: str
    state: str
    checkpoint: JSON
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class Topology:
    """One saved version of a swarm's topology."""

    id: int
    swarm_id: str
    topology_type: str
    nodes: tuple[JSON, ...]
    edges: tuple[JSON, ...]
    metadata: Mapping[str, JSON]
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class Consensus:
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


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """What ``cleanup()`` deleted."""

    entries: int
    sessions: int

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return self.entries + self.sessions

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"entries": self.entries, "sessions": self.sessions, "total": self.total}


@dataclass(frozen=True, slots=True)
class Stats:
    """Size and contents of a database."""

    path: str
    file_bytes: int
    wal_bytes: int
    schema_version: int
    tables: Mapping[str, int]
    namespaces: Mapping[str, int]
    expired_entries: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class NamespaceUsage:
    """Usage of one namespace; ``*_in_window`` count entries whose time falls in the window."""

    namespace: str
    entries: int
    value_bytes: int
    total_accesses: int
    created_in_window: int
    updated_in_window: int
    accessed_in_window: int


@dataclass(frozen=True, slots=True)
class HotKey:
    """An entry accessed within the window, ranked by its access count."""

    key: str
    namespace: str
    access_count: int
    accessed_at: float


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage by namespace and the hottest keys over a window (``since`` .. ``until``)."""

    since: float
    until: float
    namespaces: tuple[NamespaceUsage, ...]
    hot_keys: tuple[HotKey, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Result of an integrity check. ``ok`` is true when ``problems`` is empty."""

    problems: tuple[str, ...]
    schema_version: int

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "schema_version": self.schema_version,
        }


@dataclass(frozen=True, slots=True)
class MigrationInfo:
    """One migration: known to this mindbank, and whether (and when) it is applied."""

    version: int
    name: str
    sha256: str
    applied_at: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of a read-only query, as tuples in ``columns`` order."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def dicts(self) -> list[dict[str, Any]]:
        """Return the rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

"""Coordination state for agents and swarms, reached as ``mb.sessions``, ``mb.agents``,
``mb.tasks``, ``mb.shared``, ``mb.events``, ``mb.metrics``, ``mb.workflows``, ``mb.topology``
and ``mb.consensus``.

Each class validates its input and calls the store; it holds no state of its own.
"""

from __future__ import annotations

import builtins
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mindbank.errors import ConflictError, NotFoundError, ValidationError, shown
from mindbank.memory.validation import check_finite, check_limit, check_name, check_tags, expiry
from mindbank.records import (
    Agent,
    AgentMemory,
    Consensus,
    Event,
    MetricSummary,
    Session,
    SharedState,
    Task,
    Topology,
    WorkflowState,
)
from mindbank.store.coordination import CoordinationRepo
from mindbank.store.locking import serialized

__all__ = [
    "TASK_PRIORITIES",
    "TASK_STATUSES",
    "Agents",
    "ConsensusLog",
    "Events",
    "Metrics",
    "Sessions",
    "SharedStates",
    "Tasks",
    "Topologies",
    "Workflows",
]

TASK_STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
TASK_PRIORITIES = ("low", "medium", "high", "critical")
_FINISHED = ("completed", "failed", "cancelled")

Clock = Callable[[], float]


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be a JSON object, got {type(value).__name__}")
    return dict(value)


class _Part:
    def __init__(self, repo: CoordinationRepo, clock: Clock):
        self._repo = repo
        self._lock = repo.db.lock  # (mindbank.store.locking)
        self._clock = clock


@serialized
class Sessions(_Part):
    """Sessions: context that survives across process runs until it expires."""

    def create(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        ttl: float | None = None,
        id: str | None = None,
    ) -> Session:
        """Create a session and return it (its ``id`` is a new UUID unless given).

        Raises:
            ConflictError: a live session with that id exists.
        """
        sid = check_name(id, "session id") if id is not None else uuid.uuid4().hex
        now = self._clock()
        return self._repo.session_create(sid, _object(data, "data"), now, expiry(ttl, now))

    def resume(self, id: str) -> Session:
        """Return a live session and mark it used.

        Raises:
            NotFoundError: no such session, or it expired.
        """
        found = self._repo.session_get(check_name(id, "session id"), self._clock(), touch=True)
        if found is None:
            raise NotFoundError(f"no session {shown(id)} (or it has expired)")
        return found

    def get(self, id: str) -> Session | None:
        """A live session without touching it, or None."""
        return self._repo.session_get(check_name(id, "session id"), self._clock(), touch=False)

    def update(
        self, id: str, data: Mapping[str, Any], *, ttl: float | bool | None = False
    ) -> Session:
        """Merge ``data`` into the session's data (top-level keys). ``ttl`` resets the expiry
        counting from now (``None`` = never expires; default: keep it)."""
        now = self._clock()
        new_expiry: float | bool | None = False if ttl is False else expiry(ttl, now)
        return self._repo.session_update(
            check_name(id, "session id"), _object(data, "data"), now, new_expiry
        )

    def expire(self, id: str) -> bool:
        """Expire a session now; True if it was live."""
        return self._repo.session_expire(check_name(id, "session id"), self._clock())

    def list(self) -> builtins.list[Session]:
        """Live sessions, most recently used first."""
        return self._repo.session_list(self._clock())


@serialized
class Agents(_Part):
    """The agent registry and each agent's private memory."""

    def register(
        self,
        id: str,
        type: str,
        *,
        capabilities: Sequence[str] = (),
        swarm_id: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> Agent:
        """Register an agent (registering again updates it)."""
        return self._repo.agent_upsert(
            check_name(id, "agent id"),
            check_name(type, "agent type"),
            check_tags(capabilities),
            _object(state, "state"),
            swarm_id,
            self._clock(),
        )

    def get(self, id: str) -> Agent | None:
        """One agent or None."""
        return self._repo.agent_get(id)

    def set_state(self, id: str, state: Mapping[str, Any]) -> Agent:
        """Replace an agent's state and mark it active."""
        return self._repo.agent_set_state(id, _object(state, "state"), self._clock())

    def list(self, *, swarm_id: str | None = None, type: str | None = None) -> builtins.list[Agent]:
        """Agents, optionally of one swarm and/or type."""
        return self._repo.agent_list(swarm_id, type)

    def remove(self, id: str) -> bool:
        """Remove an agent and its memory; True if it existed."""
        return self._repo.agent_delete(id)

    def remember(self, agent_id: str, key: str, value: Any) -> AgentMemory:
        """Store a key in the agent's memory.

        Raises:
            NotFoundError: the agent is not registered.
        """
        return self._repo.agent_memory_put(agent_id, check_name(key, "key"), value, self._clock())

    def recall(self, agent_id: str, key: str) -> AgentMemory | None:
        """One key of the agent's memory, or None."""
        found = self._repo.agent_memory(agent_id, check_name(key, "key"))
        return found[0] if found else None

    def memory(self, agent_id: str) -> builtins.list[AgentMemory]:
        """Every key of the agent's memory."""
        return self._repo.agent_memory(agent_id, None)


@serialized
class Tasks(_Part):
    """Tasks with status, priority, dependencies and result."""

    def create(
        self,
        description: str,
        *,
        id: str | None = None,
        priority: str = "medium",
        depends_on: Sequence[str] = (),
        assigned_to: str | None = None,
    ) -> Task:
        """Create a pending task. Dependencies must already exist (so there are no cycles).

        Raises:
            ValidationError: empty description or unknown priority.
            NotFoundError: a dependency does not exist.
            ConflictError: the id is taken.
        """
        check_name(description, "description")
        if priority not in TASK_PRIORITIES:
            raise ValidationError(f"priority must be one of {', '.join(TASK_PRIORITIES)}")
        tid = check_name(id, "task id") if id is not None else uuid.uuid4().hex
        deps = check_tags(depends_on)
        if tid in deps:
            raise ValidationError("a task cannot depend on itself")
        return self._repo.task_insert(tid, description, priority, assigned_to, deps, self._clock())

    def get(self, id: str) -> Task | None:
        """One task or None."""
        return self._repo.task_get(id)

    def update(
        self,
        id: str,
        *,
        status: str | None = None,
        priority: str | None = None,
        assigned_to: str | None = None,
        result: Any = None,
    ) -> Task:
        """Change a task. Starting or completing a task whose dependencies are not completed
        is refused; a finished status sets ``completed_at``.

        Raises:
            ValidationError: unknown status or priority.
            ConflictError: dependencies are not completed.
            NotFoundError: no such task.
        """
        task = self._repo.task_get(id)
        if task is None:
            raise NotFoundError(f"no task {shown(id)}")
        changes: dict[str, Any] = {}
        now = self._clock()
        if status is not None:
            if status not in TASK_STATUSES:
                raise ValidationError(f"status must be one of {', '.join(TASK_STATUSES)}")
            if status in ("in_progress", "completed"):
                blocked = self.blockers(id)
                if blocked:
                    raise ConflictError(
                        f"task {shown(id)} waits on unfinished dependencies: {', '.join(blocked)}"
                    )
            changes["status"] = status
            changes["completed_at"] = now if status in _FINISHED else None
        if priority is not None:
            if priority not in TASK_PRIORITIES:
                raise ValidationError(f"priority must be one of {', '.join(TASK_PRIORITIES)}")
            changes["priority"] = priority
        if assigned_to is not None:
            changes["assigned_to"] = assigned_to
        if result is not None:
            changes["result"] = result
        if not changes:
            return task
        return self._repo.task_update(id, changes, now)

    def blockers(self, id: str) -> builtins.list[str]:
        """Dependencies of a task that are not completed yet."""
        task = self._repo.task_get(id)
        if task is None:
            raise NotFoundError(f"no task {shown(id)}")
        out = []
        for dep in task.dependencies:
            d = self._repo.task_get(dep)
            if d is None or d.status != "completed":
                out.append(dep)
        return out

    def list(
        self, *, status: str | None = None, assigned_to: str | None = None
    ) -> builtins.list[Task]:
        """Tasks, highest priority first, then oldest first."""
        if status is not None and status not in TASK_STATUSES:
            raise ValidationError(f"status must be one of {', '.join(TASK_STATUSES)}")
        return self._repo.task_list(status, assigned_to)

    def ready(self) -> builtins.list[Task]:
        """Pending tasks whose dependencies are all completed, in priority order."""
        done = {t.id for t in self._repo.task_list("completed", None)}
        return [
            t
            for t in self._repo.task_list("pending", None)
            if all(d in done for d in t.dependencies)
        ]


@serialized
class SharedStates(_Part):
    """Versioned values shared between agents, with compare-and-set."""

    def get(self, key: str) -> SharedState | None:
        """The current value and version, or None."""
        return self._repo.shared_get(check_name(key, "key"))

    def set(
        self,
        key: str,
        value: Any,
        *,
        expected_version: int | None = None,
        updated_by: str | None = None,
    ) -> SharedState:
        """Write a value. With ``expected_version`` (0 = must not exist yet) it is a
        compare-and-set: a stale writer gets :class:`ConflictError`, never a silent overwrite.
        """
        if expected_version is not None and (
            not isinstance(expected_version, int) or expected_version < 0
        ):
            raise ValidationError("expected_version must be a non-negative integer")
        return self._repo.shared_set(
            check_name(key, "key"), value, updated_by, expected_version, self._clock()
        )

    def update(
        self,
        key: str,
        change: Callable[[Any], Any],
        *,
        updated_by: str | None = None,
        retries: int = 10,
    ) -> SharedState:
        """Read, apply ``change(old_value)`` and compare-and-set, retrying on conflict.

        ``old_value`` is None when the key does not exist.
        """
        for _ in range(retries):
            cur = self.get(key)
            try:
                return self.set(
                    key,
                    change(None if cur is None else cur.value),
                    expected_version=0 if cur is None else cur.version,
                    updated_by=updated_by,
                )
            except ConflictError:
                continue
        raise ConflictError(
            f"shared state {shown(key)} kept changing; gave up after {retries} tries"
        )

    def delete(self, key: str) -> bool:
        """Remove a key; True if it existed."""
        return self._repo.shared_delete(check_name(key, "key"))


@serialized
class Events(_Part):
    """The append-only events log."""

    def log(self, type: str, source: str, data: Any = None) -> Event:
        """Append an event."""
        return self._repo.event_insert(
            check_name(type, "event type"), check_name(source, "source"), data, self._clock()
        )

    def list(
        self,
        *,
        type: str | None = None,
        source: str | None = None,
        since: float | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> builtins.list[Event]:
        """Events in order, filtered; ``after_id`` pages through a long log."""
        check_limit(limit, after_id)
        if since is not None:
            check_finite(since, "since", -1e11, 1e11)
        return self._repo.event_list(type, source, since, after_id, limit)


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (the 'linear' method of numpy) of sorted values."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@serialized
class Metrics(_Part):
    """Performance metrics: record measurements, aggregate them over a window."""

    def record(self, name: str, value: float, tags: Mapping[str, Any] | None = None) -> None:
        """Record one measurement."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValidationError(f"metric value must be a finite number, got {shown(value)}")
        self._repo.metric_insert(
            check_name(name, "metric name"), float(value), _object(tags, "tags"), self._clock()
        )

    def aggregate(self, name: str, *, window: float | None = None) -> MetricSummary:
        """Count, mean, min, max, sum, p50 and p95 of a metric over the last ``window``
        seconds (all time if None). ``count == 0`` means no data."""
        now = self._clock()
        since = None if window is None else now - check_finite(window, "window", 0, 1e11)
        values = self._repo.metric_values(check_name(name, "metric name"), since, now)
        if not values:
            return MetricSummary(name, 0, None, None, None, None, None, None, since, now)
        total = math.fsum(values)
        return MetricSummary(
            name,
            len(values),
            total / len(values),
            values[0],
            values[-1],
            total,
            _percentile(values, 0.5),
            _percentile(values, 0.95),
            since,
            now,
        )

    def names(self) -> builtins.list[str]:
        """Every metric name recorded."""
        return self._repo.metric_names()


@serialized
class Workflows(_Part):
    """Workflow checkpoints, to resume after a crash."""

    def save(
        self, id: str, workflow_type: str, state: str, checkpoint: Any = None
    ) -> WorkflowState:
        """Save (or overwrite) a workflow's checkpoint."""
        return self._repo.workflow_save(
            check_name(id, "workflow id"),
            check_name(workflow_type, "workflow type"),
            check_name(state, "state"),
            checkpoint,
            self._clock(),
        )

    def get(self, id: str) -> WorkflowState | None:
        """A workflow's last checkpoint, or None."""
        return self._repo.workflow_get(id)

    def list(self, *, state: str | None = None) -> builtins.list[WorkflowState]:
        """Workflows, most recently updated first."""
        return self._repo.workflow_list(state)


@serialized
class Topologies(_Part):
    """Swarm topology: each save is a new version, so history is kept."""

    def save(
        self,
        swarm_id: str,
        topology_type: str,
        nodes: Sequence[Any],
        edges: Sequence[Any] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> Topology:
        """Save a new version of a swarm's topology."""
        return self._repo.topology_insert(
            check_name(swarm_id, "swarm id"),
            check_name(topology_type, "topology type"),
            _list(nodes, "nodes"),
            _list(edges, "edges"),
            _object(metadata, "metadata"),
            self._clock(),
        )

    def latest(self, swarm_id: str) -> Topology | None:
        """The newest topology of a swarm, or None."""
        found = self._repo.topology_history(swarm_id, 1)
        return found[0] if found else None

    def history(self, swarm_id: str, *, limit: int = 20) -> builtins.list[Topology]:
        """A swarm's topology versions, newest first."""
        check_limit(limit, 0)
        return self._repo.topology_history(swarm_id, limit)


@serialized
class ConsensusLog(_Part):
    """Proposals that agents accept until a quorum is reached."""

    def propose(
        self,
        key: str,
        value: Any,
        *,
        proposer: str,
        voters: Sequence[str] = (),
        quorum: int | None = None,
    ) -> Consensus:
        """Propose a value. Proposing again for the same key makes a new version and clears
        the acceptances. ``quorum`` defaults to a majority of ``voters``.

        Raises:
            ValidationError: no quorum can be computed, or it exceeds the voters.
        """
        voter_list = check_tags(voters)
        if quorum is None:
            if not voter_list:
                raise ValidationError("give voters or an explicit quorum")
            quorum = len(voter_list) // 2 + 1
        if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
            raise ValidationError("quorum must be a positive integer")
        if voter_list and quorum > len(voter_list):
            raise ValidationError(f"quorum {quorum} is more than the {len(voter_list)} voters")
        return self._repo.consensus_propose(
            check_name(key, "key"), value, check_name(proposer, "proposer"), voter_list, quorum,
            self._clock(),
        )  # fmt: skip

    def accept(self, key: str, acceptor: str, *, version: int | None = None) -> Consensus:
        """Accept the current proposal (or exactly ``version`` of it). Accepting twice counts once.

        Raises:
            NotFoundError: no proposal, or the acceptor is not a voter.
            ConflictError: ``version`` is not the current version.
        """
        return self._repo.consensus_accept(
            check_name(key, "key"), check_name(acceptor, "acceptor"), version, self._clock()
        )

    def get(self, key: str) -> Consensus | None:
        """The current proposal and its acceptors, or None."""
        return self._repo.consensus_get(key)


def _list(value: Any, what: str) -> builtins.list[Any]:
    """A JSON array given by a caller."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ValidationError(f"{what} must be a list, not {type(value).__name__}")
    return list(value)

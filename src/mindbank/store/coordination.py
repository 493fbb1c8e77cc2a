"""SQL of the coordination tables: sessions, agents, agent memory, tasks, shared state, events,
performance metrics, workflow state, swarm topology and consensus state.

Inputs arrive validated (``mindbank.memory.coordination``); this module only reads and writes.
Read-modify-write steps run inside ``BEGIN IMMEDIATE`` so concurrent processes never lose an
update.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from mindbank.errors import ConflictError, NotFoundError, shown
from mindbank.records import (
    Agent,
    AgentMemory,
    Consensus,
    Event,
    Session,
    SharedState,
    Task,
    Topology,
    WorkflowState,
)
from mindbank.store.codec import dumps, loads, loads_or_none
from mindbank.store.database import Database, translate_error

__all__ = ["CoordinationRepo"]

T = TypeVar("T")


def _session(r: Sequence[Any]) -> Session:
    return Session(r[0], loads(r[1]), r[2], r[3], r[4])


def _agent(r: Sequence[Any]) -> Agent:
    return Agent(r[0], r[1], tuple(loads(r[2])), loads(r[3]), r[4], r[5], r[6])


def _task(r: Sequence[Any]) -> Task:
    return Task(
        r[0], r[1], r[2], r[3], r[4], tuple(loads(r[5])), loads_or_none(r[6]), r[7], r[8], r[9]
    )


def _consensus(r: Sequence[Any]) -> Consensus:
    return Consensus(
        r[0], loads(r[1]), r[2], r[3], tuple(loads(r[4])), tuple(loads(r[5])), r[6], r[7]
    )


_TASK_COLS = (
    "id, description, status, priority, assigned_to, dependencies, result, created_at, "
    "updated_at, completed_at"
)
_CONSENSUS_COLS = "key, value, version, proposer, voters, acceptors, quorum, timestamp"


class CoordinationRepo:
    """Reads and writes the coordination tables of one :class:`Database`."""

    def __init__(self, db: Database):
        self.db = db

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

    def _one(self, sql: str, params: Sequence[Any], make: Callable[[Sequence[Any]], T]) -> T | None:
        with self._errors():
            row = self.db.execute(sql, params).fetchone()
        return None if row is None else make(row)

    def _all(self, sql: str, params: Sequence[Any], make: Callable[[Sequence[Any]], T]) -> list[T]:
        with self._errors():
            rows = self.db.execute(*self.db.numbered(sql, params)).fetchall()
        return [make(r) for r in rows]

    # -- sessions ----------------------------------------------------------------------------

    def session_create(self, sid: str, data: Any, now: float, expires: float | None) -> Session:
        """Insert a new session (ConflictError if the id exists and has not expired)."""
        with self._errors(), self.db.transaction():
            old = self.db.execute("SELECT expires_at FROM sessions WHERE id = ?", (sid,)).fetchone()
            if old is not None and (old[0] is None or old[0] > now):
                raise ConflictError(f"session {shown(sid)} already exists")
            self.db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "data = excluded.data, created_at = excluded.created_at, "
                "last_accessed = excluded.last_accessed, expires_at = excluded.expires_at",
                (sid, dumps(data, "session data"), now, now, expires),
            )
        return Session(sid, data, now, now, expires)

    def session_get(self, sid: str, now: float, *, touch: bool) -> Session | None:
        """The live session, touching ``last_accessed`` when asked."""
        with self._errors():
            if touch:
                row = self.db.execute(
                    "UPDATE sessions SET last_accessed = ? WHERE id = ? "
                    "AND (expires_at IS NULL OR expires_at > ?) RETURNING *",
                    (now, sid, now),
                ).fetchone()
            else:
                row = self.db.execute(
                    "SELECT * FROM sessions WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)",
                    (sid, now),
                ).fetchone()
        return None if row is None else _session(row)

    def session_update(
        self, sid: str, patch: dict[str, Any], now: float, expires: float | bool | None
    ) -> Session:
        """Merge ``patch`` into the session's data (``expires=False`` keeps the expiry)."""
        with self._errors(), self.db.transaction():
            cur = self.get_live_session(sid, now)
            data = {**cur.data, **patch}
            new_expiry = cur.expires_at if expires is False else expires
            self.db.execute(
                "UPDATE sessions SET data = ?, last_accessed = ?, expires_at = ? WHERE id = ?",
                (dumps(data, "session data"), now, new_expiry, sid),
            )
        return Session(sid, data, cur.created_at, now, new_expiry)

    def get_live_session(self, sid: str, now: float) -> Session:
        """The live session or NotFoundError."""
        found = self.session_get(sid, now, touch=False)
        if found is None:
            raise NotFoundError(f"no session {shown(sid)} (or it has expired)")
        return found

    def session_expire(self, sid: str, now: float) -> bool:
        """Expire a session now; True if it was live."""
        with self._errors():
            cur = self.db.execute(
                "UPDATE sessions SET expires_at = ? WHERE id = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (now, sid, now),
            )
        return cur.rowcount > 0

    def session_list(self, now: float) -> list[Session]:
        """Live sessions, most recently used first."""
        return self._all(
            "SELECT * FROM sessions WHERE expires_at IS NULL OR expires_at > ? "
            "ORDER BY last_accessed DESC",
            (now,),
            _session,
        )

    def sessions_delete_expired(self, now: float) -> int:
        """Delete expired sessions; returns how many."""
        with self._errors():
            return self.db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,)).rowcount

    # -- agents and their memory -------------------------------------------------------------

    def agent_upsert(
        self, aid: str, type_: str, caps: list[str], state: Any, swarm: str | None, now: float
    ) -> Agent:
        """Register (or re-register) an agent."""
        with self._errors():
            row = self.db.execute(
                "INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "type = excluded.type, capabilities = excluded.capabilities, "
                "state = excluded.state, swarm_id = excluded.swarm_id, "
                "last_active = excluded.last_active RETURNING *",
                (aid, type_, dumps(caps), dumps(state, "agent state"), swarm, now, now),
            ).fetchone()
        return _agent(row)

    def agent_get(self, aid: str) -> Agent | None:
        """One agent or None."""
        return self._one("SELECT * FROM agents WHERE id = ?", (aid,), _agent)

    def agent_set_state(self, aid: str, state: Any, now: float) -> Agent:
        """Replace an agent's state and mark it active."""
        with self._errors():
            row = self.db.execute(
                "UPDATE agents SET state = ?, last_active = ? WHERE id = ? RETURNING *",
                (dumps(state, "agent state"), now, aid),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no agent {shown(aid)}")
        return _agent(row)

    def agent_list(self, swarm: str | None, type_: str | None) -> list[Agent]:
        """Agents, optionally of one swarm and/or type."""
        return self._all(
            "SELECT * FROM agents WHERE (swarm_id = ?1 OR ?1 IS NULL) "
            "AND (type = ?2 OR ?2 IS NULL) ORDER BY id",
            (swarm, type_),
            _agent,
        )

    def agent_delete(self, aid: str) -> bool:
        """Remove an agent and (by cascade) its memory."""
        with self._errors():
            return self.db.execute("DELETE FROM agents WHERE id = ?", (aid,)).rowcount > 0

    def agent_memory_put(self, aid: str, key: str, value: Any, now: float) -> AgentMemory:
        """Store one key of an agent's memory (NotFoundError for an unknown agent)."""
        if self.agent_get(aid) is None:
            raise NotFoundError(f"no agent {shown(aid)}; register it first")
        with self._errors():
            row = self.db.execute(
                "INSERT INTO agent_memory (agent_id, key, value, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (agent_id, key) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at "
                "RETURNING agent_id, key, value, created_at, updated_at",
                (aid, key, dumps(value), now, now),
            ).fetchone()
        return AgentMemory(row[0], row[1], loads(row[2]), row[3], row[4])

    def agent_memory(self, aid: str, key: str | None) -> list[AgentMemory]:
        """One key (or all keys) of an agent's memory."""
        return self._all(
            "SELECT agent_id, key, value, created_at, updated_at FROM agent_memory "
            "WHERE agent_id = ?1 AND (key = ?2 OR ?2 IS NULL) ORDER BY key",
            (aid, key),
            lambda r: AgentMemory(r[0], r[1], loads(r[2]), r[3], r[4]),
        )

    # -- tasks -------------------------------------------------------------------------------

    def task_insert(
        self, tid: str, description: str, priority: str, assigned: str | None,
        deps: list[str], now: float,
    ) -> Task:  # fmt: skip
        """Insert a task whose dependencies all exist."""
        with self._errors(), self.db.transaction():
            if self.db.execute("SELECT 1 FROM tasks WHERE id = ?", (tid,)).fetchone():
                raise ConflictError(f"task {shown(tid)} already exists")
            missing = [
                d
                for d in deps
                if not self.db.execute("SELECT 1 FROM tasks WHERE id = ?", (d,)).fetchone()
            ]
            if missing:
                raise NotFoundError(
                    f"task {shown(tid)} depends on unknown tasks: {', '.join(missing)}"
                )
            self.db.execute(
                "INSERT INTO tasks VALUES (?, ?, 'pending', ?, ?, ?, NULL, ?, ?, NULL)",
                (tid, description, priority, assigned, dumps(deps), now, now),
            )
        return Task(
            tid, description, "pending", priority, assigned, tuple(deps), None, now, now, None
        )

    def task_get(self, tid: str) -> Task | None:
        """One task or None."""
        return self._one(f"SELECT {_TASK_COLS} FROM tasks WHERE id = ?", (tid,), _task)

    def task_update(self, tid: str, changes: dict[str, Any], now: float) -> Task:
        """Apply column changes (status, priority, assigned_to, result) to a task."""
        sets = ", ".join(f"{col} = ?" for col in changes)
        params = [dumps(v, "result") if col == "result" else v for col, v in changes.items()]
        with self._errors():
            row = self.db.execute(
                f"UPDATE tasks SET {sets}, updated_at = ? WHERE id = ? RETURNING {_TASK_COLS}",
                (*params, now, tid),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no task {shown(tid)}")
        return _task(row)

    def task_list(self, status: str | None, assigned: str | None) -> list[Task]:
        """Tasks, highest priority first, then oldest first."""
        return self._all(
            f"SELECT {_TASK_COLS} FROM tasks WHERE (status = ?1 OR ?1 IS NULL) "
            "AND (assigned_to = ?2 OR ?2 IS NULL) ORDER BY CASE priority WHEN 'critical' THEN 0 "
            "WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, created_at, id",
            (status, assigned),
            _task,
        )

    # -- shared state ------------------------------------------------------------------------

    def shared_get(self, key: str) -> SharedState | None:
        """The shared value or None."""
        return self._one(
            "SELECT key, value, version, updated_by, updated_at FROM shared_state WHERE key = ?",
            (key,),
            lambda r: SharedState(r[0], loads(r[1]), r[2], r[3], r[4]),
        )

    def shared_set(
        self, key: str, value: Any, by: str | None, expected: int | None, now: float
    ) -> SharedState:
        """Write a shared value; with ``expected`` it is a compare-and-set on the version."""
        text = dumps(value)
        with self._errors(), self.db.transaction():
            row = self.db.execute(
                "SELECT version FROM shared_state WHERE key = ?", (key,)
            ).fetchone()
            actual = 0 if row is None else row[0]
            if expected is not None and expected != actual:
                raise ConflictError(
                    f"shared state {shown(key)} is at version {actual}, not {expected}: "
                    "another writer got there first; read it again and retry",
                    expected=expected,
                    actual=actual,
                )
            self.db.execute(
                "INSERT INTO shared_state VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value, updated_by = excluded.updated_by, "
                "version = excluded.version, updated_at = excluded.updated_at",
                (key, text, by, actual + 1, now),
            )
        return SharedState(key, value, actual + 1, by, now)

    def shared_delete(self, key: str) -> bool:
        """Remove a shared key."""
        with self._errors():
            return self.db.execute("DELETE FROM shared_state WHERE key = ?", (key,)).rowcount > 0

    # -- events ------------------------------------------------------------------------------

    def event_insert(self, type_: str, source: str, data: Any, now: float) -> Event:
        """Append an event."""
        with self._errors():
            row = self.db.execute(
                "INSERT INTO events (type, source, data, timestamp) VALUES (?, ?, ?, ?) "
                "RETURNING id",
                (type_, source, dumps(data, "event data"), now),
            ).fetchone()
        return Event(int(row[0]), type_, source, data, now)

    def event_list(
        self, type_: str | None, source: str | None, since: float | None, after_id: int, limit: int
    ) -> list[Event]:
        """Events in order of id, filtered."""
        return self._all(
            "SELECT id, type, source, data, timestamp FROM events WHERE id > ?4 "
            "AND (type = ?1 OR ?1 IS NULL) AND (source = ?2 OR ?2 IS NULL) "
            "AND (timestamp >= ?3 OR ?3 IS NULL) ORDER BY id LIMIT ?5",
            (type_, source, since, after_id, limit),
            lambda r: Event(r[0], r[1], r[2], loads_or_none(r[3]), r[4]),
        )

    # -- performance metrics -----------------------------------------------------------------

    def metric_insert(self, name: str, value: float, tags: dict[str, Any], now: float) -> None:
        """Record one measurement."""
        with self._errors():
            self.db.execute(
                "INSERT INTO performance_metrics (metric_name, value, tags, timestamp) "
                "VALUES (?, ?, ?, ?)",
                (name, value, dumps(tags, "metric tags"), now),
            )

    def metric_values(self, name: str, since: float | None, until: float) -> list[float]:
        """The metric's values in the window, ascending."""
        with self._errors():
            rows = self.db.execute(
                *self.db.numbered(
                    "SELECT value FROM performance_metrics WHERE metric_name = ?1 "
                    "AND (timestamp >= ?2 OR ?2 IS NULL) AND timestamp <= ?3 ORDER BY value",
                    (name, since, until),
                )
            ).fetchall()
        return [r[0] for r in rows]

    def metric_names(self) -> list[str]:
        """Every metric name recorded."""
        with self._errors():
            rows = self.db.execute(
                "SELECT DISTINCT metric_name FROM performance_metrics ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]

    # -- workflow state ----------------------------------------------------------------------

    def workflow_save(
        self, wid: str, wtype: str, state: str, checkpoint: Any, now: float
    ) -> WorkflowState:
        """Save (or overwrite) a workflow checkpoint."""
        with self._errors():
            row = self.db.execute(
                "INSERT INTO workflow_state VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET workflow_type = excluded.workflow_type, state = excluded.state, "
                "checkpoint_data = excluded.checkpoint_data, updated_at = excluded.updated_at "
                "RETURNING created_at",
                (wid, wtype, state, dumps(checkpoint, "checkpoint"), now, now),
            ).fetchone()
        return WorkflowState(wid, wtype, state, checkpoint, row[0], now)

    def workflow_get(self, wid: str) -> WorkflowState | None:
        """One workflow or None."""
        return self._one(
            "SELECT * FROM workflow_state WHERE id = ?",
            (wid,),
            lambda r: WorkflowState(r[0], r[1], r[2], loads_or_none(r[3]), r[4], r[5]),
        )

    def workflow_list(self, state: str | None) -> list[WorkflowState]:
        """Workflows, most recently updated first."""
        return self._all(
            "SELECT * FROM workflow_state WHERE (state = ?1 OR ?1 IS NULL) "
            "ORDER BY updated_at DESC, id",
            (state,),
            lambda r: WorkflowState(r[0], r[1], r[2], loads_or_none(r[3]), r[4], r[5]),
        )

    # -- swarm topology ----------------------------------------------------------------------

    def topology_insert(
        self, swarm: str, ttype: str, nodes: list[Any], edges: list[Any], meta: Any, now: float
    ) -> Topology:
        """Save a new version of a swarm's topology."""
        with self._errors():
            row = self.db.execute(
                "INSERT INTO swarm_topology (swarm_id, topology_type, nodes, edges, metadata, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (swarm, ttype, dumps(nodes), dumps(edges), dumps(meta), now),
            ).fetchone()
        return Topology(int(row[0]), swarm, ttype, tuple(nodes), tuple(edges), meta, now)

    def topology_history(self, swarm: str, limit: int) -> list[Topology]:
        """A swarm's topology versions, newest first."""
        return self._all(
            "SELECT * FROM swarm_topology WHERE swarm_id = ? ORDER BY id DESC LIMIT ?",
            (swarm, limit),
            lambda r: Topology(
                r[0], r[1], r[2], tuple(loads(r[3])), tuple(loads(r[4])), loads(r[5]), r[6]
            ),
        )

    # -- consensus ---------------------------------------------------------------------------

    def consensus_get(self, key: str) -> Consensus | None:
        """The current proposal for a key, or None."""
        return self._one(
            f"SELECT {_CONSENSUS_COLS} FROM consensus_state WHERE key = ?", (key,), _consensus
        )

    def consensus_propose(
        self, key: str, value: Any, proposer: str, voters: list[str], quorum: int, now: float
    ) -> Consensus:
        """Make (or replace) the proposal for a key: a new version with no acceptors yet."""
        with self._errors():
            row = self.db.execute(
                f"INSERT INTO consensus_state ({_CONSENSUS_COLS}) VALUES (?, ?, 1, ?, ?, '[]', ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "version = consensus_state.version + 1, proposer = excluded.proposer, "
                "voters = excluded.voters, acceptors = '[]', quorum = excluded.quorum, "
                f"timestamp = excluded.timestamp RETURNING {_CONSENSUS_COLS}",
                (key, dumps(value), proposer, dumps(voters), quorum, now),
            ).fetchone()
        return _consensus(row)

    def consensus_accept(
        self, key: str, acceptor: str, version: int | None, now: float
    ) -> Consensus:
        """Record one acceptance (idempotent) of the current version."""
        with self._errors(), self.db.transaction():
            cur = self.consensus_get(key)
            if cur is None:
                raise NotFoundError(f"no proposal for {shown(key)}")
            if version is not None and version != cur.version:
                raise ConflictError(
                    f"proposal {shown(key)} is at version {cur.version}, not {version}",
                    expected=version,
                    actual=cur.version,
                )
            if cur.voters and acceptor not in cur.voters:
                raise NotFoundError(f"{shown(acceptor)} is not a voter on {shown(key)}")
            if acceptor in cur.acceptors:
                return cur
            acceptors = [*cur.acceptors, acceptor]
            row = self.db.execute(
                f"UPDATE consensus_state SET acceptors = ?, timestamp = ? WHERE key = ? "
                f"RETURNING {_CONSENSUS_COLS}",
                (dumps(acceptors), now, key),
            ).fetchone()
        return _consensus(row)

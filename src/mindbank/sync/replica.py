"""A local SQLite memory as a replica of a shared PostgreSQL one.

One round of :meth:`Replica.sync`:

1. **capture**: the local changes since the last round (the change log; the replica's own
   materializing writes left out) become operations (:mod:`mindbank.sync.crdt`), stamped by the
   replica's hybrid logical clock and queued in ``sync_ops`` (the write-behind queue: it lives in
   the database, so it survives a crash or a restart). Access counts grown locally become
   ``count`` operations.
2. **push**: queued operations go to the server's log, idempotent by id, then are marked
   pushed: a crash between the two sends them again and the server keeps them once.
3. **pull**: the server's operations after the replica's cursor are added (new ones only) and
   every entry they touch is materialized again from all its operations, locally and on the
   server's memory (so agents that use the shared memory directly see the replicas' writes).

Failures of the server are retried with exponential backoff and full jitter; after
``failures_to_open`` failed rounds in a row the circuit breaker opens and rounds only capture
(reads and writes stay local) until ``cooldown`` has passed, when one round tries again
(half-open). The breaker's state, the queue length and the lag are kept in ``sync_meta`` for
``mindbank db status``.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from mindbank.errors import MindbankError
from mindbank.records import Entry, SyncReport, SyncStatus
from mindbank.store.changes import ChangeRepo
from mindbank.store.sync import OpRow, SyncRepo
from mindbank.sync.crdt import EntryState, Op, fold
from mindbank.sync.hlc import HLC, Stamp

__all__ = ["SYNC_ACTOR", "Breaker", "Replica"]

SYNC_ACTOR = "mindbank-sync:"
"""Actor prefix of the writes a replica makes when it materializes merged state (the capture
leaves them out: they are not new local changes)."""

BATCH = 500
INGEST = "__sync_ingest__"  # the server's change-log cursor of direct writes made operations


class Breaker:
    """A circuit breaker over rounds: ``closed`` (try), ``open`` (do not, until ``cooldown``
    has passed), ``half-open`` (one try decides). Its state is kept in ``sync_meta``."""

    def __init__(self, repo: SyncRepo, clock: Callable[[], float], opens_after: int,
                 cooldown: float):  # fmt: skip
        self._repo = repo
        self._clock = clock
        self.opens_after = opens_after
        self.cooldown = cooldown

    @property
    def failures(self) -> int:
        """Failed rounds in a row."""
        return int(self._repo.meta("breaker_failures") or 0)

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self.failures < self.opens_after:
            return "closed"
        opened = float(self._repo.meta("breaker_opened_at") or 0)
        return "open" if self._clock() - opened < self.cooldown else "half-open"

    def allows(self) -> bool:
        """Whether a round may try the server now."""
        return self.state != "open"

    def success(self) -> None:
        """The server answered."""
        self._repo.set_meta("breaker_failures", "0")

    def failure(self) -> None:
        """The server did not answer (after the round's retries)."""
        failures = self.failures + 1
        self._repo.set_meta("breaker_failures", str(failures))
        if failures >= self.opens_after:
            self._repo.set_meta("breaker_opened_at", repr(self._clock()))


class Replica:
    """The sync of one local database with one server.

    Args:
        local: the local :class:`~mindbank.store.database.Database`.
        get_entry: ``(namespace, key) -> Entry | None`` of the local memory (no access counted).
        apply_local: writes an entry's merged state (None: absent) into the local memory.
        server: returns ``(database, handle)`` of the server (connecting if needed; raises a
            mindbank error when it cannot): the database holds the operations, the handle is
            given to ``apply_server``.
        apply_server: writes an entry's merged state into the server's memory.
        clock: seconds (``time.time``).
        retries: attempts per round before it counts as a failure.
        backoff: the first retry's delay ceiling in seconds (doubles each time; full jitter).
        sleep, rng: injectable for tests.
        on_failure: called after a failed attempt (to drop a broken connection).
        apply_server_many: writes many entries' merged states at once (default: one by one).
    """

    def __init__(
        self,
        local: Any,
        get_entry: Callable[[str, str], Entry | None],
        apply_local: Callable[[str, str, EntryState | None], None],
        server: Callable[[], Any],
        apply_server: Callable[[Any, str, str, EntryState | None], None],
        *,
        clock: Callable[[], float] = time.time,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        opens_after: int = 3,
        cooldown: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_failure: Callable[[], None] | None = None,
        apply_server_many: Callable[[Any, list[tuple[str, str, EntryState]]], None] | None = None,
    ):
        self._local = local
        self._repo = SyncRepo(local)
        self._changes = ChangeRepo(local)
        self._get_entry = get_entry
        self._apply_local = apply_local
        self._server = server
        self._apply_server = apply_server
        self._clock = clock
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._on_failure = on_failure
        self._apply_server_many = apply_server_many or self._one_by_one
        self.refused: list[str] = []  # entries a memory refused to take, this round
        self.breaker = Breaker(self._repo, clock, opens_after, cooldown)
        with local.transaction():
            rid = self._repo.meta("replica")
            if rid is None:  # the first capture takes every entry as it is
                rid = uuid.uuid4().hex[:12]
                self._repo.set_meta("replica", rid)
        self.id = rid
        last = self._repo.meta("clock")
        self._hlc = HLC(rid, clock, Stamp.parse(last) if last else None)

    # -- capture -------------------------------------------------------------------------------

    def _op(
        self, namespace: str, key: str, kind: str, payload: dict[str, Any], at: float | None
    ) -> OpRow:
        stamp = str(self._hlc.tick(at))
        return (uuid.uuid4().hex, stamp, self.id, namespace, key, kind, payload)

    def _state(self, rows: Sequence[OpRow]) -> EntryState:
        return fold(Op(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows)

    def capture(self) -> int:
        """Turn the local changes since the last round into queued operations; returns how
        many operations were made."""
        made = 0
        with self._local.transaction():
            cursor = self._repo.meta("capture_cursor")
            if cursor is None:  # a new replica: every entry there is, then the log from here
                head = self._changes.head()
                changes = []
                touched = self._repo.entry_keys()
                self._repo.set_meta("capture_cursor", str(head))
            else:
                changes = self._changes.since(int(cursor), None, 1_000_000_000)
                written: dict[tuple[str, str], float] = {}  # when each was last written
                for c in changes:
                    if not c.actor.startswith(SYNC_ACTOR):
                        written[(c.namespace, c.key)] = c.at
                touched = list(written)
            states = self._repo.for_entries(touched) if touched else {}
            ops: list[OpRow] = []
            for ns, key in touched:
                at = written.get((ns, key)) if changes else None
                ops += self._diff(ns, key, self._state(states[(ns, key)]), at)
            counted = self._repo.counted()
            for (ns, key), n in self._repo.access_counts().items():
                grown = n - counted.get((ns, key), 0)
                if grown > 0:
                    ops.append(self._op(ns, key, "count", {"n": grown}, None))
            made = len(self._repo.add(ops, pushed=False))
            if changes:
                self._repo.set_meta("capture_cursor", str(changes[-1].seq))
            self._repo.set_meta("clock", str(self._hlc.tick()))
        return made

    def _diff(self, ns: str, key: str, state: EntryState, at: float | None) -> list[OpRow]:
        entry = self._get_entry(ns, key)
        return diff_ops(ns, key, state, entry, at, self._op)

    # -- push and pull ---------------------------------------------------------------------------

    def _push(self, db: Any, handle: Any) -> tuple[int, int]:
        """Send the queue, a batch at a time. Each batch is one server transaction that adds
        the operations (kept once, by id) and writes the merged state of the entries they
        touch into the server's memory, under the tenant's lock (so the last writer folds
        every operation): a crash loses both or neither, and the batch is sent again."""
        pushed = materialized = 0
        while True:
            batch = self._repo.queue(BATCH)
            if not batch:
                return pushed, materialized
            materialized += self._send(db, handle, batch)
            with self._local.transaction():
                self._repo.mark_pushed([op[0] for op in batch])
            pushed += len(batch)

    def _send(self, db: Any, handle: Any, batch: Sequence[OpRow]) -> int:
        """One server transaction: add the operations, merge the entries they touch."""
        keys = sorted({(op[3], op[4]) for op in batch})
        repo = SyncRepo(db)
        with db.transaction():
            repo.add(batch)
            ops = repo.for_entries(keys)
            states = [(ns, key, self._state(ops[(ns, key)])) for ns, key in keys]
            try:  # all at once; if the memory refuses one, each on its own
                with db.transaction():
                    self._apply_server_many(handle, states)
            except MindbankError:
                if not db.in_transaction:
                    raise
                for ns, key, state in states:
                    self._try(db, self._apply_server, handle, ns, key, state)
        return len(keys)

    # -- a follower's writes ---------------------------------------------------------------

    def forward(
        self, namespace: str, key: str, payload: dict[str, Any] | None, tags: Sequence[str]
    ) -> None:
        """Write through the server (leader-follower): the operations that make the entry
        ``payload`` with ``tags`` (None: deleted) go to the server first, in one transaction;
        only then into the local memory. A server that cannot be reached raises (the write is
        not made anywhere: a follower does not write alone)."""
        with self._local.transaction():
            self.capture()  # local changes first, so the new operations follow them
            state = self._state(self._repo.for_entries([(namespace, key)])[(namespace, key)])
        at = self._clock()
        if payload is None:
            ops = [self._op(namespace, key, "delete", {"removes": state.observed()}, at)]
        else:
            ops = [self._op(namespace, key, "set", payload, at)]
            have = set(state.tags) if state.alive else set()
            ops += [
                self._op(namespace, key, "tag", {"tag": t}, at) for t in sorted(set(tags) - have)
            ]
            ops += [
                self._op(namespace, key, "untag", {"tag": t, "removes": state.observed(t)}, at)
                for t in sorted(have - set(tags))
            ]
        try:
            db, handle = self._server()
            self._send(db, handle, ops)
        except MindbankError:
            if self._on_failure is not None:
                self._on_failure()
            raise
        with self._local.transaction():
            self._repo.add(ops, pushed=True)
            self._repo.set_meta("clock", str(self._hlc.tick()))
        self._materialize_local({(namespace, key)})

    def _one_by_one(self, handle: Any, states: list[tuple[str, str, EntryState]]) -> None:
        for ns, key, state in states:
            self._apply_server(handle, ns, key, state)

    def _try(self, db: Any, apply: Callable[..., None], *args: Any) -> None:
        """Materialize one entry in a savepoint: an entry the memory refuses (a namespace
        schema, say) is left as it was and reported, and does not hold up the others."""
        try:
            with db.transaction():
                apply(*args)
        except MindbankError as exc:
            if not db.in_transaction:
                raise
            self.refused.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    def _ingest(self, db: Any, handle: Any) -> int:
        """Direct writes to the shared memory (by agents that are not replicas) become
        operations, once: under the tenant's lock, from the server's change log after the
        shared cursor ``__sync_ingest__`` (the first time: every entry there is), stamped
        with when they were written (the server's clock) as replica ``pg``."""
        from mindbank.store.pg_memory import PgChangeRepo

        changes_repo = PgChangeRepo(db)
        repo = SyncRepo(db)
        made: list[OpRow] = []
        with db.transaction():
            cursor = changes_repo.cursor(INGEST)
            written: dict[tuple[str, str], tuple[float | None, int]] = {}
            listed: dict[tuple[str, str], Entry] = {}
            if cursor is None:
                head = changes_repo.head()
                listed = {(e.namespace, e.key): e for e in handle.list(limit=None)}
                written = dict.fromkeys(listed, (None, head))
            else:
                head = cursor
                for c in changes_repo.since(cursor, None, 1_000_000_000):
                    head = c.seq
                    if not c.actor.startswith(SYNC_ACTOR):
                        written[(c.namespace, c.key)] = (c.at, c.seq)
            if written:
                states = repo.for_entries(sorted(written))
                for (ns, key), (at, seq) in sorted(written.items()):

                    def make(ns: str, key: str, kind: str, payload: dict[str, Any],
                             when: float | None, seq: int = seq) -> OpRow:  # fmt: skip
                        stamp = Stamp(int((when or 0) * 1000), seq % 100_000, "pg")
                        return (uuid.uuid4().hex, str(stamp), "pg", ns, key, kind, payload)

                    entry = listed[(ns, key)] if listed else handle.get(key, namespace=ns)
                    made += diff_ops(ns, key, self._state(states[(ns, key)]), entry, at, make)
                repo.add(made)
            if cursor is None or head != cursor:
                changes_repo.set_cursor(INGEST, head, self._clock())
        return len(made)

    def _pull(self, db: Any) -> tuple[int, set[tuple[str, str]], int]:
        pulled, touched = 0, set[tuple[str, str]]()
        repo = SyncRepo(db)
        cursor = int(self._repo.meta("pull_cursor") or 0)
        while True:
            batch = repo.after(cursor, BATCH)
            if not batch:
                return pulled, touched, max(0, repo.head() - cursor)
            with self._local.transaction():
                new = self._repo.add([op for _, op in batch], pushed=True)
                pulled += len(new)
                for op in new:
                    self._hlc.observe(Stamp.parse(op[1]))
                touched.update((op[3], op[4]) for op in new)
                cursor = batch[-1][0]
                self._repo.set_meta("pull_cursor", str(cursor))
                self._repo.set_meta("clock", str(self._hlc.tick()))

    def _materialize_local(self, keys: set[tuple[str, str]]) -> None:
        """Write the merged state of these entries into the local memory, in one transaction
        that first captures what was written locally meanwhile (so the merge includes it and
        no local write is overwritten unseen), as the sync actor (so it is not captured)."""
        if not keys:
            return
        ordered = sorted(keys)
        with self._local.transaction():
            self.capture()
            ops = self._repo.for_entries(ordered)
            actor = self._local.actor
            self._local.actor = SYNC_ACTOR + self.id
            try:
                for ns, key in ordered:
                    state = self._state(ops[(ns, key)])
                    self._try(self._local, self._apply_local, ns, key, state)
            finally:
                self._local.actor = actor

    def sync(self) -> SyncReport:
        """One round: capture, then (if the breaker allows) push and pull with retries."""
        start = time.perf_counter()
        self.refused = []
        captured = self.capture()
        pushed = pulled = materialized = 0
        error: str | None = None
        if self.breaker.allows():
            for attempt in range(self.retries):
                try:
                    db, handle = self._server()
                    n_pushed, n_written = self._push(db, handle)
                    pushed += n_pushed
                    materialized += n_written
                    self._ingest(db, handle)
                    n_pulled, theirs, lag = self._pull(db)
                    pulled += n_pulled
                    self._materialize_local(theirs)
                    self.breaker.success()
                    self._repo.set_meta("lag", str(lag))
                    self._repo.set_meta("last_sync", repr(self._clock()))
                    error = None
                    break
                except MindbankError as exc:
                    error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    if self._on_failure is not None:
                        self._on_failure()  # a new connection next time
                    if attempt + 1 < self.retries:
                        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
                        self._sleep(self._rng.uniform(0, ceiling))
            else:
                self.breaker.failure()
            self._repo.set_meta("last_error", error or "")
        else:
            error = "the circuit breaker is open: the server failed; reads and writes stay local"
        return SyncReport(captured, pushed, pulled, materialized, self._repo.queue_length(),
                          self.breaker.state, error, time.perf_counter() - start)  # fmt: skip

    def status(self) -> SyncStatus:
        """The replica's queue, breaker and lag."""
        lag = self._repo.meta("lag")
        last = self._repo.meta("last_sync")
        return SyncStatus(
            self.id, self._repo.meta("server"), self._repo.queue_length(), self.breaker.state,
            self.breaker.failures, None if lag is None else int(lag),
            None if last is None else float(last), self._repo.meta("last_error") or None,
        )  # fmt: skip


def diff_ops(
    ns: str,
    key: str,
    state: EntryState,
    entry: Entry | None,
    at: float | None,
    make: Callable[[str, str, str, dict[str, Any], float | None], OpRow],
) -> list[OpRow]:
    """The operations that take an entry from its merged ``state`` to ``entry`` as it is now
    (None: gone), made by ``make(namespace, key, kind, payload, at)``."""
    ops: list[OpRow] = []
    if entry is None:
        if state.alive:
            ops.append(make(ns, key, "delete", {"removes": state.observed()}, at))
        return ops
    if at is None:  # as of the entry's last write
        at = entry.updated_at
    payload = {"value": entry.value, "metadata": dict(entry.metadata),
               "expires_at": entry.expires_at}  # fmt: skip
    current = state.register[1] if state.alive and state.register else None
    if current is None or _canon(current) != _canon(payload):
        ops.append(make(ns, key, "set", payload, at))
    have = set(state.tags) if state.alive else set()
    for tag in sorted(set(entry.tags) - have):
        ops.append(make(ns, key, "tag", {"tag": tag}, at))
    for tag in sorted(have - set(entry.tags)):
        ops.append(make(ns, key, "untag", {"tag": tag, "removes": state.observed(tag)}, at))
    return ops


def _canon(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

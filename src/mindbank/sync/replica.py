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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mindbank.errors import MindbankError, StoreError
from mindbank.records import Entry, SyncReport, SyncStatus
from mindbank.store.changes import ChangeRepo
from mindbank.store.sync import OpRow, SyncRepo
from mindbank.sync.crdt import EntryState, Op, fold
from mindbank.sync.hlc import HLC, Stamp

__all__ = ["SYNC_ACTOR", "Breaker", "Replica", "States", "sync_status"]

SYNC_ACTOR = "mindbank-sync:"
"""Actor prefix of the writes a replica makes when it materializes merged state (the capture
leaves them out: they are not new local changes)."""

BATCH = 500
States = list[tuple[str, str, EntryState | None]]
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

    The rule every side keeps: its entries are the fold (:func:`~mindbank.sync.crdt.fold`) of
    the operations it holds. On the server, operations and the entries they touch are written
    in one transaction. On a replica, an entry whose operations changed (pulled, captured, or
    restamped by the server) is marked *pending* in the same transaction as the change, and
    materialization works through what is pending until nothing is: a crash or a lock error
    between the two leaves the entry pending, never forgotten.

    Args:
        local: the local :class:`~mindbank.store.database.Database`.
        get_entry: ``(namespace, key) -> Entry | None`` of the local memory (no access counted).
        apply_local: writes entries' merged states (None: absent) into the local memory;
            returns how many it changed.
        server: returns ``(database, handle)`` of the server (connecting if needed; raises a
            mindbank error when it cannot): the database holds the operations, the handle is
            given to ``apply_server``.
        apply_server: ``(handle, states)``: the same as ``apply_local``, into the server's memory.
        clock: seconds (``time.time``).
        retries: attempts per round before it counts as a failure.
        backoff: the first retry's delay ceiling in seconds (doubles each time; full jitter).
        max_skew: how far (seconds) an operation's clock may be ahead of the server's: the
            server clamps later stamps to its own time plus this, and the replica adopts them.
        sleep, rng: injectable for tests.
        on_failure: called after a failed attempt (to drop a broken connection).
        step: called with the name of each step boundary a round passes (``captured``,
            ``sent``, ``pushed``, ``pulled``, ``merged``): a test kills the process there.
    """

    def __init__(
        self,
        local: Any,
        get_entry: Callable[[str, str], Entry | None],
        apply_local: Callable[[States], int],
        server: Callable[[], Any],
        apply_server: Callable[[Any, States], int],
        *,
        clock: Callable[[], float] = time.time,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        opens_after: int = 3,
        cooldown: float = 30.0,
        max_skew: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_failure: Callable[[], None] | None = None,
        step: Callable[[str], None] | None = None,
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
        self.max_skew = max_skew
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._on_failure = on_failure
        self._step = step or (lambda name: None)
        self.refused: list[str] = []  # entries a memory refused to take, this round
        self.clamped = 0  # operations whose stamps the server clamped, this round
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
        many operations were made. The entries they touch become pending: the local row is
        what the call wrote, the fold may say more (a tag a concurrent delete left alive)."""
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
            self._repo.mark_pending({(op[3], op[4]) for op in ops})
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

    # -- push ------------------------------------------------------------------------------------

    def _push(self, db: Any, handle: Any) -> tuple[int, int]:
        """Send the queue, a batch at a time (at least one exchange, so direct writes to the
        shared memory are taken even when nothing is queued); returns (operations pushed,
        server entries written)."""
        pushed = written = 0
        while True:
            batch = self._repo.queue(BATCH)
            n, stamps = self._send(db, handle, batch)
            written += n
            self._step("sent")
            if not batch:
                return pushed, written
            self._adopt(batch, stamps, pushed=True)
            pushed += len(batch)
            self._step("pushed")

    def _send(self, db: Any, handle: Any, batch: Sequence[OpRow]) -> tuple[int, dict[str, str]]:
        """One server transaction, under the tenant's write lock: the direct writes to the
        shared memory become operations first (so no merge reads a row they changed before
        they are operations), then the batch is added (kept once, by id; a stamp from a clock
        too far ahead clamped), then every entry either touched is written as the fold of all
        its operations. A crash loses all of it or none, and the batch is sent again.
        Returns (entries written, the server's stamp of each operation of the batch)."""
        repo = SyncRepo(db)
        with db.transaction():
            ingested, head = self._ingest(db, handle)
            repo.add(self._clamp(batch, repo.now()))
            stamps = repo.stamps([op[0] for op in batch])
            keys = sorted({(op[3], op[4]) for op in batch} | ingested)
            written, _ = self._merge(db, lambda states: self._apply_server(handle, states), keys)
            late = [c for c in ChangeRepo(db).since(head, None, 1_000_000_000)
                    if not c.actor.startswith(SYNC_ACTOR)]  # fmt: skip
            if late:  # a write that took no lock: its row may be the one just merged over
                raise StoreError(
                    f"{late[0].namespace}/{late[0].key} was written on the server during the "
                    "merge; the round is tried again"
                )
        return written, stamps

    def _clamp(self, batch: Sequence[OpRow], now: float) -> list[OpRow]:
        """The batch with every stamp later than the server's clock plus ``max_skew`` moved
        back to that limit (in order: counters keep the replica's own order)."""
        limit = int((now + self.max_skew) * 1000)
        out: list[OpRow] = []
        n = 0
        for op in batch:
            stamp = Stamp.parse(op[1])
            if stamp.wall > limit:
                op = (op[0], str(Stamp(limit, n, stamp.replica)), *op[2:])
                n += 1
            out.append(op)
        self.clamped += n
        return out

    def _adopt(self, batch: Sequence[OpRow], stamps: dict[str, str], *, pushed: bool) -> None:
        """The server has this batch: mark it pushed (or add it, for a follower's writes), take
        the server's stamps where it clamped them, and mark their entries pending."""
        with self._local.transaction():
            if not pushed:
                self._repo.add(batch, pushed=True)
            moved = [(stamps[op[0]], op[0]) for op in batch if stamps.get(op[0], op[1]) != op[1]]
            self._repo.set_stamps(moved)
            if moved:
                ids = {i for _, i in moved}
                self._repo.mark_pending({(op[3], op[4]) for op in batch if op[0] in ids})
            self._repo.mark_pushed([op[0] for op in batch])
            self._repo.set_meta("clock", str(self._hlc.tick()))

    def _merge(self, db: Any, apply: Callable[[States], int], keys: Sequence[tuple[str, str]]
               ) -> tuple[int, set[tuple[str, str]]]:  # fmt: skip
        """Write the fold of each entry's operations through ``apply``: all at once, or, if
        the memory refuses one (a namespace schema, say), each in a savepoint of its own (the
        refused ones are left as they were and reported). Returns how many were changed, and
        the entries refused."""
        if not keys:
            return 0, set()
        ops = SyncRepo(db).for_entries(keys)
        states: States = [(ns, key, self._state(ops[(ns, key)])) for ns, key in keys]
        try:
            with db.transaction():
                return apply(states), set()
        except MindbankError:
            if not db.in_transaction:
                raise
        written, refused = 0, set()
        for one in states:
            try:
                with db.transaction():
                    written += apply([one])
            except MindbankError as exc:
                if not db.in_transaction:
                    raise
                refused.add((one[0], one[1]))
                self.refused.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return written, refused

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
            have = set(state.tags) if state.alive else set()
            keeps = [d for t in sorted(have & set(tags)) for d in state.observed(t)]
            ops = [self._op(namespace, key, "set", {**payload, "keeps": keeps}, at)]
            ops += [
                self._op(namespace, key, "tag", {"tag": t}, at) for t in sorted(set(tags) - have)
            ]
            ops += [
                self._op(namespace, key, "untag", {"tag": t, "removes": state.observed(t)}, at)
                for t in sorted(have - set(tags))
            ]
        try:
            db, handle = self._server()
            _, stamps = self._send(db, handle, ops)
        except MindbankError:
            if self._on_failure is not None:
                self._on_failure()
            raise
        self._adopt(ops, stamps, pushed=False)
        with self._local.transaction():
            self._repo.mark_pending({(namespace, key)})
        self._materialize_local()

    # -- direct writes to the shared memory ------------------------------------------------------

    def _ingest(self, db: Any, handle: Any) -> tuple[set[tuple[str, str]], int]:
        """Direct writes to the shared memory (by agents that are not replicas) become
        operations, once: from the server's change log after the shared cursor
        ``__sync_ingest__`` (the first time, or when the log was pruned past it: every entry
        there is), stamped with when they were written (the server's clock) as replica ``pg``.
        Runs inside :meth:`_send`'s transaction. Returns (the entries that got operations,
        the change log's position read up to)."""
        from mindbank.store.pg_memory import PgChangeRepo

        changes_repo = PgChangeRepo(db)
        repo = SyncRepo(db)
        made: list[OpRow] = []
        cursor = changes_repo.cursor(INGEST)
        written: dict[tuple[str, str], tuple[float | None, int]] = {}
        listed: dict[tuple[str, str], Entry] = {}
        if cursor is None or cursor < changes_repo.pruned_upto():
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

                entry = listed.get((ns, key)) if listed else handle.get(key, namespace=ns)
                made += diff_ops(ns, key, self._state(states[(ns, key)]), entry, at, make)
            repo.add(made)
        if cursor is None or head != cursor:
            changes_repo.set_cursor(INGEST, head, self._clock())
        return {(op[3], op[4]) for op in made}, head

    # -- pull and materialize --------------------------------------------------------------------

    def _pull(self, db: Any) -> tuple[int, int]:
        """Add the server's operations after this replica's cursor, a batch per local
        transaction that also marks their entries pending; returns (new operations, lag)."""
        pulled = 0
        repo = SyncRepo(db)
        cursor = int(self._repo.meta("pull_cursor") or 0)
        while True:
            batch = repo.after(cursor, BATCH)
            if not batch:
                return pulled, max(0, repo.head() - cursor)
            with self._local.transaction():
                new = self._repo.add([op for _, op in batch], pushed=True)
                pulled += len(new)
                for op in new:
                    self._hlc.observe(Stamp.parse(op[1]))
                self._repo.mark_pending({(op[3], op[4]) for op in new})
                cursor = batch[-1][0]
                self._repo.set_meta("pull_cursor", str(cursor))
                self._repo.set_meta("clock", str(self._hlc.tick()))
            self._step("pulled")

    def _materialize_local(self) -> int:
        """Write the fold of every pending entry into the local memory, a batch per
        transaction that first captures what was written locally meanwhile (so the fold
        includes it and no local write is overwritten unseen), writes as the sync actor (so it
        is not captured) and clears what it wrote from the pending set. An entry the memory
        refuses stays pending (and is reported). Returns how many entries changed."""
        written = 0
        after: tuple[str, str] | None = None
        while True:
            with self._local.transaction():
                self.capture()
                keys = self._repo.pending(BATCH, after)
                if not keys:
                    return written
                actor = self._local.actor
                self._local.actor = SYNC_ACTOR + self.id
                try:
                    n, refused = self._merge(self._local, self._apply_local, keys)
                finally:
                    self._local.actor = actor
                written += n
                self._repo.clear_pending([k for k in keys if k not in refused])
                after = keys[-1]
            self._step("merged")

    # -- a round -------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """One round: capture, then (if the breaker allows) push and pull with retries, then
        materialize what is pending."""
        start = time.perf_counter()
        self.refused = []
        self.clamped = 0
        captured = self.capture()
        self._step("captured")
        pushed = pulled = server_written = local_written = 0
        error: str | None = None
        skew: float | None = None
        lag = 0
        if self.breaker.allows():
            for attempt in range(self.retries):
                try:
                    db, handle = self._server()
                    skew = self._clock() - SyncRepo(db).now()
                    n_pushed, n_written = self._push(db, handle)
                    pushed += n_pushed
                    server_written += n_written
                    n_pulled, lag = self._pull(db)
                    pulled += n_pulled
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
            if error is None:

                def bookkeeping() -> None:  # the server answered: a local lock must not say no
                    with self._local.transaction():
                        self.breaker.success()
                        self._repo.set_meta("lag", str(lag))
                        self._repo.set_meta("last_sync", repr(self._clock()))
                        self._repo.set_meta("skew", repr(skew))

                self._local.best_effort(bookkeeping, wait=True)
            self._local.best_effort(lambda: self._repo.set_meta("last_error", error or ""),
                                    wait=True)  # fmt: skip
        else:
            error = "the circuit breaker is open: the server failed; reads and writes stay local"
        try:  # local, whether the server answered or not: what is pending stays so if it fails
            local_written = self._materialize_local()
        except MindbankError as exc:
            error = error or f"merging into the local memory: {str(exc).splitlines()[0]}"
        return SyncReport(
            captured, pushed, pulled, server_written, local_written, self.clamped,
            self._repo.pending_count(), self._repo.queue_length(), self.breaker.state, skew,
            error, time.perf_counter() - start,
        )  # fmt: skip

    def status(self) -> SyncStatus:
        """The replica's queue, breaker and lag."""
        return sync_status(self._repo, self.breaker)


def sync_status(repo: SyncRepo, breaker: Breaker) -> SyncStatus:
    """A replica's state as its database keeps it."""
    lag, last, skew = repo.meta("lag"), repo.meta("last_sync"), repo.meta("skew")
    return SyncStatus(
        repo.meta("replica") or "", repo.meta("server"), repo.queue_length(),
        repo.pending_count(), breaker.state, breaker.failures,
        None if lag is None else int(lag), None if last is None else float(last),
        None if skew is None else float(skew), repo.meta("last_error") or None,
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
    have = set(state.tags) if state.alive else set()
    if current is None or _canon(_content(current)) != _canon(payload):
        # the dots of the tags it keeps: a concurrent delete does not take them (crdt.py)
        keeps = [d for tag in sorted(have & set(entry.tags)) for d in state.observed(tag)]
        ops.append(make(ns, key, "set", {**payload, "keeps": keeps}, at))
    for tag in sorted(set(entry.tags) - have):
        ops.append(make(ns, key, "tag", {"tag": tag}, at))
    for tag in sorted(have - set(entry.tags)):
        ops.append(make(ns, key, "untag", {"tag": tag, "removes": state.observed(tag)}, at))
    return ops


def _content(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A set's payload without what only the merge reads (``keeps``)."""
    return {k: v for k, v in payload.items() if k != "keeps"}


def _canon(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

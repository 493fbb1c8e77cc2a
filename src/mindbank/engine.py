"""The facade: :func:`open` gives a :class:`MindBank`, which wires the store and the domain parts.

A MindBank holds one SQLite connection; use it from one thread (open one per thread). Many
processes may open the same database at once.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import functools
import json
import os
import reprlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, cast

from mindbank.config import Settings, find_db_path, parse_duration
from mindbank.errors import (
    ConflictError,
    IntegrityCheckError,
    NotFoundError,
    ReadOnlyQueryError,
    ValidationError,
    WitnessWarning,
    shown,
)
from mindbank.memory.transfer import entry_line, parse_lines
from mindbank.memory.validation import (
    check_finite,
    check_k,
    check_key,
    check_limit,
    check_namespace,
    check_path,
    check_tags,
    check_text,
    encode_entry,
    expiry,
)
from mindbank.store.database import Database, SlowQueryHook
from mindbank.store.locking import serialized, unlocked
from mindbank.store.memory import EntryRow, MemoryRepo
from mindbank.store.repos import change_repo, coordination_repo, memory_repo

if TYPE_CHECKING:  # loaded on first use, so that a CLI call that only retrieves starts fast
    from mindbank.embedders.base import Embedder
    from mindbank.learning.feedback import FeedbackLoop
    from mindbank.memory import coordination
    from mindbank.memory.changes import Subscription
    from mindbank.memory.schemas import NamespaceSchemas
    from mindbank.memory.searcher import Searcher
    from mindbank.memory.semantic import SemanticMemory
    from mindbank.neural.registry import NeuralModels
    from mindbank.pipeline.pipeline import Pipeline
    from mindbank.reasoning.bank import ReasoningBank
    from mindbank.records import (
        BridgeReport,
        Change,
        CheckReport,
        CleanupReport,
        CompressionReport,
        CopyReport,
        Entry,
        EntryScore,
        FuzzyHit,
        GraphNode,
        GraphReport,
        IndexStatus,
        MigrationInfo,
        QueryResult,
        SchemaInfo,
        SearchHit,
        Stats,
        SyncReport,
        SyncStatus,
        TierReport,
        UsageReport,
        WitnessReport,
    )
    from mindbank.store import maintenance
    from mindbank.store.changes import ChangeRepo
    from mindbank.store.coordination import CoordinationRepo
    from mindbank.store.schemas import SchemaRepo
    from mindbank.sync.replica import Replica

__all__ = ["Follower", "MindBank", "open", "restore"]

PathLike = str | os.PathLike[str]


@serialized
class MindBank:
    """An open mindbank database. Create it with :func:`mindbank.open`.

    Memory: :meth:`store`, :meth:`store_many`, :meth:`retrieve`, :meth:`list`, :meth:`delete`,
    :meth:`count`, :meth:`namespaces`, :meth:`clear_namespace`, :meth:`cleanup`.
    Search: :meth:`search`, :meth:`index_status`, :meth:`rebuild_index`, :meth:`reembed`.
    ReasoningBank: :attr:`bank`. Neural models: :attr:`neural`.
    Coordination: :attr:`sessions`, :attr:`agents`, :attr:`tasks`, :attr:`shared`,
    :attr:`events`, :attr:`metrics`, :attr:`workflows`, :attr:`topology`, :attr:`consensus`.
    Care: :meth:`transaction`, :meth:`query`, :meth:`backup`, :meth:`export`, :meth:`import_`,
    :meth:`stats`, :meth:`analytics`, :meth:`check`, :meth:`optimize`, :meth:`vacuum`.
    """

    def __init__(self, db: Database, embedder: Embedder | str | None = None):
        self._db = db
        self._lock = db.lock  # every public method runs under it (mindbank.store.locking)
        self._embedder_spec = embedder
        self._clock = db.clock
        self._pg = db.dialect == "postgres"
        self._memory: MemoryRepo = memory_repo(db)
        self._readonly: maintenance.ReadOnlyConnection | None = None

    def _sqlite_only(self, what: str, instead: str = "") -> None:
        """Refuse, clearly, what is SQLite's own (``instead``: what to do on PostgreSQL)."""
        if self._pg:
            from mindbank.errors import BackendError

            raise BackendError(
                f"{what} is not available on PostgreSQL"
                + (f": {instead}" if instead else " yet (docs/postgres.md says what is)")
            )

    def _changes_repo(self) -> ChangeRepo:
        return change_repo(self._db)

    @cached_property
    def embedder(self) -> Embedder:
        """The embedder this database is searched with (its model loads on first use)."""
        from mindbank.embedders import load_embedder

        spec = self._embedder_spec
        if spec is None or isinstance(spec, str):
            return load_embedder(spec or self._db.settings.embedder)
        return spec

    @cached_property
    def _search(self) -> Searcher:
        """This database's search (the one place that tells the two apart)."""
        if self._pg:
            from mindbank.memory.pg_search import PgSearch

            return PgSearch(self._db, self._memory, lambda: self.embedder, self._clock)
        from mindbank.memory.semantic import SemanticMemory
        from mindbank.store.vectors import VectorRepo

        return SemanticMemory(
            VectorRepo(self._db), self._memory, self.embedder, self._db.settings, self._clock
        )

    @property
    def _max_value(self) -> int:
        """The largest value an entry may hold (Settings.max_value_bytes)."""
        return self._db.settings.max_value_bytes

    @property
    def _semantic(self) -> SemanticMemory:
        """The SQLite search, for what only it offers (compression's recall check)."""
        self._sqlite_only("the in-process vector index")
        return cast("SemanticMemory", self._search)

    def check_embedder(self) -> None:
        """Check that :attr:`embedder` is the one that wrote this database's vectors.

        Raises:
            EmbedderMismatchError: naming both identities.
        """
        self._search.check_identity()

    def _embeds(self, namespaces: Iterable[str]) -> bool:
        settings = self._db.settings
        return settings.embed and any(ns not in settings.no_embed_namespaces for ns in namespaces)

    @cached_property
    def bank(self) -> ReasoningBank:
        """The ReasoningBank: reasoning items learned from judged attempts."""
        from mindbank.reasoning.bank import ReasoningBank

        return ReasoningBank(self._db, lambda: self.embedder, self._db.settings.bank, self._clock)

    @cached_property
    def neural(self) -> NeuralModels:
        """Neural models: train on your records, predict, version, export, quantize."""
        from mindbank.neural.registry import NeuralModels

        spec = self._embedder_spec
        if spec is None:
            spec = self._db.settings.embedder or "minilm"
        settings = self._db.settings
        return NeuralModels(
            self._db,
            self._clock,
            settings.model_cache_size,
            settings.model_cache_ttl,
            embedder=lambda: self.embedder,
            embedder_spec=spec if isinstance(spec, str) else None,
        )

    @cached_property
    def pipeline(self) -> Pipeline:
        """The training pipeline: run tasks under strategies, learn which works. Every run is
        also recorded as a ReasoningBank trajectory (namespace ``pipeline``), judged by its
        tests."""
        from mindbank.pipeline.pipeline import Pipeline

        def record(result: Any, task: Any) -> None:
            self.bank.record_trajectory(
                task.prompt or task.id,
                [{"action": f"strategy {result.strategy}",
                  "observation": result.reason or result.status}],
                outcome={
                    "exit_code": 0 if result.success else 1,
                    "tests_passed": result.passed,
                    "tests_failed": result.failed + result.errors,
                },
                strategy=result.strategy,
                kind=task.kind,
                task_id=task.id,
                namespace="pipeline",
                duration=result.seconds,
                distil=False,
            )  # fmt: skip

        if self._pg:  # the pipeline's files (its log, the profiles) stay on this machine
            env = {k: v for k, v in os.environ.items() if k != "MINDBANK_DB"}
            folder = find_db_path(env=env).parent / "pipeline"
        else:
            folder = self._db.path.parent / "pipeline"
        return Pipeline(self._db, self._clock, folder, record)

    @cached_property
    def _coordination(self) -> CoordinationRepo:
        return coordination_repo(self._db)

    @cached_property
    def sessions(self) -> coordination.Sessions:
        """Sessions: create, resume, update, expire."""
        from mindbank.memory.coordination import Sessions

        return Sessions(self._coordination, self._clock)

    @cached_property
    def agents(self) -> coordination.Agents:
        """The agent registry and per-agent memory."""
        from mindbank.memory.coordination import Agents

        return Agents(self._coordination, self._clock)

    @cached_property
    def tasks(self) -> coordination.Tasks:
        """Tasks with status, priority, dependencies and result."""
        from mindbank.memory.coordination import Tasks

        return Tasks(self._coordination, self._clock)

    @cached_property
    def shared(self) -> coordination.SharedStates:
        """Versioned shared state with compare-and-set."""
        from mindbank.memory.coordination import SharedStates

        return SharedStates(self._coordination, self._clock)

    @cached_property
    def events(self) -> coordination.Events:
        """The events log."""
        from mindbank.memory.coordination import Events

        return Events(self._coordination, self._clock)

    @cached_property
    def metrics(self) -> coordination.Metrics:
        """Performance metrics: record and aggregate over a window."""
        from mindbank.memory.coordination import Metrics

        return Metrics(self._coordination, self._clock)

    @cached_property
    def workflows(self) -> coordination.Workflows:
        """Workflow checkpoints."""
        from mindbank.memory.coordination import Workflows

        return Workflows(self._coordination, self._clock)

    @cached_property
    def topology(self) -> coordination.Topologies:
        """Swarm topology versions."""
        from mindbank.memory.coordination import Topologies

        return Topologies(self._coordination, self._clock)

    @cached_property
    def consensus(self) -> coordination.ConsensusLog:
        """Proposals, acceptances and quorum."""
        from mindbank.memory.coordination import ConsensusLog

        return ConsensusLog(self._coordination, self._clock)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._db.path

    # -- life cycle --------------------------------------------------------------------------

    # -- replicas (docs/sync.md) ---------------------------------------------------------------

    def sync(self, server: str | None = None, **options: Any) -> SyncReport:
        """One round of sync of this local memory, as a replica, with a shared PostgreSQL
        memory: local changes become operations (queued in this database: they survive a
        restart), the queue is pushed (each operation kept once by the server), the server's
        new operations are pulled and the entries they touch are merged here and on the
        server. A server that cannot be reached is retried with exponential backoff and
        jitter; after repeated failures a circuit breaker stops trying for a while. Reads and
        writes stay local throughout.

        Args:
            server: the shared memory's ``postgresql://`` URL (default: the one given before,
                else ``$MINDBANK_SYNC_SERVER``).
            options: for the replica (``retries``, ``backoff``, ``opens_after``,
                ``cooldown``, ``max_skew``: seconds a stamp may be ahead of the server's clock
                before the server clamps it, default 300), the first time.

        Returns:
            What the round did: operations captured, pushed, pulled; entries changed here and
            on the server; stamps clamped; entries still pending a merge; the queue; the
            breaker; this clock's skew from the server's; the error, if the round did not
            finish. Every side's entries are the fold of its operations (docs/sync.md).
        """
        replica = self._replica(server, options)
        self._memory.flush_access()  # access counts grown here are part of the round
        return replica.sync()

    @unlocked  # a loop: each round takes the lock (sync), the waits do not
    def sync_watch(
        self,
        server: str | None = None,
        *,
        interval: float = 5.0,
        rounds: int | None = None,
        on_round: Callable[[SyncReport], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Keep syncing: a round, then wait for the server's change feed to say another
        agent wrote (``LISTEN/NOTIFY``: the next round starts at once) or for ``interval``
        seconds, whichever comes first. While the server is away, rounds only queue local
        writes (and the breaker spaces the attempts). Returns the rounds made.

        Args:
            rounds: stop after this many (default: until ``stop()`` says so, or forever).
            on_round: called with each round's report.
        """
        from mindbank.errors import MindbankError

        self._replica(server, {})
        done = 0
        while True:
            report = self.sync()
            done += 1
            if on_round is not None:
                on_round(report)
            if (rounds is not None and done >= rounds) or (stop is not None and stop()):
                return done
            handle = self.__dict__.get("_sync_handle")
            try:
                if handle is None or report.error is not None:
                    raise LookupError
                handle()._db.wait_for_changes(interval)
            except (LookupError, MindbankError):
                time.sleep(interval)

    def follower(self, server: str | None = None, **options: Any) -> Follower:
        """This memory as a follower of a shared one (leader-follower): reads stay local,
        writes (``store``, ``delete``) go to the server first and then here; a write while
        the server is away raises instead of queueing. ``pull()`` catches up."""
        return Follower(self, self._replica(server, options))

    def sync_status(self) -> SyncStatus | None:
        """The replica's queue length, circuit breaker and lag (None: never synced)."""
        from mindbank.store.sync import SyncRepo
        from mindbank.sync.replica import Breaker, sync_status

        if self._pg or "sync_meta" not in self._db.table_names():
            return None
        repo = SyncRepo(self._db)
        rid = repo.meta("replica")
        if rid is None:
            return None
        breaker = Breaker(repo, self._clock, int(repo.meta("opens_after") or 3),
                          float(repo.meta("cooldown") or 30.0))  # fmt: skip
        return sync_status(repo, breaker)

    def _replica(self, server: str | None, options: Mapping[str, Any]) -> Replica:
        from mindbank.store.postgres import is_url
        from mindbank.store.sync import SyncRepo
        from mindbank.sync.replica import SYNC_ACTOR, Replica

        if self._pg:
            raise ValidationError("a replica is a local SQLite memory; this one is PostgreSQL")
        url = server or self.__dict__.get("_sync_url") or os.environ.get("MINDBANK_SYNC_SERVER")
        if not is_url(url):
            raise ValidationError(
                "sync needs the shared memory's postgresql:// URL (or $MINDBANK_SYNC_SERVER)"
            )
        cached = self.__dict__.get("_sync_replica")
        if cached is not None and self.__dict__.get("_sync_url") == url:
            return cached  # type: ignore[no-any-return]
        previous: Callable[[], None] | None = self.__dict__.get("_sync_lost")
        if previous is not None:  # another server than before: let go of the old one
            previous()
        self._sync_url = url
        holder: dict[str, MindBank] = {}

        def connect() -> tuple[Any, Any]:
            if "server" not in holder:
                quiet = dataclasses.replace(self._db.settings, actor=SYNC_ACTOR + replica_id())
                holder["server"] = open(str(url), settings=quiet, embedder=self._embedder_spec)
            return holder["server"]._db, holder["server"]

        def lost() -> None:
            handle = holder.pop("server", None)
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()

        def replica_id() -> str:
            return replica.id

        replica = Replica(
            self._db,
            lambda ns, key: self._memory.get(key, ns, self._clock(), count_access=False),
            lambda states: _apply_states(self, states),
            connect,
            _apply_states,
            clock=self._clock,
            on_failure=lost,
            **options,
        )
        from mindbank.store.postgres import _Display

        with self._db.transaction():
            repo = SyncRepo(self._db)
            repo.set_meta("server", str(_Display(str(url))))
            repo.set_meta("opens_after", str(replica.breaker.opens_after))
            repo.set_meta("cooldown", repr(replica.breaker.cooldown))
        self._sync_replica: Replica = replica
        self._sync_lost: Callable[[], None] = lost
        self._sync_handle: Callable[[], Any] = lambda: connect()[1]
        return replica

    def close(self) -> None:
        """Write buffered access counts and close. Safe to call twice."""
        if "_sync_lost" in self.__dict__:
            self._sync_lost()
        try:
            self._memory.flush_access(wait=True)
            if "_search" in self.__dict__:
                self._search.close()
        finally:
            if self._readonly is not None:
                self._readonly.close()
                self._readonly = None
            self._db.close()

    def __enter__(self) -> MindBank:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MindBank {str(self._db.path)!r}>"

    @unlocked  # the transaction holds the lock while it is open
    @contextlib.contextmanager
    def transaction(self) -> Iterator[MindBank]:
        """Group writes: all or nothing. Nested transactions are savepoints.

        Example::

            with mb.transaction():
                mb.store("a", "1")
                mb.store("b", "2")      # an exception here undoes "a" too
        """
        with self._db.transaction():
            yield self

    # -- memory ------------------------------------------------------------------------------

    def store(
        self,
        key: str,
        value: Any,
        *,
        namespace: str = "default",
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> Entry:
        """Store a value under ``(key, namespace)``, replacing any previous value.

        Args:
            key: non-empty, at most 1,024 characters.
            value: text, or any JSON value; it comes back exactly as stored.
            namespace: groups keys (default ``"default"``).
            tags: labels to filter by.
            metadata: a JSON object.
            ttl: seconds until the entry expires (``None`` = never). Must be > 0.

        Returns:
            The stored entry.

        Raises:
            ValidationError: invalid key, namespace, tags, metadata, value or TTL.
        """
        now = self._clock()
        row = encode_entry(key, value, namespace, tags, metadata, expiry(ttl, now), self._max_value)
        self._schemas.check([(namespace, key, value)])
        with self._memory.writing([(namespace, key)]):
            if not self._embeds((namespace,)) and "_search" not in self.__dict__:
                # no vector, no search index to keep in step
                return self._memory.upsert(row, now)[0]
            # The model runs outside the transaction (None for a namespace not embedded).
            prepared = self._search.prepare([row])[0] if self._embeds((namespace,)) else None
            with self._db.transaction():
                mark = self._search.mark()
                entry, row_id = self._memory.upsert(row, now)
                self._search.write([(row_id, namespace, prepared)], mark)
        return entry

    def store_many(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Store many entries in one transaction: all or none.

        Args:
            items: mappings with ``key`` and ``value`` and optionally ``namespace``, ``tags``,
                ``metadata``, ``ttl`` (the arguments of :meth:`store`).

        Returns:
            How many entries were stored.

        Raises:
            ValidationError: naming the first invalid item; nothing is stored.
        """
        now = self._clock()
        rows = []
        values = []
        if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
            raise ValidationError(f"items must be a list of mappings, not {type(items).__name__}")
        for i, item in enumerate(items):
            try:
                if not isinstance(item, Mapping):
                    raise ValidationError(f"must be a mapping, not {type(item).__name__}")
                unknown = set(item) - {"key", "value", "namespace", "tags", "metadata", "ttl"}
                if unknown:
                    raise ValidationError(f"unknown fields {sorted(unknown)}")
                if "key" not in item or "value" not in item:
                    raise ValidationError("needs a key and a value")
                rows.append(
                    encode_entry(
                        item["key"],
                        item["value"],
                        item.get("namespace", "default"),
                        item.get("tags"),
                        item.get("metadata"),
                        expiry(item.get("ttl"), now),
                        self._max_value,
                    )
                )
                values.append((rows[-1].namespace, rows[-1].key, item["value"]))
            except ValidationError as exc:
                raise ValidationError(f"item {i}: {exc}") from None
        self._schemas.check(values)
        prepared = self._search.prepare(rows) if self._embeds(r.namespace for r in rows) else []
        with self._memory.writing([(r.namespace, r.key) for r in rows]), self._db.transaction():
            mark = self._search.mark() if prepared else None
            ids = self._memory.upsert_many(rows, now, ids=bool(prepared))
            if prepared:
                self._search.write(
                    [(i, r.namespace, p) for i, r, p in zip(ids, rows, prepared, strict=True)], mark
                )
        return len(rows)

    def retrieve(self, key: str, *, namespace: str = "default") -> Entry | None:
        """Return the entry, or None if it does not exist or has expired. Counts the access,
        and if a recent search showed it, counts as using that search's result (feedback)."""
        check_key(key)
        check_namespace(namespace)
        entry = self._memory.get(key, namespace, self._clock())
        if entry is not None:
            feedback = self._feedback
            if feedback.armed():  # (most reads: no search showed anything lately)
                self._db.best_effort(functools.partial(feedback.used, namespace, key))
            if "_schemas" in self.__dict__ and self._schemas.migrators:
                return self._upgraded(entry)
        return entry

    def retrieve_many(self, keys: Iterable[str], *, namespace: str = "default") -> dict[str, Entry]:
        """Retrieve many keys of one namespace at once: what :meth:`retrieve` does for each,
        with the rows read in one read transaction (a few hundred keys per statement), so
        they are from one moment and cost a fraction of separate calls.

        Args:
            keys: the keys (repeats are read once).
            namespace: their namespace.

        Returns:
            The live entries by key, in the order asked; a key with no entry (or an expired
            one) is left out.

        Raises:
            ValidationError: ``keys`` is a single string, or holds something else than strings.
        """
        if isinstance(keys, str):
            raise ValidationError("retrieve_many takes a list of keys, not one string")
        if isinstance(keys, bytes | Mapping) or not isinstance(keys, Iterable):
            raise ValidationError(f"keys must be a list of strings, not {type(keys).__name__}")
        listed = list(keys)
        if any(not isinstance(k, str) for k in listed):
            raise ValidationError("keys must be strings")
        wanted = list(dict.fromkeys(listed))
        for k in wanted:
            check_key(k)
        check_namespace(namespace)
        entries = self._memory.get_many(wanted, namespace, self._clock())
        upgrade = "_schemas" in self.__dict__ and self._schemas.migrators
        feedback = self._feedback
        armed = bool(entries) and feedback.armed()
        for key, entry in entries.items():
            if armed:
                self._db.best_effort(functools.partial(feedback.used, namespace, key))
            if upgrade:
                entries[key] = self._upgraded(entry)
        return entries

    @cached_property
    def _feedback(self) -> FeedbackLoop:
        from mindbank.learning.feedback import FeedbackLoop

        return FeedbackLoop(self._db, self._db.settings.learning, self._clock)

    def feedback(
        self,
        entry: str | Entry,
        reward: float,
        *,
        namespace: str = "default",
        query: str | None = None,
    ) -> EntryScore:
        """Tell mindbank how useful an entry was: ``reward`` in [-1, 1] (1: exactly what was
        needed, -1: misleading). It moves the entry's learned boost, which search adds to its
        score. Entries retrieved after a search showed them get +1 automatically, and the ones
        shown above them -1 (more slowly).

        Args:
            entry: a key (in ``namespace``) or an :class:`Entry`.
            reward: in [-1, 1].
            namespace: the key's namespace.
            query: the question it was (not) useful for, kept with the feedback.

        Raises:
            NotFoundError: no such entry.
            ValidationError: a reward outside [-1, 1].
        """
        if not isinstance(entry, str) and hasattr(entry, "namespace") and hasattr(entry, "key"):
            namespace, entry = entry.namespace, entry.key  # an Entry
        key = check_key(entry)
        check_namespace(namespace)
        return self._feedback.explicit(namespace, key, reward, query)

    def build_graph(self) -> GraphReport:
        """Rebuild the memory graph: each entry linked to up to ``graph_neighbours`` others of
        cosine >= ``graph_similarity`` (found by LSH over the vector index, not by comparing
        all pairs) and to the entries used close to it in time; PageRank over it (damping
        0.85), stored with each entry. Embeds entries that lack a vector first (on SQLite; on
        PostgreSQL the graph is over the entries that have one)."""
        ids, matrix = self._search.graph_vectors()
        return self._feedback.build_graph(ids, matrix, {int(i) for i in ids})

    def graph(self, top: int = 10, neighbours: int = 5) -> builtins.list[GraphNode]:
        """The entries with the highest PageRank (as of the last :meth:`build_graph`), each
        with its heaviest neighbours."""
        if top is None:
            raise ValidationError("top must be a non-negative integer, got None")
        check_limit(top, 0)
        return self._feedback.top(top, neighbours)

    def fuzzy(
        self,
        text: str,
        *,
        k: int = 10,
        namespace: str | None = None,
        min_score: float = 0.2,
    ) -> builtins.list[FuzzyHit]:
        """Typo-tolerant lookup: entries whose key (or value, up to 200 characters) shares
        the most trigrams with ``text`` (Jaccard similarity, best first). ``"retyr-polcy"``
        finds ``retry-policy``."""
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("text must be a non-empty string")
        check_k(k)
        if namespace is not None:
            check_namespace(namespace)
        self._memory.flush_access()
        return self._feedback.fuzzy(text, k, namespace, check_finite(min_score, "min_score", 0, 1))

    def tiers(self, *, entries: bool = False) -> TierReport:
        """What sits in each memory tier, and (with ``entries``) where each entry sits and why:
        working (this process's LRU of rows read), episodic (events, with their retention
        rules), semantic (entries: hot, warm, cold by use and age), vector (embeddings)."""
        from mindbank.learning.rules import tier_of
        from mindbank.records import TierEntry, TierReport
        from mindbank.store.repos import feedback_repo

        self._memory.flush_access()
        s = self._db.settings.learning
        repo = feedback_repo(self._db)
        now = self._clock()
        counts = {"hot": 0, "warm": 0, "cold": 0}
        listed = []
        for ns, key, count, updated, accessed in repo.entry_use(now):
            tier, reason = tier_of(count, updated, accessed, now, s)
            counts[tier] += 1
            if entries:
                listed.append(TierEntry(ns, key, tier, reason))
        n_events, oldest = repo.events_summary()
        rows, size = self._memory.working_memory()
        entry_vectors, item_vectors = repo.vector_counts()
        return TierReport(
            working={
                "rows": rows,
                "bytes": size,
                "limit_bytes": self._db.settings.working_memory_bytes,
            },
            episodic={
                "events": n_events,
                "oldest_age_seconds": None if oldest is None else now - oldest,
                "max_events": s.episodic_max_events,
                "max_age_seconds": s.episodic_max_age,
                "would_remove": repo.events_beyond(s.episodic_max_events, now - s.episodic_max_age),
            },
            semantic={"entries": sum(counts.values()), **counts},
            vector={"entry_vectors": entry_vectors, "item_vectors": item_vectors},
            entries=tuple(listed),
        )

    def apply_retention(self) -> int:
        """Apply the episodic tier's retention rules (``episodic_max_events``,
        ``episodic_max_age``) to the events log; returns how many events were removed.
        Nothing else is removed: entries leave only by delete, TTL or cleanup."""
        from mindbank.store.repos import feedback_repo

        s = self._db.settings.learning
        with self._db.transaction():
            return feedback_repo(self._db).prune_events(
                s.episodic_max_events, self._clock() - s.episodic_max_age
            )

    def import_memory_folder(
        self, folder: PathLike | None = None, *, namespace: str = "claude"
    ) -> BridgeReport:
        """Store the memories of a folder of JSON files (default ``$MINDBANK_CLAUDE_MEMORY``,
        else ``~/.claude/memory``) in ``namespace``; only changed ones are written. See
        :mod:`mindbank.bridge.claude` for the file format."""
        from mindbank.bridge import claude

        check_namespace(namespace)
        path = check_path(folder, "folder") if folder is not None else claude.default_folder()
        if not path.is_dir():
            raise NotFoundError(f"no memory folder at {path}")
        return claude.import_folder(self, path, namespace)

    def export_memory_folder(
        self, folder: PathLike | None = None, *, namespace: str = "claude"
    ) -> BridgeReport:
        """Write the entries of ``namespace`` back to the folder as JSON files (those that
        differ), and its ``MEMORY.md`` index ordered by memory-graph rank."""
        from mindbank.bridge import claude
        from mindbank.store.repos import feedback_repo

        check_namespace(namespace)
        path = check_path(folder, "folder") if folder is not None else claude.default_folder()
        report = claude.export_folder(self, path, namespace)
        ranks = {(ns, key): r for _, ns, key, r in feedback_repo(self._db).top_ranked(1_000_000)}
        claude.write_index(path / "MEMORY.md", self.list(namespace=namespace, limit=None), ranks)
        return report

    def entry_score(self, key: str, *, namespace: str = "default") -> EntryScore:
        """What feedback taught about an entry (its boost, uses and skips)."""
        check_key(key)
        check_namespace(namespace)
        return self._feedback.score(namespace, key)

    def get(self, key: str, *, namespace: str = "default") -> Entry | None:
        """Like :meth:`retrieve` but does not count an access (for tools and inspection)."""
        check_key(key)
        check_namespace(namespace)
        entry = self._memory.get(key, namespace, self._clock(), count_access=False)
        if entry is not None and "_schemas" in self.__dict__ and self._schemas.migrators:
            return self._upgraded(entry)
        return entry

    def list(
        self,
        *,
        namespace: str | None = None,
        pattern: str | None = None,
        tags: Iterable[str] | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> builtins.list[Entry]:
        """List live entries ordered by key.

        Args:
            namespace: one namespace, or None for all.
            pattern: a key GLOB (``api-*``, ``user-?``, ``[ab]*``; case-sensitive).
            tags: entries that carry all of these tags.
            limit: at most this many (None = all).
            offset: skip this many first.
        """
        check_limit(limit, offset)
        if namespace is not None:
            check_namespace(namespace)
        if pattern is not None:
            check_key(pattern, "pattern")
        entries = self._memory.list(
            namespace, pattern, check_tags(tags), limit, offset, self._clock()
        )
        if "_schemas" in self.__dict__ and self._schemas.migrators:
            return [self._upgraded(e) for e in entries]
        return entries

    # -- namespace schemas -------------------------------------------------------------------

    @cached_property
    def _schemas(self) -> NamespaceSchemas:
        from mindbank.memory.schemas import NamespaceSchemas

        repo = self._schema_repo()
        db = self._db
        # The counter comes back to an earlier value after a rollback; with the handle's
        # rollback count, a schema set in a transaction taken back is not kept.
        return NamespaceSchemas(lambda: (repo.version(), db.rollbacks), repo.all)

    def _upgraded(self, entry: Entry) -> Entry:
        value = self._schemas.upgrade(entry.namespace, entry.value)
        return entry if value is entry.value else dataclasses.replace(entry, value=value)

    def set_schema(
        self,
        namespace: str,
        schema: Mapping[str, Any],
        *,
        name: str | None = None,
        strict: bool = False,
    ) -> SchemaInfo:
        """Give a namespace a JSON Schema: from then on every value stored in it must match.

        Args:
            namespace: the namespace.
            schema: a JSON Schema, or a document of definitions (Claude-Flow's
                ``{"memory": {"schemas": {"definitions": ...}}}`` or ``{"definitions": ...}``).
            name: the definition values must match (needed when there are several).
            strict: refuse fields the schema does not list.

        Returns:
            The schema, with how many live entries of the namespace do not match it (they stay;
            see :meth:`check_schema` and :meth:`migrate_values`).

        Raises:
            ValidationError: an invalid schema or an unknown definition.
        """
        from mindbank.memory.schemas import compile_schema, normalize

        check_namespace(namespace)
        label, document = normalize(schema, name)
        compile_schema(label, document, strict)  # refuses an invalid schema before storing it
        repo = self._schema_repo()
        with self._db.transaction():
            repo.put(namespace, label, document, strict, self._clock())
        info = self.schema(namespace)
        assert info is not None
        return dataclasses.replace(info, violations=len(self.check_schema(namespace)))

    def schema(self, namespace: str) -> SchemaInfo | None:
        """A namespace's schema, or None."""
        from mindbank.records import SchemaInfo

        check_namespace(namespace)
        row = self._schemas.refresh().get(namespace)
        if row is None:
            return None
        name, document, strict, version, updated = row
        defs = document["definitions"]
        return SchemaInfo(namespace, name, defs[name], defs, strict, version, updated)

    def schemas(self) -> builtins.list[SchemaInfo]:
        """Every namespace's schema, by namespace."""
        return [i for ns in sorted(self._schemas.refresh()) if (i := self.schema(ns))]

    def remove_schema(self, namespace: str) -> bool:
        """Stop checking a namespace; True if it had a schema."""
        repo = self._schema_repo()
        with self._db.transaction():
            return repo.delete(namespace)

    def _schema_repo(self) -> SchemaRepo:
        from mindbank.store.schemas import SchemaRepo

        return SchemaRepo(self._db)

    def check_schema(self, namespace: str) -> builtins.list[tuple[str, str]]:
        """``(key, why)`` of the live entries of a namespace that do not match its schema
        (as stored, before any migrator)."""
        from mindbank.errors import SchemaViolationError

        out = []
        for e in self._memory.iter_entries(namespace, self._clock()):
            try:
                self._schemas.check([(namespace, e.key, e.value)])
            except SchemaViolationError as exc:
                out.append((e.key, str(exc)))
        return out

    def register_migrator(self, namespace: str, migrator: Callable[[Any], Any]) -> None:
        """Register (in this process) a function that upgrades an old value format of a
        namespace: values read from it that do not match its schema are passed through the
        migrators, in the order registered, until they match."""
        check_namespace(namespace)
        if not callable(migrator):
            raise ValidationError("a migrator must be callable")
        self._schemas.migrators.setdefault(namespace, []).append(migrator)

    def migrate_values(self, namespace: str) -> int:
        """Rewrite the entries of a namespace that its migrators upgrade (tags, metadata and
        expiry kept); returns how many were rewritten."""
        now = self._clock()
        items = []
        for e in self._memory.iter_entries(namespace, now):
            new = self._schemas.upgrade(namespace, e.value)
            if new is not e.value:
                ttl = None if e.expires_at is None else e.expires_at - now
                items.append({"key": e.key, "value": new, "namespace": namespace,
                              "tags": list(e.tags), "metadata": dict(e.metadata), "ttl": ttl})  # fmt: skip
        return self.store_many(items) if items else 0

    def count(
        self,
        *,
        namespace: str | None = None,
        pattern: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> int:
        """How many live entries match (same filters as :meth:`list`)."""
        if namespace is not None:
            check_namespace(namespace)
        if pattern is not None:
            check_key(pattern, "pattern")
        return self._memory.count(namespace, pattern, check_tags(tags), self._clock())

    def delete(self, key: str, *, namespace: str = "default") -> bool:
        """Delete an entry; True if a live entry was deleted."""
        check_key(key)
        check_namespace(namespace)
        with self._memory.writing([(namespace, key)]):
            if "_search" not in self.__dict__:  # no search index here to keep in step
                return self._memory.delete(key, namespace, self._clock())[0]
            with self._db.transaction():
                mark = self._search.mark()
                live, row_id = self._memory.delete(key, namespace, self._clock())
                self._search.removed([] if row_id is None else [row_id], mark)
        return live

    def namespaces(self) -> dict[str, int]:
        """Namespaces with their live entry counts, sorted by name."""
        return self._memory.namespaces(self._clock())

    def clear_namespace(self, namespace: str) -> int:
        """Delete every entry of a namespace; returns how many live entries went.

        Raises:
            NotFoundError: the namespace has no entries at all.
        """
        check_namespace(namespace)
        if not self._memory.has_namespace(namespace):
            raise NotFoundError(f"no namespace {shown(namespace)}")
        return self._memory.clear_namespace(namespace, self._clock())[0]

    def cleanup(self) -> CleanupReport:
        """Delete expired entries and sessions (they are already invisible), and changes
        older than ``change_log_days`` from the change log."""
        from mindbank.records import CleanupReport

        now = self._clock()
        with self._db.transaction():
            entries = self._memory.delete_expired(now)
            sessions = self._coordination.sessions_delete_expired(now)
            changes = self._changes_repo().prune(self._db.settings.change_log_days * 86400, now)
        return CleanupReport(entries=entries, sessions=sessions, changes=changes)

    # -- the change feed ---------------------------------------------------------------------

    def changes(
        self, *, since: int = 0, namespace: str | None = None, limit: int = 1000
    ) -> builtins.list[Change]:
        """Changes to entries after sequence number ``since`` (by any process), oldest first:
        see :mod:`mindbank.memory.changes`.

        Raises:
            ChangeLogGapError: changes after ``since`` were pruned.
            ValidationError: ``since`` is not a non-negative integer.
        """
        from mindbank.memory.changes import read_changes

        if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= 2**62:
            raise ValidationError(
                f"since must be a non-negative sequence number, got {reprlib.repr(since)}"
            )
        if namespace is not None:
            check_namespace(namespace)
        check_limit(limit, 0)
        return read_changes(self._changes_repo(), since, namespace, limit or 1000)

    def change_head(self) -> int:
        """The sequence number of the last change logged (0 if none)."""
        return self._changes_repo().head()

    def subscribe(
        self,
        callback: Callable[[Change], None],
        *,
        namespace: str | None = None,
        since: int | None = None,
        name: str | None = None,
        interval: float = 0.1,
    ) -> Subscription:
        """Call ``callback(change)`` for every change to entries (of ``namespace``, or all)
        made by any process, in order, from a background thread that looks every
        ``interval`` seconds.

        Args:
            callback: called once per change, in log order.
            namespace: only this namespace.
            since: start after this sequence number (default: where the named cursor is,
                else the log's head: only new changes).
            name: a cursor kept in the database: a subscriber that comes back with the same
                name catches up where it left off, without gaps or repeats.
            interval: seconds between looks (a look that finds nothing costs one tiny query).

        Raises:
            ChangeLogGapError: (in ``Subscription.error``) the log no longer has the changes
                after the start.
        """
        from mindbank.memory.changes import Subscription

        if namespace is not None:
            check_namespace(namespace)
        if not interval > 0:
            raise ValidationError(f"interval must be > 0, got {reprlib.repr(interval)}")
        repo = self._changes_repo()
        if name is not None:
            check_key(name, "cursor name")
        start = since
        if start is None and name is not None:
            start = repo.cursor(name)
        if start is None:
            start = repo.head()
        if name is not None and repo.cursor(name) is None:
            with self._db.transaction():
                repo.set_cursor(name, start, self._clock())
        return Subscription(
            getattr(self._db, "url", self._db.path), self._db.settings, callback, since=start,
            namespace=namespace, name=name, interval=interval, clock=self._clock,
        )  # fmt: skip

    # -- search ------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        namespace: str | None = None,
        tags: Iterable[str] | None = None,
        min_score: float | None = None,
        mmr: float | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> builtins.list[SearchHit]:
        """Find entries by meaning, by keyword, or both.

        Args:
            query: what to look for, in words.
            k: how many results.
            mode: ``"hybrid"`` (default: meaning and keywords fused), ``"semantic"`` (cosine
                similarity of embeddings) or ``"keyword"`` (BM25 over keys, values and tags).
            namespace: only this namespace.
            tags: only entries with all these tags.
            min_score: drop results scoring below this.
            mmr: diversify with maximal marginal relevance; the value is the weight of
                relevance (1.0 = pure relevance, 0.5 = balanced).
            since: only entries updated at or after this Unix time.
            until: only entries updated at or before this Unix time.

        Returns:
            Hits, best first, each with the entry, its score and the score's parts. Filters
            apply inside the search: the result is the top k of the filtered set. Once
            feedback has taught boosts, ``score`` includes ``feedback_weight * boost`` (not
            with ``mmr``, which keeps its own order). The results are remembered for the
            feedback window: retrieving one of them is feedback.

        Raises:
            ValidationError: an empty query, an unknown mode, k < 1, mmr outside [0, 1].
            EmbedderMismatchError: the vectors were written by another embedder.
        """
        if namespace is not None:
            check_namespace(namespace)
        check_k(k)
        if min_score is not None:
            check_finite(min_score, "min_score", -1e9, 1e9)
        if mmr is not None:
            check_finite(mmr, "mmr (the weight of relevance)", 0.0, 1.0)
        for bound, what in ((since, "since"), (until, "until")):
            if bound is not None:
                check_finite(bound, what, -1e11, 1e11)
        # With learned boosts, a wider pool is ranked, so a boosted entry can move up into k.
        rerank = mmr is None and self._feedback.learning()
        hits: builtins.list[SearchHit] = self._search.search(
            query,
            k=max(3 * k, 30) if rerank else k,
            mode=mode,
            namespace=namespace,
            tags=check_tags(tags),
            min_score=min_score,
            mmr=mmr,
            since=since,
            until=until,
        )
        if rerank:
            hits = self._feedback.rerank(hits, k)
        self._db.best_effort(lambda: self._feedback.shown(query, hits))
        return hits

    def reembed(self, progress: Callable[[int], None] | None = None) -> int:
        """Recompute every vector with the embedder in use (after changing models); returns
        how many entries were embedded. ``progress(done)`` is called after each batch."""
        if progress is not None and not callable(progress):
            raise ValidationError("progress must be a function of the count done")
        return self._search.reembed(progress)

    def index_status(self) -> IndexStatus:
        """Whether the vector and full-text indexes are complete and in step."""
        return self._search.status()

    def rebuild_index(self, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild the full-text index, embed entries that miss a vector, reload the vector
        index; returns how many entries were embedded. (On PostgreSQL the keyword index is a
        generated column and the vector index the server's: entries missing a vector are
        embedded.)"""
        return self._search.rebuild(progress)

    # -- import and export -------------------------------------------------------------------

    def export(self, target: PathLike | IO[str], *, namespace: str | None = None) -> int:
        """Write live entries as JSON Lines (see :mod:`mindbank.memory.transfer`).

        Args:
            target: a path (written atomically) or an open text file.
            namespace: only this namespace (default: all).

        Returns:
            How many entries were written.

        Raises:
            ValidationError: ``target`` is an empty path or a directory.
        """
        if namespace is not None:
            check_namespace(namespace)
        entries = self._memory.iter_entries(namespace, self._clock())
        if not isinstance(target, str | os.PathLike):
            if not callable(getattr(target, "write", None)):
                raise ValidationError(
                    f"export needs a file path or a text file, not {type(target).__name__}"
                )
            return _write_lines(target, entries)
        if not str(target):
            raise ValidationError("export needs a file path, not ''")
        path = check_path(target, "the export file")
        if not str(target) or not path.name or path.is_dir():
            raise ValidationError(f"export needs a file path, not {str(target)!r}")
        if not path.absolute().parent.is_dir():
            raise ValidationError(f"cannot export to {str(target)!r}: its folder does not exist")
        if (path.exists() or path.is_symlink()) and not path.is_file():
            # the file is replaced atomically (a rename): a device, a FIFO or a socket would
            # be replaced too (as root, /dev/zero became a file); a symlink's target is not
            raise ValidationError(f"cannot export to {str(target)!r}: it is not a regular file")
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                n = _write_lines(fh, entries)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return n

    def import_(self, source: PathLike | IO[str]) -> int:
        """Import JSON Lines written by :meth:`export`, replacing entries with the same key.

        The whole file is validated first and written in one transaction: a bad line means
        nothing is imported.

        Returns:
            How many entries were imported.

        Raises:
            ImportFormatError: naming the first bad line.
        """
        now = self._clock()
        if isinstance(source, str | os.PathLike):
            path = check_path(source, "the import file")
            if not path.is_file():  # a FIFO or a device would block or never end
                what = "does not exist" if not path.exists() else "is not a regular file"
                raise ValidationError(f"cannot import {str(source)!r}: it {what}")
            with path.open(encoding="utf-8", errors="surrogateescape") as fh:
                rows = list(parse_lines(fh, now, self._max_value))
        elif isinstance(source, Iterable) and not isinstance(source, str | bytes | Mapping):
            rows = list(parse_lines(source, now, self._max_value))
        else:
            raise ValidationError(
                f"import needs a file path or a text file, not {type(source).__name__}"
            )
        self._schemas.check([(r[1], r[0], r[2] if r[3] == "text" else json.loads(r[2]))
                             for r in rows])  # fmt: skip
        prepared: list[Any] = []
        if self._embeds(r[1] for r in rows):
            prepared = self._search.prepare(
                [EntryRow(r[0], r[1], r[2], r[3], r[4], r[5], r[10]) for r in rows]
            )
        with self._db.transaction():
            mark = self._search.mark() if prepared else None
            ids = self._memory.import_rows(rows)
            if prepared:
                self._search.write(
                    [(i, r[1], p) for i, r, p in zip(ids, rows, prepared, strict=True)], mark
                )
        return len(ids)

    # -- analysis and care -------------------------------------------------------------------

    def query(self, sql: str, params: Any = ()) -> QueryResult:
        """Run one read-only SQL statement for analysis.

        A statement that would write (INSERT, UPDATE, DELETE, DDL, ATTACH, PRAGMA writes ...)
        is refused whatever its spelling: the query runs on a read-only connection under an
        authorizer. It sees committed data only.

        Raises:
            ReadOnlyQueryError: the statement writes or is invalid.
        """
        try:
            check_text(sql, "the SQL statement")
        except ValidationError as exc:
            raise ReadOnlyQueryError(str(exc)) from None
        self._memory.flush_access()
        if self._pg:
            return self._db.read_only_query(sql, params)  # type: ignore[attr-defined, no-any-return]
        if self._readonly is None:
            from mindbank.store import maintenance

            s = self._db.settings
            self._readonly = maintenance.ReadOnlyConnection(
                self._db.path, s.busy_timeout, s.query_timeout, s.query_max_rows
            )
        return self._readonly.query(sql, params)

    def backup(self, path: PathLike, *, overwrite: bool = False) -> int:
        """Copy the database to ``path``, online and consistent; returns the file's size.

        Raises:
            ValidationError: ``path`` exists (and ``overwrite`` is false).
        """
        self._memory.flush_access()
        from mindbank.store import maintenance

        if self._pg:  # into a SQLite file, read in one snapshot
            url = str(self._db.url)  # type: ignore[attr-defined]
            return maintenance.backup_by_copy(
                lambda out: copy(url, out, settings=self._db.settings),
                check_path(path, "the backup file"),
                overwrite=overwrite,
            )

        return maintenance.backup(
            self._db, check_path(path, "the backup file"), overwrite=overwrite
        )

    def stats(self) -> Stats:
        """File sizes, rows per table, live entries per namespace (on PostgreSQL: the
        database's size on the server and this tenant's rows)."""
        self._memory.flush_access()
        if self._pg:
            stats: Stats = self._db.stats(self._clock())  # type: ignore[attr-defined]
            return stats
        from mindbank.store import maintenance

        stats = maintenance.stats(self._db, self._clock())
        cache = self._search.query_cache() if "_search" in self.__dict__ else None
        if cache is None:  # no search in this process yet
            return stats
        return dataclasses.replace(
            stats,
            query_cache={
                "hits": cache.hits,
                "misses": cache.misses,
                "size": len(cache),
                "capacity": cache.size,
            },
        )

    def analytics(self, *, window: str | float = "7d", top: int = 10) -> UsageReport:
        """Usage by namespace and the hottest keys over a window (``"1h"``, ``"7d"``, seconds)."""
        self._memory.flush_access()
        now = self._clock()
        from mindbank.store import maintenance

        return maintenance.analytics(self._db, now - parse_duration(window), now, top)

    def check(self) -> CheckReport:
        """Run SQLite's integrity and foreign-key checks, verify the migrations and the
        witness chain. On PostgreSQL: the migrations, row-level security on every tenant
        table and the tenant's vector index (the server keeps its own files sound)."""
        from mindbank.store import maintenance

        self._memory.flush_access()
        if self._pg:
            return self._db.check()  # type: ignore[attr-defined, no-any-return]
        return maintenance.check(self._db)

    def verify(self) -> WitnessReport:
        """Verify the witness chain: recompute every link, and compare the chain's last word
        on each row of the witnessed tables (memory entries, ReasoningBank items) with the row
        as it is. Finds rows changed, deleted or inserted outside mindbank, and the first
        broken link."""
        from mindbank.store import witness

        self._memory.flush_access()
        if self._pg:
            from mindbank.store import pg_witness

            return pg_witness.verify_database(self._db)
        return witness.verify_database(self._db)

    def witness_head(self) -> tuple[int, str]:
        """The witness chain's last record number and digest, to anchor elsewhere (a later
        ``verify()`` whose chain still contains that record at that digest proves the history
        up to it was not rewritten)."""
        from mindbank.store import witness

        if self._pg:
            from mindbank.store import pg_witness

            return pg_witness.head(self._db)
        return witness.head(self._db)

    def optimize(self) -> None:
        """Update the query planner's statistics (``PRAGMA optimize``) and checkpoint the WAL."""
        self._sqlite_only("optimize", "the server's autovacuum analyzes the tables")
        from mindbank.store import maintenance

        self._memory.flush_access()
        maintenance.optimize(self._db)

    def compress(
        self,
        *,
        tiers: Iterable[str] = ("cold",),
        min_bytes: int = 64,
        dict_size: int = 16384,
        level: int = 9,
        vectors: bool = True,
        queries: Sequence[str] | None = None,
        vacuum: bool = False,
    ) -> CompressionReport:
        """Compress the entries of ``tiers`` (cold by default, see :meth:`tiers`): values
        with zstd and a dictionary trained on the store's values, vectors as int8 (see
        :mod:`mindbank.store.compression`). Reads decode them; keyword search still sees
        the text. The same searches are run before and after to measure what is lost.

        Args:
            tiers: which tiers to compress (``cold``, ``warm``, ``hot``).
            min_bytes: values shorter than this stay as they are.
            dict_size: the dictionary's size in bytes.
            level: the zstd level (1-22).
            vectors: also store the vectors as int8.
            queries: the searches to compare (default: the start of up to 50 compressed
                entries' values).
            vacuum: rebuild the file before and after, and report its size both times.

        Raises:
            ValidationError: bad arguments, or too little text to train a dictionary.
        """
        self._sqlite_only("compression", "PostgreSQL compresses large values itself (TOAST)")
        import time as _time

        from mindbank.learning.rules import tier_of
        from mindbank.records import CompressionReport
        from mindbank.store import compression
        from mindbank.store.witness import append as witness_append

        if isinstance(tiers, str | bytes) or not isinstance(tiers, Iterable):
            raise ValidationError("tiers must be a list of hot, warm, cold")
        tiers = list(tiers)
        if not all(isinstance(t, str) for t in tiers):
            raise ValidationError("tiers must be some of hot, warm, cold")
        wanted = set(tiers)
        if not wanted or not wanted <= {"hot", "warm", "cold"}:
            raise ValidationError("tiers must be some of hot, warm, cold")
        if isinstance(min_bytes, bool) or not isinstance(min_bytes, int) or min_bytes < 1:
            raise ValidationError(
                f"min_bytes must be a positive integer, got {reprlib.repr(min_bytes)}"
            )
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 22:
            raise ValidationError(f"level must be in 1-22, got {reprlib.repr(level)}")
        if queries is not None:
            if isinstance(queries, str | bytes) or not isinstance(queries, Iterable):
                raise ValidationError("queries must be a list of non-empty texts")
            queries = list(queries)
            if not all(isinstance(q, str) and q.strip() for q in queries):
                raise ValidationError("queries must be a list of non-empty texts")
        if (
            isinstance(dict_size, bool)
            or not isinstance(dict_size, int)
            or not 1024 <= dict_size <= 1 << 20
        ):
            raise ValidationError(
                f"dict_size must be in 1 KiB-1 MiB, got {reprlib.repr(dict_size)}"
            )
        start = _time.perf_counter()
        self._memory.flush_access()
        now = self._clock()
        rules = self._db.settings.learning
        live = compression.live_entries(self._db, now)
        cold = [r for r in live if tier_of(r[1], r[2], r[3], now, rules)[0] in wanted]
        chosen = [r[0] for r in cold]
        # values still to compress: plain and long enough
        candidates = [r[0] for r in cold if not r[4] and r[5] >= min_bytes]
        texts = {
            e.key: e.value if isinstance(e.value, str) else json.dumps(e.value)
            for e in self._memory.by_ids(
                chosen[:: max(1, len(chosen) // 50)][:50] if queries is None else []
            ).values()
        }
        qs = (
            list(queries)
            if queries is not None
            else [" ".join(t.split()[:12]) for t in texts.values() if t.strip()][:50]
        )
        semantic = self._db.settings.embed and vectors
        before = [self._top10(q, semantic) for q in qs]
        # Vacuumed before too, so the sizes differ by compression alone, not by free pages.
        file_before = self.vacuum()[1] if vacuum else None
        samples = (
            [
                (e.value if isinstance(e.value, str) else json.dumps(e.value)).encode("utf-8")
                for e in self._memory.by_ids(
                    [r[0] for r in live][:: max(1, len(live) // 20000)]
                ).values()
            ]
            if candidates
            else []
        )
        dict_id: int | None = None
        dict_bytes = n_values = v_before = v_after = n_vec = vec_before = vec_after = 0
        with self._db.transaction():
            if candidates:
                try:
                    dict_id = compression.train(self._db, samples, dict_size, now)
                except ValueError as exc:
                    raise ValidationError(
                        f"too little text to train a compression dictionary from "
                        f"{len(samples)} values ({exc}); nothing was compressed"
                    ) from None
                dict_bytes = compression.dictionary_size(self._db, dict_id)
                n_values, v_before, v_after, records = compression.compress_values(
                    self._db, candidates, dict_id, min_bytes, level
                )
                if n_values == 0:  # an unused dictionary is not kept
                    compression.drop_dictionary(self._db, dict_id)
                    dict_id, dict_bytes = None, 0
                witness_append(self._db, records)
            if vectors and chosen:
                n_vec, vec_before, vec_after = compression.quantize_vectors(self._db, chosen)
        after = [self._top10(q, semantic) for q in qs]
        file_after = None
        if vacuum:
            file_after = self.vacuum()[1]

        def recall(part: int) -> float | None:
            pairs = [(b[part], a[part]) for b, a in zip(before, after, strict=True) if b[part]]
            if not pairs:
                return None
            return sum(len(set(b) & set(a)) / len(b) for b, a in pairs) / len(pairs)

        return CompressionReport(
            entries=len(live), cold=len(chosen), values_compressed=n_values,
            value_bytes_before=v_before, value_bytes_after=v_after, dictionary=dict_id,
            dictionary_bytes=dict_bytes, vectors_quantized=n_vec,
            vector_bytes_before=vec_before, vector_bytes_after=vec_after, queries=len(qs),
            semantic_recall_at_10=recall(0) if semantic else None,
            keyword_recall_at_10=recall(1), file_bytes_before=file_before,
            file_bytes_after=file_after, seconds=_time.perf_counter() - start,
        )  # fmt: skip

    def _top10(
        self, query: str, semantic: bool
    ) -> tuple[builtins.list[tuple[str, str]], builtins.list[tuple[str, str]]]:
        """(namespace, key) of the semantic and keyword top 10 (no feedback, no impressions)."""
        out: builtins.list[builtins.list[tuple[str, str]]] = []
        for mode in ("semantic", "keyword"):
            if mode == "semantic" and not semantic:
                out.append([])
                continue
            hits = self._semantic.search(
                query, k=10, mode=mode, namespace=None, tags=(), min_score=None, mmr=None,
                since=None, until=None,
            )  # fmt: skip
            out.append([(h.entry.namespace, h.entry.key) for h in hits])
        return out[0], out[1]

    def vacuum(self) -> tuple[int, int]:
        """Rebuild the file to reclaim space; returns (bytes before, bytes after)."""
        self._sqlite_only("vacuum", "the server's autovacuum reclaims space")
        self._memory.flush_access()
        from mindbank.store import maintenance

        return maintenance.vacuum(self._db)

    def migrate(self) -> builtins.list[int]:
        """Apply pending migrations (opening does this already); returns the versions applied."""
        return self._db.migrate()

    def migrations(self) -> builtins.list[MigrationInfo]:
        """Every known migration and when it was applied."""
        return self._db.migration_status()

    def on_slow_query(self, callback: SlowQueryHook, *, threshold_ms: float | None = None) -> None:
        """Call ``callback(sql, ms)`` for each statement slower than the threshold (default:
        the setting's ``slow_query_ms``, else 100 ms). Each is also logged as a
        ``slow_query`` event."""
        if threshold_ms is None:
            threshold_ms = self._db.settings.slow_query_ms or 100.0
        self._db.set_slow_query(threshold_ms, callback)


@serialized
class Follower:
    """A local memory that follows a shared one: reads here, writes through the server (get
    one with :meth:`MindBank.follower`). Everything not written here (``get``, ``retrieve``,
    ``list``, ``search``, ...) is the local memory's."""

    def __init__(self, local: MindBank, replica: Replica):
        self._local = local
        self._lock = local._db.lock
        self._replica = replica

    def store(
        self,
        key: str,
        value: Any,
        *,
        namespace: str = "default",
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> Entry:
        """Store through the server (see :meth:`MindBank.store` for the arguments).

        Raises:
            StoreError: the server could not be reached (nothing was written).
        """
        now = self._local._clock()
        row = encode_entry(key, value, namespace, tags, metadata, expiry(ttl, now),
                           self._local._max_value)  # fmt: skip
        payload = {"value": value, "metadata": json.loads(row.metadata),
                   "expires_at": row.expires_at}  # fmt: skip
        self._replica.forward(namespace, key, payload, json.loads(row.tags))
        entry = self._local.get(key, namespace=namespace)
        if entry is None:  # a later write of another replica won, or it expired already
            raise ConflictError(f"{namespace}/{key} was stored, but a later write won it")
        return entry

    def delete(self, key: str, *, namespace: str = "default") -> bool:
        """Delete through the server; True if the entry existed here."""
        check_key(key)
        check_namespace(namespace)
        existed = self._local.get(key, namespace=namespace) is not None
        self._replica.forward(namespace, key, None, ())
        return existed

    def pull(self) -> SyncReport:
        """Catch up with the server (one round of sync)."""
        return self._local.sync()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._local, name)


def _apply_states(mb: MindBank, states: Sequence[tuple[str, str, Any]]) -> int:
    """Write entries' merged replica states into a memory (either backend), skipping those
    already as merged: the live ones with their value, tags, metadata, expiry in one
    ``store_many`` and their merged access counts in one statement; the others (None: absent)
    deleted. Returns how many entries changed."""
    from mindbank.store.sync import SyncRepo

    now = mb._clock()
    items, counts, changed = [], [], 0
    for namespace, key, state in states:
        payload = state.register[1] if state is not None and state.alive else None
        expires = None if payload is None else payload.get("expires_at")
        current = mb._memory.get(key, namespace, now, count_access=False)
        if payload is None or (expires is not None and expires <= now):
            if current is not None:
                mb.delete(key, namespace=namespace)
                changed += 1
            continue
        if current is not None and _as_merged(current, payload, state.tags):
            if current.access_count != state.access_count:
                counts.append((namespace, key, state.access_count))
            continue
        items.append({"key": key, "value": payload["value"], "namespace": namespace,
                      "tags": list(state.tags), "metadata": payload.get("metadata") or {},
                      "ttl": None if expires is None else expires - now})  # fmt: skip
        counts.append((namespace, key, state.access_count))
    if items:
        mb.store_many(items)
        changed += len(items)
    if counts:
        SyncRepo(mb._db).set_access_counts(counts)
    return changed


def _as_merged(entry: Entry, payload: Mapping[str, Any], tags: Sequence[str]) -> bool:
    """Whether an entry holds a merged state's value, metadata, expiry (to the millisecond:
    a ttl is turned back into a time when stored) and tags."""
    expires = payload.get("expires_at")
    if (entry.expires_at is None) != (expires is None) or (
        expires is not None and abs(float(entry.expires_at or 0) - float(expires)) > 1e-3
    ):
        return False
    same = json.dumps([entry.value, dict(entry.metadata)], sort_keys=True, default=str)
    return tuple(entry.tags) == tuple(tags) and same == json.dumps(
        [payload["value"], dict(payload.get("metadata") or {})], sort_keys=True, default=str
    )


def _write_lines(fh: IO[str], entries: Iterator[Entry]) -> int:
    n = 0
    for entry in entries:
        fh.write(entry_line(entry))
        fh.write("\n")
        n += 1
    return n


def open(  # noqa: A001 - the public name mirrors the builtin on purpose: mindbank.open()
    path: PathLike | None = None,
    *,
    settings: Settings | None = None,
    clock: Callable[[], float] = time.time,
    embedder: Embedder | str | None = None,
) -> MindBank:
    """Open (creating and migrating if needed) a mindbank database.

    Args:
        path: the SQLite file, or a ``postgresql://`` URL (see docs/postgres.md); default:
            ``$MINDBANK_DB``, else ``.mindbank/memory.db`` found upward from the current
            directory like git finds its repository.
        settings: busy timeout, synchronous mode, slow-query threshold (default: from the
            environment).
        clock: the time source (tests pass a fake one).
        embedder: an :class:`~mindbank.embedders.base.Embedder` or a spec such as
            ``"minilm"`` or ``"hashing"`` (default: ``settings.embedder``, ``$MINDBANK_EMBEDDER``,
            else ``minilm``). It must be the one that wrote the database's vectors.

    Raises:
        NotADatabaseError: the file is not a mindbank database (it is left untouched).
        SchemaError: the database was written by a newer mindbank.
        DatabaseLockedError: another process held the lock past the busy timeout.
    """
    from mindbank.store.postgres import is_url

    settings = settings if settings is not None else Settings.from_env()
    if path is None and is_url(os.environ.get("MINDBANK_DB")):
        path = os.environ["MINDBANK_DB"]
    if is_url(path):
        from mindbank.store.postgres import PgDatabase

        pg: Any = PgDatabase(str(path), settings, clock=clock)
        mb = MindBank(pg, embedder)
    else:
        db = Database(
            Path(path) if path is not None else find_db_path(),
            settings,
            clock=clock,
        )
        mb = MindBank(db, embedder)
        try:
            _check_witness(db)
        except BaseException:
            mb.close()
            raise
    if embedder is not None:
        # An embedder named explicitly must be the one that wrote the vectors: say so at open,
        # before anything is stored or searched (no model is loaded for this check).
        try:
            mb.check_embedder()
        except BaseException:
            mb.close()
            raise
    return mb


def _check_witness(db: Database) -> None:
    """The cheap witness check at open: triggers present, the last links whole. A broken
    chain warns (or, with ``witness_strict``, refuses); ``verify()`` looks at everything."""
    from mindbank.store import witness

    problems = witness.tail_ok(db)
    if not problems:
        return
    message = f"{db.path}: " + "; ".join(problems) + " (run `mindbank db verify`)"
    if db.settings.witness_strict:
        raise IntegrityCheckError(message)
    import warnings

    warnings.warn(message, WitnessWarning, stacklevel=3)


def restore(backup: PathLike, path: PathLike | None = None) -> None:
    """Replace the database at ``path`` (default: the usual one) with a backup.

    The backup is verified first (a mindbank database, intact, not newer than this mindbank);
    a target that is not a mindbank database is never overwritten.

    Raises:
        NotADatabaseError: the backup or the target is not a mindbank database.
        SchemaError: the backup is newer than this mindbank.
    """
    from mindbank.store import maintenance
    from mindbank.store.postgres import is_url

    if is_url(path):  # a tenant's memory on PostgreSQL, replaced in one transaction
        maintenance.verify_backup(Path(backup))
        _copy(backup, str(path), settings=None, replace=True)
        return
    target = Path(path) if path is not None else find_db_path()
    maintenance.restore(Path(backup), target)
    # Bring an older backup's schema up to date.
    Database(target, Settings.from_env()).close()


def copy(source: PathLike, target: PathLike, *, settings: Settings | None = None) -> CopyReport:
    """Copy a whole memory between SQLite and PostgreSQL, in either direction: live entries
    (with their access counts and times), their vectors as they are, namespace schemas, the
    change log, the coordination tables, the ReasoningBank, neural models and pipeline runs;
    then check that both sides hold the same entries (count and checksum) and the same rows in
    every other table copied. What the target has no place for (on PostgreSQL: feedback, the
    memory graph, the witness chain) is left where it is and reported in ``left_behind``.

    The copy is one transaction on the target: if anything fails, or the two sides differ,
    nothing is kept. A PostgreSQL source is read in one snapshot (consistent while others
    write).

    Args:
        source: a SQLite file or a ``postgresql://`` URL.
        target: the same; it must hold no entries yet (nothing already stored is touched).
        settings: for opening both (embedding is not needed: vectors are copied).

    Raises:
        ValidationError: the target already holds entries.
        IntegrityCheckError: the two sides differ after the copy (nothing is kept).
        BackendError: a side cannot hold what the other has (e.g. vectors of another
            embedder's length).
    """
    return _copy(source, target, settings=settings, replace=False)


def _copy(
    source: PathLike, target: PathLike, *, settings: Settings | None, replace: bool
) -> CopyReport:
    import contextlib
    import dataclasses as _dc
    import hashlib
    import tempfile as _tempfile

    from mindbank.records import CopyReport
    from mindbank.store import transfer

    start = time.perf_counter()
    base = settings if settings is not None else Settings.from_env()
    quiet = _dc.replace(base, embed=False)
    with (
        open(source, settings=quiet) as src,
        open(target, settings=quiet) as dst,
        src._db.snapshot() if src._pg else contextlib.nullcontext(),
        dst._db.transaction(),
    ):
        if replace:
            transfer.clear(dst._db)
        if dst.count() or dst._memory.has_namespace("default"):
            raise ValidationError(f"{dst.path} already holds entries; copy into an empty memory")
        changes = _copy_changes(src, dst)
        with _tempfile.TemporaryDirectory() as tmp:
            dump = Path(tmp) / "entries.jsonl"
            n = src.export(dump)
            if n:
                dst.import_(dump)
        schemas = src.schemas()
        for info in schemas:
            dst.set_schema(info.namespace, {"definitions": dict(info.definitions)},
                           name=info.name, strict=info.strict)  # fmt: skip
        vectors = _copy_vectors(src, dst)
        tables = transfer.copy_tables(src._db, dst._db)
        differ = transfer.verify_tables(src._db, dst._db, tables)
        if differ:
            raise IntegrityCheckError(
                f"the copy differs from {src.path} in {', '.join(differ)} (nothing was kept)"
            )
        sums = []
        for side in (src, dst):
            digest = hashlib.sha256()
            for line in sorted(
                entry_line(e) for e in side._memory.iter_entries(None, side._clock())
            ):
                digest.update(line.encode("utf-8") + b"\n")
            sums.append(digest.hexdigest())
        if sums[0] != sums[1] or dst.count() != n:
            raise IntegrityCheckError(
                f"the copy differs from {src.path}: {dst.count()} of {n} entries, checksums "
                f"{sums[1][:12]} vs {sums[0][:12]} (nothing was kept)"
            )
        left = transfer.left_behind(src._db, dst._db)
    return CopyReport(str(src.path), str(dst.path), n, vectors, len(schemas), changes,
                      sums[0], time.perf_counter() - start, tables, left)  # fmt: skip


def _copy_changes(src: MindBank, dst: MindBank) -> int:
    from mindbank.store import transfer

    rows = [(c.namespace, c.key, c.op, c.actor, c.at) for c in _all_changes(src)]
    if rows:
        with dst._db.transaction():
            transfer.append_changes(dst._db, rows)
    return len(rows)


def _all_changes(mb: MindBank) -> Iterator[Change]:
    repo = mb._changes_repo()
    since = repo.pruned_upto()
    while True:
        batch = repo.since(since, None, 10_000)
        if not batch:
            return
        yield from batch
        since = batch[-1].seq


def _copy_vectors(src: MindBank, dst: MindBank) -> int:
    """Vectors by (namespace, key), as float32, into the entries just imported."""
    from mindbank.store import transfer

    vecs = transfer.keyed_vectors(src._db)
    if not vecs:
        return 0
    ids = transfer.entry_ids(dst._db)
    out = [(ids[(ns, key)], emb, h, v) for ns, key, emb, h, v in vecs if (ns, key) in ids]
    with dst._db.transaction():
        if dst._pg:
            from mindbank.store.pg_vectors import PgVectorRepo

            PgVectorRepo(dst._db).put(out)
        else:
            from mindbank.store.vectors import VectorRepo

            repo = VectorRepo(dst._db)
            repo.put_vectors([(i, emb, h, v.astype("<f4").tobytes()) for i, emb, h, v in out])
            if repo.meta("embedder") is None:
                repo.set_meta("embedder", out[0][1])
    return len(out)

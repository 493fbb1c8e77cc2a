"""The ReasoningBank: reasoning items learned from judged attempts, retrieved for new tasks.

An item is ``title / description (when to use, and when not) / content`` with a confidence, a
usage record and provenance. Items come from :meth:`ReasoningBank.store` (Claude-Flow's
memory-model mapping: key → title, value → content, namespace → domain) or are distilled from
trajectories (:meth:`ReasoningBank.record_trajectory`). A query ranks items by a weighted sum of
similarity (to the item's content and to the task it was learned on), recency and reliability,
then picks the final ``k`` by MMR. Using an item in an attempt and reporting the outcome moves its
confidence. Consolidation merges near-duplicates, links contradictions and archives what is
unused, old and unreliable; nothing is ever deleted by it.

Vectors come from the database's embedder. The scoring snapshot (every item's vectors and
scores) is held in the process and reloaded when the ``bank`` counter (bumped by triggers on
any item, vector or link write, by any process) changes; the query cache is cleared at the same
moment, so a cached answer is never older than the last write.
"""

from __future__ import annotations

import builtins
import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mindbank.config import BankSettings
from mindbank.errors import ValidationError, shown
from mindbank.memory.cache import LRUCache
from mindbank.memory.validation import (
    check_finite,
    check_k,
    check_key,
    check_limit,
    check_namespace,
    check_text,
)
from mindbank.reasoning import scoring
from mindbank.reasoning.distill import Draft, run_distiller, structural
from mindbank.reasoning.judge import LABELS, verdict_for
from mindbank.records import (
    BankHit,
    BankStatus,
    ConsolidationReport,
    Item,
    Link,
    MinedPattern,
    Recorded,
    TablesCheck,
    Trajectory,
    Verdict,
)
from mindbank.store.codec import dumps
from mindbank.store.database import Database
from mindbank.store.locking import serialized
from mindbank.store.reasoning import (
    BANK_TABLES,
    ItemRow,
    TrajectoryRow,
    decode_data,
)
from mindbank.store.repos import bank_repo

if TYPE_CHECKING:  # numpy and the in-memory items load with the first query
    from mindbank.embedders.base import Embedder, Vectors
    from mindbank.reasoning.mirror import BankMirror

__all__ = ["LINK_TYPES", "ReasoningBank", "item_text"]

LINK_TYPES = ("related", "prerequisite", "contradicts", "supersedes")
_STATUSES = ("active", "superseded", "archived", "all")
_LOG_LIMIT = 200_000
_LOG_KEEP = 50_000


def item_text(title: str, description: str, content: str) -> str:
    """The text an item's content vector is computed from."""
    return "\n".join(p for p in (title, description, content) if p)


def _check_confidence(value: object, what: str = "confidence") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValidationError(f"{what} must be a number in [0, 1], got {shown(value)}")
    return float(value)


def _judge_payload(
    task_id: str,
    task: str,
    kind: str | None,
    strategy: str | None,
    agent: str | None,
    steps: list[Any],
    outcome: dict[str, Any],
    duration: float | None,
) -> dict[str, Any]:
    """The trajectory as the judge command reads it (JSON on stdin)."""
    return {
        "task_id": task_id, "task": task, "kind": kind, "strategy": strategy, "agent": agent,
        "steps": steps, "outcome": outcome, "duration": duration,
    }  # fmt: skip


def _outcome_label(outcome: object) -> bool:
    if outcome is True or outcome == "success":
        return True
    if outcome is False or outcome == "failure":
        return False
    raise ValidationError(f"outcome must be 'success' or 'failure', got {shown(outcome)}")


@serialized
class ReasoningBank:
    """Store, query, learn and consolidate reasoning items. Get one as ``mb.bank``."""

    def __init__(
        self,
        db: Database,
        embedder: Callable[[], Embedder],
        settings: BankSettings,
        clock: Callable[[], float],
    ):
        self._db = db
        self._lock = db.lock  # (mindbank.store.locking)
        self._repo = bank_repo(db)
        self._embedder_fn = embedder
        self.settings = settings
        self._clock = clock
        self.cache: LRUCache[builtins.list[BankHit]] = LRUCache(100, 60.0, clock)
        self._cache_counter: tuple[int, int, int] = (-1, -1, -1)
        self._mirror_generation = -1  # of the database the items in memory were read from
        self._mirror_lock = threading.Lock()
        self._mirror: BankMirror | None = None
        self._query_vectors: LRUCache[Vectors] = LRUCache(256, 3600.0, clock)

    @property
    def embedder(self) -> Embedder:
        """The embedder items are embedded with (the database's)."""
        return self._embedder_fn()

    # -- storing -----------------------------------------------------------------------------

    def store(
        self,
        key: str,
        value: Any,
        *,
        namespace: str = "default",
        confidence: float | None = None,
        agent: str | None = None,
        type: str = "reasoning_memory",
        description: str = "",
        title: str | None = None,
        kind: str | None = None,
        strategy: str | None = None,
        outcome: str | None = None,
    ) -> Item:
        """Store an item under a key (Claude-Flow's memory-model mapping); storing the same
        key again replaces its text and confidence and keeps its track record.

        Args:
            key: the item's key (becomes its title unless ``title`` is given).
            value: the content: text, or any JSON value (stored as compact JSON).
            namespace: the domain.
            confidence: in [0, 1] (default ``settings.default_confidence``).
            agent: who stored it.
            type: the item type (``reasoning_memory`` by default).
            description: when to use it, and when not.
            title: a title other than the key.
            kind: the kind of task it applies to.
            strategy: the strategy it is about (``query(strategy=...)`` filters on it).
            outcome: ``success`` if it records what worked, ``failure`` for a pitfall.
        """
        check_key(key)
        check_namespace(namespace)
        content = value if isinstance(value, str) else dumps(value)
        check_text(content, "value")
        conf = _check_confidence(
            self.settings.default_confidence if confidence is None else confidence
        )
        type_ = check_text(type, "type")
        title = key if title is None else check_text(title, "title")
        if not isinstance(description, str):
            raise ValidationError("description must be a string")
        for name, v in (("kind", kind), ("strategy", strategy)):
            if v is not None:
                check_text(v, name)
        if outcome is not None and outcome not in LABELS:
            raise ValidationError(f"outcome must be 'success' or 'failure', got {shown(outcome)}")
        data = {
            "title": title,
            "description": description,
            "content": content,
            "domain": namespace,
            "agent": agent,
            "task_type": kind or "fact",
            "kind": kind,
            "strategy": strategy,
            "outcome": outcome,
            "original_key": key,
            "original_value": content,
            "namespace": namespace,
        }
        vector = self.embedder.embed_one(item_text(title, description, content))
        now = self._clock()
        with self._db.transaction():
            item_id = self._repo.id_for_key(namespace, key)
            if item_id is None:
                item_id = str(uuid.uuid4())
                self._repo.insert(
                    ItemRow(item_id, namespace, key, type_, dumps(data), conf, "stored"), now
                )
            else:
                self._repo.replace_content(item_id, type_, dumps(data), conf, now)
            self._put_vector(item_id, "content", vector)
        self._invalidate()
        return self._repo.require(item_id)

    def _put_vector(self, item_id: str, kind: str, vector: Vectors) -> None:
        e = self.embedder
        self._repo.put_vector(item_id, kind, e.identity, vector.astype("<f4").tobytes(), e.dims)

    def get(self, item_id: str) -> Item:
        """One item by id.

        Raises:
            NotFoundError: no such item.
        """
        return self._repo.require(item_id)

    def delete(self, item_id: str) -> bool:
        """Delete an item (its vectors, links and provenance rows; the trajectories it came
        from stay). Returns whether it existed. Consolidation never deletes; this is for
        callers who must remove an item."""
        with self._db.transaction():
            gone = self._repo.delete(item_id)
        self._invalidate()
        return gone

    def list(
        self,
        *,
        namespace: str | None = None,
        status: str = "active",
        limit: int | None = 50,
        offset: int = 0,
    ) -> builtins.list[Item]:
        """Items, most recently updated first. ``status`` is active, superseded, archived or
        all; ``limit`` None lists them all."""
        if namespace is not None:
            check_namespace(namespace)
        if status not in _STATUSES:
            raise ValidationError(
                f"status must be one of {', '.join(_STATUSES)}, got {shown(status)}"
            )
        check_limit(limit, offset)
        return self._repo.list_items(namespace, None if status == "all" else status, limit, offset)

    # -- querying ----------------------------------------------------------------------------

    def _invalidate(self) -> None:
        self.cache.clear()

    def _fresh_counter(self) -> tuple[int, int, int]:
        # The log's head comes back to an earlier value after a rollback: the handle's
        # rollback count tells answers given before it from those after a later write; and
        # after a restore (a new generation of the database).
        counter = (self._repo.log_head(), self._repo.db.rollbacks, self._repo.db.generation())
        if counter != self._cache_counter:
            self.cache.clear()
            self._cache_counter = counter
        return counter

    def _backfill(self, only: Sequence[str]) -> int:
        """Embed items that lack a content vector of the embedder in use (items written by
        another embedder); returns how many."""
        e = self.embedder
        wanted = set(only)
        lacking = [r for r in self._repo.lacking_vectors(e.identity) if r[0] in wanted]
        if not lacking:
            return 0
        ids = [r[0] for r in lacking]
        datas = [decode_data(r[1]) for r in lacking]
        texts = [
            item_text(
                str(d.get("title", "")), str(d.get("description", "")), str(d.get("content", ""))
            )
            for d in datas
        ]
        content = e.embed(texts)
        tasks = self._repo.task_texts(ids)
        task_ids = [i for i in ids if i in tasks]
        task_vecs = e.embed([tasks[i] for i in task_ids]) if task_ids else None
        with self._db.transaction():
            for item_id, vec in zip(ids, content, strict=True):
                self._put_vector(item_id, "content", vec)
            if task_vecs is not None:
                for item_id, vec in zip(task_ids, task_vecs, strict=True):
                    self._put_vector(item_id, "task", vec)
        return len(ids)

    def _prune_log(self) -> None:
        """Keep ``bank_log`` bounded (a process further behind than what is kept reloads)."""
        head = self._repo.log_head()
        if head - self._repo.log_oldest() > _LOG_LIMIT:
            self._repo.prune_log(_LOG_KEEP)

    def _items_in_memory(self) -> BankMirror:
        """The mirror, caught up with the database (items lacking a vector are embedded)."""
        from mindbank.reasoning.mirror import BankMirror

        e = self.embedder
        # One thread at a time brings the items up to date (on PostgreSQL, threads sharing
        # the handle run at once); embedding what lacks a vector writes, so it runs outside.
        with self._mirror_lock:
            m = self._mirror
            generation = self._repo.db.generation()
            if m is None or m.identity != e.identity or generation != self._mirror_generation:
                # (A new generation: a restore replaced the database, and the log's numbers
                # with it; what was read from the old one says nothing about the new.)
                m = self._mirror = BankMirror(e.identity, e.dims)
                self._mirror_generation = generation
            missing = list(m.missing) if m.refresh(self._repo) else []
        if missing and self._backfill(missing):
            with self._mirror_lock:
                m.refresh(self._repo)
        # Read inside a transaction: a rollback may take back what it read, and the log's
        # numbers come back to earlier values after it, so the items are then read again.
        if self._repo.db.in_transaction:
            self._repo.db.on_rollback(self._forget_items)
        return m

    def _forget_items(self) -> None:
        self._mirror = None

    def _query_vector(self, text: str) -> Vectors:
        vec = self._query_vectors.get(text)
        if vec is None:
            vec = self.embedder.embed_one(text)
            self._query_vectors.put(text, vec)
        return vec

    def query(
        self,
        text: str,
        *,
        namespace: str | None = None,
        k: int | None = None,
        min_confidence: float = 0.0,
        strategy: str | None = None,
        outcome: str | None = None,
        include_archived: bool = False,
        mmr_lambda: float | None = None,
    ) -> builtins.list[BankHit]:
        """The items most useful for a task, best first.

        Args:
            text: the new task (or any question).
            namespace: only items of this namespace.
            k: how many (default ``settings.default_k``).
            min_confidence: leave out items below this confidence.
            strategy: only items learned from this strategy's attempts.
            outcome: only items learned from ``success`` or from ``failure``.
            include_archived: also archived items (superseded ones never).
            mmr_lambda: the weight of relevance in MMR (default ``settings.mmr_lambda``; 1.0
                turns diversity off).
        """
        check_text(text, "query")
        k = self.settings.default_k if k is None else k
        check_k(k)
        _check_confidence(min_confidence, "min_confidence")
        lam = self.settings.mmr_lambda if mmr_lambda is None else mmr_lambda
        _check_confidence(lam, "mmr_lambda")
        if namespace is not None:
            check_namespace(namespace)
        if outcome is not None and (not isinstance(outcome, str) or outcome not in LABELS):
            raise ValidationError(f"outcome must be 'success' or 'failure', got {shown(outcome)}")
        if strategy is not None:
            check_key(strategy, "strategy")
        if not isinstance(include_archived, bool):
            raise ValidationError("include_archived must be true or false")
        key = (text, namespace, k, min_confidence, strategy, outcome, include_archived, lam)
        counter = self._fresh_counter()
        cached = self.cache.get((counter, key))
        if cached is not None:
            return cached
        snap = self._items_in_memory()
        hits = self._rank(
            snap, text, namespace, k, min_confidence, strategy, outcome, include_archived, lam
        )
        self.cache.put((self._cache_counter, key), hits)
        return hits

    def _rank(
        self,
        snap: BankMirror,
        text: str,
        namespace: str | None,
        k: int,
        min_confidence: float,
        strategy: str | None,
        outcome: str | None,
        include_archived: bool,
        lam: float,
    ) -> builtins.list[BankHit]:
        import numpy as np

        from mindbank.vectors.mmr import mmr as mmr_select

        n = len(snap)
        if n == 0:
            return []
        status = snap.status[:n]
        mask = snap.alive[:n] & (status == snap.code("active"))
        if include_archived:
            mask |= snap.alive[:n] & (status == snap.code("archived"))
        mask &= snap.confidence[:n] >= min_confidence
        if namespace is not None:
            mask &= snap.namespace[:n] == snap.code(namespace)
        if strategy is not None:
            mask &= snap.strategy[:n] == snap.code(strategy)
        if outcome is not None:
            mask &= snap.outcome[:n] == snap.code(outcome)
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return []
        s = self.settings
        q = self._query_vector(text)
        content_sim = (snap.content[rows] @ q).astype(np.float64)
        task_sim = (snap.task[rows] @ q).astype(np.float64)
        has_task = snap.has_task[rows]
        similarity = scoring.blend_similarity(content_sim, task_sim, has_task, s.task_weight)
        rec = scoring.recency(self._clock() - snap.active_at[rows], s.half_life)
        reliability = snap.confidence[rows]
        total = scoring.score(
            similarity, rec, reliability, s.w_similarity, s.w_recency, s.w_reliability
        )
        m = min(len(rows), max(s.candidates, k))
        cand = np.argsort(-total, kind="stable")[:m]
        picked = mmr_select(total[cand], snap.content[rows[cand]], k, lam)
        order = [int(cand[p]) for p in picked]
        items = self._repo.get_many([snap.ids[rows[i]] for i in order])
        hits: builtins.list[BankHit] = []
        for rank, i in enumerate(order, start=1):
            item = items.get(snap.ids[rows[i]])
            if item is None:  # deleted by another process since the snapshot
                continue
            hits.append(
                BankHit(
                    item=item,
                    score=float(total[i]),
                    similarity=float(similarity[i]),
                    content_similarity=float(content_sim[i]),
                    task_similarity=float(task_sim[i]) if has_task[i] else None,
                    recency=float(rec[i]),
                    reliability=float(reliability[i]),
                    rank=rank,
                )
            )
        return hits

    # -- trajectories, verdicts, distillation ------------------------------------------------

    def record_trajectory(
        self,
        task: str,
        steps: Sequence[Any] = (),
        *,
        outcome: Mapping[str, Any] | None = None,
        verdict: str | None = None,
        task_id: str | None = None,
        namespace: str = "default",
        kind: str | None = None,
        strategy: str | None = None,
        agent: str | None = None,
        used: Iterable[str] = (),
        duration: float | None = None,
        distil: bool = True,
    ) -> Recorded:
        """Record one attempt at a task, judge it, learn from it.

        The verdict comes from real test results in ``outcome`` (``exit_code``,
        ``tests_passed``, ``tests_failed``), else the caller's ``verdict``, else the judge
        command (``MINDBANK_JUDGE_CMD``); without any, it is ``unknown``. Items listed in
        ``used`` have their confidence moved by a known verdict. With ``distil`` and a known
        verdict, up to three items are distilled from the attempt.

        Args:
            task: the task description.
            steps: the steps taken, any JSON (e.g. ``{"action": ..., "observation": ...}``).
            outcome: what happened: test counts, exit code, ``failures``, ``stderr`` ...
            verdict: ``success`` or ``failure``, if the caller knows.
            task_id: groups attempts at the same task (default: a new id).
            namespace: where distilled items go.
            kind: the kind of task (used in the distilled items' text).
            strategy: the strategy or approach used.
            agent: who made the attempt.
            used: ids of items that were used in this attempt.
            duration: seconds the attempt took.
            distil: distil items from it (default True).

        Raises:
            CommandError: the distil command failed (the trajectory is kept; retry with
                :meth:`distill`).
        """
        check_text(task, "task")
        check_namespace(namespace)
        if verdict is not None and verdict not in LABELS:
            raise ValidationError(f"verdict must be 'success' or 'failure', got {shown(verdict)}")
        if outcome is None:
            outcome = {}
        if not isinstance(outcome, Mapping):
            raise ValidationError("outcome must be a JSON object")
        if isinstance(steps, str) or not isinstance(steps, Sequence):
            raise ValidationError("steps must be a list")
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0
        ):
            raise ValidationError(f"duration must be a number >= 0, got {shown(duration)}")
        for name, v in (("kind", kind), ("strategy", strategy), ("agent", agent)):
            if v is not None:
                check_text(v, name)
        used_ids = list(dict.fromkeys(used))
        for item_id in used_ids:
            self._repo.require(item_id)
        task_id = task_id or str(uuid.uuid4())
        steps_json = dumps(list(steps), "steps")
        outcome_json = dumps(dict(outcome), "outcome")
        payload = _judge_payload(
            task_id, task, kind, strategy, agent, list(steps), dict(outcome), duration
        )
        judged = verdict_for(
            outcome, verdict, payload, self.settings.judge_cmd, self.settings.command_timeout
        )
        row = TrajectoryRow(
            task_id,
            namespace,
            task,
            kind,
            strategy,
            agent,
            steps_json,
            outcome_json,
            judged,
            dumps(used_ids),
            float(duration) if duration is not None else None,
        )
        now = self._clock()
        with self._db.transaction():
            trajectory_id = self._repo.insert_trajectory(row, now)
            if judged.known:
                self._apply_use(used_ids, judged.label == "success", now)
        updated = tuple(self._repo.get_many(used_ids).values()) if judged.known else ()
        if used_ids and judged.known:
            self._invalidate()
        items: tuple[Item, ...] = ()
        if distil and judged.known:
            items = tuple(self.distill(trajectory_id))
        return Recorded(self._repo.trajectory(trajectory_id), items, updated)

    def _apply_use(self, item_ids: Sequence[str], success: bool, now: float) -> None:
        s = self.settings
        for item_id in item_ids:
            current = self._repo.require(item_id).confidence
            new = scoring.update_confidence(current, success, s.rate_up, s.rate_down)
            self._repo.record_use(item_id, new, success, now)

    def trajectory(self, trajectory_id: int) -> Trajectory:
        """One trajectory.

        Raises:
            NotFoundError: no such trajectory.
        """
        return self._repo.trajectory(trajectory_id)

    def learn_patterns(
        self,
        *,
        min_support: int = 5,
        min_gain: float = 0.1,
        namespace: str | None = None,
        store: bool = True,
        into: str = "learned-patterns",
    ) -> tuple[int, float, builtins.list[MinedPattern]]:
        """Mine the judged trajectories for patterns of success and failure (strategy, task
        kind, agent, namespace, whether lessons were used; single attributes and pairs), see
        :mod:`mindbank.reasoning.mining`. Each is stored as an item in namespace ``into``
        (key ``learned:attr=value,...``; storing again replaces the text and keeps the
        track record) with its support and evidence in the description.

        Returns:
            ``(judged trajectories, overall success rate, patterns)``, strongest first.
        """
        from mindbank.reasoning.mining import conditions_of, describe, item_key, mine

        check_namespace(into)
        if namespace is not None:
            check_namespace(namespace)
        if isinstance(min_support, bool) or not isinstance(min_support, int) or min_support < 1:
            raise ValidationError(
                f"min_support must be a positive integer, got {shown(min_support)}"
            )
        check_finite(min_gain, "min_gain", 0, 1)
        total, base, found = mine(
            self._db, min_support=min_support, min_gain=min_gain, namespace=namespace
        )
        if not store:
            return total, base, found
        out = []
        with self._db.transaction():
            for p in found:
                item = self.store(
                    item_key(p), p.text, namespace=into,
                    confidence=p.low if p.label == "success" else 1.0 - p.high,
                    description=describe(p), strategy=conditions_of(p, "strategy"),
                    kind=conditions_of(p, "kind"), outcome=p.label,
                )  # fmt: skip
                out.append(dataclasses.replace(p, item=item.id))
        return total, base, out

    def trajectories(
        self,
        *,
        namespace: str | None = None,
        task_id: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> builtins.list[Trajectory]:
        """Trajectories, newest first (``limit`` None: all)."""
        check_limit(limit, offset)
        return self._repo.trajectories(namespace, task_id, limit, offset)

    def judge(self, trajectory_id: int) -> Verdict:
        """The verdict of a stored trajectory. An ``unknown`` verdict is judged again (a judge
        command may have been configured since) and stored if it is now known."""
        t = self._repo.trajectory(trajectory_id)
        if t.verdict.known:
            return t.verdict
        payload = _judge_payload(
            t.task_id, t.task, t.kind, t.strategy, t.agent, list(t.steps), dict(t.outcome),
            t.duration,
        )  # fmt: skip
        v = verdict_for(
            t.outcome, None, payload, self.settings.judge_cmd, self.settings.command_timeout
        )
        if v.known:
            with self._db.transaction():
                self._repo.set_verdict(trajectory_id, v)
        return v

    def drafts(self, trajectory: Trajectory) -> builtins.list[Draft]:
        """The items a trajectory would be distilled into (nothing is stored)."""
        if not isinstance(trajectory, Trajectory):
            raise ValidationError(f"drafts takes a Trajectory, not {type(trajectory).__name__}")
        if not trajectory.verdict.known:
            return []
        if self.settings.distil_cmd:
            payload = {"trajectory": trajectory.to_dict(), "verdict": trajectory.verdict.to_dict()}
            return run_distiller(self.settings.distil_cmd, payload, self.settings.command_timeout)
        return structural(trajectory)

    def distill(self, trajectory_id: int) -> builtins.list[Item]:
        """Distil a judged trajectory into items and store them (at most three). A trajectory
        already distilled returns the items it gave; an unknown verdict gives none."""
        t = self._repo.trajectory(trajectory_id)
        if t.distilled_at is not None:
            return self._repo.items_from(trajectory_id)
        drafts = self.drafts(t)
        if not drafts:
            return []
        e = self.embedder
        vecs = e.embed([item_text(d.title, d.description, d.content) for d in drafts])
        task_vec = self._query_vector(t.task)
        origin = "distilled:command" if self.settings.distil_cmd else "distilled"
        conf = self.settings.initial(t.verdict.source)
        now = self._clock()
        with self._db.transaction():
            if self._repo.trajectory(trajectory_id).distilled_at is not None:
                return self._repo.items_from(trajectory_id)  # another process was first
            for d, vec in zip(drafts, vecs, strict=True):
                item_id = str(uuid.uuid4())
                data = {
                    "title": d.title,
                    "description": d.description,
                    "content": d.content,
                    "domain": t.namespace,
                    "agent": t.agent,
                    "task_type": t.kind,
                    "kind": t.kind,
                    "strategy": t.strategy,
                    "outcome": t.verdict.label,
                    "verdict_source": t.verdict.source,
                    "task": t.task,
                    "namespace": t.namespace,
                }
                self._repo.insert(
                    ItemRow(item_id, t.namespace, None, "pattern", dumps(data), conf, origin), now
                )
                self._repo.add_sources(item_id, [trajectory_id])
                self._put_vector(item_id, "content", vec)
                self._put_vector(item_id, "task", task_vec)
            self._repo.mark_distilled(trajectory_id, now)
            self._prune_log()
        self._invalidate()
        return self._repo.items_from(trajectory_id)

    def distill_pending(self, limit: int = 1000) -> int:
        """Distil every judged trajectory not distilled yet (oldest first, at most ``limit``);
        returns how many items were made."""
        made = 0
        for t in reversed(self._repo.trajectories(None, None, 100_000, 0)):
            if limit <= 0:
                break
            if t.distilled_at is None and t.verdict.known:
                made += len(self.distill(t.id))
                limit -= 1
        return made

    # -- feedback and links ------------------------------------------------------------------

    def feedback(self, item_id: str, outcome: str | bool) -> Item:
        """Report that an item was used and how it went: ``success`` raises its confidence,
        ``failure`` lowers it (rates in settings)."""
        success = _outcome_label(outcome)
        with self._db.transaction():
            self._apply_use([item_id], success, self._clock())
        self._invalidate()
        return self._repo.require(item_id)

    def link(self, source: str, target: str, type: str, strength: float = 0.5) -> Link:
        """Link two items (``related``, ``prerequisite``, ``contradicts``, ``supersedes``);
        linking again sets the strength."""
        if type not in LINK_TYPES:
            raise ValidationError(
                f"link type must be one of {', '.join(LINK_TYPES)}, got {shown(type)}"
            )
        _check_confidence(strength, "strength")
        if source == target:
            raise ValidationError("an item cannot be linked to itself")
        self._repo.require(source)
        other = self._repo.require(target)
        now = self._clock()
        with self._db.transaction():
            link_id, _ = self._repo.link(source, target, type, float(strength), now)
        self._invalidate()
        row = next(r for r in self._repo.links_of(source, type) if r[0] == link_id)
        return Link(row[0], row[1], row[2], row[3], row[4], row[5], "out", other)

    def links(self, item_id: str, type: str | None = None) -> builtins.list[Link]:
        """The links of an item, strongest first, each with the item at the other end."""
        if type is not None and type not in LINK_TYPES:
            raise ValidationError(
                f"link type must be one of {', '.join(LINK_TYPES)}, got {shown(type)}"
            )
        self._repo.require(item_id)
        rows = self._repo.links_of(item_id, type)
        others = self._repo.get_many([r[2] if r[1] == item_id else r[1] for r in rows])
        out = []
        for r in rows:
            outgoing = r[1] == item_id
            other = others[r[2] if outgoing else r[1]]
            out.append(Link(r[0], r[1], r[2], r[3], r[4], r[5], "out" if outgoing else "in", other))
        return out

    # -- consolidation -----------------------------------------------------------------------

    def consolidate(self) -> ConsolidationReport:
        """Merge near-duplicates, link contradictions, archive what is unused, old and
        unreliable; report what changed. Idempotent: a second run changes nothing.

        Near-duplicates are active items of the same namespace, strategy and outcome whose
        content vectors have cosine >= ``settings.duplicate``. They are grouped around the
        item with the most evidence (uses, then confidence, then age); the others are merged
        into it: usage counts summed, confidence the evidence-weighted mean, provenance
        inherited, each marked ``superseded`` with a ``supersedes`` link. Items of one namespace
        and strategy from opposite outcomes with cosine >= ``settings.contradiction`` get a
        ``contradicts`` link (a success of one strategy and a failure of another on the same
        task do not contradict each other).
        """
        import numpy as np

        from mindbank.vectors.pairs import similar_pairs

        start = time.perf_counter()
        s = self.settings
        snap = self._items_in_memory()
        n = len(snap)
        active = np.flatnonzero(snap.alive[:n] & (snap.status[:n] == snap.code("active")))
        ids = [snap.ids[i] for i in active]
        pairs = similar_pairs(snap.content[active], min(s.duplicate, s.contradiction))
        group = {
            j: (int(snap.namespace[i]), int(snap.strategy[i]), int(snap.outcome[i]))
            for j, i in enumerate(active.tolist())
        }
        opposite = {snap.code("success"), snap.code("failure")}
        dup_adj: dict[int, builtins.list[tuple[int, float]]] = {}
        contra: builtins.list[tuple[int, int, float]] = []
        for a, b, sim in pairs:
            ga, gb = group[a], group[b]
            if ga[0] != gb[0]:
                continue
            if sim >= s.duplicate and ga == gb:
                dup_adj.setdefault(a, []).append((b, sim))
                dup_adj.setdefault(b, []).append((a, sim))
            elif sim >= s.contradiction and ga[1] == gb[1] and {ga[2], gb[2]} == opposite:
                contra.append((a, b, sim))
        merged: builtins.list[tuple[str, str, float]] = []
        contradictions: builtins.list[tuple[str, str, float]] = []
        now = self._clock()
        with self._db.transaction():
            away_all: set[int] = set()
            if dup_adj:
                info = self._repo.get_many([ids[j] for j in dup_adj])
                order = sorted(
                    dup_adj,
                    key=lambda j: (
                        -info[ids[j]].usage_count,
                        -info[ids[j]].confidence,
                        info[ids[j]].created_at,
                        ids[j],
                    ),
                )
                taken: set[int] = set()
                for leader in order:
                    if leader in taken:
                        continue
                    taken.add(leader)
                    group_ = [(j, sim) for j, sim in dup_adj[leader] if j not in taken]
                    if not group_:
                        continue
                    taken.update(j for j, _ in group_)
                    members = [info[ids[leader]], *(info[ids[j]] for j, _ in group_)]
                    conf = scoring.merged_confidence(
                        [m.confidence for m in members], [m.usage_count for m in members]
                    )
                    away = [ids[j] for j, _ in group_]
                    self._repo.merge(ids[leader], away, conf, now)
                    for j, sim in group_:
                        self._repo.link(ids[leader], ids[j], "supersedes", min(1.0, sim), now)
                        merged.append((ids[j], ids[leader], round(sim, 6)))
                        away_all.add(j)
            for a, b, sim in contra:
                if a in away_all or b in away_all:
                    continue
                if self._repo.has_link(ids[a], ids[b], "contradicts"):
                    continue
                self._repo.link(ids[a], ids[b], "contradicts", min(1.0, sim), now)
                contradictions.append((ids[a], ids[b], round(sim, 6)))
            archived = self._repo.archivable(
                s.archive_max_uses, now - s.archive_after, s.archive_below
            )
            if archived:
                self._repo.archive(archived, now)
            self._prune_log()
        if merged or contradictions or archived:
            self._invalidate()
        return ConsolidationReport(
            examined=len(ids),
            merged=tuple(merged),
            contradictions=tuple(contradictions),
            archived=tuple(archived),
            seconds=time.perf_counter() - start,
        )

    # -- care --------------------------------------------------------------------------------

    def status(self) -> BankStatus:
        """Counts, average confidence and the query cache (Claude-Flow's status fields)."""
        c = self._repo.status_counts()
        avg = c["avg_confidence"]
        return BankStatus(
            total_memories=c["active"],
            total_categories=c["categories"],
            avg_confidence=None if avg is None else float(avg),
            total_embeddings=c["embeddings"],
            total_trajectories=c["trajectories"],
            total_links=c["links"],
            storage_backend=self._repo.BACKEND,
            database_path=str(self._db.path),
            embedder=self._embedder_identity(),
            by_status=c["by_status"],
            verdicts=c["verdicts"],
            undistilled_trajectories=c["undistilled"],
            query_cache={
                "size": len(self.cache),
                "capacity": self.cache.size,
                "ttl_seconds": int(self.cache.ttl),
                "hits": self.cache.hits,
                "misses": self.cache.misses,
            },
        )

    def _embedder_identity(self) -> str:
        models = self._repo.vector_models()
        return ", ".join(sorted(models)) if models else "(no vectors yet)"

    def check_tables(self) -> TablesCheck:
        """Which ReasoningBank tables exist (all of them, once migrated)."""
        existing = self._repo.existing_tables()
        return TablesCheck(
            backend=self._repo.BACKEND,
            existing_tables=tuple(existing),
            missing_tables=tuple(t for t in BANK_TABLES if t not in existing),
        )

    def migrate(self) -> builtins.list[int]:
        """Apply pending migrations (the bank's tables come with migration 3); returns the
        versions applied (empty when up to date)."""
        return self._db.migrate()

"""SQL of the ReasoningBank: items (``patterns``), their vectors, trajectories, provenance and
links.

Inputs arrive validated (``mindbank.reasoning``); this module only reads and writes. Item text
lives in ``pattern_data`` (JSON, Claude-Flow's layout: title, content, domain, agent,
task_type ... plus description, kind, strategy, outcome); the columns hold what is filtered or
updated in place. Vectors are float32 little-endian BLOBs, one per item and kind (``content``,
``task``), with the embedder identity in ``model``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mindbank.errors import NotFoundError, shown
from mindbank.records import Item, Trajectory, Verdict
from mindbank.store.codec import dumps, loads, loads_or_none
from mindbank.store.database import Database, translate_error

__all__ = [
    "BANK_TABLES",
    "BankRepo",
    "ItemMeta",
    "ItemRow",
    "TrajectoryRow",
    "decode_data",
]

BANK_TABLES = (
    "patterns",
    "pattern_embeddings",
    "task_trajectories",
    "pattern_sources",
    "pattern_links",
)

_ITEM_COLS = (
    "id, namespace, key, type, pattern_data, confidence, usage_count, success_count, "
    "failure_count, status, superseded_by, origin, created_at, updated_at, last_used"
)
_TRAJ_COLS = (
    "id, task_id, namespace, task, kind, strategy, agent, steps, outcome, verdict, "
    "verdict_source, verdict_detail, used_patterns, duration, timestamp, distilled_at"
)


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An item as written: its columns, ``pattern_data`` encoded by the caller."""

    id: str
    namespace: str
    key: str | None
    type: str
    pattern_data: str
    confidence: float
    origin: str


@dataclass(frozen=True, slots=True)
class TrajectoryRow:
    """A trajectory as written (JSON fields encoded by the caller)."""

    task_id: str
    namespace: str
    task: str
    kind: str | None
    strategy: str | None
    agent: str | None
    steps: str
    outcome: str
    verdict: Verdict
    used: str
    duration: float | None


@dataclass(frozen=True, slots=True)
class ItemMeta:
    """What a query scores an item by, besides its vectors."""

    id: str
    namespace: str
    status: str
    strategy: str | None
    outcome: str | None
    confidence: float
    active_at: float


def _equal(**columns: str | None) -> tuple[str, list[str]]:
    """`` WHERE a = ? AND b = ?`` for the columns given a value (column names are ours)."""
    given = {c: v for c, v in columns.items() if v is not None}
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = ?" for c in given), list(given.values())


def _item(r: Sequence[Any], sources: tuple[int, ...]) -> Item:
    data = loads(r[4])
    return Item(
        id=r[0],
        namespace=r[1],
        key=r[2],
        title=str(data.get("title", "")),
        description=str(data.get("description", "")),
        content=str(data.get("content", "")),
        type=r[3],
        kind=data.get("kind"),
        strategy=data.get("strategy"),
        outcome=data.get("outcome"),
        confidence=r[5],
        usage_count=r[6],
        success_count=r[7],
        failure_count=r[8],
        status=r[9],
        superseded_by=r[10],
        origin=r[11],
        agent=data.get("agent"),
        sources=sources,
        data=data,
        created_at=r[12],
        updated_at=r[13] if r[13] is not None else r[12],
        last_used=r[14],
    )


def _trajectory(r: Sequence[Any]) -> Trajectory:
    return Trajectory(
        id=r[0],
        task_id=r[1],
        namespace=r[2],
        task=r[3],
        kind=r[4],
        strategy=r[5],
        agent=r[6],
        steps=tuple(loads(r[7])),
        outcome=loads(r[8]),
        verdict=Verdict(r[9], r[10], loads(r[11])),
        used=tuple(loads(r[12])),
        duration=r[13],
        timestamp=r[14],
        distilled_at=r[15],
    )


class BankRepo:
    """Reads and writes the ReasoningBank tables of one :class:`Database` (the SQL is portable:
    :class:`~mindbank.store.pg_memory.PgBankRepo` overrides the few expressions that are not).
    """

    # a JSON field of pattern_data; the later of two values
    SQL_FIELD = "json_extract(pattern_data, '$.{name}')"
    SQL_LATER = "MAX({a}, {b})"
    BACKEND = "SQLite"
    NO_LIMIT: int | None = -1  # what LIMIT takes for "all"

    def __init__(self, db: Database):
        self.db = db
        self._active_at = self.SQL_LATER.format(
            a="COALESCE(last_used, 0)", b="COALESCE(updated_at, created_at)"
        )

    def _in(self, sql: str, ids: Sequence[str], before: Sequence[Any] = ()) -> Iterator[Any]:
        """Rows of ``sql`` (which has ``{marks}`` where the ids go) for many ids, in chunks
        small enough for SQLite's parameter limit; ``before`` are the parameters ahead of them."""
        for lo in range(0, len(ids), 500):
            chunk = ids[lo : lo + 500]
            yield from self.db.run(sql.format(marks=",".join("?" * len(chunk))), (*before, *chunk))

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

    # -- facts -------------------------------------------------------------------------------

    def log_head(self) -> int:
        """The last sequence number of ``bank_log`` (0 when empty): it changes whenever an item
        or one of its vectors changes, in any process."""
        row = self.db.run("SELECT MAX(seq) FROM bank_log").fetchone()
        return int(row[0] or 0)

    def log_oldest(self) -> int:
        """The first sequence number still in ``bank_log`` (0 when empty)."""
        row = self.db.run("SELECT MIN(seq) FROM bank_log").fetchone()
        return int(row[0] or 0)

    def changed_since(self, seq: int) -> list[str]:
        """Ids of the items that changed after ``seq``."""
        return [
            r[0]
            for r in self.db.run("SELECT DISTINCT pattern_id FROM bank_log WHERE seq > ?", (seq,))
        ]

    def prune_log(self, keep: int) -> None:
        """Forget all but the last ``keep`` log entries."""
        self.db.run(
            "DELETE FROM bank_log WHERE seq <= (SELECT MAX(seq) FROM bank_log) - ?", (keep,)
        )

    def existing_tables(self) -> list[str]:
        """Which of :data:`BANK_TABLES` exist."""
        names = set(self.db.table_names())
        return [t for t in BANK_TABLES if t in names]

    # -- items -------------------------------------------------------------------------------

    def _sources(self, ids: Sequence[str]) -> dict[str, tuple[int, ...]]:
        out: dict[str, list[int]] = {}
        for pid, tid in self._in(
            "SELECT pattern_id, trajectory_id FROM pattern_sources "
            "WHERE pattern_id IN ({marks}) ORDER BY trajectory_id",
            ids,
        ):
            out.setdefault(pid, []).append(tid)
        return {k: tuple(v) for k, v in out.items()}

    def _items(self, rows: list[Sequence[Any]]) -> list[Item]:
        sources = self._sources([r[0] for r in rows])
        return [_item(r, sources.get(r[0], ())) for r in rows]

    def get(self, item_id: str) -> Item | None:
        """One item by id, or None."""
        row = self.db.run(f"SELECT {_ITEM_COLS} FROM patterns WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else self._items([row])[0]

    def get_many(self, ids: Sequence[str]) -> dict[str, Item]:
        """Items by id (missing ids are left out)."""
        rows = list(self._in(f"SELECT {_ITEM_COLS} FROM patterns WHERE id IN ({{marks}})", ids))
        return {i.id: i for i in self._items(rows)}

    def require(self, item_id: str) -> Item:
        """One item by id.

        Raises:
            NotFoundError: no such item.
        """
        item = self.get(item_id)
        if item is None:
            raise NotFoundError(f"no reasoning item with id {shown(item_id)}")
        return item

    def id_for_key(self, namespace: str, key: str) -> str | None:
        """The id of the item stored under a key, or None."""
        row = self.db.run(
            "SELECT id FROM patterns WHERE namespace = ? AND key = ?", (namespace, key)
        ).fetchone()
        return None if row is None else str(row[0])

    def list_items(
        self, namespace: str | None, status: str | None, limit: int | None, offset: int
    ) -> list[Item]:
        """Items, most recently updated first (``limit`` None: all)."""
        where, params = _equal(namespace=namespace, status=status)
        sql = f"SELECT {_ITEM_COLS} FROM patterns{where} "
        sql += "ORDER BY COALESCE(updated_at, created_at) DESC, id LIMIT ? OFFSET ?"
        limit = self.NO_LIMIT if limit is None else limit
        return self._items(self.db.run(sql, (*params, limit, offset)).fetchall())

    def insert(self, row: ItemRow, now: float) -> None:
        """Add an item."""
        self.db.run(
            "INSERT INTO patterns (id, namespace, key, type, pattern_data, confidence, origin, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.id,
                row.namespace,
                row.key,
                row.type,
                row.pattern_data,
                row.confidence,
                row.origin,
                now,
                now,
            ),
        )

    def replace_content(
        self, item_id: str, type_: str, pattern_data: str, confidence: float, now: float
    ) -> None:
        """Overwrite an item's text and confidence (a store() under an existing key)."""
        self.db.run(
            "UPDATE patterns SET type = ?, pattern_data = ?, confidence = ?, status = 'active', "
            "superseded_by = NULL, updated_at = ? WHERE id = ?",
            (type_, pattern_data, confidence, now, item_id),
        )

    def record_use(self, item_id: str, confidence: float, success: bool, now: float) -> None:
        """Count one reported use of an item and set its new confidence."""
        self.db.run(
            "UPDATE patterns SET confidence = ?, usage_count = usage_count + 1, "
            "success_count = success_count + ?, failure_count = failure_count + ?, "
            "last_used = ? WHERE id = ?",
            (confidence, int(success), int(not success), now, item_id),
        )

    def delete(self, item_id: str) -> bool:
        """Remove an item, its vectors, links and provenance rows (trajectories stay)."""
        return self.db.run("DELETE FROM patterns WHERE id = ?", (item_id,)).rowcount > 0

    # -- vectors -----------------------------------------------------------------------------

    def put_vector(self, item_id: str, kind: str, model: str, vector: bytes, dims: int) -> None:
        """Store (or replace) one vector of an item."""
        self.db.run(
            "INSERT INTO pattern_embeddings (id, kind, model, dims, vector) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id, kind) DO UPDATE SET model = excluded.model, dims = excluded.dims, "
            "vector = excluded.vector",
            (item_id, kind, model, dims, vector),
        )

    def vector_models(self) -> dict[str, int]:
        """Vector counts by embedder identity."""
        return dict(
            self.db.run("SELECT model, COUNT(*) FROM pattern_embeddings GROUP BY model").fetchall()
        )

    def lacking_vectors(self, model: str) -> list[tuple[str, str]]:
        """``(id, pattern_data)`` of items without a content vector of this embedder."""
        return self.db.run(
            "SELECT p.id, p.pattern_data FROM patterns p WHERE NOT EXISTS (SELECT 1 FROM "
            "pattern_embeddings e WHERE e.id = p.id AND e.kind = 'content' AND e.model = ?)",
            (model,),
        ).fetchall()

    def task_texts(self, item_ids: Sequence[str]) -> dict[str, str]:
        """The task description of the first source trajectory of each item that has one."""
        out: dict[str, str] = {}
        for pid, task in self._in(
            "SELECT s.pattern_id, t.task FROM pattern_sources s JOIN task_trajectories t "
            "ON t.id = s.trajectory_id WHERE s.pattern_id IN ({marks}) "
            "ORDER BY s.trajectory_id DESC",
            item_ids,
        ):
            out[pid] = task
        return out

    def vectors(self, model: str, ids: Sequence[str] | None = None) -> dict[tuple[str, str], bytes]:
        """``(id, kind) -> BLOB`` of the vectors of ``model`` of these items (all when None)."""
        sql = "SELECT id, kind, vector FROM pattern_embeddings WHERE model = ?"
        if ids is None:
            return {(r[0], r[1]): r[2] for r in self.db.run(sql, (model,))}
        rows = self._in(sql + " AND id IN ({marks})", ids, (model,))
        return {(pid, kind): blob for pid, kind, blob in rows}

    def item_meta(self, ids: Sequence[str] | None = None) -> list[ItemMeta]:
        """The scoring facts of these items (all items when None), in insertion order."""
        sql = (
            f"SELECT id, namespace, status, {self.SQL_FIELD.format(name='strategy')}, "
            f"{self.SQL_FIELD.format(name='outcome')}, confidence, {self._active_at} "
            "FROM patterns"
        )
        if ids is None:
            return [ItemMeta(*r) for r in self.db.run(sql + " ORDER BY rowid")]
        return [ItemMeta(*r) for r in self._in(sql + " WHERE id IN ({marks}) ORDER BY rowid", ids)]

    # -- trajectories and provenance ---------------------------------------------------------

    def insert_trajectory(self, row: TrajectoryRow, now: float) -> int:
        """Add a trajectory; returns its id."""
        v = row.verdict
        success = None if v.label == "unknown" else int(v.label == "success")
        row_id = self.db.run(
            "INSERT INTO task_trajectories (task_id, namespace, task, kind, strategy, agent, "
            "steps, outcome, success, verdict, verdict_source, verdict_detail, used_patterns, "
            "duration, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (
                row.task_id,
                row.namespace,
                row.task,
                row.kind,
                row.strategy,
                row.agent,
                row.steps,
                row.outcome,
                success,
                v.label,
                v.source,
                dumps(dict(v.detail), "verdict detail"),
                row.used,
                row.duration,
                now,
            ),
        ).fetchone()[0]
        return int(row_id)

    def trajectory(self, trajectory_id: int) -> Trajectory:
        """One trajectory.

        Raises:
            NotFoundError: no such trajectory.
        """
        row = self.db.run(
            f"SELECT {_TRAJ_COLS} FROM task_trajectories WHERE id = ?", (trajectory_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no trajectory with id {trajectory_id}")
        return _trajectory(row)

    def trajectories(
        self, namespace: str | None, task_id: str | None, limit: int | None, offset: int
    ) -> list[Trajectory]:
        """Trajectories, newest first (``limit`` None: all)."""
        where, params = _equal(namespace=namespace, task_id=task_id)
        sql = f"SELECT {_TRAJ_COLS} FROM task_trajectories{where} ORDER BY id DESC LIMIT ? OFFSET ?"
        limit = self.NO_LIMIT if limit is None else limit
        return [_trajectory(r) for r in self.db.run(sql, (*params, limit, offset))]

    def judged_trajectories(self, namespace: str | None) -> list[tuple[Any, ...]]:
        """Every judged trajectory (of ``namespace``, or all): ``(id, namespace, kind,
        strategy, agent, success, steps, outcome, used_patterns)``."""
        sql = (
            "SELECT id, namespace, kind, strategy, agent, success, steps, outcome, used_patterns "
            "FROM task_trajectories WHERE verdict != 'unknown'"
        )
        params: tuple[Any, ...] = ()
        if namespace is not None:
            sql += " AND namespace = ?"
            params = (namespace,)
        return [tuple(r) for r in self.db.run(sql, params)]

    def set_verdict(self, trajectory_id: int, verdict: Verdict) -> None:
        """Store a new verdict for a trajectory."""
        success = None if verdict.label == "unknown" else int(verdict.label == "success")
        self.db.run(
            "UPDATE task_trajectories SET verdict = ?, verdict_source = ?, verdict_detail = ?, "
            "success = ? WHERE id = ?",
            (
                verdict.label,
                verdict.source,
                dumps(dict(verdict.detail), "verdict detail"),
                success,
                trajectory_id,
            ),
        )

    def mark_distilled(self, trajectory_id: int, now: float) -> None:
        """Record that a trajectory's items were made."""
        self.db.run(
            "UPDATE task_trajectories SET distilled_at = ? WHERE id = ?", (now, trajectory_id)
        )

    def add_sources(self, item_id: str, trajectory_ids: Iterable[int]) -> None:
        """Record that an item came from these trajectories."""
        self._many(
            "INSERT INTO pattern_sources (pattern_id, trajectory_id) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            [(item_id, t) for t in trajectory_ids],
        )

    def items_from(self, trajectory_id: int) -> list[Item]:
        """Items distilled from a trajectory (including ones merged away since)."""
        rows = self.db.run(
            f"SELECT {_ITEM_COLS} FROM patterns WHERE id IN (SELECT pattern_id FROM "
            f"pattern_sources WHERE trajectory_id = ?) ORDER BY rowid",
            (trajectory_id,),
        ).fetchall()
        return self._items(rows)

    # -- links -------------------------------------------------------------------------------

    def link(
        self, source: str, target: str, type_: str, strength: float, now: float
    ) -> tuple[int, bool]:
        """Add a link, or set the strength of an existing one. Returns (id, created)."""
        row = self.db.run(
            "SELECT id FROM pattern_links WHERE source_pattern_id = ? AND target_pattern_id = ? "
            "AND link_type = ?",
            (source, target, type_),
        ).fetchone()
        if row is not None:
            self.db.run("UPDATE pattern_links SET strength = ? WHERE id = ?", (strength, row[0]))
            return int(row[0]), False
        created = self.db.run(
            "INSERT INTO pattern_links (source_pattern_id, target_pattern_id, link_type, "
            "strength, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (source, target, type_, strength, now),
        ).fetchone()
        return int(created[0]), True

    def has_link(self, a: str, b: str, type_: str) -> bool:
        """Whether a link of this type joins a and b, in either direction."""
        return (
            self.db.run(
                "SELECT 1 FROM pattern_links WHERE link_type = ? AND ((source_pattern_id = ? "
                "AND target_pattern_id = ?) OR (source_pattern_id = ? AND target_pattern_id = ?))",
                (type_, a, b, b, a),
            ).fetchone()
            is not None
        )

    def links_of(
        self, item_id: str, type_: str | None
    ) -> list[tuple[int, str, str, str, float, float]]:
        """Links touching an item: (id, source, target, type, strength, created_at)."""
        sql = (
            "SELECT id, source_pattern_id, target_pattern_id, link_type, strength, created_at "
            "FROM pattern_links WHERE (source_pattern_id = ? OR target_pattern_id = ?)"
        )
        params: list[Any] = [item_id, item_id]
        if type_ is not None:
            sql += " AND link_type = ?"
            params.append(type_)
        sql += " ORDER BY strength DESC, id"
        return self.db.run(sql, params).fetchall()

    # -- consolidation -----------------------------------------------------------------------

    def merge(
        self,
        into: str,
        away: Sequence[str],
        confidence: float,
        now: float,
    ) -> None:
        """Merge items into one: counts summed, confidence set, provenance inherited, the
        merged-away items marked superseded (never deleted)."""
        marks = ",".join("?" * len(away))
        self.db.run(
            f"UPDATE patterns SET confidence = ?, updated_at = ?, "
            f"usage_count = usage_count + (SELECT COALESCE(SUM(usage_count), 0) FROM patterns "
            f"WHERE id IN ({marks})), "
            f"success_count = success_count + (SELECT COALESCE(SUM(success_count), 0) FROM "
            f"patterns WHERE id IN ({marks})), "
            f"failure_count = failure_count + (SELECT COALESCE(SUM(failure_count), 0) FROM "
            f"patterns WHERE id IN ({marks})), "
            f"last_used = (SELECT MAX(last_used) FROM patterns WHERE id IN ({marks}, ?)) "
            f"WHERE id = ?",
            (confidence, now, *away, *away, *away, *away, into, into),
        )
        self.db.run(
            f"INSERT INTO pattern_sources (pattern_id, trajectory_id) SELECT ?, "
            f"trajectory_id FROM pattern_sources WHERE pattern_id IN ({marks}) "
            "ON CONFLICT DO NOTHING",
            (into, *away),
        )
        self.db.run(
            f"UPDATE patterns SET status = 'superseded', superseded_by = ?, updated_at = ? "
            f"WHERE id IN ({marks})",
            (into, now, *away),
        )

    def archive(self, ids: Sequence[str], now: float) -> None:
        """Mark items archived (kept, left out of queries)."""
        self._many(
            "UPDATE patterns SET status = 'archived', updated_at = ? WHERE id = ?",
            [(now, i) for i in ids],
        )

    def archivable(self, max_uses: int, idle_before: float, below: float) -> list[str]:
        """Active items used at most ``max_uses`` times, idle since before ``idle_before`` and
        below ``below`` confidence."""
        return [
            r[0]
            for r in self.db.run(
                "SELECT id FROM patterns WHERE status = 'active' AND usage_count <= ? AND "
                f"confidence < ? AND {self._active_at} < ? ORDER BY rowid",
                (max_uses, below, idle_before),
            )
        ]

    # -- status ------------------------------------------------------------------------------

    def status_counts(self) -> dict[str, Any]:
        """Aggregates for ``status()``."""
        by_status = dict(
            self.db.run("SELECT status, COUNT(*) FROM patterns GROUP BY status").fetchall()
        )
        active = self.db.run(
            "SELECT COUNT(*), COUNT(DISTINCT namespace), AVG(confidence) FROM patterns "
            "WHERE status = 'active'"
        ).fetchone()
        verdicts = dict(
            self.db.run(
                "SELECT verdict, COUNT(*) FROM task_trajectories GROUP BY verdict"
            ).fetchall()
        )
        undistilled = self.db.run(
            "SELECT COUNT(*) FROM task_trajectories WHERE distilled_at IS NULL "
            "AND verdict != 'unknown'"
        ).fetchone()[0]
        return {
            "by_status": by_status,
            "active": active[0],
            "categories": active[1],
            "avg_confidence": active[2],
            "embeddings": self.db.run("SELECT COUNT(*) FROM pattern_embeddings").fetchone()[0],
            "trajectories": sum(verdicts.values()),
            "links": self.db.run("SELECT COUNT(*) FROM pattern_links").fetchone()[0],
            "verdicts": verdicts,
            "undistilled": undistilled,
        }


def decode_data(text: str) -> dict[str, Any]:
    """``pattern_data`` as a dict."""
    data = loads_or_none(text)
    return data if isinstance(data, dict) else {}

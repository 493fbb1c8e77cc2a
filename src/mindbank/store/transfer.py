"""Copying the tables beside the entries (coordination, the ReasoningBank) from one database to
another, SQLite or PostgreSQL either way, and checking that both sides hold the same rows.

Columns are the ones both sides have (PostgreSQL's ``tenant`` and ``rowid`` are its own).
Serial ids are numbered again by the target (on PostgreSQL one sequence serves every tenant);
references to a trajectory's id follow it. Rows go in their source order, so the target's
insertion order (events, topology versions, items) is the source's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from mindbank.errors import ValidationError

__all__ = [
    "COPIED",
    "append_changes",
    "clear",
    "columns",
    "copy_tables",
    "entry_ids",
    "keyed_vectors",
    "left_behind",
    "table_digest",
    "verify_tables",
]

# (table, its serial id column numbered again by the target or None, its columns that hold
# another table's serial id), in an order where a table comes after those it refers to.
COPIED: tuple[tuple[str, str | None, tuple[tuple[str, str], ...]], ...] = (
    ("sessions", None, ()),
    ("agents", None, ()),
    ("agent_memory", "id", ()),
    ("tasks", None, ()),
    ("shared_state", None, ()),
    ("events", "id", ()),
    ("performance_metrics", "id", ()),
    ("workflow_state", None, ()),
    ("swarm_topology", "id", ()),
    ("consensus_state", None, ()),
    ("patterns", None, ()),
    ("pattern_embeddings", None, ()),
    ("task_trajectories", "id", ()),
    ("pattern_sources", None, (("trajectory_id", "task_trajectories"),)),
    ("pattern_links", "id", ()),
    ("pipeline_runs", "id", ()),
    ("neural_models", "id", ()),
    ("training_history", None, (("model_id", "neural_models"),)),
    ("pattern_memory", "id", ()),
    ("model_updates", "id", ()),
    ("search_impressions", "id", ()),
    ("feedback", "id", (("entry_id", "memory_store"),)),
    ("entry_scores", None, (("entry_id", "memory_store"),)),
    ("memory_edges", None, (("a", "memory_store"), ("b", "memory_store"))),
)
_REFERRED = {other for _, _, refs in COPIED for _, other in refs} | {"pipeline_runs"}
_OWN = ("tenant", "rowid")
# Tables a copy re-creates by itself or that only index others (not data to move).
_DERIVED = {
    "memory_store", "embeddings", "change_log", "namespace_schemas",  # copied with the entries
    "schema_migrations", "meta", "counters", "embeddings_log", "bank_log", "change_cursors",
    "sqlite_sequence", "zstd_dicts", "memory_fts_deferred", "witness_chain",
    "sync_ops", "sync_meta",  # a replica's queue and state, not the memory's
}  # fmt: skip


def append_changes(db: Any, rows: Sequence[tuple[str, str, str, str, float]]) -> None:
    """Append ``(namespace, key, op, actor, at)`` to the change log (in its order)."""
    db.executemany(
        "INSERT INTO change_log (namespace, key, op, actor, at) VALUES (?, ?, ?, ?, ?)", rows
    )


def keyed_vectors(db: Any) -> list[tuple[str, str, str, str, Any]]:
    """Every vector as ``(namespace, key, embedder, content hash, float32 array)``."""
    import numpy as np

    if db.dialect == "postgres":
        rows = db.run(
            "SELECT m.namespace, m.key, e.embedder, e.content_hash, e.vector::text "
            "FROM embeddings e JOIN memory_store m ON m.id = e.entry_id"
        ).fetchall()
        return [
            (ns, key, emb, h, np.array([float(x) for x in text.strip("[]").split(",")], "<f4"))
            for ns, key, emb, h, text in rows
        ]
    rows = db.run(
        "SELECT m.namespace, m.key, e.embedder, e.content_hash, mb_f32(e.vector, e.quant) "
        "FROM embeddings e JOIN memory_store m ON m.id = e.entry_id"
    ).fetchall()
    return [(ns, key, emb, h, np.frombuffer(blob, dtype="<f4")) for ns, key, emb, h, blob in rows]


def entry_ids(db: Any) -> dict[tuple[str, str], int]:
    """Every entry's row id by ``(namespace, key)``."""
    return {(r[0], r[1]): int(r[2]) for r in db.run("SELECT namespace, key, id FROM memory_store")}


def columns(db: Any, table: str) -> list[str]:
    """A table's columns in order."""
    if db.dialect == "postgres":
        rows = db.run(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [str(r[0]) for r in rows]
    return [str(r[1]) for r in db.run(f"PRAGMA table_info({table})")]


def _shared(src: Any, dst: Any, table: str, serial: str | None) -> list[str]:
    theirs = set(columns(dst, table))
    return [c for c in columns(src, table) if c in theirs and c not in _OWN and c != serial]


def _order(table: str, serial: str | None) -> str:
    return "rowid" if table == "patterns" else (serial or "1")


def _count(db: Any, table: str) -> int:
    return int(db.run(f"SELECT count(*) FROM {table}").fetchone()[0])


def copy_tables(src: Any, dst: Any) -> dict[str, int]:
    """Copy every row of :data:`COPIED` that both sides have a table for (inside the caller's
    transaction on ``dst``); returns rows per table.

    Raises:
        ValidationError: the target already has rows in one of them.
    """
    tables = _both(src, dst)
    full = [t for t, _, _ in tables if _count(dst, t)]
    if full:
        raise ValidationError(f"{dst.path} already holds rows in {', '.join(full)}")
    copied: dict[str, int] = {}
    # Entries were copied already (by export and import): theirs is matched by key.
    new_ids: dict[str, dict[int, int]] = {"memory_store": _entry_ids(src, dst)}
    for table, serial, refs in tables:
        cols = _shared(src, dst, table, serial)
        read = f"SELECT {', '.join(cols)}{', ' + serial if serial else ''} FROM {table}"
        rows = [list(r) for r in src.run(read + f" ORDER BY {_order(table, serial)}")]
        for column, other in refs:
            at, ids = cols.index(column), new_ids[other]
            # a row about an entry that was not copied (expired) goes with it
            rows = [r for r in rows if int(r[at]) in ids]
            for r in rows:
                r[at] = ids[int(r[at])]
        if table == "neural_models" and "pipeline_runs" in new_ids:
            at = cols.index("header")
            for r in rows:
                r[at] = _renumber_watermark(r[at], new_ids["pipeline_runs"])
        insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        if serial is not None and table in _REFERRED:
            ids = new_ids[table] = {}
            for r in rows:  # the new id of each row is needed: one by one
                ids[int(r[-1])] = int(
                    dst.run(insert + f" RETURNING {serial}", r[:-1]).fetchone()[0]
                )
        elif rows:
            dst.executemany(insert, [r[: len(cols)] for r in rows])
        copied[table] = len(rows)
    return copied


def _entry_ids(src: Any, dst: Any) -> dict[int, int]:
    """Source entry id -> target entry id, by (namespace, key)."""
    theirs = {
        (r[0], r[1]): int(r[2]) for r in dst.run("SELECT namespace, key, id FROM memory_store")
    }
    return {
        int(r[2]): theirs[(r[0], r[1])]
        for r in src.run("SELECT namespace, key, id FROM memory_store")
        if (r[0], r[1]) in theirs
    }


def _both(src: Any, dst: Any) -> list[tuple[str, str | None, tuple[tuple[str, str], ...]]]:
    have = set(src.table_names()) & set(dst.table_names())
    return [t for t in COPIED if t[0] in have]


def _renumber_watermark(header: str, ids: dict[int, int]) -> str:
    """A model's pipeline watermark (the last run it learned from) in the target's ids."""
    doc = json.loads(header)
    marks = (doc.get("metrics") or {}).get("watermarks") or {}
    old = marks.get("pipeline_runs")
    if isinstance(old, int) and ids:
        seen = [o for o in ids if o <= old]
        marks["pipeline_runs"] = ids[max(seen)] if seen else 0
        return json.dumps(doc, separators=(",", ":"))
    return header


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def table_digest(db: Any, table: str, cols: Sequence[str]) -> str:
    """SHA-256 of a table's rows over these columns, sorted (the same on both sides when
    they hold the same rows)."""
    rows = db.run(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
    lines = sorted(json.dumps([_plain(v) for v in r], sort_keys=True) for r in rows)
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def verify_tables(src: Any, dst: Any, copied: dict[str, int]) -> list[str]:
    """The tables of :data:`COPIED` whose rows differ between the sides (ids aside). Tables
    about entries hold the rows of the entries copied: their count is checked."""
    differ = []
    for table, serial, refs in _both(src, dst):
        if any(other == "memory_store" for _, other in refs):
            if _count(dst, table) != copied.get(table, 0):
                differ.append(table)
            continue
        skip = {c for c, _ in refs} | ({"header"} if table == "neural_models" else set())
        cols = [c for c in _shared(src, dst, table, serial) if c not in skip]
        if _count(src, table) != _count(dst, table) or (
            table_digest(src, table, cols) != table_digest(dst, table, cols)
        ):
            differ.append(table)
    return differ


def left_behind(src: Any, dst: Any) -> dict[str, int]:
    """Tables with rows in the source that the target has no place for (rows per table)."""
    theirs = set(dst.table_names())
    copied = {t for t, _, _ in COPIED}
    out = {}
    for table in src.table_names():
        if table in theirs or table in copied or table in _DERIVED or "fts" in table:
            continue
        n = _count(src, table)
        if n:
            out[table] = n
    return out


def clear(db: Any) -> None:
    """Delete every row of a tenant's memory on PostgreSQL (as the tenant: row-level security
    keeps the statements to its own rows), for a restore; inside the caller's transaction."""
    from mindbank.store.postgres import tenant_tables

    # children first; twice, for the triggers' log rows. The append-only logs stay (the
    # witness chain records the restore's deletes and inserts like any others; the replicas'
    # operations are their history).
    tables = [
        t for t in tenant_tables(db)
        if db.run("SELECT has_table_privilege(?, 'DELETE')", (t,)).fetchone()[0]
    ]  # fmt: skip
    for table in tables * 2:
        db.run(f'DELETE FROM "{table}"')

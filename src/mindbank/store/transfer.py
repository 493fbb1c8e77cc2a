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

__all__ = ["COPIED", "columns", "copy_tables", "left_behind", "table_digest", "verify_tables"]

# (table, its serial id column numbered again by the target, or None)
COPIED: tuple[tuple[str, str | None], ...] = (
    ("sessions", None),
    ("agents", None),
    ("agent_memory", "id"),
    ("tasks", None),
    ("shared_state", None),
    ("events", "id"),
    ("performance_metrics", "id"),
    ("workflow_state", None),
    ("swarm_topology", "id"),
    ("consensus_state", None),
    ("patterns", None),
    ("pattern_embeddings", None),
    ("task_trajectories", "id"),
    ("pattern_sources", None),
    ("pattern_links", "id"),
)
_OWN = ("tenant", "rowid")
# Tables a copy re-creates by itself or that only index others (not data to move).
_DERIVED = {
    "memory_store", "embeddings", "change_log", "namespace_schemas",  # copied with the entries
    "schema_migrations", "meta", "counters", "embeddings_log", "bank_log", "change_cursors",
    "sqlite_sequence", "zstd_dicts", "memory_fts_deferred", "witness_chain",
}  # fmt: skip


def columns(db: Any, table: str) -> list[str]:
    """A table's columns in order."""
    if getattr(db, "dialect", "sqlite") == "postgres":
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
    """Copy every row of :data:`COPIED` (inside the caller's transaction on ``dst``); returns
    rows per table.

    Raises:
        ValidationError: the target already has rows in one of them.
    """
    full = [t for t, _ in COPIED if _count(dst, t)]
    if full:
        raise ValidationError(f"{dst.path} already holds rows in {', '.join(full)}")
    copied: dict[str, int] = {}
    trajectory_ids: dict[int, int] = {}
    for table, serial in COPIED:
        cols = _shared(src, dst, table, serial)
        read = f"SELECT {', '.join(cols)}{', ' + serial if serial else ''} FROM {table}"
        rows = src.run(read + f" ORDER BY {_order(table, serial)}").fetchall()
        insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        if table == "task_trajectories":
            for r in rows:
                new = dst.run(insert + " RETURNING id", r[:-1]).fetchone()[0]
                trajectory_ids[int(r[-1])] = int(new)
        else:
            if table == "pattern_sources":
                at = cols.index("trajectory_id")
                rows = [(*r[:at], trajectory_ids[int(r[at])], *r[at + 1 :]) for r in rows]
            if rows:
                dst.executemany(insert, [r[: len(cols)] for r in rows])
        copied[table] = len(rows)
    return copied


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


def verify_tables(src: Any, dst: Any) -> list[str]:
    """The tables of :data:`COPIED` whose rows differ between the sides (ids aside)."""
    differ = []
    for table, serial in COPIED:
        cols = [c for c in _shared(src, dst, table, serial) if c != "trajectory_id"]
        if _count(src, table) != _count(dst, table) or (
            table_digest(src, table, cols) != table_digest(dst, table, cols)
        ):
            differ.append(table)
    return differ


def left_behind(src: Any, dst: Any) -> dict[str, int]:
    """Tables with rows in the source that the target has no place for (rows per table)."""
    theirs = set(dst.table_names())
    copied = {t for t, _ in COPIED}
    out = {}
    for table in src.table_names():
        if table in theirs or table in copied or table in _DERIVED or "fts" in table:
            continue
        n = _count(src, table)
        if n:
            out[table] = n
    return out

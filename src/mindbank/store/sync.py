"""SQL of replication (mindbank.sync): the operations a replica made or received and its sync
state (SQLite), and the server's log of every replica's operations (PostgreSQL). The same
statements run on both; ids make every insert idempotent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mindbank.store.codec import dumps, loads

__all__ = ["OpRow", "SyncRepo"]

OpRow = tuple[str, str, str, str, str, str, Any]
"""``(id, stamp, replica, namespace, key, kind, payload)``."""

_COLS = "id, stamp, replica, namespace, key, kind, payload"


class SyncRepo:
    """The operations table of one database (a replica's, or the server's)."""

    def __init__(self, db: Any):
        self.db = db

    # -- operations --------------------------------------------------------------------------

    def add(self, ops: Iterable[OpRow], *, pushed: bool | None = None) -> list[OpRow]:
        """Add operations not seen before (by id); returns the new ones. ``pushed``: on a
        replica, whether the server has them already (None on the server)."""
        ops = list(ops)
        if self.db.dialect == "postgres" and ops:  # one statement
            columns = [list(c) for c in zip(*[(*op[:6], dumps(op[6])) for op in ops], strict=True)]
            rows = self.db.run(
                f"INSERT INTO sync_ops ({_COLS}) SELECT * FROM unnest(?::text[], ?::text[], "
                "?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                columns,
            ).fetchall()
            fresh = {r[0] for r in rows}
            return [op for op in ops if op[0] in fresh]
        new: list[OpRow] = []
        extra, mark = ("", "") if pushed is None else (", pushed", ", ?")
        for op in ops:  # one by one: which ones were new is the point
            row = (*op[:6], dumps(op[6]))
            params = row if pushed is None else (*row, int(pushed))
            if self.db.run(
                f"INSERT INTO sync_ops ({_COLS}{extra}) VALUES (?, ?, ?, ?, ?, ?, ?{mark}) "
                "ON CONFLICT (id) DO NOTHING",
                params,
            ).rowcount:
                new.append(op)
        return new

    def for_entries(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[OpRow]]:
        """Every operation on these entries."""
        out: dict[tuple[str, str], list[OpRow]] = {k: [] for k in keys}
        for lo in range(0, len(keys), 200):
            chunk = keys[lo : lo + 200]
            where = " OR ".join("(namespace = ? AND key = ?)" for _ in chunk)
            params = [v for pair in chunk for v in pair]
            for r in self.db.run(f"SELECT {_COLS} FROM sync_ops WHERE {where}", params):
                out[(r[3], r[4])].append((*r[:6], loads(r[6])))
        return out

    def after(self, seq: int, limit: int) -> list[tuple[int, OpRow]]:
        """Operations after ``seq`` in the order they were added: ``(seq, op)``."""
        rows = self.db.run(
            f"SELECT seq, {_COLS} FROM sync_ops WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [(int(r[0]), (*r[1:7], loads(r[7]))) for r in rows]

    def head(self) -> int:
        """The last operation's sequence number (0: none)."""
        row = self.db.run("SELECT max(seq) FROM sync_ops").fetchone()
        return int(row[0] or 0)

    def count(self) -> int:
        """Operations held."""
        return int(self.db.run("SELECT count(*) FROM sync_ops").fetchone()[0])

    def stamps(self, ids: Sequence[str]) -> dict[str, str]:
        """The stamp this database keeps for each of these operations (by id)."""
        out: dict[str, str] = {}
        for lo in range(0, len(ids), 500):
            chunk = list(ids[lo : lo + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = self.db.run(f"SELECT id, stamp FROM sync_ops WHERE id IN ({marks})", chunk)
            out.update((str(r[0]), str(r[1])) for r in rows)
        return out

    def now(self) -> float:
        """The server's clock, in seconds (PostgreSQL: what replicas' stamps are held to)."""
        return float(
            self.db.run("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()[0]
        )

    # -- a replica's queue and state (SQLite) -------------------------------------------------

    def set_stamps(self, rows: Sequence[tuple[str, str]]) -> None:
        """Take the server's stamps: ``(stamp, id)``."""
        self.db.executemany("UPDATE sync_ops SET stamp = ? WHERE id = ?", rows)

    def mark_pending(self, keys: Iterable[tuple[str, str]]) -> None:
        """These entries may differ from the fold of their operations."""
        self.db.executemany(
            "INSERT INTO sync_pending (namespace, key) VALUES (?, ?) ON CONFLICT DO NOTHING",
            sorted(keys),
        )

    def pending(self, limit: int, after: tuple[str, str] | None) -> list[tuple[str, str]]:
        """Pending entries in order, after ``after``."""
        ns, key = after or ("", "")
        rows = self.db.run(
            "SELECT namespace, key FROM sync_pending WHERE (namespace, key) > (?, ?) "
            "ORDER BY namespace, key LIMIT ?",
            (ns, key, limit),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def clear_pending(self, keys: Sequence[tuple[str, str]]) -> None:
        """These entries are the fold of their operations."""
        self.db.executemany("DELETE FROM sync_pending WHERE namespace = ? AND key = ?", keys)

    def pending_count(self) -> int:
        """How many entries wait to be merged into the local memory."""
        return int(self.db.run("SELECT count(*) FROM sync_pending").fetchone()[0])

    def queue(self, limit: int) -> list[OpRow]:
        """Operations the server does not have yet, oldest first (the write-behind queue)."""
        rows = self.db.run(
            f"SELECT {_COLS} FROM sync_ops WHERE pushed = 0 ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(*r[:6], loads(r[6])) for r in rows]

    def queue_length(self) -> int:
        """How many operations wait for the server."""
        return int(self.db.run("SELECT count(*) FROM sync_ops WHERE pushed = 0").fetchone()[0])

    def mark_pushed(self, ids: Sequence[str]) -> None:
        """The server has these."""
        self.db.executemany("UPDATE sync_ops SET pushed = 1 WHERE id = ?", [(i,) for i in ids])

    def counted(self) -> dict[tuple[str, str], int]:
        """The access count each entry's ``count`` operations add up to (on a replica)."""
        rows = self.db.run(
            "SELECT namespace, key, sum(json_extract(payload, '$.n')) FROM sync_ops "
            "WHERE kind = 'count' GROUP BY namespace, key"
        )
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

    def meta(self, key: str) -> str | None:
        """One sync setting (replica id, clock, cursors, breaker)."""
        row = self.db.run("SELECT value FROM sync_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set one sync setting."""
        self.db.run(
            "INSERT INTO sync_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
            "SET value = excluded.value",
            (key, value),
        )

    # -- the local memory ----------------------------------------------------------------------

    def entry_keys(self) -> list[tuple[str, str]]:
        """``(namespace, key)`` of every entry."""
        rows = self.db.run("SELECT namespace, key FROM memory_store ORDER BY namespace, key")
        return [(str(r[0]), str(r[1])) for r in rows]

    def access_counts(self) -> dict[tuple[str, str], int]:
        """The access count of every entry that has one."""
        rows = self.db.run(
            "SELECT namespace, key, access_count FROM memory_store WHERE access_count > 0"
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def set_access_count(self, namespace: str, key: str, n: int) -> None:
        """Set an entry's access count (the merged counter)."""
        self.db.run(
            "UPDATE memory_store SET access_count = ? WHERE namespace = ? AND key = ?",
            (n, namespace, key),
        )

    def set_access_counts(self, rows: Sequence[tuple[str, str, int]]) -> None:
        """Set many entries' access counts: ``(namespace, key, count)``."""
        self.db.executemany(
            "UPDATE memory_store SET access_count = ? WHERE namespace = ? AND key = ?",
            [(n, ns, key) for ns, key, n in rows],
        )

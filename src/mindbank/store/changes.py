"""SQL of the change log (``change_log``, ``change_cursors``); the triggers of migration 13
write it."""

from __future__ import annotations

from mindbank.records import Change
from mindbank.store.database import Database

__all__ = ["ChangeRepo"]


class ChangeRepo:
    """Reads the change log of one :class:`Database`, keeps cursors, prunes."""

    def __init__(self, db: Database):
        self.db = db

    def head(self) -> int:
        """The last change's sequence number (0 if none was ever logged)."""
        row = self.db.run("SELECT max(seq) FROM change_log").fetchone()
        return 0 if row[0] is None else int(row[0])

    def pruned_upto(self) -> int:
        """Changes up to this number may have been pruned (the log is whole after it)."""
        row = self.db.run("SELECT min(seq) FROM change_log").fetchone()
        return self.head() if row[0] is None else int(row[0]) - 1

    def since(self, seq: int, namespace: str | None, limit: int) -> list[Change]:
        """Changes after ``seq`` (of one namespace, or all), oldest first."""
        if namespace is None:
            rows = self.db.run(
                "SELECT seq, namespace, key, op, actor, at FROM change_log WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (seq, limit),
            )
        else:
            rows = self.db.run(
                "SELECT seq, namespace, key, op, actor, at FROM change_log "
                "WHERE namespace = ? AND seq > ? ORDER BY seq LIMIT ?",
                (namespace, seq, limit),
            )
        return [Change(int(r[0]), r[1], r[2], r[3], r[4], float(r[5])) for r in rows]

    def cursor(self, name: str) -> int | None:
        """A named cursor's position, or None if it does not exist."""
        row = self.db.run("SELECT seq FROM change_cursors WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    SQL_SET_CURSOR = (
        "INSERT INTO change_cursors (name, seq, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at"
    )

    def set_cursor(self, name: str, seq: int, now: float) -> None:
        """Move a named cursor (creating it)."""
        self.db.run(self.SQL_SET_CURSOR, (name, seq, now))

    def prune(self, keep_seconds: float, now: float) -> int:
        """Delete changes older than ``keep_seconds`` at ``now`` (never the newest, which keeps
        the numbering going); returns how many."""
        before = now - keep_seconds
        return int(
            self.db.run(
                "DELETE FROM change_log WHERE at < ? AND seq < (SELECT max(seq) FROM change_log)",
                (before,),
            ).rowcount
        )

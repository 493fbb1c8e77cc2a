"""SQL of namespace schemas (``namespace_schemas``)."""

from __future__ import annotations

from typing import Any

from mindbank.store.codec import dumps, loads
from mindbank.store.database import Database

__all__ = ["SchemaRepo"]


class SchemaRepo:
    """Reads and writes the namespace schemas of one :class:`Database`."""

    SQL_PUT = (
        "INSERT INTO namespace_schemas (namespace, name, document, strict, version, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (namespace) DO UPDATE SET name = excluded.name, "
        "document = excluded.document, strict = excluded.strict, version = excluded.version, "
        "updated_at = excluded.updated_at"
    )

    def __init__(self, db: Database):
        self.db = db

    def version(self) -> int:
        """A counter that moves whenever any process changes any schema."""
        row = self.db.run("SELECT value FROM counters WHERE name = 'schemas'").fetchone()
        return 0 if row is None else int(row[0])  # (on PostgreSQL: made at the first change)

    def all(self) -> dict[str, tuple[str, dict[str, Any], bool, int, float]]:
        """``namespace -> (name, document, strict, version, updated_at)``."""
        rows = self.db.run(
            "SELECT namespace, name, document, strict, version, updated_at FROM namespace_schemas"
        )
        return {r[0]: (r[1], loads(r[2]), bool(r[3]), int(r[4]), float(r[5])) for r in rows}

    def put(self, namespace: str, name: str, document: dict[str, Any], strict: bool,
            now: float) -> int:  # fmt: skip
        """Set a namespace's schema (call inside a transaction); returns its new version."""
        row = self.db.run(
            "SELECT version FROM namespace_schemas WHERE namespace = ?", (namespace,)
        ).fetchone()
        version = 1 if row is None else int(row[0]) + 1
        self.db.run(self.SQL_PUT, (namespace, name, dumps(document), int(strict), version, now))
        return version

    def delete(self, namespace: str) -> bool:
        """Remove a namespace's schema; True if it had one."""
        cur = self.db.run("DELETE FROM namespace_schemas WHERE namespace = ?", (namespace,))
        return cur.rowcount > 0

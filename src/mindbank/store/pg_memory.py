"""The memory repositories on PostgreSQL: what differs from SQLite's SQL.

Rows are the tenant's own (row-level security adds ``tenant = current_user`` to every read and
write), so the statements are the SQLite ones with the unique key ``(tenant, namespace, key)``,
``GREATEST`` for SQLite's two-argument ``max``, a POSIX regular expression for ``GLOB`` and
``jsonb`` for tags. There is no row cache across requests (another machine's write does not
move this connection's counters), and a batch is a plain ``executemany`` (the full-text vector
is a generated column and the change log a trigger).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mindbank.records import Entry
from mindbank.store.changes import ChangeRepo
from mindbank.store.memory import (
    _COLUMNS,
    _LIVE,
    _SQL_FLUSH,
    _SQL_IMPORT,
    _SQL_UPSERT,
    MemoryRepo,
    _entry,
    glob_prefix,
)
from mindbank.store.schemas import SchemaRepo

__all__ = ["PgChangeRepo", "PgMemoryRepo", "PgSchemaRepo", "glob_regex"]

_ROW = f"SELECT {_COLUMNS}, id FROM memory_store WHERE namespace = ? AND key = ?"


def glob_regex(pattern: str) -> str:
    """A SQLite GLOB pattern as an anchored POSIX regular expression (case-sensitive:
    ``*`` any run, ``?`` one character, ``[...]`` and ``[^...]`` classes)."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("^", "]") else i + 1)
            if end < 0:
                out.append(r"\[")
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append(f"[{body}]")
                i = end
        else:
            out.append("\\" + ch if ch in ".^$+(){}|\\" else ch)
        i += 1
    out.append("$")
    return "".join(out)


class PgMemoryRepo(MemoryRepo):
    """``memory_store`` on PostgreSQL."""

    SQL_UPSERT = _SQL_UPSERT.replace(
        "ON CONFLICT (namespace, key)", "ON CONFLICT (tenant, namespace, key)"
    )
    SQL_UPSERT_RETURNING = SQL_UPSERT + " RETURNING created_at, accessed_at, access_count, id"
    SQL_IMPORT = _SQL_IMPORT.replace(
        "ON CONFLICT (namespace, key)", "ON CONFLICT (tenant, namespace, key)"
    )
    SQL_FLUSH = _SQL_FLUSH.replace(
        "max(coalesce(accessed_at, 0), ?)", "GREATEST(coalesce(accessed_at, 0), ?)"
    )

    def _batch(self, sql: str, params: Sequence[Sequence[Any]], ns: int, key: int) -> None:
        last = {(p[ns], p[key]): p for p in params}  # the end state of repeated keys
        self.db.executemany(sql, list(last.values()))

    def get(
        self, key: str, namespace: str, now: float, *, count_access: bool = True
    ) -> Entry | None:
        row = self.db.execute(_ROW, (namespace, key)).fetchone()
        if row is None or (row[10] is not None and row[10] <= now):
            return None
        if not count_access:
            return _entry(row)
        slot = self._pending.get((namespace, key))
        if slot is None:
            if not self._pending:
                self._pending_since = now
            self._pending[(namespace, key)] = slot = [0, now, row[11]]
        slot[0] += 1
        slot[1] = now
        entry = _entry(row, int(slot[0]), now)
        settings = self.db.settings
        if (
            len(self._pending) >= settings.access_flush_every
            or now - self._pending_since >= settings.access_flush_seconds
        ):
            self.flush_access()
        return entry

    def _where(
        self, namespace: str | None, pattern: str | None, tags: Sequence[str], now: float
    ) -> tuple[str, list[Any]]:
        clauses = [_LIVE]
        params: list[Any] = [now]
        if namespace is not None:
            clauses.append("namespace = ?")
            params.append(namespace)
        if pattern:
            prefix = glob_prefix(pattern)
            if prefix:
                clauses.append("key >= ? AND key < ?")
                params += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
            if prefix != pattern:
                clauses.append("key ~ ?")
                params.append(glob_regex(pattern))
        for tag in tags:
            clauses.append("jsonb_exists(tags::jsonb, ?)")
            params.append(tag)
        return " AND ".join(clauses), params

    def list(
        self,
        namespace: str | None,
        pattern: str | None,
        tags: Sequence[str],
        limit: int | None,
        offset: int,
        now: float,
    ) -> list[Entry]:
        self.flush_access()
        where, params = self._where(namespace, pattern, tags, now)
        order = "key" if namespace is not None else "key, namespace"
        sql = f"SELECT {_COLUMNS} FROM memory_store WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        params += [limit, offset]  # LIMIT NULL: all
        return [_entry(r) for r in self.db.execute(sql, params).fetchall()]


class PgChangeRepo(ChangeRepo):
    """The change log on PostgreSQL: one sequence for every tenant, so a tenant's numbers have
    gaps; where pruning reached is kept as a cursor named ``__pruned__``."""

    SQL_SET_CURSOR = ChangeRepo.SQL_SET_CURSOR.replace(
        "ON CONFLICT (name)", "ON CONFLICT (tenant, name)"
    )
    PRUNED = "__pruned__"

    def pruned_upto(self) -> int:
        return self.cursor(self.PRUNED) or 0

    def prune(self, before: float) -> int:
        row = self.db.run(
            "SELECT max(seq) FROM change_log WHERE at < ? AND seq < (SELECT max(seq) FROM "
            "change_log)",
            (before,),
        ).fetchone()
        if row[0] is None:
            return 0
        n = int(self.db.run("DELETE FROM change_log WHERE seq <= ?", (int(row[0]),)).rowcount)
        self.set_cursor(self.PRUNED, max(int(row[0]), self.pruned_upto()), before)
        return n


class PgSchemaRepo(SchemaRepo):
    """Namespace schemas on PostgreSQL (one per tenant and namespace)."""

    SQL_PUT = SchemaRepo.SQL_PUT.replace(
        "ON CONFLICT (namespace)", "ON CONFLICT (tenant, namespace)"
    )

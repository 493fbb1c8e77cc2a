"""The memory repositories on PostgreSQL: what differs from SQLite's SQL.

Rows are the tenant's own (row-level security adds ``tenant = current_user`` to every read and
write), so the statements are the SQLite ones with the unique key ``(tenant, namespace, key)``,
``GREATEST`` for SQLite's two-argument ``max``, a POSIX regular expression for ``GLOB`` and
``jsonb`` for tags. There is no row cache across requests (another machine's write does not
move this connection's counters), and a batch is a plain ``executemany`` (the full-text vector
is a generated column and the change log a trigger).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from mindbank.errors import ConflictError, shown
from mindbank.records import Entry, SharedState
from mindbank.store.changes import ChangeRepo
from mindbank.store.codec import dumps
from mindbank.store.coordination import CoordinationRepo
from mindbank.store.feedback import FeedbackRepo
from mindbank.store.memory import _COLUMNS, _SQL_FLUSH, EntryRow, MemoryRepo
from mindbank.store.reasoning import BankRepo

__all__ = [
    "PgBankRepo",
    "PgChangeRepo",
    "PgCoordinationRepo",
    "PgFeedbackRepo",
    "PgMemoryRepo",
    "glob_regex",
]

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


def _storable(row: EntryRow) -> EntryRow:
    """PostgreSQL text cannot hold U+0000: a text value with one is kept as a JSON string,
    which reads back as the same text."""
    if row.value_type == "text" and "\x00" in row.value:
        return dataclasses.replace(row, value=dumps(row.value), value_type="json")
    return row


class PgMemoryRepo(MemoryRepo):
    """``memory_store`` on PostgreSQL."""

    SQL_FLUSH = _SQL_FLUSH.replace(
        "max(coalesce(accessed_at, 0), ?)", "GREATEST(coalesce(accessed_at, 0), ?)"
    )

    def _batch(self, sql: str, params: Sequence[Sequence[Any]], ns: int, key: int) -> None:
        last = {(p[ns], p[key]): p for p in params}  # the end state of repeated keys
        self.db.executemany(sql, list(last.values()))

    def upsert(self, row: EntryRow, now: float) -> tuple[Entry, int]:
        return super().upsert(_storable(row), now)

    def import_rows(self, rows: Sequence[tuple[Any, ...]]) -> list[int]:
        return super().import_rows([
            (*r[:2], dumps(r[2]), "json", *r[4:]) if r[3] == "text" and "\x00" in r[2] else r
            for r in rows
        ])  # fmt: skip

    def upsert_many(self, rows: Iterable[EntryRow], now: float, *, ids: bool = True) -> list[int]:
        """As on SQLite (the witness chain is the server's triggers'), the ids in one query."""
        rows = [_storable(r) for r in rows]
        params = [
            (r.key, r.namespace, r.value, r.value_type, r.tags, r.metadata, now, now, r.expires_at)
            for r in rows
        ]
        self._batch(self.SQL_UPSERT, params, 1, 0)
        if not ids or not params:
            return []
        found = {
            (r[0], r[1]): int(r[2])
            for r in self.db.run(
                "SELECT m.namespace, m.key, m.id FROM memory_store m JOIN unnest(?::text[], "
                "?::text[]) AS u(ns, k) ON m.namespace = u.ns AND m.key = u.k",
                ([p[1] for p in params], [p[0] for p in params]),
            )
        }
        return [found[(p[1], p[0])] for p in params]

    SQL_GLOB = "key ~ ?"
    SQL_TAG = "jsonb_exists(tags::jsonb, ?)"
    NO_LIMIT = None  # LIMIT NULL: all

    @staticmethod
    def _glob(pattern: str) -> str:
        return glob_regex(pattern)

    def get(
        self, key: str, namespace: str, now: float, *, count_access: bool = True
    ) -> Entry | None:
        row = self.db.execute(_ROW, (namespace, key)).fetchone()
        return None if row is None else self._live_entry(row, key, namespace, now, count_access)

    def get_many(self, keys: Sequence[str], namespace: str, now: float) -> dict[str, Entry]:
        """As on SQLite: one statement (one snapshot) for all the keys."""
        found = {
            row[0]: row
            for row in self.db.execute(
                f"SELECT {_COLUMNS}, id FROM memory_store WHERE namespace = ? "
                "AND key = ANY(?::text[])",
                (namespace, list(keys)),
            )
        }
        return self._live_entries(found, keys, namespace, now)


class PgChangeRepo(ChangeRepo):
    """The change log on PostgreSQL: one sequence for every tenant, so a tenant's numbers have
    gaps; where pruning reached is kept as a cursor named ``__pruned__``."""

    PRUNED = "__pruned__"

    def pruned_upto(self) -> int:
        return self.cursor(self.PRUNED) or 0

    def prune(self, keep_seconds: float, now: float) -> int:
        """As on SQLite, but ages are the server's: the log's times are the server's clock (one
        clock for every machine), so the cut is too (``now``, the caller's clock, is not used)."""
        before = float(
            self.db.run("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()[0]
        )
        before -= keep_seconds
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


class PgCoordinationRepo(CoordinationRepo):
    """Shared state and events on PostgreSQL. Compare-and-set is one atomic statement (an
    ``UPDATE ... WHERE version = expected``, or an insert that must not find the key), so two
    writers with the same expected version cannot both win, under any isolation level."""

    def shared_set(
        self, key: str, value: Any, by: str | None, expected: int | None, now: float
    ) -> SharedState:
        text = dumps(value)
        if expected is None:
            row = self.db.run(
                "INSERT INTO shared_state (key, value, updated_by, version, updated_at) "
                "VALUES (?, ?, ?, 1, ?) ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value, updated_by = excluded.updated_by, "
                "version = shared_state.version + 1, updated_at = excluded.updated_at "
                "RETURNING version",
                (key, text, by, now),
            ).fetchone()
        elif expected == 0:
            row = self.db.run(
                "INSERT INTO shared_state (key, value, updated_by, version, updated_at) "
                "VALUES (?, ?, ?, 1, ?) ON CONFLICT (key) DO NOTHING RETURNING version",
                (key, text, by, now),
            ).fetchone()
        else:
            row = self.db.run(
                "UPDATE shared_state SET value = ?, updated_by = ?, version = version + 1, "
                "updated_at = ? WHERE key = ? AND version = ? RETURNING version",
                (text, by, now, key, expected),
            ).fetchone()
        if row is None:
            current = self.shared_get(key)
            actual = 0 if current is None else current.version
            raise ConflictError(
                f"shared state {shown(key)} is at version {actual}, not {expected}: "
                "another writer got there first; read it again and retry",
                expected=expected,
                actual=actual,
            )
        return SharedState(key, value, int(row[0]), by, now)


class PgBankRepo(BankRepo):
    """The ReasoningBank's tables on PostgreSQL: JSON fields by ``->>``, ``GREATEST``."""

    SQL_FIELD = "(pattern_data::jsonb ->> '{name}')"
    SQL_LATER = "GREATEST({a}, {b})"
    BACKEND = "PostgreSQL"
    NO_LIMIT = None  # LIMIT NULL: all


class PgFeedbackRepo(FeedbackRepo):
    """The feedback loop's tables on PostgreSQL. Values are stored plain; the memory's version
    (what the fuzzy index is checked against) is the head of the tenant's change log, which
    moves with every entry write by any machine."""

    SQL_PLAIN = "value"

    def memory_version(self) -> int:
        return int(self.db.run("SELECT coalesce(max(seq), 0) FROM change_log").fetchone()[0])

    def entry_ids(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """As on SQLite, in one statement of two arrays (one plan for any number of keys)."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        rows = self.db.run(
            "SELECT m.namespace, m.key, m.id FROM memory_store m JOIN unnest(?::text[], "
            "?::text[]) AS u(ns, k) ON m.namespace = u.ns AND m.key = u.k",
            ([ns for ns, _ in unique], [k for _, k in unique]),
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

"""SQL of the key-value memory (``memory_store``).

An entry whose ``expires_at`` has passed is invisible to every read here, before any cleanup.
Access counting is buffered in the process (see :class:`~mindbank.config.Settings`) so that a
retrieve costs one indexed SELECT.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mindbank.records import Entry
from mindbank.store.codec import loads
from mindbank.store.database import Database, translate_error
from mindbank.store.digests import content_digest
from mindbank.store.witness import append as witness

__all__ = ["EntryRow", "MemoryRepo", "glob_prefix"]

_COLUMNS = (
    "key, namespace, value, value_type, tags, metadata, created_at, updated_at, "
    "accessed_at, access_count, expires_at"
)
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_SQL_ROW = f"SELECT {_COLUMNS}, id FROM memory_store WHERE namespace = ? AND key = ?"
_SQL_ROWS = f"SELECT {_COLUMNS}, id FROM memory_store WHERE namespace = ? AND key IN ({{}})"
_MANY_CHUNK = 500  # keys per statement of get_many (well under SQLite's variable limit)
_SQL_UPSERT = """
INSERT INTO memory_store (key, namespace, value, value_type, tags, metadata,
                          created_at, updated_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (namespace, key) DO UPDATE SET
    value = excluded.value,
    value_type = excluded.value_type,
    tags = excluded.tags,
    metadata = excluded.metadata,
    updated_at = excluded.updated_at,
    expires_at = excluded.expires_at,
    -- storing over an expired entry starts a new entry
    created_at = CASE WHEN memory_store.expires_at <= excluded.updated_at
                      THEN excluded.created_at ELSE memory_store.created_at END,
    accessed_at = CASE WHEN memory_store.expires_at <= excluded.updated_at
                       THEN NULL ELSE memory_store.accessed_at END,
    access_count = CASE WHEN memory_store.expires_at <= excluded.updated_at
                        THEN 0 ELSE memory_store.access_count END
"""
_SQL_UPSERT_RETURNING = _SQL_UPSERT + " RETURNING created_at, accessed_at, access_count, id"
_SQL_ID = "SELECT id FROM memory_store WHERE namespace = ? AND key = ?"
_SQL_IMPORT = f"""
INSERT INTO memory_store ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (namespace, key) DO UPDATE SET
    value = excluded.value, value_type = excluded.value_type, tags = excluded.tags,
    metadata = excluded.metadata, created_at = excluded.created_at,
    updated_at = excluded.updated_at, accessed_at = excluded.accessed_at,
    access_count = excluded.access_count, expires_at = excluded.expires_at
"""
_SQL_INDEX_NEW = (
    "INSERT INTO memory_fts (rowid, key, value, tags) "
    "SELECT id, key, mb_plain(value), tags FROM memory_store WHERE id > ?"
)
_SQL_LOG_NEW = (
    "INSERT INTO change_log (namespace, key, op, actor, at) "
    "SELECT namespace, key, 'store', ?, ? FROM memory_store WHERE id > ? ORDER BY id"
)
_SQL_FLUSH = """
UPDATE memory_store SET access_count = access_count + ?,
       accessed_at = max(coalesce(accessed_at, 0), ?)
WHERE id = ?
"""


@dataclass(frozen=True, slots=True)
class EntryRow:
    """An entry encoded for storage (value, tags and metadata as column text)."""

    key: str
    namespace: str
    value: str
    value_type: str
    tags: str
    metadata: str
    expires_at: float | None


def _witnessed(row: EntryRow, now: float) -> tuple[str, str, str]:
    """(table, key, content digest) of an entry as an upsert at ``now`` leaves it."""
    expires = None if row.expires_at is None else float(row.expires_at)
    digest = content_digest(
        row.key, row.namespace, row.value, row.value_type, row.tags, row.metadata, float(now),
        expires,
    )  # fmt: skip
    return "memory_store", f"{row.namespace}\x1f{row.key}", digest


def _row_bytes(row: Sequence[Any]) -> int:
    """Roughly what a cached row holds: its text columns plus a fixed overhead."""
    return len(row[0]) + len(row[1]) + len(row[2]) + len(row[4]) + len(row[5]) + 200


def glob_prefix(pattern: str) -> str:
    """The literal prefix of a GLOB pattern (up to the first ``*``, ``?`` or ``[``)."""
    for i, ch in enumerate(pattern):
        if ch in "*?[":
            return pattern[:i]
    return pattern


def _entry(
    row: Sequence[Any],
    extra_count: int = 0,
    accessed: float | None = None,
    plain: Callable[[Any], Any] | None = None,
) -> Entry:
    value = row[2]
    if value.__class__ is bytes:  # a compressed cold entry (mindbank.store.compression)
        if plain is None:
            raise ValueError("a compressed value needs the database's codec")
        value = plain(value)
    if row[3] != "text":
        value = loads(value)
    tags = () if row[4] == "[]" else tuple(loads(row[4]))
    metadata = {} if row[5] == "{}" else loads(row[5])
    return Entry(
        row[0],
        row[1],
        value,
        tags,
        metadata,
        row[6],
        row[7],
        row[8] if accessed is None else accessed,
        row[9] + extra_count,
        row[10],
    )


class MemoryRepo:
    """Reads and writes ``memory_store`` rows for one :class:`Database`."""

    # The statements another SQL dialect writes differently (see mindbank.store.pg_memory).
    SQL_UPSERT = _SQL_UPSERT
    SQL_UPSERT_RETURNING = _SQL_UPSERT_RETURNING
    SQL_IMPORT = _SQL_IMPORT
    SQL_FLUSH = _SQL_FLUSH
    SQL_GLOB = "key GLOB ?"
    SQL_TAG = "EXISTS (SELECT 1 FROM json_each(memory_store.tags) WHERE json_each.value = ?)"
    NO_LIMIT: int | None = -1

    def __init__(self, db: Database):
        self.db = db
        # (namespace, key) -> [accesses not yet written, time of the latest, row id]
        self._pending: dict[tuple[str, str], list[float]] = {}
        self._pending_since = 0.0
        # Rows read by get(), valid while nothing changed: a commit by any other connection
        # moves PRAGMA data_version, a change by this one moves total_changes, a rollback by
        # this one moves db.rollbacks (see _current). This handle's own writes through
        # writing() and flush_access() keep the other rows valid.
        # This is the working-memory tier: least recently used rows go first once the rows'
        # size passes Settings.working_memory_bytes.
        self._rows: dict[tuple[str, str], Any] = {}
        self._rows_bytes = 0
        # (data_version, total_changes, rollbacks) when the rows were last known current,
        # and the WAL-index header then (unchanged header: no commit since, see _current).
        self._seen: tuple[int, int, int] = (-1, -1, -1)
        self._seen_header: bytes | None = None

    # -- writes ------------------------------------------------------------------------------

    def upsert(self, row: EntryRow, now: float) -> tuple[Entry, int]:
        """Insert or replace one entry; returns it as stored, and its row id."""
        if not self.db.in_transaction:
            with self.db.transaction():  # the entry and its witness record commit together
                return self.upsert(row, now)
        try:
            cur = self.db.execute(
                self.SQL_UPSERT_RETURNING,
                (
                    row.key,
                    row.namespace,
                    row.value,
                    row.value_type,
                    row.tags,
                    row.metadata,
                    now,
                    now,
                    row.expires_at,
                ),
            )
            created, accessed, count, row_id = cur.fetchone()
            created = float(created)
            witness(self.db, [("insert" if created == now else "update", *_witnessed(row, now))])
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc
        slot = self._pending.get((row.namespace, row.key))
        if slot is not None:
            if created == now:  # a new entry (or one restarted after expiry)
                del self._pending[(row.namespace, row.key)]
            else:  # accesses not yet written still count
                count += int(slot[0])
                accessed = slot[1]
        entry = _entry(
            (row.key, row.namespace, row.value, row.value_type, row.tags, row.metadata,
             created, now, accessed, count, row.expires_at)
        )  # fmt: skip
        return entry, int(row_id)

    def upsert_many(self, rows: Iterable[EntryRow], now: float, *, ids: bool = True) -> list[int]:
        """Insert or replace many entries (call inside a transaction); returns their row ids
        (an empty list when ``ids`` is false)."""
        params = [
            (r.key, r.namespace, r.value, r.value_type, r.tags, r.metadata, now, now, r.expires_at)
            for r in rows
        ]
        try:
            self._batch(self.SQL_UPSERT, params, 1, 0)
            witness(
                self.db,
                [
                    ("store", "memory_store", f"{p[1]}\x1f{p[0]}",
                     content_digest(p[0], p[1], p[2], p[3], p[4], p[5], float(now),
                                    None if p[8] is None else float(p[8])))
                    for p in params
                ],
            )  # fmt: skip
            if not ids:
                return []
            return [int(self.db.execute(_SQL_ID, (p[1], p[0])).fetchone()[0]) for p in params]
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

    def _batch(self, sql: str, params: Sequence[Sequence[Any]], ns: int, key: int) -> None:
        """Run a batch of upserts with the full-text index written once for the new rows.

        The per-row triggers are turned off for the batch (migrations 9 and 13) and its new
        rows (their ids are above the largest id before it) indexed and logged in the change
        log with one INSERT ... SELECT each. Rows the
        batch writes twice are written once, with their last values (the same end state):
        a second write would be an update, whose trigger removes from the index a row the
        batch has not indexed yet.
        """
        if len(params) < 2:
            self.db.executemany(sql, params)
            return
        last = {(p[ns], p[key]): p for p in params}
        top = self.db.execute("SELECT coalesce(max(id), 0) FROM memory_store").fetchone()[0]
        self.db.execute("INSERT INTO memory_fts_deferred VALUES (1)")
        try:
            self.db.executemany(sql, last.values())
        finally:
            self.db.execute("DELETE FROM memory_fts_deferred")
        self.db.execute(_SQL_INDEX_NEW, (top,))
        self.db.execute(_SQL_LOG_NEW, (self.db.actor, self.db.clock(), top))
        self.db.execute("UPDATE counters SET value = value + 1 WHERE name = 'memory'")

    def by_ids(self, ids: Sequence[int]) -> dict[int, Entry]:
        """Entries by row id (all of them, live or not: the caller filtered already)."""
        if not ids:
            return {}
        id_list = ",".join(str(int(i)) for i in ids)
        try:
            rows = self.db.execute(
                f"SELECT {_COLUMNS}, id FROM memory_store WHERE id IN ({id_list})"
            ).fetchall()
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc
        return {int(r[11]): _entry(r, plain=self.db.codec.plain) for r in rows}

    def import_rows(self, rows: Sequence[tuple[Any, ...]]) -> list[int]:
        """Write full rows (all columns, in ``_COLUMNS`` order; call inside a transaction);
        returns their row ids."""
        self.flush_access()
        try:
            self._batch(self.SQL_IMPORT, rows, 1, 0)
            witness(
                self.db,
                [
                    ("import", "memory_store", f"{r[1]}\x1f{r[0]}",
                     content_digest(r[0], r[1], r[2], r[3], r[4], r[5], float(r[7]),
                                    None if r[10] is None else float(r[10])))
                    for r in rows
                ],
            )  # fmt: skip
            return [int(self.db.execute(_SQL_ID, (r[1], r[0])).fetchone()[0]) for r in rows]
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

    def delete(self, key: str, namespace: str, now: float) -> tuple[bool, int | None]:
        """Delete one entry; returns (whether a live entry was deleted, its row id)."""
        self._pending.pop((namespace, key), None)
        try:
            cur = self.db.execute(
                "DELETE FROM memory_store WHERE namespace = ? AND key = ? RETURNING expires_at, id",
                (namespace, key),
            )
            row = cur.fetchone()
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc
        if row is None:
            return False, None
        return (row[0] is None or row[0] > now), int(row[1])

    def clear_namespace(self, namespace: str, now: float) -> tuple[int, int]:
        """Delete a namespace; returns (live entries deleted, rows deleted)."""
        self._pending = {k: v for k, v in self._pending.items() if k[0] != namespace}
        try:
            with self.db.transaction():
                live = self.db.execute(
                    f"SELECT count(*) FROM memory_store WHERE namespace = ? AND {_LIVE}",
                    (namespace, now),
                ).fetchone()[0]
                total = self.db.execute(
                    "DELETE FROM memory_store WHERE namespace = ?", (namespace,)
                ).rowcount
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc
        return live, total

    def delete_expired(self, now: float) -> int:
        """Delete every expired entry; returns how many."""
        try:
            return self.db.execute(
                "DELETE FROM memory_store WHERE expires_at <= ?", (now,)
            ).rowcount
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

    # -- reads -------------------------------------------------------------------------------

    def get(
        self, key: str, namespace: str, now: float, *, count_access: bool = True
    ) -> Entry | None:
        """Return the live entry or None; counts the access unless told not to."""
        ident = (namespace, key)
        rows = self._rows
        try:
            row = rows.pop(ident, None)
            # A cached row is only trusted if nothing changed since the cache was known
            # current (see _current). A miss needs no check: the SELECT reads the current
            # row, and any change since makes the next hit empty the cache.
            if row is not None and not self._current():
                self._drop_rows()
                row = None
            if row is None:
                if not rows and self.db.settings.working_memory_bytes:
                    self._mark()  # before the read: what it reads is at least this current
                row = self.db.execute(_SQL_ROW, ident).fetchone()
                if row is None:
                    return None
                self._remember(ident, row)
            else:
                rows[ident] = row  # now the most recently used
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc
        return self._live_entry(row, key, namespace, now, count_access)

    def _remember(self, ident: tuple[str, str], row: Sequence[Any]) -> None:
        """Cache a row just read as the most recently used, the least recently used going
        first past the size limit."""
        rows = self._rows
        rows[ident] = row
        self._rows_bytes += _row_bytes(row)
        limit = self.db.settings.working_memory_bytes
        while self._rows_bytes > limit and rows:
            self._rows_bytes -= _row_bytes(rows.pop(next(iter(rows))))

    def get_many(self, keys: Sequence[str], namespace: str, now: float) -> dict[str, Entry]:
        """The live entries of ``keys`` (the missing and expired left out), in the order
        asked, each access counted. One read transaction: the rows are from one moment, the
        cached ones checked once and the others read a few hundred per statement."""
        found: dict[str, Any] = {}
        rows = self._rows
        own = not self.db.conn.in_transaction  # a reader's BEGIN: no write lock
        try:
            if own:
                self.db.execute("BEGIN")
            try:
                if not rows or not self._current():
                    self._drop_rows()
                missing = []
                for key in keys:
                    ident = (namespace, key)
                    row = rows.pop(ident, None)
                    if row is None:
                        missing.append(key)
                    else:
                        rows[ident] = found[key] = row
                for i in range(0, len(missing), _MANY_CHUNK):
                    chunk = missing[i : i + _MANY_CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    for row in self.db.execute(_SQL_ROWS.format(marks), (namespace, *chunk)):
                        self._remember((namespace, row[0]), row)
                        found[row[0]] = row
            finally:
                if own:
                    self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc
        return self._live_entries(found, keys, namespace, now)

    def _current(self) -> bool:
        """Whether the cached rows are still what the database holds: this handle neither
        changed nor rolled back anything since they were known current, and no other
        connection committed (the WAL-index header is as it was, which costs no system
        call; else ``PRAGMA data_version``, which costs a read transaction, decides)."""
        db = self.db
        version, changes, rollbacks = self._seen
        if db.conn.total_changes != changes or db.rollbacks != rollbacks:
            return False
        header = db.wal_header()
        if header is not None and header == self._seen_header:
            return True
        # Read after the header: if nobody committed up to now, that header is current.
        if db.data_version() != version:
            return False
        self._seen_header = header
        return True

    def _drop_rows(self) -> None:
        """Empty the working-memory tier and mark the database's state as its start."""
        self._rows.clear()
        self._rows_bytes = 0
        self._mark()

    def _mark(self) -> None:
        """Remember the database's state now as the one the cached rows are current at."""
        db = self.db
        header = db.wal_header()  # before data_version (see _current)
        version = db.data_version()
        self._seen = (version, db.conn.total_changes, db.rollbacks)
        self._seen_header = header

    @contextlib.contextmanager
    def writing(self, idents: Iterable[tuple[str, str]]) -> Iterator[None]:
        """Around this handle's own writes to the entries ``idents`` ((namespace, key)) and to
        nothing else in ``memory_store``: their cached rows go, the others stay valid. (Any
        other write, by this handle or another, empties the cache at the next read.)

        The others stay valid only if the cache was current before, no other connection
        committed meanwhile (data_version did not move) and nothing rolled back; a
        transaction around this that rolls back later empties it.
        """
        current = bool(self._rows) and self._current()
        version, _, rollbacks = self._seen
        try:
            yield
        finally:
            for ident in idents:
                row = self._rows.pop(ident, None)
                if row is not None:
                    self._rows_bytes -= _row_bytes(row)
        if current:
            db = self.db
            header = db.wal_header()  # before data_version (see _current)
            if db.data_version() == version and db.rollbacks == rollbacks:
                self._seen = (version, db.conn.total_changes, rollbacks)
                self._seen_header = header

    def _live_entries(
        self, found: dict[str, Any], keys: Sequence[str], namespace: str, now: float
    ) -> dict[str, Entry]:
        """The live entries of the rows ``found`` by key, in the order of ``keys``, each
        access counted."""
        entries = {}
        for key in keys:
            row = found.get(key)
            if row is not None:
                entry = self._live_entry(row, key, namespace, now, True)
                if entry is not None:
                    entries[key] = entry
        return entries

    def _live_entry(
        self, row: Sequence[Any], key: str, namespace: str, now: float, count_access: bool
    ) -> Entry | None:
        """The entry of a row just read (None if expired), its access counted if asked."""
        if row[10] is not None and row[10] <= now:  # expired: invisible at once
            return None
        if not count_access:
            return _entry(row, plain=self.db.codec.plain)
        slot = self._pending.get((namespace, key))
        if slot is None:
            if not self._pending:
                self._pending_since = now
            self._pending[(namespace, key)] = slot = [0, now, row[11]]
        slot[0] += 1
        slot[1] = now
        entry = _entry(row, int(slot[0]), now, self.db.codec.plain)
        settings = self.db.settings
        if (
            len(self._pending) >= settings.access_flush_every
            or now - self._pending_since >= settings.access_flush_seconds
        ):
            self.flush_access()
        return entry

    def working_memory(self) -> tuple[int, int]:
        """Rows held in the working-memory tier, and their estimated bytes."""
        return len(self._rows), self._rows_bytes

    def flush_access(self, *, wait: bool = False) -> int:
        """Write the buffered access counts; returns how many entries were touched. The
        cached rows get the same counts, so the working-memory tier stays valid.

        Best effort: if another process holds the write lock (``wait``: past the busy
        timeout), the disk is full or the file read-only, the counts stay buffered for the
        next flush and the read that called this goes on (``Database.best_effort``)."""
        if not self._pending:
            return 0
        return self.db.best_effort(self._flush_pending, wait=wait) or 0

    def _flush_pending(self) -> int:
        # Taken whole first: on PostgreSQL, threads that share the handle count accesses
        # meanwhile (into a new buffer), and a failed write puts these back.
        pending, self._pending = self._pending, {}
        items = list(pending.items())
        # By row id: an entry deleted and stored again meanwhile does not inherit the counts.
        rows = [(int(c), t, int(rid)) for _, (c, t, rid) in items]
        try:
            with self.writing(()):
                try:
                    if self.db.in_transaction:
                        self.db.executemany(self.SQL_FLUSH, rows)
                    else:
                        with self.db.transaction():
                            self.db.executemany(self.SQL_FLUSH, rows)
                except sqlite3.Error as exc:
                    raise translate_error(exc, self.db.path) from exc
                cached = self._rows
                for ident, (count, at, rid) in items:
                    row = cached.get(ident)
                    if row is not None and row[11] == rid:
                        accessed = at if row[8] is None else max(row[8], at)
                        cached[ident] = (*row[:8], accessed, row[9] + int(count), *row[10:])
        except BaseException:
            self._unflush(pending)
            raise
        if self.db.in_transaction:  # written in a transaction that may yet roll back
            self.db.on_rollback(lambda: self._unflush(pending))
        return len(rows)

    def _unflush(self, flushed: dict[tuple[str, str], list[float]]) -> None:
        """Access counts whose write was rolled back: buffered again (the accesses happened)."""
        for ident, (count, at, rid) in flushed.items():
            slot = self._pending.get(ident)
            if slot is None:
                if not self._pending:
                    self._pending_since = at
                self._pending[ident] = [count, at, rid]
            elif slot[2] == rid:  # (not an entry deleted and stored again since)
                slot[0] += count
                slot[1] = max(slot[1], at)

    def _where(
        self,
        namespace: str | None,
        pattern: str | None,
        tags: Sequence[str],
        now: float,
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
                clauses.append(self.SQL_GLOB)
                params.append(self._glob(pattern))
        for tag in tags:
            clauses.append(self.SQL_TAG)
            params.append(tag)
        return " AND ".join(clauses), params

    @staticmethod
    def _glob(pattern: str) -> str:
        """The GLOB pattern as ``SQL_GLOB`` takes it."""
        return pattern

    def list(
        self,
        namespace: str | None,
        pattern: str | None,
        tags: Sequence[str],
        limit: int | None,
        offset: int,
        now: float,
    ) -> list[Entry]:
        """Live entries matching the filters, ordered by key (then namespace)."""
        self.flush_access()
        where, params = self._where(namespace, pattern, tags, now)
        order = "key" if namespace is not None else "key, namespace"
        sql = f"SELECT {_COLUMNS} FROM memory_store WHERE {where} ORDER BY {order}"
        sql += " LIMIT ? OFFSET ?"
        params += [self.NO_LIMIT if limit is None else limit, offset]
        try:
            rows = self.db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc
        return [_entry(r, plain=self.db.codec.plain) for r in rows]

    def count(
        self, namespace: str | None, pattern: str | None, tags: Sequence[str], now: float
    ) -> int:
        """How many live entries match the filters."""
        where, params = self._where(namespace, pattern, tags, now)
        try:
            return int(
                self.db.execute(
                    f"SELECT count(*) FROM memory_store WHERE {where}", params
                ).fetchone()[0]
            )
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

    def namespaces(self, now: float) -> dict[str, int]:
        """Live entry count per namespace, sorted by name."""
        try:
            rows = self.db.execute(
                f"SELECT namespace, count(*) FROM memory_store WHERE {_LIVE} "
                "GROUP BY namespace ORDER BY namespace",
                (now,),
            ).fetchall()
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc
        return {r[0]: r[1] for r in rows}

    def has_namespace(self, namespace: str) -> bool:
        """Whether any row (live or expired) is in the namespace."""
        return (
            self.db.execute(
                "SELECT 1 FROM memory_store WHERE namespace = ? LIMIT 1", (namespace,)
            ).fetchone()
            is not None
        )

    def iter_entries(self, namespace: str | None, now: float) -> Iterator[Entry]:
        """Every live entry (of one namespace, or all), ordered by namespace and key."""
        self.flush_access()
        where, params = self._where(namespace, None, (), now)
        try:
            cur = self.db.execute(
                f"SELECT {_COLUMNS} FROM memory_store WHERE {where} ORDER BY namespace, key",
                params,
            )
            for row in cur:
                yield _entry(row, plain=self.db.codec.plain)
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

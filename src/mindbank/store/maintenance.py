"""Whole-database operations: backup and restore, read-only queries, stats, analytics,
integrity checks, optimize and vacuum."""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mindbank.errors import (
    NotADatabaseError,
    ReadOnlyQueryError,
    SchemaError,
    StoreError,
    ValidationError,
)
from mindbank.records import CheckReport, HotKey, NamespaceUsage, QueryResult, Stats, UsageReport
from mindbank.store.compression import register as register_codec
from mindbank.store.database import (
    Database,
    migration_problems,
    new_generation,
    translate_error,
)
from mindbank.store.schema import APPLICATION_ID, MIGRATIONS
from mindbank.store.snapshot import snapshot_path

__all__ = [
    "ReadOnlyConnection",
    "analytics",
    "backup",
    "check",
    "optimize",
    "restore",
    "stats",
    "vacuum",
    "verify_backup",
]

# Actions a read-only query may take (sqlite3 authorizer action codes).
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))
# (data_version: FTS5 asks it when it opens its table.)
_READ_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "foreign_key_list",
    "data_version",
}


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None):  # type: ignore[no-untyped-def]
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    # FTS5 declares its table's columns when it opens it, which SQLite's authorizer sees as an
    # update of sqlite_master; nothing can be written here (mode=ro and query_only as well).
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and src is None:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class ReadOnlyConnection:
    """A second connection that can only read: opened ``mode=ro``, ``query_only`` on, and an
    authorizer that denies every action but reading, whatever the statement's spelling. A
    statement runs at most ``timeout`` seconds and returns at most ``max_rows`` rows."""

    def __init__(
        self, path: Path, busy_timeout: float, timeout: float = 10.0, max_rows: int = 100_000
    ):
        self.path = path
        self.timeout = timeout
        self.max_rows = max_rows
        try:
            self.conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=busy_timeout
            )
            self.conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            raise translate_error(exc, path) from exc
        register_codec(self.conn)  # the full-text index's content view reads through mb_plain
        self.conn.set_authorizer(_authorize)

    def query(self, sql: str, params: Any = ()) -> QueryResult:
        """Run one read-only statement.

        Raises:
            ReadOnlyQueryError: it would write, is invalid, ran past the time limit, or has
                more rows than the limit.
        """
        deadline = time.monotonic() + self.timeout
        self.conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        try:
            cur = self.conn.execute(sql, params)
            rows = tuple(tuple(r) for r in cur.fetchmany(self.max_rows + 1))
            if len(rows) > self.max_rows:
                raise ReadOnlyQueryError(
                    f"the result has more than {self.max_rows:,} rows; add a LIMIT (or raise "
                    "MINDBANK_QUERY_MAX_ROWS)"
                )
        except sqlite3.DatabaseError as exc:
            msg = str(exc)
            if "interrupted" in msg:
                raise ReadOnlyQueryError(
                    f"the query ran past {self.timeout:g} s and was stopped (raise "
                    "MINDBANK_QUERY_TIMEOUT, or narrow it)"
                ) from None
            if "not authorized" in msg or "readonly" in msg or "read-only" in msg:
                raise ReadOnlyQueryError(
                    f"query() only reads; this statement would write or is not allowed ({msg})"
                ) from None
            if isinstance(exc, sqlite3.OperationalError) and "locked" in msg:
                raise translate_error(exc, self.path) from exc
            raise ReadOnlyQueryError(f"invalid query: {msg}") from None
        except (sqlite3.ProgrammingError, sqlite3.Warning) as exc:
            raise ReadOnlyQueryError(f"invalid query: {exc}") from None
        finally:
            self.conn.set_progress_handler(None, 0)
            self.conn.rollback()
        columns = tuple(d[0] for d in cur.description or ())
        return QueryResult(columns, rows)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def stats(db: Database, now: float) -> Stats:
    """Size of the files, rows per table, live entries per namespace."""
    path = db.path
    wal = Path(f"{path}-wal")
    try:
        tables = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        counts = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        ns = dict(
            db.execute(
                "SELECT namespace, count(*) FROM memory_store "
                "WHERE expires_at IS NULL OR expires_at > ? GROUP BY namespace ORDER BY namespace",
                (now,),
            ).fetchall()
        )
        expired = db.execute(
            "SELECT count(*) FROM memory_store WHERE expires_at <= ?", (now,)
        ).fetchone()[0]
    except sqlite3.Error as exc:
        raise translate_error(exc, path) from exc
    return Stats(
        path=str(path),
        file_bytes=path.stat().st_size,
        wal_bytes=wal.stat().st_size if wal.exists() else 0,
        schema_version=db.schema_version(),
        tables=counts,
        namespaces=ns,
        expired_entries=expired,
    )


def analytics(db: Database, since: float, now: float, top: int) -> UsageReport:
    """Usage by namespace over the window, and the most-accessed keys touched in it."""
    live = "(expires_at > ?1 OR expires_at IS NULL)"
    size = "octet_length(value)" if db.dialect == "postgres" else "length(CAST(value AS BLOB))"
    try:
        rows = db.execute(
            *db.numbered(
                f"SELECT namespace, count(*), sum({size}), sum(access_count), "
                "count(*) FILTER (WHERE created_at >= ?2), "
                "count(*) FILTER (WHERE updated_at >= ?2), "
                "count(*) FILTER (WHERE accessed_at >= ?2) "
                f"FROM memory_store WHERE {live} GROUP BY namespace ORDER BY namespace",
                (now, since),
            )
        ).fetchall()
        hot = db.execute(
            *db.numbered(
                "SELECT key, namespace, access_count, accessed_at FROM memory_store "
                f"WHERE accessed_at >= ?2 AND {live} "
                "ORDER BY access_count DESC, accessed_at DESC LIMIT ?3",
                (now, since, top),
            )
        ).fetchall()
    except sqlite3.Error as exc:
        raise translate_error(exc, db.path) from exc
    return UsageReport(
        since=since,
        until=now,
        namespaces=tuple(NamespaceUsage(r[0], *(int(v or 0) for v in r[1:])) for r in rows),
        hot_keys=tuple(HotKey(*r) for r in hot),
    )


def check(db: Database) -> CheckReport:
    """Integrity check, foreign keys, application id, migration hashes, witness chain."""
    problems: list[str] = []
    try:
        for (msg,) in db.execute("PRAGMA integrity_check"):
            if msg != "ok":
                problems.append(f"integrity: {msg}")
        for row in db.execute("PRAGMA foreign_key_check"):
            problems.append(f"foreign key: table {row[0]} rowid {row[1]} -> {row[2]}")
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            problems.append(f"application_id is {app_id:#x}, expected {APPLICATION_ID:#x}")
        applied = db.applied_migrations()
    except sqlite3.Error as exc:
        problems.append(f"sqlite: {exc}")
        return CheckReport(tuple(problems), 0)
    known = {m.version: m.sha256 for m in MIGRATIONS}
    problems += migration_problems(known, {v: sha for v, (_, sha, _) in applied.items()})
    if set(known) <= set(applied):  # the witness chain's tables are all there
        from mindbank.store import witness

        problems += witness.verify_database(db).problems()
    return CheckReport(tuple(problems), max(applied, default=0))


def optimize(db: Database) -> None:
    """Update the query planner's statistics and checkpoint the WAL (a lock held past the busy
    timeout is a DatabaseLockedError)."""
    db.run("PRAGMA optimize")
    db.run("PRAGMA wal_checkpoint(PASSIVE)")


def vacuum(db: Database) -> tuple[int, int]:
    """VACUUM and truncate the WAL; returns (bytes before, bytes after) of file + WAL."""
    wal = Path(f"{db.path}-wal")

    def size() -> int:
        return db.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    before = size()
    try:
        db.conn.execute("VACUUM")
        db.start_generation()
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise translate_error(exc, db.path) from exc
    return before, size()


_TMP = ".mindbank-tmp"


def _tmp_path(target: Path) -> Path:
    """A temporary file next to ``target``, named with this process's id, after removing
    the ones that processes no longer alive left there (a backup killed half way)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for old in target.parent.glob(f".{target.name}.*{_TMP}*"):
        try:
            pid = int(old.name[len(target.name) + 2 :].split(".", 1)[0])
        except ValueError:
            continue
        if not _alive(pid):
            old.unlink(missing_ok=True)
    return target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _copy_into(src: sqlite3.Connection, path: Path, *, generation: bool = False) -> None:
    """Copy a whole database into the new file ``path`` (removed again if that fails);
    ``generation``: the copy starts a new generation (see ``Database.generation``)."""
    try:
        dst = sqlite3.connect(path)
        try:
            src.backup(dst)
            if generation:
                dst.execute(f"PRAGMA user_version = {new_generation()}")
            # A backup is one self-contained file: no WAL beside it.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    except BaseException:
        for leftover in (path, Path(f"{path}-journal")):
            leftover.unlink(missing_ok=True)
        raise


def _copy(src: sqlite3.Connection, target: Path) -> None:
    """Copy a whole database into a new file next to ``target``, then rename it into place."""
    tmp = _tmp_path(target)
    _copy_into(src, tmp)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def backup(db: Database, target: Path, *, overwrite: bool = False) -> int:
    """Online, consistent copy of the database to ``target``; returns its size in bytes."""
    if target.exists():
        if not overwrite:
            raise ValidationError(f"{target} exists; choose another path or overwrite it")
        verify_backup(target)  # never overwrite something that is not a mindbank database
    if target.resolve() == db.path.resolve():
        raise ValidationError("cannot back up a database onto itself")
    try:
        _copy(db.conn, target)
    except sqlite3.Error as exc:
        raise translate_error(exc, target) from exc
    return target.stat().st_size


def backup_by_copy(copy: Callable[[str], object], target: Path, *, overwrite: bool) -> int:
    """A backup made by ``copy(path)`` into a new SQLite file (from PostgreSQL), renamed onto
    ``target`` when complete; returns its size in bytes."""
    if target.exists():
        if not overwrite:
            raise ValidationError(f"{target} exists; choose another path or overwrite it")
        verify_backup(target)  # never overwrite something that is not a mindbank database
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        copy(str(tmp))
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            conn.close()
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
    return target.stat().st_size


def verify_backup(path: Path) -> int:
    """Check that ``path`` is a sound mindbank database this version can open; returns its
    schema version."""
    if not path.is_file():
        raise NotADatabaseError(f"{path} does not exist or is not a file")
    # SQLite reads the header (never a descriptor of ours: ``path`` may be a live database
    # this process has open, and closing one would drop the process's locks on it).
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise translate_error(exc, path) from exc
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            raise NotADatabaseError(f"{path} is not a mindbank database")
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            raise NotADatabaseError(f"{path} is damaged: {ok}")
        version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0
    except sqlite3.Error as exc:
        raise translate_error(exc, path) from exc
    finally:
        conn.close()
    newest = max(m.version for m in MIGRATIONS)
    if version > newest:
        raise SchemaError(f"{path} has schema version {version}; this mindbank knows {newest}")
    return int(version)


def restore(source: Path, target: Path) -> None:
    """Replace the database at ``target`` with the backup ``source``.

    The backup is verified first; a ``target`` that exists but is not a mindbank database is
    refused. The copy goes through SQLite's backup API into the live target, so other
    connections see either the old or the new content, never a mix.
    """
    verify_backup(source)
    if target.exists() and target.stat().st_size > 0:
        verify_backup(target)
    # The vector snapshot described the database being replaced: it must not outlive it.
    snapshot_path(target).unlink(missing_ok=True)
    if source.resolve() == target.resolve():
        raise ValidationError("the backup and the target are the same file")
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise translate_error(exc, source) from exc
    fresh = _tmp_path(target)
    try:
        # The backup, in a new generation: handles that keep derived state (the vector index
        # and its snapshot, the ReasoningBank's items, caches) see that the database was
        # replaced in the same commit that replaces it, whatever its log numbers say.
        _copy_into(src, fresh, generation=True)
        if not target.exists() or target.stat().st_size == 0:
            os.replace(fresh, target)
            return
        new = sqlite3.connect(f"{fresh.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(target, timeout=5.0)
            try:
                new.backup(dst)
            finally:
                dst.close()
        finally:
            new.close()
    except sqlite3.Error as exc:
        raise StoreError(f"restore into {target} failed: {exc}") from exc
    finally:
        src.close()
        fresh.unlink(missing_ok=True)

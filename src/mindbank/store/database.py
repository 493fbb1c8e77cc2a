"""One SQLite connection, opened safely: identification, pragmas, migrations, transactions.

Opening never writes to a file that is not a mindbank database: the SQLite header and the
``application_id`` are checked first. Transactions are ``BEGIN IMMEDIATE`` (a writer takes the
write lock up front, so it waits on the busy timeout instead of failing on lock upgrade) and
nest as savepoints.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import os
import re
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mindbank.config import Settings
from mindbank.errors import (
    DatabaseLockedError,
    MindbankError,
    NotADatabaseError,
    SchemaError,
    StoreError,
    ValidationError,
    shown,
)
from mindbank.store.compression import register as register_codec
from mindbank.store.digests import register as register_digests
from mindbank.store.schema import APPLICATION_ID, MIGRATIONS
from mindbank.store.walindex import header_reader

if TYPE_CHECKING:
    from mindbank.records import MigrationInfo

__all__ = [
    "Database",
    "SlowQueryHook",
    "migration_problems",
    "new_generation",
    "qmarks",
    "translate_error",
]

T = TypeVar("T")

SlowQueryHook = Callable[[str, float], None]
"""Called with (sql, milliseconds) for each statement over the slow-query threshold."""


def translate_error(exc: sqlite3.Error, path: str | Path = "") -> StoreError:
    """Turn an sqlite3 exception into the matching :mod:`mindbank.errors` class."""
    msg = str(exc)
    where = f" ({path})" if path else ""
    if "locked" in msg or "busy" in msg:
        return DatabaseLockedError(
            f"database is locked by another process{where}; it held the lock past the busy "
            "timeout (raise it with MINDBANK_BUSY_TIMEOUT)"
        )
    if "not a database" in msg or "malformed" in msg:
        return NotADatabaseError(f"not a mindbank database{where}: {msg}")
    return StoreError(f"{msg}{where}")


#: How long a read waits for the write lock to write its bookkeeping (access counts, ...)
#: before it puts it off: a read never waits out the whole busy timeout for it.
_BOOKKEEPING_WAIT_MS = 20


def _full_or_read_only(exc: MindbankError) -> bool:
    text = str(exc)
    return any(
        s in text for s in ("disk is full", "readonly database", "read-only", "disk I/O error")
    )


def qmarks(sql: str, params: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """A statement with SQLite's numbered parameters (``?1``, ``?2``: the N-th, usable more
    than once) and its parameters, as plain ``?`` parameters in order. Python 3.12's sqlite3
    warns on numbered parameters given as a sequence (it takes them for named ones), and 3.14
    refuses them."""
    plain, order = _numbered(sql)
    if not order:  # plain ? already
        return sql, tuple(params)
    return plain, tuple(params[n - 1] for n in order)


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> tuple[str, tuple[int, ...]]:
    return _NUMBERED.sub("?", sql), tuple(int(n) for n in _NUMBERED.findall(sql))


_NUMBERED = re.compile(r"\?(\d+)")


def new_generation() -> int:
    """A new generation number (see :meth:`Database.generation`): random, never 0."""
    return secrets.randbelow(2**31 - 2) + 1


def migration_problems(known: Mapping[int, str], applied: Mapping[int, str]) -> list[str]:
    """What is wrong with the migrations applied (version -> sha256) against the ones this
    mindbank knows: unknown ones, altered ones, missing ones."""
    problems = []
    for version, sha in sorted(applied.items()):
        if version not in known:
            problems.append(f"migration {version} is unknown to this mindbank")
        elif known[version] != sha:
            problems.append(f"migration {version} hash mismatch")
    missing = sorted(set(known) - set(applied))
    if missing:
        problems.append(f"migrations not applied: {missing} (run `mindbank db migrate`)")
    return problems


class Transactions(abc.ABC):
    """Transactions with nested savepoints, for both databases (SQLite and PostgreSQL).

    A subclass has ``conn`` (the driver's connection), ``run`` (a statement, its errors
    translated into mindbank's), ``_depth`` (0 outside), ``BEGIN`` and ``_abandon``.
    """

    BEGIN = "BEGIN"
    #: Which database: "sqlite" or "postgres" (what a repository asks where the SQL differs).
    dialect = "sqlite"
    #: Whether writes are recorded in the witness chain.
    witnessed = True
    conn: Any
    _depth: int
    #: The handle's lock (see mindbank.store.locking): a transaction holds it to its end, so
    #: another thread sharing the handle waits for it instead of joining it.
    lock: Any
    #: How many transactions and savepoints this handle rolled back: what a cache of rows read
    #: through it compares, since a rollback leaves the database's change counters as they were.
    rollbacks: int = 0

    @abc.abstractmethod
    def run(self, sql: str, params: Any = ()) -> Any:
        """Run one statement, the driver's errors translated into mindbank's."""

    @abc.abstractmethod
    def _abandon(self) -> None:
        """Roll back whatever a failed BEGIN or COMMIT may have left open."""

    @property
    def in_transaction(self) -> bool:
        """True inside ``transaction()``."""
        return self._depth > 0

    @property
    def _undo(self) -> list[list[Callable[[], None]]]:
        """Per open level (the transaction, then its savepoints): what to call if it rolls
        back."""
        stack: list[list[Callable[[], None]]] | None = self.__dict__.get("_undo_stack")
        if stack is None:
            stack = self.__dict__["_undo_stack"] = []
        return stack

    def best_effort(self, fn: Callable[[], T], *, wait: bool = False) -> T | None:
        """Run ``fn``, a bookkeeping write that a read makes (access counts, feedback on use,
        search impressions): if another process holds the write lock (``wait``: past the
        busy timeout; else past a few milliseconds), the disk is full or the file read-only,
        return None instead of failing the read. The caller keeps what it could not write
        for a later try, or lets it go."""
        if self.in_transaction:
            return fn()  # the lock is ours already; a failure here is the transaction's
        try:
            if wait:
                return fn()
            with self._short_wait():
                return fn()
        except MindbankError as exc:
            if isinstance(exc, DatabaseLockedError) or _full_or_read_only(exc):
                return None
            raise

    @contextlib.contextmanager
    def _short_wait(self) -> Iterator[None]:
        """Wait at most a few milliseconds for another process's lock (SQLite overrides)."""
        yield

    def on_rollback(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` if the innermost open transaction or savepoint rolls back (or an
        enclosing one does later): for state kept outside the database that its work
        changed. Nothing happens outside a transaction."""
        stack = self._undo
        if stack:
            stack[-1].append(fn)

    def _rolled_back(self, undo: list[Callable[[], None]]) -> None:
        self.rollbacks += 1
        for fn in reversed(undo):
            with contextlib.suppress(Exception):
                fn()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction; nested calls are savepoints that roll back on their own. The
        handle's lock is held until it ends."""
        with self.lock, self._transaction():
            yield

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        depth = self._depth
        name = f"mb_sp{depth}"
        try:
            self.run(self.BEGIN if depth == 0 else f"SAVEPOINT {name}")
        except MindbankError:
            if depth == 0:  # a BEGIN that began and then failed (a lock not granted)
                self.rollbacks += 1
                self._abandon()
            raise
        self._depth = depth + 1
        self._undo.append([])
        try:
            yield
        except BaseException:
            self._depth = depth
            undo = self._undo.pop()
            # The error that got us here is the one to raise, even if the rollback fails too
            # (a connection the server closed): the server rolls back what it never committed.
            with contextlib.suppress(Exception):
                if depth == 0:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
            self._rolled_back(undo)
            raise
        self._depth = depth
        undo = self._undo.pop()
        try:
            self.run("COMMIT" if depth == 0 else f"RELEASE {name}")
        except MindbankError:
            if depth == 0:
                self._abandon()
                self._rolled_back(undo)
            else:
                self._undo[-1].extend(undo)
            raise
        if depth > 0:  # the enclosing level may still roll this back
            self._undo[-1].extend(undo)


class Database(Transactions):
    """A migrated connection to one mindbank SQLite file.

    ``execute`` is the connection's own method unless a slow-query threshold is set, so the
    hot paths pay nothing for the hook when it is off.
    """

    BEGIN = "BEGIN IMMEDIATE"  # a writer takes the lock at once, not at its first write
    conn: sqlite3.Connection

    def __init__(
        self,
        path: str | Path,
        settings: Settings | None = None,
        *,
        migrate: bool = True,
        clock: Callable[[], float] = time.time,
    ):
        self.path = Path(path)
        self.settings = settings or Settings()
        self.clock = clock
        self.lock = threading.RLock()
        self._wal_reader: Callable[[], bytes] | None = None
        self._wal_tried = False
        self._depth = 0
        self._slow_hooks: list[SlowQueryHook] = []
        self._in_slow_hook = False
        _check_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Threads may share the handle: its lock (mindbank.store.locking) lets one in at
            # a time, which is what SQLite's own check (same thread only) stood for.
            self.conn = sqlite3.connect(
                self.path,
                timeout=self.settings.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise translate_error(exc, self.path) from exc
        self.execute: Callable[..., sqlite3.Cursor] = self._execute
        register_digests(self.conn)
        self.codec = register_codec(self.conn)
        self.actor = self.settings.actor or f"{socket.gethostname()}:{os.getpid()}"
        self.conn.create_function("mb_actor", 0, lambda: self.actor)
        self.conn.create_function("mb_now", 0, self.clock)
        try:
            self._identify()
            self.conn.execute("PRAGMA foreign_keys = ON")
            mode = self._wal()
            if mode != "wal":
                raise StoreError(f"could not switch {self.path} to WAL mode (got {mode})")
            self.conn.execute(f"PRAGMA synchronous = {self.settings.synchronous.upper()}")
            if migrate:
                self.migrate()
        except sqlite3.Error as exc:
            self.conn.close()
            raise translate_error(exc, self.path) from exc
        except BaseException:
            self.conn.close()
            raise
        if self.settings.slow_query_ms is not None:
            self.execute = self._execute_timed

    # -- identification and migrations -------------------------------------------------------

    def _wal(self) -> str:
        """Switch to WAL (a no-op once the file is in WAL). Processes opening a new file at
        once can get SQLITE_BUSY here without SQLite's busy handler being asked (changing the
        journal mode needs the exclusive lock): retry until the busy timeout has passed."""
        deadline = time.monotonic() + self.settings.busy_timeout
        while True:
            try:
                return str(self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _identify(self) -> None:
        # SQLite reads the header here (and writes nothing): a file that is not SQLite fails.
        try:
            app_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if "not a database" not in str(exc):
                raise
            raise NotADatabaseError(
                f"{self.path} is not a mindbank database; it was left untouched"
            ) from None
        if app_id == APPLICATION_ID:
            return
        if app_id != 0:
            raise NotADatabaseError(
                f"{self.path} is an SQLite database of another application "
                f"(application_id {app_id:#x}); it was left untouched"
            )
        names = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}
        if names and "schema_migrations" not in names:
            raise NotADatabaseError(
                f"{self.path} is an SQLite database but not a mindbank database "
                f"(it has tables {', '.join(sorted(names)[:5])}); it was left untouched"
            )

    def applied_migrations(self) -> dict[int, tuple[str, str, float]]:
        """Return ``{version: (name, sha256, applied_at)}`` of the applied migrations."""
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not exists:
            return {}
        rows = self.conn.execute(
            "SELECT version, name, sha256, applied_at FROM schema_migrations"
        ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def schema_version(self) -> int:
        """The highest applied migration (0 for a blank database)."""
        return max(self.applied_migrations(), default=0)

    def _verify(self, applied: dict[int, tuple[str, str, float]]) -> list[int]:
        known = {m.version: m for m in MIGRATIONS}
        newest = max(known)
        too_new = [v for v in applied if v > newest]
        if too_new:
            raise SchemaError(
                f"{self.path} has schema version {max(too_new)}, written by a newer mindbank "
                f"(this one knows up to {newest}); upgrade mindbank to open it"
            )
        for version, (_, sha, _) in applied.items():
            if known[version].sha256 != sha:
                raise SchemaError(
                    f"{self.path}: migration {version} was applied from different SQL than this "
                    "mindbank ships (hash mismatch); the database or the package was altered"
                )
        return [v for v in known if v not in applied]

    def migrate(self) -> list[int]:
        """Apply every pending migration, each in its own transaction.

        Returns:
            the versions applied now (empty when the schema was current).

        Raises:
            SchemaError: the database is newer than this mindbank, or a migration was altered.
        """
        if not self._verify(self.applied_migrations()):
            return []
        done: list[int] = []
        for migration in MIGRATIONS:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                # Re-read under the write lock: another process may have migrated meanwhile.
                applied = self.applied_migrations()
                self._verify(applied)
                if migration.version in applied:
                    self.conn.execute("COMMIT")
                    continue
                if not applied:
                    self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    self.conn.execute(
                        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                        "name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at REAL NOT NULL)"
                    )
                for statement in migration.statements:
                    self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                    (migration.version, migration.name, migration.sha256, self.clock()),
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            done.append(migration.version)
        return done

    def migration_status(self) -> list[MigrationInfo]:
        """Every known migration with its applied time (``None`` = pending)."""
        from mindbank.records import MigrationInfo

        applied = self.applied_migrations()
        return [
            MigrationInfo(m.version, m.name, m.sha256, applied.get(m.version, ("", "", None))[2])
            for m in MIGRATIONS
        ]

    # -- statements and transactions ---------------------------------------------------------

    def _execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """``conn.execute``; a parameter SQLite cannot bind (an integer beyond 64 bits, text
        that is not valid Unicode) is the caller's input: a :class:`ValidationError`."""
        try:
            return self.conn.execute(sql, params)
        except OverflowError:
            raise ValidationError(
                "a number is out of range (beyond SQLite's 64-bit integers)"
            ) from None
        except UnicodeEncodeError:
            raise ValidationError(
                "a text is not valid Unicode (a lone surrogate: bytes that were not UTF-8?)"
            ) from None

    def _execute_timed(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        start = time.perf_counter()
        cur = self._execute(sql, params)
        ms = (time.perf_counter() - start) * 1000.0
        threshold = self.settings.slow_query_ms
        if threshold is not None and ms >= threshold and not self._in_slow_hook:
            self._report_slow(sql, ms)
        return cur

    def _report_slow(self, sql: str, ms: float) -> None:
        self._in_slow_hook = True
        try:
            self.conn.execute(
                "INSERT INTO events (type, source, data, timestamp) VALUES (?, ?, json(?), ?)",
                (
                    "slow_query",
                    "mindbank",
                    _json_text({"sql": sql, "ms": round(ms, 3)}),
                    self.clock(),
                ),
            )
            for hook in self._slow_hooks:
                hook(sql, ms)
        finally:
            self._in_slow_hook = False

    def set_slow_query(self, threshold_ms: float | None, hook: SlowQueryHook | None) -> None:
        """Set the slow-query threshold and add a hook (``None`` threshold turns timing off)."""
        from dataclasses import replace

        if threshold_ms is not None and (
            isinstance(threshold_ms, bool)
            or not isinstance(threshold_ms, int | float)
            or not 0 <= threshold_ms <= 1e9
        ):
            raise ValidationError(f"the slow-query threshold must be milliseconds >= 0, got "
                                  f"{shown(threshold_ms)}")  # fmt: skip
        if hook is not None and not callable(hook):
            raise ValidationError("the slow-query hook must be a function of (sql, ms)")
        self.settings = replace(self.settings, slow_query_ms=threshold_ms)
        if hook is not None:
            self._slow_hooks.append(hook)
        self.execute = self._execute if threshold_ms is None else self._execute_timed

    def run(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """``execute``, with SQLite's errors translated into mindbank's."""
        try:
            return self.execute(sql, params)
        except sqlite3.Error as exc:
            raise translate_error(exc, self.path) from exc

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        """Run one statement for many parameter rows (timed like ``execute``)."""
        if self.settings.slow_query_ms is None:
            return self.conn.executemany(sql, rows)
        start = time.perf_counter()
        cur = self.conn.executemany(sql, rows)
        ms = (time.perf_counter() - start) * 1000.0
        if ms >= self.settings.slow_query_ms and not self._in_slow_hook:
            self._report_slow(sql, ms)
        return cur

    def _abandon(self) -> None:
        """After a failed COMMIT: roll back what is still open."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def wal_header(self) -> bytes | None:
        """The two copies of the WAL-index header (see :mod:`mindbank.store.walindex`): bytes
        that every commit by any connection changes before it returns. None when they cannot
        be read that way; then only ``PRAGMA data_version`` tells."""
        reader = self._wal_reader
        if reader is None:
            if self._wal_tried:
                return None
            self._wal_tried = True
            reader = self._wal_reader = header_reader(self.path)
            if reader is None:
                return None
        return reader()

    @staticmethod
    def numbered(sql: str, params: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """A statement with numbered parameters (``?1``, usable twice) as this database runs
        it best: plain ``?`` here (see :func:`qmarks`)."""
        return qmarks(sql, params)

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: it moves when another connection commits."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def generation(self) -> int:
        """The database's generation: 0 from its creation; a new random number each time it
        is replaced or rewritten as a whole (a restore, a reembed, a vacuum), set in the same
        commit. What is derived from the database and kept outside it (the vector index and
        its snapshot, the ReasoningBank's items, caches) is tied to a generation and dropped
        when it changes: log sequence numbers alone cannot say that a restore took them back
        or reused them. Kept in the header's ``user_version`` (a read costs about 1.5 µs)."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def start_generation(self) -> int:
        """Start a new generation (inside the transaction that rewrites the data, if any)."""
        generation = new_generation()
        self.run(f"PRAGMA user_version = {generation}")
        return generation

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read in one snapshot until the block ends: a read transaction (WAL: writers go on,
        this connection sees the database as of its first read; it takes no write lock, so
        it never waits for one). Nothing inside may write."""
        with self.lock:
            if self.in_transaction:
                yield
                return
            self.run("BEGIN")
            self._depth = 1
            try:
                yield
            finally:
                self._depth = 0
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def _short_wait(self) -> Iterator[None]:
        wait_ms = int(self.settings.busy_timeout * 1000)
        short = min(wait_ms, _BOOKKEEPING_WAIT_MS)
        if short == wait_ms:
            yield
            return
        self.conn.execute(f"PRAGMA busy_timeout = {short}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {wait_ms}")

    def table_names(self) -> list[str]:
        """The database's tables, by name."""
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
        return [r[0] for r in rows]

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with contextlib.suppress(sqlite3.ProgrammingError):
            self.conn.close()


def _check_file(path: Path) -> None:
    """Refuse a directory before SQLite can touch it. (Whether a file is an SQLite database
    is for SQLite itself to say, on the first read: see :meth:`Database._identify`. mindbank
    never opens the database file, its ``-wal`` or its ``-shm`` with a descriptor of its own;
    see docs/memory-store.md, "One process, many connections".)"""
    if path.is_dir():
        raise NotADatabaseError(f"{path} is a directory, not a mindbank database")


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

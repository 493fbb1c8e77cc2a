"""The change feed: read the change log after a point, or subscribe to it.

Every store and delete of an entry, by any process, is appended to ``change_log`` by triggers
(migration 13) with who made it (``MINDBANK_ACTOR``, default ``host:pid``) and when. A reader
asks for the changes after the last sequence number it saw, so it never misses one and never
sees one twice; a **named cursor** keeps that number in the database, so a subscriber that
stops and comes back later catches up where it left off. Changes older than
``change_log_days`` are pruned by ``cleanup``; asking for a pruned range raises
:class:`~mindbank.errors.ChangeLogGapError` instead of silently skipping.

:class:`Subscription` polls on its own connection, in a thread: every ``interval`` seconds
(0.1 by default) it asks SQLite whether anything was committed (``PRAGMA data_version``) and
only then reads the log, so an idle subscription costs one tiny query per interval.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mindbank.config import Settings
from mindbank.errors import ChangeLogGapError
from mindbank.records import Change
from mindbank.store.changes import ChangeRepo
from mindbank.store.database import Database
from mindbank.store.postgres import is_url

__all__ = ["Subscription", "read_changes"]

BATCH = 1000


def read_changes(repo: ChangeRepo, since: int, namespace: str | None, limit: int) -> list[Change]:
    """Changes after ``since``.

    Raises:
        ChangeLogGapError: changes after ``since`` were pruned.
    """
    pruned = repo.pruned_upto()
    if since < pruned:
        raise ChangeLogGapError(
            f"changes after #{since} were pruned (the log keeps #{pruned + 1} on); "
            "read the entries again and subscribe from the head"
        )
    return repo.since(since, namespace, limit)


class Subscription:
    """Calls ``callback(change)`` for each change after ``since``, in order, from a thread.

    Use as a context manager or call :meth:`close`. ``position`` is the last sequence number
    delivered; with a ``name`` it is also kept in the database after every batch.
    ``error`` holds the exception that stopped it, if any (e.g. a callback that raised).
    """

    def __init__(
        self,
        path: Path | str,
        settings: Settings,
        callback: Callable[[Change], None],
        *,
        since: int,
        namespace: str | None,
        name: str | None,
        interval: float,
        clock: Callable[[], float],
    ):
        self.position = since
        self.error: BaseException | None = None
        self._path, self._settings, self._clock = path, settings, clock
        self._callback, self._namespace, self._name = callback, namespace, name
        self._interval = interval
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mindbank-subscription", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if is_url(self._path):
            self._run_pg()
            return
        db = Database(Path(self._path), self._settings, migrate=False, clock=self._clock)
        try:
            repo = ChangeRepo(db)
            seen_version = None
            while not self._stop.is_set():
                version = db.data_version()
                if version != seen_version:
                    seen_version = version
                    self._drain(db, repo)
                self._caught_up.set()
                self._stop.wait(self._interval)
        except BaseException as exc:  # kept for the owner: a thread has no one else to tell
            self.error = exc
            self._caught_up.set()
        finally:
            db.close()

    def _run_pg(self) -> None:
        """On PostgreSQL: LISTEN on this tenant's change channel, and read the log (row-level
        security shows this tenant's changes only) when told."""
        from mindbank.store.pg_memory import PgChangeRepo
        from mindbank.store.postgres import PgDatabase

        db: Any = PgDatabase(str(self._path), self._settings, migrate=False, clock=self._clock)
        try:
            with db.connection() as conn:  # LISTEN holds its connection
                db.listen(conn)
                repo = PgChangeRepo(db)
                self._drain(db, repo)
                self._caught_up.set()
                while not self._stop.is_set():
                    told = False
                    for _ in conn.notifies(timeout=self._interval, stop_after=1):
                        told = True
                    if told:
                        self._drain(db, repo)
                conn.execute("UNLISTEN *")
        except BaseException as exc:  # kept for the owner: a thread has no one else to tell
            self.error = exc
            self._caught_up.set()
        finally:
            db.close()

    def _drain(self, db: Any, repo: ChangeRepo) -> None:
        while True:
            batch = read_changes(repo, self.position, self._namespace, BATCH)
            if not batch:
                return
            for change in batch:
                self._callback(change)
                self.position = change.seq
            if self._name is not None:
                with db.transaction():
                    repo.set_cursor(self._name, self.position, self._clock())
            if len(batch) < BATCH:
                return

    def wait_caught_up(self, timeout: float = 10.0) -> bool:
        """Block until the first pass over the log is done; False on timeout."""
        return self._caught_up.wait(timeout)

    def close(self) -> None:
        """Stop (after the batch in progress) and wait for the thread."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

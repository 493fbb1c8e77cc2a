"""Keeping the in-memory vector index in step with the database.

The database is the truth; :class:`VectorMirror` holds a :class:`VectorIndex` built from it and
the sequence number of ``embeddings_log`` it reflects. Before each search it reads the log: no
change, nothing to do; a few changes (by this process or any other), it applies them; changes
older than the log keeps, a full reload. The first load in a process starts from the snapshot
file when one is valid, and a count check against the database catches a snapshot that is
wrong in a way the log cannot show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mindbank.store.snapshot import Snapshot, load_snapshot, save_snapshot, snapshot_path
from mindbank.store.vectors import VectorRepo

if TYPE_CHECKING:  # numpy and the index load with the first vector search
    from mindbank.vectors.index import VectorIndex

__all__ = ["VectorMirror"]

SNAPSHOT_FROM = 1000  # vectors; smaller indexes load from SQLite in a few milliseconds
SNAPSHOT_AFTER_CHANGES = 1000  # rewrite the snapshot at close after this many changes
LOG_KEEP = 200_000  # changes kept in embeddings_log


class VectorMirror:
    """The in-memory index of one embedder's vectors, refreshed from ``embeddings_log``."""

    def __init__(self, repo: VectorRepo, identity: str, dims: int):
        self._repo = repo
        self._identity = identity
        self._dims = dims
        self._index: VectorIndex | None = None
        self._version = -1
        self._generation = -1  # of the database the index was loaded from
        self._snapshot_version = -1
        self._changes = 0  # applied since the snapshot was written
        self._path = snapshot_path(repo.db.path)
        self.source = "none"  # where the index came from: snapshot, sqlite

    @property
    def loaded(self) -> int:
        """Vectors in memory (0 before the first search)."""
        return 0 if self._index is None else len(self._index)

    def drop(self) -> None:
        """Forget the index (the next search reloads it)."""
        self._index = None
        self._version = -1

    def index(self) -> VectorIndex:
        """The index, brought up to date with the database."""
        if self._index is not None and self._repo.db.generation() != self._generation:
            self._index = None  # the database was replaced (a restore): its log says nothing
        if self._index is None:
            self._load()
        elif not self._catch_up():
            self._full_load()
        assert self._index is not None
        index = self._index
        # Read inside a transaction: a rollback may take back changes the index applied, and
        # the log's numbers are reused after it, so the index is then read again.
        if self._repo.db.in_transaction:
            self._repo.db.on_rollback(self.drop)
        return index

    def _logged_since(self, version: int, current: int) -> bool:
        """Whether the log (its last number ``current``) still holds every change after
        ``version``, and is not behind it."""
        return current >= version and self._repo.oldest_logged() <= version + 1

    def _apply_changes(self, index: VectorIndex, version: int) -> tuple[int, int]:
        """Apply the logged changes after ``version`` to ``index``; returns (how many, the
        last sequence number read)."""
        import numpy as np

        changes, last = self._repo.changes_since(version, self._identity)
        for entry_id, blob, namespace in changes:
            if blob is None or namespace is None:
                index.remove(entry_id)
            else:
                index.upsert(entry_id, np.frombuffer(blob, dtype="<f4"), namespace)
        return len(changes), last

    def _catch_up(self) -> bool:
        """Apply the logged changes since our version; False if the log no longer has them."""
        current = self._repo.counters()[1]
        if current == self._version:
            return True
        if not self._logged_since(self._version, current):
            return False
        assert self._index is not None
        n, last = self._apply_changes(self._index, self._version)
        self._version = max(self._version, last)
        self._changes += n
        return True

    def _load(self) -> None:
        generation = self._repo.db.generation()
        snap = load_snapshot(self._path, self._identity, self._dims, generation)
        if snap is not None:
            self._generation = generation
            self._index = _index_of(snap, self._dims)
            self._version = snap.version
            self._snapshot_version = snap.version
            self._changes = 0
            if (
                self._catch_up()
                and len(self._index) == self._repo.vector_count(self._identity)
                and self._sample_agrees()
            ):
                self.source = "snapshot"
                return
        self._full_load()

    def _sample_agrees(self, n: int = 64) -> bool:
        """Whether ``n`` vectors spread over the loaded index equal the table's (a snapshot
        that disagrees in content, not only in count, is not served)."""
        import numpy as np

        assert self._index is not None
        ids = self._index.ids
        if not len(ids):
            return True
        picks = [int(ids[i]) for i in np.linspace(0, len(ids) - 1, min(n, len(ids))).astype(int)]
        stored = self._repo.vectors_of(sorted(set(picks)), self._identity)
        for entry_id in picks:
            vec = self._index.vector(entry_id)
            blob = stored.get(entry_id)
            if (
                vec is None
                or blob is None
                or not np.array_equal(vec, np.frombuffer(blob, dtype="<f4"))
            ):
                return False
        return True

    def _full_load(self) -> None:
        from mindbank.vectors.index import VectorIndex

        # Read first: later changes are re-applied, harmlessly. (A restore made between these
        # reads changes the generation, and the next search loads again.)
        generation = self._repo.db.generation()
        version = self._repo.counters()[1]
        mirror = self._repo.load_mirror(self._identity, self._dims)
        self._generation = generation
        self._index = VectorIndex(self._dims, mirror.ids, mirror.matrix, mirror.namespaces)
        self._version = version
        self.source = "sqlite"
        self._changes = 0
        if self._repo.db.in_transaction:
            return  # the snapshot file holds committed state only (this may yet roll back)
        if len(self._index) >= SNAPSHOT_FROM:
            self.save()
        else:
            self._path.unlink(missing_ok=True)

    def save(self) -> None:
        """Write the snapshot file (and prune the log to what a snapshot may still need)."""
        if self._index is None:
            return
        ids, matrix, namespaces, q8, scale = self._index.export()
        save_snapshot(
            self._path,
            identity=self._identity,
            version=self._version,
            generation=self._generation,
            ids=ids,
            matrix=matrix,
            namespaces=namespaces,
            q8=q8,
            scale=scale,
        )
        self._snapshot_version = self._version
        self._changes = 0
        self._repo.prune_log(LOG_KEEP)

    def close(self) -> None:
        """Rewrite the snapshot if many changes were applied since it was written."""
        if (
            self._index is not None
            and self._changes >= SNAPSHOT_AFTER_CHANGES
            and len(self._index) >= SNAPSHOT_FROM
        ):
            self.save()

    def check_snapshot(self) -> str:
        """Compare the snapshot file with the table: ``"none"`` (no file), ``"stale"`` (of
        another embedder or generation, or older than the log keeps: a new process ignores
        it and writes a new one), ``"ok"`` (caught up from the log, it holds exactly the
        table's vectors and namespaces) or ``"wrong"`` (it would load and disagrees: delete
        it, or run ``index rebuild``). Reads every vector once."""
        import numpy as np

        if not self._path.is_file():
            return "none"
        snap = load_snapshot(self._path, self._identity, self._dims, self._repo.db.generation())
        if snap is None or not self._logged_since(snap.version, self._repo.counters()[1]):
            return "stale"
        index = _index_of(snap, self._dims)
        self._apply_changes(index, snap.version)
        truth = self._repo.load_mirror(self._identity, self._dims)
        ids, matrix, namespaces, _, _ = index.export()
        order = np.argsort(ids, kind="stable")
        same = (
            len(ids) == len(truth.ids)
            and bool(np.array_equal(ids[order], truth.ids))
            and bool(np.array_equal(matrix[order], truth.matrix))
            and [namespaces[i] for i in order.tolist()] == list(truth.namespaces)
        )
        return "ok" if same else "wrong"

    def forget_snapshot(self) -> None:
        """Delete the snapshot file."""
        self._path.unlink(missing_ok=True)


def _index_of(snap: Snapshot, dims: int) -> VectorIndex:
    """The index a snapshot holds."""
    from mindbank.vectors.index import VectorIndex

    return VectorIndex(
        dims, snap.ids, snap.matrix, snap.namespaces, quantized=(snap.q8, snap.scale)
    )

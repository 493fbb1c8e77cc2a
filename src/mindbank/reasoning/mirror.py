"""The bank's items in memory: vectors and scoring facts, kept in step with the database.

The database is the truth. Triggers append the id of every item whose row or vector changes to
``bank_log``, in any process; the mirror remembers the last sequence number it applied and, when
the log has moved, reloads only the items named after it. A full load happens at first use,
when the log was pruned past the mirror's position, or when most items changed.

Strings (namespace, status, strategy, outcome) are held as integer codes so a query's filters
are numpy comparisons, not Python loops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mindbank.store.reasoning import BankRepo, ItemMeta

__all__ = ["BankMirror"]

Floats32 = npt.NDArray[np.float32]


class BankMirror:
    """Rows of items with a content vector of one embedder; dead rows are masked, not removed."""

    def __init__(self, identity: str, dims: int):
        self.identity = identity
        self.dims = dims
        self.seq = -1
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self._codes: dict[str | None, int] = {None: 0}
        cap = 64
        self.content = np.zeros((cap, dims), dtype=np.float32)
        self.task = np.zeros((cap, dims), dtype=np.float32)
        self.has_task = np.zeros(cap, dtype=bool)
        self.alive = np.zeros(cap, dtype=bool)
        self.confidence = np.zeros(cap, dtype=np.float64)
        self.active_at = np.zeros(cap, dtype=np.float64)
        self.namespace = np.zeros(cap, dtype=np.int32)
        self.status = np.zeros(cap, dtype=np.int32)
        self.strategy = np.zeros(cap, dtype=np.int32)
        self.outcome = np.zeros(cap, dtype=np.int32)
        self.missing: list[str] = []

    def __len__(self) -> int:
        return len(self.ids)

    def code(self, value: str | None) -> int:
        """The code of a string (-1 for one never seen: matches nothing)."""
        return self._codes.get(value, -1)

    def _code(self, value: str | None) -> int:
        c = self._codes.get(value)
        if c is None:
            c = self._codes[value] = len(self._codes)
        return c

    def _grow(self, need: int) -> None:
        cap = len(self.alive)
        if need <= cap:
            return
        new = max(need, cap * 2)
        for name in ("content", "task"):
            old = getattr(self, name)
            arr = np.zeros((new, self.dims), dtype=np.float32)
            arr[:cap] = old
            setattr(self, name, arr)
        for name in (
            "has_task", "alive", "confidence", "active_at", "namespace", "status", "strategy",
            "outcome",
        ):  # fmt: skip
            old = getattr(self, name)
            arr = np.zeros(new, dtype=old.dtype)
            arr[:cap] = old
            setattr(self, name, arr)

    def _apply(
        self, ids: Sequence[str], meta: list[ItemMeta], vectors: dict[tuple[str, str], bytes]
    ) -> None:
        by_id = {m.id: m for m in meta}
        self.missing = []
        for item_id in ids:
            m = by_id.get(item_id)
            blob = vectors.get((item_id, "content"))
            row = self.row_of.get(item_id)
            if m is None or blob is None:
                if row is not None:
                    self.alive[row] = False
                if m is not None:
                    self.missing.append(item_id)  # an item without a vector of this embedder
                continue
            if row is None:
                row = len(self.ids)
                self._grow(row + 1)
                self.ids.append(item_id)
                self.row_of[item_id] = row
            self.content[row] = np.frombuffer(blob, dtype="<f4")
            task = vectors.get((item_id, "task"))
            self.has_task[row] = task is not None
            self.task[row] = np.frombuffer(task, dtype="<f4") if task is not None else 0.0
            self.alive[row] = True
            self.confidence[row] = m.confidence
            self.active_at[row] = m.active_at
            self.namespace[row] = self._code(m.namespace)
            self.status[row] = self._code(m.status)
            self.strategy[row] = self._code(m.strategy)
            self.outcome[row] = self._code(m.outcome)

    def refresh(self, repo: BankRepo) -> bool:
        """Catch up with the database; returns True if anything was read."""
        head = repo.log_head()  # read first: a write racing with us is re-read next time
        if head == self.seq:
            return False
        if self.seq < 0 or (self.seq > 0 and self.seq < repo.log_oldest() - 1):
            self.load(repo, head)
            return True
        changed = repo.changed_since(self.seq)
        if len(changed) > max(1000, len(self.ids) // 2):
            self.load(repo, head)
            return True
        self._apply(changed, repo.item_meta(changed), repo.vectors(self.identity, changed))
        self.seq = head
        return True

    def load(self, repo: BankRepo, head: int | None = None) -> None:
        """Read everything again."""
        head = repo.log_head() if head is None else head
        self.ids, self.row_of = [], {}
        self.alive[:] = False
        meta = repo.item_meta()
        self._apply([m.id for m in meta], meta, repo.vectors(self.identity))
        self.seq = head

    def rows(self) -> npt.NDArray[np.intp]:
        """Positions of the live rows."""
        n = len(self.ids)
        return np.flatnonzero(self.alive[:n])

"""The exact vector index: a float32 matrix mirrored from the database, searched by brute force.

The database is the source of truth; this index is derived state, rebuilt from it whenever the
database's vector counter says it changed (see :mod:`mindbank.memory.search`). Rows are unit
vectors, so a matrix-vector product gives cosine similarities. At 10,000 x 384 one query costs a
few megabytes of memory traffic, about a millisecond.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["ExactIndex"]

Floats = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]


class ExactIndex:
    """Ids, unit vectors and a namespace code per row; exact top-k by cosine similarity."""

    def __init__(self, dims: int, ids: Ids, matrix: Floats, namespaces: tuple[str, ...]):
        if matrix.shape != (len(ids), dims):
            raise ValueError(f"matrix shape {matrix.shape} does not match {len(ids)} x {dims}")
        self.dims = dims
        self._codes: dict[str, int] = {}
        n = len(ids)
        cap = max(16, n)
        self._ids = np.empty(cap, dtype=np.int64)
        self._ids[:n] = ids
        self._matrix = np.empty((cap, dims), dtype=np.float32)
        self._matrix[:n] = matrix
        self._ns = np.empty(cap, dtype=np.int32)
        self._ns[:n] = [self._code(ns) for ns in namespaces]
        self._n = n
        self._row = {int(i): r for r, i in enumerate(ids)}

    def _code(self, namespace: str) -> int:
        code = self._codes.get(namespace)
        if code is None:
            code = self._codes[namespace] = len(self._codes)
        return code

    def __len__(self) -> int:
        return self._n

    @property
    def ids(self) -> Ids:
        """The ids, in row order."""
        return self._ids[: self._n]

    def vector(self, entry_id: int) -> Floats | None:
        """The vector of an entry, or None."""
        row = self._row.get(entry_id)
        return None if row is None else self._matrix[row]

    def upsert(self, entry_id: int, vector: Floats, namespace: str) -> None:
        """Add or replace one entry's vector."""
        row = self._row.get(entry_id)
        if row is None:
            if self._n == len(self._ids):
                self._grow()
            row = self._n
            self._n += 1
            self._ids[row] = entry_id
            self._row[entry_id] = row
        self._matrix[row] = vector
        self._ns[row] = self._code(namespace)

    def remove(self, entry_id: int) -> bool:
        """Remove an entry (the last row moves into its place)."""
        row = self._row.pop(entry_id, None)
        if row is None:
            return False
        last = self._n - 1
        if row != last:
            moved = int(self._ids[last])
            self._ids[row] = moved
            self._matrix[row] = self._matrix[last]
            self._ns[row] = self._ns[last]
            self._row[moved] = row
        self._n = last
        return True

    def _grow(self) -> None:
        cap = len(self._ids) * 2
        for name in ("_ids", "_matrix", "_ns"):
            old = getattr(self, name)
            new = np.empty((cap, *old.shape[1:]), dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def scores(self, query: Floats, namespace: str | None = None) -> Floats:
        """Cosine similarity of every row to ``query``; rows of other namespaces get -inf."""
        out = self._matrix[: self._n] @ query
        if namespace is not None:
            code = self._codes.get(namespace)
            if code is None:
                out[:] = -np.inf
            else:
                out[self._ns[: self._n] != code] = -np.inf
        return out

    def top(self, scores: Floats, k: int) -> npt.NDArray[np.intp]:
        """Row numbers of the ``k`` best finite scores, best first."""
        finite = np.isfinite(scores)
        m = int(finite.sum())
        k = min(k, m)
        if k <= 0:
            return np.empty(0, dtype=np.intp)
        part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        part = part[np.isfinite(scores[part])]
        return part[np.argsort(-scores[part], kind="stable")]

    def rows_of(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """Row numbers of the given ids that are in the index."""
        rows = [self._row[int(i)] for i in ids if int(i) in self._row]
        return np.asarray(rows, dtype=np.intp)

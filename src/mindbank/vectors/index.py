"""The vector index: float32 vectors mirrored from the database, searched by brute force.

The database is the source of truth; this index is derived state, rebuilt from it whenever the
database's vector counter says it changed (see :mod:`mindbank.memory.semantic`). Rows are unit
vectors, so a matrix-vector product gives cosine similarities.

Two tiers, chosen by size (thresholds measured in ``bench/search.py``):

- below :attr:`VectorIndex.int8_from` rows, every row is scored in float32: exact.
- from there on, every row is first scored on an int8 copy of the matrix (a quarter of the
  memory traffic, with numkong's SIMD kernels), and the best :attr:`VectorIndex.rescore`
  candidates are scored again in float32. The order and scores returned are exact float32
  cosines; only a true top-k row that the int8 pass ranked below the candidates can be missed
  (recall@10 against exact search is measured in the tests and the benchmark).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["VectorIndex"]

Floats = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]
Rows = npt.NDArray[np.intp]


class VectorIndex:
    """Ids, unit vectors and a namespace code per row; top-k by cosine similarity."""

    int8_from = 4096
    rescore = 64

    def __init__(
        self,
        dims: int,
        ids: Ids,
        matrix: Floats,
        namespaces: tuple[str, ...],
        *,
        int8_from: int | None = None,
        quantized: tuple[npt.NDArray[np.int8], float] | None = None,
    ):
        """Build an index over ``matrix`` (unit rows, one per id and namespace).

        ``quantized`` is a precomputed int8 copy and its scale (from a snapshot), to skip
        quantizing again.
        """
        if matrix.shape != (len(ids), dims):
            raise ValueError(f"matrix shape {matrix.shape} does not match {len(ids)} x {dims}")
        if int8_from is not None:
            self.int8_from = int8_from
        self.dims = dims
        self._codes = {ns: i for i, ns in enumerate(dict.fromkeys(namespaces))}
        n = len(ids)
        cap = max(16, n + n // 8)
        self._ids = np.empty(cap, dtype=np.int64)
        self._ids[:n] = ids
        self._matrix = np.empty((cap, dims), dtype=np.float32)
        self._matrix[:n] = matrix
        self._ns = np.empty(cap, dtype=np.int32)
        self._ns[:n] = np.fromiter((self._codes[ns] for ns in namespaces), dtype=np.int32, count=n)
        self._n = n
        self._row = dict(zip(ids.tolist(), range(n), strict=True))
        self._q8 = np.empty((cap, dims), dtype=np.int8)
        if quantized is not None and quantized[0].shape == (n, dims):
            self._q8[:n], self._scale = quantized
        else:
            # One scale for the whole matrix (components of unit vectors are <= 1).
            peak = float(np.abs(matrix).max()) if n else 1.0
            self._scale = 127.0 / max(peak, 1e-6)
            for lo in range(0, n, 8192):  # in blocks: small temporaries, warm caches
                hi = min(n, lo + 8192)
                self._q8[lo:hi] = self._quantize(matrix[lo:hi])

    def _quantize(self, vectors: Floats) -> npt.NDArray[np.int8]:
        q: npt.NDArray[np.int8] = np.clip(np.rint(vectors * self._scale), -127, 127).astype(np.int8)
        return q

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

    @property
    def uses_int8(self) -> bool:
        """Whether searches take the int8 pass first (from ``int8_from`` rows on)."""
        return self._n >= self.int8_from

    @property
    def nbytes(self) -> int:
        """Memory held by the vectors (float32 and int8 copies)."""
        return int(self._matrix[: self._n].nbytes + self._q8[: self._n].nbytes)

    def export(self) -> tuple[Ids, Floats, tuple[str, ...], npt.NDArray[np.int8], float]:
        """Ids, vectors, namespaces, the int8 copy and its scale (copies), for a snapshot."""
        names = {code: ns for ns, code in self._codes.items()}
        n = self._n
        return (
            self._ids[:n].copy(),
            self._matrix[:n].copy(),
            tuple(names[int(c)] for c in self._ns[:n]),
            self._q8[:n].copy(),
            self._scale,
        )

    def vector(self, entry_id: int) -> Floats | None:
        """The float32 vector of an entry, or None."""
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
        self._q8[row] = self._quantize(vector)
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
            self._q8[row] = self._q8[last]
            self._ns[row] = self._ns[last]
            self._row[moved] = row
        self._n = last
        return True

    def _grow(self) -> None:
        cap = len(self._ids) * 2
        for name in ("_ids", "_matrix", "_q8", "_ns"):
            old = getattr(self, name)
            new = np.empty((cap, *old.shape[1:]), dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def _namespace_mask(self, namespace: str | None) -> npt.NDArray[np.bool_] | None:
        if namespace is None:
            return None
        code = self._codes.get(namespace)
        if code is None:
            return np.zeros(self._n, dtype=bool)
        mask: npt.NDArray[np.bool_] = self._ns[: self._n] == code
        return mask

    def search(self, query: Floats, k: int, namespace: str | None = None) -> tuple[Rows, Floats]:
        """The best ``k`` rows (of one namespace, or all) and their cosines, best first.

        Returns fewer than ``k`` rows only when fewer rows qualify.
        """
        n = self._n
        if k <= 0 or n == 0:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
        mask = self._namespace_mask(namespace)
        if n < self.int8_from:
            scores = self._matrix[:n] @ query
            if mask is not None:
                scores[~mask] = -np.inf
            rows = _top(scores, k)
            return rows, scores[rows]
        import numkong

        q8 = self._quantize(query)
        approx = np.asarray(numkong.cdist(self._q8[:n], q8[None, :], metric="dot"))[:, 0]
        if mask is not None:
            approx[~mask] = -np.inf
        candidates = _top(approx, max(self.rescore, 4 * k))
        exact = self._matrix[candidates] @ query
        order = np.argsort(-exact, kind="stable")[:k]
        return candidates[order], exact[order]

    def search_rows(self, query: Floats, rows: Rows, k: int) -> tuple[Rows, Floats]:
        """Exact top ``k`` among the given rows (a filtered subset), best first."""
        if len(rows) == 0 or k <= 0:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
        scores = self._matrix[rows] @ query
        best = _top(scores, k)
        return rows[best], scores[best]

    def rows_of(self, ids: Ids) -> Rows:
        """Row numbers of the given ids that are in the index."""
        rows = [self._row[int(i)] for i in ids if int(i) in self._row]
        return np.asarray(rows, dtype=np.intp)


def _top(scores: npt.NDArray[np.floating[Any]], k: int) -> Rows:
    """Positions of the ``k`` best finite scores, best first (ties: lower position first)."""
    finite = int(np.isfinite(scores).sum())
    k = min(k, finite)
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    part = part[np.isfinite(scores[part])]
    best: Rows = part[np.lexsort((part, -scores[part]))]
    return best

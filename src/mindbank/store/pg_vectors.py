"""SQL of search on PostgreSQL: vectors in pgvector (exact cosine ranking), keywords with a
``tsvector`` (``ts_rank_cd``). Row-level security limits both to the tenant's entries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from mindbank.store.vectors import entry_filters, query_words

__all__ = ["EF_SEARCH", "PgVectorRepo", "vector_literal"]

EF_SEARCH = 100
"""The HNSW search breadth (pgvector's ``hnsw.ef_search``; its default is 40): candidates kept
while walking the graph. Higher finds more of the true neighbours, slower."""


def vector_literal(vec: Any) -> str:
    """A vector as pgvector's text form."""
    return "[" + ",".join(f"{float(x):.7g}" for x in vec) + "]"


def _parse(text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.array([float(x) for x in text.strip("[]").split(",")], dtype=np.float32)


class PgVectorRepo:
    """Vectors and keyword matches of one PostgreSQL database (as one tenant)."""

    def __init__(self, db: Any):
        self.db = db
        self._has_index: bool | None = None

    def vectors_for_hashes(self, hashes: Sequence[str], embedder: str) -> dict[str, Any]:
        """Stored vectors of identical texts, by content hash (one query)."""
        if not hashes:
            return {}
        rows = self.db.run(
            "SELECT DISTINCT ON (content_hash) content_hash, vector::text FROM embeddings "
            "WHERE embedder = ? AND content_hash = ANY(?)",
            (embedder, list(hashes)),
        )
        return {str(r[0]): _parse(r[1]) for r in rows}

    def entry_rows(self) -> int:
        """Rows in ``memory_store`` (expired ones included)."""
        return int(self.db.run("SELECT count(*) FROM memory_store").fetchone()[0])

    def embedders_in_use(self) -> dict[str, int]:
        """Vector counts by embedder identity."""
        rows = self.db.run("SELECT embedder, count(*) FROM embeddings GROUP BY embedder")
        return {str(r[0]): int(r[1]) for r in rows}

    def stored_embedder(self) -> str | None:
        """The identity of the embedder that wrote the tenant's vectors (None: no vector)."""
        row = self.db.run("SELECT embedder FROM embeddings LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def missing(
        self, embedder: str | None, skip_namespaces: Sequence[str], now: float, limit: int
    ) -> list[tuple[int, str, str]]:
        """Live entries without a vector of this embedder (None: every live entry to embed):
        ``(id, value, value_type)``."""
        lacking = "e.entry_id IS NULL AND" if embedder is not None else ""
        rows = self.db.run(
            "SELECT m.id, m.value, m.value_type FROM memory_store m LEFT JOIN embeddings e "
            f"ON e.entry_id = m.id AND e.embedder = ? WHERE {lacking} "
            "(m.expires_at > ? OR m.expires_at IS NULL) AND NOT (m.namespace = ANY(?)) "
            "ORDER BY m.id LIMIT ?",
            (embedder or "", now, list(skip_namespaces), limit),
        ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def delete_others(self, embedder: str) -> int:
        """Remove the vectors of every other embedder; returns how many."""
        return int(self.db.run("DELETE FROM embeddings WHERE embedder <> ?", (embedder,)).rowcount)

    def put(self, rows: Sequence[tuple[int, str, str, Any]]) -> None:
        """Write ``(entry_id, embedder, content_hash, vector)`` rows, replacing old ones."""
        self.db.executemany(
            "INSERT INTO embeddings (entry_id, embedder, content_hash, vector) "
            "VALUES (?, ?, ?, ?::vector) ON CONFLICT (entry_id) DO UPDATE SET "
            "embedder = excluded.embedder, content_hash = excluded.content_hash, "
            "vector = excluded.vector",
            [(i, e, h, vector_literal(v)) for i, e, h, v in rows],
        )

    @staticmethod
    def _filters(
        namespace: str | None, tags: Sequence[str], now: float, since: float | None,
        until: float | None,
    ) -> tuple[str, list[Any]]:  # fmt: skip
        return entry_filters(namespace, tags, now, since, until, "jsonb_exists(m.tags::jsonb, ?)")

    def _hnsw(self, dims: int) -> bool:
        """Whether this tenant has an HNSW index for vectors of this length."""
        from mindbank.store.postgres import HNSW_DIMS, tenant_name_ok

        if dims != HNSW_DIMS or not tenant_name_ok(self.db.role):
            return False
        if self._has_index is None:
            self._has_index = (
                self.db.run(
                    "SELECT 1 FROM pg_indexes WHERE indexname = ?",
                    (f"embeddings_hnsw_{self.db.role}",),
                ).fetchone()
                is not None
            )
        return self._has_index

    def semantic(
        self, qvec: Any, embedder: str, k: int, filters: tuple[Any, ...], *, exact: bool = False
    ) -> list[tuple[int, float]]:
        """The k entries whose vectors are nearest the query (cosine).

        With the tenant's HNSW index: the index's nearest candidates (more than k), checked
        against the filters; when too few pass, the exact ranking of the filtered entries.
        Without (or with ``exact``): the exact ranking.
        """
        dims = len(qvec)
        if not exact and self._hnsw(dims):
            want = max(4 * k, k + 20)
            q = vector_literal(qvec)
            self.db.run(f"SET hnsw.ef_search = {max(EF_SEARCH, min(want, 1000))}")
            cand = self.db.run(
                f"SELECT entry_id, 1 - ((vector::vector({dims})) <=> ?::vector({dims})) "
                f"FROM embeddings WHERE tenant = '{self.db.role}' AND vector_dims(vector) = "
                f"{dims} AND embedder = ? ORDER BY (vector::vector({dims})) <=> ?::vector({dims}) "
                "LIMIT ?",
                (q, embedder, q, want),
            ).fetchall()
            where, params = self._filters(*filters)
            ok = {
                int(r[0])
                for r in self.db.run(
                    f"SELECT m.id FROM memory_store m WHERE m.id = ANY(?) AND {where}",
                    ([int(r[0]) for r in cand], *params),
                ).fetchall()
            }
            survivors = [(int(r[0]), float(r[1])) for r in cand if int(r[0]) in ok]
            if len(survivors) >= k:
                return survivors[:k]
        where, params = self._filters(*filters)
        q = vector_literal(qvec)
        rows = self.db.run(
            "SELECT m.id, 1 - (e.vector <=> ?::vector) FROM embeddings e "
            f"JOIN memory_store m ON m.id = e.entry_id WHERE e.embedder = ? AND {where} "
            "ORDER BY e.vector <=> ?::vector, m.id LIMIT ?",
            (q, embedder, *params, q, k),
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def similarity(self, qvec: Any, embedder: str, ids: Iterable[int]) -> dict[int, float]:
        """Cosine similarity of these entries' vectors to the query."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        rows = self.db.run(
            "SELECT entry_id, 1 - (vector <=> ?::vector) FROM embeddings WHERE embedder = ? "
            "AND entry_id = ANY(?)",
            (vector_literal(qvec), embedder, ids),
        ).fetchall()
        return {int(r[0]): float(r[1]) for r in rows}

    def vectors(self, ids: Sequence[int]) -> dict[int, Any]:
        """The vectors of these entries."""
        rows = self.db.run(
            "SELECT entry_id, vector::text FROM embeddings WHERE entry_id = ANY(?)",
            ([int(i) for i in ids],),
        ).fetchall()
        return {int(r[0]): _parse(r[1]) for r in rows}

    def live_matrix(self, embedder: str, now: float) -> tuple[Any, Any]:
        """``(ids, matrix)``: the ids of the live entries with a vector of this embedder, and
        their vectors as unit rows (float32), in id order."""
        import numpy as np

        rows = self.db.run(
            "SELECT e.entry_id, e.vector::text FROM embeddings e JOIN memory_store m "
            "ON m.id = e.entry_id WHERE e.embedder = ? AND (m.expires_at > ? OR m.expires_at "
            "IS NULL) ORDER BY e.entry_id",
            (embedder, now),
        ).fetchall()
        ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float32)
        matrix = np.stack([np.asarray(_parse(r[1]), dtype=np.float32) for r in rows])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return ids, matrix / np.where(norms == 0, 1, norms)

    def keyword(
        self, query: str, k: int, filters: tuple[Any, ...], only_ids: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """Entries matching any word of the query, by ``ts_rank_cd``."""
        words = query_words(query)
        if not words:
            return []
        where, params = self._filters(*filters)
        tsq = " | ".join("'" + w.replace("'", "''").replace("\\", "") + "'" for w in words)
        extra = ""
        if only_ids is not None:
            extra = " AND m.id = ANY(?)"
            params.append([int(i) for i in only_ids])
        rows = self.db.run(
            "SELECT m.id, ts_rank_cd(m.fts, q) FROM memory_store m, "
            f"to_tsquery('simple', ?) q WHERE m.fts @@ q AND {where}{extra} "
            "ORDER BY 2 DESC, m.id LIMIT ?",
            (tsq, *params, k),
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

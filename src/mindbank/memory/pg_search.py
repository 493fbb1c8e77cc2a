"""Search on PostgreSQL: the same modes, filters, MMR and hits as on SQLite, computed by the
server.

- **semantic**: cosine ranking by pgvector: the tenant's HNSW index's candidates checked
  against the filters, with the exact ranking (``ORDER BY vector <=> query``) of the filtered
  entries when too few pass (see :meth:`PgVectorRepo.semantic`).
- **keyword**: any word of the query against a ``tsvector`` of key, value and tags, ranked by
  ``ts_rank_cd`` (PostgreSQL's, not BM25: its scores are on another scale).
- **hybrid**: both, fused by reciprocal rank (scale-free, since the two scores differ in kind).

Vectors are computed as on SQLite (outside the write transaction, identical text embedded once)
and stored with the entry. As on SQLite, an embedder other than the one that wrote the tenant's
vectors is refused (:class:`~mindbank.errors.EmbedderMismatchError`) until ``reembed``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mindbank.errors import EmbedderMismatchError, ValidationError, shown
from mindbank.memory.cache import LRUCache
from mindbank.memory.semantic import (
    MODES,
    Prepared,
    content_hash,
    embed_rows,
    embedding_text,
    prepare_vectors,
    still_current,
)
from mindbank.memory.validation import check_text
from mindbank.records import IndexStatus, SearchHit
from mindbank.store.memory import EntryRow, MemoryRepo
from mindbank.store.pg_vectors import PgVectorRepo
from mindbank.vectors.fusion import fuse
from mindbank.vectors.mmr import mmr as mmr_select

__all__ = ["PgSearch"]


class PgSearch:
    """Vectors written with entries, and search, on one PostgreSQL database."""

    def __init__(
        self,
        db: Any,
        memory: MemoryRepo,
        embedder: Callable[[], Any],
        clock: Callable[[], float],
    ):
        self._repo = PgVectorRepo(db)
        self._memory = memory
        self._embedder = embedder
        self._settings = db.settings
        self._clock = clock
        self._query_vectors: LRUCache[Any] = LRUCache(256, 3600.0, clock)
        self._checked = False

    def check_identity(self) -> None:
        """Refuse an embedder other than the one that wrote the tenant's vectors.

        Raises:
            EmbedderMismatchError: naming both identities.
        """
        if self._checked:
            return
        stored = self._repo.stored_embedder()
        identity = self._embedder().identity
        if stored is not None and stored != identity:
            raise EmbedderMismatchError(stored, identity)
        self._checked = True

    def status(self) -> IndexStatus:
        """Counts that say whether the vectors are complete (the keyword index is a generated
        column: always in step)."""
        identity = self._embedder().identity
        in_use = self._repo.embedders_in_use()
        skip = sorted(self._settings.no_embed_namespaces)
        missing = len(self._repo.missing(identity, skip, self._clock(), 1_000_000_000))
        entries = self._repo.entry_rows()
        return IndexStatus(
            embedder=identity,
            stored_embedder=self._repo.stored_embedder(),
            vectors=in_use.get(identity, 0),
            other_vectors=sum(n for e, n in in_use.items() if e != identity),
            missing=missing,
            skipped_namespaces=tuple(skip),
            entries=entries,
            fts_rows=entries,
            fts_ok=True,
            loaded=0,
        )

    def backfill(self, progress: Callable[[int], None] | None = None) -> int:
        """Embed every live entry that should have a vector and has none; returns how many."""
        done = 0
        skip = sorted(self._settings.no_embed_namespaces)
        embedder = self._embedder()
        while True:
            rows = self._repo.missing(embedder.identity, skip, self._clock(), 256)
            if not rows:
                return done
            self.check_identity()
            texts = [embedding_text(v, t) for _, v, t in rows]
            vecs = embedder.embed(texts)
            with self._repo.db.transaction():
                self._repo.put(
                    [(i, embedder.identity, content_hash(text), vec)
                     for (i, _, _), text, vec in zip(rows, texts, vecs, strict=True)]
                )  # fmt: skip
            done += len(rows)
            if progress is not None:
                progress(done)

    def reembed(self, progress: Callable[[int], None] | None = None) -> int:
        """Recompute every vector with the embedder in use (the same one too); returns how
        many entries have one now. All or nothing, as on SQLite: the vectors are computed
        first, then replace the old ones in one transaction; entries written meanwhile are
        embedded after it."""
        embedder = self._embedder()
        identity = embedder.identity
        skip = sorted(self._settings.no_embed_namespaces)

        def texts() -> list[tuple[int, str, str]]:
            return self._repo.missing(None, skip, self._clock(), 1_000_000_000)

        done = embed_rows(embedder.embed, texts(), progress)
        with self._repo.db.transaction():
            self._repo.put(
                [(i, identity, p.content_hash, p.vector) for i, p in still_current(done, texts())]
            )
            self._repo.delete_others(identity)  # (of entries changed or gone meanwhile)
        self._checked = False
        self._query_vectors = LRUCache(256, 3600.0, self._clock)
        self.backfill()
        return len(done)

    def wants(self, namespace: str) -> bool:
        """Whether entries of this namespace are embedded."""
        return self._settings.embed and namespace not in self._settings.no_embed_namespaces

    def prepare(self, rows: Sequence[EntryRow]) -> list[Prepared | None]:
        """Vectors for rows that want one (identical text embedded once), before the write."""
        embedder = self._embedder()
        hashes = [
            content_hash(embedding_text(r.value, r.value_type))
            for r in rows
            if self.wants(r.namespace)
        ]
        known = self._repo.vectors_for_hashes(hashes, embedder.identity)  # one round trip
        return prepare_vectors(rows, self.wants, known.get, embedder.embed)

    def mark(self) -> None:
        """Nothing to note before a write: the server's indexes follow every commit."""
        return None

    def write(self, items: Sequence[tuple[int, str, Prepared | None]], mark: None = None) -> None:
        """Store the vectors of ``(entry id, namespace, prepared)`` (inside the entries'
        transaction)."""
        identity = self._embedder().identity
        rows = [(i, identity, p.content_hash, p.vector) for i, _, p in items if p is not None]
        if rows:
            self.check_identity()
            self._repo.put(rows)

    def removed(self, entry_ids: Sequence[int], mark: None = None) -> None:
        """Nothing to do: a deleted entry's vector goes with its row."""

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Embed the entries that miss a vector (the keyword index is a generated column and
        the vector index the server's: nothing else to rebuild); returns how many."""
        return self.backfill(progress)

    def graph_vectors(self) -> tuple[Any, Any]:
        """``(entry ids, vectors)`` of the live entries that have a vector, for the graph."""
        return self._repo.live_matrix(self._embedder().identity, self._clock())

    def query_cache(self) -> LRUCache[Any] | None:
        """No cache of results here (the server answers each query)."""
        return None

    def close(self) -> None:
        """Nothing kept to write back."""

    def search(
        self,
        query: str,
        *,
        k: int,
        mode: str,
        namespace: str | None,
        tags: Sequence[str],
        min_score: float | None,
        mmr: float | None,
        since: float | None,
        until: float | None,
    ) -> builtins.list[SearchHit]:
        """See :meth:`mindbank.MindBank.search`."""
        check_text(query, "the query")
        if mode not in MODES:
            raise ValidationError(f"mode must be one of {', '.join(MODES)}, got {shown(mode)}")
        if mmr is not None and not 0.0 <= mmr <= 1.0:
            raise ValidationError(f"mmr (the weight of relevance) must be in [0, 1], got {mmr}")
        self._memory.flush_access()
        filters = (namespace, tuple(tags), self._clock(), since, until)
        pool = k if mmr is None else max(4 * k, 20)
        scored: list[tuple[int, float, float | None, float | None]]
        if mode == "keyword":
            scored = [(i, s, None, s) for i, s in self._repo.keyword(query, pool, filters)]
        else:
            self.check_identity()
            identity = self._embedder().identity
            qvec = self._query_vectors.get(query)
            if qvec is None:
                qvec = self._embedder().embed_one(query)
                self._query_vectors.put(query, qvec)
            want = pool if mode == "semantic" else max(5 * pool, 50)
            sem = dict(self._repo.semantic(qvec, identity, want, filters))
            if mode == "semantic":
                scored = [
                    (i, s, s, None) for i, s in sorted(sem.items(), key=lambda t: (-t[1], t[0]))
                ]
            else:
                kw = dict(self._repo.keyword(query, want, filters))
                sem.update(self._repo.similarity(qvec, identity, set(kw) - set(sem)))
                fused = fuse(sem, kw, rule="rrf")
                order = sorted(fused, key=lambda i: (-fused[i], i))[:pool]
                scored = [(i, fused[i], sem.get(i), kw.get(i)) for i in order]
        if min_score is not None:
            scored = [s for s in scored if s[1] >= min_score]
        if mmr is not None and len(scored) > 1:
            vecs = self._repo.vectors([s[0] for s in scored])
            dims = len(next(iter(vecs.values()))) if vecs else 1
            matrix = np.stack([vecs.get(s[0], np.zeros(dims, np.float32)) for s in scored])
            picked = mmr_select(np.array([s[1] for s in scored]), matrix, k, mmr)
            scored = [scored[j] for j in picked]
        scored = scored[:k]
        entries = self._memory.by_ids([s[0] for s in scored])
        return [
            SearchHit(entries[i], score, sem_s, kw_s, rank)
            for rank, (i, score, sem_s, kw_s) in enumerate(scored, start=1)
            if i in entries
        ]

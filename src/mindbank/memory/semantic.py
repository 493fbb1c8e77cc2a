"""Semantic memory: embedding entries as they are stored, and searching them by meaning,
by keyword, or both.

The database holds the truth (vectors in ``embeddings``, text in the FTS5 index). The exact
vector index in this process mirrors the vectors; the ``embeddings`` change counter, bumped by a
trigger on every vector write by any process, tells when the mirror is stale. Writes made through
this object are applied to the mirror directly; anything else (another process, a delete, a
rolled-back transaction) makes the next search reload it.

Filters are applied inside the search: the semantic top-k' candidates are checked against the
filters in SQL, and when fewer than k survive, the whole filtered set is scored. Either way the
result is exactly the top k of the filtered set.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mindbank.config import Settings
from mindbank.errors import DatabaseLockedError, EmbedderMismatchError, ValidationError, shown
from mindbank.memory.cache import LRUCache
from mindbank.memory.mirror import VectorMirror
from mindbank.memory.validation import check_k, check_text
from mindbank.records import IndexStatus, SearchHit
from mindbank.store.memory import EntryRow, MemoryRepo
from mindbank.store.vectors import VectorRepo
from mindbank.vectors.fusion import fuse

if TYPE_CHECKING:  # numpy and the index load with the first vector search, not before
    from mindbank.embedders.base import Embedder, Vectors
    from mindbank.vectors.index import VectorIndex

__all__ = [
    "MODES",
    "Prepared",
    "SemanticMemory",
    "embed_rows",
    "embedding_text",
    "prepare_vectors",
    "still_current",
]

MODES = ("hybrid", "semantic", "keyword")
_COMPLETE_KEY = "vectors_complete_at"
_BACKFILL_BATCH = 256


def _parse_mark(text: str | None) -> tuple[int, int]:
    """The (memory, vectors) counters stored as "m:v" (unknown: (-1, -1))."""
    try:
        memory, vectors = (text or "").split(":")
        return int(memory), int(vectors)
    except ValueError:
        return (-1, -1)


def _format_mark(mark: tuple[int, int]) -> str:
    return f"{mark[0]}:{mark[1]}"


def embedding_text(value: str, value_type: str) -> str:
    """The text an entry's vector is computed from: its value (JSON values as compact JSON)."""
    return value


def content_hash(text: str) -> str:
    """SHA-256 of the text, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A vector computed (or found by content hash) before the write transaction."""

    content_hash: str
    vector: Vectors


def embed_rows(
    embed: Callable[[list[str]], Any],
    rows: Sequence[tuple[int, str, str]],
    progress: Callable[[int], None] | None = None,
) -> dict[int, Prepared]:
    """Every row ``(entry id, value, value type)`` embedded, by entry id, in batches of
    :data:`_BACKFILL_BATCH` (``progress(done)`` after each): what a reembed computes before
    its one transaction."""
    done: dict[int, Prepared] = {}
    for start in range(0, len(rows), _BACKFILL_BATCH):
        batch = rows[start : start + _BACKFILL_BATCH]
        texts = [embedding_text(v, t) for _, v, t in batch]
        for (entry_id, _, _), text, vec in zip(batch, texts, embed(texts), strict=True):
            done[entry_id] = Prepared(content_hash(text), vec)
        if progress is not None:
            progress(len(done))
    return done


def still_current(
    done: dict[int, Prepared], rows: Sequence[tuple[int, str, str]]
) -> list[tuple[int, Prepared]]:
    """The vectors of ``done`` whose entry, among ``rows`` as they are now, still has the text
    they were computed from (not changed or deleted meanwhile)."""
    now = {i: content_hash(embedding_text(v, t)) for i, v, t in rows}
    return [(i, p) for i, p in done.items() if now.get(i) == p.content_hash]


def prepare_vectors(
    rows: Sequence[EntryRow],
    wants: Callable[[str], bool],
    known: Callable[[str], Any],
    embed: Callable[[list[str]], Any],
) -> list[Prepared | None]:
    """Vectors for the rows whose namespace ``wants`` one: a stored vector of identical text
    (``known(content hash)``) when there is one, else computed, each distinct text once, in one
    ``embed`` call. Runs before the write transaction, so the model never holds a lock."""
    out: list[Prepared | None] = [None] * len(rows)
    todo: dict[str, list[int]] = {}
    texts: dict[str, str] = {}
    for i, row in enumerate(rows):
        if not wants(row.namespace):
            continue
        text = embedding_text(row.value, row.value_type)
        h = content_hash(text)
        vec = known(h)
        if vec is not None:
            out[i] = Prepared(h, vec)
        else:
            todo.setdefault(h, []).append(i)
            texts[h] = text
    if todo:
        hashes = list(todo)
        for h, vec in zip(hashes, embed([texts[h] for h in hashes]), strict=True):
            for i in todo[h]:
                out[i] = Prepared(h, vec)
    return out


class SemanticMemory:
    """Embeds on write; searches by meaning, keyword or both; caches query results."""

    def __init__(
        self,
        vectors: VectorRepo,
        memory: MemoryRepo,
        embedder: Embedder,
        settings: Settings,
        clock: Callable[[], float],
    ):
        self._repo = vectors
        self._memory = memory
        self.embedder = embedder
        self._settings = settings
        self._clock = clock
        self.mirror = VectorMirror(vectors, embedder.identity, embedder.dims)
        self.cache: LRUCache[builtins.list[SearchHit]] = LRUCache(
            settings.query_cache_size, settings.query_cache_ttl, clock
        )
        self._query_vectors: LRUCache[Vectors] = LRUCache(256, 3600.0, clock)
        self._checked = False
        # The memory counter at which no live entry lacked a vector (-1: not known). Kept in
        # the database too, so that the next process can skip looking for missing vectors.
        self._complete_at = _parse_mark(self._repo.meta(_COMPLETE_KEY))
        self._generation = self._repo.db.generation()

    def _follow_generation(self) -> int:
        """The database's generation; what this object knew of an earlier one is dropped (a
        restore replaced the database: counters and log numbers may have gone back)."""
        generation = self._repo.db.generation()
        if generation != self._generation:
            self.cache.clear()
            self._checked = False
            self._complete_at = _parse_mark(self._repo.meta(_COMPLETE_KEY))
            self._generation = generation
        return generation

    # -- identity ----------------------------------------------------------------------------

    def check_identity(self) -> None:
        """Refuse an embedder other than the one that wrote this database's vectors.

        Raises:
            EmbedderMismatchError: naming both identities.
        """
        if self._checked:
            return
        stored = self._repo.meta("embedder")
        if stored is None:
            others = self._repo.embedders_in_use()
            stored = next(iter(others), None)
        if stored is not None and stored != self.embedder.identity:
            raise EmbedderMismatchError(stored, self.embedder.identity)
        self._checked = True

    def wants(self, namespace: str) -> bool:
        """Whether entries of this namespace are embedded as they are stored."""
        return self._settings.embed and namespace not in self._settings.no_embed_namespaces

    # -- writing -----------------------------------------------------------------------------

    def prepare(self, rows: Sequence[EntryRow]) -> list[Prepared | None]:
        """Compute vectors for rows that want one, reusing stored vectors of identical text.

        Runs before the write transaction, so the model never holds the database lock.
        """
        import numpy as np

        identity = self.embedder.identity

        def known(h: str) -> Vectors | None:
            blob = self._repo.vector_for_hash(h, identity)
            return None if blob is None else np.frombuffer(blob, dtype="<f4")

        def embed(texts: list[str]) -> Vectors:
            self.check_identity()
            return self.embedder.embed(texts)

        return prepare_vectors(rows, self.wants, known, embed)

    def mark(self) -> tuple[int, int]:
        """The change counters, read inside a write transaction before its first write."""
        return self._repo.counters()

    def write(
        self, items: Sequence[tuple[int, str, Prepared | None]], mark: tuple[int, int]
    ) -> None:
        """Store prepared vectors for ``(entry_id, namespace, prepared)``; call inside the
        transaction that wrote the entries, with the :meth:`mark` taken before them. Entries
        whose text did not change keep their vector.
        """
        # The same entry twice in one batch: the last write is the value stored, so its vector.
        last = {entry_id: (ns, p) for entry_id, ns, p in items}
        skipped = self._settings.no_embed_namespaces
        complete = all(p is not None or ns in skipped for ns, p in last.values())
        todo = [(i, ns, p) for i, (ns, p) in last.items() if p is not None]
        identity = self.embedder.identity
        if todo:
            self.check_identity()
            current = self._repo.hashes_for((i for i, _, _ in todo), identity)
            todo = [(i, ns, p) for i, ns, p in todo if current.get(i) != p.content_hash]
        if todo:
            if self._repo.meta("embedder") is None:
                self._repo.set_meta("embedder", identity)
            self._repo.put_vectors(
                [
                    (i, identity, p.content_hash, p.vector.astype("<f4").tobytes())
                    for i, _, p in todo
                ]
            )
        self._note(mark, complete)

    def removed(self, entry_ids: Sequence[int], mark: tuple[int, int]) -> None:
        """Entries this process deleted (inside the transaction, with the :meth:`mark` taken
        before): nothing deleted lacks a vector."""
        self._note(mark, True)

    def _note(self, mark: tuple[int, int], complete: bool) -> None:
        # Nothing written lacks its vector: no need to look for missing ones at search. (The
        # vector index itself catches up from embeddings_log at the next search.) Called inside
        # the write transaction, so the hint commits or rolls back with the write.
        if complete and mark == self._complete_at:
            self._set_complete(self._repo.counters())
            self._repo.set_meta(_COMPLETE_KEY, _format_mark(self._complete_at))

    def _set_complete(self, mark: tuple[int, int]) -> None:
        """Note the counters at which no live entry lacked a vector. Noted inside a
        transaction, the mark goes back to unknown if it rolls back: it may have been taken
        back with the write it followed, and the counters reach the same values again."""
        self._complete_at = mark
        db = self._repo.db
        if db.in_transaction:
            db.on_rollback(lambda: setattr(self, "_complete_at", (-1, -1)))

    def close(self) -> None:
        """Rewrite the index snapshot if it fell far behind."""
        self.mirror.close()

    def graph_vectors(self) -> tuple[Any, Any]:
        """``(entry ids, vectors)`` of every live entry, for the graph (what lacks a vector is
        embedded first)."""
        self.backfill()
        ids, matrix, _, _, _ = self.mirror.index().export()
        return ids, matrix

    def query_cache(self) -> LRUCache[builtins.list[SearchHit]]:
        """The cache of search results (its hits and misses go into ``stats``)."""
        return self.cache

    def backfill(self, progress: Callable[[int], None] | None = None) -> int:
        """Embed every live entry that should have a vector and has none; returns how many."""
        done = 0
        skip = sorted(self._settings.no_embed_namespaces)
        while True:
            rows = self._repo.missing(self.embedder.identity, skip, self._clock(), _BACKFILL_BATCH)
            if not rows:
                return done
            self.check_identity()
            texts = [embedding_text(v, t) for _, v, t, _ in rows]
            vecs = self.embedder.embed(texts)
            identity = self.embedder.identity
            with self._repo.db.transaction():
                if self._repo.meta("embedder") is None:
                    self._repo.set_meta("embedder", identity)
                self._repo.put_vectors(
                    [
                        (entry_id, identity, content_hash(text), vec.astype("<f4").tobytes())
                        for (entry_id, _, _, _), text, vec in zip(rows, texts, vecs, strict=True)
                    ]
                )
            done += len(rows)
            if progress is not None:
                progress(done)

    def reembed(self, progress: Callable[[int], None] | None = None) -> int:
        """Recompute every vector with the embedder in use (the same one too); returns how
        many entries have one now.

        All or nothing: the new vectors are computed first (in memory: 1.5 KB per entry at
        384 dimensions), then replace every vector, the embedder recorded and the database's
        generation in one transaction. A run killed before it leaves the old vectors and
        embedder as they were; entries written meanwhile are embedded after it.
        """
        db = self._repo.db
        identity = self.embedder.identity
        skip = sorted(self._settings.no_embed_namespaces)

        def texts() -> list[tuple[int, str, str]]:
            return [(i, v, t) for i, v, t, _ in self._repo.missing(None, skip, self._clock())]

        done = embed_rows(self.embedder.embed, texts(), progress)
        with db.transaction():
            self._repo.delete_all_vectors()
            self._repo.put_vectors(
                [
                    (i, identity, p.content_hash, p.vector.astype("<f4").tobytes())
                    for i, p in still_current(done, texts())
                ]
            )
            self._repo.set_meta("embedder", identity)
            self._repo.set_meta(_COMPLETE_KEY, "-1:-1")
            db.start_generation()
        # The new generation: the cache, the identity check and the completeness mark go.
        self._follow_generation()
        self.mirror.forget_snapshot()
        self.mirror.drop()
        self.backfill()
        return len(done)

    # -- searching ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        namespace: str | None = None,
        tags: Sequence[str] = (),
        min_score: float | None = None,
        mmr: float | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> builtins.list[SearchHit]:
        """Search; see :meth:`mindbank.MindBank.search`."""
        check_text(query, "the query")
        if not isinstance(mode, str) or mode not in MODES:
            raise ValidationError(f"mode must be one of {', '.join(MODES)}, got {shown(mode)}")
        check_k(k)
        if (
            mmr is not None and not 0.0 <= mmr <= 1.0
        ):  # (finite, with since and until: MindBank.search)
            raise ValidationError(f"mmr (the weight of relevance) must be in [0, 1], got {mmr}")
        generation = self._follow_generation()
        counters = self._repo.counters()
        # The counters come back to earlier values after a rollback: the handle's rollback
        # count tells results of a write taken back from those of a later one.
        version = (counters, self._repo.db.rollbacks, generation)
        key = (query, k, mode, namespace, tuple(tags), min_score, mmr, since, until, version)
        now = self._clock()
        # Time moves no counter: a result holding an entry that expired since is not served
        # (the next one down would take its place).
        cached = self.cache.get(
            key, lambda hits: all(h.entry.expires_at is None or h.entry.expires_at > now
                                  for h in hits)
        )  # fmt: skip
        if cached is not None:
            return cached
        self._memory.flush_access()
        filters = (namespace, tuple(tags), now, since, until)
        pool = k if mmr is None else max(4 * k, 20)
        scored: builtins.list[tuple[int, float, float | None, float | None]]
        if mode == "keyword":
            scored = [(i, s, None, s) for i, s in self._repo.keyword(query, pool, *filters)]
        else:
            self.check_identity()
            if counters != self._complete_at:
                self.backfill()
                self._set_complete(self._repo.counters())
                try:  # a hint for the next process; a search does not wait for the lock
                    with self._repo.db.transaction():
                        self._repo.set_meta(_COMPLETE_KEY, _format_mark(self._complete_at))
                except DatabaseLockedError:
                    pass  # the next process simply looks for missing vectors itself
            qvec = self._query_vector(query)
            index = self.mirror.index()
            want = pool if mode == "semantic" else max(5 * pool, 50)
            sem = self._semantic_top(index, qvec, want, filters)
            if mode == "semantic":
                scored = [(i, s, s, None) for i, s in sem]
            else:
                kw = dict(self._repo.keyword(query, want, *filters))
                semd = dict(sem)
                union = set(semd) | set(kw)
                missing_sem = [i for i in union if i not in semd]
                for i in missing_sem:
                    vec = index.vector(i)
                    if vec is not None:
                        semd[i] = float(vec @ qvec)
                missing_kw = [i for i in union if i not in kw]
                if missing_kw:
                    kw.update(
                        self._repo.keyword(query, len(missing_kw), *filters, only_ids=missing_kw)
                    )
                settings = self._settings
                fused = fuse(
                    semd, kw, rule=settings.fusion, alpha=settings.fusion_alpha, k=settings.fusion_k
                )
                order = sorted(fused, key=lambda i: (-fused[i], i))[:pool]
                scored = [(i, fused[i], semd.get(i), kw.get(i)) for i in order]
        if min_score is not None:
            scored = [s for s in scored if s[1] >= min_score]
        if mmr is not None and len(scored) > 1:
            scored = self._diversify(scored, k, mmr)
        hits = self._hits(scored[:k])
        self.cache.put(key, hits)
        return hits

    def _query_vector(self, query: str) -> Vectors:
        vec = self._query_vectors.get(query)
        if vec is None:
            vec = self.embedder.embed_one(query)
            self._query_vectors.put(query, vec)
        return vec

    def _semantic_top(
        self, index: VectorIndex, qvec: Vectors, k: int, filters: tuple[Any, ...]
    ) -> builtins.list[tuple[int, float]]:
        namespace, tags, now, since, until = filters
        ids = index.ids
        # The best k' candidates, checked against the filters in SQL...
        want = max(4 * k, k + 20)
        rows, scores = index.search(qvec, want, namespace)
        ok = set(self._repo.allowed_ids(None, tags, now, since, until, among=ids[rows]).tolist())
        survivors = [
            (int(ids[r]), float(s)) for r, s in zip(rows, scores, strict=True) if int(ids[r]) in ok
        ]
        if len(survivors) >= k or len(rows) < want:
            return survivors[:k]
        # ... and when too few pass, the whole filtered set is scored exactly.
        allowed = index.rows_of(self._repo.allowed_ids(namespace, tags, now, since, until))
        rows, scores = index.search_rows(qvec, allowed, k)
        return [(int(ids[r]), float(s)) for r, s in zip(rows, scores, strict=True)]

    def _diversify(
        self,
        scored: builtins.list[tuple[int, float, float | None, float | None]],
        k: int,
        lam: float,
    ) -> builtins.list[tuple[int, float, float | None, float | None]]:
        index = self.mirror.index()
        import numpy as np

        from mindbank.vectors.mmr import mmr as mmr_select

        vecs = np.zeros((len(scored), self.embedder.dims), dtype=np.float32)
        for n, (entry_id, *_rest) in enumerate(scored):
            vec = index.vector(entry_id)
            if vec is not None:
                vecs[n] = vec
        rel = np.asarray([s[1] for s in scored], dtype=np.float64)
        return [scored[i] for i in mmr_select(rel, vecs, k, lam)]

    def _hits(
        self, scored: builtins.list[tuple[int, float, float | None, float | None]]
    ) -> builtins.list[SearchHit]:
        entries = self._memory.by_ids([i for i, *_ in scored])
        hits: builtins.list[SearchHit] = []
        for i, score, sem, kw in scored:
            entry = entries.get(i)
            if entry is not None:
                hits.append(SearchHit(entry, score, sem, kw, len(hits) + 1))
        return hits

    # -- status ------------------------------------------------------------------------------

    def status(self) -> IndexStatus:
        """Counts that say whether the indexes are complete and in step."""
        identity = self.embedder.identity
        in_use = self._repo.embedders_in_use()
        skip = sorted(self._settings.no_embed_namespaces)
        missing = len(self._repo.missing(identity, skip, self._clock()))
        entries = self._repo.entry_rows()
        return IndexStatus(
            embedder=identity,
            stored_embedder=self._repo.meta("embedder"),
            vectors=in_use.get(identity, 0),
            other_vectors=sum(n for e, n in in_use.items() if e != identity),
            missing=missing,
            skipped_namespaces=tuple(skip),
            entries=entries,
            fts_rows=self._repo.fts_count(),
            fts_ok=self._repo.fts_integrity(),
            loaded=self.mirror.loaded,
            snapshot=self.mirror.check_snapshot(),
        )

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild the full-text index, reload the vector mirror and embed what is missing."""
        with self._repo.db.transaction():
            self._repo.rebuild_fts()
        self.mirror.forget_snapshot()
        self.mirror.drop()
        self.cache.clear()
        n = self.backfill(progress)
        self.mirror.index()
        return n

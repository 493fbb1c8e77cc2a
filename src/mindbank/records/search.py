"""Records of semantic memory: search hits and the state of the vector index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mindbank.records._base import Record
from mindbank.records.memory import Entry

__all__ = ["EntryScore", "FuzzyHit", "GraphNode", "GraphReport", "IndexStatus", "SearchHit"]


@dataclass(frozen=True, slots=True)
class SearchHit(Record):
    """One search result and why it ranked where it did.

    Attributes:
        entry: the entry found.
        score: the score results are ordered by (the fused score in hybrid mode, the cosine
            similarity in semantic mode, the BM25 score in keyword mode).
        semantic: cosine similarity of the entry's vector to the query's (None: no vector).
        keyword: BM25 score of the entry for the query (None: not matched, or not asked).
        rank: 1-based position in the results.
        boost: what feedback learned about the entry (in [-1, 1]; ``score`` includes
            ``feedback_weight * boost``).
    """

    entry: Entry
    score: float
    semantic: float | None
    keyword: float | None
    rank: int
    boost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "rank": self.rank,
            "score": self.score,
            "semantic": self.semantic,
            "keyword": self.keyword,
            "boost": self.boost,
            "entry": self.entry.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class IndexStatus(Record):
    """The state of the search indexes of a database.

    Attributes:
        embedder: identity of the embedder in use.
        stored_embedder: identity recorded in the database (None before the first vector).
        vectors: vectors stored by the embedder in use.
        other_vectors: vectors stored by other embedders (unusable until re-embedded).
        missing: live entries that should have a vector and have none.
        skipped_namespaces: namespaces configured not to be embedded.
        entries: rows in memory_store.
        fts_rows: rows in the full-text index (equal to ``entries`` when in step).
        fts_ok: FTS5's integrity check against memory_store passed.
        loaded: vectors in this process's in-memory index (0 until the first search).
        snapshot: the vector snapshot file against the table: ``none``, ``stale`` (ignored
            by the next process, which writes a new one), ``ok``, or ``wrong`` (it would be
            loaded and disagrees with the table: not ok).
    """

    embedder: str
    stored_embedder: str | None
    vectors: int
    other_vectors: int
    missing: int
    skipped_namespaces: tuple[str, ...]
    entries: int
    fts_rows: int
    fts_ok: bool
    loaded: int
    snapshot: str = "none"

    @property
    def ok(self) -> bool:
        """True when every index is complete and in step."""
        return (
            self.missing == 0
            and self.other_vectors == 0
            and self.fts_ok
            and self.fts_rows == self.entries
            and self.snapshot != "wrong"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "ok": self.ok,
            "embedder": self.embedder,
            "stored_embedder": self.stored_embedder,
            "vectors": self.vectors,
            "other_vectors": self.other_vectors,
            "missing": self.missing,
            "skipped_namespaces": list(self.skipped_namespaces),
            "entries": self.entries,
            "fts_rows": self.fts_rows,
            "fts_ok": self.fts_ok,
            "loaded": self.loaded,
            "snapshot": self.snapshot,
        }


@dataclass(frozen=True, slots=True)
class EntryScore(Record):
    """What feedback taught about an entry.

    Attributes:
        boost: in [-1, 1]; search adds ``feedback_weight * boost`` to the entry's score.
        uses: times it was used after a search showed it, or given positive or negative
            feedback explicitly.
        skips: times it was shown above the result that was used.
    """

    namespace: str
    key: str
    boost: float
    uses: int
    skips: int


@dataclass(frozen=True, slots=True)
class GraphNode(Record):
    """An entry in the memory graph: its PageRank and its neighbours
    ``(namespace, key, kind, weight)``, kind ``similar`` (weight: cosine) or ``coaccess``
    (weight: times used close together)."""

    namespace: str
    key: str
    pagerank: float
    neighbours: tuple[tuple[str, str, str, float], ...]


@dataclass(frozen=True, slots=True)
class GraphReport(Record):
    """What building the memory graph found."""

    nodes: int
    similar_edges: int
    coaccess_edges: int
    seconds: float


@dataclass(frozen=True, slots=True)
class FuzzyHit(Record):
    """A typo-tolerant match: trigram Jaccard similarity of the query to the entry's key or
    (short) value, whichever is higher (``field``)."""

    namespace: str
    key: str
    score: float
    field: str

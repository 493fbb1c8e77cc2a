"""What the facade asks of a database's search, whichever the database.

:class:`~mindbank.memory.semantic.SemanticMemory` (SQLite: an in-process vector index and FTS5)
and :class:`~mindbank.memory.pg_search.PgSearch` (PostgreSQL: pgvector and a tsvector column)
both are a :class:`Searcher`; ``MindBank`` holds one and never asks which.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mindbank.memory.cache import LRUCache
    from mindbank.memory.semantic import Prepared
    from mindbank.records import IndexStatus, SearchHit
    from mindbank.store.memory import EntryRow

__all__ = ["Searcher"]


class Searcher(Protocol):
    """Vectors written with entries, and search over them."""

    def check_identity(self) -> None:
        """Refuse an embedder other than the one that wrote the vectors."""

    def prepare(self, rows: Sequence[EntryRow]) -> list[Prepared | None]:
        """Embed what the rows need, outside any transaction (None: no vector wanted)."""

    def mark(self) -> Any:
        """Note the index's state inside a write transaction, before its first write."""

    def write(self, items: Sequence[tuple[int, str, Prepared | None]], mark: Any) -> None:
        """Store the vectors of ``(entry id, namespace, prepared)`` in the entries'
        transaction."""

    def removed(self, entry_ids: Sequence[int], mark: Any) -> None:
        """Entries deleted in this transaction."""

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

    def reembed(self, progress: Callable[[int], None] | None = None) -> int:
        """Recompute every vector with the embedder in use."""

    def status(self) -> IndexStatus:
        """Whether the indexes are complete and in step."""

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild what can be rebuilt; returns how many entries were embedded."""

    def graph_vectors(self) -> tuple[Any, Any]:
        """``(entry ids, vectors)`` for the memory graph."""

    def query_cache(self) -> LRUCache[Any] | None:
        """The cache of results, if there is one."""

    def close(self) -> None:
        """Write back what is kept in memory."""

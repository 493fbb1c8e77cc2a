"""SQL of semantic memory: vectors, the full-text index, change counters, database facts.

Vectors are stored as float32 little-endian BLOBs (``numpy.ndarray.tobytes()`` on a
little-endian machine; ``dims * 4`` bytes), one per entry, with the identity of the embedder that
computed them and the SHA-256 of the text they were computed from.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mindbank.store.database import Database, translate_error

if TYPE_CHECKING:  # numpy loads with the first vector search, not with a keyword search
    import numpy as np
    import numpy.typing as npt

__all__ = ["TAG_SQLITE", "Mirror", "VectorRepo", "entry_filters", "fts_query", "query_words"]

_LIVE = "(m.expires_at IS NULL OR m.expires_at > ?)"
TAG_SQLITE = "EXISTS (SELECT 1 FROM json_each(m.tags) WHERE json_each.value = ?)"


def entry_filters(
    namespace: str | None,
    tags: Sequence[str],
    now: float,
    since: float | None,
    until: float | None,
    tag_clause: str = TAG_SQLITE,
) -> tuple[str, list[Any]]:
    """The WHERE clause (over ``memory_store m``) and parameters of search filters: live, in
    the namespace, carrying every tag (``tag_clause`` tests one), updated within the window."""
    clauses = [_LIVE]
    params: list[Any] = [now]
    if namespace is not None:
        clauses.append("m.namespace = ?")
        params.append(namespace)
    for tag in tags:
        clauses.append(tag_clause)
        params.append(tag)
    if since is not None:
        clauses.append("m.updated_at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("m.updated_at <= ?")
        params.append(until)
    return " AND ".join(clauses), params


_TOKEN = re.compile(r"\w+", re.UNICODE)
# Function words match almost every entry and only add noise to BM25; they are left out of
# keyword queries (the index keeps them, so a query of nothing else still finds exact text).
_STOPWORDS = frozenset(
    "a an and are as at be been but by can do does for from had has have how i if in into is "
    "it its me my no not of on or our so than that the their them then there these they this "
    "to was we were what when where which who why will with would you your".split()
)


def query_words(text: str) -> list[str]:
    """The distinct lower-cased words of a query, function words left out (unless that would
    leave nothing)."""
    words = list(dict.fromkeys(w.lower() for w in _TOKEN.findall(text)))
    content = [w for w in words if w not in _STOPWORDS]
    return content or words


def fts_query(words: Sequence[str]) -> str | None:
    """An FTS5 query that matches any of the words (each quoted, so no syntax leaks in).

    Returns None when there are no words.
    """
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


# Keyword search over a large memory leaves out query words held by more than this share of
# the entries, when the query has rarer words: scoring every entry that holds a common word is
# most of the cost, and such words carry almost no BM25 weight.
COMMON_TERM_FROM = 20_000
COMMON_TERM_SHARE = 0.02


@dataclass(frozen=True, slots=True)
class Mirror:
    """Every vector of one embedder with its entry's namespace, loaded in one query."""

    ids: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]
    namespaces: tuple[str, ...]


class VectorRepo:
    """Reads and writes vectors, FTS and counters for one :class:`Database`."""

    def __init__(self, db: Database):
        self.db = db

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

    # -- facts and counters ------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """A fact about the database (e.g. ``embedder``), or None."""
        row = self._run("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Record a fact about the database."""
        self._run(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def counters(self) -> tuple[int, int]:
        """(memory, vectors) change counters; they grow with every change by any process.

        The second is the last sequence number of ``embeddings_log``.
        """
        memory = self._run("SELECT value FROM counters WHERE name = 'memory'").fetchone()[0]
        seq = self._run("SELECT max(seq) FROM embeddings_log").fetchone()[0]
        return int(memory), int(seq or 0)

    def oldest_logged(self) -> int:
        """The oldest sequence number still in the log (changes before it were pruned)."""
        return int(self._run("SELECT min(seq) FROM embeddings_log").fetchone()[0] or 0)

    def changes_since(
        self, seq: int, embedder: str
    ) -> tuple[list[tuple[int, bytes | None, str | None]], int]:
        """Entries whose vector changed after ``seq``, each once with its current state
        ``(entry_id, vector or None if gone, namespace)``, and the last sequence number read
        (in the same statement, so nothing falls between)."""
        rows = self._run(
            "SELECT c.entry_id, mb_f32(e.vector, e.quant), m.namespace, c.last FROM "
            "(SELECT entry_id, max(seq) AS last FROM embeddings_log WHERE seq > ? "
            "GROUP BY entry_id) c "
            "LEFT JOIN embeddings e ON e.entry_id = c.entry_id AND e.embedder = ? "
            "LEFT JOIN memory_store m ON m.id = e.entry_id",
            (seq, embedder),
        ).fetchall()
        last = max((int(r[3]) for r in rows), default=seq)
        return [(int(r[0]), None if r[1] is None else bytes(r[1]), r[2]) for r in rows], last

    def vector_count(self, embedder: str) -> int:
        """How many vectors the embedder has stored."""
        return int(
            self._run("SELECT count(*) FROM embeddings WHERE embedder = ?", (embedder,)).fetchone()[
                0
            ]
        )

    def delete_all_vectors(self) -> None:
        """Remove every vector (of every embedder): a reembed replaces them all."""
        self._run("DELETE FROM embeddings")

    def vectors_of(self, entry_ids: Sequence[int], embedder: str) -> dict[int, bytes]:
        """The stored vectors (float32 little-endian) of some entries, by entry id."""
        marks = ",".join("?" * len(entry_ids))
        rows = self._run(
            f"SELECT entry_id, mb_f32(vector, quant) FROM embeddings "
            f"WHERE embedder = ? AND entry_id IN ({marks})",
            (embedder, *entry_ids),
        ).fetchall()
        return {int(r[0]): bytes(r[1]) for r in rows}

    def prune_log(self, keep: int) -> None:
        """Forget all but the last ``keep`` changes (an index older than that reloads fully)."""
        self._run(
            "DELETE FROM embeddings_log WHERE seq <= (SELECT max(seq) FROM embeddings_log) - ?",
            (keep,),
        )

    # -- vectors -----------------------------------------------------------------------------

    def vector_for_hash(self, content_hash: str, embedder: str) -> bytes | None:
        """A stored vector computed from the same text by the same embedder, if any."""
        row = self._run(
            "SELECT vector FROM embeddings WHERE content_hash = ? AND embedder = ? "
            "AND quant IS NULL LIMIT 1",
            (content_hash, embedder),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def hashes_for(self, entry_ids: Iterable[int], embedder: str) -> dict[int, str]:
        """The content hash of each entry's current vector (by this embedder)."""
        ids = list(entry_ids)
        out: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for entry_id, h in self._run(
                f"SELECT entry_id, content_hash FROM embeddings WHERE embedder = ? "
                f"AND entry_id IN ({marks})",
                (embedder, *chunk),
            ):
                out[int(entry_id)] = str(h)
        return out

    def put_vectors(self, rows: Sequence[tuple[int, str, str, bytes]]) -> None:
        """Write ``(entry_id, embedder, content_hash, vector)`` rows, replacing old ones."""
        try:
            self.db.executemany(
                "INSERT INTO embeddings (entry_id, embedder, content_hash, vector) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (entry_id) DO UPDATE SET "
                "embedder = excluded.embedder, content_hash = excluded.content_hash, "
                "vector = excluded.vector, quant = NULL",
                rows,
            )
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

    def delete_vectors(self, entry_ids: Sequence[int]) -> None:
        """Remove the vectors of these entries."""
        try:
            self.db.executemany(
                "DELETE FROM embeddings WHERE entry_id = ?", [(i,) for i in entry_ids]
            )
        except sqlite3.Error as exc:
            raise translate_error(exc, self.db.path) from exc

    def entry_rows(self) -> int:
        """Rows in ``memory_store`` (expired ones included)."""
        return int(self._run("SELECT count(*) FROM memory_store").fetchone()[0])

    def embedders_in_use(self) -> dict[str, int]:
        """Vector count per embedder identity."""
        return dict(self._run("SELECT embedder, count(*) FROM embeddings GROUP BY 1").fetchall())

    def missing(
        self,
        embedder: str | None,
        skip_namespaces: Iterable[str],
        now: float,
        limit: int | None = None,
    ) -> list[tuple[int, str, str, str]]:
        """Live entries without a current vector of ``embedder`` (None: every live entry to
        embed): ``(id, value, value_type, key)``."""
        skip = list(skip_namespaces)
        marks = ",".join("?" * len(skip))
        not_skipped = f"AND m.namespace NOT IN ({marks})" if skip else ""
        lacking = "e.entry_id IS NULL AND" if embedder is not None else ""
        rows = self._run(
            f"SELECT m.id, mb_plain(m.value), m.value_type, m.key FROM memory_store m "
            f"LEFT JOIN embeddings e ON e.entry_id = m.id AND e.embedder = ? "
            f"WHERE {lacking} {_LIVE} {not_skipped} ORDER BY m.id LIMIT ?",
            (embedder or "", now, *skip, -1 if limit is None else limit),
        ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def load_mirror(self, embedder: str, dims: int) -> Mirror:
        """Every vector of ``embedder``, with its entry's namespace."""
        rows = self._run(
            "SELECT e.entry_id, mb_f32(e.vector, e.quant), m.namespace "
            "FROM embeddings e JOIN memory_store m ON m.id = e.entry_id "
            "WHERE e.embedder = ? ORDER BY e.entry_id",
            (embedder,),
        ).fetchall()
        n = len(rows)
        blob = b"".join(r[1] for r in rows)
        import numpy as np

        matrix = np.frombuffer(blob, dtype="<f4").astype(np.float32).reshape(n, dims)
        return Mirror(
            ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
            matrix=matrix,
            namespaces=tuple(r[2] for r in rows),
        )

    # -- filters and full text ---------------------------------------------------------------

    def _filters(
        self,
        namespace: str | None,
        tags: Sequence[str],
        now: float,
        since: float | None,
        until: float | None,
    ) -> tuple[str, list[Any]]:
        return entry_filters(namespace, tags, now, since, until)

    def allowed_ids(
        self,
        namespace: str | None,
        tags: Sequence[str],
        now: float,
        since: float | None,
        until: float | None,
        among: npt.NDArray[np.int64] | None = None,
    ) -> npt.NDArray[np.int64]:
        """Ids of the live entries that pass the filters (only those of ``among``, if given)."""
        import numpy as np

        where, params = self._filters(namespace, tags, now, since, until)
        if among is not None:
            if len(among) == 0:
                return np.empty(0, dtype=np.int64)
            where += f" AND m.id IN ({','.join(str(int(i)) for i in among)})"
        rows = self._run(f"SELECT m.id FROM memory_store m WHERE {where}", params).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def keyword(
        self,
        query: str,
        limit: int,
        namespace: str | None,
        tags: Sequence[str],
        now: float,
        since: float | None,
        until: float | None,
        only_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """BM25 full-text matches, best first, as ``(entry_id, score)`` with score > 0.

        Filters apply inside the query, so the top ``limit`` is the top of the filtered set.
        ``only_ids`` restricts scoring to those entries (to score a known candidate set).
        """
        match = fts_query(self._keyword_words(query))
        if match is None:
            return []
        where, params = self._filters(namespace, tags, now, since, until)
        restrict = ""
        if only_ids is not None:
            if not only_ids:
                return []
            restrict = f"AND m.id IN ({','.join(str(int(i)) for i in only_ids)})"
        rows = self._run(
            f"SELECT m.id, -bm25(memory_fts) AS score FROM memory_fts "
            f"JOIN memory_store m ON m.id = memory_fts.rowid "
            f"WHERE memory_fts MATCH ? AND {where} {restrict} ORDER BY score DESC LIMIT ?",
            (match, *params, limit),
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def _keyword_words(self, query: str) -> list[str]:
        words = query_words(query)
        if len(words) < 2:
            return words
        size = int(self._run("SELECT coalesce(max(id), 0) FROM memory_store").fetchone()[0])
        if size < COMMON_TERM_FROM:
            return words
        limit = max(500, int(size * COMMON_TERM_SHARE))
        rare = []
        for word in words:
            row = self._run("SELECT doc FROM memory_fts_vocab WHERE term = ?", (word,)).fetchone()
            if row is None or row[0] <= limit:
                rare.append(word)
        return rare or words

    def fts_count(self) -> int:
        """Rows in the full-text index (should equal rows in memory_store)."""
        return int(self._run("SELECT count(*) FROM memory_fts_docsize").fetchone()[0])

    def rebuild_fts(self) -> None:
        """Rebuild the full-text index from memory_store."""
        self._run("INSERT INTO memory_fts (memory_fts) VALUES ('rebuild')")

    def fts_integrity(self) -> bool:
        """FTS5's own integrity check against its content table."""
        try:
            self.db.execute(
                "INSERT INTO memory_fts (memory_fts, rank) VALUES ('integrity-check', 1)"
            )
        except sqlite3.DatabaseError:
            return False
        return True

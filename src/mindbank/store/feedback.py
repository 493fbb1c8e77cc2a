"""SQL of the feedback loop: search impressions, feedback events, learned entry scores."""

from __future__ import annotations

from collections.abc import Sequence

from mindbank.store.codec import dumps, loads
from mindbank.store.database import Database

__all__ = ["FeedbackRepo"]


class FeedbackRepo:
    """Reads and writes the feedback tables of one :class:`Database` (portable SQL; the
    PostgreSQL repository overrides what differs)."""

    SQL_PLAIN = "mb_plain(value)"  # a value as text (decompressed)

    def __init__(self, db: Database):
        self.db = db

    def add_impression(self, query: str, results: Sequence[tuple[str, str]], now: float) -> None:
        """Remember what a search showed, in rank order."""
        self.db.run(
            "INSERT INTO search_impressions (query, results, shown_at) VALUES (?, ?, ?)",
            (query, dumps([list(r) for r in results]), now),
        )

    def prune_impressions(self, before: float) -> None:
        """Forget impressions shown before ``before``."""
        self.db.run("DELETE FROM search_impressions WHERE shown_at < ?", (before,))

    def latest_shown(self) -> float | None:
        """When the last impression was shown (None: none kept)."""
        row = self.db.run("SELECT max(shown_at) FROM search_impressions").fetchone()
        return None if row[0] is None else float(row[0])

    def impressions_since(self, since: float) -> list[tuple[int, str, list[list[str]]]]:
        """``(id, query, results)`` shown at or after ``since``, newest first."""
        return [
            (r[0], r[1], loads(r[2]))
            for r in self.db.run(
                "SELECT id, query, results FROM search_impressions WHERE shown_at >= ? "
                "ORDER BY id DESC",
                (since,),
            )
        ]

    def drop_impression(self, impression_id: int) -> None:
        """Forget an impression (its feedback was recorded)."""
        self.db.run("DELETE FROM search_impressions WHERE id = ?", (impression_id,))

    def entry_ids(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Row ids of entries by ``(namespace, key)`` (missing ones left out)."""
        out: dict[tuple[str, str], int] = {}
        unique = list(dict.fromkeys(keys))
        for lo in range(0, len(unique), 400):  # one query per 400 keys (SQLite's parameter limit)
            chunk = unique[lo : lo + 400]
            marks = ",".join("(?, ?)" for _ in chunk)
            params = [v for pair in chunk for v in pair]
            for ns, key, row_id in self.db.run(
                f"SELECT namespace, key, id FROM memory_store WHERE (namespace, key) IN "
                f"(VALUES {marks})",
                params,
            ):
                out[(ns, key)] = int(row_id)
        return out

    def score(self, entry_id: int) -> tuple[float, int, int]:
        """``(boost, uses, skips)`` of an entry (zeros when nothing was learned)."""
        row = self.db.run(
            "SELECT boost, uses, skips FROM entry_scores WHERE entry_id = ?", (entry_id,)
        ).fetchone()
        return (0.0, 0, 0) if row is None else (float(row[0]), int(row[1]), int(row[2]))

    def record(
        self,
        entry_id: int,
        query: str | None,
        reward: float,
        source: str,
        boost: float,
        now: float,
    ) -> None:
        """Log one feedback event and set the entry's new boost and counts."""
        self.db.run(
            "INSERT INTO feedback (entry_id, query, reward, source, at) VALUES (?, ?, ?, ?, ?)",
            (entry_id, query, reward, source, now),
        )
        self.db.run(
            "INSERT INTO entry_scores (entry_id, boost, uses, skips, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (entry_id) DO UPDATE SET boost = excluded.boost, "
            "uses = entry_scores.uses + excluded.uses, skips = entry_scores.skips + excluded.skips, "
            "updated_at = excluded.updated_at",
            (entry_id, boost, int(source != "skipped"), int(source == "skipped"), now),
        )

    def boosts(self, entry_ids: Sequence[int]) -> dict[int, float]:
        """Boosts of these entries (entries without one are left out)."""
        if not entry_ids:
            return {}
        marks = ",".join(str(int(i)) for i in entry_ids)
        return dict(
            self.db.run(
                f"SELECT entry_id, boost FROM entry_scores WHERE entry_id IN ({marks})"
            ).fetchall()
        )

    def pageranks(self, entry_ids: Sequence[int]) -> tuple[dict[int, float], float]:
        """PageRanks of these entries, and the highest PageRank of all (0 without a graph)."""
        top = self.db.run("SELECT max(pagerank) FROM entry_scores").fetchone()[0]
        if not entry_ids or top is None:
            return {}, 0.0
        marks = ",".join(str(int(i)) for i in entry_ids)
        ranks = dict(
            self.db.run(
                f"SELECT entry_id, pagerank FROM entry_scores WHERE entry_id IN ({marks}) "
                "AND pagerank IS NOT NULL"
            ).fetchall()
        )
        return ranks, float(top)

    def any_scores(self) -> bool:
        """Whether any entry has a learned score."""
        return self.db.run("SELECT 1 FROM entry_scores LIMIT 1").fetchone() is not None

    # -- the memory graph --------------------------------------------------------------------

    def use_events(self) -> list[tuple[int, float]]:
        """``(entry_id, time)`` of every use (and positive explicit feedback), oldest first."""
        return [
            (int(r[0]), float(r[1]))
            for r in self.db.run(
                "SELECT entry_id, at FROM feedback WHERE source = 'used' OR "
                "(source = 'explicit' AND reward > 0) ORDER BY at, id"
            )
        ]

    def replace_graph(
        self, edges: Sequence[tuple[int, int, str, float]], ranks: dict[int, float], now: float
    ) -> None:
        """Replace every edge and PageRank (call inside a transaction)."""
        self.db.run("DELETE FROM memory_edges")
        self.db.executemany("INSERT INTO memory_edges VALUES (?, ?, ?, ?)", edges)
        self.db.run("UPDATE entry_scores SET pagerank = NULL")
        self.db.executemany(
            "INSERT INTO entry_scores (entry_id, pagerank, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (entry_id) DO UPDATE SET pagerank = excluded.pagerank",
            [(i, r, now) for i, r in ranks.items()],
        )

    def top_ranked(self, limit: int) -> list[tuple[int, str, str, float]]:
        """``(entry_id, namespace, key, pagerank)``, highest first."""
        return self.db.run(
            "SELECT s.entry_id, m.namespace, m.key, s.pagerank FROM entry_scores s "
            "JOIN memory_store m ON m.id = s.entry_id WHERE s.pagerank IS NOT NULL "
            "ORDER BY s.pagerank DESC, m.namespace, m.key LIMIT ?",
            (limit,),
        ).fetchall()

    def neighbours(self, entry_id: int, limit: int) -> list[tuple[str, str, str, float]]:
        """``(namespace, key, kind, weight)`` of an entry's neighbours, heaviest first."""
        return self.db.run(
            "SELECT m.namespace, m.key, e.kind, e.weight FROM memory_edges e "
            "JOIN memory_store m ON m.id = CASE WHEN e.a = ? THEN e.b ELSE e.a END "
            "WHERE e.a = ? OR e.b = ? ORDER BY e.weight DESC, m.key LIMIT ?",
            (entry_id, entry_id, entry_id, limit),
        ).fetchall()

    def edge_count(self) -> dict[str, int]:
        """Edges by kind."""
        return dict(self.db.run("SELECT kind, count(*) FROM memory_edges GROUP BY kind").fetchall())

    # -- fuzzy lookup ------------------------------------------------------------------------

    def memory_version(self) -> int:
        """The memory change counter (moves with every entry write by any process)."""
        return int(self.db.run("SELECT value FROM counters WHERE name = 'memory'").fetchone()[0])

    def live_texts(self, now: float) -> list[tuple[str, str, str]]:
        """``(namespace, key, value)`` of every live entry."""
        return self.db.run(
            f"SELECT namespace, key, {self.SQL_PLAIN} FROM memory_store "
            "WHERE expires_at IS NULL OR expires_at > ?",
            (now,),
        ).fetchall()

    # -- tiers -------------------------------------------------------------------------------

    def entry_use(self, now: float) -> list[tuple[str, str, int, float, float | None]]:
        """``(namespace, key, access_count, updated_at, accessed_at)`` of live entries."""
        return self.db.run(
            "SELECT namespace, key, access_count, updated_at, accessed_at FROM memory_store "
            "WHERE expires_at IS NULL OR expires_at > ? ORDER BY namespace, key",
            (now,),
        ).fetchall()

    def events_summary(self) -> tuple[int, float | None]:
        """Events kept, and the oldest one's time."""
        n, oldest = self.db.run("SELECT count(*), min(timestamp) FROM events").fetchone()
        return int(n), None if oldest is None else float(oldest)

    def events_beyond(self, max_events: int, before: float) -> int:
        """How many events the retention rules would remove."""
        return int(
            self.db.run(
                "SELECT count(*) FROM events WHERE timestamp < ? OR id <= "
                "(SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (before, max_events),
            ).fetchone()[0]
        )

    def prune_events(self, max_events: int, before: float) -> int:
        """Remove events older than ``before`` and all but the newest ``max_events``."""
        return self.db.run(
            "DELETE FROM events WHERE timestamp < ? OR id <= "
            "(SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (before, max_events),
        ).rowcount

    def vector_counts(self) -> tuple[int, int]:
        """Vectors of entries, of ReasoningBank items."""
        a = self.db.run("SELECT count(*) FROM embeddings").fetchone()[0]
        b = self.db.run("SELECT count(*) FROM pattern_embeddings").fetchone()[0]
        return int(a), int(b)

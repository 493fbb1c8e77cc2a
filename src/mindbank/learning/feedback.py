"""The feedback loop: what a search showed, what was then used, and the boost it learns.

A search remembers its results (in the database, for ``feedback_window`` seconds, so another
process's retrieve counts too). Retrieving one of them is feedback on that search: the entry
was used (reward +1) and the ones shown above it were skipped (reward -1, learned more
slowly). Each signal moves the entry's boost (:func:`mindbank.learning.rules.learn_boost`);
search adds ``feedback_weight * boost`` to the score and re-sorts, so what is used rises and
what is passed over sinks.

The retrieve path stays cheap: it looks for impressions only while one may be in its window
(known in this process, or read from the database at most once a second).
"""

from __future__ import annotations

import builtins
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mindbank.config import LearningSettings
from mindbank.errors import NotFoundError, ValidationError, shown
from mindbank.learning.fuzzy import FuzzyCache
from mindbank.learning.rules import learn_boost
from mindbank.records import EntryScore, FuzzyHit, GraphNode, GraphReport, SearchHit
from mindbank.store.database import Database
from mindbank.store.repos import feedback_repo

if TYPE_CHECKING:  # numpy loads only to build the graph: the retrieve and search paths skip it
    import numpy as np

__all__ = ["FeedbackLoop"]


class FeedbackLoop:
    """Impressions, feedback and boosts for one database connection."""

    def __init__(self, db: Database, settings: LearningSettings, clock: Callable[[], float]):
        self._db = db
        self._repo = feedback_repo(db)
        self.settings = settings
        self._clock = clock
        self._armed_until = -math.inf
        self._checked_at = -math.inf
        self._pruned_at = -math.inf
        self._fuzzy = FuzzyCache(
            self._repo.memory_version, lambda: self._repo.live_texts(self._clock())
        )

    # -- impressions -------------------------------------------------------------------------

    def shown(self, query: str, hits: Sequence[SearchHit]) -> None:
        """Remember what a search showed."""
        window = self.settings.feedback_window
        if not hits or window <= 0:
            return
        now = self._clock()
        # Two single statements, no transaction: nothing to keep atomic, and on PostgreSQL a
        # transaction would queue every search behind the tenant's writers.
        self._repo.add_impression(query, [(h.entry.namespace, h.entry.key) for h in hits], now)
        if now - self._pruned_at >= 60.0:
            self._repo.prune_impressions(now - window)
            self._pruned_at = now
        self._armed_until = now + window

    def armed(self) -> bool:
        """Whether a search showed results within the feedback window (a retrieve may then
        be feedback); reads the database at most once a second."""
        now = self._clock()
        if now < self._armed_until:
            return True
        if now - self._checked_at < 1.0:
            return False
        self._checked_at = now
        latest = self._repo.latest_shown()
        if latest is not None:
            self._armed_until = latest + self.settings.feedback_window
        return now < self._armed_until

    def used(self, namespace: str, key: str) -> bool:
        """An entry was retrieved: if a recent search showed it, record it as used there and
        the results above it as skipped. Returns whether feedback was recorded."""
        if not self.armed():
            return False
        now = self._clock()
        for imp_id, query, results in self._repo.impressions_since(
            now - self.settings.feedback_window
        ):
            shown = [(r[0], r[1]) for r in results]
            if (namespace, key) not in shown:
                continue
            above = shown[: shown.index((namespace, key))]
            s = self.settings
            with self._db.transaction():
                ids = self._repo.entry_ids([(namespace, key), *above])
                if (namespace, key) in ids:
                    self._learn(ids[(namespace, key)], query, 1.0, "used", s.rate_used, now)
                for where in above:
                    if where in ids:
                        self._learn(ids[where], query, -1.0, "skipped", s.rate_skipped, now)
                self._repo.drop_impression(imp_id)
            return True
        return False

    def _learn(
        self, entry_id: int, query: str | None, reward: float, source: str, rate: float, now: float
    ) -> tuple[float, int, int]:
        boost, uses, skips = self._repo.score(entry_id)
        new = learn_boost(boost, reward, rate)
        self._repo.record(entry_id, query, reward, source, new, now)
        return new, uses + (source != "skipped"), skips + (source == "skipped")

    # -- explicit feedback -------------------------------------------------------------------

    def explicit(
        self, namespace: str, key: str, reward: float, query: str | None = None
    ) -> EntryScore:
        """Record a caller's feedback on an entry: ``reward`` in [-1, 1]."""
        if isinstance(reward, bool) or not isinstance(reward, int | float):
            raise ValidationError(f"reward must be a number in [-1, 1], got {shown(reward)}")
        if not -1.0 <= reward <= 1.0:
            raise ValidationError(f"reward must be in [-1, 1], got {reward}")
        now = self._clock()
        with self._db.transaction():
            ids = self._repo.entry_ids([(namespace, key)])
            if not ids:
                raise NotFoundError(f"no entry {shown(key)} in namespace {shown(namespace)}")
            boost, uses, skips = self._learn(
                ids[(namespace, key)],
                query,
                float(reward),
                "explicit",
                self.settings.rate_used,
                now,
            )
        return EntryScore(namespace, key, boost, uses, skips)

    def score(self, namespace: str, key: str) -> EntryScore:
        """What was learned about an entry."""
        ids = self._repo.entry_ids([(namespace, key)])
        if not ids:
            raise NotFoundError(f"no entry {shown(key)} in namespace {shown(namespace)}")
        boost, uses, skips = self._repo.score(ids[(namespace, key)])
        return EntryScore(namespace, key, boost, uses, skips)

    # -- ranking -----------------------------------------------------------------------------

    def learning(self) -> bool:
        """Whether any boost was learned (search only re-ranks then)."""
        s = self.settings
        return (s.feedback_weight > 0 or s.graph_weight > 0) and self._repo.any_scores()

    def rerank(self, hits: Sequence[SearchHit], k: int) -> builtins.list[SearchHit]:
        """Add ``feedback_weight * boost`` (and ``graph_weight * pagerank / top pagerank``) to
        each hit's score, re-sort, keep ``k``."""
        keys = [(h.entry.namespace, h.entry.key) for h in hits]
        ids = self._repo.entry_ids(keys)
        boosts = self._repo.boosts(list(ids.values()))
        w, gw = self.settings.feedback_weight, self.settings.graph_weight
        ranks, top = self._repo.pageranks(list(ids.values())) if gw > 0 else ({}, 0.0)
        scored = []
        for h, where in zip(hits, keys, strict=True):
            entry_id = ids.get(where, -1)
            b = boosts.get(entry_id, 0.0)
            g = gw * ranks.get(entry_id, 0.0) / top if top > 0 else 0.0
            scored.append((h.score + w * b + g, b, h))
        scored.sort(key=lambda t: -t[0])
        return [
            SearchHit(h.entry, score, h.semantic, h.keyword, rank, boost)
            for rank, (score, boost, h) in enumerate(scored[:k], start=1)
        ]

    # -- the memory graph --------------------------------------------------------------------

    def build_graph(self, ids: np.ndarray, matrix: np.ndarray, live: set[int]) -> GraphReport:
        """Rebuild the memory graph from the entries' vectors (``ids``, ``matrix``) and the use
        events, compute PageRank, store both."""
        import numpy as np

        from mindbank.learning.graph import coaccess_edges, pagerank
        from mindbank.vectors.lsh import similar_neighbours

        start = time.perf_counter()
        s = self.settings
        src, dst, sim = similar_neighbours(matrix, s.graph_similarity, s.graph_neighbours)
        edges: dict[tuple[int, int, str], float] = {}
        for a, b, w in zip(ids[src].tolist(), ids[dst].tolist(), sim.tolist(), strict=True):
            edges[(min(a, b), max(a, b), "similar")] = round(float(w), 6)
        events = [e for e in self._repo.use_events() if e[0] in live]
        for (a, b), w in coaccess_edges(events, s.coaccess_window).items():
            edges[(a, b, "coaccess")] = w
        nodes = sorted(live)
        pos = {entry_id: i for i, entry_id in enumerate(nodes)}
        pairs = [(pos[a], pos[b], w) for (a, b, _), w in edges.items() if a in pos and b in pos]
        arr = np.array(pairs, dtype=np.float64).reshape(-1, 3)
        a_, b_ = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
        rank = pagerank(
            len(nodes),
            np.concatenate([a_, b_]),
            np.concatenate([b_, a_]),
            np.concatenate([arr[:, 2], arr[:, 2]]),
            s.graph_damping,
        )
        with self._db.transaction():
            self._repo.replace_graph(
                [(a, b, kind, w) for (a, b, kind), w in edges.items()],
                {entry_id: float(rank[i]) for i, entry_id in enumerate(nodes)},
                self._clock(),
            )
        kinds = [k for (_, _, k) in edges]
        return GraphReport(
            nodes=len(nodes),
            similar_edges=kinds.count("similar"),
            coaccess_edges=kinds.count("coaccess"),
            seconds=time.perf_counter() - start,
        )

    def top(self, limit: int, neighbours: int) -> builtins.list[GraphNode]:
        """The entries with the highest PageRank and their heaviest neighbours."""
        return [
            GraphNode(ns, key, float(rank), tuple(self._repo.neighbours(entry_id, neighbours)))
            for entry_id, ns, key, rank in self._repo.top_ranked(limit)
        ]

    # -- fuzzy lookup ------------------------------------------------------------------------

    def fuzzy(
        self, text: str, k: int, namespace: str | None, min_score: float
    ) -> builtins.list[FuzzyHit]:
        """Entries whose key or short value is closest to ``text`` by trigrams."""
        return [
            FuzzyHit(ns, key, score, field)
            for score, field, ns, key, _ in self._fuzzy.index().search(
                text, k, namespace, min_score
            )
        ]

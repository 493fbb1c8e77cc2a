"""Typo-tolerant lookup of keys and short values by trigram similarity.

Texts are lower-cased and padded (``"  key "``) so that beginnings weigh a little more; their
trigram sets are compared by Jaccard similarity (shared / all). An in-process inverted index
(trigram -> entries) finds the candidates that share a trigram with the query, and each is
scored exactly, so the result equals scoring every entry. The index is rebuilt when the
memory's change counter moved (a write by any process).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence

__all__ = ["FuzzyIndex", "jaccard", "trigrams"]

SHORT_VALUE = 200  # values up to this many characters are matched too


def trigrams(text: str) -> frozenset[str]:
    """The trigrams of a lower-cased, padded text."""
    t = f"  {' '.join(text.lower().split())} "
    return frozenset(t[i : i + 3] for i in range(len(t) - 2))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Shared trigrams over all trigrams (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


class FuzzyIndex:
    """Trigram sets of every entry's key (and short value), and who holds each trigram."""

    def __init__(self, rows: Sequence[tuple[str, str, str]]):
        """``rows``: ``(namespace, key, value)`` of the live entries."""
        self.rows = list(rows)
        self.key_grams = [trigrams(k) for _, k, _ in self.rows]
        self.value_grams = [
            trigrams(v) if len(v) <= SHORT_VALUE else frozenset() for _, _, v in self.rows
        ]
        self.holders: dict[str, list[int]] = {}
        for i, (kg, vg) in enumerate(zip(self.key_grams, self.value_grams, strict=True)):
            for g in kg | vg:
                self.holders.setdefault(g, []).append(i)

    def search(
        self, text: str, k: int, namespace: str | None, min_score: float
    ) -> builtins.list[tuple[float, str, str, str, str]]:
        """``(score, field, namespace, key, value)`` best first; field is ``key`` or
        ``value``, whichever matched better."""
        q = trigrams(text)
        candidates: set[int] = set()
        for g in q:
            candidates.update(self.holders.get(g, ()))
        out = []
        for i in candidates:
            ns, key, value = self.rows[i]
            if namespace is not None and ns != namespace:
                continue
            ks, vs = jaccard(q, self.key_grams[i]), jaccard(q, self.value_grams[i])
            score, field = (ks, "key") if ks >= vs else (vs, "value")
            if score >= min_score:
                out.append((score, field, ns, key, value))
        out.sort(key=lambda t: (-t[0], t[2], t[3]))
        return out[:k]


class FuzzyCache:
    """The index, rebuilt when ``version()`` changes."""

    def __init__(
        self, version: Callable[[], int], load: Callable[[], Sequence[tuple[str, str, str]]]
    ):
        self._version = version
        self._load = load
        self._index: FuzzyIndex | None = None
        self._at = -1

    def index(self) -> FuzzyIndex:
        v = self._version()
        if self._index is None or v != self._at:
            self._index = FuzzyIndex(self._load())
            self._at = v
        return self._index

"""A true LRU cache with a time-to-live, and its hit and miss counts."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LRUCache"]

V = TypeVar("V")


class LRUCache(Generic[V]):
    """At most ``size`` values, each valid for ``ttl`` seconds; the least recently used goes
    first when full. ``size=0`` turns caching off."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float]):
        if size < 0 or ttl < 0:
            raise ValueError("cache size and ttl must be >= 0")
        self.size = size
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        # Threads may share a handle's caches (on PostgreSQL its calls run at once).
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, valid: Callable[[V], bool] | None = None) -> V | None:
        """The value, or None when absent, expired or (if given) not ``valid`` any more
        (counted as a miss)."""
        item = self._data.get(key)
        if (
            item is None
            or self._clock() - item[0] >= self.ttl
            or (valid is not None and not valid(item[1]))
        ):
            with self._lock:
                if item is not None and self._data.get(key) is item:
                    del self._data[key]
                self.misses += 1
            return None
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
            self.hits += 1
        return item[1]

    def put(self, key: Hashable, value: V) -> None:
        """Store a value, evicting the least recently used one if full."""
        if self.size == 0:
            return
        with self._lock:
            self._data[key] = (self._clock(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget every value (the counts stay)."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

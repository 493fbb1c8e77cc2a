"""The merge rules of replicated entries: a state is a function of the *set* of operations a
replica has seen, so two replicas that saw the same operations, in any order, hold the same
state.

Per entry ``(namespace, key)``:

- **value** (with its type, metadata and expiry): a last-writer-wins register. The ``set``
  with the greatest hybrid logical timestamp wins; the timestamp ends with the replica id, so
  ties are broken by replica id.
- **deletes** are tombstones: the entry is gone when its latest ``delete`` is later than its
  latest ``set`` (a delete wins over older writes, a later write brings the entry back).
- **tags**: an observed-remove set. ``tag`` adds a tag with a unique dot (the operation's id);
  ``untag`` (and ``delete``) remove the dots the replica had observed for it. A tag is present
  while one of its dots is not removed, so an add concurrent with a remove survives. A ``set``
  names the dots its writer observed on the entry it rewrote (``keeps``): when that set wins
  the register, those dots are not removed by a *delete* (a rewrite concurrent with a delete
  brings its tags back with its value); an ``untag`` still removes them.
- **access count**: a grow-only counter: each replica's ``count`` operations add to its own
  share; the count is the sum over replicas.

Operations are unique by id: seeing one twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "EntryState", "Op", "fold"]

KINDS = ("set", "delete", "tag", "untag", "count")


@dataclass(frozen=True, slots=True)
class Op:
    """One operation on one entry.

    Attributes:
        id: unique (a UUID): the operation's identity and, for ``tag``, its dot.
        stamp: the hybrid logical timestamp (string form; sorts as the clock orders).
        replica: who made it.
        namespace, key: the entry.
        kind: ``set``, ``delete``, ``tag``, ``untag`` or ``count``.
        payload: ``set``: ``{"value", "metadata", "expires_at", "keeps": [dots]}``; ``tag``:
            ``{"tag"}``; ``untag``: ``{"tag", "removes": [dots]}``; ``delete``:
            ``{"removes": [dots]}``; ``count``: ``{"n"}``.
    """

    id: str
    stamp: str
    replica: str
    namespace: str
    key: str
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EntryState:
    """The merged state of one entry."""

    register: tuple[str, Mapping[str, Any]] | None  # (stamp, payload) of the winning set
    tombstone: str | None  # stamp of the latest delete
    dots: Mapping[str, str]  # dot -> tag, every add seen
    removed: frozenset[str]  # dots removed by an untag
    counts: Mapping[str, int]  # replica -> its share of the access count
    erased: frozenset[str] = frozenset()  # dots removed by a delete

    def _present(self, dot: str) -> bool:
        if dot in self.removed:
            return False
        if dot not in self.erased:
            return True
        keeps = self.register[1].get("keeps", ()) if self.alive and self.register else ()
        return dot in keeps

    @property
    def alive(self) -> bool:
        """Whether the entry exists (its latest set is later than its latest delete)."""
        return self.register is not None and (
            self.tombstone is None or self.register[0] > self.tombstone
        )

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags present, sorted."""
        return tuple(sorted({t for d, t in self.dots.items() if self._present(d)}))

    def observed(self, tag: str | None = None) -> list[str]:
        """The dots present (of one tag, or of all): what an ``untag``/``delete`` removes."""
        return sorted(d for d, t in self.dots.items() if self._present(d) and tag in (None, t))

    @property
    def access_count(self) -> int:
        """The grow-only counter's value."""
        return sum(self.counts.values())


EMPTY = EntryState(None, None, {}, frozenset(), {}, frozenset())


def fold(ops: Iterable[Op]) -> EntryState:
    """The state of one entry after a set of operations (in any order; duplicates by id are
    seen once)."""
    register: tuple[str, Mapping[str, Any]] | None = None
    winner = ""
    tombstone: str | None = None
    dots: dict[str, str] = {}
    removed: set[str] = set()
    erased: set[str] = set()
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for op in ops:
        if op.id in seen:
            continue
        seen.add(op.id)
        if op.kind == "set":  # equal stamps (never made so, but possible): the greater id
            if register is None or (op.stamp, op.id) > (register[0], winner):
                register, winner = (op.stamp, op.payload), op.id
        elif op.kind == "delete":
            if tombstone is None or op.stamp > tombstone:
                tombstone = op.stamp
            erased.update(op.payload.get("removes", ()))
        elif op.kind == "tag":
            dots[op.id] = str(op.payload["tag"])
        elif op.kind == "untag":
            removed.update(op.payload.get("removes", ()))
        elif op.kind == "count":
            counts[op.replica] = counts.get(op.replica, 0) + int(op.payload["n"])
        else:
            raise ValueError(f"unknown operation kind {op.kind!r}")
    return EntryState(register, tombstone, dots, frozenset(removed), counts, frozenset(erased))

"""Hybrid logical clocks (Kulkarni et al.): timestamps that follow physical time when clocks
agree and still order causally related events when they do not.

A timestamp is written ``WWWWWWWWWWWWW.CCCCC.replica``: milliseconds since the epoch (13
digits), a counter (5 digits) and the replica's id, so comparing the strings compares
``(wall, counter, replica)``: a total order in which ties are broken by replica id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mindbank.errors import shown

__all__ = ["HLC", "Stamp"]


@dataclass(frozen=True, order=True, slots=True)
class Stamp:
    """One hybrid logical timestamp."""

    wall: int
    counter: int
    replica: str

    def __str__(self) -> str:
        return f"{self.wall:013d}.{self.counter:05d}.{self.replica}"

    @classmethod
    def parse(cls, text: str) -> Stamp:
        """A stamp from its string form."""
        wall, counter, replica = text.split(".", 2)
        return cls(int(wall), int(counter), replica)


class HLC:
    """The clock of one replica. ``now`` returns seconds (as ``time.time``)."""

    def __init__(self, replica: str, now: Callable[[], float], last: Stamp | None = None):
        if "." in replica or not replica:
            raise ValueError(f"a replica id must be non-empty and without '.': {shown(replica)}")
        self.replica = replica
        self._now = now
        self._wall = last.wall if last else 0
        self._counter = last.counter if last else 0

    def tick(self, at: float | None = None) -> Stamp:
        """The stamp of a local event (that happened at ``at`` seconds, default now: a change
        is stamped with when it was written, not when it was noticed)."""
        physical = int((self._now() if at is None else at) * 1000)
        if physical > self._wall:
            self._wall, self._counter = physical, 0
        else:
            self._counter += 1
        return Stamp(self._wall, self._counter, self.replica)

    def observe(self, remote: Stamp) -> None:
        """Move past a stamp received from another replica."""
        physical = int(self._now() * 1000)
        wall = max(self._wall, remote.wall, physical)
        if wall == self._wall == remote.wall:
            self._counter = max(self._counter, remote.counter) + 1
        elif wall == self._wall:
            self._counter += 1
        elif wall == remote.wall:
            self._counter = remote.counter + 1
        else:
            self._counter = 0
        self._wall = wall

"""Helpers shared by the record modules."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypeAlias

__all__ = ["JSON", "Record", "_plain"]

JSON: TypeAlias = Any
"""Any JSON-serialisable value: str, int, float, bool, None, list, dict."""


def _plain(obj: Any) -> dict[str, Any]:
    """A record as a JSON-ready dict (tuples become lists)."""
    out = asdict(obj)
    for k, v in out.items():
        if isinstance(v, tuple):
            out[k] = list(v)
    return out


class Record:
    """Base of the records: ``to_dict()`` gives a JSON-ready dict (tuples become lists)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return _plain(self)

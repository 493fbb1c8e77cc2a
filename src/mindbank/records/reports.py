"""Records that report on a database: stats, usage, checks, migrations, query results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mindbank.records._base import Record

__all__ = [
    "CheckReport",
    "CleanupReport",
    "HotKey",
    "MigrationInfo",
    "NamespaceUsage",
    "QueryResult",
    "Stats",
    "UsageReport",
]


@dataclass(frozen=True, slots=True)
class CleanupReport(Record):
    """What ``cleanup()`` deleted."""

    entries: int
    sessions: int

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return self.entries + self.sessions

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"entries": self.entries, "sessions": self.sessions, "total": self.total}


@dataclass(frozen=True, slots=True)
class Stats(Record):
    """Size and contents of a database."""

    path: str
    file_bytes: int
    wal_bytes: int
    schema_version: int
    tables: Mapping[str, int]
    namespaces: Mapping[str, int]
    expired_entries: int
    query_cache: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NamespaceUsage(Record):
    """Usage of one namespace; ``*_in_window`` count entries whose time falls in the window."""

    namespace: str
    entries: int
    value_bytes: int
    total_accesses: int
    created_in_window: int
    updated_in_window: int
    accessed_in_window: int


@dataclass(frozen=True, slots=True)
class HotKey(Record):
    """An entry accessed within the window, ranked by its access count."""

    key: str
    namespace: str
    access_count: int
    accessed_at: float


@dataclass(frozen=True, slots=True)
class UsageReport(Record):
    """Usage by namespace and the hottest keys over a window (``since`` .. ``until``)."""

    since: float
    until: float
    namespaces: tuple[NamespaceUsage, ...]
    hot_keys: tuple[HotKey, ...]


@dataclass(frozen=True, slots=True)
class CheckReport(Record):
    """Result of an integrity check. ``ok`` is true when ``problems`` is empty."""

    problems: tuple[str, ...]
    schema_version: int

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "schema_version": self.schema_version,
        }


@dataclass(frozen=True, slots=True)
class MigrationInfo(Record):
    """One migration: known to this mindbank, and whether (and when) it is applied."""

    version: int
    name: str
    sha256: str
    applied_at: float | None


@dataclass(frozen=True, slots=True)
class QueryResult(Record):
    """Rows of a read-only query, as tuples in ``columns`` order."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def dicts(self) -> list[dict[str, Any]]:
        """Return the rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

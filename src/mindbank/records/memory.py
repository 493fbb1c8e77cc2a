"""The memory entry record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mindbank.records._base import JSON, Record

__all__ = ["Entry"]


@dataclass(frozen=True, slots=True)
class Entry(Record):
    """One memory entry, unique by ``(key, namespace)``.

    Attributes:
        key: the key, unique within its namespace.
        namespace: the namespace (``"default"`` unless given).
        value: text, or any JSON value, exactly as stored.
        tags: tags, in the order given, without duplicates.
        metadata: a JSON object.
        created_at: when the key was first stored.
        updated_at: when the value last changed.
        accessed_at: when it was last retrieved (``None`` if never).
        access_count: how many times it was retrieved.
        expires_at: when it expires (``None`` = never). An expired entry is never returned.
    """

    key: str
    namespace: str
    value: JSON
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, JSON] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    accessed_at: float | None = None
    access_count: int = 0
    expires_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the export format of one line)."""
        return {
            "key": self.key,
            "namespace": self.namespace,
            "value": self.value,
            "tags": list(self.tags),
            "metadata": dict(self.metadata),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "accessed_at": self.accessed_at,
            "access_count": self.access_count,
            "expires_at": self.expires_at,
        }

"""Input rules for memory entries. Every check raises :class:`ValidationError` before any write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mindbank.errors import ValidationError
from mindbank.store.codec import dumps
from mindbank.store.memory import EntryRow

__all__ = [
    "MAX_KEY_LENGTH",
    "check_key",
    "check_limit",
    "check_name",
    "check_namespace",
    "check_tags",
    "check_text",
    "encode_entry",
    "encode_metadata",
    "expiry",
]

MAX_KEY_LENGTH = 1024
_MAX_NAMESPACE = 256


def check_key(key: object, what: str = "key") -> str:
    """A key is a non-blank string of at most 1,024 characters, without U+0000 (which
    PostgreSQL cannot store in text)."""
    if not isinstance(key, str):
        raise ValidationError(f"{what} must be a string, got {type(key).__name__}")
    if not key.strip():
        raise ValidationError(f"{what} must not be empty")
    if "\x00" in key:
        raise ValidationError(f"{what} must not contain the NUL character (U+0000)")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(f"{what} is {len(key)} characters; the limit is {MAX_KEY_LENGTH}")
    return key


def check_namespace(namespace: object) -> str:
    """A namespace is a non-blank string of at most 256 characters, without U+0000."""
    if not isinstance(namespace, str) or not namespace.strip():
        raise ValidationError("namespace must be a non-empty string")
    if "\x00" in namespace:
        raise ValidationError("namespace must not contain the NUL character (U+0000)")
    if len(namespace) > _MAX_NAMESPACE:
        raise ValidationError(f"namespace is longer than {_MAX_NAMESPACE} characters")
    return namespace


def check_text(value: object, what: str) -> str:
    """A required text (a query, a lesson): a non-blank string without U+0000."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string")
    if "\x00" in value:
        raise ValidationError(f"{what} must not contain the NUL character (U+0000)")
    return value


def check_name(value: object, what: str) -> str:
    """A required short name (id, type, source ...): a non-blank string."""
    return check_key(value, what)


def check_tags(tags: Iterable[str] | None) -> list[str]:
    """Tags: non-blank strings without U+0000; duplicates dropped, order kept."""
    if tags is None:
        return []
    if isinstance(tags, str):
        raise ValidationError("tags must be a list of strings, not one string")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValidationError(f"every tag must be a non-empty string, got {tag!r}")
        if "\x00" in tag:
            raise ValidationError(f"a tag must not contain the NUL character (U+0000): {tag!r}")
        if tag not in out:
            out.append(tag)
    return out


def encode_metadata(metadata: Mapping[str, Any] | None, what: str = "metadata") -> str:
    """Metadata is a JSON object (a mapping with string keys)."""
    if metadata is None:
        return "{}"
    if not isinstance(metadata, Mapping):
        raise ValidationError(f"{what} must be a JSON object, got {type(metadata).__name__}")
    if any(not isinstance(k, str) for k in metadata):
        raise ValidationError(f"{what} keys must be strings")
    return dumps(dict(metadata), what)


def expiry(ttl: float | None, now: float) -> float | None:
    """The expiry time for a TTL in seconds (``None`` = never). A TTL must be > 0."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise ValidationError(f"ttl must be a number of seconds, got {ttl!r}")
    if not ttl > 0:
        raise ValidationError(f"ttl must be a positive number of seconds, got {ttl}")
    return now + float(ttl)


def check_limit(limit: int | None, offset: int) -> None:
    """limit >= 0 (or None for all) and offset >= 0."""
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValidationError(f"limit must be a non-negative integer, got {limit!r}")
    if not isinstance(offset, int) or offset < 0:
        raise ValidationError(f"offset must be a non-negative integer, got {offset!r}")


def encode_entry(
    key: str,
    value: Any,
    namespace: str,
    tags: Iterable[str] | None,
    metadata: Mapping[str, Any] | None,
    expires_at: float | None,
) -> EntryRow:
    """Validate one entry and encode it for storage. Text is stored as is, anything else as JSON."""
    check_key(key)
    check_namespace(namespace)
    tag_list = check_tags(tags)
    if isinstance(value, str):
        text, kind = value, "text"
    else:
        text, kind = dumps(value), "json"
    return EntryRow(
        key,
        namespace,
        text,
        kind,
        dumps(tag_list) if tag_list else "[]",
        encode_metadata(metadata),
        expires_at,
    )

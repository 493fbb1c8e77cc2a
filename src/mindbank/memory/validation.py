"""Input rules for memory entries. Every check raises :class:`ValidationError` before any write."""

from __future__ import annotations

import os
import reprlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mindbank.errors import ValidationError
from mindbank.store.codec import dumps
from mindbank.store.memory import EntryRow

__all__ = [
    "MAX_COUNT",
    "MAX_K",
    "MAX_KEY_LENGTH",
    "MAX_TAGS",
    "MAX_TTL",
    "MAX_VALUE_BYTES",
    "check_finite",
    "check_k",
    "check_key",
    "check_limit",
    "check_path",
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
MAX_TAGS = 1000
"""Most tags one entry may carry."""
MAX_TAG_LENGTH = 256
"""Longest tag, in characters."""
MAX_VALUE_BYTES = 16 * 1024 * 1024
"""Default largest value (UTF-8 bytes of its text or JSON): ``Settings.max_value_bytes``."""
MAX_TTL = 100 * 365.25 * 86400
"""Longest TTL: a hundred years (longer is "never": leave the ttl out)."""
MAX_K = 10_000
"""Most results one search or query returns (``k``)."""
MAX_COUNT = 2**62
"""Largest limit, offset or count a call accepts (SQLite's integers end at 2**63 - 1)."""


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
    _utf8_size(key, what)
    return key


def check_namespace(namespace: object) -> str:
    """A namespace is a non-blank string of at most 256 characters, without U+0000."""
    if not isinstance(namespace, str) or not namespace.strip():
        raise ValidationError("namespace must be a non-empty string")
    if "\x00" in namespace:
        raise ValidationError("namespace must not contain the NUL character (U+0000)")
    if len(namespace) > _MAX_NAMESPACE:
        raise ValidationError(f"namespace is longer than {_MAX_NAMESPACE} characters")
    _utf8_size(namespace, "namespace")
    return namespace


def check_text(value: object, what: str) -> str:
    """A required text (a query, a lesson): a non-blank string without U+0000."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string")
    if "\x00" in value:
        raise ValidationError(f"{what} must not contain the NUL character (U+0000)")
    _utf8_size(value, what)
    return value


def check_name(value: object, what: str) -> str:
    """A required short name (id, type, source ...): a non-blank string."""
    return check_key(value, what)


def check_tags(tags: Iterable[str] | None) -> list[str]:
    """Tags: a list of at most :data:`MAX_TAGS` non-blank strings of at most
    :data:`MAX_TAG_LENGTH` characters without U+0000; duplicates dropped, order kept."""
    if tags is None:
        return []
    if isinstance(tags, str | bytes | Mapping) or not isinstance(tags, Iterable):
        raise ValidationError(f"tags must be a list of strings, not {type(tags).__name__}")
    out: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValidationError(f"every tag must be a non-empty string, got {_show(tag)}")
        if "\x00" in tag:
            raise ValidationError(
                f"a tag must not contain the NUL character (U+0000): {_show(tag)}"
            )
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationError(
                f"a tag is {len(tag):,} characters; the limit is {MAX_TAG_LENGTH}"
            )
        _utf8_size(tag, "a tag")
        if tag not in seen:
            seen.add(tag)
            out.append(tag)
            if len(out) > MAX_TAGS:
                raise ValidationError(f"more than {MAX_TAGS:,} tags on one entry")
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
    """The expiry time for a TTL in seconds (``None`` = never). A TTL must be > 0 and at most
    :data:`MAX_TTL`."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise ValidationError(f"ttl must be a number of seconds, got {_show(ttl)}")
    if not 0 < ttl <= MAX_TTL:  # also NaN and infinity
        raise ValidationError(
            f"ttl must be a positive number of seconds up to {MAX_TTL:.0f} (a hundred years), "
            f"got {ttl}"
        )
    return now + float(ttl)


def check_finite(value: object, what: str, low: float, high: float) -> float:
    """A number (not a bool) in ``[low, high]``: NaN and infinities are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a number, got {_show(value)}")
    if not low <= value <= high:
        raise ValidationError(f"{what} must be between {low:g} and {high:g}, got {value}")
    return float(value)


def check_k(k: object) -> int:
    """How many results: an integer from 1 to :data:`MAX_K`."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be an integer from 1 to {MAX_K:,}, got {_show(k)}")
    return k


def check_path(value: object, what: str = "path") -> Path:
    """A file system path given by a caller: a string or path, without NUL, each part at most
    255 bytes and the whole at most 4,096 (what the file system would refuse with an
    ``OSError`` is refused here with a message)."""
    if isinstance(value, bytes) or not isinstance(value, str | os.PathLike):
        raise ValidationError(f"{what} must be a path, not {type(value).__name__}")
    text = os.fspath(value)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise ValidationError(f"{what} must be a non-empty path without NUL characters")
    size = _utf8_size(text, what)
    if size > 4096 or any(len(part.encode("utf-8")) > 255 for part in Path(text).parts):
        raise ValidationError(f"{what} is too long for a file system ({size:,} bytes)")
    return Path(text)


def check_limit(limit: int | None, offset: int) -> None:
    """0 <= limit <= :data:`MAX_COUNT` (or None for all) and 0 <= offset <= MAX_COUNT."""
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_COUNT
    ):
        raise ValidationError(f"limit must be an integer from 0 to 2**62, got {_show(limit)}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_COUNT:
        raise ValidationError(f"offset must be an integer from 0 to 2**62, got {_show(offset)}")


def encode_entry(
    key: str,
    value: Any,
    namespace: str,
    tags: Iterable[str] | None,
    metadata: Mapping[str, Any] | None,
    expires_at: float | None,
    max_bytes: int = MAX_VALUE_BYTES,
) -> EntryRow:
    """Validate one entry and encode it for storage. Text is stored as is, anything else as
    JSON; either may be at most ``max_bytes`` bytes of UTF-8 (checked before anything else
    is done with it)."""
    check_key(key)
    check_namespace(namespace)
    tag_list = check_tags(tags)
    if isinstance(value, str):
        text, kind = value, "text"
    else:
        text, kind = dumps(value), "json"
    size = _utf8_size(text)
    if size > max_bytes:
        raise ValidationError(
            f"the value is {size:,} bytes; the limit is {max_bytes:,} (Settings.max_value_bytes, "
            "MINDBANK_MAX_VALUE_MB): store a large document as several entries"
        )
    return EntryRow(
        key,
        namespace,
        text,
        kind,
        dumps(tag_list) if tag_list else "[]",
        encode_metadata(metadata),
        expires_at,
    )


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 100


def _show(value: object) -> str:
    """A value for an error message: short, and safe for a value nested without end."""
    return _REPR.repr(value)


def _utf8_size(text: str, what: str = "the value") -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate (from invalid UTF-8 read with surrogateescape)
        raise ValidationError(
            f"{what} is not valid Unicode text (a lone surrogate: was it read from bytes that "
            "are not UTF-8?)"
        ) from None

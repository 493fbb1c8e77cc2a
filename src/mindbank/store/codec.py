"""How values become column text and back. The format is stable: compact JSON, UTF-8."""

from __future__ import annotations

import json
from typing import Any

from mindbank.errors import ValidationError

__all__ = ["dumps", "loads", "loads_or_none"]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_decode = json.JSONDecoder().decode


def dumps(value: Any, what: str = "value") -> str:
    """Encode a JSON value as compact text.

    Raises:
        ValidationError: the value is not JSON (bytes, a set, NaN, an object ...).
    """
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} is not JSON-serialisable: {str(exc)[:200]}") from None
    except RecursionError:
        raise ValidationError(f"{what} is nested too deeply to store as JSON") from None


def loads(text: str) -> Any:
    """Decode column text written by :func:`dumps`."""
    return _decode(text)


def loads_or_none(text: str | None) -> Any:
    """Like :func:`loads`, with SQL NULL as ``None``."""
    return None if text is None else _decode(text)

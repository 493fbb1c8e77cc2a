"""The JSON Lines export format, and the parser that validates an import before it is written.

One entry per line, a JSON object with the fields of :class:`~mindbank.records.Entry`::

    {"key": "api-design", "namespace": "architecture", "value": "Use REST", "tags": ["api"],
     "metadata": {}, "created_at": 1763770000.12, "updated_at": 1763770000.12,
     "accessed_at": null, "access_count": 0, "expires_at": null}

Only ``key`` and ``value`` are required on import; ``namespace`` defaults to ``"default"`` and
the times to the time of import. Exporting, importing and exporting again gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from mindbank.errors import ImportFormatError, MindbankError
from mindbank.memory.validation import MAX_VALUE_BYTES, encode_entry
from mindbank.records import Entry

__all__ = ["FIELDS", "entry_line", "parse_lines"]

FIELDS = (
    "key",
    "namespace",
    "value",
    "tags",
    "metadata",
    "created_at",
    "updated_at",
    "accessed_at",
    "access_count",
    "expires_at",
)


def entry_line(entry: Entry) -> str:
    """One export line (without the newline)."""
    return json.dumps(entry.to_dict(), ensure_ascii=False, separators=(", ", ": "))


def _bounded(lines: Iterable[str], longest: int) -> Iterator[str | None]:
    """The lines, each read at most ``longest`` characters at a time from a file (a longer one
    is None: a 50 MB line, or /dev/zero's endless one, is refused without reading it all)."""
    readline = getattr(lines, "readline", None)
    if readline is None:
        for number, line in enumerate(lines, start=1):
            if not isinstance(line, str):
                raise ImportFormatError(f"a line must be text, not {type(line).__name__}",
                                        line=number)  # fmt: skip
            yield line if len(line) <= longest else None
        return
    while True:
        line = readline(longest + 1)
        if not line:
            return
        if len(line) > longest:
            yield None
            return
        yield line


def _time(obj: dict[str, Any], name: str, default: float | None, line: int) -> float | None:
    value = obj.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1e11 < value < 1e11:
        raise ImportFormatError(
            f"{name} must be a number of Unix seconds (a finite time before the year 5000) or null",
            line=line,
        )
    return float(value)


def parse_lines(
    lines: Iterable[str], now: float, max_bytes: int = MAX_VALUE_BYTES
) -> Iterator[tuple[Any, ...]]:
    """Validate export lines and yield full ``memory_store`` rows.

    Blank lines are skipped. The caller collects every row before writing, so one bad line
    means nothing is imported.

    Raises:
        ImportFormatError: naming the first bad line.
    """
    longest = 2 * max_bytes + 1024 * 1024  # a value, escaped, with the rest of its line
    for number, raw in enumerate(_bounded(lines, longest), start=1):
        if raw is None:
            raise ImportFormatError(f"the line is longer than {longest:,} characters", line=number)
        if not raw.strip():
            continue
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise ImportFormatError("the line is not UTF-8 text", line=number) from None
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"not valid JSON ({exc.msg})", line=number) from None
        except RecursionError:
            raise ImportFormatError("the JSON is nested too deeply", line=number) from None
        if not isinstance(obj, dict):
            raise ImportFormatError("each line must be a JSON object", line=number)
        unknown = set(obj) - set(FIELDS)
        if unknown:
            raise ImportFormatError(f"unknown fields {sorted(unknown)}", line=number)
        if "key" not in obj or "value" not in obj:
            raise ImportFormatError("each line needs a key and a value", line=number)
        try:
            row = encode_entry(
                obj["key"],
                obj["value"],
                obj.get("namespace", "default"),
                obj.get("tags"),
                obj.get("metadata"),
                None,
                max_bytes,
            )
        except MindbankError as exc:
            raise ImportFormatError(str(exc), line=number) from None
        count = obj.get("access_count", 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ImportFormatError("access_count must be a non-negative integer", line=number)
        created = _time(obj, "created_at", now, number)
        created = now if created is None else created
        updated = _time(obj, "updated_at", created, number)
        yield (
            row.key,
            row.namespace,
            row.value,
            row.value_type,
            row.tags,
            row.metadata,
            created,
            created if updated is None else updated,
            _time(obj, "accessed_at", None, number),
            count,
            _time(obj, "expires_at", None, number),
        )

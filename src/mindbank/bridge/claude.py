"""The memory bridge: a folder of JSON memory files (Claude Code's ``~/.claude/memory``) in and
out of a namespace, and a ``MEMORY.md`` index ordered by the memory graph's rank.

File format (one memory per file, ``<key>.json``; a file may also hold a list of them)::

    {"key": "api-design", "value": "Use REST", "tags": ["api"], "metadata": {"by": "me"}}

``key`` defaults to the file name without ``.json``; ``value`` may be any JSON (``content`` is
accepted for it too). Import stores each memory in the namespace (default ``claude``) when its
value, tags or metadata differ from what is stored; export writes each entry of the namespace
back to ``<key>.json`` when the file differs (atomically); files are never deleted. A file
that is not valid JSON, or a memory without a value, is skipped and reported, never fatal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from mindbank.errors import ValidationError
from mindbank.records import BridgeReport

__all__ = ["default_folder", "export_folder", "import_folder", "write_index"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class _Entry(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def value(self) -> Any: ...


class _Bank(Protocol):  # the part of MindBank the bridge uses (no import of the facade)
    def get(self, key: str, *, namespace: str = ...) -> Any: ...

    def store(
        self,
        key: str,
        value: Any,
        *,
        namespace: str = ...,
        tags: Iterable[str] | None = ...,
        metadata: Mapping[str, Any] | None = ...,
        ttl: float | None = ...,
    ) -> Any: ...

    def list(
        self,
        *,
        namespace: str | None = ...,
        pattern: str | None = ...,
        tags: Iterable[str] | None = ...,
        limit: int | None = ...,
        offset: int = ...,
    ) -> Any: ...


def default_folder() -> Path:
    """``$MINDBANK_CLAUDE_MEMORY``, else ``~/.claude/memory``."""
    env = os.environ.get("MINDBANK_CLAUDE_MEMORY")
    return Path(env).expanduser() if env else Path.home() / ".claude" / "memory"


def _memories(path: Path) -> Iterable[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a memory must be a JSON object")
        value = item.get("value", item.get("content"))
        if value is None:
            raise ValueError("a memory needs a 'value'")
        yield {
            "key": str(item.get("key") or path.stem),
            "value": value,
            "tags": [str(t) for t in item.get("tags", [])],
            "metadata": dict(item.get("metadata", {})),
        }


def import_folder(mb: _Bank, folder: Path, namespace: str = "claude") -> BridgeReport:
    """Store the folder's memories in ``namespace`` (only those that changed)."""
    written, skipped, unchanged = [], [], 0
    for path in sorted(folder.glob("*.json")):
        try:
            memories = list(_memories(path))
        except (OSError, ValueError) as exc:
            skipped.append(f"{path.name}: {exc}")
            continue
        for m in memories:
            meta = {**m["metadata"], "source_file": path.name}
            current = mb.get(m["key"], namespace=namespace)
            if (
                current is not None
                and current.value == m["value"]
                and list(current.tags) == m["tags"]
                and dict(current.metadata) == meta
            ):
                unchanged += 1
                continue
            try:
                mb.store(m["key"], m["value"], namespace=namespace, tags=m["tags"], metadata=meta)
            except ValueError as exc:  # ValidationError: a bad key, tag or value
                skipped.append(f"{path.name}: {exc}")
                continue
            written.append(m["key"])
    return BridgeReport(str(folder), tuple(written), unchanged, tuple(skipped))


def _file_name(key: str) -> str:
    return _SAFE.sub("_", key).strip("._") or "memory"


def export_folder(mb: _Bank, folder: Path, namespace: str = "claude") -> BridgeReport:
    """Write each entry of ``namespace`` back to its file (``<key>.json``, or the file it was
    imported from; memories that came from one file go back to it together, as a list), when
    the file's content differs. Only files of ``folder`` are written: an entry whose
    ``source_file`` is not a plain file name (a path, ``..``, absolute) is refused and listed
    in ``skipped``."""
    if folder.exists() and not folder.is_dir():
        raise ValidationError(f"the memory folder {folder} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    skipped: list[str] = []
    for e in mb.list(namespace=namespace, limit=None):
        meta = {k: v for k, v in e.metadata.items() if k != "source_file"}
        doc: dict[str, Any] = {"key": e.key, "value": e.value}
        if e.tags:
            doc["tags"] = list(e.tags)
        if meta:
            doc["metadata"] = meta
        name = str(e.metadata.get("source_file") or f"{_file_name(e.key)}.json")
        if not _inside(name):  # an entry may name any path: only files of this folder
            skipped.append(f"{e.key}: refused to write {name!r}, which is not a file name in "
                           f"{folder}")  # fmt: skip
            continue
        files.setdefault(name, []).append((e.key, doc))
    written: list[str] = []
    unchanged = 0
    for name, docs in sorted(files.items()):
        path = folder / name
        content: Any = docs[0][1] if len(docs) == 1 else [d for _, d in docs]
        try:
            old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        except (OSError, ValueError):
            old = None
        if isinstance(old, list) and len(docs) == 1:
            content = [docs[0][1]]  # a list file stays a list
        if old == content:
            unchanged += len(docs)
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        written += [key for key, _ in docs]
    return BridgeReport(str(folder), tuple(written), unchanged, tuple(skipped))


def _inside(name: str) -> bool:
    """Whether ``name`` is a plain file name (what an import records): no directory part, not
    absolute, not hidden, no ``..``, no separator of any platform, no NUL."""
    return (
        0 < len(name) <= 255
        and not name.startswith(".")
        and not any(c in name for c in "/\\\0:")
        and Path(name).name == name
    )


def write_index(
    path: Path,
    entries: Iterable[_Entry],
    rank: Mapping[tuple[str, str], float],
) -> int:
    """Write ``MEMORY.md``: one line per entry, highest graph rank first (entries without a
    rank after, by key). Returns the number of entries listed."""
    rows = list(entries)
    rows.sort(key=lambda e: (-rank.get((e.namespace, e.key), -1.0), e.key))
    lines = [
        "# Memory index",
        "",
        "Written by mindbank, ordered by rank in the memory graph (`mindbank memory graph`).",
        "",
    ]
    for e in rows:
        value = e.value if isinstance(e.value, str) else json.dumps(e.value, ensure_ascii=False)
        text = " ".join(value.split())
        r = rank.get((e.namespace, e.key))
        score = f" (rank {r:.4f})" if r is not None else ""
        lines.append(f"- **{e.key}**{score}: {text[:200]}")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return len(rows)

"""Records that report on a database: stats, usage, checks, migrations, query results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mindbank.records._base import Record, _plain

__all__ = [
    "BridgeReport",
    "CheckReport",
    "CleanupReport",
    "HotKey",
    "MigrationInfo",
    "NamespaceUsage",
    "QueryResult",
    "Stats",
    "TierEntry",
    "TierReport",
    "UsageReport",
    "WitnessReport",
]


@dataclass(frozen=True, slots=True)
class CleanupReport(Record):
    """What ``cleanup()`` deleted."""

    entries: int
    sessions: int
    changes: int = 0

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return self.entries + self.sessions + self.changes

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"entries": self.entries, "sessions": self.sessions, "changes": self.changes,
                "total": self.total}  # fmt: skip


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


@dataclass(frozen=True, slots=True)
class WitnessReport(Record):
    """What verifying the witness chain found.

    Attributes:
        records: records in the chain (with record 0, the genesis).
        head_seq, head: the last record's number and chain digest (anchor it elsewhere to
            prove later that history was not rewritten).
        broken_at: the first record whose link does not hold (None: the chain is whole).
        changed, deleted, inserted: ``(table, key)`` of rows that differ from the chain's last
            word on them, that it says exist but do not, that exist without it saying so.
        triggers_missing: witness triggers that were dropped.
    """

    records: int
    head_seq: int
    head: str
    broken_at: int | None
    changed: tuple[tuple[str, str], ...]
    deleted: tuple[tuple[str, str], ...]
    inserted: tuple[tuple[str, str], ...]
    triggers_missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the chain is whole and every row is what it says."""
        return not (
            self.broken_at is not None
            or self.changed
            or self.deleted
            or self.inserted
            or self.triggers_missing
        )

    def problems(self) -> list[str]:
        """One line per problem found."""
        out = []
        if self.triggers_missing:
            out.append(f"witness triggers missing: {', '.join(self.triggers_missing)}")
        if self.broken_at is not None:
            out.append(f"witness chain broken at record {self.broken_at}")
        for what, rows in (
            ("changed", self.changed),
            ("deleted", self.deleted),
            ("inserted", self.inserted),
        ):
            for tbl, key in rows[:20]:
                out.append(f"{tbl} row {key.replace(chr(31), '/')!r} {what} outside mindbank")
            if len(rows) > 20:
                out.append(f"... and {len(rows) - 20} more rows {what} outside mindbank")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "ok": self.ok,
            "records": self.records,
            "head_seq": self.head_seq,
            "head": self.head,
            "broken_at": self.broken_at,
            "changed": [list(x) for x in self.changed],
            "deleted": [list(x) for x in self.deleted],
            "inserted": [list(x) for x in self.inserted],
            "triggers_missing": list(self.triggers_missing),
            "problems": self.problems(),
        }


@dataclass(frozen=True, slots=True)
class TierEntry(Record):
    """Where one entry sits and why."""

    namespace: str
    key: str
    tier: str
    reason: str


@dataclass(frozen=True, slots=True)
class TierReport(Record):
    """What sits in each tier.

    Attributes:
        working: rows in this process's working memory, their estimated bytes, the limit.
        episodic: events kept, the oldest one's age in seconds, and the retention rules
            (``max_events``, ``max_age``) with how many events they would remove now.
        semantic: live entries (permanent unless deleted or expired), by hot/warm/cold.
        vector: stored vectors of entries and of ReasoningBank items.
        entries: per-entry tier and reason (when asked for).
    """

    working: Mapping[str, int]
    episodic: Mapping[str, float | int | None]
    semantic: Mapping[str, int]
    vector: Mapping[str, int]
    entries: tuple[TierEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class BridgeReport(Record):
    """What an import or export did."""

    folder: str
    written: tuple[str, ...] = ()
    unchanged: int = 0
    skipped: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "folder": self.folder,
            "written": list(self.written),
            "unchanged": self.unchanged,
            "skipped": list(self.skipped),
        }


@dataclass(frozen=True, slots=True)
class CompressionReport(Record):
    """What compressing cold entries did, measured.

    Attributes:
        entries: live entries.
        cold: of them, cold (by the tier rules) and so considered.
        values_compressed: values now stored compressed (a value is left as it is if it is
            shorter than the minimum or would not get smaller).
        value_bytes_before: their size before, as text.
        value_bytes_after: their size compressed.
        dictionary: the zstd dictionary's id (None if no value was compressed).
        dictionary_bytes: the dictionary's size (stored once).
        vectors_quantized: vectors now stored as int8.
        vector_bytes_before: their size as float32.
        vector_bytes_after: their size as int8 (with the scale).
        queries: queries the searches were compared on.
        semantic_recall_at_10: share of the semantic top 10 before that is still in the top 10
            after (None without vectors).
        keyword_recall_at_10: the same for keyword search.
        file_bytes_before: the database file before (with ``vacuum``; else None).
        file_bytes_after: the database file after vacuuming.
        seconds: how long it took.
    """

    entries: int
    cold: int
    values_compressed: int
    value_bytes_before: int
    value_bytes_after: int
    dictionary: int | None
    dictionary_bytes: int
    vectors_quantized: int
    vector_bytes_before: int
    vector_bytes_after: int
    queries: int
    semantic_recall_at_10: float | None
    keyword_recall_at_10: float | None
    file_bytes_before: int | None
    file_bytes_after: int | None
    seconds: float

    @property
    def reduction(self) -> float | None:
        """Share of the compressed values' and vectors' bytes saved (dictionary counted)."""
        before = self.value_bytes_before + self.vector_bytes_before
        if before == 0:
            return None
        after = self.value_bytes_after + self.vector_bytes_after + self.dictionary_bytes
        return 1.0 - after / before

    def to_dict(self) -> dict[str, Any]:
        out = _plain(self)
        out["reduction"] = self.reduction
        return out


@dataclass(frozen=True, slots=True)
class SchemaInfo(Record):
    """A namespace's JSON Schema.

    Attributes:
        namespace: the namespace.
        name: the definition values must match.
        schema: that definition.
        definitions: every definition of the document (``$ref`` may point at any).
        strict: unknown fields are refused (objects without ``additionalProperties`` get
            ``false``).
        version: grows with every change of the schema.
        updated_at: when it was last set.
        violations: live entries of the namespace that do not match it (counted when set or
            checked; None otherwise).
    """

    namespace: str
    name: str
    schema: Mapping[str, Any]
    definitions: Mapping[str, Any]
    strict: bool
    version: int
    updated_at: float
    violations: int | None = None


@dataclass(frozen=True, slots=True)
class Change(Record):
    """One change to an entry, from the change log.

    Attributes:
        seq: its place in the log (grows by one per change, in commit order).
        namespace: the entry's namespace.
        key: the entry's key.
        op: ``store`` (stored or updated) or ``delete`` (deleted, expired and cleaned up,
            or cleared).
        actor: who made it (the writer's ``MINDBANK_ACTOR``, default ``host:pid``).
        at: when.
    """

    seq: int
    namespace: str
    key: str
    op: str
    actor: str
    at: float


@dataclass(frozen=True, slots=True)
class CopyReport(Record):
    """What ``mindbank.copy`` moved, and what it verified.

    Attributes:
        source: where from (a file, or a URL without its password).
        target: where to.
        entries: live entries copied (access counts and times included).
        vectors: vectors copied as they were (not computed again).
        schemas: namespace schemas copied.
        changes: change-log records copied (the copy's own writes are logged after them).
        checksum: SHA-256 of every entry in export form, sorted: equal on both sides.
        seconds: how long it took.
        tables: rows copied per other table (coordination, the ReasoningBank); each verified
            equal on both sides (count and SHA-256 of its rows, serial ids aside).
        left_behind: rows per source table the target has no place for (not copied).
    """

    source: str
    target: str
    entries: int
    vectors: int
    schemas: int
    changes: int
    checksum: str
    seconds: float
    tables: Mapping[str, int] = field(default_factory=dict)
    left_behind: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SyncReport(Record):
    """What one round of replica sync did (``MindBank.sync``).

    Attributes:
        captured: local changes turned into operations this round.
        pushed: operations the server received (each kept once).
        pulled: operations new to this replica.
        server_written: entries of the shared memory that merging changed.
        local_written: entries of the local memory that merging changed.
        clamped: operations stamped by a clock too far ahead of the server's, whose stamps
            the server moved back to its own time plus the allowed skew.
        pending: entries still waiting to be merged into the local memory (0 after a round
            that finished; more if the local memory refused one, or the merge failed).
        queue: operations still waiting for the server (the write-behind queue).
        breaker: the circuit breaker: ``closed``, ``open`` or ``half-open``.
        skew: how many seconds this machine's clock is ahead of the server's (None: the server
            was not reached).
        error: why the round did not finish (None: it did).
        seconds: how long the round took.
    """

    captured: int
    pushed: int
    pulled: int
    server_written: int
    local_written: int
    clamped: int
    pending: int
    queue: int
    breaker: str
    skew: float | None
    error: str | None
    seconds: float


@dataclass(frozen=True, slots=True)
class SyncStatus(Record):
    """A replica's state (``MindBank.sync_status``, ``mindbank db status``).

    Attributes:
        replica: its id (in every operation it makes, and in the HLC's ties).
        server: the server it syncs with (its URL without the password).
        queue: operations waiting for the server.
        pending: entries waiting to be merged into the local memory.
        breaker: ``closed``, ``open`` or ``half-open``.
        failures: failed rounds in a row.
        lag: server operations not pulled yet, as of the last round that reached it.
        last_sync: when a round last reached the server (None: never).
        skew: seconds this machine's clock was ahead of the server's at the last round that
            reached it (negative: behind).
        last_error: the last round's error (None: it succeeded).
    """

    replica: str
    server: str | None
    queue: int
    pending: int
    breaker: str
    failures: int
    lag: int | None
    last_sync: float | None
    skew: float | None
    last_error: str | None

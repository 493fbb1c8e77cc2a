"""Read-only queries, backup/restore, export/import, stats, analytics, checks, migrations."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sqlite3
from pathlib import Path

import pytest

import mindbank
from mindbank import (
    ImportFormatError,
    MindBank,
    NotADatabaseError,
    ReadOnlyQueryError,
    SchemaError,
    ValidationError,
)
from mindbank.store.schema import MIGRATIONS

from .conftest import FakeClock

REFERENCE_TABLES = {
    "memory_store",
    "sessions",
    "agents",
    "tasks",
    "agent_memory",
    "shared_state",
    "events",
    "patterns",
    "performance_metrics",
    "workflow_state",
    "swarm_topology",
    "consensus_state",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fill(mb: MindBank) -> None:
    mb.store("api-design", "Use REST", namespace="architecture", tags=["api"], metadata={"v": 1})
    mb.store("config", {"retries": 3, "hosts": ["a", "b"]}, namespace="ops")
    mb.store("ünï", "ünïcødé\nline two", ttl=3600)
    mb.retrieve("api-design", namespace="architecture")


# -- schema and opening --------------------------------------------------------------------


def test_fresh_database_has_the_twelve_tables_and_wal(mb: MindBank, db_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute("SELECT version, sha256 FROM schema_migrations").fetchall()
    assert names >= REFERENCE_TABLES
    assert rows == [(m.version, m.sha256) for m in MIGRATIONS]
    assert mb.check().ok
    assert mb.migrate() == []


def test_newer_schema_is_refused(db_path: Path) -> None:
    mindbank.open(db_path).close()
    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x', 0)")
    with pytest.raises(SchemaError, match="newer mindbank"):
        mindbank.open(db_path)


def test_altered_migration_is_detected(db_path: Path) -> None:
    mindbank.open(db_path).close()
    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("UPDATE schema_migrations SET sha256 = 'tampered' WHERE version = 1")
    with pytest.raises(SchemaError, match="hash mismatch"):
        mindbank.open(db_path)


@pytest.mark.parametrize(
    "content", [b"hello, this is my thesis\n" * 100, b"\x00\x01\x02", b"SQLite format 2"]
)
def test_a_file_that_is_not_a_database_is_never_touched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    with pytest.raises(NotADatabaseError, match="not a mindbank database"):
        mindbank.open(path)
    assert path.read_bytes() == content
    assert not Path(f"{path}-wal").exists()


def test_another_applications_sqlite_file_is_never_touched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.close()
    before = _sha(path)
    with pytest.raises(NotADatabaseError, match="customers"):
        mindbank.open(path)
    assert _sha(path) == before


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotADatabaseError, match="directory"):
        mindbank.open(tmp_path)


# -- read-only queries ---------------------------------------------------------------------


def test_query_reads(both_db: Path | str) -> None:
    mb = mindbank.open(both_db)
    _fill(mb)
    result = mb.query(
        "SELECT namespace, count(*) AS n FROM memory_store GROUP BY namespace ORDER BY 1"
    )
    assert result.columns == ("namespace", "n")
    assert result.rows == (("architecture", 1), ("default", 1), ("ops", 1))
    assert mb.query("SELECT key FROM memory_store WHERE namespace = ?", ["ops"]).dicts() == [
        {"key": "config"}
    ]
    cte = mb.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) "
                   "SELECT sum(x) FROM c")  # fmt: skip
    assert cte.rows == ((15,),)
    if isinstance(both_db, Path):
        assert mb.query("PRAGMA table_info(memory_store)").rows
    mb.close()


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM memory_store",
        "delete from memory_store",
        "  /* sneaky */ UPDATE memory_store SET value = 'x'",
        "INSERT INTO events (type, source, timestamp) VALUES ('a', 'b', 0)",
        "WITH x AS (SELECT 1) DELETE FROM memory_store",
        "REPLACE INTO shared_state VALUES ('k', '1', NULL, 1, 0)",
        "DROP TABLE memory_store",
        "CREATE TABLE evil (x)",
        "ALTER TABLE memory_store ADD COLUMN evil TEXT",
        "CREATE TEMP TABLE t (x)",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA query_only = OFF",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA user_version = 7",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
        "BEGIN IMMEDIATE",
        "SELECT 1; DELETE FROM memory_store",
    ],
)
def test_query_refuses_every_write(mb: MindBank, db_path: Path, sql: str) -> None:
    _fill(mb)
    mb.close()
    before = _sha(db_path)
    with mindbank.open(db_path) as again:
        with pytest.raises(ReadOnlyQueryError):
            again.query(sql)
        assert again.count() == 3
    assert _sha(db_path) == before


def test_query_reports_bad_sql(mb: MindBank) -> None:
    with pytest.raises(ReadOnlyQueryError, match="invalid query"):
        mb.query("SELEC nothing")


# -- export and import ---------------------------------------------------------------------


def test_export_import_round_trip_is_identical(tmp_path: Path, mb: MindBank) -> None:
    _fill(mb)
    first = tmp_path / "a.jsonl"
    assert mb.export(first) == 3
    with mindbank.open(tmp_path / "copy.db") as copy:
        assert copy.import_(first) == 3
        second = tmp_path / "b.jsonl"
        copy.export(second)
        entry = copy.get("api-design", namespace="architecture")
    assert first.read_bytes() == second.read_bytes()
    original = mb.get("api-design", namespace="architecture")
    assert entry == original
    line = json.loads(first.read_text(encoding="utf-8").splitlines()[0])
    assert line["key"] == "api-design" and line["access_count"] == 1


def test_export_one_namespace_to_a_stream(mb: MindBank) -> None:
    _fill(mb)
    buf = io.StringIO()
    assert mb.export(buf, namespace="ops") == 1
    assert json.loads(buf.getvalue())["value"] == {"retries": 3, "hosts": ["a", "b"]}


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"value": 1}', "needs a key and a value"),
        ('{"key": "", "value": 1}', "key must not be empty"),
        ('{"key": "k", "value": 1, "colour": "red"}', "unknown fields"),
        ('{"key": "k", "value": 1, "created_at": "yesterday"}', "created_at must be a number"),
        ('{"key": "k", "value": 1, "access_count": -2}', "access_count"),
        ('{"key": "k", "value": 1, "metadata": [1]}', "metadata must be a JSON object"),
    ],
)
def test_malformed_import_names_the_line_and_imports_nothing(
    tmp_path: Path, mb: MindBank, bad_line: str, message: str
) -> None:
    mb.store("existing", "keep me")
    path = tmp_path / "in.jsonl"
    good = json.dumps({"key": "good", "value": "v"})
    path.write_text(f"{good}\n\n{good}\n{bad_line}\n{good}\n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match=message) as info:
        mb.import_(path)
    assert info.value.line == 4
    assert str(info.value).startswith("line 4:")
    assert [e.key for e in mb.list()] == ["existing"]


def test_import_replaces_existing_keys(mb: MindBank) -> None:
    mb.store("k", "old")
    mb.import_(io.StringIO('{"key": "k", "value": "new"}\n{"key": "j", "value": [1]}\n'))
    got = mb.get("k")
    assert got is not None and got.value == "new"
    assert mb.count() == 2


# -- backup and restore --------------------------------------------------------------------


def test_backup_and_restore(tmp_path: Path, db_path: Path) -> None:
    with mindbank.open(db_path) as mb:
        _fill(mb)
        size = mb.backup(tmp_path / "backup.db")
        assert size > 0
        with pytest.raises(ValidationError, match="exists"):
            mb.backup(tmp_path / "backup.db")
        mb.store("after-backup", "x")
        mb.delete("config", namespace="ops")
    assert not Path(f"{tmp_path / 'backup.db'}-wal").exists()
    mindbank.restore(tmp_path / "backup.db", db_path)
    with mindbank.open(db_path) as mb:
        assert mb.get("after-backup") is None
        got = mb.get("config", namespace="ops")
        assert got is not None and got.value["retries"] == 3
        assert mb.check().ok


def test_restore_while_another_connection_is_open(tmp_path: Path, db_path: Path) -> None:
    with mindbank.open(db_path) as mb:
        mb.store("v", 1)
        mb.backup(tmp_path / "b.db")
        mb.store("v", 2)
        mindbank.restore(tmp_path / "b.db", db_path)
        got = mb.get("v")
        assert got is not None and got.value == 1


def test_restore_refuses_bad_backups_and_foreign_targets(tmp_path: Path, db_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    with pytest.raises(NotADatabaseError):
        mindbank.restore(junk, db_path)
    with mindbank.open(db_path) as mb:
        mb.backup(tmp_path / "good.db")
    foreign = tmp_path / "thesis.txt"
    foreign.write_text("precious")
    with pytest.raises(NotADatabaseError):
        mindbank.restore(tmp_path / "good.db", foreign)
    assert foreign.read_text() == "precious"
    with pytest.raises(NotADatabaseError):
        mindbank.restore(tmp_path / "missing.db", db_path)


def test_restore_into_a_new_path(tmp_path: Path, db_path: Path) -> None:
    with mindbank.open(db_path) as mb:
        _fill(mb)
        mb.backup(tmp_path / "b.db")
    target = tmp_path / "new" / "memory.db"
    mindbank.restore(tmp_path / "b.db", target)
    with mindbank.open(target) as mb:
        assert mb.count() == 3


# -- stats, analytics, care ----------------------------------------------------------------


def test_stats(mb: MindBank, clock: FakeClock) -> None:
    _fill(mb)
    mb.store("gone", 1, ttl=1)
    clock.advance(2)
    s = mb.stats()
    assert s.file_bytes > 0 and s.schema_version == MIGRATIONS[-1].version
    assert s.namespaces == {"architecture": 1, "default": 1, "ops": 1}
    assert s.tables["memory_store"] == 4 and s.expired_entries == 1
    assert set(s.tables) >= REFERENCE_TABLES


def test_analytics_window_and_hot_keys(both_db: Path | str, clock: FakeClock) -> None:
    mb = mindbank.open(both_db, clock=clock)
    _fill(mb)
    clock.advance(86400 * 2)
    mb.store("fresh", "x", namespace="ops")
    for _ in range(3):
        mb.retrieve("config", namespace="ops")
    report = mb.analytics(window="1d", top=5)
    ops = next(u for u in report.namespaces if u.namespace == "ops")
    assert (ops.entries, ops.created_in_window, ops.accessed_in_window) == (2, 1, 1)
    assert ops.total_accesses == 3
    arch = next(u for u in report.namespaces if u.namespace == "architecture")
    assert arch.accessed_in_window == 0 and arch.total_accesses == 1
    assert [(h.key, h.access_count) for h in report.hot_keys] == [("config", 3)]
    with pytest.raises(ValidationError):
        mb.analytics(window="soon")
    mb.close()


def test_check_optimize_vacuum(mb: MindBank) -> None:
    mb.store_many([{"key": f"k{i}", "value": "x" * 1000} for i in range(500)])
    mb.clear_namespace("default")
    mb.optimize()
    before, after = mb.vacuum()
    assert after < before
    assert mb.check().ok


def test_check_finds_corruption(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with mindbank.open(path) as mb:
        mb.store_many([{"key": f"k{i:05}", "value": "x" * 200} for i in range(2000)])
        mb.vacuum()
    data = bytearray(path.read_bytes())
    # Scribble over the middle of the file (b-tree pages), not the header.
    mid = len(data) // 2
    data[mid : mid + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    try:
        with mindbank.open(path) as mb:
            assert not mb.check().ok
    except mindbank.StoreError:
        pass  # refusing to open a corrupt file is also a clear answer


def test_slow_query_hook_and_event(both_db: Path | str) -> None:
    mb = mindbank.open(both_db)
    seen: list[tuple[str, float]] = []
    mb.on_slow_query(lambda sql, ms: seen.append((sql, ms)), threshold_ms=0.0)
    mb.store("k", "v")
    assert any("INSERT INTO memory_store" in sql for sql, _ in seen)
    events = mb.events.list(type="slow_query")
    assert events and events[0].data["ms"] >= 0
    mb.close()


def test_settings_from_env() -> None:
    s = mindbank.Settings.from_env({"MINDBANK_BUSY_TIMEOUT": "0.5", "MINDBANK_SLOW_QUERY_MS": "20"})
    assert s.busy_timeout == 0.5 and s.slow_query_ms == 20
    with pytest.raises(ValidationError):
        mindbank.Settings.from_env({"MINDBANK_BUSY_TIMEOUT": "soon"})
    with pytest.raises(ValidationError):
        mindbank.Settings(synchronous="SOMETIMES")


def test_query_has_a_time_and_a_row_limit(both_db: Path | str) -> None:
    """An endless recursive query stops at the time limit, a result past the row limit is an
    error that says to add a LIMIT; both with a clear message, nothing raw."""
    settings = mindbank.Settings(embed=False, query_timeout=0.5, query_max_rows=50)
    with mindbank.open(both_db, settings=settings) as mb:
        mb.store_many({"key": f"k{i}", "value": "hello world"} for i in range(60))
        endless = (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
        )
        with pytest.raises(mindbank.ReadOnlyQueryError, match=r"ran past 0\.5 s"):
            mb.query(endless)
        with pytest.raises(mindbank.ReadOnlyQueryError, match="more than 50 rows; add a LIMIT"):
            mb.query("SELECT key FROM memory_store")
        assert len(mb.query("SELECT key FROM memory_store LIMIT 50").rows) == 50
        assert mb.count() == 60  # and the handle still works


def test_query_reads_the_full_text_index(mb: MindBank) -> None:
    mb.store("k", "hello full text")
    found = mb.query("SELECT key FROM memory_fts WHERE memory_fts MATCH 'hello'")
    assert found.rows == (("k",),)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_advisory_lock(1296193347, hashtext('bob'))",
        "SELECT pg_try_advisory_xact_lock(1)",
        'SELECT "pg_advisory_lock"(7)',
        "DO $$ BEGIN PERFORM 1; END $$",
    ],
)
def test_query_takes_no_locks_on_postgresql(pg_admin: str, sql: str) -> None:
    from tests.conftest import _tenant, tenant_url

    with (
        mindbank.open(tenant_url(pg_admin, _tenant("q"))) as mb,
        pytest.raises(mindbank.ReadOnlyQueryError, match="may not take locks"),
    ):
        mb.query(sql)

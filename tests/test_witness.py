"""The witness chain: every write recorded, and every kind of tampering found."""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import pytest

import mindbank
from mindbank import IntegrityCheckError, WitnessWarning
from mindbank.config import Settings
from mindbank.store.schema import WITNESS_TRIGGERS
from mindbank.store.witness import chain_digest, content_digest

from .conftest import FakeClock, run_mindbank


def _fill(path: Path, clock: FakeClock) -> None:
    with mindbank.open(path, clock=clock) as mb:
        mb.store("a", "alpha", namespace="n", tags=["x"])
        mb.store("b", {"v": 1}, namespace="n", ttl=3600)
        mb.store("c", "gamma")
        clock.advance(1)
        mb.store("a", "alpha two", namespace="n")  # an update
        mb.delete("c")
        mb.bank.store("lesson", "check the input first", confidence=0.6)
        item = mb.bank.record_trajectory("t", verdict="success", strategy="s").items[0]
        mb.bank.feedback(item.id, "success")
        for _ in range(5):
            mb.retrieve("a", namespace="n")  # access counting is not a content write


def _forge(conn: sqlite3.Connection) -> None:
    """What a tamperer who read the source adds: mindbank's non-witness SQL functions."""
    conn.create_function("mb_plain", 1, lambda v: v)
    conn.create_function("mb_actor", 0, lambda: "tamperer")
    conn.create_function("mb_now", 0, lambda: 0.0)


def _outside(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, as the shell would be: it cannot run the triggers, so a
    tamperer drops them first, and forges mindbank's decompressing function the full-text
    triggers call."""
    conn = sqlite3.connect(path, isolation_level=None)
    _forge(conn)
    for t in WITNESS_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {t}")
    return conn


def test_every_write_is_recorded_and_the_chain_verifies(db_path: Path, clock: FakeClock) -> None:
    _fill(db_path, clock)
    with mindbank.open(db_path, clock=clock) as mb:
        report = mb.verify()
        assert report.ok, report.problems()
        assert mb.check().ok
        seq, head = mb.witness_head()
        assert (seq, head) == (report.head_seq, report.head) and len(head) == 64
        ops = mb.query("SELECT op, tbl FROM witness_chain ORDER BY seq").rows
    memory_ops = [op for op, tbl in ops if tbl == "memory_store"]
    assert memory_ops == ["insert", "insert", "insert", "update", "delete"]
    assert tuple(ops[0]) == ("genesis", "")
    assert sum(1 for _, tbl in ops if tbl == "patterns") >= 3


def test_a_shell_cannot_delete_entries_or_touch_items_and_its_updates_are_found(
    db_path: Path, clock: FakeClock
) -> None:
    _fill(db_path, clock)
    conn = sqlite3.connect(db_path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match=r"mb_digest|mb_chain|mb_plain|mb_actor"):
        conn.execute("DELETE FROM memory_store WHERE key = 'a'")
    with pytest.raises(sqlite3.OperationalError, match=r"mb_digest|mb_chain"):
        conn.execute("UPDATE patterns SET confidence = 1.0")
    with mindbank.open(db_path, clock=clock) as mb:
        assert mb.verify().ok
    with pytest.raises(sqlite3.OperationalError, match=r"mb_plain|mb_actor"):  # FTS, change log
        conn.execute("UPDATE memory_store SET value = 'evil' WHERE key = 'a'")
    _forge(conn)  # a tamperer who knows
    conn.execute("UPDATE memory_store SET value = 'evil' WHERE key = 'a'")  # no witness trigger
    conn.close()
    with mindbank.open(db_path, clock=clock) as mb:  # the triggers are intact: no warning
        report = mb.verify()
    assert report.changed == (("memory_store", "n\x1fa"),) and not report.triggers_missing


@pytest.mark.parametrize(
    ("tamper", "field", "expected"),
    [
        ("UPDATE memory_store SET value = 'evil' WHERE key = 'a'", "changed", ("memory_store", "n\x1fa")),
        ("UPDATE memory_store SET tags = '[\"y\"]' WHERE key = 'a'", "changed", ("memory_store", "n\x1fa")),
        ("DELETE FROM memory_store WHERE key = 'b'", "deleted", ("memory_store", "n\x1fb")),
        ("INSERT INTO memory_store (key, namespace, value, created_at, updated_at) "
         "VALUES ('z', 'n', 'planted', 0, 0)", "inserted", ("memory_store", "n\x1fz")),
        ("INSERT INTO memory_store (key, namespace, value, created_at, updated_at) "
         "VALUES ('c', 'default', 'resurrected', 0, 0)", "inserted", ("memory_store", "default\x1fc")),
        ("UPDATE patterns SET confidence = 0.99 WHERE key = 'lesson'", "changed", None),
    ],
)  # fmt: skip
def test_tampering_with_rows_is_found(
    db_path: Path, clock: FakeClock, tamper: str, field: str, expected: tuple[str, str] | None
) -> None:
    _fill(db_path, clock)
    conn = _outside(db_path)
    conn.execute(tamper)
    conn.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mb = mindbank.open(db_path, clock=clock)
    try:
        assert any(issubclass(w.category, WitnessWarning) for w in caught)  # triggers gone
        report = mb.verify()
        assert not report.ok
        found = getattr(report, field)
        assert len(found) == 1
        if expected is not None:
            assert found[0] == expected
        assert set(report.triggers_missing) == set(WITNESS_TRIGGERS)
        assert report.broken_at is None  # the chain itself is intact
        assert not mb.check().ok
    finally:
        mb.close()


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE witness_chain SET digest = 'x' WHERE seq = 2",
        "DELETE FROM witness_chain WHERE seq = 3",
        "UPDATE witness_chain SET op = 'insert' WHERE seq = 5",
        "INSERT INTO witness_chain VALUES (1000, 'insert', 'memory_store', 'n', 'd', 'p', 'c')",
    ],
)
def test_editing_the_chain_is_found(db_path: Path, clock: FakeClock, tamper: str) -> None:
    _fill(db_path, clock)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute(tamper)
    conn.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WitnessWarning)
        with mindbank.open(db_path, clock=clock) as mb:
            report = mb.verify()
    assert report.broken_at is not None and report.broken_at <= 1000
    assert not report.ok


def test_open_warns_on_a_broken_tail_and_strict_mode_refuses(
    db_path: Path, clock: FakeClock
) -> None:
    _fill(db_path, clock)
    conn = sqlite3.connect(db_path, isolation_level=None)
    last = conn.execute("SELECT max(seq) FROM witness_chain").fetchone()[0]
    conn.execute("UPDATE witness_chain SET digest = 'forged' WHERE seq = ?", (last - 1,))
    conn.close()
    with pytest.warns(WitnessWarning, match="broken at record"):
        mindbank.open(db_path, clock=clock).close()
    with pytest.raises(IntegrityCheckError, match="broken at record"):
        mindbank.open(db_path, clock=clock, settings=Settings(witness_strict=True))
    r = run_mindbank("db", "verify", "--db", str(db_path))
    assert r.returncode == 1 and "broken at record" in r.stdout + r.stderr
    r = run_mindbank("memory", "list", "--db", str(db_path), env={"MINDBANK_WITNESS_STRICT": "1"})
    assert r.returncode == 1 and "broken at record" in r.stderr


def test_cli_verify_and_head(db_path: Path, clock: FakeClock) -> None:
    _fill(db_path, clock)
    r = run_mindbank("db", "verify", "--db", str(db_path))
    assert r.returncode == 0 and r.stdout.startswith("ok: ")
    r = run_mindbank("db", "head", "--db", str(db_path))
    seq, digest = r.stdout.split()
    with mindbank.open(db_path, clock=clock) as mb:
        assert (int(seq), digest) == mb.witness_head()


def test_digests_are_unambiguous() -> None:
    assert content_digest("ab", "c") != content_digest("a", "bc")
    assert content_digest(1) != content_digest("1") != content_digest(1.0)
    assert content_digest(None) != content_digest("")
    assert chain_digest(1, "insert", "t", "k", "d", "p") != chain_digest(
        1, "insert", "t", "k", "dp", ""
    )


def test_restore_and_migration_keep_the_chain(
    db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    _fill(db_path, clock)
    with mindbank.open(db_path, clock=clock) as mb:
        mb.backup(tmp_path / "b.db")
        mb.store("after", "the backup")
    mindbank.restore(tmp_path / "b.db", db_path)
    with mindbank.open(db_path, clock=clock) as mb:
        assert mb.verify().ok
        assert mb.retrieve("after") is None


def test_rows_written_before_the_chain_are_adopted(db_path: Path, clock: FakeClock) -> None:
    _fill(db_path, clock)
    conn = sqlite3.connect(db_path, isolation_level=None)  # back to schema 3, rows kept
    for t in WITNESS_TRIGGERS:
        conn.execute(f"DROP TRIGGER {t}")
    conn.execute("DROP TABLE witness_chain")
    conn.execute("ALTER TABLE embeddings DROP COLUMN quant")
    conn.execute("DROP TABLE zstd_dicts")
    conn.execute("DROP VIEW memory_fts_text")
    for t in ("ai", "au", "ad"):
        conn.execute(f"DROP TRIGGER memory_store_change_{t}")
    for table in ("search_impressions", "feedback", "entry_scores", "memory_edges",
                  "training_history", "neural_models", "pattern_memory", "pipeline_runs",
                  "memory_fts_deferred", "model_updates", "namespace_schemas", "change_log",
                  "change_cursors", "sync_ops", "sync_meta", "sync_pending"):  # fmt: skip
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DELETE FROM counters WHERE name = 'schemas'")
    conn.execute("DELETE FROM schema_migrations WHERE version >= 4")
    entries = conn.execute("SELECT count(*) FROM memory_store").fetchone()[0]
    conn.close()
    with mindbank.open(db_path, clock=clock) as mb:
        report = mb.verify()
        assert report.ok, report.problems()
        assert report.records == 1 + entries + len(mb.bank.list(status="all"))

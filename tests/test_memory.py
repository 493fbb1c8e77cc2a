"""The key-value memory: store, retrieve, list, delete, TTL, transactions, validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mindbank
from mindbank import MindBank, NotFoundError, ValidationError

from .conftest import FakeClock, raw_rows


@pytest.fixture
def db_path(both_db: Path | str) -> Path | str:
    """Every test that opens a database runs on SQLite and on PostgreSQL."""
    return both_db


def _rows(db: Path | str) -> list[tuple[Any, ...]]:
    return raw_rows(db, "SELECT namespace, key, value FROM memory_store ORDER BY namespace, key")


def test_store_and_retrieve_round_trip_every_json_type(mb: MindBank) -> None:
    values = [
        "Use REST",
        "",
        "ünïcødé ✓ \n multi-line",
        '{"looks": "like json but is text"}',
        0,
        -3.25,
        True,
        None,
        [1, "two", [3]],
        {"nested": {"a": [1, 2]}, "b": None},
    ]
    for i, value in enumerate(values):
        mb.store(f"k{i}", value)
    for i, value in enumerate(values):
        entry = mb.retrieve(f"k{i}")
        assert entry is not None
        assert entry.value == value
        assert type(entry.value) is type(value)


def test_entry_fields(mb: MindBank, clock: FakeClock) -> None:
    stored = mb.store(
        "api-design",
        "Use REST",
        namespace="architecture",
        tags=["api", "rest", "api"],
        metadata={"by": "architect"},
        ttl=3600,
    )
    assert stored.tags == ("api", "rest")
    assert stored.metadata == {"by": "architect"}
    assert stored.created_at == stored.updated_at == clock.now
    assert stored.expires_at == clock.now + 3600
    assert stored.access_count == 0 and stored.accessed_at is None

    clock.advance(5)
    got = mb.retrieve("api-design", namespace="architecture")
    assert got is not None
    assert got.access_count == 1 and got.accessed_at == clock.now
    assert mb.retrieve("api-design") is None  # other namespace


def test_upsert_keeps_created_at_and_access_count(mb: MindBank, clock: FakeClock) -> None:
    first = mb.store("k", "v1")
    mb.retrieve("k")
    mb.retrieve("k")
    clock.advance(10)
    second = mb.store("k", "v2", tags=["x"])
    assert second.created_at == first.created_at
    assert second.updated_at == clock.now
    assert second.value == "v2" and second.tags == ("x",)
    got = mb.retrieve("k")
    assert got is not None and got.access_count == 3
    assert mb.count() == 1


def test_access_counts_are_persisted(db_path: Path, clock: FakeClock) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        mb.store("k", "v")
        for _ in range(5):
            mb.retrieve("k")
        assert mb.get("k") is not None
    with mindbank.open(db_path, clock=clock) as mb:
        entry = mb.get("k")
        assert entry is not None and entry.access_count == 5


def test_access_buffer_flushes_on_time(db_path: Path | str, clock: FakeClock) -> None:
    settings = mindbank.Settings(access_flush_seconds=1.0)
    with mindbank.open(db_path, clock=clock, settings=settings) as mb:
        mb.store("k", "v")
        mb.retrieve("k")
        clock.advance(2)
        mb.retrieve("k")  # past the interval: written now, not at close
        assert raw_rows(db_path, "SELECT access_count FROM memory_store") == [(2,)]


def test_ttl_expiry_is_immediate_and_cleanup_counts(mb: MindBank, clock: FakeClock) -> None:
    mb.store("short", "v", ttl=10)
    mb.store("long", "v", ttl=100)
    mb.store("forever", "v")
    clock.advance(10)
    assert mb.retrieve("short") is None
    assert [e.key for e in mb.list()] == ["forever", "long"]
    assert mb.count() == 2
    assert mb.namespaces() == {"default": 2}
    report = mb.cleanup()
    assert report.entries == 1 and report.total == 1
    assert mb.cleanup().entries == 0


def test_store_over_an_expired_entry_starts_fresh(mb: MindBank, clock: FakeClock) -> None:
    mb.store("k", "old", ttl=1)
    mb.retrieve("k")
    mb.get("k")
    clock.advance(5)
    entry = mb.store("k", "new")
    assert entry.created_at == clock.now
    assert entry.access_count == 0 and entry.expires_at is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": ""}, "key must not be empty"),
        ({"key": "   "}, "key must not be empty"),
        ({"key": 5}, "key must be a string"),
        ({"key": "x" * 1025}, "limit is 1024"),
        ({"ttl": -1}, "ttl must be a positive"),
        ({"ttl": 0}, "ttl must be a positive"),
        ({"ttl": "10"}, "ttl must be a number"),
        ({"namespace": ""}, "namespace"),
        ({"metadata": ["not", "an", "object"]}, "metadata must be a JSON object"),
        ({"metadata": {"x": {1, 2}}}, "not JSON-serialisable"),
        ({"value": b"bytes"}, "not JSON-serialisable"),
        ({"value": float("nan")}, "not JSON-serialisable"),
        ({"tags": "api"}, "tags must be a list"),
        ({"tags": ["ok", ""]}, "every tag"),
        ({"key": "a\x00b"}, "key must not contain the NUL character"),
        ({"namespace": "n\x00"}, "namespace must not contain the NUL"),
        ({"tags": ["t\x00"]}, "tag must not contain the NUL"),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(
    mb: MindBank, db_path: Path, kwargs: dict[str, object], message: str
) -> None:
    mb.store("keep", "me")
    before = _rows(db_path)
    args: dict[str, object] = {"key": "k", "value": "v", **kwargs}
    with pytest.raises(ValidationError, match=message):
        mb.store(args.pop("key"), args.pop("value"), **args)  # type: ignore[arg-type]
    assert _rows(db_path) == before


def test_text_with_a_nul_character_comes_back_as_stored(mb: MindBank, tmp_path: Path) -> None:
    """PostgreSQL text cannot hold U+0000; the value still round-trips there (and in JSON)."""
    text = "before\x00after"
    assert mb.store("nul", text).value == text
    mb.store_many([{"key": "nul2", "value": text}, {"key": "nul3", "value": {"t": text}}])
    assert mb.retrieve("nul").value == text  # type: ignore[union-attr]
    assert mb.retrieve_many(["nul2", "nul3"])["nul3"].value == {"t": text}
    assert [e.value for e in mb.list(pattern="nul*")] == [text, text, {"t": text}]
    mb.export(tmp_path / "nul.jsonl")
    mb.clear_namespace("default")
    mb.import_(tmp_path / "nul.jsonl")
    assert [e.value for e in mb.list(pattern="nul*")] == [text, text, {"t": text}]


def test_store_many_is_one_transaction(mb: MindBank, db_path: Path) -> None:
    n = mb.store_many(
        [{"key": f"k{i}", "value": i, "namespace": "batch", "tags": ["t"]} for i in range(100)]
    )
    assert n == 100
    assert mb.count(namespace="batch") == 100
    with pytest.raises(ValidationError, match="item 2"):
        mb.store_many([{"key": "a", "value": 1}, {"key": "b", "value": 2}, {"key": "", "value": 3}])
    assert mb.retrieve("a") is None
    with pytest.raises(ValidationError, match="unknown fields"):
        mb.store_many([{"key": "a", "value": 1, "colour": "red"}])


def test_list_filters_pattern_tags_and_paging(mb: MindBank) -> None:
    mb.store("api-design", 1, namespace="arch", tags=["api", "rest"])
    mb.store("api-errors", 2, namespace="arch", tags=["api"])
    mb.store("api-x", 3, namespace="other", tags=["api"])
    mb.store("apix", 4, namespace="arch")
    mb.store("db-choice", 5, namespace="arch", tags=["db"])
    mb.store("user-1", 6, namespace="arch")
    mb.store("user-22", 7, namespace="arch")

    assert [e.key for e in mb.list(namespace="arch", pattern="api-*")] == [
        "api-design",
        "api-errors",
    ]
    assert [(e.namespace, e.key) for e in mb.list(pattern="api-*")] == [
        ("arch", "api-design"),
        ("arch", "api-errors"),
        ("other", "api-x"),
    ]
    assert [e.key for e in mb.list(pattern="user-?")] == ["user-1"]
    assert [e.key for e in mb.list(pattern="*-e*")] == ["api-errors"]
    assert [e.key for e in mb.list(pattern="[ad]*", namespace="arch")] == [
        "api-design",
        "api-errors",
        "apix",
        "db-choice",
    ]
    assert [e.key for e in mb.list(pattern="apix")] == ["apix"]
    assert [e.key for e in mb.list(tags=["api", "rest"])] == ["api-design"]
    assert mb.count(tags=["api"]) == 3
    keys = [e.key for e in mb.list(namespace="arch", limit=2, offset=1)]
    assert keys == ["api-errors", "apix"]
    assert len(mb.list(limit=None)) == 7
    with pytest.raises(ValidationError):
        mb.list(limit=-1)


def test_list_prefix_with_special_characters(mb: MindBank) -> None:
    for key in ["a%b", "a_b", "a%c", "ab", "ü-1", "ü-2", "ü"]:
        mb.store(key, key)
    assert [e.key for e in mb.list(pattern="a%*")] == ["a%b", "a%c"]
    assert [e.key for e in mb.list(pattern="a_*")] == ["a_b"]
    assert [e.key for e in mb.list(pattern="ü-*")] == ["ü-1", "ü-2"]


def test_delete_and_clear_namespace(mb: MindBank, clock: FakeClock) -> None:
    mb.store("a", 1, namespace="tmp")
    mb.store("b", 2, namespace="tmp")
    mb.store("c", 3, namespace="keep")
    assert mb.delete("a", namespace="tmp") is True
    assert mb.delete("a", namespace="tmp") is False
    assert mb.clear_namespace("tmp") == 1
    assert mb.namespaces() == {"keep": 1}
    with pytest.raises(NotFoundError, match="no namespace 'tmp'"):
        mb.clear_namespace("tmp")
    assert mb.count() == 1


def test_transaction_rolls_back_and_nests(mb: MindBank) -> None:
    with pytest.raises(RuntimeError), mb.transaction():
        mb.store("a", 1)
        raise RuntimeError("boom")
    assert mb.retrieve("a") is None

    with mb.transaction():
        mb.store("outer", 1)
        with pytest.raises(RuntimeError), mb.transaction():
            mb.store("inner", 2)
            raise RuntimeError("inner fails")
        with mb.transaction():
            mb.store("inner-ok", 3)
    assert mb.get("outer") is not None
    assert mb.get("inner") is None
    assert mb.get("inner-ok") is not None


def test_entries_are_frozen(mb: MindBank) -> None:
    entry = mb.store("k", "v")
    with pytest.raises(AttributeError):
        entry.value = "other"  # type: ignore[misc]


def test_retrieve_never_serves_a_stale_row(db_path: Path, clock: FakeClock) -> None:
    """retrieve() keeps rows it read; any change by this or another connection is seen."""
    with mindbank.open(db_path, clock=clock) as a, mindbank.open(db_path, clock=clock) as b:
        a.store("k", "v1", ttl=100)
        assert a.retrieve("k").value == "v1"  # type: ignore[union-attr]
        b.store("k", "v2", ttl=100)  # another connection commits
        assert a.retrieve("k").value == "v2"  # type: ignore[union-attr]
        a.store("k", "v3", ttl=100)  # this connection writes
        assert a.retrieve("k").value == "v3"  # type: ignore[union-attr]
        with a.transaction():
            a.store("k", "v4")
            assert a.retrieve("k").value == "v4"  # type: ignore[union-attr]
        b.delete("k")
        assert a.retrieve("k") is None
        b.store("t", "short", ttl=10)
        assert a.retrieve("t") is not None
        clock.advance(10)
        assert a.retrieve("t") is None  # expired, though the row is still stored
        for _ in range(3):
            assert a.retrieve("t") is None and b.retrieve("t") is None
        b.store("c", 1)
        for _ in range(3):
            a.retrieve("c")
        a.close()
        with mindbank.open(db_path, clock=clock) as again:
            entry = again.get("c")
            assert entry is not None and entry.access_count == 3


def test_a_rolled_back_write_is_never_served(db_path: Path, clock: FakeClock) -> None:
    """A row read inside a transaction that rolled back is not served afterwards (a rollback
    leaves the change counters as they were)."""
    with mindbank.open(db_path, clock=clock) as mb:
        mb.store("k", "v1")
        assert mb.retrieve("k").value == "v1"  # type: ignore[union-attr]
        with pytest.raises(RuntimeError), mb.transaction():
            mb.store("k", "v2")
            assert mb.retrieve("k").value == "v2"  # type: ignore[union-attr]
            assert mb.retrieve("k").value == "v2"  # type: ignore[union-attr]
            raise RuntimeError
        assert mb.retrieve("k").value == "v1"  # type: ignore[union-attr]
        with mb.transaction():
            with pytest.raises(RuntimeError), mb.transaction():  # a savepoint
                mb.store("k", "v3")
                mb.store("new", "n")
                assert mb.retrieve_many(["k", "new"]).keys() == {"k", "new"}
                raise RuntimeError
            assert mb.retrieve("k").value == "v1"  # type: ignore[union-attr]
            assert mb.retrieve("new") is None
        assert mb.retrieve_many(["k", "new"])["k"].value == "v1"


def test_accesses_counted_in_a_rolled_back_transaction_are_kept(
    db_path: Path, clock: FakeClock
) -> None:
    """An access-count write that a rollback took back is buffered again: the reads happened."""
    settings = mindbank.Settings(embed=False, access_flush_every=1)  # each access written
    with mindbank.open(db_path, clock=clock, settings=settings) as mb:
        mb.store("k", "v")
        with pytest.raises(RuntimeError), mb.transaction():
            for _ in range(3):
                mb.retrieve("k")
            with mb.transaction():  # a savepoint released: the outer rollback takes it back
                mb.retrieve("k")
            with pytest.raises(RuntimeError), mb.transaction():  # one rolled back on its own
                mb.retrieve("k")
                raise RuntimeError
            raise RuntimeError
        assert mb.retrieve("k").access_count == 6  # type: ignore[union-attr]
    with mindbank.open(db_path, clock=clock) as again:
        assert again.get("k").access_count == 6  # type: ignore[union-attr]


def test_own_writes_keep_the_other_cached_rows(tmp_path: Path, clock: FakeClock) -> None:
    """The working-memory tier survives this handle's own stores, deletes and access-count
    writes (only the written rows go); another connection's commit still empties it."""
    settings = mindbank.Settings(embed=False, access_flush_every=1)
    path = tmp_path / "m.db"
    with mindbank.open(path, settings=settings, clock=clock) as a, mindbank.open(path) as b:
        a.store_many({"key": f"k{i}", "value": i} for i in range(5))
        for i in range(1, 4):  # each access is written at once, and the cached row follows
            entry = a.retrieve("k0")
            assert entry is not None and entry.access_count == i
        a.retrieve_many(["k1", "k2", "k3"])
        assert a._memory.working_memory()[0] == 4
        a.store("k1", "new")
        a.delete("k2")
        a.store_many([{"key": "k3", "value": "newer"}, {"key": "k9", "value": 9}])
        assert a._memory.working_memory()[0] == 1  # k0 stays
        assert a.retrieve("k1").value == "new"  # type: ignore[union-attr]
        assert a.retrieve("k2") is None
        assert a.retrieve("k3").value == "newer"  # type: ignore[union-attr]
        entry = a.retrieve("k0")
        assert entry is not None and entry.access_count == 4
        assert b.get("k0").access_count == 4  # type: ignore[union-attr]
        assert a._memory.working_memory()[0] == 3
        b.store("k0", "from b")  # another connection commits ...
        a.store("k4", "own")  # ... before this handle's own write: nothing is kept
        assert a.retrieve("k0").value == "from b"  # type: ignore[union-attr]
        assert a._memory.working_memory()[0] == 1


@pytest.mark.parametrize("header", [True, False], ids=["wal-header", "data-version-only"])
def test_cached_rows_see_another_process_commit(tmp_path: Path, header: bool) -> None:
    """A row in the working-memory tier is not served once another process committed: seen
    through the WAL-index header, or through PRAGMA data_version where it cannot be read."""
    path = tmp_path / "m.db"
    settings = mindbank.Settings(embed=False)
    with mindbank.open(path, settings=settings) as mb:
        db = mb._db
        if not header:
            db._wal_tried = True  # as if the -shm file could not be mapped
        mb.store_many({"key": f"k{i}", "value": "old"} for i in range(3))
        for _ in range(2):  # read, then served from the tier
            assert [mb.retrieve(f"k{i}").value for i in range(3)] == ["old"] * 3  # type: ignore[union-attr]
        before = db.wal_header()
        assert (before is not None) is header
        script = (
            "import sys, mindbank\n"
            "with mindbank.open(sys.argv[1], settings=mindbank.Settings(embed=False)) as mb:\n"
            "    mb.store('k1', 'new')\n"
        )
        subprocess.run([sys.executable, "-c", script, str(path)], check=True)
        if header:
            assert db.wal_header() != before
        assert mb.retrieve("k1").value == "new"  # type: ignore[union-attr]
        assert mb.retrieve_many(["k0", "k1"])["k1"].value == "new"
        assert mb.retrieve("k0").value == "old"  # type: ignore[union-attr]
        header_now = db.wal_header()
        mb.retrieve("k2")  # reads change nothing
        assert db.wal_header() == header_now


def test_a_read_after_another_process_commit_sees_it(tmp_path: Path) -> None:
    """Linearizable reads through the working-memory tier: another process stores 1..300
    under one key and prints each number once its commit returned; every retrieve made after
    reading the number sees at least that value (the row is cached between reads)."""
    path = tmp_path / "m.db"
    settings = mindbank.Settings(embed=False)
    with mindbank.open(path, settings=settings) as mb:
        mb.store("k", 0)
        script = (
            "import sys, mindbank\n"
            "mb = mindbank.open(sys.argv[1], settings=mindbank.Settings(embed=False))\n"
            "for i in range(1, 301):\n"
            "    mb.store('k', i)\n"
            "    print(i, flush=True)\n"
            "mb.close()\n"
        )
        seen = 0
        with subprocess.Popen(
            [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
        ) as writer:
            assert writer.stdout is not None
            for line in writer.stdout:
                committed = int(line)
                for _ in range(3):  # the first read may fill the tier, the next ones hit it
                    value = mb.retrieve("k").value  # type: ignore[union-attr]
                    assert value >= committed, (value, committed)
                    seen = max(seen, value)
        assert writer.returncode == 0 and seen == 300


def test_retrieve_many(db_path: Path, clock: FakeClock) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        mb.store_many({"key": f"k{i:04d}", "value": {"i": i}, "namespace": "n"}
                      for i in range(1200))  # fmt: skip
        mb.store("short", "x", namespace="n", ttl=5)
        mb.store("k0001", "elsewhere")
        clock.advance(5)
        keys = ["k0002", "nope", "short", "k0001", "k0002"]
        keys += [f"k{i:04d}" for i in range(1199, 2, -1)]
        found = mb.retrieve_many(keys, namespace="n")
        assert list(found)[:3] == ["k0002", "k0001", "k1199"]
        assert len(found) == 1199 and "nope" not in found and "short" not in found
        assert found["k0001"].value == {"i": 1} and found["k0001"].namespace == "n"
        assert found["k0002"].access_count == 1  # asked twice, read once
        assert mb.retrieve_many(["k0002"], namespace="n")["k0002"].access_count == 2
        assert mb.retrieve_many([], namespace="n") == {}
        with pytest.raises(ValidationError, match="not one string"):
            mb.retrieve_many("k0001", namespace="n")
        with pytest.raises(ValidationError, match="strings"):
            mb.retrieve_many([1], namespace="n")  # type: ignore[list-item]
        with mb.transaction():  # inside a transaction: its own writes are seen
            mb.store("k0003", "changed", namespace="n")
            assert mb.retrieve_many(["k0003"], namespace="n")["k0003"].value == "changed"
    with mindbank.open(db_path, clock=clock) as again:
        assert again.get("k0002", namespace="n").access_count == 2  # type: ignore[union-attr]

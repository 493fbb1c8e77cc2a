"""The change feed: every write logged with who and when, read after a point, subscribed to
from other processes, resumed by named cursors without gaps or repeats."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import mindbank
from mindbank import Change, ChangeLogGapError, ValidationError

from .conftest import FakeClock, run_mindbank


@pytest.fixture
def db_path(both_db: Path | str) -> Path | str:
    """Every test that opens a database runs on SQLite and on PostgreSQL."""
    return both_db


def _ops(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(c.op, c.namespace, c.key) for c in changes]


def test_every_write_is_logged_with_who_and_when(
    db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    settings = mindbank.Settings(actor="agent-1")
    with mindbank.open(db_path, clock=clock, settings=settings) as mb:
        assert mb.change_head() == 0
        mb.store("a", "1")
        clock.advance(1)
        mb.store("a", "2")
        mb.store_many([{"key": "b", "value": "x", "namespace": "n"},
                       {"key": "c", "value": "y", "namespace": "n", "ttl": 5}])  # fmt: skip
        mb.retrieve("a")
        mb.retrieve("a")  # reads and access counts are not changes
        mb.delete("a")
        clock.advance(10)
        mb.cleanup()  # the expired "c" is deleted: a change
        mb.export(tmp_path / "e.jsonl", namespace="n")
        mb.clear_namespace("n")
        mb.import_(tmp_path / "e.jsonl")
        changes = mb.changes()
        assert _ops(changes) == [
            ("store", "default", "a"), ("store", "default", "a"), ("store", "n", "b"),
            ("store", "n", "c"), ("delete", "default", "a"), ("delete", "n", "c"),
            ("delete", "n", "b"), ("store", "n", "b"),
        ]  # fmt: skip
        assert [c.seq for c in changes] == list(range(1, 9))
        assert {c.actor for c in changes} == {"agent-1"}
        if isinstance(db_path, Path):  # SQLite stamps changes with mindbank's clock
            assert changes[0].at == 1_800_000_000.0 and changes[1].at == 1_800_000_001.0
        else:  # PostgreSQL with the server's: one clock for every machine
            assert all(time.time() - 60 < c.at <= time.time() for c in changes)
        assert _ops(mb.changes(since=6, namespace="n")) == [
            ("delete", "n", "b"),
            ("store", "n", "b"),
        ]
        assert mb.change_head() == 8


def test_compressing_is_not_a_change(tmp_path: Path, clock: FakeClock) -> None:
    mb = mindbank.open(tmp_path / "m.db", clock=clock)  # compression is SQLite's
    words = "retry backoff timeout cache token parse schema commit rollback migrate deploy"
    mb.store_many({"key": f"k{i}", "value": f"{words} {i} " * 4} for i in range(60))
    head = mb.change_head()
    clock.advance(40 * 86400)
    assert mb.compress(vectors=False).values_compressed > 0
    assert mb.change_head() == head
    mb.store("k1", "plain again")
    assert _ops(mb.changes(since=head)) == [("store", "default", "k1")]
    mb.close()


WRITER = """
import sys, mindbank
with mindbank.open(sys.argv[1], settings=mindbank.Settings(actor="agent-2", embed=False)) as mb:
    for i in range(int(sys.argv[2])):
        mb.store(f"remote-{i}", "from another process", namespace="shared")
"""


def test_a_subscriber_sees_other_processes_changes_within_a_second(db_path: Path) -> None:
    with mindbank.open(db_path, settings=mindbank.Settings(embed=False)) as mb:
        mb.store("before", "not delivered: it is older than the subscription")
        got: list[Change] = []
        arrived: dict[int, float] = {}
        done = threading.Event()

        def on_change(c: Change) -> None:
            got.append(c)
            arrived[c.seq] = time.monotonic()
            if len(got) == 20:
                done.set()

        with mb.subscribe(on_change, namespace="shared", interval=0.05) as sub:
            assert sub.wait_caught_up()
            start = time.monotonic()
            subprocess.run([sys.executable, "-c", WRITER, str(db_path), "20"], check=True,
                           timeout=60)  # fmt: skip
            written = time.monotonic()
            assert done.wait(5), f"only {len(got)} changes arrived"
        assert sub.error is None
        assert [c.key for c in got] == [f"remote-{i}" for i in range(20)]
        assert {c.actor for c in got} == {"agent-2"}
        assert max(arrived.values()) - written < 1.0 and min(arrived.values()) > start


def test_a_named_cursor_resumes_without_gaps_or_repeats(db_path: Path) -> None:
    seen: list[int] = []
    with mindbank.open(db_path, settings=mindbank.Settings(embed=False)) as mb:
        sub = mb.subscribe(lambda c: seen.append(c.seq), name="agent-7", interval=0.02)
        sub.wait_caught_up()
        for i in range(5):
            mb.store(f"a{i}", "x")
        _wait(lambda: len(seen) == 5)
        sub.close()
        for i in range(7):  # while the subscriber is away
            mb.store(f"b{i}", "y")
        mb.delete("a0")
        with mb.subscribe(lambda c: seen.append(c.seq), name="agent-7") as again:
            again.wait_caught_up()
            _wait(lambda: len(seen) == 13)
        assert seen == list(range(1, 14)) and again.error is None
        # a new subscriber without a cursor starts at the head: only new changes
        fresh: list[int] = []
        with mb.subscribe(lambda c: fresh.append(c.seq)) as s:
            s.wait_caught_up()
            mb.store("c", "z")
            _wait(lambda: fresh == [14])


def _wait(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_a_pruned_range_is_a_gap_not_a_silent_skip(db_path: Path, clock: FakeClock) -> None:
    settings = mindbank.Settings(change_log_days=0, embed=False)
    with mindbank.open(db_path, clock=clock, settings=settings) as mb:
        for i in range(5):
            mb.store(f"k{i}", "v")
        clock.advance(2 * 86400)  # (PostgreSQL ages changes by the server's clock)
        mb.store("late", "v")
        assert mb.cleanup().changes == 5
        with pytest.raises(ChangeLogGapError, match="pruned"):
            mb.changes(since=2)
        assert _ops(mb.changes(since=5)) == [("store", "default", "late")]
        with pytest.raises(ValidationError, match="non-negative"):
            mb.changes(since=-1)  # not "pruned": there is nothing before 0
        sub = mb.subscribe(lambda c: None, since=0)
        sub.wait_caught_up()
        sub.close()
        assert isinstance(sub.error, ChangeLogGapError)


def test_watch_command(db_path: Path) -> None:
    with mindbank.open(db_path, settings=mindbank.Settings(embed=False)) as mb:
        mb.store("x", "1", namespace="w")
        mb.store("y", "2", namespace="other")
    r = run_mindbank("memory", "watch", "--since", "0", "--for", "0", "--json", "-n", "w",
                     "--db", str(db_path))  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(d["op"], d["key"]) for d in lines] == [("store", "x")]
    r = run_mindbank("memory", "watch", "--name", "cli", "--for", "0", "--db", str(db_path))
    assert r.returncode == 0 and r.stdout == ""  # a new cursor starts at the head

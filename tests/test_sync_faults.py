"""Sync that never loses a write (issue 20): the deterministic reproductions of each way a
write was lost or sides stayed apart, then a property-based test over random schedules of
replicas, direct writes to the server, crashes at every step boundary, lock errors from a
real second writer and skewed clocks. Real SQLite files, a real PostgreSQL, real processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mindbank
from mindbank.sync.crdt import Op, fold

from .conftest import _tenant, raw_rows, tenant_url
from .test_sync import tenant_url_on


def _replica(path: Path, clock: Callable[[], float] = time.time, **kw: Any) -> mindbank.MindBank:
    return mindbank.open(path, embedder="hashing", clock=clock, **kw)


def _view(target: Path | str) -> dict[str, tuple[Any, tuple[str, ...]]]:
    with mindbank.open(target, embedder="hashing") as mb:
        return {e.key: (e.value, e.tags) for e in mb.list(limit=None)}


def _fold_of_server(url: str) -> dict[str, tuple[Any, tuple[str, ...]]]:
    """What every side must hold: the fold of every operation the server has."""
    rows = raw_rows(url, "SELECT id, stamp, replica, namespace, key, kind, payload FROM sync_ops")
    by_key: dict[tuple[str, str], list[Op]] = {}
    for r in rows:
        by_key.setdefault((r[3], r[4]), []).append(Op(*r[:6], json.loads(r[6])))
    out = {}
    for (_, key), ops in by_key.items():
        state = fold(ops)
        if state.alive and state.register is not None:
            out[key] = (state.register[1]["value"], state.tags)
    return out


KILL_AT = """
import os, sys, mindbank
path, url, point, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = []
def step(name):
    if name == point:
        seen.append(name)
        if len(seen) == nth:
            os.kill(os.getpid(), 9)
with mindbank.open(path, embedder="hashing") as mb:
    mb.sync(url, step=step)
"""


def test_pulled_operations_are_written_though_the_process_dies_before_merging(
    pg_admin: str, tmp_path: Path
) -> None:
    """(1) A new replica killed between pulling and merging kept 0 entries for good."""
    url = tenant_url(pg_admin, _tenant("pull"))
    with mindbank.open(url, embedder="hashing") as shared:
        shared.store_many([{"key": f"k{i}", "value": i, "tags": ["t"]} for i in range(1200)])
    writer = _replica(tmp_path / "w.db")
    writer.sync(url)  # the server's entries are operations now
    writer.close()
    path = tmp_path / "new.db"
    r = subprocess.run([sys.executable, "-c", KILL_AT, str(path), url, "pulled", "2"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == -9, r.stderr  # killed after its second pulled batch
    # 1,000 operations (500 entries' set and tag) pulled and committed, none merged yet
    assert raw_rows(path, "SELECT count(*) FROM sync_ops") == [(1000,)]
    assert raw_rows(path, "SELECT count(*) FROM memory_store") == [(0,)]
    with _replica(path) as mb:
        report = mb.sync(url)  # pulls the other 1,400 and merges all 1,200 entries
        assert report.error is None and report.pending == 0 and report.pulled == 1400
        assert report.local_written == 1200 and len(mb.list(limit=None)) == 1200
        assert mb.get("k7").tags == ("t",)  # type: ignore[union-attr]


def test_a_lock_error_while_merging_leaves_the_entries_pending(
    pg_admin: str, tmp_path: Path
) -> None:
    """(1) One DatabaseLockedError while merging, from a real second writer, lost the pull."""
    url = tenant_url(pg_admin, _tenant("lock"))
    with mindbank.open(url, embedder="hashing") as shared:
        shared.store_many([{"key": f"k{i}", "value": i} for i in range(50)])
    path = tmp_path / "r.db"
    _replica(path).close()  # the file exists, migrated
    other = sqlite3.connect(path, isolation_level=None)

    def step(name: str) -> None:
        if name == "pulled":  # another process takes the write lock and keeps it
            other.execute("BEGIN IMMEDIATE")

    quick = mindbank.Settings(busy_timeout=0.05)
    with _replica(path, settings=quick) as mb:
        report = mb.sync(url, step=step)
        assert report.error is not None and "merging into the local memory" in report.error
        assert report.pending == 50 and mb.list() == []
        assert mb.sync_status().pending == 50  # type: ignore[union-attr]
        other.execute("ROLLBACK")
        report = mb.sync(url)
        assert report.error is None and report.pending == 0 and report.pulled == 0
        assert len(mb.list(limit=None)) == 50
    other.close()


def test_a_later_direct_write_is_not_overwritten_by_an_older_offline_one(
    pg_admin: str, tmp_path: Path
) -> None:
    """(2) The server merged the replica's older write over the direct one, then read it."""
    url = tenant_url(pg_admin, _tenant("direct"))
    a = _replica(tmp_path / "a.db")
    try:
        a.store("plan", "seed")
        a.sync(url)
        a.store("plan", "offline edit at t1")  # not synced yet
        time.sleep(0.01)
        with mindbank.open(url, embedder="hashing") as shared:
            shared.store("plan", "direct write at t2")
        assert a.sync(url).error is None
        assert a.get("plan").value == "direct write at t2"  # type: ignore[union-attr]
        assert _view(url)["plan"][0] == "direct write at t2"
        assert _fold_of_server(url) == _view(url) == _view(tmp_path / "a.db")
    finally:
        a.close()


def _three(tmp_path: Path, url: str) -> list[mindbank.MindBank]:
    reps = [_replica(tmp_path / f"{n}.db") for n in "abc"]
    reps[0].store("k", "v0", tags=["x"])
    for mb in reps + reps:
        assert mb.sync(url).error is None
    return reps


def test_a_write_after_a_merged_delete_keeps_a_concurrent_tag(
    pg_admin: str, tmp_path: Path
) -> None:
    """(3) A replica that rewrote an entry a merged delete had removed kept its own row, while
    the fold (and every other side) had the tag that survived the delete."""
    url = tenant_url(pg_admin, _tenant("tags"))
    a, b, c = reps = _three(tmp_path, url)
    try:
        b.delete("k")  # b deletes the x it saw ...
        c.store("k", "v0", tags=["x", "y"])  # ... while c adds y: concurrent, it survives
        b.sync(url)
        c.sync(url)
        a.sync(url)
        assert a.get("k") is None  # the delete is later than every write a has seen
        a.store("k", "again", tags=["z"])  # a writes it anew
        for mb in reps + reps:
            assert mb.sync(url).error is None
        views = [_view(tmp_path / f"{n}.db") for n in "abc"] + [_view(url)]
        assert all(v == views[0] for v in views), views
        assert views[0]["k"] == ("again", ("y", "z")) == _fold_of_server(url)["k"]
    finally:
        for mb in reps:
            mb.close()


def test_a_rewrite_concurrent_with_a_delete_keeps_its_tags(pg_admin: str, tmp_path: Path) -> None:
    """(4) The value came back with the later rewrite, its tags did not."""
    url = tenant_url(pg_admin, _tenant("rewrite"))
    a, b, _ = reps = _three(tmp_path, url)
    try:
        a.delete("k")
        time.sleep(0.01)
        b.store("k", "rewritten later", tags=["x"])  # b keeps x, which a's delete removed
        for mb in reps + reps:
            assert mb.sync(url).error is None
        views = [_view(tmp_path / f"{n}.db") for n in "abc"] + [_view(url)]
        assert all(v == views[0] for v in views) and views[0]["k"] == ("rewritten later", ("x",))
    finally:
        for mb in reps:
            mb.close()


def test_a_clock_a_day_ahead_is_clamped_and_said(pg_admin: str, tmp_path: Path) -> None:
    """(5) With one replica's clock a day ahead, its writes won over later ones for a day."""
    url = tenant_url(pg_admin, _tenant("skew"))
    ahead = _replica(tmp_path / "ahead.db", lambda: time.time() + 86_400)
    b = _replica(tmp_path / "b.db")
    try:
        ahead.store("plan", "from the fast clock")
        report = ahead.sync(url, max_skew=0.2)
        assert report.clamped >= 1 and report.skew is not None and report.skew > 86_000
        assert ahead.sync_status().skew > 86_000  # type: ignore[union-attr,operator]
        time.sleep(0.3)
        b.store("plan", "later, by the right clock")
        b.sync(url)
        time.sleep(0.3)
        with mindbank.open(url, embedder="hashing") as shared:
            shared.store("other", "direct")
        for mb in (ahead, b, ahead, b):
            assert mb.sync(url).error is None
        views = [_view(tmp_path / "ahead.db"), _view(tmp_path / "b.db"), _view(url)]
        assert all(v == views[0] for v in views)
        assert views[0]["plan"][0] == "later, by the right clock" and "other" in views[0]
        r = subprocess.run([sys.executable, "-m", "mindbank", "sync", "--db",
                            str(tmp_path / "ahead.db"), "--server", url],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "MINDBANK_EMBEDDER": "hashing"})  # fmt: skip
        assert r.returncode == 0, r.stderr
    finally:
        ahead.close()
        b.close()


def test_the_server_recomputes_an_entry_a_direct_write_lost(pg_admin: str, tmp_path: Path) -> None:
    """(5) A direct write ingested as an operation that loses the fold (to a replica's write
    stamped later, within the allowed skew) stayed on the server while replicas had the fold."""
    url = tenant_url(pg_admin, _tenant("recompute"))
    ahead = _replica(tmp_path / "ahead.db", lambda: time.time() + 60)
    try:
        ahead.store("plan", "stamped a minute ahead")
        assert ahead.sync(url, max_skew=3600).clamped == 0  # within the allowed skew
        with mindbank.open(url, embedder="hashing") as shared:
            shared.store("plan", "direct, earlier by the fold's clock")
        assert ahead.sync(url).error is None
        assert _view(url)["plan"][0] == "stamped a minute ahead" == _view(tmp_path / "ahead.db")[
            "plan"][0]  # fmt: skip
    finally:
        ahead.close()


# -- random schedules ----------------------------------------------------------------------


class Crash(BaseException):
    """A process dying at a step boundary: nothing after it runs, open transactions roll back
    (what a SIGKILL leaves, without the cost of a process per step)."""


_step = st.tuples(
    st.sampled_from(
        [
            "store",
            "store",
            "tag",
            "untag",
            "delete",
            "sync",
            "sync",
            "direct",
            "direct-delete",
            "crash",
            "lock",
        ]
    ),
    st.integers(0, 2),
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 3),
    st.sampled_from(["captured", "sent", "pushed", "pulled", "merged"]),
)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(_step, min_size=5, max_size=30), skew=st.sampled_from([0, 30, 86_400]))
def test_random_schedules_converge_to_the_fold_and_lose_no_write(
    pg_server: str, steps: list[Any], skew: float
) -> None:
    """Three replicas (one clock ``skew`` seconds ahead) and agents writing straight into the
    server, with crashes at step boundaries and lock errors from a real second writer: after
    quiescent rounds every side equals the fold of the union of operations, and every
    acknowledged write is among them."""
    import tempfile

    import psycopg

    name = f"faults_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    admin = pg_server.replace("/postgres?", f"/{name}?")
    folder = Path(tempfile.mkdtemp(prefix="mindbank-faults-"))
    clocks: list[Callable[[], float]] = [lambda: time.time() + skew, time.time, time.time]
    paths = [folder / f"r{i}.db" for i in range(3)]
    crash_at: dict[str, tuple[str, int] | None] = {"point": None}

    def step(point: str) -> None:
        if crash_at["point"] is not None and crash_at["point"][0] == point:
            crash_at["point"] = None
            raise Crash(point)

    def open_replica(i: int) -> mindbank.MindBank:
        return _replica(paths[i], clocks[i], settings=mindbank.Settings(busy_timeout=0.05))

    reps = [open_replica(i) for i in range(3)]
    # each writer's last write of each key: a round takes an entry as it is then, so an
    # earlier write overwritten before the round is explained by the later one
    acknowledged: dict[tuple[int, str], str | None] = {}
    n = 0
    try:
        url = tenant_url_on(admin, "faults")
        shared = mindbank.open(url, embedder="hashing")
        for kind, who, key, arg, point in steps:
            n += 1
            mb = reps[who]
            e = mb.get(key)
            value = f"{kind}-{who}-{n}"
            if kind == "store":
                mb.store(key, value, tags=e.tags if e else ())
                acknowledged[(who, key)] = value
            elif kind in ("tag", "untag") and e is not None:
                tags = set(e.tags) | {f"t{arg}"} if kind == "tag" else set(e.tags) - {f"t{arg}"}
                mb.store(key, value, tags=sorted(tags))
                acknowledged[(who, key)] = value
            elif kind == "delete" and e is not None:
                mb.delete(key)
                acknowledged[(who, key)] = None
            elif kind == "direct":
                shared.store(key, value, tags=[f"t{arg}"])
                acknowledged[(-1, key)] = value
            elif kind == "direct-delete":
                shared.delete(key)
                acknowledged[(-1, key)] = None
            elif kind == "sync":
                mb.sync(url, step=step, max_skew=1.0)
            elif kind == "crash":  # a write, then a round of this replica dies at `point`
                mb.store(key, value, tags=e.tags if e else ())
                acknowledged[(who, key)] = value
                crash_at["point"] = (point, who)
                try:
                    mb.sync(url, step=step, max_skew=1.0)
                except Crash:
                    mb.close()
                    reps[who] = open_replica(who)
                crash_at["point"] = None
            elif kind == "lock":  # a second writer holds the file while a round runs
                other = sqlite3.connect(paths[who], isolation_level=None)
                other.execute("BEGIN IMMEDIATE")
                try:  # it fails (the capture cannot write), or reports; nothing is lost
                    mb.sync(url, step=step, max_skew=1.0)
                except mindbank.DatabaseLockedError:
                    pass
                finally:
                    other.execute("ROLLBACK")
                    other.close()
            time.sleep(0.002)
        shared.close()
        for _ in range(2):  # quiescent rounds
            for mb in reps:
                report = mb.sync(url, max_skew=1.0)
                assert report.error is None and report.queue == 0 and report.pending == 0
        expected = _fold_of_server(url)
        views = [_view(p) for p in paths] + [_view(url)]
        for v in views:
            assert v == expected, (v, expected)
        rows = raw_rows(url, "SELECT payload FROM sync_ops WHERE kind = 'set'")
        written = {json.loads(r[0])["value"] for r in rows}
        last = {v for v in acknowledged.values() if v is not None}
        assert last <= written, last - written
    finally:
        for mb in reps:
            mb.close()
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")

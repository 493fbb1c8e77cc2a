"""Many processes, crashes and locks, with real subprocesses on one real database file."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mindbank
from mindbank import DatabaseLockedError

from .conftest import run_mindbank

pytestmark = pytest.mark.slow


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


WRITER = """
import sys, mindbank
path, worker = sys.argv[1], sys.argv[2]
with mindbank.open(path) as mb:
    for i in range(500):
        mb.store(f"w{worker}-{i}", {"worker": worker, "i": i}, namespace="load")
print("done")
"""


def test_four_processes_store_500_each_into_a_fresh_database(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    procs = [_spawn(WRITER, str(path), str(w)) for w in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with mindbank.open(path) as mb:
        assert mb.count(namespace="load") == 2000
        assert mb.check().ok
        assert {e.value["worker"] for e in mb.list(limit=None)} == {"0", "1", "2", "3"}


COUNTER = """
import sys, mindbank
with mindbank.open(sys.argv[1]) as mb:
    for _ in range(50):
        mb.shared.update("counter", lambda v: (v or 0) + 1, retries=1000)
"""


def test_compare_and_set_loses_no_increment_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "cas.db"
    mindbank.open(path).close()
    procs = [_spawn(COUNTER, str(path)) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with mindbank.open(path) as mb:
        state = mb.shared.get("counter")
        assert state is not None and state.value == 200 and state.version == 200


BATCHES = """
import sys, mindbank
with mindbank.open(sys.argv[1]) as mb:
    b = 0
    while True:
        mb.store_many([{"key": f"b{b}-{i}", "value": i, "namespace": f"batch{b}"}
                       for i in range(2000)])
        print(b, flush=True)
        b += 1
"""


def test_sigkill_mid_batch_leaves_only_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    proc = _spawn(BATCHES, str(path))
    assert proc.stdout is not None
    committed = -1
    while committed < 4:  # let several batches commit, then kill during the next ones
        committed = int(proc.stdout.readline())
    time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with mindbank.open(path) as mb:
        assert mb.check().ok
        counts = mb.namespaces()
    assert all(n == 2000 for n in counts.values()), counts  # no partial batch
    assert len(counts) >= committed + 1  # every batch reported as committed is there


HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(30)
"""


def test_locked_database_past_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with mindbank.open(path) as mb:
        mb.store("keep", "me")
    holder = _spawn(HOLDER, str(path))
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        with (
            pytest.raises(DatabaseLockedError, match="locked"),
            mindbank.open(path, settings=mindbank.Settings(busy_timeout=0.3)) as mb,
        ):
            mb.store("new", "value")
        assert time.monotonic() - start < 10
        r = run_mindbank(
            "memory", "store", "new", "value", "--db", str(path),
            env={"MINDBANK_BUSY_TIMEOUT": "0.3"},
        )  # fmt: skip
        assert r.returncode == 1
        assert r.stderr.startswith("error: database is locked") and r.stderr.count("\n") == 1
    finally:
        holder.kill()
        holder.communicate()
    with mindbank.open(path) as mb:
        assert [e.key for e in mb.list()] == ["keep"]


def test_backup_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    mindbank.open(path).close()
    writer = _spawn(WRITER, str(path), "9")
    with mindbank.open(path) as mb:
        mb.backup(tmp_path / "snap.db")
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    with contextlib.closing(sqlite3.connect(tmp_path / "snap.db")) as conn, conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n = conn.execute("SELECT count(*) FROM memory_store").fetchone()[0]
    assert 0 <= n <= 500

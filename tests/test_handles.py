"""Many handles, threads, watchers and processes on one database: every read sees what was
committed before it, every watcher gets every change once and in order, and nothing in
mindbank opens the database file, its ``-wal`` or its ``-shm`` outside SQLite (closing such a
descriptor drops every POSIX lock the process holds on the file: see docs/memory-store.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import mindbank
from tests.conftest import SRC, run_mindbank

SETTINGS = mindbank.Settings(embed=False)


def _outside(path: Path, *stores: tuple[str, str]) -> None:
    """Store each (key, value) through the CLI, one process each (as another agent would)."""
    for key, value in stores:
        result = run_mindbank("memory", "store", key, value, "--db", str(path))
        assert result.returncode == 0, result.stderr


def test_two_handles_in_one_process_see_another_process_writes(tmp_path: Path) -> None:
    """The reproduction of issue 18: two handles, then writes by other processes."""
    path = tmp_path / "m.db"
    mb1 = mindbank.open(path, settings=SETTINGS)
    mb2 = mindbank.open(path, settings=SETTINGS)
    try:
        for i in range(3):
            _outside(path, ("diag", f"two{i}"))
            assert mb1.get("diag").value == f"two{i}"  # type: ignore[union-attr]
            assert mb2.retrieve("diag").value == f"two{i}"  # type: ignore[union-attr]
            assert Path(f"{path}-shm").exists()
            assert Path(f"{path}-wal").exists()
    finally:
        mb1.close()
        mb2.close()


def test_a_handle_and_its_subscription_both_see_outside_writes(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    seen: list[int] = []
    with mindbank.open(path, settings=SETTINGS) as mb:
        with mb.subscribe(lambda c: seen.append(c.seq), interval=0.02) as sub:
            sub.wait_caught_up()
            for i in range(4):
                _outside(path, ("k", f"v{i}"))
                assert mb.retrieve("k").value == f"v{i}"  # type: ignore[union-attr]
            head = mb.change_head()
            deadline = time.monotonic() + 20
            while (not seen or seen[-1] < head) and time.monotonic() < deadline:
                time.sleep(0.02)
        log = [c.seq for c in mb.changes(since=0)]
    assert seen == log


def test_memory_watch_prints_every_outside_store(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    mindbank.open(path, settings=SETTINGS).close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDBANK_")}
    env["MINDBANK_EMBEDDER"] = "hashing"
    watch = subprocess.Popen(
        [sys.executable, "-m", "mindbank", "memory", "watch", "--for", "8", "--json",
         "--interval", "0.05", "--db", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        time.sleep(1.5)  # the watcher starts at the head: only new changes
        _outside(path, *((f"k{i}", f"v{i}") for i in range(5)))
        out, err = watch.communicate(timeout=60)
    finally:
        watch.kill()
    assert watch.returncode == 0, err
    keys = [json.loads(line)["key"] for line in out.splitlines()]
    assert keys == [f"k{i}" for i in range(5)]


def test_threads_share_one_handle_while_processes_write(tmp_path: Path) -> None:
    """Eight threads read through one handle while four processes store increasing numbers:
    each read sees at least the number the writer had committed before the read began."""
    path = tmp_path / "m.db"
    writers = 4
    with mindbank.open(path, settings=SETTINGS) as mb:
        for w in range(writers):
            mb.store(f"w{w}", 0)
        committed = [0] * writers
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(path), f"w{w}", "60"],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(SRC)},
            )
            for w in range(writers)
        ]

        def follow(w: int) -> None:
            assert procs[w].stdout is not None
            for line in procs[w].stdout:
                committed[w] = int(line)

        followers = [threading.Thread(target=follow, args=(w,)) for w in range(writers)]
        for t in followers:
            t.start()
        errors: list[str] = []
        reads = [0]

        def reader(n: int) -> None:
            try:
                while any(p.poll() is None for p in procs):
                    w = n % writers
                    floor = committed[w]
                    got = mb.retrieve(f"w{w}").value  # type: ignore[union-attr]
                    if got < floor:
                        errors.append(f"thread {n} read {got} after {floor} was committed")
                    mb.store(f"t{n}", got)  # writes from threads, too
                    reads[0] += 1
            except Exception as exc:  # collected for the assertion below
                errors.append(f"thread {n}: {exc!r}")

        readers = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
        for t in readers:
            t.start()
        for t in readers:
            t.join(120)
        for p in procs:
            assert p.wait(60) == 0
        for t in followers:
            t.join(10)
        for p in procs:
            assert p.stdout is not None
            p.stdout.close()
        assert errors == []
        assert reads[0] > 0
        assert [mb.retrieve(f"w{w}").value for w in range(writers)] == [60] * writers  # type: ignore[union-attr]


_WRITER = textwrap.dedent(
    """
    import sys, mindbank
    path, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with mindbank.open(path, settings=mindbank.Settings(embed=False)) as mb:
        for i in range(1, n + 1):
            mb.store(key, i)
            print(i, flush=True)
    """
)


# A process that records every open of the database's three files made outside SQLite
# (Python's audit events "open" (io.open, os.open) and "mmap.__new__"), while it runs every
# path that touches them: handles, threads, a subscription, search, stats, backup, export,
# vacuum, check, verify, compression, a restore by another process, and closing.
_AUDITED = textwrap.dedent(
    """
    import os, subprocess, sys, threading
    path = os.path.realpath(sys.argv[1])
    watched = {path, path + "-wal", path + "-shm"}
    opened = []

    def audit(event, args):
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            name = os.fsdecode(args[0])
            if os.path.realpath(name) in watched:
                opened.append(name)
        elif event == "mmap.__new__":
            fd = args[0]
            if fd >= 0:
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    return
                if target in watched:
                    opened.append("mmap " + target)

    sys.addaudithook(audit)
    import mindbank

    settings = mindbank.Settings()
    a = mindbank.open(path, settings=settings)
    b = mindbank.open(path, settings=settings)
    a.store_many({"key": f"k{i}", "value": f"note number {i} about deploys"} for i in range(50))
    seen = []
    sub = b.subscribe(seen.append, interval=0.01)
    threads = [threading.Thread(target=lambda: [a.search("deploys", k=3) for _ in range(3)])
               for _ in range(3)]
    for t in threads: t.start()
    for t in threads: t.join()
    b.retrieve("k1"); b.search("deploys"); b.stats(); b.check(); b.verify(); b.tiers()
    a.bank.record_trajectory("add two numbers", ["x"], strategy="x", outcome={"exit_code": 0, "tests_passed": 1,
                                                               "tests_failed": 0})
    a.bank.query("add numbers")
    backup = os.path.join(os.path.dirname(path), "backup.db")
    a.backup(backup)
    a.export(os.path.join(os.path.dirname(path), "export.jsonl"))
    a.store("after-backup", "x")
    r = subprocess.run([sys.executable, "-m", "mindbank", "memory", "restore", backup, "--yes",
                        "--db", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a.search("deploys"); b.retrieve("k2"); a.stats(); a.vacuum(); a.optimize()
    mindbank.restore(backup, path)
    b.search("deploys")
    sub.close()
    a.close(); b.close()
    print("\\n".join(opened) if opened else "none")
    """
)


def test_nothing_opens_the_database_files_outside_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDBANK_")}
    env["MINDBANK_EMBEDDER"] = "hashing"
    result = subprocess.run(
        [sys.executable, "-c", _AUDITED, str(path)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


def test_wal_and_shm_stay_while_another_process_closes(tmp_path: Path) -> None:
    """Another process that opens and closes the database does not delete the -wal and -shm
    files this one uses (it would, if this process had dropped its locks)."""
    path = tmp_path / "m.db"
    with mindbank.open(path, settings=SETTINGS) as mb, mindbank.open(path, settings=SETTINGS):
        mb.store("k", "v")
        for i in range(3):
            _outside(path, (f"o{i}", "v"))
            assert Path(f"{path}-wal").exists()
            assert Path(f"{path}-shm").exists()
        assert mb.retrieve("o2") is not None


_TOPICS = ["deploy", "database", "testing", "security", "cache", "network", "billing", "search"]


def _facts(prefix: str, n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {"key": f"{prefix}{i}", "value": f"{prefix} note {i} about {_TOPICS[i % 8]} and "
         f"{_TOPICS[(i * 3) % 8]} work item {i}"}
        for i in range(start, start + n)
    ]  # fmt: skip


def _answers(mb: mindbank.MindBank) -> list[object]:
    out: list[object] = []
    for topic in _TOPICS:
        for mode in ("semantic", "hybrid"):
            hits = mb.search(f"{topic} work", k=8, mode=mode)
            out.append([(h.entry.key, h.entry.value, round(h.score, 4)) for h in hits])
        out.append([(h.item.title, round(h.score, 3)) for h in mb.bank.query(topic, k=3)])
    return out


_FRESH = textwrap.dedent(
    """
    import json, sys, mindbank
    sys.path.insert(0, sys.argv[2])
    from tests.test_handles import _answers
    with mindbank.open(sys.argv[1]) as mb:
        print(json.dumps(_answers(mb)))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["older-backup", "other-database"])
def test_a_long_lived_handle_follows_a_restore_by_another_process(
    tmp_path: Path, source: str
) -> None:
    """A handle (as the MCP server holds one) with its vector index, snapshot and
    ReasoningBank items in memory; another process restores an older backup or another
    database, a third writes: the handle answers exactly as a fresh process does, and so does
    a new process after the handle closed (the snapshot it leaves is checked too)."""
    path = tmp_path / "m.db"
    backup = tmp_path / "backup.db"
    settings = mindbank.Settings()
    with mindbank.open(path, settings=settings) as mb:
        mb.store_many(_facts("a", 1200))
        for t in _TOPICS[:4]:
            mb.bank.store(f"lesson-{t}", f"do {t} carefully", title=f"lesson on {t}")
        if source == "older-backup":
            mb.backup(backup)
        else:
            with mindbank.open(tmp_path / "other.db", settings=settings) as other:
                other.store_many(_facts("o", 1100))
                for t in _TOPICS[4:]:
                    other.bank.store(f"other-{t}", f"try {t}", title=f"other lesson on {t}")
                other.backup(backup)
        _answers(mb)  # the index, the snapshot and the items are in memory now
        mb.store_many(_facts("a", 1200, 600))  # 600 changed, 600 new: 1,200 log entries
        mb.bank.store("late", "written after the backup", title="lesson after backup")
        _answers(mb)
        result = run_mindbank("memory", "restore", str(backup), "--yes", "--db", str(path))
        assert result.returncode == 0, result.stderr
        env = {"PYTHONPATH": str(SRC)}
        script = (
            "import sys, mindbank\n"
            "from tests.test_handles import _facts\n"
            "with mindbank.open(sys.argv[1]) as mb:\n"
            "    mb.store_many(_facts('z', 40))\n"
            "    mb.bank.store('new', 'written after the restore', title='lesson after restore')\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, str(path)],
            check=True, env={**os.environ, **env}, cwd=SRC.parent,
        )  # fmt: skip
        with mindbank.open(path, settings=settings) as fresh:
            expected = _answers(fresh)
        assert _answers(mb) == expected
        assert mb.index_status().ok
    out = subprocess.run(
        [sys.executable, "-c", _FRESH, str(path), str(SRC.parent)],
        check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)},
    ).stdout  # fmt: skip
    assert json.loads(out) == json.loads(json.dumps(expected))


_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_reads_go_on_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    """Reads write bookkeeping (access counts, feedback, search impressions); with the write
    lock held elsewhere past the busy timeout, they put it off and still answer."""
    path = tmp_path / "m.db"
    with mindbank.open(path) as mb:
        mb.store("k", "hello world")
        mb.search("hello")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        env = {"MINDBANK_BUSY_TIMEOUT": "0.2"}
        for args in (
            ["memory", "retrieve", "k"],
            ["search", "hello"],
            ["db", "check"],
            ["db", "verify"],
            ["memory", "list"],
            ["bank", "query", "hello"],
        ):
            r = run_mindbank(*args, "--db", str(path), env=env)
            assert r.returncode == 0, (args, r.stderr)
        assert run_mindbank("memory", "retrieve", "k", "--db", str(path), env=env).stdout == (
            "hello world\n"
        )
        with mindbank.open(path, settings=mindbank.Settings(busy_timeout=0.2)) as mb:
            for _ in range(3):
                assert mb.retrieve("k").value == "hello world"  # type: ignore[union-attr]
            assert [h.entry.key for h in mb.search("hello")] == ["k"]
            with pytest.raises(mindbank.DatabaseLockedError):
                mb.optimize()
            holder.kill()
            holder.wait()
            # The counts put off are written by the next flush (here: at close).
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with mindbank.open(path) as mb:
        entry = mb.get("k")
        assert entry is not None and entry.access_count >= 3


_REEMBED = textwrap.dedent(
    """
    import sys, time, mindbank
    with mindbank.open(sys.argv[1], settings=mindbank.Settings(embedder="hashing:64")) as mb:
        def progress(n):
            print(n, flush=True)
            time.sleep(30)  # killed here, half way
        mb.reembed(progress=progress)
    """
)


def test_a_killed_reembed_leaves_the_old_embedder_usable(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with mindbank.open(path, embedder="hashing") as mb:
        mb.store_many(_facts("a", 1500))
        before = [(h.entry.key, h.score) for h in mb.search("deploy work", mode="semantic")]
    proc = subprocess.Popen(
        [sys.executable, "-c", _REEMBED, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert proc.stdout is not None
    try:
        assert int(proc.stdout.readline()) > 0  # a batch was embedded
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    with mindbank.open(path, embedder="hashing") as mb:
        assert [(h.entry.key, h.score) for h in mb.search("deploy work", mode="semantic")] == before
        status = mb.index_status()
        assert status.ok and status.vectors == 1500
    with mindbank.open(path, settings=mindbank.Settings(embedder="hashing:64")) as mb:
        assert mb.reembed() == 1500
        status = mb.index_status()
        assert status.ok and status.vectors == 1500 and status.embedder == "hashing-v1:64"
        mb.store("later", "a note about deploy work")
        assert mb.reembed() == 1501  # the same embedder: every vector again
        assert mb.index_status().ok

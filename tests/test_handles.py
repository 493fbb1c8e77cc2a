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
from tests.conftest import SRC, run_mindbank, run_threads

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
    with mindbank.open(path, settings=SETTINGS) as mb:
        mb.store("before", "not shown")
        head = mb.change_head()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDBANK_")}
    env["MINDBANK_EMBEDDER"] = "hashing"
    watch = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mindbank",
            *f"memory watch --for 8 --json --interval 0.05 --since {head} --db".split(),
            str(path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
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
            while any(p.poll() is None for p in procs):
                w = n % writers
                floor = committed[w]
                got = mb.retrieve(f"w{w}").value  # type: ignore[union-attr]
                if got < floor:
                    errors.append(f"thread {n} read {got} after {floor} was committed")
                mb.store(f"t{n}", got)  # writes from threads, too
                reads[0] += 1

        errors += run_threads(reader, 8, timeout=120)
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


# Installs a Python audit hook (events "open": io.open and os.open; "mmap.__new__") that
# reports every open of the database's three files made outside SQLite, but the one open of the
# -shm file by mindbank.store.walindex, whose descriptor must then stay open for good (closing
# it would drop the process's locks): ``check()`` reports one that was closed.
_AUDIT = textwrap.dedent(
    """
    import os, sys

    def watch(path, report):
        path = os.path.realpath(path)
        watched = {path, path + "-wal", path + "-shm"}
        walindex = os.path.join("mindbank", "store", "walindex.py")
        kept = set()

        def audit(event, args):
            if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
                name = os.path.realpath(os.fsdecode(args[0]))
                if name in watched:
                    caller = sys._getframe(1).f_code.co_filename
                    if caller.endswith(walindex) and name.endswith("-shm") and name not in kept:
                        kept.add(name)
                    else:
                        report(f"OPEN {name} from {caller}")
            elif event == "mmap.__new__" and args[0] >= 0:
                try:
                    target = os.readlink(f"/proc/self/fd/{args[0]}")
                except OSError:
                    return
                caller = sys._getframe(1).f_code.co_filename
                if target in watched and not caller.endswith(walindex):
                    report(f"MMAP {target} from {caller}")

        sys.addaudithook(audit)

        def check():
            from mindbank.store import walindex as w
            for shm, (dev, ino, fd, _) in w._mapped.items():
                try:
                    st = os.fstat(fd)
                except OSError:
                    report(f"CLOSED {shm}")
                    continue
                if (st.st_dev, st.st_ino) != (dev, ino):
                    report(f"CLOSED {shm}")

        return check
    """
)

# A process that records every open of the database's three files made outside SQLite (see
# _AUDIT) while it runs every path that touches them: handles, threads, a subscription,
# search, stats, backup, export, vacuum, check, verify, a restore by another process, closing.
_AUDITED = _AUDIT + textwrap.dedent(
    """
    import subprocess, threading
    path = os.path.realpath(sys.argv[1])
    opened = []
    check = watch(path, opened.append)
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
    check()
    print("\\n".join(opened) if opened else "none")
    """
)


def test_nothing_opens_the_database_files_outside_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDBANK_")}
    env["MINDBANK_EMBEDDER"] = "hashing"
    result = subprocess.run(
        [sys.executable, "-c", _AUDITED, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
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
        {
            "key": f"{prefix}{i}",
            "value": f"{prefix} note {i} about {_TOPICS[i % 8]} and "
            f"{_TOPICS[(i * 3) % 8]} work item {i}",
        }
        for i in range(start, start + n)
    ]


def _answers(mb: mindbank.MindBank) -> list[object]:
    out: list[object] = []
    for topic in _TOPICS:
        for mode in ("semantic", "hybrid"):
            hits = mb.search(f"{topic} work", k=8, mode=mode)
            out.append([(h.entry.key, h.entry.value, round(h.score, 4)) for h in hits])
        # (titles only: an item's score has a recency part, which moves with the clock)
        out.append([h.item.title for h in mb.bank.query(topic, k=3)])
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
            check=True,
            env={**os.environ, **env},
            cwd=SRC.parent,
        )
        with mindbank.open(path, settings=settings) as fresh:
            expected = _answers(fresh)
        assert _answers(mb) == expected
        assert mb.index_status().ok
    out = subprocess.run(
        [sys.executable, "-c", _FRESH, str(path), str(SRC.parent)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    ).stdout
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


# A stress worker: two handles, two threads on each, storing, deleting, searching, writing
# pairs in transactions and watching; it prints each write once it has returned (committed)
# and reports any open of the database's files made outside SQLite (an audit hook).
_STRESS = _AUDIT + textwrap.dedent(
    """
    import threading, time
    path, name, seconds = os.path.realpath(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    out_lock = threading.Lock()

    def say(line):
        with out_lock:
            print(line, flush=True)

    check = watch(path, say)
    import mindbank

    settings = mindbank.Settings(busy_timeout=30.0)
    handles = [mindbank.open(path, settings=settings) for _ in range(2)]
    changes = []
    start = handles[1].change_head()
    sub = handles[1].subscribe(lambda c: changes.append(c.seq), since=start, interval=0.05)
    stop = time.monotonic() + seconds

    def work(mb, t):
        n = 0
        while time.monotonic() < stop:
            n += 1
            key = f"{name}-{t}-{n}"
            mb.store(key, f"note {n} about deploys and tests from {name}", tags=[name])
            say(f"S {key}")
            if n % 5 == 0:
                mb.delete(f"{name}-{t}-{n - 1}")
                say(f"D {name}-{t}-{n - 1}")
            if n % 7 == 0:
                with mb.transaction():
                    mb.store(f"{key}-a", 1)
                    mb.store(f"{key}-b", 2)
                say(f"P {key}")
            if n % 3 == 0:
                mb.search("deploys", k=3)
                mb.retrieve(key)

    threads = [threading.Thread(target=work, args=(mb, f"{h}{t}"))
               for h, mb in enumerate(handles) for t in range(2)]
    for t in threads: t.start()
    for t in threads: t.join()
    head = handles[1].change_head()
    deadline = time.monotonic() + 30
    while sub.position < head and sub.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.close()
    if sub.error is not None:
        raise sub.error
    log, pos = [], start
    while pos < head:  # the change log up to the head: each change once, in order
        batch = [c.seq for c in handles[1].changes(since=pos, limit=1000) if c.seq <= head]
        if not batch:
            break
        log += batch
        pos = batch[-1]
    if changes[: len(log)] != log:
        say(f"DISORDER {len(changes)} delivered, {len(log)} in the log")
    for mb in handles: mb.close()
    check()
    say("DONE")
    """
)


@pytest.mark.slow
def test_stress_many_processes_handles_threads_and_kills(tmp_path: Path) -> None:
    """Three workers (two handles, four threads, a subscription each) for about 40 seconds;
    one is killed with SIGKILL at random moments and started again. Afterwards the database
    is intact, its witness chain verifies, every write reported committed is there, every
    transaction is all or nothing, and no worker opened the database's files outside SQLite."""
    import random
    import signal

    path = tmp_path / "m.db"
    mindbank.open(path).close()
    env = {**os.environ, "PYTHONPATH": str(SRC), "MINDBANK_EMBEDDER": "hashing"}
    rng = random.Random(18)
    lines: list[str] = []
    lock = threading.Lock()

    def start(name: str, seconds: float) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _STRESS, str(path), name, str(seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                with lock:
                    lines.append(line.strip())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        readers.append(reader)
        procs.append(proc)
        return proc

    procs: list[subprocess.Popen[str]] = []
    readers: list[threading.Thread] = []

    steady = [start(f"w{i}", 40) for i in range(2)]
    kills = 0
    deadline = time.monotonic() + 38
    victim_n = 0
    while time.monotonic() < deadline:
        victim = start(f"k{victim_n}", 60)
        victim_n += 1
        time.sleep(rng.uniform(1.0, 4.0))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills += 1
    for proc in steady:  # (their stdout is the readers'; stderr is read once they end)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    for reader in readers:  # every process has ended: their output ends too
        reader.join(30)
    for proc in procs:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    with lock:
        log = list(lines)
    assert not [line for line in log if line.startswith(("OPEN", "MMAP", "CLOSED", "DISORDER"))]
    assert log.count("DONE") == 2
    stored = {line[2:] for line in log if line.startswith("S ")}
    deleted = {line[2:] for line in log if line.startswith("D ")}
    pairs = {line[2:] for line in log if line.startswith("P ")}
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = {r[0] for r in conn.execute("SELECT key FROM memory_store")}
    finally:
        conn.close()
    # Every committed write is there. (A killed worker may have deleted key n-1 at n % 5 == 0
    # and died before saying so.)
    missing = stored - deleted - keys
    assert all(k.startswith("k") and (int(k.rsplit("-", 1)[1]) + 1) % 5 == 0 for k in missing)
    assert not (deleted & keys)
    assert all(f"{p}-a" in keys and f"{p}-b" in keys for p in pairs)
    # A pair is never half there, killed or not.
    halves = {k[:-2] for k in keys if k.endswith(("-a", "-b"))}
    assert all((f"{h}-a" in keys) == (f"{h}-b" in keys) for h in halves)
    r = run_mindbank("db", "verify", "--db", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    with mindbank.open(path) as mb:
        assert mb.check().ok
        assert mb.index_status().ok
    print(
        f"stress: {len(stored)} stores, {len(deleted)} deletes, {len(pairs)} transactions, "
        f"{kills} kills survived, 0 lost"
    )


def test_index_status_finds_a_snapshot_that_disagrees_and_search_does_not_serve_it(
    tmp_path: Path,
) -> None:
    import numpy as np

    from mindbank.store.snapshot import load_snapshot, save_snapshot, snapshot_path

    path = tmp_path / "m.db"
    with mindbank.open(path) as mb:
        mb.store_many(_facts("a", 1200))
        expected = [h.entry.key for h in mb.search("deploy work", mode="semantic")]
        identity, dims = mb.embedder.identity, mb.embedder.dims
    snap_file = snapshot_path(path)
    with mindbank.open(path) as mb:
        assert mb.index_status().snapshot == "ok"
    snap = load_snapshot(snap_file, identity, dims, 0)
    assert snap is not None
    matrix = snap.matrix.copy()
    matrix[[0, 600, 1199]] = matrix[[1199, 0, 600]]  # three entries' vectors swapped
    save_snapshot(
        snap_file,
        identity=identity,
        version=snap.version,
        generation=0,
        ids=snap.ids,
        matrix=matrix,
        namespaces=snap.namespaces,
        q8=snap.q8,
        scale=snap.scale,
    )
    with mindbank.open(path) as mb:
        status = mb.index_status()
        assert status.snapshot == "wrong" and not status.ok
        assert [h.entry.key for h in mb.search("deploy work", mode="semantic")] == expected
        assert mb._semantic.mirror.source == "sqlite"  # the snapshot was not served
    with mindbank.open(path) as mb:
        assert mb.index_status().snapshot == "ok"  # rewritten after the reload
    r = run_mindbank("memory", "index", "status", "--json", "--db", str(path))
    assert json.loads(r.stdout)["snapshot"] == "ok"
    assert np.isfinite(matrix).all()


def test_reads_go_on_when_the_disk_is_full(tmp_path: Path) -> None:
    """A full disk (SQLite's max_page_count on the handle's connection stands in for it):
    retrieve and search still answer; the access counts wait for room."""
    path = tmp_path / "m.db"
    with mindbank.open(path) as mb:
        mb.store_many(_facts("a", 50))
        mb.search("deploy")
        pages = mb._db.conn.execute("PRAGMA page_count").fetchone()[0]
        mb._db.conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(mindbank.StoreError, match="full"):
            mb.store_many(_facts("b", 500))
        for i in range(50):
            assert mb.retrieve(f"a{i}") is not None
        assert mb.search("deploy work", k=3)
        assert mb._memory.flush_access() == 0  # put off: no room
        mb._db.conn.execute("PRAGMA max_page_count = 1073741823")
    with mindbank.open(path) as mb:
        assert mb.get("a1").access_count == 1  # type: ignore[union-attr]


def test_a_backup_killed_half_way_leaves_nothing_after_the_next(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    target = tmp_path / "backups" / "b.db"
    target.parent.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    leftover = target.parent / f".b.db.{int(dead.stdout)}.0badc0de.mindbank-tmp"
    leftover.write_bytes(b"\0" * 100_000)  # what a killed backup leaves
    alive = target.parent / f".b.db.{os.getpid()}.feedf00d.mindbank-tmp"
    alive.write_bytes(b"")  # a backup of a live process: left alone
    with mindbank.open(path) as mb:
        mb.store("k", "v")
        mb.backup(target)
    assert not leftover.exists() and alive.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == [alive.name, "b.db"]


def test_locked_methods_keep_their_parameters() -> None:
    import inspect

    from mindbank.store.locking import serialized

    @serialized
    class Thing:
        def __init__(self) -> None:
            self._lock = threading.RLock()

        def every(self, a, /, b=2, *c, d, e=5, **f):  # type: ignore[no-untyped-def]
            """Doc."""
            return (a, b, c, d, e, f)

        def steps(self, n: int):  # type: ignore[no-untyped-def]
            yield from range(n)

    t = Thing()
    assert t.every(1, d=4) == (1, 2, (), 4, 5, {})
    assert t.every(1, 3, 7, 8, d=4, z=1) == (1, 3, (7, 8), 4, 5, {"z": 1})
    with pytest.raises(TypeError):
        t.every(a=1, d=4)  # positional-only stays positional-only
    assert Thing.every.__doc__ == "Doc." and "d" in inspect.signature(Thing.every).parameters
    assert list(t.steps(3)) == [0, 1, 2]
    assert mindbank.MindBank.retrieve.__wrapped__.__name__ == "retrieve"  # type: ignore[attr-defined]


def test_a_transaction_in_one_thread_is_not_joined_by_another(tmp_path: Path) -> None:
    """Thread A's transaction holds the handle: thread B's store waits for it, and is not
    part of it (A rolls back; B's entry stays)."""
    with mindbank.open(tmp_path / "m.db", settings=SETTINGS) as mb:
        inside, done = threading.Event(), threading.Event()

        def other() -> None:
            inside.wait(10)
            mb.store("b", "from B")
            done.set()

        t = threading.Thread(target=other)
        t.start()
        with pytest.raises(RuntimeError), mb.transaction():
            mb.store("a", "from A")
            inside.set()
            assert not done.wait(0.3)  # B waits for the transaction
            raise RuntimeError("roll back")
        t.join(10)
        assert done.is_set()
        assert mb.retrieve("a") is None
        assert mb.retrieve("b").value == "from B"  # type: ignore[union-attr]

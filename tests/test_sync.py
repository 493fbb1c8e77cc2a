"""Replicas that work offline and converge: the merge rules (property-based, against random
interleavings on three replicas), the hybrid logical clock, real SQLite replicas syncing with a
real PostgreSQL, the circuit breaker, and faults with real processes and a real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mindbank
from mindbank.sync.crdt import Op, fold
from mindbank.sync.hlc import HLC, Stamp

from .conftest import FakeClock, _tenant, raw_rows, tenant_url

# -- the merge rules, property-based -------------------------------------------------------

KEYS = ("a", "b")
TAGS = ("red", "blue")


class SimReplica:
    """A replica in memory: makes operations from its own view, receives others'."""

    def __init__(self, name: str, now: list[float]):
        self.name = name
        self.clock = HLC(name, lambda: now[0])
        self.ops: dict[str, Op] = {}

    def state(self, key: str) -> Any:
        return fold(op for op in self.ops.values() if op.key == key)

    def make(self, kind: str, key: str, arg: Any) -> Op:
        state = self.state(key)
        if kind == "set":  # a rewrite keeps the tags it saw
            payload: dict[str, Any] = {"value": arg, "metadata": {}, "expires_at": None,
                                       "keeps": state.observed() if state.alive else []}  # fmt: skip
        elif kind == "tag":
            payload = {"tag": arg}
        elif kind == "untag":
            payload = {"tag": arg, "removes": state.observed(arg)}
        elif kind == "delete":
            payload = {"removes": state.observed()}
        else:
            payload = {"n": arg}
        op = Op(uuid.uuid4().hex, str(self.clock.tick()), self.name, "ns", key, kind, payload)
        self.ops[op.id] = op
        return op

    def receive(self, op: Op) -> None:
        self.clock.observe(Stamp.parse(op.stamp))
        self.ops[op.id] = op


_action = st.tuples(
    st.sampled_from(["set", "set", "tag", "untag", "delete", "count", "deliver", "tick"]),
    st.integers(0, 2),  # which replica acts
    st.sampled_from(KEYS),
    st.integers(0, 3),  # value / tag index / count / which op to deliver
)


@settings(max_examples=300, deadline=None)
@given(actions=st.lists(_action, max_size=60), order=st.randoms(use_true_random=False))
def test_three_replicas_converge_whatever_the_interleaving(actions: list[Any], order: Any) -> None:
    now = [1_800_000_000.0]
    reps = [SimReplica(f"r{i}", now) for i in range(3)]
    made: list[Op] = []
    for kind, who, key, arg in actions:
        rep = reps[who]
        if kind == "tick":
            now[0] += arg * 0.0005  # clocks may stand still: the counter orders
        elif kind == "deliver":  # some other replica's op arrives, in any order
            others = [op for op in made if op.id not in rep.ops]
            if others:
                rep.receive(others[arg % len(others)])
        else:
            value: Any = {"set": f"v{arg}", "tag": TAGS[arg % 2], "untag": TAGS[arg % 2],
                          "delete": None, "count": arg + 1}[kind]  # fmt: skip
            made.append(rep.make(kind, key, value))
    for rep in reps:  # everyone gets everything, each in its own random order
        rest = [op for op in made if op.id not in rep.ops]
        order.shuffle(rest)
        for op in rest + rest[: len(rest) // 2]:  # some twice: seen once
            rep.receive(op)
    for key in KEYS:
        states = [rep.state(key) for rep in reps]
        assert all(s == states[0] for s in states), key
        final = states[0]
        sets = [op for op in made if op.key == key and op.kind == "set"]
        deletes = [op for op in made if op.key == key and op.kind == "delete"]
        # no acknowledged write disappears without a later write or delete explaining it
        for op in sets:
            explained = any(o.stamp > op.stamp for o in sets + deletes)
            assert explained or (final.alive and final.register == (op.stamp, op.payload))
        if final.alive:
            assert final.register is not None and final.register[0] == max(o.stamp for o in sets)
        assert final.access_count == sum(
            op.payload["n"] for op in made if op.key == key and op.kind == "count"
        )


def test_a_remove_loses_to_a_concurrent_add_and_a_delete_to_a_later_write() -> None:
    now = [1_800_000_000.0]
    a, b = SimReplica("a", now), SimReplica("b", now)
    b.receive(a.make("tag", "k", "red"))
    untag = b.make("untag", "k", "red")  # b removes the red it saw ...
    add = a.make("tag", "k", "red")  # ... while a adds red again: concurrent
    a.receive(untag)
    b.receive(add)
    assert a.state("k").tags == b.state("k").tags == ("red",)
    a.make("set", "k", "one")
    now[0] += 1
    b.receive(next(iter(a.ops.values())))
    delete = b.make("delete", "k", None)
    now[0] += 1
    a.receive(delete)
    assert not a.state("k").alive  # the delete is later than the write
    a.make("set", "k", "again")  # a later write brings it back
    assert a.state("k").alive and a.state("k").register[1]["value"] == "again"  # type: ignore[index]


def test_a_rewrite_concurrent_with_a_delete_keeps_its_tags_an_untag_does_not() -> None:
    now = [1_800_000_000.0]
    a, b, c = SimReplica("a", now), SimReplica("b", now), SimReplica("c", now)
    for op in (a.make("set", "k", "one"), a.make("tag", "k", "red"), a.make("tag", "k", "blue")):
        b.receive(op)
        c.receive(op)
    delete = a.make("delete", "k", None)  # a deletes what it saw, c removes blue ...
    untag = c.make("untag", "k", "blue")
    now[0] += 1
    rewrite = b.make("set", "k", "two")  # ... while b rewrites it later, keeping its tags
    everything = (delete, untag, rewrite)
    for rep in (a, b, c):
        for op in everything:
            rep.receive(op)
    for rep in (a, b, c):
        state = rep.state("k")
        assert state.alive and state.register[1]["value"] == "two"  # type: ignore[index]
        assert state.tags == ("red",)  # the delete does not take red; the untag takes blue
    later = b.make("delete", "k", None)  # a delete that saw the rewrite takes everything
    a.receive(later)
    assert not a.state("k").alive and a.state("k").observed() == []


def test_hybrid_logical_clock() -> None:
    now = [100.0]
    a, b = HLC("a", lambda: now[0]), HLC("b", lambda: now[0])
    s1, s2 = a.tick(), a.tick()
    assert s2 > s1 and s2.wall == s1.wall and s2.counter == s1.counter + 1  # clock stood still
    far = Stamp(10**12, 5, "b")  # a replica whose clock runs ahead
    a.observe(far)
    assert a.tick() > far  # causality wins over the local clock
    now[0] = 200.0
    assert b.tick().wall == 200_000 and str(Stamp.parse(str(far))) == str(far)
    with pytest.raises(ValueError):
        HLC("a.b", time.time)


# -- real replicas and a real server --------------------------------------------------------


def _replica(tmp_path: Path, name: str, clock: FakeClock | None = None) -> mindbank.MindBank:
    return mindbank.open(tmp_path / f"{name}.db", embedder="hashing", clock=clock or time.time)


def test_replicas_converge_after_conflicting_offline_edits(pg_admin: str, tmp_path: Path) -> None:
    url = tenant_url(pg_admin, _tenant("sync"))
    a, b = _replica(tmp_path, "a"), _replica(tmp_path, "b")
    try:
        a.store("plan", "v1", tags=["draft"])
        a.store("gone", "soon")
        assert a.sync(url).pushed == 3 and b.sync(url).pulled == 3
        assert b.get("plan").value == "v1"  # type: ignore[union-attr]
        # cut off: both edit the same keys
        b.store("plan", "b's edit", tags=["draft", "reviewed"])
        time.sleep(0.002)
        a.store("plan", "a's later edit", tags=[])  # a removes draft; b added reviewed
        a.delete("gone")
        b.store("new-b", {"n": 1})
        for _ in range(3):
            b.retrieve("new-b")
        a.sync(url)
        b.sync(url)
        a.sync(url)
        for mb in (a, b):
            plan = mb.get("plan")
            assert plan is not None and plan.value == "a's later edit"  # last writer wins
            assert plan.tags == ("reviewed",)  # b's concurrent add survives a's remove
            assert mb.get("gone") is None and mb.get("new-b").value == {"n": 1}  # type: ignore[union-attr]
            assert mb.get("new-b").access_count == 3  # type: ignore[union-attr]
        with mindbank.open(url, embedder="hashing") as shared:  # the shared memory too
            assert shared.get("plan").value == "a's later edit"  # type: ignore[union-attr]
            assert sorted(e.key for e in shared.list()) == ["new-b", "plan"]
        assert a.sync_status().queue == 0 and a.sync_status().breaker == "closed"  # type: ignore[union-attr]
        assert a.verify().ok and b.verify().ok
    finally:
        a.close()
        b.close()


def test_an_unreachable_server_opens_the_breaker_and_writes_stay_local(tmp_path: Path) -> None:
    clock = FakeClock()
    dead = f"postgresql://nobody:x@/db?host={tmp_path / 'no-server'}&connect_timeout=1"
    slept: list[float] = []
    mb = _replica(tmp_path, "a", clock)
    try:
        mb.store("k", "written while the server is away")
        r = mb.sync(dead, retries=3, backoff=0.5, opens_after=2, cooldown=60, sleep=slept.append)
        assert r.error and "cannot connect" in r.error and r.queue == 1
        assert len(slept) == 2 and 0 <= slept[0] <= 0.5 and 0 <= slept[1] <= 1.0  # full jitter
        assert r.breaker == "closed"
        r = mb.sync()
        assert r.breaker == "open" and mb.sync_status().breaker == "open"  # type: ignore[union-attr]
        tries = len(slept)
        mb.store("k2", "still local")
        r = mb.sync()  # open: no attempt, nothing waits; the write is queued
        assert len(slept) == tries and "circuit breaker is open" in (r.error or "")
        assert mb.get("k2") is not None and mb.sync_status().queue == 2  # type: ignore[union-attr]
        clock.advance(61)
        assert mb.sync_status().breaker == "half-open"  # type: ignore[union-attr]
        assert mb.sync().breaker == "open"  # one try, failed: open again
    finally:
        mb.close()
    from .conftest import run_mindbank

    r2 = run_mindbank("db", "status", "--json", "--db", str(tmp_path / "a.db"))
    assert r2.returncode == 0, r2.stderr
    import json

    sync = json.loads(r2.stdout)["sync"]
    assert sync["queue"] == 2 and sync["breaker"] in ("open", "half-open")


# -- faults: real processes, a real server killed and restarted -----------------------------


@pytest.fixture
def own_server() -> Iterator[tuple[str, Any]]:
    """A PostgreSQL server of the test's own (it gets killed); its admin URL and a restart
    function."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pgserver = pytest.importorskip("pgserver", reason="pgserver has no wheel for this Python")

        folder = tempfile.mkdtemp(prefix="mindbank-pg-fault-")
        srv = pgserver.get_server(folder, cleanup_mode="stop")

    def kill() -> None:  # an immediate shutdown (SIGQUIT): no checkpoint, recovery at start
        pid = srv.get_pid()
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise AssertionError("the server did not stop")

    def start() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            srv.ensure_postgres_running()

    yield srv.get_uri(), (kill, start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        srv.cleanup()


AGENT = """
import sys, time, mindbank
path, url, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with mindbank.open(path, embedder="hashing") as mb:
    for i in range(n):
        mb.store(f"{name}-{i}", {"agent": name, "i": i})  # acknowledged: it is in the replica
        if i % 250 == 249:
            mb.sync(url, retries=2, backoff=0.05, opens_after=1000)
    deadline = time.time() + 120
    while time.time() < deadline:
        r = mb.sync(url, retries=2, backoff=0.05, opens_after=1000)
        if r.error is None and r.queue == 0:
            break
        time.sleep(0.2)
    print(mb.sync_status().queue, flush=True)
"""


@pytest.mark.slow
def test_every_acknowledged_write_arrives_once_through_a_server_crash(
    own_server: tuple[str, Any], tmp_path: Path
) -> None:
    admin, (kill, start) = own_server
    url = tenant_url_on(admin, "crash")
    n = (1667, 1667, 1666)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", AGENT, str(tmp_path / f"{i}.db"), url, f"a{i}", str(k)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, k in enumerate(n)
    ]
    time.sleep(1.5)
    kill()  # in the middle of the writes and their syncs
    time.sleep(2.0)
    start()
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs) and [o.strip() for o in outs] == ["0"] * 3
    with mindbank.open(url, embedder="hashing") as shared:
        assert shared.count() == 5000
    rows = raw_rows(url, "SELECT count(*), count(DISTINCT id) FROM sync_ops WHERE kind = 'set'")
    assert rows == [(5000, 5000)]  # each write exactly once


def tenant_url_on(admin: str, prefix: str) -> str:
    mindbank.open(admin).close()
    return tenant_url(admin, _tenant(prefix))


KILLED = """
import sys, mindbank
path, url = sys.argv[1], sys.argv[2]
with mindbank.open(path, embedder="hashing") as mb:
    for i in range(300):
        mb.store(f"q-{i}", i)
    r = mb.sync(url, retries=1, backoff=0.01)
    print(r.queue, flush=True)
    import time
    time.sleep(60)  # killed here, with a full queue
"""


@pytest.mark.slow
def test_a_killed_agent_with_a_full_queue_drains_it_after_restart(
    own_server: tuple[str, Any], tmp_path: Path
) -> None:
    admin, (kill, start) = own_server
    url = tenant_url_on(admin, "killed")
    kill()  # the server is down while the agent writes
    path = tmp_path / "agent.db"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(path), url],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "300"  # all queued
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    start()
    with mindbank.open(path, embedder="hashing") as mb:  # the agent again
        assert mb.sync_status().queue == 300  # type: ignore[union-attr]  # survived the kill
        r = mb.sync(url)
        assert r.error is None and r.pushed == 300 and r.queue == 0
    with mindbank.open(url, embedder="hashing") as shared:
        assert shared.count() == 300


def test_sync_and_status_commands(pg_admin: str, tmp_path: Path) -> None:
    import json

    from .conftest import run_mindbank

    url = tenant_url(pg_admin, _tenant("cli"))
    db = str(tmp_path / "r.db")
    env = {"MINDBANK_EMBEDDER": "hashing"}
    assert run_mindbank("memory", "store", "k", "v", "--db", db, env=env).returncode == 0
    r = run_mindbank("sync", "--server", url, "--json", "--db", db, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pushed"] == 1
    r = run_mindbank("sync", "--watch", "--interval", "0.1", "--rounds", "2", "--db", db,
                     env={**env, "MINDBANK_SYNC_SERVER": url})  # fmt: skip
    assert r.returncode == 0 and r.stdout.count("queue 0, pending 0, breaker closed") == 2, r.stderr
    r = run_mindbank("db", "status", "--db", db, env=env)
    assert (
        "replica " in r.stdout
        and "queue 0, pending 0, breaker closed" in r.stdout
        and "***" in r.stdout
    )
    r = run_mindbank("sync", "--db", db, env=env)
    assert r.returncode == 1 and "postgresql:// URL" in r.stderr


_real_action = st.tuples(
    st.sampled_from(["store", "store", "tag", "untag", "delete", "sync"]),
    st.integers(0, 2),
    st.sampled_from(KEYS),
    st.integers(0, 3),
)


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(actions=st.lists(_real_action, min_size=4, max_size=25))
def test_real_replicas_converge_for_random_interleavings(
    pg_server: str, actions: list[Any]
) -> None:
    """Three SQLite replicas and one PostgreSQL memory, through the real sync."""
    import psycopg

    name = f"prop_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    admin = pg_server.replace("/postgres?", f"/{name}?")
    folder = Path(tempfile.mkdtemp(prefix="mindbank-prop-"))
    reps: list[mindbank.MindBank] = []
    try:
        url = tenant_url_on(admin, "prop")
        reps = [_replica(folder, f"r{i}") for i in range(3)]
        for kind, who, key, arg in actions:
            mb = reps[who]
            e = mb.get(key)
            if kind == "store":
                mb.store(key, f"v{arg}", tags=e.tags if e else ())
            elif kind in ("tag", "untag") and e is not None:
                tag = TAGS[arg % 2]
                tags = set(e.tags) | {tag} if kind == "tag" else set(e.tags) - {tag}
                mb.store(key, e.value, tags=sorted(tags))
            elif kind == "delete" and e is not None:
                mb.delete(key)
            elif kind == "sync":
                mb.sync(url)
            time.sleep(0.002)  # distinct write times
        for _ in range(2):
            for mb in reps:
                assert mb.sync(url).error is None
        seen = [{e.key: (e.value, e.tags) for e in mb.list()} for mb in reps]
        with mindbank.open(url, embedder="hashing") as shared:
            seen.append({e.key: (e.value, e.tags) for e in shared.list()})
        assert all(s == seen[0] for s in seen), seen
    finally:
        for mb in reps:
            mb.close()
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_a_follower_reads_locally_and_writes_through_the_leader(
    own_server: tuple[str, Any], tmp_path: Path
) -> None:
    from mindbank import StoreError

    admin, (kill, start) = own_server
    url = tenant_url_on(admin, "follow")
    one, two = _replica(tmp_path, "one"), _replica(tmp_path, "two")
    try:
        f1, f2 = one.follower(url), two.follower(url)
        entry = f1.store("plan", {"v": 1}, tags=["draft"])
        assert entry.value == {"v": 1} and entry.tags == ("draft",)
        with mindbank.open(url, embedder="hashing") as leader:  # on the leader at once
            assert leader.get("plan").value == {"v": 1}  # type: ignore[union-attr]
        assert two.get("plan") is None and f2.pull().pulled >= 1
        assert f2.get("plan").tags == ("draft",)  # type: ignore[union-attr]  # read locally
        f2.store("plan", {"v": 2}, tags=[])
        assert f2.delete("plan") and f1.pull().error is None and one.get("plan") is None
        kill()
        with pytest.raises(StoreError):
            f1.store("while-down", "x")  # a follower does not write alone
        assert one.get("while-down") is None and f1.list() == []  # reads still work
        start()
        assert f1.store("after", "y").value == "y"
    finally:
        one.close()
        two.close()


def test_watch_pulls_as_soon_as_another_agent_writes(pg_admin: str, tmp_path: Path) -> None:
    url = tenant_url(pg_admin, _tenant("watch"))
    watcher_db = tmp_path / "w.db"
    env = {**os.environ, "MINDBANK_EMBEDDER": "hashing"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mindbank", "sync", "--server", url, "--watch", "--interval",
         "60", "--rounds", "2", "--db", str(watcher_db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "queue 0" in proc.stdout.readline()  # the first round is done: it listens
        writer = _replica(tmp_path, "writer")
        start = time.monotonic()
        writer.store("news", "fresh")
        writer.sync(url)
        writer.close()
        proc.wait(timeout=20)  # its second round came from the change feed, not the 60 s
        assert time.monotonic() - start < 10
        with mindbank.open(watcher_db, embedder="hashing") as w:
            assert w.get("news").value == "fresh"  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.communicate()


def test_direct_writes_to_the_shared_memory_reach_replicas(pg_admin: str, tmp_path: Path) -> None:
    url = tenant_url(pg_admin, _tenant("direct"))
    with mindbank.open(url, embedder="hashing") as shared:  # before any replica existed
        shared.store("old", "was there first", tags=["legacy"])
    a = _replica(tmp_path, "a")
    try:
        a.store("mine", "from the replica")
        a.sync(url)
        assert a.get("old").tags == ("legacy",)  # type: ignore[union-attr]  # joined: has it
        with mindbank.open(url, embedder="hashing") as shared:  # an agent without a replica
            shared.store("direct", {"n": 1})
            shared.delete("old")
            assert shared.get("mine").value == "from the replica"  # type: ignore[union-attr]
        a.sync(url)
        assert a.get("direct").value == {"n": 1} and a.get("old") is None  # type: ignore[union-attr]
        a.sync(url)
        # the replica's own writes, merged into the shared memory, were not taken for direct ones
        rows = raw_rows(url, "SELECT kind, key FROM sync_ops WHERE replica = 'pg' ORDER BY seq")
        assert rows == [("set", "old"), ("tag", "old"), ("set", "direct"), ("delete", "old")]
    finally:
        a.close()


EDITS = """
import sys, time, mindbank
path, url, who, phase = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
with mindbank.open(path, embedder="hashing") as mb:
    if phase == "start":
        for i in range(20):
            mb.store(f"k{i}", f"{who} first", tags=["shared"])
        print(mb.sync(url).error)
    elif phase == "edit":  # cut off (no sync) for B; A keeps syncing
        for i in range(0, 20, 2):
            mb.store(f"k{i}", f"{who} edit {i}", tags=["shared", who])
            time.sleep(0.003)
        if who == "b":
            mb.delete("k5")
        else:
            mb.store("k5", "a rewrites k5 before b's delete")
            print(mb.sync(url).error)
    else:  # reconnect
        print(mb.sync(url).error, mb.sync(url).error)
"""


@pytest.mark.slow
def test_a_replica_cut_off_converges_when_it_reconnects(pg_admin: str, tmp_path: Path) -> None:
    url = tenant_url(pg_admin, _tenant("part"))
    env = {**os.environ, "MINDBANK_EMBEDDER": "hashing"}

    def run(who: str, phase: str) -> str:
        r = subprocess.run([sys.executable, "-c", EDITS, str(tmp_path / f"{who}.db"), url, who,
                            phase], capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    assert run("a", "start") == "None"
    assert run("b", "start") == "None"
    run("a", "edit")  # a edits even keys, syncs; b edits them too, later, offline
    run("b", "edit")
    assert run("b", "reconnect") == "None None"
    assert run("a", "reconnect") == "None None"
    views = []
    for target in (tmp_path / "a.db", tmp_path / "b.db", url):
        with mindbank.open(target, embedder="hashing") as mb:
            views.append({e.key: (e.value, e.tags) for e in mb.list(limit=None)})
    assert views[0] == views[1] == views[2]
    merged = views[0]
    assert merged["k0"] == ("b edit 0", ("a", "b", "shared"))  # b wrote last; both tags kept
    assert "k5" not in merged  # b's delete is later than a's rewrite
    assert merged["k1"][0] == "b first" and len(merged) == 19

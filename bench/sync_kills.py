"""Sync through kills: every operation delivered exactly once, however often agents die.

K agent processes each write N entries into their own replica and sync every 50 writes; the
driver kills a random agent with SIGKILL at random moments (``KILLS`` times), and restarts
it: it goes on from what its replica holds. At the end every agent syncs until its queue and
its pending merges are empty. Then: every operation each replica made is on the server, once;
every side holds the same K x N entries, and they are the fold of the server's operations.
The baseline is the same workload, in the same run, without kills: the ratio is the time the
kills cost.

Run: ``python bench/sync_kills.py [K] [N] [KILLS]`` (needs ``pip install .[dev]`` for pgserver).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

import mindbank
from mindbank.store.postgres import create_tenant
from mindbank.sync.crdt import Op, fold
from pg_server import pg_server

AGENT = """
import sys, mindbank
path, url, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
options = dict(retries=2, backoff=0.05, opens_after=1000)
with mindbank.open(path, embedder="hashing") as mb:
    start = sum(1 for e in mb.list(limit=None) if e.key.startswith(name + "-"))
    for i in range(start, n):
        mb.store(f"{name}-{i:05d}", {"agent": name, "i": i}, tags=[name])
        if i % 50 == 49:
            mb.sync(url, **options)
    while True:
        r = mb.sync(url, **options)
        if r.error is None and r.queue == 0 and r.pending == 0:
            break
"""


def tenant(admin: str, name: str) -> str:
    token = create_tenant(admin, name)
    return admin.replace("postgres:@", f"{name}:{token}@")


def run(url: str, folder: Path, agents: int, n: int, kills: int, rng: random.Random) -> float:
    env = {**os.environ, "MINDBANK_EMBEDDER": "hashing"}

    def start(i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", AGENT, str(folder / f"r{i}.db"), url,
                                 f"a{i}", str(n)], env=env)  # fmt: skip

    t = time.perf_counter()
    procs = {i: start(i) for i in range(agents)}
    done = 0
    while done < kills:
        time.sleep(rng.uniform(0.1, 0.5))
        alive = [i for i, p in procs.items() if p.poll() is None]
        if not alive:
            break
        i = rng.choice(alive)
        procs[i].send_signal(signal.SIGKILL)
        procs[i].wait()
        procs[i] = start(i)
        done += 1
    for p in procs.values():
        if p.wait(timeout=600) != 0:
            raise SystemExit("an agent failed")
    if done < kills:
        raise SystemExit(f"the agents finished after {done} kills: raise N")
    for i in range(agents):  # a last round each, so every replica has every other's writes
        with mindbank.open(folder / f"r{i}.db", embedder="hashing") as mb:
            mb.sync(url)
    return time.perf_counter() - t


def check(admin: str, url: str, folder: Path, agents: int, n: int) -> tuple[int, int]:
    """(operations the replicas made, of them on the server once); raises if a side differs."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, stamp, replica, namespace, key, kind, payload FROM sync_ops"
        ).fetchall()
    server = [r[0] for r in rows]
    on_server = set(server)
    if len(server) != len(on_server):
        raise SystemExit("an operation is on the server twice")
    made = delivered = 0
    for i in range(agents):
        with mindbank.open(folder / f"r{i}.db", embedder="hashing") as mb:
            own = [r[0] for r in mb._db.run(
                "SELECT id FROM sync_ops WHERE replica = (SELECT value FROM sync_meta "
                "WHERE key = 'replica')")]  # fmt: skip
        made += len(own)
        delivered += sum(1 for op in own if op in on_server)
    ops: dict[str, list[Op]] = {}
    for r in rows:
        ops.setdefault(r[4], []).append(Op(*r[:6], json.loads(r[6])))
    expected = {}
    for key, its in ops.items():
        state = fold(its)
        if state.alive and state.register is not None:
            expected[key] = (state.register[1]["value"], state.tags)
    if len(expected) != agents * n:
        raise SystemExit(f"the fold has {len(expected)} entries, not {agents * n}")
    for target in [*(folder / f"r{i}.db" for i in range(agents)), url]:
        with mindbank.open(target, embedder="hashing") as mb:
            seen = {e.key: (e.value, e.tags) for e in mb.list(limit=None)}
        if seen != expected:
            raise SystemExit(f"{target} differs from the fold of the server's operations")
    return made, delivered


def main() -> None:
    agents = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    kills = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    rng = random.Random(20)
    print(f"{agents} agents x {n} writes, {kills} SIGKILLs, server on this machine "
          f"({os.cpu_count()} CPUs)")  # fmt: skip
    with pg_server() as admin:
        mindbank.open(admin).close()
        results = {}
        for label, k in (("baseline, no kills", 0), (f"{kills} kills", kills)):
            folder = Path(tempfile.mkdtemp(prefix="mindbank-bench-kills-"))
            url = tenant(admin, f"kills_{k}_{os.getpid()}")
            seconds = run(url, folder, agents, n, k, rng)
            made, delivered = check(admin, url, folder, agents, n)
            results[label] = seconds
            print(f"{label:20s} {seconds:6.1f} s; operations made {made:,}, on the server "
                  f"exactly once {delivered:,} ({delivered / made:.1%}); every side = the fold "
                  f"of {agents * n:,} entries")  # fmt: skip
        base, killed = results.values()
        print(f"time with kills / without: x{killed / base:.2f}")


if __name__ == "__main__":
    main()

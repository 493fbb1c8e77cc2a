"""The shared PostgreSQL backend, against a real server (pgserver: PostgreSQL 16 from a wheel).

The entry API tests run on both backends (one parametrised suite); the tenant tests try to
cross the boundary through the API, the CLI, raw SQL as the tenant's role and the MCP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import mindbank
from mindbank import (
    BackendError,
    DatabaseLockedError,
    MindBank,
    SchemaViolationError,
    ValidationError,
)
from mindbank.store.postgres import PG_MIGRATIONS, drop_tenant

from .conftest import FakeClock, _tenant, raw_rows, run_mindbank, run_threads, tenant_url
from .test_neural import _config, _records


def test_entries(backend_mb: MindBank, clock: FakeClock, tmp_path: Path) -> None:
    mb = backend_mb
    first = mb.store("api-design", "Use REST", namespace="arch", tags=["api"], metadata={"by": "a"})
    clock.advance(5)
    again = mb.store("api-design", {"style": "REST", "v": [1, 2]}, namespace="arch", tags=["api"])
    assert again.created_at == first.created_at and again.updated_at == first.updated_at + 5
    got = mb.retrieve("api-design", namespace="arch")
    assert got is not None and got.value == {"style": "REST", "v": [1, 2]} and got.access_count == 1
    mb.store("api-auth", "OAuth", namespace="arch", tags=["api", "security"])
    mb.store("db-pool", "pgbouncer", namespace="arch", tags=["db"])
    mb.store("tmp", "soon gone", namespace="arch", ttl=10)
    assert [e.key for e in mb.list(namespace="arch", pattern="api-*")] == ["api-auth", "api-design"]
    assert [e.key for e in mb.list(namespace="arch", pattern="api-[ad]?*")] == [
        "api-auth", "api-design"]  # fmt: skip
    assert [e.key for e in mb.list(tags=["api", "security"])] == ["api-auth"]
    assert [e.key for e in mb.list(namespace="arch", limit=2, offset=1)] == [
        "api-design",
        "db-pool",
    ]
    clock.advance(11)
    assert mb.retrieve("tmp", namespace="arch") is None  # expired: invisible before cleanup
    assert mb.count(namespace="arch") == 3 and mb.namespaces() == {"arch": 3}
    assert mb.cleanup().entries == 1
    with pytest.raises(ValidationError, match="item 1"):
        mb.store_many([{"key": "a", "value": 1, "namespace": "b"}, {"key": "", "value": 2}])
    assert mb.count(namespace="b") == 0  # all or nothing
    with pytest.raises(RuntimeError), mb.transaction():
        mb.store("in-tx", "x")
        raise RuntimeError("undo")
    assert mb.get("in-tx") is None
    assert mb.store_many({"key": f"k{i}", "value": i, "namespace": "b"} for i in range(50)) == 50
    mb.export(tmp_path / "e.jsonl")
    assert mb.clear_namespace("b") == 50 and mb.delete("db-pool", namespace="arch")
    assert mb.import_(tmp_path / "e.jsonl") == 53
    assert mb.count() == 53 and mb.get("k7", namespace="b").value == 7  # type: ignore[union-attr]


def test_schemas_and_the_change_feed(backend_mb: MindBank) -> None:
    mb = backend_mb
    mb.set_schema("tasks", {"type": "object", "required": ["id"]})
    with pytest.raises(SchemaViolationError):
        mb.store("t", {"no": "id"}, namespace="tasks")
    head = mb.change_head()
    mb.store("t", {"id": 1}, namespace="tasks")
    mb.delete("t", namespace="tasks")
    assert [(c.op, c.key) for c in mb.changes(since=head)] == [("store", "t"), ("delete", "t")]
    got: list[str] = []
    with mb.subscribe(lambda c: got.append(c.key), namespace="live", interval=0.05) as sub:
        assert sub.wait_caught_up()
        start = time.monotonic()
        mb.store("x", "1", namespace="live")
        while len(got) < 1 and time.monotonic() - start < 5:
            time.sleep(0.01)
        assert got == ["x"] and time.monotonic() - start < 1.0
    assert sub.error is None


def test_tenants_cannot_cross(pg_admin: str, tmp_path: Path) -> None:
    import psycopg

    alice, bob = _tenant("alice"), _tenant("bob")
    ua, ub = tenant_url(pg_admin, alice), tenant_url(pg_admin, bob)
    settings = mindbank.Settings(embed=False)
    with mindbank.open(ua, settings=settings) as a, mindbank.open(ub, settings=settings) as b:
        a.store("secret", "alice's", namespace="n")
        b.store("secret", "bob's", namespace="n")
        b.store("other", "bob only", namespace="m")
        assert a.get("secret", namespace="n").value == "alice's"  # type: ignore[union-attr]
        assert a.namespaces() == {"n": 1} and a.get("other", namespace="m") is None
        assert a.changes() and all(c.actor == alice for c in a.changes())
        a.clear_namespace("n")  # "delete everything for this user"
        assert b.count() == 2
    # raw SQL with the tenant's role
    with psycopg.connect(ub, autocommit=True) as conn:
        rows = conn.execute("SELECT tenant, key FROM memory_store").fetchall()
        assert {r[0] for r in rows} == {bob}
        with pytest.raises(psycopg.Error):
            conn.execute("INSERT INTO memory_store (key, value, created_at, updated_at, tenant) "
                         "VALUES ('x', 'planted', 0, 0, %s)", (alice,))  # fmt: skip
        assert conn.execute("UPDATE memory_store SET value = 'x' WHERE tenant = %s",
                            (alice,)).rowcount == 0  # fmt: skip
        with pytest.raises(psycopg.Error):
            conn.execute(f"SET ROLE {alice}")
    with psycopg.connect(ub, autocommit=True) as conn, pytest.raises(psycopg.Error):
        conn.execute("ALTER TABLE memory_store DISABLE ROW LEVEL SECURITY")
    with psycopg.connect(ua, autocommit=True) as conn:
        conn.execute("DELETE FROM memory_store")  # as alice: only alice's rows
        assert (
            conn.execute("SELECT count(*) FROM change_log WHERE tenant <> current_user").fetchone()[
                0
            ]
            == 0
        )
    # the CLI
    r = run_mindbank("memory", "list", "--json", "--db", ua)
    assert r.returncode == 0 and json.loads(r.stdout)["entries"] == [], r.stderr
    r = run_mindbank("memory", "list", "--json", "--db", ub)
    assert {e["key"] for e in json.loads(r.stdout)["entries"]} == {"secret", "other"}
    # the MCP server, as alice
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mindbank", "mcp", "serve", "--db", ua],
        env={"MINDBANK_EMBED": "0", "PATH": os.environ.get("PATH", "")},
    )  # fmt: skip

    async def scenario() -> None:
        async with Client(params) as client:
            listed = await client.call_tool("memory_list", {})
            assert not listed.is_error and listed.structured_content == {"total": 0, "entries": []}
            missing = await client.call_tool("memory_retrieve", {"key": "other", "namespace": "m"})
            assert missing.structured_content == {"found": False, "entry": None}
            stored = await client.call_tool(
                "pattern_store", {"key": "lesson", "value": "alice's lesson about caching"}
            )
            assert not stored.is_error, stored.content
            found = await client.call_tool("pattern_search", {"query": "caching"})
            assert [h["key"] for h in found.structured_content["hits"]] == ["lesson"]

    asyncio.run(scenario())
    with mindbank.open(ub, settings=settings) as b:  # alice's ReasoningBank is hers
        assert b.bank.list() == [] and b.bank.query("caching") == []
        b.bank.store("lesson", "bob's own lesson")
        assert [i.content for i in b.bank.list()] == ["bob's own lesson"]
    # dropping a tenant deletes its rows only, in every table
    for url in (ua, ub):
        with mindbank.open(url, settings=settings) as mb:
            mb.store("again", "x")
            mb.agents.register("coder", "coder")
            mb.agents.remember("coder", "k", 1)
            mb.shared.set("s", 1)
            mb.events.log("e", "src")
            mb.consensus.propose("p", 1, proposer="coder", quorum=1)
    assert drop_tenant(pg_admin, alice) == 1
    from mindbank.store.postgres import PgDatabase, tenant_tables

    admin = PgDatabase(pg_admin)
    try:
        for table in tenant_tables(admin):
            owners = {r[0] for r in admin.run(f"SELECT DISTINCT tenant FROM {table}")}
            assert alice not in owners, table
        assert {"agents", "agent_memory", "shared_state", "events"} <= {
            t for t in tenant_tables(admin)
            if admin.run(f"SELECT 1 FROM {t} WHERE tenant = ?", (bob,)).fetchone()
        }  # fmt: skip
    finally:
        admin.close()
    with mindbank.open(ub, settings=settings) as b:
        assert b.count() == 3 and b.agents.recall("coder", "k").value == 1  # type: ignore[union-attr]


def test_what_is_sqlites_own_is_refused_on_postgres(pg_admin: str) -> None:
    url = tenant_url(pg_admin, _tenant("t"))
    with mindbank.open(url, settings=mindbank.Settings(embed=False)) as mb:
        mb.store("k", "v", namespace="n")
        stats = mb.stats()
        assert stats.namespaces == {"n": 1} and stats.tables["memory_store"] == 1
        assert stats.schema_version == len(PG_MIGRATIONS) and stats.file_bytes > 0
        for call, why in ((mb.compress, "TOAST"), (mb.vacuum, "autovacuum"),
                          (mb.optimize, "autovacuum")):  # fmt: skip
            with pytest.raises(BackendError, match=f"not available on PostgreSQL: .*{why}"):
                call()
    r = run_mindbank("db", "vacuum", "--db", url)
    assert r.returncode == 1 and "not available on PostgreSQL: the server's autovacuum" in r.stderr
    r = run_mindbank("db", "status", "--json", "--db", url)
    assert r.returncode == 0 and json.loads(r.stdout)["entries"] == 1


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM memory_store",
        "  /* sneaky */ UPDATE memory_store SET value = 'x'",
        "WITH x AS (DELETE FROM memory_store RETURNING 1) SELECT count(*) FROM x",
        "SELECT 1; DELETE FROM memory_store",
        "SELECT 1; COMMIT; DELETE FROM memory_store",
        "SELECT nextval('events_id_seq')",
        "DROP TABLE memory_store",
        "CREATE TEMP TABLE t (x int)",
        "TRUNCATE memory_store",
        "COPY memory_store FROM STDIN",
        "DO $$ BEGIN DELETE FROM memory_store; END $$",
        "SET ROLE postgres",
    ],
)
def test_read_only_sql_refuses_every_write(pg_admin: str, sql: str) -> None:
    from mindbank import ReadOnlyQueryError

    url = tenant_url(pg_admin, _tenant("ro"))
    with mindbank.open(url, settings=mindbank.Settings(embed=False)) as mb:
        mb.store("keep", "me")
        mb.events.log("e", "src")
        with pytest.raises(ReadOnlyQueryError):
            mb.query(sql)
        assert [e.key for e in mb.list()] == ["keep"] and len(mb.events.list()) == 1
        assert mb.query("SELECT key FROM memory_store WHERE key = ?", ["keep"]).rows == (("keep",),)
        with mb.transaction():  # the pool's connection came back clean
            mb.store("after", "ok")


def test_check_backup_and_restore_on_postgres(pg_admin: str, tmp_path: Path) -> None:
    url = tenant_url(pg_admin, _tenant("bk"))
    with mindbank.open(url, embedder="hashing") as mb:
        mb.store_many({"key": f"k{i}", "value": f"note {i}"} for i in range(20))
        mb.bank.store("lesson", "keep backups")
        assert mb.check().ok and mb.check().schema_version == len(PG_MIGRATIONS)
        size = mb.backup(tmp_path / "b.db")
        assert size == (tmp_path / "b.db").stat().st_size and not list(tmp_path.glob(".*"))
        with pytest.raises(ValidationError, match="exists"):
            mb.backup(tmp_path / "b.db")
        mb.clear_namespace("default")
        mb.store("new", "after the backup")
    with mindbank.open(tmp_path / "b.db", embedder="hashing") as b:  # a plain SQLite memory
        assert b.count() == 20 and b.check().ok and b.bank.list()[0].key == "lesson"
    r = run_mindbank("memory", "restore", str(tmp_path / "b.db"), "--db", url, "--yes")
    assert r.returncode == 0 and "restored the tenant's memory" in r.stdout, r.stderr
    with mindbank.open(url, embedder="hashing") as mb:
        assert mb.count() == 20 and mb.get("new") is None
        assert [i.key for i in mb.bank.list()] == ["lesson"]
        assert mb.search("note 7", k=1)[0].entry.key == "k7"
    bad = tmp_path / "bad.db"
    bad.write_text("not a database")
    with pytest.raises(mindbank.NotADatabaseError):
        mindbank.restore(bad, url)
    with mindbank.open(url, embedder="hashing") as mb:
        assert mb.count() == 20  # a refused restore changes nothing
    r = run_mindbank("db", "check", "--db", url)
    assert r.returncode == 0, r.stderr
    admin = psycopg_connect(pg_admin)
    try:  # a table without its guard is reported
        admin.execute("ALTER TABLE events NO FORCE ROW LEVEL SECURITY")
        with mindbank.open(url, embedder="hashing") as mb:
            assert any("events" in p for p in mb.check().problems)
    finally:
        admin.execute("ALTER TABLE events FORCE ROW LEVEL SECURITY")
        admin.close()


def psycopg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


WRITER = """
import sys, mindbank
with mindbank.open(sys.argv[1], settings=mindbank.Settings(embed=False)) as mb:
    for i in range(200):
        mb.store(f"{sys.argv[2]}-{i}", i, namespace="race")
"""


def test_concurrent_writers_lose_nothing(pg_admin: str) -> None:
    url = tenant_url(pg_admin, _tenant("w"))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, f"p{n}"]) for n in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    with mindbank.open(url, settings=mindbank.Settings(embed=False)) as mb:
        assert mb.count(namespace="race") == 800
        assert len(mb.changes(limit=10_000)) == 800
        report = mb.verify()  # four writers, one chain: every link whole, every row witnessed
        assert report.ok and report.records == 801


def test_tenant_commands(pg_admin: str) -> None:
    name = _tenant("cli")
    r = run_mindbank("db", "tenant", "create", name, "--json", "--db", pg_admin)
    assert r.returncode == 0, r.stderr
    url = json.loads(r.stdout)["url"]
    assert run_mindbank("memory", "store", "k", "v", "--db", url).returncode == 0
    r = run_mindbank("db", "tenant", "drop", name, "--db", pg_admin)
    assert r.returncode == 1 and "--yes" in r.stderr
    r = run_mindbank("db", "tenant", "drop", name, "--yes", "--db", pg_admin)
    assert r.returncode == 0 and "1 entries" in r.stdout
    r = run_mindbank("db", "tenant", "create", name, "--db", "x.db")
    assert r.returncode == 1 and "PostgreSQL" in r.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_search(
    backend: str, tmp_path: Path, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        target: Any = tmp_path / "s.db"
    else:
        target = tenant_url(request.getfixturevalue("pg_admin"), _tenant("s"))
    with mindbank.open(target, clock=clock, embedder="hashing") as mb:
        mb.store_many([
            {"key": "retry", "value": "retry with exponential backoff and jitter", "tags": ["net"]},
            {"key": "pool", "value": "use a connection pool for the database", "tags": ["db"]},
            {"key": "cache", "value": "cache hot keys in memory with a TTL", "namespace": "perf"},
            {"key": "lock", "value": "a busy timeout for a locked database", "tags": ["db"]},
        ])  # fmt: skip
        mb.store("same", "retry with exponential backoff and jitter", namespace="copy")
        top = mb.search("retry with exponential backoff and jitter", mode="semantic", k=2)
        assert {h.entry.key for h in top} == {"retry", "same"}
        assert top[0].semantic == pytest.approx(1.0, abs=1e-5) and top[0].keyword is None
        kw = mb.search("database", mode="keyword")
        assert {h.entry.key for h in kw} == {"pool", "lock"} and kw[0].keyword > 0  # type: ignore[operator]
        one = mb.search("database", tags=["db"], namespace="default", mode="keyword", k=1)
        assert len(one) == 1 and one[0].entry.key in {"pool", "lock"}
        hybrid = mb.search("locked database timeout", k=3)
        assert hybrid[0].entry.key == "lock" and hybrid[0].semantic is not None
        assert [h.rank for h in hybrid] == [1, 2, 3]
        assert mb.search("cache", namespace="perf")[0].entry.key == "cache"
        assert len(mb.search("retry backoff", mode="semantic", k=2, mmr=0.3)) == 2
        mb.delete("retry")
        assert "retry" not in {h.entry.key for h in mb.search("retry backoff jitter", k=5)}
        with pytest.raises(ValidationError):
            mb.search("   ")


def test_copy_between_sqlite_and_postgres_both_ways(pg_admin: str, tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    with mindbank.open(src, embedder="hashing") as mb:
        mb.store_many({"key": f"k{i}", "value": {"i": i, "text": f"note number {i}"},
                       "namespace": "n", "tags": ["t"]} for i in range(30))  # fmt: skip
        mb.store("plain", "retry with exponential backoff", ttl=3600)
        mb.retrieve("plain")
        mb.set_schema("n", {"type": "object", "required": ["i"]})
        before = [h.entry.key for h in mb.search("exponential backoff", k=3)]
        mb.agents.register("coder", "coder", capabilities=["python"])
        mb.agents.remember("coder", "last", {"task": 7})
        for n in range(3):
            mb.events.log("step", "coder", {"n": n})
        mb.shared.set("plan", {"v": 1})
        mb.bank.store("pool-size", "Size the pool to the cores", confidence=0.9)
        t = mb.bank.record_trajectory("Sort tuples by the second item", strategy="sorted-key",
                                      verdict="success")  # fmt: skip
        a, b = mb.bank.store("x", "first lesson"), mb.bank.store("y", "second lesson")
        mb.bank.link(a.id, b.id, "related")
        items = {i.key: i for i in mb.bank.list(limit=100)}
        mb.neural.train(_config(epochs=3), _records(120), target="outcome")
        mb.neural.train(_config(epochs=2), _records(120, seed=1), target="outcome")
        probe = _records(5, seed=9)
        predicted = mb.neural.predict_batch("outcome", probe)
    url = tenant_url(pg_admin, _tenant("copy"))
    r = mindbank.copy(src, url)
    assert (r.entries, r.vectors, r.schemas) == (31, 31, 1) and r.changes == 31
    assert r.tables["events"] == 3 and r.tables["task_trajectories"] == 1
    assert r.tables["patterns"] == len(items) and r.tables["pattern_sources"] >= 1
    assert r.tables["pattern_links"] == 1 and r.tables["agent_memory"] == 1
    assert r.tables["neural_models"] == 2 and r.tables["training_history"] == 5
    assert r.left_behind == {} and r.tables["search_impressions"] == 1
    with mindbank.open(url, embedder="hashing") as pg:
        assert [e.data for e in pg.events.list()] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert pg.agents.recall("coder", "last").value == {"task": 7}  # type: ignore[union-attr]
        assert {i.key: i.confidence for i in pg.bank.list(limit=100)} == {
            k: i.confidence for k, i in items.items()}  # fmt: skip
        got = pg.bank.trajectories()[0]
        assert got.task == "Sort tuples by the second item"
        distilled = {i.id for i in t.items}
        assert distilled and {i.id for i in pg.bank.list(limit=100) if got.id in i.sources} == (
            distilled
        )  # provenance follows the trajectory's new id
        assert pg.bank.query("pool size for the cores")[0].item.key == "pool-size"
        assert [v.version for v in pg.neural.versions("outcome")] == [1, 2]
        assert len(pg.neural.history("outcome", 1)) == 3
        assert pg.neural.predict_batch("outcome", probe) == predicted
    with mindbank.open(url, embedder="hashing") as pg:
        assert pg.get("plain").access_count == 1  # type: ignore[union-attr]
        assert pg.schema("n") is not None
        assert pg.search("exponential backoff", k=3)[0].entry.key == before[0]
        with pytest.raises(SchemaViolationError):
            pg.store("bad", {"x": 1}, namespace="n")
    with pytest.raises(ValidationError, match="already holds entries"):
        mindbank.copy(src, url)
    back = tmp_path / "back.db"
    r2 = run_mindbank("db", "copy", url, str(back), "--json")
    assert r2.returncode == 0, r2.stderr
    doc = json.loads(r2.stdout)
    assert doc["entries"] == 31 and doc["vectors"] == 31 and doc["checksum"] == r.checksum
    searched = {"search_impressions": 2}  # the searches on PostgreSQL above were remembered
    assert doc["tables"] == {**r.tables, **searched} and doc["left_behind"] == {}
    with mindbank.open(back, embedder="hashing") as mb:
        assert mb.search("exponential backoff", k=3)[0].entry.key == before[0]
        assert mb.verify().ok


def test_hnsw_search_agrees_with_exact_search(pg_admin: str) -> None:
    """The tenant's approximate index against the exact ranking, on the same queries."""
    from mindbank.store.pg_vectors import PgVectorRepo

    url = tenant_url(pg_admin, _tenant("h"))
    words = ("agent memory vector search retry backoff cache token schema commit rollback "
             "deploy queue worker lock merge branch latency budget error trace").split()  # fmt: skip
    rng = __import__("random").Random(3)
    with mindbank.open(url, embedder="hashing:384") as mb:
        mb.store_many({"key": f"k{i}", "value": " ".join(rng.choices(words, k=8)),
                       "namespace": "rare" if i % 50 == 0 else "n"} for i in range(600))  # fmt: skip
        repo = PgVectorRepo(mb._db)
        ident = mb.embedder.identity
        recalls = []
        for _ in range(20):
            qvec = mb.embedder.embed_one(" ".join(rng.choices(words, k=4)))
            filters = (None, (), 0.0, None, None)
            approx = repo.semantic(qvec, ident, 10, filters)
            exact = repo.semantic(qvec, ident, 10, filters, exact=True)
            recalls.append(len({i for i, _ in approx} & {i for i, _ in exact}) / 10)
            # a selective filter (12 entries) falls back to the exact ranking
            rare = ("rare", (), 0.0, None, None)
            assert repo.semantic(qvec, ident, 10, rare) == repo.semantic(
                qvec, ident, 10, rare, exact=True)  # fmt: skip
        assert repo._hnsw(384)
        assert sum(recalls) / len(recalls) >= 0.9, recalls


def test_shared_state_and_events(backend_mb: MindBank) -> None:
    from mindbank import ConflictError

    mb = backend_mb
    first = mb.shared.set("config", {"retries": 3}, expected_version=0, updated_by="a")
    assert first.version == 1
    with pytest.raises(ConflictError):
        mb.shared.set("config", {"retries": 9}, expected_version=0)  # exists already
    second = mb.shared.set("config", {"retries": 4}, expected_version=1)
    with pytest.raises(ConflictError) as err:
        mb.shared.set("config", {"retries": 5}, expected_version=1)  # stale writer
    assert err.value.actual == 2 and second.version == 2
    assert mb.shared.get("config").value == {"retries": 4}  # type: ignore[union-attr]
    assert mb.shared.set("config", "plain").version == 3  # no expectation: always wins
    assert mb.shared.update("counter", lambda v: (v or 0) + 1).value == 1
    assert mb.shared.delete("config") and mb.shared.get("config") is None
    e1 = mb.events.log("deploy", "agent-1", {"ok": True})
    mb.events.log("test", "agent-2")
    assert [e.type for e in mb.events.list()] == ["deploy", "test"]
    assert [e.id for e in mb.events.list(type="deploy")] == [e1.id]
    assert [e.type for e in mb.events.list(after_id=e1.id)] == ["test"]


CAS = """
import sys, mindbank
with mindbank.open(sys.argv[1], settings=mindbank.Settings(embed=False)) as mb:
    for _ in range(int(sys.argv[2])):
        mb.shared.update("counter", lambda v: (v or 0) + 1, retries=1000)
"""


def test_compare_and_set_loses_no_update_under_concurrency(pg_admin: str) -> None:
    url = tenant_url(pg_admin, _tenant("cas"))
    procs = [subprocess.Popen([sys.executable, "-c", CAS, url, "50"]) for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    with mindbank.open(url, settings=mindbank.Settings(embed=False)) as mb:
        state = mb.shared.get("counter")
        assert state is not None and state.value == 200 and state.version == 200


TX = """
import sys, mindbank
with mindbank.open(sys.argv[1], settings=mindbank.Settings(embed=False)) as mb:
    for _ in range(int(sys.argv[2])):
        with mb.transaction():  # read, then write: safe only if no one writes in between
            e = mb.get("n")
            mb.store("n", (e.value if e else 0) + 1)
        mb.consensus.accept("plan", sys.argv[3]) if sys.argv[3] != "-" else None
"""


def test_a_tenants_transactions_are_serialised_like_sqlites(pg_admin: str) -> None:
    url = tenant_url(pg_admin, _tenant("tx"))
    voters = [f"v{n}" for n in range(4)]
    with mindbank.open(url, settings=mindbank.Settings(embed=False)) as mb:
        mb.consensus.propose("plan", "ship", proposer="lead", voters=voters, quorum=4)
    procs = [subprocess.Popen([sys.executable, "-c", TX, url, "40", v]) for v in voters]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    with mindbank.open(url, settings=mindbank.Settings(embed=False)) as mb:
        assert mb.get("n").value == 160  # type: ignore[union-attr]  # no lost update
        assert sorted(mb.consensus.get("plan").acceptors) == voters  # type: ignore[union-attr]


def test_a_held_transaction_blocks_its_tenant_only(pg_admin: str) -> None:
    a, b = tenant_url(pg_admin, _tenant("ha")), tenant_url(pg_admin, _tenant("hb"))
    quick = mindbank.Settings(embed=False, busy_timeout=0.3)
    with (
        mindbank.open(a, settings=quick) as holder,
        mindbank.open(a, settings=quick) as same,
        mindbank.open(b, settings=quick) as other,
    ):
        with holder.transaction():
            holder.store("held", 1)
            start = time.monotonic()
            with pytest.raises(DatabaseLockedError, match="locked"), same.transaction():
                same.store("waits", 1)
            assert 0.25 < time.monotonic() - start < 5
            with other.transaction():  # another tenant is not held up
                other.store("free", 1)
            assert same.get("held") is None  # readers are not held up (nor see uncommitted)
            assert same.shared.set("flag", 1).version == 1  # nor a single statement
        assert same.get("waits") is None and same.get("held") is not None
        with same.transaction():
            same.store("now", 1)


def test_threads_share_one_handle_through_the_pool(pg_admin: str) -> None:
    import threading

    url = tenant_url(pg_admin, _tenant("pool"))
    settings = mindbank.Settings(embed=False, pool_size=3)
    with mindbank.open(url, settings=settings) as mb:
        inside, release = threading.Event(), threading.Event()

        def hold() -> None:
            with mb.transaction():
                mb.store("x", "uncommitted")
                inside.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert inside.wait(10)
        # another thread is not inside the first one's transaction (its own connection)
        assert mb.get("x") is None and mb.count() == 0
        release.set()
        holder.join()
        assert mb.get("x") is not None

        def bump(n: int) -> None:
            for _ in range(n):
                with mb.transaction():
                    e = mb.get("n")
                    mb.store("n", (e.value if e else 0) + 1)

        threads = [threading.Thread(target=bump, args=(25,)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert mb.get("n").value == 150  # type: ignore[union-attr]
        stats = mb._db.pool_stats  # type: ignore[attr-defined]
        assert stats["pool_max"] == 3 and stats["pool_size"] <= 3


def test_pruning_the_change_log_on_postgres_is_a_gap(pg_admin: str, clock: FakeClock) -> None:
    from mindbank import ChangeLogGapError

    url = tenant_url(pg_admin, _tenant("g"))
    settings = mindbank.Settings(embed=False, change_log_days=0)
    with mindbank.open(url, clock=clock, settings=settings) as mb:
        for i in range(5):
            mb.store(f"k{i}", "v")
        head = mb.change_head()
        clock.advance(30 * 86400)  # ages are the server's: the client's clock changes nothing
        assert mb.cleanup().changes == 4  # keep none (but never the newest)
        with pytest.raises(ChangeLogGapError, match="pruned"):
            mb.changes(since=0)
        assert [c.seq for c in mb.changes(since=head - 1)] == [head]
        mb.store("late", "v")
        assert [c.key for c in mb.changes(since=head)] == ["late"]


@pytest.mark.slow
def test_ten_http_clients_of_one_server_lose_nothing_on_postgres(pg_admin: str) -> None:
    """One MCP server (its tools run on threads: the pool's connections) and ten clients."""
    from mcp import Client

    from .test_mcp import _call, http_server

    url = tenant_url(pg_admin, _tenant("http"))
    proc, endpoint = http_server(url)
    try:

        async def agent(n: int) -> None:
            async with Client(endpoint) as client:
                for i in range(20):
                    await _call(client, "memory_store", {
                        "key": f"a{n}-{i}", "value": f"agent {n} fact {i}", "namespace": f"agent{n}"})  # fmt: skip
                    if i % 5 == 0:
                        await _call(client, "memory_search", {"query": f"agent {n} fact"})
                        await _call(client, "pattern_store", {"key": f"p{n}-{i}", "value": "x"})
                found = await _call(client, "memory_list", {"namespace": f"agent{n}", "limit": 100})
                assert found["total"] == 20

        async def all_agents() -> None:
            await asyncio.gather(*(agent(n) for n in range(10)))

        asyncio.run(all_agents())
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    with mindbank.open(url, settings=mindbank.Settings(embed=False)) as mb:
        assert mb.count() == 200 and len(mb.bank.list(limit=100)) == 40


def test_a_tenant_cannot_migrate_and_is_told_who_can(pg_admin: str) -> None:
    from mindbank import SchemaError

    url = tenant_url(pg_admin, _tenant("mig"))
    admin = psycopg_connect(pg_admin)
    try:
        admin.execute("DELETE FROM schema_migrations WHERE version = 7")  # as if 7 were new
        with pytest.raises(SchemaError, match=r"needs migrations \[7\].*db migrate"):
            mindbank.open(url)
        r = run_mindbank("memory", "list", "--db", url)
        assert r.returncode == 1 and "needs migrations [7]" in r.stderr
    finally:
        admin.close()
    from mindbank.store.postgres import PG_MIGRATIONS, _sha

    with psycopg_connect(pg_admin) as conn:  # the record back, as migrate() wrote it
        v, name, statements = PG_MIGRATIONS[6]
        conn.execute(
            "INSERT INTO schema_migrations VALUES (%s, %s, %s, 0)", (v, name, _sha(statements))
        )
    with mindbank.open(url) as mb:
        assert mb.check().ok


def test_the_witness_chain_on_postgres(pg_admin: str, tmp_path: Path) -> None:
    import psycopg

    from mindbank.store.pg_witness import chain_digest

    alice, bob = _tenant("wa"), _tenant("wb")
    ua, ub = tenant_url(pg_admin, alice), tenant_url(pg_admin, bob)
    with mindbank.open(ua, embedder="hashing") as a, mindbank.open(ub, embedder="hashing") as b:
        a.store_many({"key": f"k{i}", "value": f"note {i}"} for i in range(10))
        a.store("k1", "changed")
        a.delete("k2")
        a.bank.store("lesson", "witnessed too")
        a.neural.train(_config(epochs=2), _records(60), target="outcome")
        b.store("only-b", "x")
        report = a.verify()
        assert report.ok and report.records == 1 + 10 + 1 + 1 + 1 + 1, report
        seq, digest = a.witness_head()
        assert seq == report.head_seq and digest == report.head
        assert b.verify().ok and b.verify().records == 2  # a chain of its own
        genesis = raw_rows(ua, "SELECT chain FROM witness_chain WHERE seq = 0")[0][0]
        assert chain_digest(0, "genesis", "", "", "", "") == genesis  # Python = the server
    with psycopg.connect(ua, autocommit=True) as conn:  # a tenant cannot rewrite its history
        for sql in ("UPDATE witness_chain SET digest = 'x'", "DELETE FROM witness_chain"):
            with pytest.raises(psycopg.Error):
                conn.execute(sql)
    admin = psycopg_connect(pg_admin)
    try:  # the tables' owner, around the triggers
        admin.execute("SET session_replication_role = replica")
        admin.execute("UPDATE memory_store SET value = 'evil' WHERE key = 'k3'")
        admin.execute("DELETE FROM memory_store WHERE key = 'k4'")
        admin.execute(f"INSERT INTO memory_store (key, value, created_at, updated_at, tenant) "
                      f"VALUES ('planted', 'x', 0, 0, '{alice}')")  # fmt: skip
        admin.execute("SET session_replication_role = origin")
        with mindbank.open(ua, embedder="hashing") as a:
            r = a.verify()
            assert not r.ok and r.broken_at is None
            assert r.changed == (("memory_store", "default\x1fk3"),)
            assert r.deleted == (("memory_store", "default\x1fk4"),)
            assert r.inserted == (("memory_store", "default\x1fplanted"),)
        admin.execute(f"UPDATE witness_chain SET digest = 'x' WHERE tenant = '{alice}' AND seq = 5")
        with mindbank.open(ua, embedder="hashing") as a:
            assert a.verify().broken_at == 5
        r2 = run_mindbank("db", "verify", "--db", ub)
        assert r2.returncode == 0, r2.stderr
    finally:
        admin.close()


def test_existing_rows_are_witnessed_when_the_chain_arrives(pg_admin: str) -> None:
    url = tenant_url(pg_admin, _tenant("adopt"))
    with mindbank.open(url, embedder="hashing") as mb:
        mb.store_many({"key": f"k{i}", "value": i} for i in range(5))
        mb.bank.store("lesson", "x")
    admin = psycopg_connect(pg_admin)
    try:  # back to before migration 8, with rows
        admin.execute("DROP TABLE witness_chain")
        admin.execute("DROP FUNCTION mindbank_witness_append, mindbank_chain CASCADE")
        for table in ("memory_store", "patterns", "neural_models"):
            admin.execute(f"DROP FUNCTION mindbank_witness_{table} CASCADE")
        admin.execute("DELETE FROM schema_migrations WHERE version = 8")
    finally:
        admin.close()
    mindbank.open(pg_admin).close()  # the admin migrates
    with mindbank.open(url, embedder="hashing") as mb:
        report = mb.verify()
        assert report.ok and report.records == 1 + 6
        mb.store("k0", "after")
        assert mb.verify().ok and mb.verify().records == 8


def test_an_agent_token_of_its_own_is_the_tenant_and_is_revoked_alone(pg_admin: str) -> None:
    from mindbank import StoreError

    alice, bob = _tenant("ta"), _tenant("tb")
    ua, ub = tenant_url(pg_admin, alice), tenant_url(pg_admin, bob)
    r = run_mindbank("db", "tenant", "token", alice, "bot", "--json", "--db", pg_admin)
    assert r.returncode == 0, r.stderr
    bot_url = json.loads(r.stdout)["url"]
    quiet = mindbank.Settings(embed=False)
    with mindbank.open(ub, settings=quiet) as b:
        b.store("bobs", "secret")
    with mindbank.open(bot_url, settings=quiet) as bot, mindbank.open(ua, settings=quiet) as a:
        bot.store("from-bot", "hello")
        assert a.get("from-bot").value == "hello"  # type: ignore[union-attr]  # one memory
        assert bot.get("bobs") is None and bot.namespaces() == {"default": 1}
        assert [c.actor for c in a.changes()] == [f"{alice}__bot"]  # who wrote it
        assert bot.verify().ok and bot.check().ok
        r = run_mindbank("db", "tenant", "revoke", alice, "bot", "--db", pg_admin)
        assert r.returncode == 0 and "1 open sessions ended" in r.stdout, r.stdout + r.stderr
        with pytest.raises(StoreError):
            bot.store("after", "revoked")
        assert a.get("from-bot") is not None  # its writes stay
    with pytest.raises(StoreError, match="cannot connect"):
        mindbank.open(bot_url)
    from mindbank.store.postgres import create_token

    with pytest.raises(ValidationError, match="agent names"):
        create_token(pg_admin, alice, "Bad-Name")
    r = run_mindbank("db", "tenant", "token", alice, "bot2", "--json", "--db", pg_admin)
    assert drop_tenant(pg_admin, alice) == 1
    with psycopg_connect(pg_admin) as conn:  # the tenant's agents went with it
        assert not conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname LIKE %s", (f"{alice}%",)).fetchall()  # fmt: skip


def test_threads_share_a_handle_for_every_kind_of_call(pg_admin: str) -> None:
    """Six threads at once on one PostgreSQL handle (each its own connection): stores,
    retrieves with their access counts, searches, ReasoningBank writes and queries, and
    transactions; no call fails, and everything each wrote is there."""
    url = tenant_url(pg_admin, _tenant("mt"))
    with mindbank.open(url, settings=mindbank.Settings(pool_size=4)) as mb:

        def work(n: int) -> None:
            for i in range(15):
                mb.store(f"t{n}-{i}", f"note {i} from thread {n} about deploys")
                assert mb.retrieve(f"t{n}-{i}") is not None
                if i % 3 == 0:
                    mb.search("deploys", k=3)
                    mb.bank.store(f"b{n}-{i}", f"lesson {i} of thread {n}")
                    mb.bank.query("lesson", k=2)
                if i % 5 == 0:
                    with mb.transaction():
                        mb.store(f"p{n}-{i}-a", 1)
                        mb.store(f"p{n}-{i}-b", 2)

        assert run_threads(work, 6) == []
        assert mb.count() == 6 * 15 + 6 * 3 * 2
        assert len(mb.bank.list(limit=None)) == 6 * 5
    with mindbank.open(url) as mb:  # the access counts were written at close
        counts = [mb.get(f"t{n}-{i}").access_count for n in range(6) for i in range(15)]  # type: ignore[union-attr]
        assert counts == [1] * 90


# What one backend keeps and the other does not need, and why. Anything else that differs
# fails test_schemas_agree: a column on one side only would be dropped by `db copy`.
_ONLY_SQLITE_TABLES = {
    "embeddings_log": "the in-process vector index's change log (the server searches pgvector)",
    "meta": "the vector index's bookkeeping (embedder, completeness) for the in-process index",
    "sync_meta": "a replica's own state (replicas are SQLite)",
    "sync_pending": "a replica's entries waiting to be merged (the server merges as it adds)",
    "zstd_dicts": "dictionaries of compressed cold entries (compression is SQLite's)",
}
_ONLY_SQLITE_COLUMNS = {
    ("embeddings", "quant"): "int8-quantized vectors (the copy reads them as float32)",
    ("sync_ops", "pushed"): "a replica's delivery mark (the server keeps what it received)",
}
_ONLY_PG_COLUMNS = {
    ("memory_store", "fts"): "the full-text tsvector (SQLite's FTS5 is a table of its own)",
    ("patterns", "rowid"): "SQLite's implicit rowid, made explicit",
}


def test_schemas_agree(pg_admin: str, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    mindbank.open(db).close()
    lite = {
        t: {c[1] for c in raw_rows(db, f'PRAGMA table_info("{t}")')}
        for (t,) in raw_rows(
            db,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'memory_fts%'",
        )
    }
    pg: dict[str, set[str]] = {}
    for t, c in raw_rows(
        pg_admin,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public'",
    ):
        pg.setdefault(t, set()).add(c)
    assert set(lite) - set(pg) == set(_ONLY_SQLITE_TABLES)
    assert set(pg) - set(lite) == set()
    for t in sorted(set(lite) & set(pg)):
        only_lite = {(t, c) for c in lite[t] - pg[t]}
        only_pg = {(t, c) for c in pg[t] - lite[t] - {"tenant"}}
        assert only_lite <= set(_ONLY_SQLITE_COLUMNS), only_lite
        assert only_pg <= set(_ONLY_PG_COLUMNS), only_pg
    assert {t for t, cols in pg.items() if "tenant" not in cols} == {"schema_migrations"}


def test_every_table_but_the_migrations_belongs_to_a_tenant(pg_admin: str) -> None:
    tables = raw_rows(
        pg_admin,
        "SELECT table_name FROM information_schema.tables t WHERE table_schema = 'public' "
        "AND NOT EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = "
        "'public' AND c.table_name = t.table_name AND c.column_name = 'tenant')",
    )
    assert {t for (t,) in tables} == {"schema_migrations"}


def test_a_tenant_sees_and_moves_only_its_own_counters(pg_admin: str) -> None:
    """Issue 20, 7: rewinding the shared 'schemas' counter made another tenant's process
    keep a stale schema. Each tenant's counters are its own now."""
    import psycopg

    alice, bob = tenant_url(pg_admin, _tenant("ca")), tenant_url(pg_admin, _tenant("cb"))
    schema = {"type": "object", "required": ["title"]}
    with mindbank.open(alice) as a:
        a.set_schema("notes", schema)
        a.store("n1", {"title": "ok"}, namespace="notes")
    with psycopg.connect(bob, autocommit=True) as conn:  # bob, behind mindbank's back
        assert conn.execute("UPDATE counters SET value = 0").rowcount == 0  # none of his
        assert conn.execute("SELECT count(*) FROM counters").fetchone()[0] == 0
    with mindbank.open(alice) as a, pytest.raises(ValidationError):
        a.store("n2", {"no": "title"}, namespace="notes")  # alice's schema still holds
    with mindbank.open(bob) as b:
        b.set_schema("notes", {"type": "string"})
        names = {r[0] for r in raw_rows(bob, "SELECT name FROM counters")}
        assert "schemas" in names and names <= {"schemas", "lock", "witness", "channel"}


def test_one_tenant_can_neither_block_nor_overhear_another(pg_admin: str) -> None:
    """Issue 20, 6 and 8: the write and witness locks were advisory locks any role could take
    for another tenant (even through mindbank's read-only query), and every tenant heard the
    names of the others that wrote. Tried as bob's own role and as bob's agent token."""
    import psycopg

    from mindbank import ReadOnlyQueryError

    names = _tenant("la"), _tenant("lb")
    alice, bob = (tenant_url(pg_admin, n) for n in names)
    r = run_mindbank("db", "tenant", "token", names[1], "scout", "--json", "--db", pg_admin)
    agent = json.loads(r.stdout)["url"]
    with mindbank.open(alice) as a:
        a.store("seed", 1)  # alice's lock, witness and channel rows exist
    quick = mindbank.Settings(busy_timeout=2.0)
    for who in (bob, agent):
        with psycopg.connect(who, autocommit=True) as mallory:
            # every advisory lock the old code used, on every key it could mean
            for key in (0x4D424E4B, 0x4D425743):
                mallory.execute(f"SELECT pg_advisory_lock({key}, hashtext('{names[0]}'))")
            mallory.execute("BEGIN")
            locked = mallory.execute("SELECT * FROM counters FOR UPDATE").fetchall()
            assert all(r[-1] == names[1] for r in locked)  # only bob's own rows, if any
            assert (
                mallory.execute(
                    "SELECT count(*) FROM counters WHERE tenant = %s", (names[0],)
                ).fetchone()[0]
                == 0
            )  # alice's channel number cannot be read
            mallory.execute("LISTEN mindbank_changes")
            with mindbank.open(alice, settings=quick) as a:  # alice writes at once
                a.store("k", "not blocked")
                with a._db.transaction():
                    a.store("k2", "nor in a transaction")
            mallory.execute("ROLLBACK")
            assert list(mallory.notifies(timeout=0.5, stop_after=1)) == []
            mallory.execute("SELECT pg_advisory_unlock_all()")
        with mindbank.open(who) as b, pytest.raises(ReadOnlyQueryError):
            b.query(f"SELECT pg_advisory_lock(1296193347, hashtext('{names[0]}'))")
    # alice hears her own changes on her own channel
    with mindbank.open(alice) as a, psycopg.connect(alice, autocommit=True) as listener:
        a._db.listen(listener)
        a.store("k3", "heard")
        assert len(list(listener.notifies(timeout=5, stop_after=1))) == 1


def test_a_tenant_reaches_no_row_of_another_in_any_table(pg_admin: str, tmp_path: Path) -> None:
    """Issue 20: every table a tenant can write is under forced row-level security, and a
    second tenant (its role, and an agent token of it) reads, changes and deletes nothing of
    the first in any of them, through raw SQL and through sync."""
    import psycopg

    names = _tenant("ra"), _tenant("rb")
    alice, bob = (tenant_url(pg_admin, n) for n in names)
    r = run_mindbank("db", "tenant", "token", names[1], "spy", "--json", "--db", pg_admin)
    agent = json.loads(r.stdout)["url"]
    with mindbank.open(alice, embedder="hashing") as a:
        a.store("secret", "alice's", tags=["t"])
        a.bank.store("lesson", "alice's lesson")
        a.set_schema("notes", {"type": "string"})
    replica = mindbank.open(tmp_path / "alice.db", embedder="hashing")
    replica.store("offline", "alice's too")
    assert replica.sync(alice).error is None
    replica.close()
    tables = [t for (t,) in raw_rows(pg_admin, "SELECT relname FROM pg_class WHERE relkind = 'r' "
              "AND relnamespace = 'public'::regnamespace AND relname <> 'schema_migrations'")]  # fmt: skip
    unguarded = raw_rows(pg_admin, "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
                         "AND c.relnamespace = 'public'::regnamespace AND c.relname <> "
                         "'schema_migrations' AND NOT (c.relrowsecurity AND c.relforcerowsecurity "
                         "AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))")  # fmt: skip
    assert unguarded == [] and len(tables) > 30
    owned: dict[str, int] = {}
    for t in tables:
        owned[t] = raw_rows(pg_admin, f"SELECT count(*) FROM {t} WHERE tenant = '{names[0]}'")[0][0]
    assert owned["memory_store"] >= 2 and owned["sync_ops"] >= 2 and owned["witness_chain"] > 0
    for who in (bob, agent):
        with psycopg.connect(who, autocommit=True) as mallory:
            for t in tables:
                seen = mallory.execute(f"SELECT count(*) FROM {t} WHERE tenant = %s", (names[0],))
                assert seen.fetchone()[0] == 0, t
                for sql in (f"UPDATE {t} SET tenant = tenant WHERE tenant = %s",
                            f"DELETE FROM {t} WHERE tenant = %s"):  # fmt: skip
                    # append-only tables: not even allowed to try
                    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                        assert mallory.execute(sql, (names[0],)).rowcount == 0, t
        other = mindbank.open(tmp_path / "bob.db", embedder="hashing")
        assert other.sync(who).error is None and other.list() == []  # sync: nothing of alice
        other.close()
        (tmp_path / "bob.db").unlink()
    for t in tables:  # everything of alice's is still there
        assert raw_rows(pg_admin, f"SELECT count(*) FROM {t} WHERE tenant = '{names[0]}'")[0][
            0] == owned[t], t  # fmt: skip


def test_a_read_only_query_leaves_no_session_state(pg_admin: str) -> None:
    """Issue 20, 6: what a query sets on its pooled connection must not outlive it."""
    url = tenant_url(pg_admin, _tenant("st"))
    with mindbank.open(url, settings=mindbank.Settings(pool_size=1)) as mb:
        mb.query("SELECT set_config('mindbank.actor', 'mallory', false)")
        mb.query("SELECT set_config('statement_timeout', '1', false)")
        mb.store("k", "v")
        actors = {r[0] for r in raw_rows(url, "SELECT actor FROM change_log")}
        assert "mallory" not in actors and len(mb.list()) == 1

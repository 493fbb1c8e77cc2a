"""Shared fixtures: real SQLite files under tmp_path, a controllable clock, a CLI runner, a real
PostgreSQL server and ``backend_mb``: the same API on each backend."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis.stateful import RuleBasedStateMachine

import mindbank

SRC = Path(__file__).resolve().parents[1] / "src"

# Tests use the explicit hashing embedder unless they ask for the real model (it loads in ~1 s
# and embeds ~150 sentences per CPU-second): see the `minilm` fixture in test_search.py.
os.environ["MINDBANK_EMBEDDER"] = "hashing"


class FakeClock:
    """A clock the test moves by hand, so TTLs and windows are exact without sleeping."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mb(db_path: Path, clock: FakeClock) -> Iterator[mindbank.MindBank]:
    with mindbank.open(db_path, clock=clock) as bank:
        yield bank


def run_mindbank(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `python -m mindbank` in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MINDBANK_")}
    full_env["MINDBANK_EMBEDDER"] = "hashing"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mindbank", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


def run_threads(target: Callable[[int], None], n: int, timeout: float = 300.0) -> list[str]:
    """Run ``target(0)`` ... ``target(n - 1)`` on ``n`` threads at once; the exceptions they
    raised, as text (empty: none)."""
    import threading

    errors: list[str] = []

    def run(i: int) -> None:
        try:
            target(i)
        except Exception as exc:  # collected for the caller's assertion
            errors.append(f"thread {i}: {exc!r}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return errors


# -- PostgreSQL: a real server for the session (pgserver: PostgreSQL 16 + pgvector) -----

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server for the session; its superuser URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        try:
            import pgserver
        except ImportError:
            pytest.skip(
                f"pgserver has no wheel for Python {sys.version_info[0]}.{sys.version_info[1]}"
            )

        srv = pgserver.get_server(tempfile.mkdtemp(prefix="mindbank-pg-"), cleanup_mode="stop")
    yield srv.get_uri()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        srv.cleanup()


@pytest.fixture
def pg_admin(pg_server: str) -> Iterator[str]:
    """A fresh, migrated database; its admin URL."""
    import psycopg

    name = f"mb_{os.getpid()}_{next(_names)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_server.replace("/postgres?", f"/{name}?")
    mindbank.open(url).close()  # migrate
    yield url
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def tenant_url(admin: str, name: str) -> str:
    """Create a tenant; the URL its agents open."""
    from mindbank.store.postgres import create_tenant

    token = create_tenant(admin, name)
    return admin.replace("postgres:@", f"{name}:{token}@")


def _tenant(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


class Abort(Exception):
    """Raised inside a transaction to roll it back."""


class DatabaseMachine(RuleBasedStateMachine):
    """A hypothesis state machine with a new memory per example: a SQLite file, or a new
    PostgreSQL tenant when ``new_tenant`` is set (see :func:`run_machine_on_postgres`).
    Handles opened with :meth:`open` are closed at the end."""

    new_tenant: Callable[[], str] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        maker = type(self).new_tenant
        self.path: Path | str = Path(self.tmp.name) / "m.db" if maker is None else maker()
        self.clock = FakeClock()
        self.handles: list[mindbank.MindBank] = []

    def open(self, **kwargs: Any) -> mindbank.MindBank:
        handle = mindbank.open(self.path, clock=self.clock, **kwargs)
        self.handles.append(handle)
        return handle

    def teardown(self) -> None:
        for handle in self.handles:
            handle.close()
        self.tmp.cleanup()


def run_machine_on_postgres(
    machine: type[Any], admin: str, prefix: str, *, examples: int, steps: int
) -> None:
    """Run a hypothesis state machine on PostgreSQL: its ``new_tenant`` gives each example a
    new tenant (the machines open a new SQLite file when it is None)."""
    from hypothesis import settings
    from hypothesis.stateful import run_state_machine_as_test

    def new_tenant() -> str:
        return tenant_url(admin, _tenant(prefix))

    on_postgres = type(f"{machine.__name__}OnPostgres", (machine,), {
        "new_tenant": staticmethod(new_tenant)})  # fmt: skip
    run_state_machine_as_test(
        on_postgres,
        settings=settings(max_examples=examples, stateful_step_count=steps, deadline=None),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def backend_mb(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[mindbank.MindBank]:
    """The same API on each backend (on PostgreSQL, opened as a tenant)."""
    settings = mindbank.Settings(embed=False)
    if request.param == "sqlite":
        target: Any = tmp_path / "m.db"
    else:
        target = tenant_url(request.getfixturevalue("pg_admin"), _tenant("t"))
    with mindbank.open(target, clock=clock, settings=settings) as mb:
        yield mb


@pytest.fixture(params=["sqlite", "postgres"])
def both_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path | str:
    """A SQLite file, or a fresh PostgreSQL database opened as a tenant (its URL): a module
    runs its tests on both backends with ``def db_path(both_db): return both_db``. With
    PostgreSQL, the local files (the pipeline's) go under ``MINDBANK_HOME`` in tmp_path."""
    if request.param == "sqlite":
        return tmp_path / "memory.db"
    monkeypatch.setenv("MINDBANK_HOME", str(tmp_path / "home"))
    return tenant_url(request.getfixturevalue("pg_admin"), _tenant("t"))


def raw_rows(db: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read behind mindbank's back (sqlite3, or psycopg as the tenant)."""
    if isinstance(db, str) and db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            return [tuple(r) for r in conn.execute(sql)]
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        return [tuple(r) for r in conn.execute(sql)]


@pytest.fixture
def listener() -> Any:
    """A real HTTP server on loopback that counts the requests it gets (and answers each
    with a JSON schema whose text says where it came from); its URL and the paths asked."""
    import http.server
    import json
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = json.dumps({"type": "string", "description": "SECRET FROM THE NETWORK"})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()

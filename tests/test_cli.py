"""The command line: every command, --json, stdin values, errors as one line and exit 1.

Most tests run the CLI in-process (click's CliRunner) against a real database file and then
reopen that file; a few run the real `python -m mindbank` in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import mindbank
from mindbank.cli.main import cli
from mindbank.store.schema import MIGRATIONS

from .conftest import run_mindbank

LATEST = MIGRATIONS[-1].version


@pytest.fixture
def invoke(db_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, [*args], input=input, env={"MINDBANK_DB": str(db_path)})

    return run


@pytest.fixture
def invoke_any(both_db: Path | str):  # type: ignore[no-untyped-def]
    """The CLI on SQLite and on PostgreSQL (``MINDBANK_DB`` a URL)."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, [*args], input=input, env={"MINDBANK_DB": str(both_db)})

    return run


def test_store_retrieve_list_delete(invoke_any, both_db: Path | str) -> None:  # type: ignore[no-untyped-def]
    invoke, db_path = invoke_any, both_db
    r = invoke("memory", "store", "api-design", "Use REST", "-n", "architecture", "-t", "api",
               "-m", '{"by": "architect"}', "--ttl", "1h")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "stored architecture/api-design"

    r = invoke("memory", "retrieve", "api-design", "-n", "architecture")
    assert r.exit_code == 0 and r.output == "Use REST\n"

    r = invoke("memory", "retrieve", "api-design", "-n", "architecture", "--json")
    data = json.loads(r.output)
    assert data["tags"] == ["api"] and data["metadata"] == {"by": "architect"}
    assert data["expires_at"] is not None and data["access_count"] == 2

    invoke("memory", "store", "cfg", '{"retries": 3}', "--type", "json")
    r = invoke("memory", "retrieve", "cfg")
    assert json.loads(r.output) == {"retries": 3}

    r = invoke("memory", "retrieve", "cfg", "gone", "api-design", "-n", "architecture")
    assert r.exit_code == 1 and "no entry 'cfg', 'gone' in namespace 'architecture'" in r.stderr
    assert r.stdout == "api-design: Use REST\n"
    invoke("memory", "store", "other", "x")
    r = invoke("memory", "retrieve", "cfg", "other", "--json")
    assert r.exit_code == 0
    assert [e["key"] for e in json.loads(r.output)] == ["cfg", "other"]
    assert json.loads(r.output)[0]["value"] == {"retries": 3}
    invoke("memory", "delete", "other")

    r = invoke("memory", "list", "-p", "api-*", "--json")
    listed = json.loads(r.output)
    assert listed["total"] == 1 and listed["entries"][0]["key"] == "api-design"
    r = invoke("memory", "list")
    assert "api-design" in r.output and "cfg" in r.output

    r = invoke("memory", "delete", "cfg")
    assert r.exit_code == 0 and "deleted default/cfg" in r.output
    r = invoke("memory", "delete", "cfg")
    assert r.exit_code == 1 and "no entry 'cfg'" in r.stderr

    with mindbank.open(db_path) as mb:
        assert [e.key for e in mb.list()] == ["api-design"]


def test_value_from_stdin(invoke_any) -> None:  # type: ignore[no-untyped-def]
    invoke = invoke_any
    r = invoke("memory", "store", "log", "-", input="line one\nline two\n")
    assert r.exit_code == 0
    assert invoke("memory", "retrieve", "log").output == "line one\nline two\n\n"


def _rows(path: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT key, value FROM memory_store").fetchall()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["memory", "store", "", "v"], "key must not be empty"),
        (["memory", "store", "k", "v", "--ttl", "-5"], "not a duration"),
        (["memory", "store", "k", "v", "--ttl", "0"], "ttl must be a positive"),
        (["memory", "store", "k", "v", "-m", "{bad json"], "--metadata is not valid JSON"),
        (["memory", "store", "k", "v", "-m", "[1]"], "--metadata must be a JSON object"),
        (["memory", "store", "k", "{x", "--type", "json"], "VALUE is not valid JSON"),
        (["memory", "retrieve", "missing"], "no entry 'missing'"),
        (["memory", "clear", "-n", "nope", "--yes"], "no namespace 'nope'"),
        (["memory", "query", "DELETE FROM memory_store"], "only reads"),
        (["memory", "analytics", "--window", "soon"], "not a duration"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    invoke, db_path: Path, args: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    invoke("memory", "store", "keep", "me")
    before = _rows(db_path)
    r = invoke(*args)
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith("error: ") and message in r.stderr
    assert r.stderr.count("\n") == 1
    after = _rows(db_path)
    assert after == before


def test_clear_export_import_cleanup(invoke_any, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    invoke = invoke_any
    for i in range(3):
        invoke("memory", "store", f"k{i}", f"v{i}", "-n", "tmp")
    invoke("memory", "store", "keep", "x", "-n", "main")
    out = tmp_path / "out.jsonl"
    r = invoke("memory", "export", str(out))
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == 4
    r = invoke("memory", "export", "-n", "main")
    assert json.loads(r.stdout)["key"] == "keep"
    r = invoke("memory", "export", "")
    assert r.exit_code == 1 and "export needs a file path" in r.stderr

    r = invoke("memory", "clear", "-n", "tmp", "--yes", "--json")
    assert json.loads(r.output) == {"namespace": "tmp", "deleted": 3}
    r = invoke("memory", "import", str(out))
    assert r.exit_code == 0 and "imported 4 entries" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "a", "value": 1}\n{oops\n')
    r = invoke("memory", "import", str(bad))
    assert r.exit_code == 1 and "line 2" in r.stderr
    r = invoke("memory", "import", "-", input='{"key": "s", "value": "from stdin"}\n')
    assert r.exit_code == 0
    r = invoke("memory", "cleanup", "--json")
    assert json.loads(r.output) == {"entries": 0, "sessions": 0, "changes": 0, "total": 0}


def test_stats_analytics_query(invoke) -> None:  # type: ignore[no-untyped-def]
    invoke("memory", "store", "a", "1", "-n", "x")
    invoke("memory", "retrieve", "a", "-n", "x")
    r = invoke("memory", "stats", "--json")
    s = json.loads(r.output)
    assert s["namespaces"] == {"x": 1} and s["tables"]["memory_store"] == 1
    assert "entries per namespace" in invoke("memory", "stats").output
    r = invoke("memory", "analytics", "--json")
    assert json.loads(r.output)["hot_keys"][0]["key"] == "a"
    r = invoke("memory", "query", "SELECT key FROM memory_store WHERE namespace = ?", "-P", "x",
               "--json")  # fmt: skip
    assert json.loads(r.output) == [{"key": "a"}]


def test_backup_restore(invoke, tmp_path: Path, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    invoke("memory", "store", "a", "1")
    b = tmp_path / "b.db"
    r = invoke("memory", "backup", str(b))
    assert r.exit_code == 0 and b.exists()
    assert invoke("memory", "backup", str(b)).exit_code == 1
    assert invoke("memory", "backup", str(b), "--overwrite").exit_code == 0
    invoke("memory", "store", "a", "2")
    r = invoke("memory", "restore", str(b), "--yes")
    assert r.exit_code == 0, r.output
    assert invoke("memory", "retrieve", "a").output == "1\n"


def test_db_commands(invoke) -> None:  # type: ignore[no-untyped-def]
    r = invoke("db", "migrate", "--json")
    assert json.loads(r.output)["schema_version"] == LATEST
    r = invoke("db", "status", "--json")
    status = json.loads(r.output)
    assert status["schema_version"] == LATEST and status["migrations"][0]["applied_at"] is not None
    assert "migrations" in invoke("db", "status").output
    r = invoke("db", "check")
    assert r.exit_code == 0 and "ok" in r.output
    assert invoke("db", "optimize").exit_code == 0
    assert "bytes_after" in invoke("db", "vacuum", "--json").output


def _all_commands() -> list[list[str]]:
    import click

    out: list[list[str]] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        out.append(path)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(None):  # type: ignore[arg-type]
                walk(cmd.get_command(None, name), [*path, name])  # type: ignore[arg-type]

    walk(cli, [])
    return out


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path: list[str]) -> None:
    r = CliRunner().invoke(cli, [*path, "--help"])
    assert r.exit_code == 0
    assert "Usage:" in r.output
    no_example = {"optimize", "migrate", "cleanup", "stats", "delete", "check", "vacuum"}
    if "Commands:" not in r.output and path and path[-1] not in no_example:
        assert "Example" in r.output, f"{' '.join(path)} --help needs an example"


def test_memory_command_list_matches_the_issue() -> None:
    group = cli.get_command(None, "memory")  # type: ignore[arg-type]
    assert set(group.commands) == {  # type: ignore[attr-defined]
        "store", "retrieve", "list", "delete", "clear", "export", "import", "stats",
        "analytics", "backup", "restore", "query", "cleanup", "search", "reembed", "index",
            "feedback", "graph", "fuzzy", "tiers", "bridge", "optimize", "schema", "watch",
    }  # fmt: skip
    db = cli.get_command(None, "db")  # type: ignore[arg-type]
    assert set(db.commands) == {  # type: ignore[attr-defined]
        "migrate", "status", "check", "verify", "head", "optimize", "vacuum", "tenant", "copy",
    }  # fmt: skip


# -- the real program in a subprocess ------------------------------------------------------


def test_subprocess_round_trip_and_exit_codes(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    r = run_mindbank("memory", "store", "k", "-", "--db", db, input="from stdin")
    assert r.returncode == 0, r.stderr
    r = run_mindbank("memory", "retrieve", "k", "--db", db)
    assert r.returncode == 0 and r.stdout == "from stdin\n"
    r = run_mindbank("memory", "retrieve", "nope", "--db", db)
    assert r.returncode == 1 and r.stderr == "error: no entry 'nope' in namespace 'default'\n"
    r = run_mindbank("memory", "frobnicate", "--db", db)
    assert r.returncode == 2


def test_subprocess_finds_the_database_upward(tmp_path: Path) -> None:
    (tmp_path / ".mindbank").mkdir()
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert run_mindbank("memory", "store", "k", "v", cwd=sub).returncode == 0
    assert (tmp_path / ".mindbank" / "memory.db").exists()
    r = run_mindbank("memory", "retrieve", "k", cwd=tmp_path)
    assert r.stdout == "v\n"


def test_subprocess_refuses_a_foreign_file(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("my notes")
    r = run_mindbank("memory", "list", "--db", str(f))
    assert r.returncode == 1 and "not a mindbank database" in r.stderr
    assert f.read_text() == "my notes"


def test_demo_runs(tmp_path: Path) -> None:
    r = run_mindbank("demo")
    assert r.returncode == 0, r.stderr
    assert "identical" in r.stdout and "integrity ok" in r.stdout

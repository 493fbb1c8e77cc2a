"""The MCP server through the SDK's real client: over stdio (a subprocess) and over HTTP on
loopback; `mindbank mcp install` / `uninstall`; the tool list in docs/mcp.md."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mcp import Client
from mcp.client.stdio import StdioServerParameters

import mindbank
from mindbank.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
ENV = {"MINDBANK_EMBEDDER": "hashing", "PATH": os.environ.get("PATH", "")}


def _stdio(db: Path | str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mindbank", "mcp", "serve", "--db", str(db)], env=ENV
    )


async def _call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


EXPECTED_TOOLS = {
    "memory_store", "memory_retrieve", "memory_retrieve_many", "memory_search", "memory_list",
    "memory_delete",
    "memory_usage", "memory_stats", "memory_reindex", "db_verify",
    "pattern_store", "pattern_search", "trajectory_record", "bank_status", "bank_consolidate",
    "feedback_record", "neural_train", "neural_predict", "neural_models", "neural_patterns",
    "pipeline_run", "pipeline_status", "strategy_select",
    "memory_changes", "memory_schema", "model_update", "pattern_learn", "memory_compress",
}  # fmt: skip


def test_every_tool_over_stdio(tmp_path: Path) -> None:
    db = tmp_path / "m.db"

    async def scenario() -> None:
        async with Client(_stdio(db)) as client:
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} == EXPECTED_TOOLS
            assert all(t.description and t.input_schema for t in tools.tools)
            stored = await _call(client, "memory_store", {
                "key": "locked-db", "value": "use BEGIN IMMEDIATE and a busy timeout",
                "namespace": "lessons", "tags": ["db"], "metadata": {"by": "agent"}, "ttl": 3600,
            })  # fmt: skip
            assert stored["key"] == "locked-db" and stored["expires_at"] is not None
            await _call(client, "memory_store", {"key": "cfg", "value": {"retries": 3}})
            got = await _call(
                client, "memory_retrieve", {"key": "locked-db", "namespace": "lessons"}
            )
            assert got["found"] and got["entry"]["value"].startswith("use BEGIN")
            missing = await _call(client, "memory_retrieve", {"key": "nope"})
            assert missing == {"found": False, "entry": None}
            many = await _call(client, "memory_retrieve_many", {"keys": ["cfg", "nope", "cfg"]})
            assert [e["value"] for e in many["entries"]] == [{"retries": 3}]
            assert many["missing"] == ["nope"]
            hits = await _call(client, "memory_search", {"query": "busy timeout", "k": 3})
            assert hits["hits"][0]["entry"]["key"] == "locked-db"
            assert set(hits["hits"][0]) == {
                "rank",
                "score",
                "semantic",
                "keyword",
                "boost",
                "entry",
            }
            listed = await _call(client, "memory_list", {"namespace": "lessons"})
            assert listed["total"] == 1
            usage = await _call(
                client, "memory_usage", {"action": "store", "key": "u", "value": "via usage"}
            )
            assert usage["action"] == "store" and usage["key"] == "u"
            usage = await _call(client, "memory_usage", {"action": "search", "query": "usage"})
            assert usage["hits"][0]["entry"]["key"] == "u"
            stats = await _call(client, "memory_stats", {})
            assert stats["stats"]["namespaces"] == {"default": 2, "lessons": 1}
            assert stats["index"]["ok"] is True
            verify = await _call(client, "db_verify", {})
            assert verify["ok"] is True
            fb = await _call(client, "feedback_record", {"key": "cfg", "reward": 0.5})
            assert fb["boost"] > 0 and fb["uses"] == 1
            bad = await client.call_tool("feedback_record", {"key": "cfg", "reward": 5})
            assert bad.is_error and "reward" in bad.content[0].text
            deleted = await _call(client, "memory_delete", {"key": "u"})
            assert deleted["deleted"] is True
            # Bad arguments: a tool error naming the argument; the server keeps serving.
            bad = await client.call_tool("memory_store", {"key": "", "value": "x"})
            assert bad.is_error and "key must not be empty" in bad.content[0].text
            bad = await client.call_tool("memory_search", {"query": "x", "k": "lots"})
            assert bad.is_error and "k" in bad.content[0].text
            bad = await client.call_tool("memory_usage", {"action": "retrieve"})
            assert bad.is_error and "'key'" in bad.content[0].text
            bad = await client.call_tool("memory_store", {"key": "t", "value": "x", "ttl": -1})
            assert bad.is_error and "ttl" in bad.content[0].text
            assert (await _call(client, "db_verify", {}))["ok"] is True

    asyncio.run(scenario())
    with mindbank.open(db, embedder="hashing") as mb:  # the tools really wrote
        assert {(e.namespace, e.key) for e in mb.list()} == {
            ("lessons", "locked-db"),
            ("default", "cfg"),
        }
        entry = mb.get("locked-db", namespace="lessons")
        assert entry is not None and entry.tags == ("db",) and entry.metadata == {"by": "agent"}
        assert entry.access_count == 1


def test_bank_tools_over_stdio(both_db: Path | str) -> None:
    db = both_db

    async def scenario() -> None:
        async with Client(_stdio(db)) as client:
            stored = await _call(client, "pattern_store", {
                "key": "database-choice", "value": "PostgreSQL for ACID guarantees",
                "namespace": "architecture", "confidence": 0.92,
            })  # fmt: skip
            assert stored["confidence"] == 0.92 and stored["namespace"] == "architecture"
            rec = await _call(client, "trajectory_record", {
                "task": "Find the area of a circle", "strategy": "int-division",
                "outcome": {"exit_code": 1, "tests_passed": 1, "tests_failed": 2},
                "used": [stored["id"]],
            })  # fmt: skip
            assert rec["trajectory"]["verdict"]["source"] == "tests"
            assert rec["updated"][0]["confidence"] < 0.92
            assert rec["items"][0]["title"].startswith("Pitfall: int-division")
            found = await _call(client, "pattern_search", {
                "query": "area of a square", "k": 1, "outcome": "failure",
            })  # fmt: skip
            assert found["hits"][0]["item"]["id"] == rec["items"][0]["id"]
            status = await _call(client, "bank_status", {})
            assert status["total_trajectories"] == 1 and status["total_memories"] == 2
            report = await _call(client, "bank_consolidate", {})
            assert report["merged_count"] == 0 and report["examined"] == 2
            bad = await client.call_tool("pattern_store", {"key": "k", "value": "v",
                                                           "confidence": 3})  # fmt: skip
            assert bad.is_error and "confidence" in bad.content[0].text
            bad = await client.call_tool("trajectory_record", {"task": "t", "used": ["nope"]})
            assert bad.is_error and "no reasoning item" in bad.content[0].text

    asyncio.run(scenario())
    with mindbank.open(db, embedder="hashing") as mb:  # the tools really wrote
        assert mb.bank.status().total_trajectories == 1


def test_neural_tools_over_stdio(both_db: Path | str) -> None:
    db = both_db
    records = [{"x": float(i % 10), "kind": "a" if i % 2 else "b",
                "outcome": "ok" if i % 10 > 4 else "bad"} for i in range(200)]  # fmt: skip
    config = {
        "architecture": {"layers": [{"type": "hidden", "size": 8, "activation": "relu"},
                                    {"type": "output", "activation": "softmax"}]},
        "training": {"epochs": 30, "learning_rate": 0.02},
    }  # fmt: skip
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async def scenario() -> None:
        async with Client(_stdio(db)) as client:
            result = await client.call_tool(
                "neural_train",
                {"config": config, "data": records, "target": "outcome", "name": "m"},
                progress_callback=on_progress,
            )
            assert not result.is_error, result.content
            info = result.structured_content
            assert info is not None and info["version"] == 1
            assert info["metrics"]["validation_accuracy"] > 0.9
            pred = await _call(
                client, "neural_predict", {"name": "m", "input": {"x": 9.0, "kind": "a"}}
            )
            assert pred["prediction"] == "ok" and pred["confidence"] > 0.5
            batch = await _call(client, "neural_predict", {"name": "m", "input": records[:3]})
            assert len(batch["predictions"]) == 3
            learned = await _call(client, "neural_patterns", {
                "action": "learn", "operation": "review the auth code", "pattern": "critical",
                "outcome": "success"})  # fmt: skip
            assert learned == {"learned_examples": 1}
            analysis = await _call(
                client,
                "neural_patterns",
                {"action": "analyze", "operation": "review the auth code"},
            )
            assert analysis["pattern"] == "critical" and analysis["learned_examples"] == 1
            bad = await client.call_tool("neural_patterns", {"action": "learn", "operation": "x"})
            assert bad.is_error and "'pattern'" in bad.content[0].text
            models = await _call(client, "neural_models", {})
            assert models["versions"][0]["name"] == "m" and len(models["catalog"]) == 27
            bad = await client.call_tool(
                "neural_train", {"config": {}, "data": records, "target": "outcome", "name": "x"}
            )
            assert bad.is_error and "architecture" in bad.content[0].text

    asyncio.run(scenario())
    assert seen == [float(i) for i in range(1, len(seen) + 1)] and len(seen) >= 5


def test_pipeline_tools_over_stdio(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "t1", "prompt": "half", "solution": "def h(x):\n    return x / 2\n",
                                 "tests": ["assert h(3) == 1.5"]}) + "\n")  # fmt: skip
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async def scenario() -> None:
        async with Client(_stdio(db)) as client:
            result = await client.call_tool(
                "pipeline_run", {"tasks": str(tasks), "strategies": ["balanced", "conservative"]},
                progress_callback=on_progress,
            )  # fmt: skip
            assert not result.is_error, result.content
            out = result.structured_content
            assert out is not None and {r["status"] for r in out["runs"]} == {"passed"}
            status = await _call(client, "pipeline_status", {})
            assert {p["strategy"] for p in status["profiles"]} == {"balanced", "conservative"}
            sel = await _call(client, "strategy_select", {"priorities": "production"})
            assert sel["strategy"] in ("balanced", "conservative") and sel["reason"]
            bad = await client.call_tool(
                "pipeline_run", {"tasks": str(tasks), "strategies": ["nope"]}
            )
            assert bad.is_error and "unknown strategy" in bad.content[0].text

    asyncio.run(scenario())
    assert seen == [1.0, 2.0]


def test_reindex_reports_progress(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with mindbank.open(db, embedder="hashing", settings=mindbank.Settings(embed=False)) as mb:
        mb.store_many({"key": f"k{i}", "value": f"text {i}"} for i in range(600))
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async def scenario() -> dict[str, Any]:
        async with Client(_stdio(db)) as client:
            result = await client.call_tool("memory_reindex", {}, progress_callback=on_progress)
            assert not result.is_error, result.content
            assert result.structured_content is not None
            return result.structured_content

    out = asyncio.run(scenario())
    assert out["embedded"] == 600 and out["index"]["ok"] is True
    assert seen and seen[-1] == (600, 600)
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)


def test_stdout_carries_only_protocol(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mindbank", "mcp", "serve", "--db", str(tmp_path / "m.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **ENV},
    )  # fmt: skip
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}}  # fmt: skip
    out, _ = proc.communicate(json.dumps(init) + "\n", timeout=60)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_server(db: Path | str) -> tuple[subprocess.Popen[bytes], str]:
    """``mindbank mcp serve --http`` on a free port, once it accepts connections; its URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mindbank", "mcp", "serve", "--http", "--port", str(port),
         "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **ENV},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}/mcp"


@pytest.mark.slow
def test_ten_http_clients_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    proc, url = http_server(db)
    try:

        async def agent(n: int) -> None:
            async with Client(url) as client:
                for i in range(20):
                    await _call(client, "memory_store", {
                        "key": f"a{n}-{i}", "value": f"agent {n} fact {i}", "namespace": f"agent{n}"})  # fmt: skip
                    if i % 5 == 0:
                        await _call(client, "memory_search", {"query": f"agent {n} fact"})
                found = await _call(client, "memory_list", {"namespace": f"agent{n}", "limit": 100})
                assert found["total"] == 20

        async def all_agents() -> None:
            await asyncio.gather(*(agent(n) for n in range(10)))

        async def every_kind_of_tool() -> None:  # the other capabilities, over HTTP too
            async with Client(url) as client:
                tools = await client.list_tools()
                assert {t.name for t in tools.tools} == EXPECTED_TOOLS
                await _call(client, "pattern_store", {"key": "k", "value": "a lesson"})
                assert (await _call(client, "bank_status", {}))["total_memories"] == 1
                await _call(client, "feedback_record", {"key": "a0-0", "reward": 1.0,
                                                        "namespace": "agent0"})  # fmt: skip
                models = await _call(client, "neural_models", {})
                assert models["versions"] == [] and len(models["catalog"]) == 27
                assert (await _call(client, "db_verify", {}))["ok"] is True

        asyncio.run(all_agents())
        asyncio.run(every_kind_of_tool())
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    with mindbank.open(db, embedder="hashing") as mb:
        assert mb.count() == 200
        assert mb.check().ok


def test_install_merges_and_uninstall_removes(tmp_path: Path) -> None:
    config = tmp_path / ".mcp.json"
    config.write_text(json.dumps({"mcpServers": {"other": {"command": "other-server"}}}))
    runner = CliRunner()
    r = runner.invoke(
        cli, ["mcp", "install", "--project", str(tmp_path), "--db", str(tmp_path / "m.db")]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(config.read_text())
    assert data["mcpServers"]["other"] == {"command": "other-server"}
    entry = data["mcpServers"]["mindbank"]
    assert entry["args"] == ["-m", "mindbank", "mcp", "serve"]
    assert entry["env"]["MINDBANK_DB"] == str((tmp_path / "m.db").resolve())
    assert "updated" in runner.invoke(cli, ["mcp", "install", "--project", str(tmp_path)]).output
    r = runner.invoke(cli, ["mcp", "uninstall", "--project", str(tmp_path)])
    assert r.exit_code == 0
    assert json.loads(config.read_text()) == {"mcpServers": {"other": {"command": "other-server"}}}
    assert runner.invoke(cli, ["mcp", "uninstall", "--project", str(tmp_path)]).exit_code == 1
    config.write_text("{broken")
    r = runner.invoke(cli, ["mcp", "install", "--project", str(tmp_path)])
    assert r.exit_code == 1 and "left untouched" in r.stderr
    assert config.read_text() == "{broken"


def test_the_installed_command_starts_a_server(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["mcp", "install", "--project", str(tmp_path)])
    entry = json.loads((tmp_path / ".mcp.json").read_text())["mcpServers"]["mindbank"]
    params = StdioServerParameters(
        command=entry["command"], args=entry["args"], env=ENV, cwd=tmp_path
    )

    async def scenario() -> None:
        async with Client(params) as client:
            await _call(client, "memory_store", {"key": "k", "value": "from an agent"})

    asyncio.run(scenario())
    assert (tmp_path / ".mindbank" / "memory.db").exists()


def test_docs_list_every_tool() -> None:
    from mindbank.cli.mcp import _list_tools, tools_markdown

    generated = tools_markdown(asyncio.run(_list_tools()))
    docs = (ROOT / "docs" / "mcp.md").read_text(encoding="utf-8")
    assert generated in docs, "regenerate the tool list: mindbank mcp tools --markdown"


def test_change_schema_update_pattern_and_compress_tools_over_stdio(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    records = [{"x": float(i % 10), "kind": "a" if i % 2 else "b",
                "outcome": "ok" if i % 10 > 4 else "bad"} for i in range(200)]  # fmt: skip
    with mindbank.open(db) as mb:
        mb.neural.train(
            {"architecture": {"layers": [{"type": "hidden", "size": 8, "activation": "relu"},
                                         {"type": "output", "activation": "softmax"}]},
             "training": {"epochs": 20, "learning_rate": 0.02}},
            records[:60], target="outcome", name="m",
        )  # fmt: skip
        for i in range(30):
            ok = i % 3 != 0
            mb.bank.record_trajectory(
                f"task {i}", [{"action": "try", "observation": "ok" if ok else "KeyError"}],
                outcome={"exit_code": 0 if ok else 1}, strategy="quick" if ok else "slow",
                distil=False,
            )  # fmt: skip

    async def scenario() -> None:
        async with Client(_stdio(db)) as client:
            await _call(client, "memory_store", {"key": "a", "value": "x", "namespace": "n"})
            feed = await _call(client, "memory_changes", {"namespace": "n"})
            assert [(c["op"], c["key"]) for c in feed["changes"]] == [("store", "a")]
            assert feed["head"] >= 1
            schema = {"type": "object", "required": ["id"]}
            got = await _call(client, "memory_schema",
                              {"action": "set", "namespace": "t", "schema": schema})  # fmt: skip
            assert got["version"] == 1 and got["violations"] == 0
            bad = await client.call_tool("memory_store", {"key": "k", "value": {"x": 1},
                                                          "namespace": "t"})  # fmt: skip
            assert bad.is_error and "does not match schema" in bad.content[0].text
            upd = await _call(client, "model_update", {"name": "m", "records": records[60:],
                                                       "tolerance": 1.0})  # fmt: skip
            assert upd["updates"][0]["kept"] and upd["updates"][0]["to_version"] == 2
            learned = await _call(client, "pattern_learn", {"min_support": 5})
            assert learned["trajectories"] == 30
            assert {p["label"] for p in learned["patterns"]} == {"success", "failure"}
            comp = await _call(client, "memory_compress", {"tiers": ["warm", "cold"]})
            assert comp["entries"] >= 1 and "semantic_recall_at_10" in comp

    asyncio.run(scenario())


def test_a_long_lived_server_sees_other_processes_writes(tmp_path: Path) -> None:
    """The MCP server holds its handle for the whole session: each retrieve and search sees
    what other processes (the CLI, another agent) committed before it, and those processes
    never find the server's -wal and -shm gone."""
    db = tmp_path / "m.db"

    def outside(key: str, value: str) -> None:
        command = [sys.executable, "-m", "mindbank", "memory", "store", key, value]
        env = {**os.environ, **ENV}
        r = subprocess.run([*command, "--db", str(db)], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr

    async def scenario() -> None:
        async with Client(_stdio(db)) as client:
            await _call(client, "memory_store", {"key": "diag", "value": "from the server"})
            for i in range(3):
                outside("diag", f"outside {i}")
                got = await _call(client, "memory_retrieve", {"key": "diag"})
                assert got["entry"]["value"] == f"outside {i}"
                outside(f"note{i}", f"a lesson about rollbacks number {i}")
                hits = await _call(client, "memory_search", {"query": "rollbacks", "k": 5})
                assert {h["entry"]["key"] for h in hits["hits"]} >= {
                    f"note{j}" for j in range(i + 1)
                }
                assert Path(f"{db}-wal").exists() and Path(f"{db}-shm").exists()

    asyncio.run(scenario())

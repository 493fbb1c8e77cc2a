"""Random calls to the MCP tools, in-process through the SDK's client: arguments mostly of the
right JSON type (so the calls reach mindbank), sometimes not. Every call answers with a result,
an argument error from the SDK, or mindbank's one-line message; never an internal error (a
Python exception's text), and the server keeps serving."""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mindbank.mcp.server import build_server


def _deep(n: int) -> Any:
    value: Any = []
    for _ in range(n):
        value = [value]
    return value


BY_TYPE: dict[str, list[Any]] = {
    "string": ["", "k", "api-*", "default", "ns", "x" * 2000, "ü", "success", "failure",
               "hybrid", "semantic", "store", "retrieve", "list", "delete", "search", "SELECT 1",
               "set", "show", "check", "remove", "analyze", "learn", "predict", "hot", "lessons",
               # hostile (issue 21): not Unicode, paths out, huge
               "k\udcff", "../outside.json", "x" * 200_000, "\u202e"],
    "integer": [0, -1, 1, 3, 10, 10**12, 2**63, -(2**63), 10**30],
    "number": [0, -1, 0.5, 1, 1.5, -0.5, 1e300, -1e300],
    "boolean": [True, False],
    "array": [[], ["a"], ["k", "ns"], [1, 2], [{"a": 1}], ["t"] * 5000, _deep(200)],
    "object": [{}, {"a": 1}, {"type": "object"}, {"type": "object", "required": ["a"]},
               {"size": 1, "outcome": "success"}, {"$ref": "http://127.0.0.1:9/x"},
               {"type": "string", "pattern": "^(a+)+$"}, {"source_file": "../x.json"}],
    "null": [None],
}  # fmt: skip
ANY = [v for values in BY_TYPE.values() for v in values]
# Tools that train or run tasks: exercised by their own tests, too slow for hundreds of calls.
SLOW = {"pipeline_run", "neural_train", "model_update", "pattern_learn", "strategy_select"}
INTERNAL = re.compile(
    r"NoneType|has no attribute|unsupported operand|Traceback|KeyError|TypeError|IndexError|"
    r"ZeroDivision|not subscriptable|not iterable|unhashable|AssertionError|RecursionError|"
    r"OverflowError|invalid literal|sqlite3\.|psycopg|Errno"
)


def _types(schema: dict[str, Any]) -> list[str]:
    if "type" in schema:
        kind = schema["type"]
        return kind if isinstance(kind, list) else [kind]
    out = [t for sub in schema.get("anyOf", []) for t in _types(sub)]
    return out or ["string"]


def _value(rng: random.Random, schema: dict[str, Any]) -> Any:
    if rng.random() < 0.1:
        return rng.choice(ANY)  # probably the wrong type
    enums = [schema.get("enum")] + [sub.get("enum") for sub in schema.get("anyOf", [])]
    enums = [e for e in enums if e]
    if enums and rng.random() < 0.8:
        return rng.choice(rng.choice(enums))
    return rng.choice(
        BY_TYPE[rng.choice([t for t in _types(schema) if t in BY_TYPE] or ["string"])]
    )


def _on_the_wire(value: Any) -> Any:
    """A value a client can send as UTF-8 JSON (a lone surrogate cannot be: the stdio test
    sends such bytes raw)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


async def _fuzz(client: Any, rng: random.Random, calls: int, wire: bool = False) -> dict[str, int]:
    outcomes = {"ok": 0, "arguments": 0, "refused": 0}
    tools = [t for t in (await client.list_tools()).tools if t.name not in SLOW]
    for _ in range(calls):
        tool = rng.choice(tools)
        props = tool.input_schema.get("properties", {})
        required = set(tool.input_schema.get("required", []))
        args = {
            name: _value(rng, schema)
            for name, schema in props.items()
            if name in required or rng.random() < 0.5
        }
        if wire:
            args = {k: _on_the_wire(v) for k, v in args.items()}
        try:  # no call may hang the server
            result = await asyncio.wait_for(client.call_tool(tool.name, args), 60)
        except TimeoutError:
            raise AssertionError(f"{tool.name} did not answer in 60 s: {str(args)[:300]}") from None
        except MCPError as exc:  # a JSON-RPC error: the request itself was refused
            if exc.code != -32600 or INTERNAL.search(str(exc)):
                raise AssertionError(f"{tool.name}: {exc}") from None
            outcomes["refused"] += 1
            continue
        if not result.is_error:
            outcomes["ok"] += 1
            continue
        text = " ".join(getattr(c, "text", "") for c in result.content)
        if "Arguments\n" in text:  # the SDK's check of the arguments' types
            outcomes["arguments"] += 1
            continue
        assert not INTERNAL.search(text), (tool.name, args, text)
        outcomes["refused"] += 1
    assert len((await client.list_tools()).tools) > len(tools)  # still serving
    return outcomes


@pytest.mark.parametrize("seed", [1, 2])
def test_random_tool_calls_get_answers_not_internal_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setenv("MINDBANK_EMBEDDER", "hashing")
    server, close = build_server(tmp_path / "m.db")

    async def scenario() -> dict[str, int]:
        async with Client(server) as client:
            return await _fuzz(client, random.Random(seed), 800)

    try:
        outcomes = asyncio.run(scenario())
    finally:
        close()
    assert outcomes["ok"] > 300 and outcomes["refused"] > 30, outcomes


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_random_tool_calls_over_the_real_transports(tmp_path: Path, transport: str) -> None:
    """The same hostile calls through a real server process, over stdio and over HTTP."""
    from .test_mcp import _stdio, http_server

    db = tmp_path / "m.db"
    proc = None
    target: Any = _stdio(db)
    if transport == "http":
        proc, target = http_server(db)

    async def scenario() -> dict[str, int]:
        async with Client(target) as client:
            return await _fuzz(client, random.Random(7), 250, wire=True)

    try:
        outcomes = asyncio.run(scenario())
    finally:
        if proc is not None:
            proc.terminate()
            proc.communicate(timeout=30)
    assert outcomes["ok"] > 80 and outcomes["refused"] > 10, outcomes

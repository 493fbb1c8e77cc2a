"""Hostile input (issue 21): entries, schemas, files and arguments made to escape, exhaust or
crash mindbank. Each is refused with a typed error (or a clear refusal on the command line),
in bounded time and memory, and changes nothing already stored. The crafted files live in
``tests/data/hostile/`` (see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import mindbank

from .conftest import run_mindbank

# -- writes outside where they belong ---------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../escaped.json", "/ABS/escaped.json", "sub/x.json", "..", ".hidden.json", "a\\b"]
)
def test_the_memory_bridge_writes_only_files_of_its_folder(tmp_path: Path, name: str) -> None:
    """An entry in namespace ``claude`` (any MCP client can store one) named the file the
    session-end hook then overwrote: an absolute path, or ``../``."""
    folder = tmp_path / "memory"
    folder.mkdir()
    victim = tmp_path / "escaped.json"
    victim.write_text("precious")
    name = name.replace("/ABS", str(tmp_path))
    db = tmp_path / "m.db"
    with mindbank.open(db, embedder="hashing") as mb:
        mb.store("evil", "overwrite", namespace="claude", metadata={"source_file": name})
        mb.store("fine", "kept", namespace="claude")
        report = mb.export_memory_folder(folder)
    assert victim.read_text() == "precious"
    assert report.written == ("fine",) and len(report.skipped) == 1
    assert "refused" in report.skipped[0] and "evil" in report.skipped[0]
    assert sorted(p.name for p in folder.iterdir()) == ["MEMORY.md", "fine.json"]
    env = {"MINDBANK_CLAUDE_MEMORY": str(folder), "MINDBANK_EMBEDDER": "hashing"}
    r = run_mindbank("hooks", "session-end", "--db", str(db), input="{}", env=env)
    assert r.returncode == 0 and victim.read_text() == "precious"


@pytest.fixture
def listener() -> Any:
    """A real HTTP server on loopback that counts the requests it gets."""
    import http.server
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


def test_a_schema_never_reaches_the_network_or_the_file_system(
    tmp_path: Path, listener: Any
) -> None:
    """$ref fetched HTTP URLs and read file:// paths, and their content leaked through the
    validation errors; once the URL went away, every store into the namespace failed."""
    url, hits = listener
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"type": "integer", "title": "SECRET FROM THE DISK"}))
    refs = [f"{url}/s.json", f"file://{secret}", str(secret), "other.json#/x"]
    with mindbank.open(tmp_path / "m.db", embedder="hashing") as mb:
        mb.store("k", "kept", namespace="docs")
        for ref in refs:
            for schema in ({"$ref": ref}, {"properties": {"a": {"$ref": ref}}},
                           {"$id": url + "/", "properties": {"a": {"$ref": "#/x"}}}):  # fmt: skip
                with pytest.raises(mindbank.ValidationError) as err:
                    mb.set_schema("docs", schema)
                assert "SECRET" not in str(err.value)
        assert hits == [] and mb.schemas() == []
        # a schema stored by an older mindbank with a remote $ref: refused, not fetched
        mb._db.run(
            "INSERT INTO namespace_schemas (namespace, name, document, strict, version, "
            "updated_at) VALUES ('old', 's', ?, 0, 1, 0)",
            (json.dumps({"definitions": {"s": {"$ref": f"{url}/s.json"}}}),),
        )
        with pytest.raises(mindbank.ValidationError, match="outside the schema"):
            mb.store("k", "v", namespace="old")
        assert hits == [] and mb.get("k", namespace="docs").value == "kept"  # type: ignore[union-attr]
        # references inside the document still work
        mb.set_schema("docs", {"definitions": {"n": {"type": "string"}},
                               "properties": {"a": {"$ref": "#/definitions/n"}}})  # fmt: skip
        mb.store("ok", {"a": "x"}, namespace="docs")
        with pytest.raises(mindbank.SchemaViolationError):
            mb.store("bad", {"a": 1}, namespace="docs")


@pytest.mark.parametrize("pattern", ["^(a+)+$", "^(a|aa)*$", "(\\w+\\s?)*$", "x" * 1001])
def test_a_schema_pattern_that_backtracks_forever_is_refused(tmp_path: Path, pattern: str) -> None:
    """A ReDoS pattern in a schema stalled every writer of the namespace for seconds."""
    with mindbank.open(tmp_path / "m.db", embedder="hashing") as mb:
        with pytest.raises(mindbank.ValidationError, match="pattern"):
            mb.set_schema("docs", {"type": "string", "pattern": pattern})
        with pytest.raises(mindbank.ValidationError, match="pattern"):
            mb.set_schema("docs", {"type": "object", "patternProperties": {pattern: {}}})
        mb.set_schema("docs", {"type": "string", "pattern": "^[a-z]+(-[a-z]+)*$"})
        mb.store("k", "fine-name", namespace="docs")


def test_a_schema_too_big_or_too_deep_is_refused(tmp_path: Path) -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(100):
        deep = {"properties": {"a": deep}}
    wide = {"properties": {f"p{i}": {"type": "string"} for i in range(20_000)}}
    with mindbank.open(tmp_path / "m.db", embedder="hashing") as mb:
        with pytest.raises(mindbank.ValidationError, match="deeper"):
            mb.set_schema("docs", deep)
        with pytest.raises(mindbank.ValidationError, match="nodes"):
            mb.set_schema("docs", wide)

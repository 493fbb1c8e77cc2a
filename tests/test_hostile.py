"""Hostile input (issue 21): entries, schemas, files and arguments made to escape, exhaust or
crash mindbank. Each is refused with a typed error (or a clear refusal on the command line),
in bounded time and memory, and changes nothing already stored. The crafted files live in
``tests/data/hostile/`` (see its README)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# -- bad input on the command line ------------------------------------------------------------

DEEP = "[" * 30_000 + "]" * 30_000
BAD = "k\udcff"  # how Python hands a program the argument bytes b"k\xff" (not UTF-8)
HOSTILE_CLI = [
    ["memory", "store", BAD, "v"],
    ["memory", "store", "k", BAD],
    ["memory", "store", "k", "v", "-n", BAD],
    ["memory", "store", "k", "v", "-t", BAD],
    ["memory", "store", "k", "v", "-m", DEEP],
    ["memory", "store", "k", DEEP, "--type", "json"],
    ["memory", "store", "k", "v", "--ttl", "inf"],
    ["memory", "store", "k", "v", "--ttl", "nan"],
    ["memory", "store", "k", "v", "--ttl", "1e300"],
    ["memory", "retrieve", BAD],
    ["memory", "list", "--limit", "9223372036854775808"],
    ["memory", "list", "--limit", str(2**63)],
    ["memory", "list", "--offset", str(2**70)],
    ["memory", "search", BAD],
    ["memory", "search", "x", "-k", str(2**63)],
    ["search", "x", "-k", str(2**63)],
    ["search", BAD],
    ["memory", "analytics", "--window", "nan"],
    ["memory", "import", "/dev/zero"],
    ["memory", "import", "/no/such/file"],
    ["memory", "export", "/no/such/dir/x.jsonl"],
    ["neural", "predict", "m", "--input", DEEP],
    ["bank", "store", BAD, "lesson"],
    ["bank", "query", BAD],
]


@pytest.mark.parametrize("args", HOSTILE_CLI, ids=lambda a: " ".join(x[:12] for x in a)[:60])
def test_hostile_command_lines_get_one_line_not_a_traceback(
    tmp_path: Path, args: list[str]
) -> None:
    from click.testing import CliRunner

    from mindbank.cli.main import cli

    db = tmp_path / "m.db"
    with mindbank.open(db, embedder="hashing") as mb:
        mb.store("keep", {"me": 1})
    r = CliRunner().invoke(cli, [*args, "--db", str(db)], env={"MINDBANK_EMBEDDER": "hashing"})
    assert r.exit_code in (1, 2), (r.exit_code, r.output, r.exception)
    assert not isinstance(r.exception, Exception) or isinstance(r.exception, SystemExit), (
        r.exception
    )
    assert "Traceback" not in r.output
    with mindbank.open(db, embedder="hashing") as mb:
        assert [(e.key, e.value) for e in mb.list()] == [("keep", {"me": 1})]


# -- bad input through the API ----------------------------------------------------------------

NAN, INF = float("nan"), float("inf")


def test_nonsense_through_the_api_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    """Each call was accepted (NaN imported as "never expires", ttl=inf, limit=-1 ...) or ended
    in a non-mindbank exception (store_many(5), export into a missing folder)."""
    with mindbank.open(tmp_path / "m.db", embedder="hashing") as mb:
        mb.store("keep", {"me": 1}, tags=["a"])
        calls = [
            lambda: mb.store("k", "v", ttl=INF),
            lambda: mb.store("k", "v", ttl=NAN),
            lambda: mb.store("k", "v", ttl=1e27),
            lambda: mb.store("k", "v", tags={"a": 1}),  # type: ignore[arg-type]
            lambda: mb.store("k", "v", tags=[f"t{i}" for i in range(100_000)]),
            lambda: mb.store("k", "x" * (mb._db.settings.max_value_bytes + 1)),
            lambda: mb.store("k", _deep(30_000)),
            lambda: mb.store_many(5),  # type: ignore[arg-type]
            lambda: mb.store_many([5]),  # type: ignore[list-item]
            lambda: mb.list(limit=-1),
            lambda: mb.list(limit=2**63),
            lambda: mb.search("x", k=2**63),
            lambda: mb.search("x", k=0),
            lambda: mb.search("x", min_score=NAN),
            lambda: mb.fuzzy("x", min_score=NAN),
            lambda: mb.analytics(window=NAN),
            lambda: mb.analytics(window=INF),
            lambda: mb.analytics(window=True),  # type: ignore[arg-type]
            lambda: mb.events.list(limit=-1),
            lambda: mb.events.list(since=NAN),
            lambda: mb.export(tmp_path / "no" / "such" / "x.jsonl"),
            lambda: mb.import_(tmp_path / "missing.jsonl"),
            lambda: mb.import_("/dev/zero"),
            lambda: mb.bank.query("x", k=10**9),
        ]
        for i, call in enumerate(calls):
            with pytest.raises(mindbank.MindbankError):
                call()
                pytest.fail(f"call {i} was accepted")
        assert [(e.key, e.value, e.tags) for e in mb.list()] == [("keep", {"me": 1}, ("a",))]


def _deep(n: int) -> Any:
    value: Any = []
    for _ in range(n):
        value = [value]
    return value


@pytest.mark.parametrize(
    "line",
    [
        '{"key": "k", "value": 1, "expires_at": NaN}',
        '{"key": "k", "value": 1, "expires_at": Infinity}',
        '{"key": "k", "value": 1, "created_at": 1e27}',
        '{"key": "k", "value": 1, "tags": {"a": 1}}',
        '{"key": "k", "value": ' + "[" * 30_000 + "]" * 30_000 + "}",
        '{"key": "k\\udcff", "value": 1}',
    ],
)
def test_an_import_refuses_nonsense_lines(tmp_path: Path, line: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"key": "fine", "value": 2}\n' + line + "\n")
    with mindbank.open(tmp_path / "m.db", embedder="hashing") as mb:
        with pytest.raises(mindbank.ImportFormatError, match="line 2"):
            mb.import_(path)
        assert mb.list() == []  # all lines or none


def test_an_import_refuses_bytes_that_are_not_utf8_and_endless_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"key": "fine", "value": 2}\n{"key": "k\xff", "value": 1}\n')
    long = tmp_path / "long.jsonl"
    settings = mindbank.Settings(max_value_bytes=1024)
    long.write_text('{"key": "k", "value": "' + "x" * 5_000_000 + '"}\n')
    with mindbank.open(tmp_path / "m.db", embedder="hashing", settings=settings) as mb:
        with pytest.raises(mindbank.ImportFormatError, match=r"line 2.*UTF-8"):
            mb.import_(bad)
        with pytest.raises(mindbank.ImportFormatError, match="longer than"):
            mb.import_(long)
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        with pytest.raises(mindbank.ValidationError, match="not a regular file"):
            mb.import_(fifo)  # used to block forever


# -- crafted files ----------------------------------------------------------------------------

HOSTILE = Path(__file__).parent / "data" / "hostile"
LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # 3 GiB of address space
from mindbank.cli.main import main
sys.argv = ["mindbank", *sys.argv[1:]]
main()
"""


def _limited(*args: str, env: dict[str, str] | None = None) -> Any:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", LIMITED, *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["layers-60000.clf", "sizes-not-numbers.clf", "no-activations.clf", "deep-header.clf",
     "header-bomb.clf"],
)  # fmt: skip
def test_a_crafted_model_file_is_refused_in_bounded_memory(tmp_path: Path, name: str) -> None:
    db = tmp_path / "m.db"
    r = _limited("neural", "import", str(HOSTILE / name), "--db", str(db))
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("error: ") and name in r.stderr and "Traceback" not in r.stderr
    with mindbank.open(db, embedder="hashing") as mb:
        assert mb.neural.versions() == []


@pytest.mark.parametrize("name", ["deep.jsonl", "nan-expiry.jsonl", "not-utf8.jsonl"])
def test_a_crafted_import_file_is_refused(tmp_path: Path, name: str) -> None:
    db = tmp_path / "m.db"
    r = _limited("memory", "import", str(HOSTILE / name), "--db", str(db),
                 env={"MINDBANK_EMBEDDER": "hashing"})  # fmt: skip
    assert r.returncode == 1 and "line 1" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize(
    "name", ["remote-ref.schema.json", "file-ref.schema.json", "redos.schema.json"]
)
def test_a_crafted_schema_file_is_refused(tmp_path: Path, name: str) -> None:
    db = tmp_path / "m.db"
    r = _limited("memory", "schema", "set", "docs", str(HOSTILE / name), "--db", str(db),
                 env={"MINDBANK_EMBEDDER": "hashing"})  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr


def test_a_zstd_bomb_in_a_crafted_database_is_refused(tmp_path: Path) -> None:
    import sqlite3

    import zstandard

    db = tmp_path / "m.db"
    with mindbank.open(db, embedder="hashing") as mb:
        mb.store("bomb", "soon a bomb")
        mb.store("fine", "stays readable")
    bomb = zstandard.ZstdCompressor().compress(b"a" * (200 << 20))  # claims 200 MiB
    conn = sqlite3.connect(db)
    for name, fn in (("mb_plain", lambda v: ""), ("mb_actor", lambda: "x"),
                     ("mb_now", lambda: 0.0)):  # fmt: skip
        conn.create_function(name, -1, fn)
    conn.execute("INSERT INTO zstd_dicts VALUES (0, ?, 1, 0)", (b"x" * 64,))
    conn.execute("UPDATE memory_store SET value = ? WHERE key = 'bomb'", (bomb,))
    conn.commit()
    conn.close()
    with mindbank.open(db, embedder="hashing") as mb:
        with pytest.raises(mindbank.StoreError, match="claims"):
            mb.retrieve("bomb")
        assert mb.retrieve("fine").value == "stays readable"  # type: ignore[union-attr]
    r = _limited("memory", "export", str(tmp_path / "out.jsonl"), "--db", str(db),
                 env={"MINDBANK_EMBEDDER": "hashing"})  # fmt: skip
    assert r.returncode == 1 and "claims" in r.stderr and "Traceback" not in r.stderr, r.stderr


# -- resource limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "training", "match"),
    [
        ([{"type": "hidden", "size": 10**9}], {}, "units"),
        ([{"type": "hidden", "size": 60_000}, {"type": "hidden", "size": 60_000}], {}, "weights"),
        ([{"type": "hidden", "size": 2}] * 40, {}, "hidden layers"),
        ([{"type": "hidden", "size": 4}], {"epochs": 10**9}, "epochs"),
        ([{"type": "hidden", "size": 4}], {"learning_rate": float("nan")}, "learning_rate"),
        ([{"type": "hidden", "size": 4}], {"batch_size": 10**12}, "batch_size"),
    ],
)
def test_training_beyond_the_limits_is_refused_before_it_starts(
    tmp_path: Path, layers: list[Any], training: dict[str, Any], match: str
) -> None:
    """epochs: 10**9 hung the MCP server for 700 s; a hidden layer of 10**9 units was killed by
    the kernel at 23 GB."""
    import time

    config = {"architecture": {"layers": [*layers, {"type": "output", "activation": "softmax"}]},
              "training": training}  # fmt: skip
    data = [{"x": float(i % 7), "y": "a" if i % 2 else "b"} for i in range(40)]
    with mindbank.open(tmp_path / "m.db", embedder="hashing") as mb:
        start = time.monotonic()
        with pytest.raises(mindbank.ValidationError, match=match):
            mb.neural.train(config, data, target="y", name="m")
        assert time.monotonic() - start < 5 and mb.neural.versions() == []


# -- hostile MCP clients ----------------------------------------------------------------------


def test_mcp_stdio_answers_every_unreadable_line_with_the_json_rpc_error(tmp_path: Path) -> None:
    """Invalid UTF-8 became U+FFFD silently; a garbage line got no answer at all."""
    import subprocess
    import sys

    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    lines = [json.dumps(init).encode(), b"not json", b'{"a": 1}', b'"k\xff"', b"[1, 2",
             b"[" * 100_000]  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "mindbank", "mcp", "serve", "--db", str(tmp_path / "m.db")],
        input=b"\n".join(lines) + b"\n", capture_output=True, timeout=60,
        env={**os.environ, "MINDBANK_EMBEDDER": "hashing"},
    )  # fmt: skip
    replies = [json.loads(line) for line in r.stdout.splitlines()]
    # (replies may come in any order: the errors are written while initialize is handled)
    assert [m["id"] for m in replies if "result" in m] == [1]
    codes = sorted((m["error"]["code"], m["id"]) for m in replies if "error" in m)
    assert codes == [(-32700, None)] * 4 + [(-32600, None)], replies
    assert "Traceback" not in r.stderr.decode()


def test_a_slow_mcp_call_neither_stalls_others_nor_outlives_its_time_limit(
    tmp_path: Path,
) -> None:
    """neural_train with 10**9 epochs held the single worker thread for 700 s: every other
    client waited, and its progress stream kept client timeouts from firing."""
    import asyncio
    import sys
    import time

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = {"MINDBANK_EMBEDDER": "hashing", "PATH": os.environ.get("PATH", ""),
           "MINDBANK_MCP_TIMEOUT": "3"}  # fmt: skip
    params = StdioServerParameters(command=sys.executable, env=env, args=[
        "-m", "mindbank", "mcp", "serve", "--db", str(tmp_path / "m.db")])  # fmt: skip
    config = {"architecture": {"layers": [{"type": "hidden", "size": 256},
                                          {"type": "hidden", "size": 256},
                                          {"type": "output", "activation": "softmax"}]},
              "training": {"epochs": 10_000, "batch_size": 1}}  # fmt: skip
    data = [{"x": float(i % 7), "z": float(i % 3), "y": "a" if i % 2 else "b"} for i in range(400)]

    async def scenario() -> None:
        async with Client(params) as client:
            await client.call_tool("memory_store", {"key": "k", "value": "quick"})
            start = time.monotonic()
            train = asyncio.create_task(client.call_tool(
                "neural_train", {"config": config, "data": data, "target": "y", "name": "m"}))  # fmt: skip
            await asyncio.sleep(0.5)
            quick = await client.call_tool("memory_retrieve", {"key": "k"})
            assert not quick.is_error and time.monotonic() - start < 2.5  # not behind the train
            slow = await train
            assert slow.is_error and "time limit" in str(slow.content)
            assert time.monotonic() - start < 10
            await asyncio.sleep(1.5)  # the training stops at its next epoch: nothing stored
            models = await client.call_tool("neural_models", {})
            assert not models.is_error and models.structured_content is not None
            assert '"m"' not in json.dumps(models.structured_content)

    asyncio.run(scenario())


# -- the API, fuzzed with hostile values ------------------------------------------------------

_HOSTILE_VALUES = [
    None, True, 0, -1, 2**63, -(2**63), 10**30, NAN, INF, -INF, 1e300, "", " ", "k", "k\udcff",
    "x" * 5000, "../outside", "fifo", "/no/such/dir/x", "\x00", [], ["a"], [1],
    {"a": 1}, {"$ref": "file:///etc/passwd"}, _deep(2000), b"bytes", object(),
]  # fmt: skip


def _api_calls(mb: mindbank.MindBank, tmp: Path) -> list[tuple[str, Any]]:
    return [
        ("store", lambda a, b: mb.store(a, b)),
        ("store/ns", lambda a, b: mb.store("k", "v", namespace=a, tags=b)),
        ("store/meta", lambda a, b: mb.store("k", "v", metadata=a, ttl=b)),
        ("store_many", lambda a, b: mb.store_many([{"key": a, "value": b}])),
        ("retrieve", lambda a, b: mb.retrieve(a, namespace=b)),
        ("get", lambda a, b: mb.get(a)),
        ("list", lambda a, b: mb.list(namespace=a, limit=b)),
        ("list/offset", lambda a, b: mb.list(pattern=a, offset=b)),
        ("count", lambda a, b: mb.count(namespace=a, tags=b)),
        ("delete", lambda a, b: mb.delete(a, namespace=b)),
        ("search", lambda a, b: mb.search(a, k=b)),
        ("search/min", lambda a, b: mb.search("x", min_score=a, namespace=b)),
        ("fuzzy", lambda a, b: mb.fuzzy(a, k=b)),
        ("analytics", lambda a, b: mb.analytics(window=a, top=b)),
        ("query", lambda a, b: mb.query(a)),
        # a name inside the temporary folder (never a real system file: as root, an export
        # would replace it), a FIFO there, or a value that is no path at all
        ("export", lambda a, b: mb.export(tmp / a.lstrip("/")[:50] if isinstance(a, str) else a)),
        ("set_schema", lambda a, b: mb.set_schema("s", a)),
        ("bank.store", lambda a, b: mb.bank.store(a, b)),
        ("bank.query", lambda a, b: mb.bank.query(a, k=b)),
        ("events.list", lambda a, b: mb.events.list(limit=a, since=b)),
        ("neural.predict", lambda a, b: mb.neural.predict(a, b)),
        ("changes", lambda a, b: mb.changes(since=a, limit=b)),
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(0, 21),
    a=st.sampled_from(range(len(_HOSTILE_VALUES))),
    b=st.sampled_from(range(len(_HOSTILE_VALUES))),
)
def test_any_hostile_value_through_the_api_is_a_result_or_a_mindbank_error(
    which: int, a: int, b: int
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.mkfifo(Path(tmp) / "fifo")
        with mindbank.open(Path(tmp) / "m.db", embedder="hashing") as mb:
            mb.store("keep", {"me": 1}, namespace="safe")
            name, call = _api_calls(mb, Path(tmp))[which]
            with contextlib.suppress(mindbank.MindbankError):  # a refusal is fine; nothing else
                call(_HOSTILE_VALUES[a], _HOSTILE_VALUES[b])
            got = mb.get("keep", namespace="safe")
            assert got is not None and got.value == {"me": 1}, name


def test_an_export_never_replaces_a_device_a_fifo_or_a_symlink(tmp_path: Path) -> None:
    """As root, `memory export /dev/zero` replaced the device with a file (the export is an
    atomic rename)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target")
    with mindbank.open(tmp_path / "m.db", embedder="hashing") as mb:
        mb.store("k", "v")
        for target in (fifo, link, Path("/dev/null")):
            with pytest.raises(mindbank.ValidationError, match="not a regular file"):
                mb.export(target)
    assert fifo.is_fifo() and link.is_symlink() and Path("/dev/null").is_char_device()


# -- every public method of the API -----------------------------------------------------------

_BLOCKING = {"close", "sync_watch", "subscribe", "watch", "follower", "sync", "transaction",
             "snapshot", "restore"}  # fmt: skip
_PARTS = ("bank", "neural", "events", "sessions", "agents", "tasks", "metrics", "workflows",
          "topology", "consensus", "state")  # fmt: skip


def fuzz_api(seed: int, per_method: int = 40) -> tuple[int, dict[tuple[str, str, str], str]]:
    """Call every public method of the API (MindBank and its parts; not the ones that block or
    replace the database) ``per_method`` times with hostile values for its arguments; returns
    the cases run and each kind of exception that is not mindbank's, with where it came from.
    Raises AssertionError if a stored entry changed."""
    import inspect
    import random
    import tempfile
    import traceback

    rng = random.Random(seed)
    bad: dict[tuple[str, str, str], str] = {}
    cases = 0
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # files the calls write land here
        try:
            os.mkfifo("fifo")
            mb = mindbank.open(Path(tmp) / "m.db", embedder="hashing")
            mb.store("keep", {"me": 1}, namespace="safe")
            parts = [("mb", mb)] + [(n, getattr(mb, n)) for n in _PARTS if hasattr(mb, n)]
            for part, obj in parts:
                for name, fn in inspect.getmembers(obj, callable):
                    if name.startswith("_") or name in _BLOCKING:
                        continue
                    try:
                        sig = inspect.signature(fn)
                    except (TypeError, ValueError):
                        continue
                    for _ in range(per_method):
                        kwargs = {}
                        for p in sig.parameters.values():
                            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                                continue
                            if p.default is p.empty or rng.random() < 0.4:
                                v = rng.choice(_HOSTILE_VALUES)
                                if isinstance(v, str) and (v.startswith("/") or ".." in v):
                                    v = "x"  # never a path outside the temporary folder
                                kwargs[p.name] = v
                        cases += 1
                        try:
                            fn(**kwargs)
                        except mindbank.MindbankError:
                            pass
                        except Exception as exc:  # what the fuzz is looking for
                            tb = traceback.extract_tb(exc.__traceback__)[-1]
                            bad.setdefault((part, name, type(exc).__name__),
                                           f"{str(exc)[:80]} @ {Path(tb.filename).name}:"
                                           f"{tb.lineno}")  # fmt: skip
            got = mb.get("keep", namespace="safe")
            assert got is not None and got.value == {"me": 1}
            mb.close()
        finally:
            os.chdir(cwd)
    return cases, bad


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_public_api_method_answers_hostile_values_with_mindbank_errors(seed: int) -> None:
    """An API fuzz found 115 kinds of non-mindbank exceptions (TypeError, OverflowError,
    UnicodeEncodeError, RecursionError from the message itself ...), and a slow-query
    threshold of the wrong type that broke the handle for every later call."""
    cases, bad = fuzz_api(seed)
    assert cases > 3000 and bad == {}, bad

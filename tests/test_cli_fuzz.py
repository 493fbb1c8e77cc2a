"""Random arguments, hostile ones among them, to every command of the CLI (found by walking it;
not the ones that block or run long work): whatever they are, the CLI answers
with exit 0, 1 (one `error:` line) or 2 (usage), never a traceback, and what was stored before
stays as it was."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mindbank
from mindbank.cli.main import cli

# Arguments that mean something somewhere, and ones that mean nothing anywhere (no U+0000: a
# command line cannot hold it).
words = st.sampled_from(
    ["", " ", "-", "k", "api-*", "[", "ns", "1h", "-1", "0", "1e309", "nan", "10", "{}", "[1]",
     '{"a": 1}', "{bad", "ü", "x" * 1100, "SELECT 1", "DELETE FROM memory_store",
     "/nonexistent/dir/file", "7d", "json", "text", "high", "pending", "success", "failure", "0.5", "2", "model",
     "classifier", "3",
     # hostile (issue 21): not UTF-8, out-of-range numbers, deep JSON, paths out, devices
     "k\udcff", "9223372036854775808", str(2**70), "-9223372036854775809", "inf", "-inf",
     "[" * 5000 + "]" * 5000, "../outside.jsonl", "fifo", "/root", "x" * 100_000]
    # (never a real system file: as root, an export to it would replace it)
)  # fmt: skip
options = st.sampled_from(
    ["-n", "--ttl", "-m", "-t", "--type", "--limit", "--offset", "-p", "--json", "--window",
     "--top", "-P", "--yes", "-k", "--mode", "--priority", "--status", "--version", "--task",
     "--strategy", "--outcome", "--confidence", "--output", "--bits"]
)  # fmt: skip


def _leaf_commands() -> list[list[str]]:
    """Every command of the CLI, found by walking it (so a new one is fuzzed too)."""
    import click

    ctx = click.Context(cli)
    out: list[list[str]] = []

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            if isinstance(cmd, click.Group):
                walk(cmd, [*prefix, name])
            elif cmd is not None:
                out.append([*prefix, name])

    walk(cli, [])
    return out


# Commands that block or run long work whatever their arguments: a server, a watch, the demo,
# pipeline runs, training from the pipeline's records. (Each has tests of its own.)
LONG = {("mcp", "serve"), ("memory", "watch"), ("demo",), ("pipeline", "run"),
        ("pipeline", "train-and-stream"), ("train-and-stream",), ("training", "neural-train"),
        ("training", "model-update"), ("training", "pattern-learn")}  # fmt: skip
commands = st.sampled_from([c for c in _leaf_commands() if tuple(c) not in LONG])


def _snapshot(path: Path) -> dict[tuple[str, str], object]:
    with mindbank.open(path, settings=mindbank.Settings(embed=False)) as mb:
        return {(e.namespace, e.key): e.value for e in mb.list(limit=None)}


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(command=commands, args=st.lists(words | options, max_size=6))
def test_any_arguments_get_an_answer_not_a_traceback(command: list[str], args: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.db"
        os.mkfifo(Path(tmp) / "fifo")  # a FIFO to import from or export to
        with mindbank.open(path, settings=mindbank.Settings(embed=False)) as mb:
            mb.store("keep", {"me": 1}, namespace="safe")
        before = _snapshot(path)
        env = {"MINDBANK_DB": str(path), "MINDBANK_EMBEDDER": "hashing"}
        with contextlib.chdir(tmp):  # files it writes (an export to "{bad") land there
            result = CliRunner().invoke(cli, [*command, *args], env=env)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception,
            result.output,
        )
        assert result.exit_code in (0, 1, 2), result.output
        if result.exit_code == 1:
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        after = _snapshot(path)
        assert after.get(("safe", "keep")) == before[("safe", "keep")] or (
            command[-1] in ("clear", "delete", "import", "restore")
            and ("safe", "keep") not in after
        )

"""Random arguments to the memory and coordination commands: whatever they are, the CLI answers
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
commands = st.sampled_from(
    [["memory", "store"], ["memory", "retrieve"], ["memory", "list"], ["memory", "delete"],
     ["memory", "clear"], ["memory", "query"], ["memory", "analytics"], ["memory", "search"],
     ["memory", "fuzzy"], ["memory", "export"], ["memory", "import"], ["memory", "feedback"],
     ["memory", "schema", "set"], ["db", "status"], ["db", "check"], ["db", "verify"],
     ["db", "head"], ["db", "optimize"], ["search"], ["bank", "store"], ["bank", "query"],
     ["bank", "list"], ["bank", "get"], ["bank", "feedback"], ["bank", "judge"],
     ["bank", "trajectory"], ["bank", "links"], ["bank", "status"], ["bank", "distill"],
     ["neural", "predict"], ["neural", "versions"], ["neural", "history"], ["neural", "export"],
     ["neural", "import"], ["neural", "quantize"], ["neural", "cleanup"], ["neural", "catalog"],
     ["pipeline", "status"], ["pipeline", "select"], ["pipeline", "report"],
     ["pipeline", "strategies"]]
)  # fmt: skip


def _snapshot(path: Path) -> dict[tuple[str, str], object]:
    with mindbank.open(path, settings=mindbank.Settings(embed=False)) as mb:
        return {(e.namespace, e.key): e.value for e in mb.list(limit=None)}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
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
            command[-1] in ("clear", "delete", "import") and ("safe", "keep") not in after
        )

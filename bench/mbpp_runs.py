"""Real attempts at the MBPP tasks: code transformed by a strategy, run against the task's tests.

Until the training pipeline (issue 6) exists, this is how the benchmarks get trajectories with
real test results. A strategy is a transformation of the reference solution through ``ast``;
each changes real behaviour, so whether it passes depends on the task's tests:

- ``balanced``: the reference solution, unchanged.
- ``int-division``: every ``/`` becomes ``//`` (fails where a result is fractional).
- ``aggressive``: guard clauses removed (``if ...: return/raise/continue/break`` without else).
- ``no-sort``: ``sorted(x)`` becomes ``list(x)`` and ``.sort()`` calls are dropped.

Each attempt runs in its own subprocess with a timeout; every assert is run and counted on its
own. Results are cached in ``/tmp/mindbank-bench-bank/`` by the hash of code and tests.
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sanitized-mbpp.json"
CACHE = Path(tempfile.gettempdir()) / "mindbank-bench-bank" / "outcomes.json"
STRATEGIES = ("balanced", "int-division", "aggressive", "no-sort")

HARNESS = r"""
import json, sys, traceback
src = json.load(sys.stdin)
out = {"passed": 0, "failed": 0, "failures": []}
g = {}
try:
    for imp in src["imports"]:
        exec(imp, g)
    exec(src["code"], g)
except BaseException as exc:
    out["failed"] = len(src["tests"])
    out["failures"] = [{"test": "import", "error": f"{type(exc).__name__}: {exc}"[:200]}]
else:
    for i, t in enumerate(src["tests"]):
        try:
            exec(t, g)
            out["passed"] += 1
        except BaseException as exc:
            out["failed"] += 1
            msg = str(exc) or t
            out["failures"].append({"test": f"test_{i}", "error": f"{type(exc).__name__}: {msg}"[:200]})
print(json.dumps(out))
"""


class _Div(ast.NodeTransformer):
    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            node.op = ast.FloorDiv()
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            node.op = ast.FloorDiv()
        return node


class _NoSort(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "sorted" and node.args:
            return ast.Call(func=ast.Name("list", ast.Load()), args=node.args[:1], keywords=[])
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        self.generic_visit(node)
        call = node.value
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "sort"
        ):
            return ast.Pass()
        return node


def transform(code: str, strategy: str) -> str:
    """The reference code under a strategy."""
    if strategy == "balanced":
        return code
    if strategy == "aggressive":  # the pipeline's own guard-clause removal
        from mindbank.pipeline.strategies import Strategy, apply
        from mindbank.pipeline.tasks import Task

        return apply(Strategy("aggressive"), Task("t", "", code, "def test_(): pass\n"))
    tree = ast.parse(code)
    t = {"int-division": _Div, "no-sort": _NoSort}[strategy]()
    tree = ast.fix_missing_locations(t.visit(tree))
    return ast.unparse(tree)


def load_tasks() -> list[dict[str, Any]]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def _run(code: str, imports: list[str], tests: list[str]) -> dict[str, Any]:
    payload = json.dumps({"code": code, "imports": imports, "tests": tests})
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-c", HARNESS],
            input=payload,
            capture_output=True,
            text=True,
            timeout=10,
        )
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        res = {
            "passed": 0,
            "failed": len(tests),
            "failures": [{"test": "all", "error": "TimeoutExpired: over 10 s"}],
        }
    except (json.JSONDecodeError, IndexError):
        res = {"passed": 0, "failed": len(tests), "failures": [{"test": "all", "error": "crash"}]}
    return {
        "exit_code": 0 if res["failed"] == 0 else 1,
        "tests_passed": res["passed"],
        "tests_failed": res["failed"],
        "failures": res["failures"][:5],
    }


def run_all(tasks: list[dict[str, Any]], workers: int = 2) -> dict[tuple[int, str], dict[str, Any]]:
    """Outcome of every task under every strategy, run for real (cached)."""
    cache: dict[str, Any] = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    jobs = []
    for t in tasks:
        for s in STRATEGIES:
            code = transform(t["code"], s)
            h = hashlib.sha256(json.dumps([code, t["test_imports"], t["test_list"]]).encode())
            jobs.append((t["task_id"], s, code, t, h.hexdigest()))
    todo = [j for j in jobs if j[4] not in cache]
    if todo:
        with ThreadPoolExecutor(workers) as pool:
            results = pool.map(lambda j: _run(j[2], j[3]["test_imports"], j[3]["test_list"]), todo)
            for j, r in zip(todo, results, strict=True):
                cache[j[4]] = r
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps(cache))
    same = {t["task_id"]: ast.unparse(ast.parse(t["code"])) for t in tasks}
    return {
        (j[0], j[1]): {**cache[j[4]], "changed": j[1] != "balanced" and j[2] != same[j[0]]}
        for j in jobs
    }


if __name__ == "__main__":
    import time

    start = time.perf_counter()
    tasks = load_tasks()
    out = run_all(tasks)
    for s in STRATEGIES:
        rows = [v for (_, st), v in out.items() if st == s]
        ok = sum(1 for v in rows if v["exit_code"] == 0)
        changed = sum(1 for v in rows if v["changed"])
        print(f"{s:<14} pass {ok}/{len(rows)}  code changed on {changed} tasks")
    print(f"{time.perf_counter() - start:.1f} s")

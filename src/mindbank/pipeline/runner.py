"""Running one task under one strategy: its own folder, its real tests, limits, a result.

The solution and the tests are written to a fresh temporary folder (removed afterwards);
pytest runs in the sandbox of :mod:`mindbank.pipeline.sandbox` (namespaces where the platform
allows: no network, a read-only root, nothing outliving the run; everywhere: a wall-time limit,
CPU-time, address-space and process limits, an environment stripped to ``PATH`` and a private
``HOME``).
Results come from pytest's JUnit XML (tests passed, failed, errored) and, when ruff is
installed, from ``ruff check --output-format json`` (lint findings); a crash, a timeout or an
import error is recorded as such, with the reason.

The score (a documented function, no per-strategy constant)::

    score = 100 * pass_ratio - 2 * min(lint_findings, 10) - 10 * min(seconds / 10, 1)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mindbank.errors import ValidationError
from mindbank.pipeline.sandbox import CPU_SECONDS, MEMORY_BYTES, PROCESSES, Sandbox
from mindbank.pipeline.strategies import Strategy, apply, stripped_env
from mindbank.pipeline.tasks import Task, check

__all__ = ["CPU_SECONDS", "MEMORY_BYTES", "PROCESSES", "RunResult", "run_one", "score"]

WALL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class RunResult:
    """One task x strategy execution, as measured."""

    task_id: str
    kind: str
    prompt: str
    strategy: str
    passed: int
    failed: int
    errors: int
    lint: int | None
    seconds: float
    status: str  # passed, failed, error, timeout, crashed
    reason: str
    score: float

    @property
    def success(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id, "kind": self.kind, "prompt": self.prompt,
            "strategy": self.strategy,
            "passed": self.passed, "failed": self.failed, "errors": self.errors,
            "lint": self.lint, "seconds": self.seconds, "status": self.status,
            "reason": self.reason, "score": self.score,
        }  # fmt: skip


def score(pass_ratio: float, lint: int | None, seconds: float) -> float:
    """The run's score (see the module doc)."""
    return round(100.0 * pass_ratio - 2.0 * min(lint or 0, 10) - 10.0 * min(seconds / 10.0, 1.0), 3)


def _junit(path: Path) -> tuple[int, int, int]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failures = sum(int(s.get("failures", 0)) for s in suites)
    errors = sum(int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return tests - failures - errors - skipped, failures, errors


def _lint(folder: Path) -> int | None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        return None
    proc = subprocess.run(
        [ruff, "check", "--output-format", "json", "--no-cache", "--isolated", "solution.py"],
        cwd=folder, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    import json

    try:
        return len(json.loads(proc.stdout or "[]"))
    except json.JSONDecodeError:
        return None


def run_one(
    task: Task, strategy: Strategy, lint: bool = True, wall_seconds: float = WALL_SECONDS
) -> RunResult:
    """Run a task under a strategy (never raises for a bad task or solution: the result says)."""
    start = time.perf_counter()

    def result(status: str, reason: str, p: int = 0, f: int = 0, e: int = 0,
               findings: int | None = None) -> RunResult:  # fmt: skip
        seconds = time.perf_counter() - start
        total = p + f + e
        return RunResult(task.id, task.kind, task.prompt, strategy.name, p, f, e, findings,
                         round(seconds, 4), status, reason,
                         score(p / total if total else 0.0, findings, seconds))  # fmt: skip

    problem = check(task)
    if problem is not None:
        return result("error", problem)
    try:
        solution = apply(strategy, task)
    except ValidationError as exc:
        return result("error", str(exc))
    try:
        box = Sandbox()
    except ValidationError as exc:
        return result("error", str(exc))
    folder = box.folder
    try:
        (folder / "solution.py").write_text(solution, encoding="utf-8")
        (folder / "test_task.py").write_text(task.tests, encoding="utf-8")
        report = folder / "report.xml"
        ran = box.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
             "--junitxml", str(report), "test_task.py"],
            stripped_env(str(folder)), wall_seconds,
        )  # fmt: skip
        if ran is None:
            return result("timeout", f"over {wall_seconds:g} s")
        returncode, stdout, stderr = ran
        findings = _lint(folder) if lint else None
        if not report.exists():
            tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
            return result("crashed", f"pytest exited {returncode}: {tail[0][:200]}",
                          findings=findings)  # fmt: skip
        p, f, e = _junit(report)
        if p + f + e == 0:
            return result("error", "no test ran", findings=findings)
        if f or e:
            line = next((ln for ln in stdout.splitlines() if ln.startswith("E ")), "")
            status = "failed" if f else "error"
            return result(status, line[:200] or f"{f} failed, {e} errors", p, f, e, findings)
        return result("passed", "", p, f, e, findings)
    finally:
        box.close()

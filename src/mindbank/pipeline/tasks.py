"""Tasks with real tests: from MBPP, from a folder of task folders, or from JSON Lines.

A task is a prompt, a candidate solution (``solution.py``), a pytest test file and a kind
(complexity and tags). MBPP's asserts become one pytest test function each.
"""

from __future__ import annotations

import ast
import json
import reprlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mindbank.errors import ValidationError

__all__ = ["Task", "builtin", "from_folder", "from_jsonl", "from_mbpp", "load", "mbpp_path"]


@dataclass(frozen=True, slots=True)
class Task:
    """One task: what to do, a solution to start from, and the tests that judge it."""

    id: str
    prompt: str
    solution: str
    tests: str
    complexity: str = "medium"
    tags: tuple[str, ...] = field(default_factory=tuple)
    source: str = "user"

    @property
    def kind(self) -> str:
        """The task kind profiles are kept by: its complexity."""
        return self.complexity


def _complexity(code: str) -> str:
    lines = len([ln for ln in code.splitlines() if ln.strip()])
    return "easy" if lines <= 4 else "medium" if lines <= 10 else "hard"


def mbpp_path() -> Path:
    """Where the MBPP tasks are: the file ``MINDBANK_MBPP`` names. mindbank does not ship them
    (MBPP is Google's, CC BY 4.0: ``sanitized-mbpp.json`` of google-research's ``mbpp``).

    Raises:
        ValidationError: ``MINDBANK_MBPP`` is not set.
    """
    import os

    env = os.environ.get("MINDBANK_MBPP")
    if not env:
        raise ValidationError(
            "the MBPP tasks are not part of mindbank: set MINDBANK_MBPP to a copy of "
            "sanitized-mbpp.json (google-research's mbpp), or use --tasks builtin"
        )
    return Path(env)


def from_mbpp(path: Path | None = None) -> list[Task]:
    """The MBPP tasks: prompt, reference code, one pytest test per assert."""
    p = path or mbpp_path()
    try:
        rows = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot read the MBPP tasks at {p}: {exc.strerror}") from None
    out = []
    for r in rows:
        imports = "\n".join(r.get("test_imports", []))
        tests = [f"def test_{i}():\n    {a}\n" for i, a in enumerate(r["test_list"])]
        body = f"{imports}\nfrom solution import *\n\n" + "\n\n".join(tests)
        out.append(
            Task(f"mbpp-{r['task_id']}", r["prompt"], r["code"], body,
                 _complexity(r["code"]), (), "mbpp")
        )  # fmt: skip
    return out


def from_folder(path: Path) -> list[Task]:
    """Each subfolder is a task: ``solution.py``, ``test_*.py`` and optionally ``task.json``
    (``prompt``, ``complexity``, ``tags``)."""
    if not path.is_dir():
        raise ValidationError(f"no task folder at {path}")
    out = []
    for d in sorted(p for p in path.iterdir() if p.is_dir()):
        meta: dict[str, Any] = {}
        if (d / "task.json").exists():
            meta = json.loads((d / "task.json").read_text(encoding="utf-8"))
        tests = sorted(d.glob("test_*.py"))
        solution = d / "solution.py"
        out.append(
            Task(
                d.name,
                str(meta.get("prompt", d.name)),
                solution.read_text(encoding="utf-8") if solution.exists() else "",
                "\n\n".join(t.read_text(encoding="utf-8") for t in tests),
                str(meta.get("complexity") or "medium"),
                tuple(meta.get("tags", [])),
                "folder",
            )
        )
    return out


def from_jsonl(lines: Iterable[str]) -> list[Task]:
    """One task per line: ``id``, ``prompt``, ``solution``, ``tests`` (pytest source or a
    list of assert statements), optional ``complexity`` and ``tags``."""
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"task line {n} is not JSON: {exc}") from None
        tests = r.get("tests", "")
        if isinstance(tests, list):
            tests = "from solution import *\n\n" + "\n\n".join(
                f"def test_{i}():\n    {a}\n" for i, a in enumerate(tests)
            )
        out.append(
            Task(str(r.get("id", f"task-{n}")), str(r.get("prompt", "")), str(r.get("solution", "")),
                 str(tests), str(r.get("complexity") or _complexity(str(r.get("solution", "")))),
                 tuple(r.get("tags", [])), "jsonl")
        )  # fmt: skip
    return out


def builtin() -> list[Task]:
    """The built-in tasks (10 easy, 10 medium, 10 hard)."""
    from mindbank.pipeline.builtin_tasks import rows

    return [Task(i, p, sol, tests, c, (), "builtin") for i, c, p, sol, tests in rows()]


def load(source: str, complexity: str | None = None, limit: int | None = None) -> list[Task]:
    """Tasks from ``builtin``, ``mbpp``, a ``.jsonl`` file or a folder of task folders, of one
    complexity if given, at most ``limit``."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"limit must be a positive integer, got {reprlib.repr(limit)}")
    if source == "mbpp":
        found = from_mbpp()
    elif source == "builtin":
        found = builtin()
    elif source.endswith(".jsonl"):
        try:
            found = from_jsonl(Path(source).read_text(encoding="utf-8").splitlines())
        except OSError as exc:
            raise ValidationError(f"cannot read {source}: {exc.strerror}") from None
    else:
        found = from_folder(Path(source))
    if complexity:
        found = [t for t in found if t.complexity == complexity]
    return found[:limit] if limit else found


def check(task: Task) -> str | None:
    """Why a task cannot run (None: it can)."""
    if not task.tests.strip():
        return "the task has no tests"
    try:
        ast.parse(task.tests)
    except SyntaxError as exc:
        return f"the test file does not parse: {exc.msg} (line {exc.lineno})"
    return None

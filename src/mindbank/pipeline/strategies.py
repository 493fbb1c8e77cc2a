"""Strategies: what is done to a task's candidate solution before its tests run.

Built in (transformations through ``ast``; they change real behaviour, so whether they pass
depends on the task's tests, and none wins by construction):

- ``conservative``: every function first checks that no argument is None (TypeError).
- ``balanced``: the solution unchanged.
- ``aggressive``: guard clauses removed (``if ...: return/raise/continue/break`` without else).

Command strategies run an external program (a coding agent's CLI, an LLM script): it gets the
task as JSON on stdin (``id``, ``prompt``, ``solution``, ``tests``) and prints the new
``solution.py`` on stdout, within a timeout, in a scratch folder of its own (removed after)
with an environment stripped of credentials.
"""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
from dataclasses import dataclass

from mindbank.errors import ValidationError, shown
from mindbank.pipeline.tasks import Task

__all__ = ["BUILTIN", "Strategy", "apply", "load_strategies", "parse_strategies", "stripped_env"]

BUILTIN = ("conservative", "balanced", "aggressive")


def stripped_env(home: str) -> dict[str, str]:
    """The environment a strategy command or a test run gets: ``PATH`` and a private
    ``HOME``, nothing else (no credentials)."""
    import os

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
            "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Strategy:
    """A built-in transformation, or a command."""

    name: str
    command: str | None = None
    timeout: float = 120.0


class _Guards(ast.NodeTransformer):
    def _strip(self, body: list[ast.stmt]) -> list[ast.stmt]:
        kept = [
            s for s in body
            if not (isinstance(s, ast.If) and not s.orelse and len(s.body) <= 2
                    and isinstance(s.body[-1], ast.Return | ast.Raise | ast.Continue | ast.Break))
        ]  # fmt: skip
        return kept or [ast.Pass()]

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            value = getattr(node, name, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                if name == "body" and isinstance(node, ast.If):
                    continue
                setattr(node, name, self._strip(value))
        return node


class _Checks(ast.NodeTransformer):
    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        args = [a.arg for a in node.args.args if a.arg not in ("self", "cls")]
        checks: list[ast.stmt] = [
            ast.parse(
                f"if {a} is None:\n    raise TypeError('{node.name}: {a} must not be None')"
            ).body[0]
            for a in args
        ]
        node.body = [*checks, *node.body]
        return node


def apply(strategy: Strategy, task: Task) -> str:
    """The solution a strategy makes for a task.

    Raises:
        ValidationError: the solution does not parse, or the command failed (the run is then
            recorded as failed with this reason).
    """
    if strategy.command is not None:
        import shutil
        import tempfile

        home = tempfile.mkdtemp(prefix="mindbank-strategy-")
        env = stripped_env(home)
        try:  # in a scratch folder of its own, with no credentials in its environment
            proc = subprocess.run(
                shlex.split(strategy.command),
                input=json.dumps({"id": task.id, "prompt": task.prompt,
                                  "solution": task.solution, "tests": task.tests}),
                capture_output=True, text=True, timeout=strategy.timeout, check=False,
                cwd=home, env=env,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ValidationError(f"strategy {strategy.name!r} timed out") from None
        except OSError as exc:
            raise ValidationError(f"strategy {strategy.name!r} could not run: {exc}") from None
        finally:
            shutil.rmtree(home, ignore_errors=True)
        if proc.returncode != 0:
            raise ValidationError(f"strategy {strategy.name!r} exited with {proc.returncode}")
        return proc.stdout
    if strategy.name == "balanced":
        return task.solution
    try:
        tree = ast.parse(task.solution)
    except SyntaxError as exc:
        raise ValidationError(f"the solution does not parse: {exc.msg}") from None
    t = _Guards() if strategy.name == "aggressive" else _Checks()
    return ast.unparse(ast.fix_missing_locations(t.visit(tree)))


def load_strategies(path: str) -> list[Strategy]:
    """Strategies from a JSON file: ``{"name": null}`` for a built-in, ``{"name": "command"}``
    or ``{"name": {"command": "...", "timeout": 300}}`` for a command strategy."""
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise ValidationError(f"{path} must be a JSON object of strategies")
    out = []
    for name, spec in data.items():
        if spec is None:
            out += parse_strategies([name])
        elif isinstance(spec, str):
            out += parse_strategies([f"{name}={spec}"])
        elif isinstance(spec, dict) and isinstance(spec.get("command"), str):
            timeout = spec.get("timeout", 120.0)
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
                raise ValidationError(f"strategy {shown(name)}: timeout must be a positive number")
            out.append(Strategy(name, spec["command"], float(timeout)))
        else:
            raise ValidationError(f"strategy {shown(name)}: give null, a command, or an object")
    return out


def parse_strategies(specs: list[str]) -> list[Strategy]:
    """``name`` for a built-in, ``name=command line`` for a command strategy."""
    out = []
    for spec in specs:
        name, sep, command = spec.partition("=")
        name = name.strip()
        if sep:
            if not command.strip():
                raise ValidationError(f"strategy {shown(name)} has an empty command")
            out.append(Strategy(name, command.strip()))
        elif name in BUILTIN:
            out.append(Strategy(name))
        else:
            raise ValidationError(
                f"unknown strategy {shown(name)}: built in are {', '.join(BUILTIN)}; "
                "a command strategy is name=command"
            )
    return out

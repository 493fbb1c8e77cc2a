"""``mindbank hooks``: mindbank inside a coding agent's session (Claude Code hooks).

Each hook reads the agent's JSON event on stdin and prints what the agent should see on stdout.
A hook never breaks the session: any error becomes one warning line on stderr and exit 0.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["hooks"]

# Claude Code event -> (our hook, matcher or None)
EVENTS = {
    "SessionStart": ("session-start", None),
    "SessionEnd": ("session-end", None),
    "UserPromptSubmit": ("pre-task", None),
    "PostToolUse": ("post-task", "Task"),
}
MARK = "-m mindbank hooks "


def _event() -> dict[str, Any]:
    raw = sys.stdin.read() if not sys.stdin.isatty() else ""
    data = json.loads(raw) if raw.strip() else {}
    return data if isinstance(data, dict) else {}


def _task_text(event: dict[str, Any]) -> str:
    raw = event.get("tool_input")
    tool_input: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for value in (
        event.get("prompt"),
        tool_input.get("prompt"),
        tool_input.get("description"),
        event.get("task"),
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _safe(name: str, fn: Callable[[dict[str, Any], Path | None], None], db: Path | None) -> None:
    start = time.perf_counter()
    try:
        fn(_event(), db)
    except BaseException as exc:  # a hook must never break the agent's session
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return
        click.echo(f"mindbank hook {name}: skipped ({type(exc).__name__}: {exc})", err=True)
    finally:
        ms = (time.perf_counter() - start) * 1000
        if ms > 200:
            click.echo(f"mindbank hook {name}: took {ms:.0f} ms", err=True)
    sys.exit(0)


def _db_option(f: Any) -> Any:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="MINDBANK_DB",
        help="Database file (default: found upward like git).",
    )(f)


@click.group()
def hooks() -> None:
    """Hooks for coding agents: context at the start of a task, outcomes at its end.

    \b
    Examples:
      mindbank hooks install              # adds them to .claude/settings.json
      echo '{"prompt": "fix the flaky retry test"}' | mindbank hooks pre-task
    """


def _session_start(event: dict[str, Any], db: Path | None) -> None:
    import mindbank
    from mindbank.bridge.claude import default_folder

    with mindbank.open(db) as mb:
        folder = default_folder()
        if folder.is_dir():  # bring the agent's memory files in
            mb.import_memory_folder(folder)
        n = mb.count()
        lessons = mb.bank.status().total_memories
        mb.events.log("session_start", "hooks", {"session_id": event.get("session_id")})
    click.echo(
        f"mindbank: {n} memories and {lessons} lessons in {mb.path}. Before a task, relevant "
        "ones are shown; store new lessons with `mindbank memory store` or the MCP tools."
    )


def _session_end(event: dict[str, Any], db: Path | None) -> None:
    import mindbank
    from mindbank.bridge.claude import default_folder

    with mindbank.open(db) as mb:
        folder = default_folder()
        if folder.is_dir():  # write changes back, and the MEMORY.md index
            mb.export_memory_folder(folder)
        mb.events.log("session_end", "hooks", {"session_id": event.get("session_id")})


def _pre_task(event: dict[str, Any], db: Path | None) -> None:
    import mindbank

    text = _task_text(event)
    if not text:
        return
    with mindbank.open(db) as mb:
        hits = mb.search(text[:500], k=5, mode="keyword")
        items = mb.bank.query(text[:500], k=3) if _semantic() and mb.bank.list(limit=1) else []
    if not hits and not items:
        return
    lines = ["Relevant memories from mindbank:"]
    for h in hits:
        value = h.entry.value if isinstance(h.entry.value, str) else json.dumps(h.entry.value)
        lines.append(f"- {h.entry.namespace}/{h.entry.key}: {' '.join(value.split())[:300]}")
    for it in items:
        lines.append(
            f"- lesson ({it.item.outcome or 'stored'}): {it.item.title}: {it.item.description[:200]}"
        )
    click.echo("\n".join(lines))


def _semantic() -> bool:
    import os

    return os.environ.get("MINDBANK_HOOKS_SEMANTIC", "").strip() in ("1", "true", "yes")


def _post_task(event: dict[str, Any], db: Path | None) -> None:
    import mindbank

    text = _task_text(event)
    if not text:
        return
    response = event.get("tool_response")
    outcome: dict[str, Any] = {}
    if isinstance(response, dict):
        for key in ("exit_code", "tests_passed", "tests_failed", "passed", "failed"):
            if isinstance(response.get(key), int) and not isinstance(response.get(key), bool):
                outcome[key] = response[key]
    steps = [{"action": event.get("tool_name", "Task"), "observation": str(response)[:2000]}]
    with mindbank.open(db) as mb:
        recorded = mb.bank.record_trajectory(
            text[:2000],
            steps,
            outcome=outcome,
            agent=str(event.get("session_id") or "") or None,
            strategy=event.get("tool_name") if isinstance(event.get("tool_name"), str) else None,
            distil=False,  # distilling loads the model: done in the background, below
        )
        path = mb.path
    if recorded.trajectory.verdict.known:
        import subprocess

        subprocess.Popen(
            [sys.executable, "-m", "mindbank", "bank", "distill", "--pending", "--db", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


@hooks.command("session-start")
@_db_option
def session_start(db: Path | None) -> None:
    """At session start: import the agent's memory folder (~/.claude/memory, or
    $MINDBANK_CLAUDE_MEMORY) if there is one, and say what mindbank holds (printed into the
    agent's context).

    \b
    Example:
      echo '{"session_id": "s1"}' | mindbank hooks session-start
    """
    _safe("session-start", _session_start, db)


@hooks.command("session-end")
@_db_option
def session_end(db: Path | None) -> None:
    """At session end: write the memory folder back (changed memories, and a MEMORY.md
    index ordered by memory-graph rank) and log the session's end.

    \b
    Example:
      echo '{"session_id": "s1"}' | mindbank hooks session-end
    """
    _safe("session-end", _session_end, db)


@hooks.command("pre-task")
@_db_option
def pre_task(db: Path | None) -> None:
    """Before a task: print the memories (and, with MINDBANK_HOOKS_SEMANTIC=1, the
    ReasoningBank lessons) relevant to its text. Reads {"prompt": ...} on stdin.

    \b
    Example:
      echo '{"prompt": "fix the flaky retry test"}' | mindbank hooks pre-task
    """
    _safe("pre-task", _pre_task, db)


@hooks.command("post-task")
@_db_option
def post_task(db: Path | None) -> None:
    """After a task: record it as a trajectory (judged by test results in the response, or
    by MINDBANK_JUDGE_CMD; else unknown), and distil it in a background process. Reads the
    agent's PostToolUse event on stdin.

    \b
    Example:
      echo '{"tool_input": {"prompt": "fix it"}, "tool_response": {"exit_code": 0}}' \\
          | mindbank hooks post-task
    """
    _safe("post-task", _post_task, db)


# -- install -----------------------------------------------------------------------------------


def _settings_path(project: Path) -> Path:
    return project / ".claude" / "settings.json"


def _read(path: Path) -> dict[str, Any]:
    from mindbank.cli.output import read_json_config

    return read_json_config(path, "hooks", "Claude Code settings")


def _write(path: Path, data: dict[str, Any]) -> None:
    from mindbank.cli.output import write_json_atomic

    write_json_atomic(path, data)


def _ours(group: Any) -> bool:
    return isinstance(group, dict) and any(
        MARK in str(h.get("command", "")) for h in group.get("hooks", []) if isinstance(h, dict)
    )


def _remove_ours(data: dict[str, Any]) -> int:
    removed = 0
    hooks_cfg = data.get("hooks", {})
    for event in list(hooks_cfg):
        groups = hooks_cfg[event]
        if not isinstance(groups, list):
            continue
        kept = [g for g in groups if not _ours(g)]
        removed += len(groups) - len(kept)
        if kept:
            hooks_cfg[event] = kept
        else:
            del hooks_cfg[event]
    if not hooks_cfg and "hooks" in data:
        del data["hooks"]
    return removed


@hooks.command()
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@_db_option
def install(project: Path, db: Path | None) -> None:
    """Add the hooks to a project's .claude/settings.json (other settings and hooks are kept;
    installing again replaces ours).

    \b
    Example:
      mindbank hooks install --project ~/code/myapp
    """
    path = _settings_path(project)
    data = _read(path)
    _remove_ours(data)
    hooks_cfg = data.setdefault("hooks", {})
    prefix = f"{sys.executable} -m mindbank hooks "
    suffix = f" --db {json.dumps(str(db.resolve()))}" if db is not None else ""
    for event, (name, matcher) in EVENTS.items():
        group: dict[str, Any] = {"hooks": [{"type": "command", "command": prefix + name + suffix}]}
        if matcher is not None:
            group["matcher"] = matcher
        hooks_cfg.setdefault(event, []).append(group)
    _write(path, data)
    click.echo(f"installed mindbank hooks ({', '.join(EVENTS)}) in {path}")


@hooks.command()
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def uninstall(project: Path) -> None:
    """Remove mindbank's hooks from a project's .claude/settings.json (everything else stays).

    \b
    Example:
      mindbank hooks uninstall --project ~/code/myapp
    """
    from mindbank.cli.output import fail

    path = _settings_path(project)
    data = _read(path)
    if not _remove_ours(data):
        fail(f"no mindbank hooks in {path}")
    _write(path, data)
    click.echo(f"removed mindbank hooks from {path}")

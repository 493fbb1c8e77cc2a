"""Hooks for coding agents, in a real temporary project, through real subprocesses."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import mindbank

from .conftest import run_mindbank


def test_hooks_round_trip_in_a_project(tmp_path: Path) -> None:
    project = tmp_path / "app"
    (project / ".claude").mkdir(parents=True)
    settings = project / ".claude" / "settings.json"
    theirs = {
        "permissions": {"allow": ["Bash(ls)"]},
        "hooks": {
            "PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "fmt"}]}]
        },
    }
    settings.write_text(json.dumps(theirs))
    db = project / ".mindbank" / "memory.db"
    with mindbank.open(db) as mb:
        mb.store("locked-db", "database is locked: use BEGIN IMMEDIATE and a busy timeout")
        mb.store("flaky-net", "retry network calls with backoff")
    r = run_mindbank("hooks", "install", "--project", str(project))
    assert r.returncode == 0, r.stderr
    data = json.loads(settings.read_text())
    assert data["permissions"] == theirs["permissions"]
    assert data["hooks"]["PostToolUse"][0]["hooks"][0]["command"] == "fmt"  # kept
    assert set(data["hooks"]) == {"SessionStart", "SessionEnd", "UserPromptSubmit", "PostToolUse"}
    r = run_mindbank("hooks", "install", "--project", str(project))  # again: no duplicates
    data = json.loads(settings.read_text())
    assert len(data["hooks"]["UserPromptSubmit"]) == 1 and len(data["hooks"]["PostToolUse"]) == 2
    # the hooks as Claude Code runs them: from the project, JSON on stdin
    r = run_mindbank("hooks", "session-start", cwd=project, input=json.dumps({"session_id": "s1"}))
    assert r.returncode == 0 and "2 memories" in r.stdout
    r = run_mindbank("hooks", "pre-task", cwd=project,
                     input=json.dumps({"prompt": "the database is locked again"}))  # fmt: skip
    assert r.returncode == 0 and "locked-db" in r.stdout
    assert all(ln.startswith("mindbank hook pre-task: took") for ln in r.stderr.splitlines())
    event = {
        "session_id": "s1",
        "tool_name": "Task",
        "tool_input": {"description": "fix the locked database", "prompt": "fix it"},
        "tool_response": {"exit_code": 0, "tests_passed": 4, "tests_failed": 0},
    }
    r = run_mindbank("hooks", "post-task", cwd=project, input=json.dumps(event))
    assert r.returncode == 0, r.stderr
    r = run_mindbank("hooks", "session-end", cwd=project, input="{}")
    assert r.returncode == 0
    deadline = time.monotonic() + 60
    while True:  # distilled by a background process
        with mindbank.open(db) as mb:
            [t] = mb.bank.trajectories()
            if t.distilled_at is not None or time.monotonic() > deadline:
                break
        time.sleep(0.2)
    with mindbank.open(db) as mb:
        [t] = mb.bank.trajectories()
        assert t.task == "fix it" and t.verdict.label == "success" and t.verdict.source == "tests"
        assert t.distilled_at is not None and mb.bank.status().total_memories >= 1
        kinds = [e.type for e in mb.events.list()]
        assert "session_start" in kinds and "session_end" in kinds
    r = run_mindbank("hooks", "uninstall", "--project", str(project))
    assert r.returncode == 0
    assert json.loads(settings.read_text()) == theirs  # exactly what was there before
    r = run_mindbank("hooks", "uninstall", "--project", str(project))
    assert r.returncode == 1


def test_a_hook_never_breaks_the_session(tmp_path: Path) -> None:
    bad_db = tmp_path / "not-a-db.txt"
    bad_db.write_text("hello")
    for hook in ("session-start", "pre-task", "post-task", "session-end"):
        r = run_mindbank("hooks", hook, "--db", str(bad_db), input=json.dumps({"prompt": "x"}))
        assert r.returncode == 0, (hook, r.stderr)
        assert r.stderr.count("\n") <= 2 and "skipped" in r.stderr, (hook, r.stderr)
        assert bad_db.read_text() == "hello"
    r = run_mindbank("hooks", "pre-task", "--db", str(tmp_path / "m.db"), input="not json")
    assert r.returncode == 0 and "skipped" in r.stderr
    r = run_mindbank("hooks", "pre-task", "--db", str(tmp_path / "m.db"), input="")
    assert r.returncode == 0 and r.stdout == ""


def test_memory_bridge_import_export_and_index(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    folder.mkdir()
    (folder / "api-design.json").write_text(json.dumps({"value": "Use REST", "tags": ["api"]}))
    (folder / "many.json").write_text(json.dumps([
        {"key": "db", "content": "SQLite in WAL mode"},
        {"key": "limits", "value": {"rps": 100}, "metadata": {"by": "ops"}},
    ]))  # fmt: skip
    (folder / "broken.json").write_text("{not json")
    (folder / "empty.json").write_text(json.dumps({"key": "x"}))
    db = tmp_path / "m.db"
    with mindbank.open(db) as mb:
        report = mb.import_memory_folder(folder)
        assert sorted(report.written) == ["api-design", "db", "limits"]
        assert len(report.skipped) == 2 and any("broken.json" in s for s in report.skipped)
        assert mb.retrieve("limits", namespace="claude").value == {"rps": 100}
        again = mb.import_memory_folder(folder)
        assert again.written == () and again.unchanged == 3
        mb.store("db", "SQLite in WAL mode, busy timeout 5 s", namespace="claude",
                 metadata={"source_file": "many.json"})  # fmt: skip
        mb.store("new-lesson", "Pin dependencies", namespace="claude")
        mb.feedback("new-lesson", 1.0, namespace="claude")
        mb.feedback("api-design", 1.0, namespace="claude")
        mb.build_graph()
        out = mb.export_memory_folder(folder)
        assert "new-lesson" in out.written
    many = json.loads((folder / "many.json").read_text())  # both memories of that file kept
    assert [m["key"] for m in many] == ["db", "limits"]
    assert many[0]["value"] == "SQLite in WAL mode, busy timeout 5 s"
    saved = json.loads((folder / "new-lesson.json").read_text())
    assert saved == {"key": "new-lesson", "value": "Pin dependencies"}
    index = (folder / "MEMORY.md").read_text().splitlines()
    listed = [ln for ln in index if ln.startswith("- **")]
    assert len(listed) == 4 and all("(rank " in ln for ln in listed)
    assert (folder / "broken.json").read_text() == "{not json"  # never touched
    # the hooks do the same at session start and end
    env = {"MINDBANK_CLAUDE_MEMORY": str(folder)}
    (folder / "fresh.json").write_text(json.dumps({"value": "from the agent"}))
    r = run_mindbank("hooks", "session-start", "--db", str(db), input="{}", env=env)
    # (a hook over its time budget says so: a loaded machine is not an error)
    assert r.returncode == 0 and all(
        ln.startswith("mindbank hook session-start: took") for ln in r.stderr.splitlines()
    ), r.stderr
    with mindbank.open(db) as mb:
        assert mb.retrieve("fresh", namespace="claude").value == "from the agent"
        mb.store("from-mindbank", "written back at session end", namespace="claude")
    r = run_mindbank("hooks", "session-end", "--db", str(db), input="{}", env=env)
    assert r.returncode == 0 and (folder / "from-mindbank.json").exists()
    r = run_mindbank(
        "memory", "bridge", "import", "--folder", str(tmp_path / "nope"), "--db", str(db)
    )
    assert r.returncode == 1 and "no memory folder" in r.stderr


def test_hooks_running_in_parallel_lose_nothing(tmp_path: Path) -> None:
    """Claude Code runs hooks of parallel subagents at once: eight hook processes on one
    database, each finds its memory and records its outcome."""
    import subprocess
    import sys

    db = tmp_path / "m.db"
    with mindbank.open(db) as mb:
        mb.store("locked-db", "database is locked: use BEGIN IMMEDIATE and a busy timeout")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDBANK_")}
    env["MINDBANK_EMBEDDER"] = "hashing"
    procs = []
    for i in range(4):
        pre = json.dumps({"prompt": f"the database is locked again ({i})"})
        post = json.dumps(
            {
                "session_id": f"s{i}",
                "tool_name": "Task",
                "tool_input": {"description": f"task {i}", "prompt": f"fix the lock, attempt {i}"},
                "tool_response": {"exit_code": 0, "tests_passed": 2, "tests_failed": 0},
            }
        )
        for hook, data in (("pre-task", pre), ("post-task", post)):
            p = subprocess.Popen(
                [sys.executable, "-m", "mindbank", "hooks", hook, "--db", str(db)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            procs.append((hook, p, data))
    outs = [(hook, *p.communicate(data, timeout=120), p.returncode) for hook, p, data in procs]
    for hook, out, err, code in outs:
        # (a hook over its time budget says so on stderr: eight at once on two cores are slow)
        assert code == 0 and all(" took " in line for line in err.splitlines()), (hook, err)
        if hook == "pre-task":
            assert "locked-db" in out
    with mindbank.open(db) as mb:
        tasks = sorted(t.task for t in mb.bank.trajectories())
        assert tasks == [f"fix the lock, attempt {i}" for i in range(4)]
        assert mb.check().ok

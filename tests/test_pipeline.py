"""The training pipeline with real pytest runs: tasks, strategies, limits, learning, files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import mindbank
from mindbank import ValidationError
from mindbank.pipeline import learning
from mindbank.pipeline.runner import run_one, score
from mindbank.pipeline.strategies import Strategy, apply, parse_strategies
from mindbank.pipeline.tasks import Task, from_folder, from_jsonl, from_mbpp

from .conftest import FakeClock, run_mindbank

MEAN = Task(
    "mean", "Return the mean of a list (0 for an empty list)",
    "def mean(xs):\n    if not xs:\n        return 0\n    return sum(xs) / len(xs)\n",
    "from solution import mean\n\ndef test_mean():\n    assert mean([1, 2]) == 1.5\n\n"
    "def test_empty():\n    assert mean([]) == 0\n",
    "easy",
)  # fmt: skip


@pytest.fixture
def db_path(both_db: Path | str) -> Path | str:
    """The tests that open a database run on SQLite and on PostgreSQL."""
    return both_db


def test_strategies_change_real_behaviour() -> None:
    balanced = run_one(MEAN, Strategy("balanced"), lint=False)
    aggressive = run_one(MEAN, Strategy("aggressive"), lint=False)
    assert (balanced.status, balanced.passed, balanced.failed) == ("passed", 2, 0)
    assert aggressive.status == "failed" and aggressive.passed == 1
    assert "ZeroDivisionError" in aggressive.reason
    conservative = apply(Strategy("conservative"), MEAN)
    assert "raise TypeError" in conservative
    # seconds are reported rounded; the score was computed before rounding
    assert balanced.score == pytest.approx(score(1.0, None, balanced.seconds), abs=0.01)


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "tasks"
    cases = {
        "ok": ("def add(a, b):\n    return a + b\n",
               "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"),
        "no-tests": ("def f():\n    return 1\n", None),
        "bad-tests": ("def f():\n    return 1\n", "def test_(:\n"),
        "loops": ("def f():\n    while True:\n        pass\n",
                  "from solution import f\n\ndef test_f():\n    f()\n"),
        "hog": ("def f():\n    return bytearray(10 * 1024 ** 3)\n",
                "from solution import f\n\ndef test_f():\n    assert f()\n"),
    }  # fmt: skip
    for name, (code, tests) in cases.items():
        d = root / name
        d.mkdir(parents=True)
        (d / "solution.py").write_text(code)
        if tests is not None:
            (d / "test_task.py").write_text(tests)
        (d / "task.json").write_text(json.dumps({"prompt": f"task {name}", "complexity": "easy"}))
    return root


def test_bad_tasks_are_recorded_and_the_pipeline_goes_on(
    tmp_path: Path, db_path: Path, clock: FakeClock
) -> None:
    tasks = from_folder(_folder(tmp_path))
    with mindbank.open(db_path, clock=clock) as mb:
        results = mb.pipeline.run(tasks, [Strategy("balanced")], workers=2, wall_seconds=5,
                                  lint=False)  # fmt: skip
    by = {r.task_id: r for r in results}
    assert by["ok"].status == "passed"
    assert (by["no-tests"].status, by["no-tests"].reason) == ("error", "the task has no tests")
    assert by["bad-tests"].status == "error" and "does not parse" in by["bad-tests"].reason
    assert by["loops"].status == "timeout" and by["loops"].reason == "over 5 s"
    assert by["hog"].status == "failed" and "MemoryError" in by["hog"].reason  # 2 GiB limit


def test_command_strategies(tmp_path: Path, db_path: Path, clock: FakeClock) -> None:
    good = tmp_path / "good.py"
    good.write_text(
        "import json, sys\nt = json.load(sys.stdin)\n"
        "print('def mean(xs):\\n    return sum(xs) / len(xs) if xs else 0\\n')\n"
    )
    hangs = tmp_path / "hangs.py"
    hangs.write_text("import time\ntime.sleep(60)\n")
    garbage = tmp_path / "garbage.py"
    garbage.write_text("print('this is not python ((((')\n")
    py = sys.executable
    strategies = [
        Strategy("good", f"{py} {good}"),
        Strategy("hangs", f"{py} {hangs}", timeout=2),
        Strategy("garbage", f"{py} {garbage}"),
    ]
    with mindbank.open(db_path, clock=clock) as mb:
        results = {r.strategy: r for r in mb.pipeline.run([MEAN], strategies, lint=False)}
        assert results["good"].status == "passed"
        assert results["hangs"].status == "error" and "timed out" in results["hangs"].reason
        assert results["garbage"].status in ("error", "crashed")
        report = {r["strategy"]: r for r in mb.pipeline.report()}
        assert report["good"]["success_rate"] == 1.0 and report["hangs"]["success_rate"] == 0.0
    with pytest.raises(ValidationError, match="unknown strategy"):
        parse_strategies(["sideways"])
    assert parse_strategies(["a=my-agent --fast"])[0].command == "my-agent --fast"


def test_mbpp_runs_learn_and_feed_the_bank(db_path: Path, clock: FakeClock) -> None:
    # Three tasks in MBPP's format (written for these tests: the suite needs nothing beside
    # the project; the real MBPP set is for bench/).
    tasks = from_mbpp(Path(__file__).parent / "data" / "mbpp-sample.json")
    assert len(tasks) == 3
    strategies = [Strategy(s) for s in ("conservative", "balanced", "aggressive")]
    with mindbank.open(db_path, clock=clock) as mb:
        results = mb.pipeline.run(tasks, strategies, workers=2)
        assert len(results) == 9 and all(r.lint is not None for r in results)
        assert {r.status for r in results if r.strategy == "balanced"} == {"passed"}
        profiles = {(p.strategy, p.kind): p for p in mb.pipeline.status()}
        assert profiles[("balanced", "*")].uses == 3
        sel = mb.pipeline.select("*", "production")
        assert (
            sel.strategy in {"conservative", "balanced", "aggressive"}
            and "success rate" in sel.reason
        )
        trajectories = mb.bank.trajectories(namespace="pipeline", limit=100)
        assert len(trajectories) == 9 and all(t.verdict.source == "tests" for t in trajectories)
        log = (mb.pipeline.folder / "pipeline-log.jsonl").read_text().splitlines()
        assert len(log) == 9 and json.loads(log[0])["task_id"].startswith("mbpp-")
        saved = json.loads((mb.pipeline.folder / "profiles.json").read_text())
        assert {p["strategy"] for p in saved} == {"conservative", "balanced", "aggressive"}


def test_learning_rules() -> None:
    runs = [{"strategy": "a", "kind": "easy", "status": s, "score": sc, "seconds": 1.0}
            for s, sc in (("passed", 100), ("failed", 50), ("passed", 100))]  # fmt: skip
    p = learning.profiles(runs)[("a", "easy")]
    assert p.success_rate == pytest.approx((1 * 0.6 + 0) * 0.6 + 0.4)  # EMA, rate 0.4
    assert p.uses == 3 and p.successes == 2 and p.trend is None
    v = learning.validate({"success_rate": 0.0, "avg_seconds": 2.0, "avg_score": 80},
                          {"success_rate": 0.5, "avg_seconds": 1.0, "avg_score": 81})  # fmt: skip
    assert v["success_rate"]["change"] is None and v["success_rate"]["verdict"] == "improved"
    assert v["avg_seconds"]["verdict"] == "improved"  # lower time is better
    assert v["avg_score"]["verdict"] == "unchanged"  # +1.25 % is within 5 %
    with pytest.raises(ValidationError, match="no runs"):
        learning.select({}, "easy")
    with pytest.raises(ValidationError, match="priorities"):
        learning.select(learning.profiles(runs), "easy", "reckless")


def test_tasks_from_jsonl_and_cli(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "t1", "prompt": "double", "solution": "def d(x):\n    return 2 * x\n",
                         "tests": ["assert d(2) == 4", "assert d(0) == 0"]})]  # fmt: skip
    [task] = from_jsonl(lines)
    assert task.complexity == "easy" and "def test_1" in task.tests
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    db = str(tmp_path / "m.db")
    r = run_mindbank("pipeline", "run", "--tasks", str(path), "--strategies", "balanced,aggressive",
                     "--workers", "1", "--db", db, "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert {x["status"] for x in json.loads(r.stdout)["runs"]} == {"passed"}
    r = run_mindbank("pipeline", "status", "--db", db, "--json")
    assert {p["strategy"] for p in json.loads(r.stdout)} == {"balanced", "aggressive"}
    r = run_mindbank("pipeline", "select", "--kind", "easy", "--db", db)
    assert r.returncode == 0 and "success rate" in r.stdout
    r = run_mindbank(
        "pipeline", "run", "--tasks", str(path), "--strategies", "sideways", "--db", db
    )
    assert r.returncode == 1 and "unknown strategy" in r.stderr


def test_train_and_stream(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({"id": "t1", "prompt": "half",
                                "solution": "def h(x):\n    if x == 0:\n        return 0\n    return 10 / x / 2\n",
                                "tests": ["assert h(0) == 0", "assert h(5) == 1"]}) + "\n")  # fmt: skip
    db = str(tmp_path / "m.db")
    args = ["pipeline", "train-and-stream", "t1", "--tasks", str(path), "--db", db, "--json",
            "--strategies", "aggressive,balanced"]  # fmt: skip
    first = json.loads(run_mindbank(*args).stdout)
    assert first["strategy"] == "aggressive" and "no runs yet" in first["why"]
    assert first["run"]["status"] == "failed"  # the guard it removed was needed
    run_mindbank("pipeline", "run", "--tasks", str(path), "--strategies", "balanced", "--db", db)
    second = json.loads(run_mindbank(*args).stdout)
    assert second["strategy"] == "balanced" and second["run"]["status"] == "passed"
    r = run_mindbank("pipeline", "train-and-stream", "nope", "--tasks", str(path), "--db", db)
    assert r.returncode == 1 and "no task 'nope'" in r.stderr


def test_builtin_bank_runs_for_real() -> None:
    from collections import Counter

    from mindbank.pipeline.tasks import builtin

    tasks = builtin()
    assert Counter(t.complexity for t in tasks) == {"easy": 10, "medium": 10, "hard": 10}
    assert any("wsgi" in t.tests.lower() for t in tasks)  # the small HTTP API
    api = next(t for t in tasks if t.id == "hard-http-api")
    assert run_one(api, Strategy("balanced"), lint=False).status == "passed"
    assert run_one(api, Strategy("aggressive"), lint=False).status == "failed"


@pytest.mark.slow
def test_every_builtin_reference_solution_passes(tmp_path: Path, clock: FakeClock) -> None:
    db_path = tmp_path / "memory.db"
    from mindbank.pipeline.tasks import builtin

    with mindbank.open(db_path, clock=clock) as mb:
        results = mb.pipeline.run(builtin(), [Strategy("balanced")], workers=2)
    assert [r.task_id for r in results if r.status != "passed"] == []


def test_report_chart(tmp_path: Path) -> None:
    import importlib.util

    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({"id": "t", "solution": "def f():\n    return 1\n",
                                "tests": ["assert f() == 1"]}) + "\n")  # fmt: skip
    db = str(tmp_path / "m.db")
    run_mindbank("pipeline", "run", "--tasks", str(path), "--strategies", "balanced", "--db", db)
    png = tmp_path / "trend.png"
    r = run_mindbank("pipeline", "report", "--chart", str(png), "--db", db)
    if importlib.util.find_spec("matplotlib") is None:
        assert r.returncode == 1 and "matplotlib" in r.stderr
    else:
        assert r.returncode == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_strategies_file_and_validate(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "t", "solution": "def f(x):\n    if x is None:\n        return 0\n    return x\n",
                                 "tests": ["assert f(None) == 0", "assert f(2) == 2"]}) + "\n")  # fmt: skip
    agent = tmp_path / "agent.py"
    agent.write_text("print('def f(x):\\n    return x or 0\\n')\n")
    strategies = tmp_path / "strategies.json"
    strategies.write_text(json.dumps({"balanced": None, "agent": {"command": f"{sys.executable} {agent}",
                                                                  "timeout": 30}}))  # fmt: skip
    r = run_mindbank("pipeline", "strategies", "--file", str(strategies))
    assert "- balanced: built in" in r.stdout and "- agent: " in r.stdout
    db = str(tmp_path / "m.db")
    args = ["pipeline", "run", "--tasks", str(tasks), "--strategies-file", str(strategies),
            "--validate", "--db", db, "--json"]  # fmt: skip
    first = json.loads(run_mindbank(*args).stdout)
    assert {r["strategy"]: r["status"] for r in first["runs"]} == {
        "balanced": "passed",
        "agent": "passed",
    }
    assert first["validation"] == {"balanced": {}, "agent": {}}  # nothing before
    second = json.loads(run_mindbank(*args).stdout)
    v = second["validation"]["balanced"]
    assert v["success_rate"]["verdict"] == "unchanged" and set(v) == {
        "success_rate",
        "avg_score",
        "avg_seconds",
    }
    strategies.write_text("[1, 2]")
    r = run_mindbank(
        "pipeline", "run", "--tasks", str(tasks), "--strategies-file", str(strategies), "--db", db
    )
    assert r.returncode == 1 and "JSON object of strategies" in r.stderr

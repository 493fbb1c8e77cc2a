"""The pipeline: run tasks under strategies on a worker pool, store the runs, learn.

Every run is stored in ``pipeline_runs``, appended to ``pipeline-log.jsonl`` and handed to
``on_result`` (the engine records it as a ReasoningBank trajectory, judged by its tests);
``profiles.json`` is rewritten after each batch. Both files live in the pipeline folder
(``.mindbank/pipeline/`` beside the database by default).
"""

from __future__ import annotations

import builtins
import json
import reprlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mindbank.errors import ValidationError
from mindbank.memory.validation import check_finite
from mindbank.pipeline import learning
from mindbank.pipeline.runner import RunResult, run_one
from mindbank.pipeline.strategies import Strategy
from mindbank.pipeline.tasks import Task
from mindbank.store.database import Database
from mindbank.store.locking import serialized, unlocked
from mindbank.store.pipeline import PipelineRepo

__all__ = ["Pipeline"]


@serialized
class Pipeline:
    """Get one as ``mb.pipeline``."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        folder: Path,
        on_result: Callable[[RunResult, Task], None] | None = None,
    ):
        self._db = db
        self._lock = db.lock  # (mindbank.store.locking)
        self._repo = PipelineRepo(db)
        self._clock = clock
        self.folder = folder
        self._on_result = on_result

    @unlocked  # minutes of test runs touch no database: only the writes below take the lock
    def run(
        self,
        tasks: Sequence[Task],
        strategies: Sequence[Strategy],
        *,
        workers: int = 2,
        iterations: int = 1,
        lint: bool = True,
        wall_seconds: float = 60.0,
        progress: Callable[[RunResult], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> builtins.list[RunResult]:
        """Run every task under every strategy (``iterations`` times) on ``workers`` threads
        (each run is its own process); store and learn from the results. Once ``stop()`` says
        so, runs not started yet are skipped; the finished ones are stored."""
        if not tasks:
            raise ValidationError("no tasks to run")
        if not strategies:
            raise ValidationError("no strategies to run")
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
            raise ValidationError(
                f"workers must be an integer from 1 to 64, got {reprlib.repr(workers)}"
            )
        if (
            isinstance(iterations, bool)
            or not isinstance(iterations, int)
            or not (1 <= iterations <= 1000)
        ):
            raise ValidationError(
                f"iterations must be from 1 to 1,000, got {reprlib.repr(iterations)}"
            )
        check_finite(wall_seconds, "the time limit (seconds)", 0.1, 86_400)
        jobs = [(t, s) for _ in range(iterations) for t in tasks for s in strategies]

        def one(job: tuple[Task, Strategy]) -> RunResult | None:
            if stop is not None and stop():
                return None
            return run_one(job[0], job[1], lint, wall_seconds)

        done: list[tuple[Task, RunResult]] = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for (task, _), r in zip(jobs, pool.map(one, jobs), strict=True):
                if r is None:
                    continue
                done.append((task, r))
                if progress is not None:
                    progress(r)
        results = [r for _, r in done]
        with self._db.transaction():
            self._repo.add([r.to_dict() for r in results], self._clock())
        if self._on_result is not None:
            for task, r in done:
                self._on_result(r, task)
        self._write_files(results)
        return results

    def _write_files(self, results: Sequence[RunResult]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "pipeline-log.jsonl").open("a", encoding="utf-8") as fh:
            for r in results:
                fh.write(json.dumps({"at": self._clock(), **r.to_dict()}) + "\n")
        tmp = self.folder / ".profiles.json.tmp"
        tmp.write_text(json.dumps([p.to_dict() for p in self.status()], indent=2) + "\n")
        tmp.replace(self.folder / "profiles.json")

    def status(self) -> builtins.list[learning.Profile]:
        """Profiles per strategy and task kind (kind ``*`` is all kinds), from every run."""
        profs = learning.profiles(self._repo.runs())
        return sorted(profs.values(), key=lambda p: (p.kind != "*", p.kind, p.strategy))

    def select(
        self,
        kind: str = "*",
        priorities: Mapping[str, float] | str = "balanced",
        strategies: Sequence[str] | None = None,
    ) -> learning.Selection:
        """The strategy to use for a task of this kind under the priorities, and why."""
        return learning.select(learning.profiles(self._repo.runs()), kind, priorities, strategies)

    def report(self) -> builtins.list[dict[str, Any]]:
        """Per strategy over all runs: runs, success rate (plain), mean score and time."""
        by: dict[str, list[dict[str, Any]]] = {}
        for r in self._repo.runs():
            by.setdefault(r["strategy"], []).append(r)
        out = []
        for name, rs in sorted(by.items()):
            n = len(rs)
            out.append({
                "strategy": name, "runs": n,
                "success_rate": sum(r["status"] == "passed" for r in rs) / n,
                "avg_score": sum(r["score"] for r in rs) / n,
                "avg_seconds": sum(r["seconds"] for r in rs) / n,
                "crashed_or_timed_out": sum(r["status"] in ("crashed", "timeout") for r in rs),
            })  # fmt: skip
        return out

    def runs(self) -> builtins.list[dict[str, Any]]:
        """Every stored run, oldest first."""
        return self._repo.runs()

"""SQL of the training pipeline's runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mindbank.store.database import Database

__all__ = ["PipelineRepo"]

_COLS = "task_id, kind, strategy, passed, failed, errors, lint, seconds, status, reason, score"


class PipelineRepo:
    """Reads and writes ``pipeline_runs``."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, rows: Sequence[dict[str, Any]], now: float) -> None:
        """Store runs (call inside a transaction)."""
        self.db.executemany(
            f"INSERT INTO pipeline_runs ({_COLS}, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r["task_id"], r["kind"], r["strategy"], r["passed"], r["failed"], r["errors"],
              r["lint"], r["seconds"], r["status"], r["reason"], r["score"], now) for r in rows],
        )  # fmt: skip

    def runs(self, strategy: str | None = None) -> list[dict[str, Any]]:
        """Every run, oldest first."""
        sql = f"SELECT {_COLS}, at FROM pipeline_runs"
        params: tuple[Any, ...] = ()
        if strategy is not None:
            sql += " WHERE strategy = ?"
            params = (strategy,)
        names = [*(c.strip() for c in _COLS.split(",")), "at"]
        return [dict(zip(names, r, strict=True)) for r in self.db.run(sql + " ORDER BY id", params)]

    def since(self, after: int) -> list[tuple[int, dict[str, Any]]]:
        """``(id, run)`` of the runs stored after run ``after``, oldest first."""
        names = [*(c.strip() for c in _COLS.split(",")), "at"]
        rows = self.db.run(
            f"SELECT id, {_COLS}, at FROM pipeline_runs WHERE id > ? ORDER BY id", (after,)
        )
        return [(int(r[0]), dict(zip(names, r[1:], strict=True))) for r in rows]

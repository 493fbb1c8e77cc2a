"""Training records from what mindbank already holds: the training pipeline's runs.

A pattern type says what a model learns from them:

- ``prediction``: whether a run passes (target ``outcome``: passed / failed) from the task
  kind and the strategy.
- ``coordination``: which strategy to assign a task kind (target ``strategy``), from the runs
  that passed.
- ``optimization``: how long a run takes (target ``seconds``, regression) from the task kind
  and the strategy.

Records carry the run's id as a watermark: a model remembers the last run it learned from
(``metrics.watermarks.pipeline_runs``), and ``model-update --from pipeline`` trains only on
the runs stored since.
"""

from __future__ import annotations

from typing import Any

from mindbank.errors import ValidationError, shown
from mindbank.store.database import Database
from mindbank.store.pipeline import PipelineRepo

__all__ = ["PATTERN_TYPES", "pipeline_records"]

# pattern type -> (target, output head)
PATTERN_TYPES = {
    "prediction": ("outcome", "softmax"),
    "coordination": ("strategy", "softmax"),
    "optimization": ("seconds", "linear"),
}


def pipeline_records(
    db: Database, pattern_type: str = "prediction", after: int = 0
) -> tuple[list[dict[str, Any]], str, str, int]:
    """``(records, target, head, last run id)`` from the runs stored after run ``after``.

    Raises:
        ValidationError: an unknown pattern type.
    """
    if pattern_type not in PATTERN_TYPES:
        raise ValidationError(
            f"unknown pattern type {shown(pattern_type)} (known: {', '.join(PATTERN_TYPES)})"
        )
    target, head = PATTERN_TYPES[pattern_type]
    runs = PipelineRepo(db).since(after)
    last = runs[-1][0] if runs else after
    records: list[dict[str, Any]] = []
    for _, r in runs:
        passed = r["status"] == "passed"
        if pattern_type == "coordination":
            if passed:
                records.append({"kind": r["kind"], "strategy": r["strategy"]})
        elif pattern_type == "prediction":
            records.append(
                {"kind": r["kind"], "strategy": r["strategy"],
                 "outcome": "passed" if passed else "failed"}
            )  # fmt: skip
        else:
            records.append(
                {"kind": r["kind"], "strategy": r["strategy"], "seconds": float(r["seconds"])}
            )
    return records, target, head, last

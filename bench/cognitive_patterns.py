"""Cognitive patterns on a hand-labelled set: zero-shot, then after learning.

``bench/data/cognitive_ops.tsv``: 120 software operations, 20 per pattern, written and
labelled by hand by mindbank's developers (not taken from any data set). Measured with the
default model:

- zero-shot: each operation analyzed against the six patterns' descriptions and examples only;
- learned (2-fold): learn one half's labels, analyze the other half, and the reverse;
  the mean of both folds.

Baselines: chance 1/6 (6 balanced classes), and the majority class (also 1/6 here).

Run: ``python bench/cognitive_patterns.py``.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import mindbank

HERE = Path(__file__).resolve().parent


def load() -> list[tuple[str, str]]:
    rows = []
    for line in (HERE / "data" / "cognitive_ops.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, op = line.split("\t")
            rows.append((pattern, op))
    return rows


def accuracy(mb: mindbank.MindBank, rows: list[tuple[str, str]]) -> float:
    return sum(mb.neural.patterns.analyze(op).pattern == p for p, op in rows) / len(rows)


def main() -> None:
    rows = load()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        with mindbank.open(Path(tmp) / "zero.db") as mb:
            zero = accuracy(mb, rows)
        shuffled = rows[:]
        random.Random(0).shuffle(shuffled)
        halves = [shuffled[::2], shuffled[1::2]]
        learned, plain = [], []
        for i in (0, 1):
            with mindbank.open(Path(tmp) / f"fold{i}.db") as mb:
                plain.append(accuracy(mb, halves[1 - i]))
                mb.neural.patterns.learn_many([(op, p, None) for p, op in halves[i]])
                learned.append(accuracy(mb, halves[1 - i]))
    print(f"{len(rows)} hand-labelled operations, 6 patterns ({time.perf_counter() - t0:.1f} s)")
    print(f"  zero-shot accuracy:             {zero:.3f}")
    print(f"  each half, zero-shot:           {sum(plain) / 2:.3f} "
          f"(folds {plain[0]:.3f}, {plain[1]:.3f})")  # fmt: skip
    print(f"  each half, after learning the other: {sum(learned) / 2:.3f} "
          f"(folds {learned[0]:.3f}, {learned[1]:.3f})")  # fmt: skip
    print(f"  chance / majority class:        {1 / 6:.3f}")


if __name__ == "__main__":
    main()

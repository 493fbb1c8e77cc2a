"""Consolidation speed and what it finds, on real text with real vectors.

Items: lessons distilled from the MBPP tasks (``bench/mbpp_runs.py``) under four strategies,
recorded several times over with slightly different wording, the way an agent relearns the
same thing: so there are true near-duplicates (same lesson, reworded), true contradictions
(same task, opposite outcome) and many distinct items. Vectors from the default model.

Prints, at 1,000 / 5,000 / 10,000 items: consolidation wall time (target < 10 s at 10,000),
what it merged, linked and archived, and the time of its pair search against a baseline
measured in the same run: one row at a time against all later rows (what a per-item
neighbour lookup does). A second run must change nothing (idempotence).

Run: ``python bench/bank_consolidate.py`` (embedding 10,000 texts takes a minute or two).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import mindbank
from mindbank.config import BankSettings, Settings
from mindbank.embedders import load_embedder
from mindbank.reasoning.bank import item_text
from mindbank.vectors.pairs import similar_pairs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bank_learning import CachingEmbedder  # noqa: E402
from mbpp_runs import STRATEGIES, load_tasks  # noqa: E402

WORDINGS = (
    "{s} works for this task: {p}",
    "Using {s} on “{p}” passed the tests",
    "{s} strategy succeeded: {p}",
    "Pitfall: {s} fails on {p}",
    "Do not use {s} for: {p}",
    "{s} broke the tests of {p}",
)


def texts(n: int) -> list[tuple[str, str, str]]:
    """(text, strategy, outcome) for n items."""
    out = []
    tasks = load_tasks()
    i = 0
    while len(out) < n:
        t = tasks[i % len(tasks)]
        s = STRATEGIES[(i // len(tasks)) % len(STRATEGIES)]
        w = WORDINGS[(i // (len(tasks) * len(STRATEGIES))) % len(WORDINGS)]
        outcome = "success" if WORDINGS.index(w) < 3 else "failure"
        out.append((w.format(s=s, p=t["prompt"]), s, outcome))
        i += 1
    return out


def baseline_pairs(m: np.ndarray, threshold: float) -> int:
    found = 0
    for i in range(len(m) - 1):
        found += int(np.count_nonzero(m[i + 1 :] @ m[i] >= threshold))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument(
        "--baseline-max", type=int, default=5000, help="run the row-by-row baseline up to here"
    )
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    items = texts(max(sizes))
    emb = CachingEmbedder(load_embedder(args.embedder))
    t0 = time.perf_counter()
    emb.embed([item_text(f"item-{i}", "", t) for i, (t, _, _) in enumerate(items)])
    print(f"embedded {len(items)} texts in {time.perf_counter() - t0:.1f} s", flush=True)
    work = Path(tempfile.mkdtemp(prefix="mindbank-consolidate-"))
    for n in sizes:
        db = work / f"c{n}.db"
        settings = Settings(bank=BankSettings())
        with mindbank.open(db, embedder=emb, settings=settings) as mb:
            t0 = time.perf_counter()
            with mb.transaction():
                for i, (text, s, outcome) in enumerate(items[:n]):
                    mb.bank.store(
                        f"item-{i}", text, namespace="mbpp", confidence=0.7, strategy=s,
                        outcome=outcome,
                    )  # fmt: skip
            fill = time.perf_counter() - t0
            print(f"  stored {n} items in {fill:.1f} s", flush=True)
            t0 = time.perf_counter()
            report = mb.bank.consolidate()
            took = time.perf_counter() - t0
            again = mb.bank.consolidate()
            mirror = mb.bank._mirror
            assert mirror is not None
            m = mirror.content[mirror.rows()]
            thr = min(mb.bank.settings.duplicate, mb.bank.settings.contradiction)
            t0 = time.perf_counter()
            fast = len(similar_pairs(m, thr))
            t_fast = time.perf_counter() - t0
            line = (
                f"{n:>6} items: consolidate {took:6.2f} s (target < 10 s) | merged "
                f"{len(report.merged)}, contradictions {len(report.contradictions)}, archived "
                f"{len(report.archived)} | again: changed={again.changed} | pair search "
                f"{t_fast:.2f} s, {fast} pairs"
            )
            if n <= args.baseline_max:
                t0 = time.perf_counter()
                slow = baseline_pairs(m, thr)
                t_slow = time.perf_counter() - t0
                # the two sum in different orders: a pair within float rounding of the
                # threshold may fall on either side
                line += f" | row by row {t_slow:.2f} s, {slow} pairs (x{t_slow / t_fast:.1f})"
        print(line, flush=True)


if __name__ == "__main__":
    main()

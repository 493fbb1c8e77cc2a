"""Does the pipeline learn which strategy to use? Held-out MBPP, and two selectors' regret.

1. Learn on 300 MBPP tasks (all three built-in strategies, real pytest runs), then on the 127
   others compare the pass rate of the learned selection (per task kind, reliability first)
   against random choice (the mean over strategies) and against always "balanced".
2. On all 427 tasks' recorded runs, in a shuffled order: greedy selectors on the EMA profiles
   (rate 0.4) and on plain success rates, and a Thompson-sampling selector, each pick a
   strategy per task, see its real outcome, and learn; regret is the number of tasks where a
   strategy would have passed but the one picked did not.

Run: ``python bench/pipeline_learning.py [--workers 2]`` (about 15 minutes on two cores:
1,281 real pytest runs; they are kept in /tmp/mindbank-bench-pipeline/ and reused).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import mindbank
from mindbank.pipeline import learning
from mindbank.pipeline.strategies import Strategy
from mindbank.pipeline.tasks import from_mbpp

# The MBPP tasks beside the project (../shared/data; MINDBANK_MBPP names another copy).
MBPP = Path(
    os.environ.get("MINDBANK_MBPP")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "sanitized-mbpp.json"
)

NAMES = ("conservative", "balanced", "aggressive")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="fewer tasks, for a quick look")
    args = parser.parse_args()
    tasks = from_mbpp(MBPP)
    random.Random(0).shuffle(tasks)
    if args.limit:
        tasks = tasks[: args.limit]
    cut = round(len(tasks) * 300 / 427)
    train, test = tasks[:cut], tasks[cut:]
    strategies = [Strategy(n) for n in NAMES]
    t0 = time.perf_counter()
    cache = Path(tempfile.gettempdir()) / "mindbank-bench-pipeline" / "runs.json"
    if cache.exists() and not args.limit:  # the real runs of an earlier run of this benchmark
        saved = json.loads(cache.read_text())
        train_runs = [r for r in saved if r["task_id"] in {t.id for t in train}]
        test_runs = [r for r in saved if r["task_id"] in {t.id for t in test}]
        print(f"(reusing the {len(saved)} runs recorded in {cache})")
    else:
        with (
            tempfile.TemporaryDirectory() as tmp,
            mindbank.open(Path(tmp) / "m.db", embedder="hashing") as mb,
        ):
            mb.pipeline.run(train, strategies, workers=args.workers, lint=False)
            train_runs = mb.pipeline.runs()
            mb.pipeline.run(test, strategies, workers=args.workers, lint=False)
            test_runs = mb.pipeline.runs()[len(train_runs) :]
        if not args.limit:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps([*train_runs, *test_runs]))
    took = time.perf_counter() - t0
    profs = learning.profiles(train_runs)
    outcome = {(r["task_id"], r["strategy"]): r["status"] == "passed"
               for r in [*train_runs, *test_runs]}  # fmt: skip
    kind = {t.id: t.kind for t in tasks}
    learned = plain = balanced = rand = 0.0
    for t in test:
        pick = learning.select(profs, t.kind, {"reliability": 1.0}, rate="ema").strategy
        learned += outcome[(t.id, pick)]
        pick = learning.select(profs, t.kind, {"reliability": 1.0}, rate="plain").strategy
        plain += outcome[(t.id, pick)]
        balanced += outcome[(t.id, "balanced")]
        rand += sum(outcome[(t.id, n)] for n in NAMES) / len(NAMES)
    n = len(test)
    print(f"{len(train_runs) + len(test_runs)} real runs in {took:.0f} s "
          f"({len(train)} learning tasks, {n} held-out)")  # fmt: skip
    for name in NAMES:
        rate = sum(outcome[(t.id, name)] for t in train) / len(train)
        print(f"  learning set pass rate, {name:<12} {rate:.3f}")
    print(f"held-out pass rate: learned selection by EMA profiles {learned / n:.3f} | by plain "
          f"success rates {plain / n:.3f} | always balanced {balanced / n:.3f} | random choice "
          f"{rand / n:.3f}")  # fmt: skip
    for kind_ in sorted({t.kind for t in train}):
        row = ", ".join(
            f"{s} ema {profs[(s, kind_)].success_rate:.2f} / plain {profs[(s, kind_)].plain_rate:.2f}"
            for s in NAMES if (s, kind_) in profs
        )  # fmt: skip
        print(f"  profiles after learning, {kind_}: {row}")

    # 2. regret of two selectors over the recorded runs
    order = tasks[:]
    random.Random(1).shuffle(order)
    regret = {"ema-greedy": 0, "plain-greedy": 0, "thompson": 0}
    passes = {"ema-greedy": 0, "plain-greedy": 0, "thompson": 0}
    for name in regret:
        runs: list[dict[str, object]] = []
        rng = random.Random(2)
        for t in order:
            profs = learning.profiles(runs)
            if name == "thompson":
                pick = learning.thompson(profs, kind[t.id], list(NAMES), rng)
            else:
                known = [s for s in NAMES if (s, kind[t.id]) in profs]
                rate = "ema" if name == "ema-greedy" else "plain"
                pick = (
                    learning.select(profs, kind[t.id], {"reliability": 1.0}, rate=rate).strategy
                    if known else rng.choice(NAMES)
                )  # fmt: skip
            ok = outcome[(t.id, pick)]
            best = any(outcome[(t.id, s)] for s in NAMES)
            regret[name] += int(best and not ok)
            passes[name] += int(ok)
            runs.append({"strategy": pick, "kind": kind[t.id],
                         "status": "passed" if ok else "failed", "score": 100.0 * ok,
                         "seconds": 1.0})  # fmt: skip
    for name in regret:
        print(f"selector {name:<10}: {passes[name]} of {len(order)} passed, regret {regret[name]}")


if __name__ == "__main__":
    main()

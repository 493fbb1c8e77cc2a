"""Learning that keeps going, measured: updates, transfer, federated averaging, compression.

Data: generated task records with a known rule (``outcome`` = pass when the task is small on
an easy kind, or cached with few retries, with 5 % label noise), so every learner sees the
same learnable data and a fresh test set measures them all.

1. **Update vs retrain.** A model trained on 300 records; 1,500 more arrive. Incremental update
   (warm start, 10 epochs over the new records and the replayed ones) against retraining from
   scratch on all 1,800: accuracy on 3,000 fresh test records, and time.
2. **Transfer vs scratch.** A source model learns ``outcome``; a new target (``speed``, a
   different rule on the same fields) is learned from 40, 80 and 160 records, from the source's
   hidden layers (frozen and fine-tuned) and from random weights: test accuracy and epochs to
   95 % of the best, mean of 5 seeds.
3. **FedAvg vs pooled vs isolated.** Three agents, each seeing two task kinds of six: accuracy
   on a fresh test set of all kinds.
4. **Compression.** The standard library's docstrings (about 1,900 entries, real MiniLM
   vectors), all cold: bytes of values and vectors before and after, the database file
   (vacuumed both times), and semantic and keyword recall@10 on 50 queries.

Run: ``python bench/continuous_learning.py`` (about a minute; add ``--no-compression`` to skip
the embedding of the corpus).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mindbank

sys.path.insert(0, str(Path(__file__).parent))

KINDS = ["parse", "sort", "search", "math", "io", "text"]
CONFIG: dict[str, Any] = {
    "architecture": {"layers": [
        {"type": "input"}, {"type": "hidden", "size": 32, "activation": "relu"},
        {"type": "hidden", "size": 16, "activation": "relu"},
        {"type": "output", "activation": "softmax"},
    ]},
    "training": {"epochs": 40, "learning_rate": 0.005, "batch_size": 32, "seed": 1},
}  # fmt: skip


def records(
    n: int, seed: int, kinds: list[str] = KINDS, noise: float = 0.05
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        kind, size = rng.choice(kinds), round(rng.random(), 3)
        retries, cached = rng.randint(0, 3), rng.random() < 0.5
        ok = (size < 0.6 and kind in ("parse", "sort", "math")) or (cached and retries < 2)
        slow = (size > 0.5 and not cached) or retries == 3
        if rng.random() < noise:
            ok = not ok
        out.append({"kind": kind, "size": size, "retries": retries, "cached": cached,
                    "outcome": "pass" if ok else "fail", "speed": "slow" if slow else "fast"})  # fmt: skip
    return out


def strip(rows: list[dict[str, Any]], drop: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != drop} for r in rows]


def fresh() -> mindbank.MindBank:
    return mindbank.open(Path(tempfile.mkdtemp()) / "m.db", settings=mindbank.Settings(embed=False))


def update_vs_retrain() -> None:
    test = strip(records(3000, 99), "speed")
    old, new = strip(records(300, 1), "speed"), strip(records(1500, 2), "speed")
    mb = fresh()
    mb.neural.train(CONFIG, old, target="outcome", name="m")
    base = mb.neural.load("m").validation_accuracy(test)
    t0 = time.perf_counter()
    r = mb.neural.update("m", new, epochs=10)
    t_update = time.perf_counter() - t0
    updated = mb.neural.load("m", r.to_version).validation_accuracy(test)
    t0 = time.perf_counter()
    mb.neural.train(CONFIG, old + new, target="outcome", name="scratch")
    t_scratch = time.perf_counter() - t0
    scratch = mb.neural.load("scratch").validation_accuracy(test)
    print("1. update vs retrain (test accuracy on 3,000 fresh records)")
    print(f"   v1 on 300 records:                 {base:.3f}")
    print(f"   incremental update (+1,500):       {updated:.3f}  in {t_update:.2f} s  "
          f"(kept: {r.kept}; held-out {r.before:.3f} -> {r.after:.3f})")  # fmt: skip
    print(f"   retrain from scratch on 1,800:     {scratch:.3f}  in {t_scratch:.2f} s  "
          f"(update time x{t_update / t_scratch:.2f} of retraining)")  # fmt: skip
    mb.close()


def transfer_vs_scratch() -> None:
    source = strip(records(2000, 3), "speed")
    test = strip(records(3000, 98), "outcome")
    print("2. transfer vs scratch for a new target (speed), mean of 5 seeds")
    print("   records  frozen transfer    fine-tuned     scratch        (accuracy, epochs to 95 %)")
    for n in (40, 80, 160):
        acc: dict[str, list[float]] = {"frozen": [], "tuned": [], "scratch": []}
        ep: dict[str, list[int]] = {"frozen": [], "tuned": [], "scratch": []}
        for seed in range(5):
            mb = fresh()
            mb.neural.train(CONFIG, source, target="outcome", name="src")
            data = strip(records(n, 100 + seed), "outcome")
            for label, freeze in (("frozen", True), ("tuned", False)):
                r = mb.neural.transfer("src", data, target="speed", name=label, epochs=40,
                                       freeze=freeze)  # fmt: skip
                d = r.to_dict()
                acc[label].append(mb.neural.load(label).validation_accuracy(test))
                ep[label].append(d["transfer_epochs_to_level"] or 41)
                if label == "frozen":  # the scratch run is the same for both
                    ep["scratch"].append(d["scratch_epochs_to_level"] or 41)
            scratch_cfg = {**CONFIG, "training": {**CONFIG["training"], "epochs": 40,
                                                  "early_stopping": None}}  # fmt: skip
            mb.neural.train(scratch_cfg, data, target="speed", name="scratch")
            acc["scratch"].append(mb.neural.load("scratch").validation_accuracy(test))
            mb.close()
        cells = [f"{statistics.mean(acc[k]):.3f}, {statistics.mean(ep[k]):4.1f} ep"
                 for k in ("frozen", "tuned", "scratch")]  # fmt: skip
        print(f"   {n:7d}  " + "   ".join(f"{c:14s}" for c in cells))


def federated() -> None:
    parts = [
        ("agent-a", strip(records(600, 10, kinds=["parse", "sort"]), "speed")),
        ("agent-b", strip(records(600, 11, kinds=["search", "math"]), "speed")),
        ("agent-c", strip(records(600, 12, kinds=["io", "text"]), "speed")),
    ]
    test = strip(records(3000, 97), "speed")
    mb = fresh()
    r = mb.neural.federated(parts, CONFIG, target="outcome", name="fed", rounds=20, local_epochs=2)
    fed = mb.neural.load("fed").validation_accuracy(test)
    cfg = {**CONFIG, "training": {**CONFIG["training"], "epochs": 40}}
    mb.neural.train(cfg, [x for _, p in parts for x in p], target="outcome", name="pooled")
    pooled = mb.neural.load("pooled").validation_accuracy(test)
    alone = {}
    for label, p in parts:
        mb.neural.train(cfg, p, target="outcome", name=label)
        alone[label] = mb.neural.load(label).validation_accuracy(test)
    print("3. federated averaging, 3 agents with 2 task kinds each (test: all 6 kinds, 3,000)")
    print(f"   FedAvg, 20 rounds x 2 local epochs: {fed:.3f}  ({r.seconds:.2f} s; on the agents'"
          f" own held-out records {r.federated:.3f})")  # fmt: skip
    print(f"   pooled (all records in one place): {pooled:.3f}")
    for label, a in alone.items():
        print(f"   {label} alone:                     {a:.3f}")
    mb.close()


def compression() -> None:
    from stdlib_corpus import build_corpus

    corpus = build_corpus()
    now = [1_800_000_000.0]
    with mindbank.open(Path(tempfile.mkdtemp()) / "m.db", clock=lambda: now[0]) as mb:
        mb.store_many({"key": k, "value": v, "namespace": "docs"} for k, v in corpus.items())
        now[0] += 40 * 86400  # all cold
        r = mb.compress(vacuum=True)
    print(f"4. compression of {r.cold:,} cold entries (stdlib docstrings, MiniLM vectors)")
    print(f"   values:  {r.values_compressed:,} compressed, {r.value_bytes_before:,} -> "
          f"{r.value_bytes_after:,} bytes (+ a {r.dictionary_bytes:,}-byte dictionary)")  # fmt: skip
    print(f"   vectors: {r.vectors_quantized:,} as int8, {r.vector_bytes_before:,} -> "
          f"{r.vector_bytes_after:,} bytes")  # fmt: skip
    print(f"   together: {r.reduction:.1%} smaller; database file (vacuumed) "
          f"{r.file_bytes_before:,} -> {r.file_bytes_after:,} bytes "
          f"({1 - (r.file_bytes_after or 0) / (r.file_bytes_before or 1):.1%} smaller)")  # fmt: skip
    print(f"   recall@10 after vs before on {r.queries} queries: semantic "
          f"{r.semantic_recall_at_10:.3f}, keyword {r.keyword_recall_at_10:.3f} "
          f"({r.seconds:.2f} s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-compression", action="store_true")
    args = parser.parse_args()
    update_vs_retrain()
    transfer_vs_scratch()
    federated()
    if not args.no_compression:
        compression()


if __name__ == "__main__":
    main()

"""Does the ReasoningBank help? Predicting whether a strategy will pass a new task's tests.

Data: the 427 MBPP tasks, each attempted under four strategies (``bench/mbpp_runs.py``: AST
transformations of the reference solution, run against the task's real asserts). Protocol, as
an agent would live it: tasks arrive one at a time (shuffled, an hour apart). For each task and
strategy the bank is asked first: ``query(prompt, strategy=s, k)`` and the retrieved items vote
(weighted by score) for success or failure. Then the real attempt is recorded as a trajectory
(verdict from the test results, items distilled), and each retrieved item gets feedback: success
if its outcome matched what happened. The first ``--warmup`` tasks only fill the bank.

Baselines, measured on the same predictions: chance (a fair coin: accuracy 0.5, AUC 0.5), the
base rate (the strategy's success rate so far, the best guess without looking at the task).
Reported for the three strategies that can fail (``balanced`` always passes), and per strategy:
accuracy, balanced accuracy (mean of the success and failure recalls) and AUC.

Then the retrieval settings are searched (k and the task-similarity weight together, then
recency, reliability and MMR one at a time), and the best by AUC is printed: that is where the
defaults in ``BankSettings`` come from. ``--quick`` runs the defaults only.

Each setting is scored as the mean over ``--seeds`` task orders (the first-order figures are
printed per strategy). Run: ``python bench/bank_learning.py`` (about five minutes on two cores;
the test runs and embeddings are cached within the run, the test runs across runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import mindbank
from mindbank.config import BankSettings, Settings
from mindbank.embedders import load_embedder
from mindbank.embedders.base import Embedder, Vectors

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mbpp_runs import STRATEGIES, load_tasks, run_all  # noqa: E402

FALLIBLE = tuple(s for s in STRATEGIES if s != "balanced")


class CachingEmbedder(Embedder):
    """The real model, with every text it has embedded remembered (same identity)."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.model_id = inner.model_id
        self.dims = inner.dims
        self.batch_size = inner.batch_size
        self._seen: dict[str, Vectors] = {}

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        todo = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if todo:
            for t, v in zip(todo, self.inner.embed_batch(todo), strict=True):
                self._seen[t] = np.asarray(v, dtype=np.float32)
        return np.stack([self._seen[t] for t in texts])


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def auc(scores: list[float], labels: list[bool]) -> float | None:
    """Probability that a random success scores above a random failure (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    order = np.argsort(np.array(scores), kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = np.array(scores)[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos_ranks = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return float((pos_ranks - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def metrics(p: list[float], y: list[bool]) -> dict[str, Any]:
    pred = [x >= 0.5 for x in p]
    tp = sum(1 for a, b in zip(pred, y, strict=True) if a and b)
    tn = sum(1 for a, b in zip(pred, y, strict=True) if not a and not b)
    pos, neg = sum(y), len(y) - sum(y)
    return {
        "n": len(y),
        "acc": (tp + tn) / len(y) if y else None,
        "bal_acc": (tp / pos + tn / neg) / 2 if pos and neg else None,
        "auc": auc(p, y),
    }


def run(
    tasks: list[dict[str, Any]],
    outcomes: dict[tuple[int, str], dict[str, Any]],
    embedder: Embedder,
    bank: BankSettings,
    k: int,
    warmup: int,
    seed: int,
    workdir: Path,
) -> dict[str, Any]:
    order = list(tasks)
    random.Random(seed).shuffle(order)
    clock = Clock()
    db = workdir / f"bank-{time.monotonic_ns()}.db"
    preds: list[tuple[str, float, float, bool]] = []
    seen = {s: [0, 0] for s in STRATEGIES}
    start = time.perf_counter()
    with mindbank.open(db, embedder=embedder, settings=Settings(bank=bank), clock=clock) as mb:
        for idx, task in enumerate(order):
            prompt = task["prompt"]
            for s in STRATEGIES:
                o = dict(outcomes[(task["task_id"], s)])
                o.pop("changed")
                actual = o["exit_code"] == 0
                base = (seen[s][0] + 1) / (seen[s][1] + 2)
                if idx >= warmup:
                    hits = mb.bank.query(prompt, strategy=s, k=k)
                    known = [h for h in hits if h.item.outcome in ("success", "failure")]
                    if known:
                        w = [max(h.score, 1e-6) for h in known]
                        p = sum(
                            wi
                            for wi, h in zip(w, known, strict=True)
                            if h.item.outcome == "success"
                        ) / sum(w)
                    else:
                        p = base
                    preds.append((s, p, base, actual))
                    for h in known:
                        mb.bank.feedback(h.item.id, (h.item.outcome == "success") == actual)
                failures = o.get("failures") or []
                observation = failures[0]["error"] if failures else "all tests passed"
                mb.bank.record_trajectory(
                    prompt,
                    [{"action": f"apply {s} to the solution", "observation": observation}],
                    outcome=o,
                    strategy=s,
                    task_id=str(task["task_id"]),
                    namespace="mbpp",
                )
                seen[s][0] += int(actual)
                seen[s][1] += 1
            clock.now += 3600
        status = mb.bank.status()
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"seconds": seconds, "items": status.total_memories}
    fall = [x for x in preds if x[0] in FALLIBLE]
    out["bank"] = metrics([x[1] for x in fall], [x[3] for x in fall])
    out["base"] = metrics([x[2] for x in fall], [x[3] for x in fall])
    for s in STRATEGIES:
        sel = [x for x in preds if x[0] == s]
        out[s] = {
            "bank": metrics([x[1] for x in sel], [x[3] for x in sel]),
            "base": metrics([x[2] for x in sel], [x[3] for x in sel]),
            "fail_rate": 1 - sum(x[3] for x in sel) / len(sel) if sel else None,
        }
    return out


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def _line(name: str, m: dict[str, Any]) -> str:
    return f"{name:<44} acc {_fmt(m['acc'])}  bal.acc {_fmt(m['bal_acc'])}  AUC {_fmt(m['auc'])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--quick", action="store_true", help="the default settings only")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=3, help="task orders averaged per setting")
    args = parser.parse_args()
    tasks = load_tasks()
    t0 = time.perf_counter()
    outcomes = run_all(tasks)
    print(f"{len(tasks)} MBPP tasks x {len(STRATEGIES)} strategies run for real "
          f"({time.perf_counter() - t0:.1f} s, cached after the first run)")  # fmt: skip
    for s in STRATEGIES:
        fails = sum(1 for (_, st), o in outcomes.items() if st == s and o["exit_code"] != 0)
        print(f"  {s:<14} fails {fails:>3} of {len(tasks)}")
    embedder = CachingEmbedder(load_embedder(args.embedder))
    default = BankSettings()
    work = Path(tempfile.mkdtemp(prefix="mindbank-bank-"))

    def evaluate(label: str, bank: BankSettings, k: int) -> dict[str, Any]:
        runs = [
            run(tasks, outcomes, embedder, bank, k, args.warmup, seed, work)
            for seed in range(args.seeds)
        ]
        r = runs[0]
        for key in ("acc", "bal_acc", "auc"):
            vals = [x["bank"][key] for x in runs if x["bank"][key] is not None]
            r["bank"][key] = sum(vals) / len(vals) if vals else None
        secs = sum(x["seconds"] for x in runs)
        print(_line(f"{label} (k={k})", r["bank"]) + f"   [{secs:.0f} s, {args.seeds} orders]")
        return r

    r = evaluate("bank, defaults", default, default.default_k)
    print(_line("baseline: base rate so far (first order)", r["base"]))
    print(_line("baseline: chance (fair coin)", {"acc": 0.5, "bal_acc": 0.5, "auc": 0.5}))
    print(f"predictions on held-out tasks: {r['bank']['n']} (after {args.warmup} warm-up tasks); "
          f"items in the bank at the end: {r['items']}")  # fmt: skip
    for s in STRATEGIES:
        print(f"  {s:<14} fail rate {_fmt(r[s]['fail_rate'])}  " + _line("bank", r[s]["bank"])[44:]
              + "  | base rate AUC " + _fmt(r[s]["base"]["auc"]))  # fmt: skip
    if args.quick:
        return
    print("\nsearching the retrieval settings (AUC on the three fallible strategies):")
    best = (r["bank"]["auc"] or 0.0, default, default.default_k)
    for k in (1, 3, 5, 8):
        for tw in (0.0, 0.5, 1.0):
            cand = dataclasses.replace(default, task_weight=tw)
            m = evaluate(f"task_weight={tw}", cand, k)["bank"]
            if (m["auc"] or 0) > best[0]:
                best = (m["auc"] or 0, cand, k)
    for field, values in (
        ("w_reliability", (0.0, 0.05, 0.15, 0.4)),
        ("w_recency", (0.0, 0.05, 0.2)),
        ("mmr_lambda", (1.0, 0.7, 0.5, 0.3)),
    ):
        for v in values:
            if getattr(best[1], field) == v:
                continue
            cand = dataclasses.replace(best[1], **{field: v})
            m = evaluate(f"{field}={v}", cand, best[2])["bank"]
            if (m["auc"] or 0) > best[0]:
                best = (m["auc"] or 0, cand, best[2])
    b = best[1]
    print(f"\nbest: AUC {best[0]:.3f} with k={best[2]}, task_weight={b.task_weight}, "
          f"w_recency={b.w_recency}, w_reliability={b.w_reliability}, mmr_lambda={b.mmr_lambda}")  # fmt: skip
    print("\nk against ranking (AUC) and yes/no prediction (balanced accuracy), these settings:")
    for k in (1, 3, 5, 8):
        evaluate("best settings", b, k)


if __name__ == "__main__":
    main()

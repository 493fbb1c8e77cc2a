"""A worked example on real data: will a coding strategy pass a task's tests?

Records: the 427 MBPP tasks x the three strategies that can fail (``bench/mbpp_runs.py``: AST
transformations of the reference solution, run against the task's real asserts). Features:
the strategy (a category), the task's prompt (free text), and facts about the reference code
(lines, whether it divides, sorts, has if-statements, loops). Target: ``passed`` (true/false).

Writes ``/tmp/mindbank-mbpp-runs.jsonl`` and trains the model shown in docs/neural.md, through
the same API the CLI uses. Run: ``python bench/neural_mbpp.py``.
"""

from __future__ import annotations

import ast
import json
import sys
import tempfile
import time
from pathlib import Path

import mindbank

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mbpp_runs import STRATEGIES, load_tasks, run_all  # noqa: E402

CONFIG = {
    "modelId": "strategy-outcome",
    "architecture": {
        "layers": [
            {"type": "input"},
            {"type": "hidden", "size": 32, "activation": "relu"},
            {"type": "hidden", "size": 16, "activation": "relu"},
            {"type": "output", "activation": "sigmoid"},
        ]
    },
    "training": {
        "learning_rate": 0.003,
        "batch_size": 32,
        "epochs": 60,
        "optimizer": "adam",
        "early_stopping": {"patience": 10, "min_delta": 0.0001},
        "l2": 0.0005,
        "seed": 0,
    },
}


def records() -> list[dict[str, object]]:
    tasks = load_tasks()
    outcomes = run_all(tasks)
    out = []
    for t in tasks:
        tree = ast.parse(t["code"])
        nodes = list(ast.walk(tree))
        facts = {
            "lines": len(t["code"].splitlines()),
            "divides": any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) for n in nodes),
            "sorts": "sort" in t["code"],
            "ifs": sum(isinstance(n, ast.If) for n in nodes),
            "loops": sum(isinstance(n, ast.For | ast.While) for n in nodes),
        }
        for s in STRATEGIES:
            if s == "balanced":
                continue
            o = outcomes[(t["task_id"], s)]
            out.append({"strategy": s, "prompt": t["prompt"], "code": facts,
                        "passed": o["exit_code"] == 0})  # fmt: skip
    return out


def main() -> None:
    data = records()
    path = Path(tempfile.gettempdir()) / "mindbank-mbpp-runs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in data) + "\n")
    fails = sum(1 for r in data if not r["passed"])
    print(f"{len(data)} records ({fails} failures) written to {path}")
    with (
        tempfile.TemporaryDirectory() as tmp,
        mindbank.open(Path(tmp) / "m.db", embedder="minilm") as mb,
    ):
        t0 = time.perf_counter()
        info = mb.neural.train(CONFIG, path.read_text(), target="passed")
        took = time.perf_counter() - t0
        m = info.metrics
        print(f"trained in {took:.2f} s, {m['epochs']} epochs; validation accuracy "
              f"{m['validation_accuracy']:.4f} (best {m['best_validation_accuracy']:.4f}) on "
              f"{m['validation_records']} held-out records")  # fmt: skip
        model = mb.neural.load("strategy-outcome")
        val = model.validation
        assert val is not None
        base = max(float(val[1].mean()), 1 - float(val[1].mean()))
        print(f"baseline (always the majority class) on the same records: {base:.4f}")
        for example in (
            {"strategy": "int-division", "prompt": "Write a function to find the average of a list.",
             "code": {"lines": 3, "divides": True, "sorts": False, "ifs": 0, "loops": 0}},
            {"strategy": "aggressive", "prompt": "Write a function to reverse a string.",
             "code": {"lines": 2, "divides": False, "sorts": False, "ifs": 0, "loops": 0}},
        ):  # fmt: skip
            p = mb.neural.predict("strategy-outcome", example)
            print(
                json.dumps({"input": example["strategy"] + ": " + example["prompt"], **p.to_dict()})
            )


if __name__ == "__main__":
    main()

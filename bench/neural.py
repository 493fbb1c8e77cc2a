"""Neural models: speed, each beside a baseline measured in the same run.

- 1000 x 1000 float32 matrix multiply with numpy (the reference claims 172 ms for its SIMD
  path, 2,450 ms for plain JavaScript); baseline: a pure-Python loop over 100 x 100 (scaled).
- Training throughput (samples/s) of the reference's 128-64-32-10 network on 20,000 records
  against scikit-learn's MLPClassifier with the same architecture, optimizer, batch size and
  epochs (``pip install .[bench]``); accuracy of both on the same held-out records.
- Prediction latency: one record (the whole path: featurize, forward, explain) and batches.
- int8 quantization: weights' size ratio and the accuracy change.

Data: 20,000 synthetic records with 128 numeric features and 10 classes (a random teacher
network labels them), so both learners see identical, learnable data.

Run: ``python bench/neural.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import mindbank
from mindbank.neural.network import Network, parse_config

CONFIG: dict[str, Any] = {
    "modelId": "bench-128-64-32-10",
    "architecture": {
        "layers": [
            {"type": "input", "size": 128},
            {"type": "hidden", "size": 64, "activation": "relu"},
            {"type": "hidden", "size": 32, "activation": "relu"},
            {"type": "output", "size": 10, "activation": "softmax"},
        ]
    },
    "training": {"learning_rate": 0.001, "batch_size": 64, "epochs": 10, "optimizer": "adam"},
}


def data(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 128))
    teacher = rng.standard_normal((128, 10))
    y = (x @ teacher + 0.5 * rng.standard_normal((n, 10))).argmax(axis=1)
    return x, y


def main() -> None:
    # 1. matrix multiply
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1000, 1000)).astype(np.float32)
    b = rng.standard_normal((1000, 1000)).astype(np.float32)
    a @ b
    t0 = time.perf_counter()
    for _ in range(5):
        a @ b
    mm = (time.perf_counter() - t0) / 5 * 1000
    small_a, small_b = a[:100, :100].tolist(), b[:100, :100].tolist()
    t0 = time.perf_counter()
    [[sum(x * y for x, y in zip(row, col, strict=True)) for col in zip(*small_b, strict=True)]
     for row in small_a]  # fmt: skip
    py = (time.perf_counter() - t0) * 1000 * 1000  # 100^3 -> 1000^3 work
    print(f"1000x1000 float32 matmul: numpy {mm:.1f} ms | pure Python (100x100 x1000) "
          f"{py:,.0f} ms (x{py / mm:,.0f}) | reference claims 172 ms SIMD, 2,450 ms JS")  # fmt: skip

    # 2. training throughput against scikit-learn
    x, y = data()
    xt, yt, xv, yv = x[:16_000], y[:16_000], x[16_000:], y[16_000:]
    cfg = parse_config(CONFIG)
    net = Network([128, 64, 32, 10], ["relu", "relu"], "softmax", seed=0)
    onehot = np.eye(10)[yt]
    t0 = time.perf_counter()
    net.fit(xt, onehot, cfg)
    ours = time.perf_counter() - t0
    acc = float(np.mean(net.predict(xv).argmax(axis=1) == yv))
    ours_rate = len(xt) * cfg.epochs / ours
    line = f"training 128-64-32-10, {len(xt):,} records x {cfg.epochs} epochs: mindbank " \
           f"{ours_rate:,.0f} samples/s (accuracy {acc:.3f})"  # fmt: skip
    try:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(
            hidden_layer_sizes=(64, 32), solver="adam", learning_rate_init=0.001,
            batch_size=64, max_iter=cfg.epochs, alpha=0.0, random_state=0, shuffle=True,
            tol=0.0, n_iter_no_change=10_000,
        )  # fmt: skip
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(xt, yt)
        theirs = time.perf_counter() - t0
        sk_acc = float(clf.score(xv, yv))
        sk_rate = len(xt) * cfg.epochs / theirs
        line += f" | scikit-learn MLPClassifier {sk_rate:,.0f} samples/s (accuracy {sk_acc:.3f})"
        line += f" | ratio x{ours_rate / sk_rate:.2f}"
    except ImportError:
        line += " | scikit-learn not installed (pip install .[bench]): no baseline"
    print(line)

    # 3. prediction latency through the registry
    with tempfile.TemporaryDirectory() as tmp:
        records = [{f"f{j}": float(v) for j, v in enumerate(row)} | {"label": int(c)}
                   for row, c in zip(x[:4000], y[:4000], strict=True)]  # fmt: skip
        with mindbank.open(Path(tmp) / "m.db", embedder="hashing") as mb:
            small = dict(CONFIG, training=dict(CONFIG["training"], epochs=10))
            small["architecture"] = {
                "layers": [{"type": "input"}, *CONFIG["architecture"]["layers"][1:]]
            }
            mb.neural.train(small, records, target="label", name="bench")
            model = mb.neural.load("bench")
            one = records[0]
            for _ in range(20):
                model.predict(one)
            t0 = time.perf_counter()
            n = 300
            for _ in range(n):
                model.predict(one)
            single = (time.perf_counter() - t0) / n * 1000
            t0 = time.perf_counter()
            model.predict_batch(records)
            batch_rate = len(records) / (time.perf_counter() - t0)
            feats = model.featurizer.transform(records)
            t0 = time.perf_counter()
            for _ in range(10):
                model.network.predict(feats)
            net_rate = 10 * len(records) / (time.perf_counter() - t0)
            print(f"prediction: single {single:.3f} ms with reasoning and drivers (target < 1 ms) | "
                  f"batch {batch_rate:,.0f}/s from records, {net_rate:,.0f}/s from features "
                  f"(target >= 100,000/s)")  # fmt: skip
            q = mb.neural.quantize("bench")
            print(f"int8 (per tensor): weights {q.float_bytes:,} -> {q.int8_bytes:,} bytes "
                  f"(x{q.float_bytes / q.int8_bytes:.2f}); validation accuracy "
                  f"{q.accuracy_before:.4f} -> {q.accuracy_after:.4f}")  # fmt: skip
            qc = mb.neural.quantize("bench", version=1, per_channel=True)
            print(f"int8 (per channel): weights {qc.float_bytes:,} -> {qc.int8_bytes:,} bytes "
                  f"(x{qc.float_bytes / qc.int8_bytes:.2f}); validation accuracy "
                  f"{qc.accuracy_before:.4f} -> {qc.accuracy_after:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()

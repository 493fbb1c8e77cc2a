"""Neural models: the math (gradient check), reproducibility, the registry, files, quantization,
ensembles, bad input, the CLI."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mindbank
from mindbank import ConflictError, NotFoundError, ValidationError
from mindbank.neural.network import Network, parse_config

from .conftest import FakeClock, run_mindbank


@pytest.fixture
def db_path(both_db: Path | str) -> Path | str:
    """Every test that opens a database runs on SQLite and on PostgreSQL."""
    return both_db


def _config(head: str = "softmax", epochs: int = 40, **training: Any) -> dict[str, Any]:
    return {
        "modelId": "outcome",
        "architecture": {
            "layers": [
                {"type": "input"},
                {"type": "hidden", "size": 16, "activation": "relu"},
                {"type": "hidden", "size": 8, "activation": "tanh"},
                {"type": "output", "activation": head},
            ]
        },
        "training": {"epochs": epochs, "learning_rate": 0.01, "batch_size": 32, **training},
    }


def _records(n: int = 600, seed: int = 0) -> list[dict[str, Any]]:
    """Synthetic task runs: the outcome follows a rule the network can learn."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        size = float(rng.normal(100, 30))
        strategy = str(rng.choice(["careful", "balanced", "aggressive"]))
        kind = str(rng.choice(["math", "string", "api"]))
        score = (size - 100) / 30 + {"careful": 1.0, "balanced": 0.2, "aggressive": -1.0}[strategy]
        score += 0.5 if kind == "string" else 0.0
        out.append({
            "size": size, "strategy": strategy, "meta": {"kind": kind, "retries": int(i % 3)},
            "labels": ["flaky"] if i % 5 == 0 else [],
            "outcome": "success" if score + rng.normal(0, 0.3) > 0 else "failure",
        })  # fmt: skip
    return out


@pytest.mark.parametrize("head", ["softmax", "sigmoid", "linear"])
def test_gradients_match_finite_differences(head: str) -> None:
    rng = np.random.default_rng(1)
    net = Network([5, 7, 4, 3 if head == "softmax" else 1], ["relu", "tanh"], head, seed=2)
    x = rng.standard_normal((6, 5))
    if head == "softmax":
        y = np.eye(3)[rng.integers(0, 3, 6)]
    elif head == "sigmoid":
        y = rng.integers(0, 2, (6, 1)).astype(float)
    else:
        y = rng.standard_normal((6, 1))
    l2 = 0.01
    _, gw, gb = net.gradients(x, y, l2)
    eps = 1e-6
    for params, grads in ((net.weights, gw), (net.biases, gb)):
        for p, g in zip(params, grads, strict=True):
            for idx in [tuple(rng.integers(0, s) for s in p.shape) for _ in range(5)]:
                old = p[idx]
                p[idx] = old + eps
                up = net.gradients(x, y, l2)[0]
                p[idx] = old - eps
                down = net.gradients(x, y, l2)[0]
                p[idx] = old
                numeric = (up - down) / (2 * eps)
                assert g[idx] == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_training_is_reproducible_bit_for_bit(db_path: Path, clock: FakeClock) -> None:
    data = _records()
    with mindbank.open(db_path, clock=clock) as mb:
        a = mb.neural.train(_config(), data, target="outcome", name="a")
        b = mb.neural.train(_config(), data, target="outcome", name="b")
        ma, mb_ = mb.neural.load("a"), mb.neural.load("b")
        for wa, wb in zip(ma.network.weights, mb_.network.weights, strict=True):
            assert np.array_equal(wa, wb)
        assert a.metrics == b.metrics
        c = mb.neural.train(_config(seed=7), data, target="outcome", name="c")
        assert not np.array_equal(mb.neural.load("c").network.weights[0], ma.network.weights[0])
        assert c.name == "c"


def test_train_predict_and_registry(db_path: Path, clock: FakeClock) -> None:
    data = _records()
    with mindbank.open(db_path, clock=clock) as mb:
        info = mb.neural.train(_config(), data, target="outcome", description="first")
        assert info.name == "outcome" and info.version == 1 and info.current
        assert info.metrics["train_records"] == 480 and info.metrics["validation_records"] == 120
        assert info.accuracy is not None and info.accuracy > 0.85
        history = mb.neural.history("outcome")
        assert len(history) == info.metrics["epochs"] == 40
        assert history[-1].train_loss < history[0].train_loss
        assert history[-1].val_accuracy == pytest.approx(info.accuracy)
        p = mb.neural.predict(
            "outcome", {"size": 160, "strategy": "careful", "meta": {"kind": "string"}}
        )
        assert p.prediction == "success" and p.confidence is not None and p.confidence > 0.9
        assert "of the 10 most similar training records had outcome success" in p.reasoning
        assert p.recommendations and "size" in " ".join(p.recommendations)
        unknown = mb.neural.predict("outcome", {"size": 100, "strategy": "brand-new"})
        assert unknown.prediction in ("success", "failure")  # an unseen category is handled
        batch = mb.neural.predict_batch("outcome", data[:50])
        assert len(batch) == 50
        assert np.mean([b == r["outcome"] for b, r in zip(batch, data[:50], strict=True)]) > 0.8
        # versions, save, rollback, delete, cleanup
        mb.neural.save("outcome", "a copy")
        assert [v.version for v in mb.neural.versions("outcome")] == [1, 2]
        assert mb.neural.rollback("outcome", 1).version == 1
        assert mb.neural.info("outcome").version == 1
        clock.advance(40 * 86400)
        assert mb.neural.cleanup(30) == [("outcome", 2)]
        assert mb.neural.memory_stats()["versions"] == 1
        copy = mb.neural.save("outcome", "another copy")  # now the current version
        with pytest.raises(ConflictError, match="current version"):
            mb.neural.delete("outcome", copy.version)  # it would leave no current version
        assert mb.neural.delete("outcome", 1) == 1
        assert mb.neural.info("outcome").version == copy.version
        assert mb.neural.delete("outcome") == 1
        with pytest.raises(NotFoundError):
            mb.neural.predict("outcome", {"size": 1})


def test_no_validation_data_means_no_accuracy(db_path: Path, clock: FakeClock) -> None:
    data = _records(4)
    data[0]["outcome"], data[1]["outcome"] = "success", "failure"
    with mindbank.open(db_path, clock=clock) as mb:
        info = mb.neural.train(_config(epochs=3), data, target="outcome")
        assert info.accuracy is None and info.metrics["validation_records"] == 0
        assert all(e.val_accuracy is None for e in mb.neural.history("outcome"))


def test_regression_and_explicit_validation(db_path: Path, clock: FakeClock) -> None:
    rng = np.random.default_rng(3)
    recs = [{"a": float(a), "b": float(b), "y": float(2 * a - b + 0.05 * rng.normal())}
            for a, b in rng.standard_normal((400, 2))]  # fmt: skip
    data = {"trainingData": recs[:300], "validationData": recs[300:]}
    with mindbank.open(db_path, clock=clock) as mb:
        info = mb.neural.train(_config("linear", 60), data, target="y", name="reg")
        assert info.metrics["metric"] == "r2" and info.accuracy is not None and info.accuracy > 0.95
        p = mb.neural.predict("reg", {"a": 1.0, "b": 0.5})
        assert p.prediction == pytest.approx(1.5, abs=0.3) and p.confidence is None


def test_export_import_round_trip_and_tampering(
    tmp_path: Path, db_path: Path, clock: FakeClock
) -> None:
    data = _records()
    with mindbank.open(db_path, clock=clock) as mb:
        mb.neural.train(_config(), data, target="outcome")
        path = mb.neural.export("outcome", tmp_path / "m.clf")
        before = mb.neural.load("outcome").outputs(data[:100])
        imported = mb.neural.import_(path, "copy")
        after = mb.neural.load("copy").outputs(data[:100])
        assert np.array_equal(before, after)  # bit-identical predictions
        assert imported.metrics == mb.neural.info("outcome").metrics
        # a tampered file: weights changed, checksum kept
        with zipfile.ZipFile(path) as z:
            header, blob = z.read("header.json"), bytearray(z.read("weights.npz"))
        blob[len(blob) // 2] ^= 0xFF
        bad = tmp_path / "bad.clf"
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("header.json", header)
            z.writestr("weights.npz", bytes(blob))
        with pytest.raises(ValidationError, match="checksum"):
            mb.neural.import_(bad)
        truncated = tmp_path / "trunc.clf"
        truncated.write_bytes(path.read_bytes()[:200])
        with pytest.raises(ValidationError, match="not a readable"):
            mb.neural.import_(truncated)
        foreign = tmp_path / "foreign.clf"
        foreign.write_text("print('hello')")
        with pytest.raises(ValidationError):
            mb.neural.import_(foreign)
        # a shape that does not fit, with a valid checksum
        doc = json.loads(header)
        doc["model"]["sizes"][1] += 1
        wrong = tmp_path / "shape.clf"
        with zipfile.ZipFile(wrong, "w") as z:
            z.writestr("header.json", json.dumps(doc))
            with zipfile.ZipFile(path) as src:
                z.writestr("weights.npz", src.read("weights.npz"))
        with pytest.raises(ValidationError, match="shape"):
            mb.neural.import_(wrong)
        assert [v.name for v in mb.neural.versions()] == ["copy", "outcome"]  # nothing half-written


@pytest.mark.parametrize("per_channel", [False, True])
def test_quantization(db_path: Path, clock: FakeClock, per_channel: bool) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        mb.neural.train(_config(), _records(), target="outcome")
        r = mb.neural.quantize("outcome", per_channel=per_channel)
        assert r.model.version == 2 and r.model.quantized == r.scheme
        # per-channel scales weigh more against the tiny layers of this test network
        assert r.float_bytes / r.int8_bytes > (2.5 if per_channel else 3.5)
        assert r.accuracy_before is not None and r.accuracy_after is not None
        assert abs(r.accuracy_after - r.accuracy_before) <= 0.05
        q = mb.neural.load("outcome")  # loaded back from int8: the reported accuracy holds
        assert q.measured_accuracy() == pytest.approx(r.accuracy_after)


def test_ensemble(db_path: Path, clock: FakeClock) -> None:
    data = _records()
    holdout = {"trainingData": _records(300, seed=9)}
    with mindbank.open(db_path, clock=clock) as mb:
        mb.neural.train(_config(seed=1), data, target="outcome", name="m1")
        mb.neural.train(_config(seed=2), data, target="outcome", name="m2")
        mb.neural.train(_config("sigmoid", seed=3), data, target="outcome", name="m3")
        r = mb.neural.ensemble(["m1", "m2", "m3"], holdout, "outcome")
        assert r.records == 300 and set(r.members) == {"m1", "m2", "m3"}
        assert all(0.8 < a <= 1 for a in r.members.values()) and 0.8 < r.ensemble <= 1
        with pytest.raises(ValidationError, match="two models"):
            mb.neural.ensemble(["m1"], holdout, "outcome")


@pytest.mark.parametrize(
    ("config", "data", "message"),
    [
        ({"architecture": {"layers": [{"type": "hidden", "size": 4, "activation": "swish"},
                                      {"type": "output", "activation": "softmax"}]}},
         None, "swish"),
        ({"architecture": {"layers": [{"type": "input", "size": 3},
                                      {"type": "output", "activation": "softmax"}]}},
         None, "input layer has size 3"),
        ({"architecture": {"layers": [{"type": "hidden", "size": 4},
                                      {"type": "output", "size": 5, "activation": "softmax"}]}},
         None, "output layer has size 5"),
        (None, [], "empty"),
        (None, [{"size": 1.0}], "no target field"),
        (None, [{"size": float(i), "outcome": "same"} for i in range(10)], "single class"),
        (None, [{"size": float("nan"), "outcome": "a"}] + [{"size": 1.0, "outcome": "b"}] * 9, "NaN"),
        ({"architecture": {"layers": []}}, None, "empty"),
        ({"training": {}}, None, "architecture.layers"),
        (dict(_config(), training={"optimizer": "rmsprop"}), None, "optimizer"),
    ],
)  # fmt: skip
def test_bad_input_is_named_and_nothing_is_stored(
    db_path: Path, clock: FakeClock, config: Any, data: Any, message: str
) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        with pytest.raises(ValidationError, match=message):
            mb.neural.train(config or _config(), _records(50) if data is None else data,
                            target="outcome", name="bad")  # fmt: skip
        assert mb.neural.versions() == []


def test_wrong_input_at_predict_time(db_path: Path, clock: FakeClock) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        mb.neural.train(_config(epochs=2), _records(100), target="outcome")
        with pytest.raises(ValidationError, match="size"):
            mb.neural.predict("outcome", {"size": "big"})
        with pytest.raises(ValidationError, match="JSON object"):
            mb.neural.predict("outcome", ["not", "a", "record"])  # type: ignore[arg-type]


def test_parse_config_reads_the_reference_format() -> None:
    cfg = parse_config({
        "architecture": {"layers": [{"type": "input", "size": 128},
                                    {"type": "hidden", "size": 64, "activation": "relu"},
                                    {"type": "output", "size": 10, "activation": "softmax"}]},
        "training": {"learning_rate": 0.001, "batch_size": 32, "epochs": 100, "optimizer": "adam",
                     "lr_schedule": {"type": "step_decay", "step_size": 10, "gamma": 0.5},
                     "early_stopping": {"patience": 5, "min_delta": 0.01}},
    })  # fmt: skip
    assert (cfg.input_size, cfg.hidden, cfg.output_size) == (128, ((64, "relu"),), 10)
    assert (cfg.step_size, cfg.gamma, cfg.patience, cfg.min_delta) == (10, 0.5, 5, 0.01)


def test_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    model, data = tmp_path / "model.json", tmp_path / "data.jsonl"
    assert run_mindbank("neural", "init", str(model)).returncode == 0
    cfg = json.loads(model.read_text())
    cfg["training"]["epochs"] = 15
    model.write_text(json.dumps(cfg))
    data.write_text("\n".join(json.dumps(r) for r in _records(300)))
    r = run_mindbank("neural", "train", "--model", str(model), "--data", str(data),
                     "--target", "outcome", "--db", db)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "trained task-outcome v1" in r.stdout and "final validation accuracy" in r.stdout
    r = run_mindbank("neural", "predict", "task-outcome", "--input",
                     json.dumps({"size": 150, "strategy": "careful"}), "--db", db, "--json")  # fmt: skip
    assert json.loads(r.stdout)["prediction"] == "success"
    r = run_mindbank("neural", "versions", "--db", db, "--json")
    assert json.loads(r.stdout)[0]["version"] == 1
    clf = tmp_path / "m.clf"
    assert run_mindbank("neural", "export", "task-outcome", str(clf), "--db", db).returncode == 0
    assert run_mindbank("neural", "import", str(clf), "--name", "again", "--db", db).returncode == 0
    r = run_mindbank("neural", "quantize", "task-outcome", "--db", db)
    assert r.returncode == 0 and "int8" in r.stdout
    for args in (("history", "task-outcome"), ("memory-stats",), ("cleanup", "--days", "1")):
        assert run_mindbank("neural", *args, "--db", db).returncode == 0, args
    r = run_mindbank("neural", "predict", "nope", "--input", "{}", "--db", db)
    assert r.returncode == 1 and "no model 'nope'" in r.stderr
    r = run_mindbank("neural", "train", "--model", str(data), "--data", str(data),
                     "--target", "outcome", "--db", db)  # fmt: skip
    assert r.returncode == 1


def test_model_versions_are_witnessed(tmp_path: Path, clock: FakeClock) -> None:
    import sqlite3

    db_path = tmp_path / "memory.db"  # the witness chain is SQLite's (not on PostgreSQL yet)

    with mindbank.open(db_path, clock=clock) as mb:
        mb.neural.train(_config(epochs=2), _records(100), target="outcome")
        mb.neural.save("outcome", "copy")
        mb.neural.rollback("outcome", 1)
        assert mb.verify().ok
    conn = sqlite3.connect(db_path, isolation_level=None)
    for t in ("neural_models_witness_update",):
        conn.execute(f"DROP TRIGGER {t}")
    conn.execute("UPDATE neural_models SET description = 'forged' WHERE version = 1")
    conn.close()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mindbank.WitnessWarning)
        with mindbank.open(db_path, clock=clock) as mb:
            report = mb.verify()
    assert report.changed == (("neural_models", "outcome\x1f1"),)


def test_catalog_shows_only_measured_numbers(db_path: Path, clock: FakeClock) -> None:
    from mindbank.neural.catalog import PRESETS, preset_config

    assert len(PRESETS) == 27
    with mindbank.open(db_path, clock=clock) as mb:
        rows = mb.neural.catalog()
        assert all(r["status"] == "untrained" and r["validation_accuracy"] is None for r in rows)
        cfg = preset_config("smart-agent")
        recs = [dict(r, strategy_used=r["strategy"]) for r in _records(200)]
        info = mb.neural.train(cfg, recs, target="outcome", name="smart-agent")
        row = next(r for r in mb.neural.catalog() if r["name"] == "smart-agent")
        assert row["status"] == "trained v1" and row["validation_accuracy"] == info.accuracy


def test_train_parallel_matches_training_one_by_one(db_path: Path, clock: FakeClock) -> None:
    data = _records(300)
    configs = [dict(_config(epochs=5, seed=s), modelId=f"p{s}") for s in (1, 2, 3)]
    with mindbank.open(db_path, clock=clock) as mb:
        infos = mb.neural.train_parallel(configs, data, target="outcome", workers=2)
        assert [i.name for i in infos] == ["p1", "p2", "p3"]
        single = mb.neural.train(configs[1], data, target="outcome", name="single")
        assert np.array_equal(mb.neural.load("p2").network.weights[0],
                              mb.neural.load("single").network.weights[0])  # fmt: skip
        assert infos[1].metrics == single.metrics
        bad = [configs[0], {"architecture": {"layers": []}, "modelId": "bad"}]
        with pytest.raises(ValidationError):
            mb.neural.train_parallel(bad, data, target="outcome", workers=2)
        assert {v.name for v in mb.neural.versions()} == {"p1", "p2", "p3", "single"}


# -- cognitive patterns (the real default model) --------------------------------------------------


@pytest.fixture(scope="module")
def minilm_bank(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with mindbank.open(tmp_path_factory.mktemp("p") / "m.db", embedder="minilm") as mb:
        yield mb


def test_patterns_zero_shot_learn_predict(minilm_bank: Any) -> None:
    p = minilm_bank.neural.patterns
    a = p.analyze("Review the pull request for SQL injection and leaked secrets")
    assert a.pattern == "critical" and a.learned_examples == 0
    assert sum(a.probabilities.values()) == pytest.approx(1.0) and a.confidence > 1 / 6
    assert p.predict("Deploy the API").success_probability is None  # no data, said so
    op = "Schedule the nightly vacuum of the analytics database"
    before = p.analyze(op)
    for _ in range(3):  # taught: a maintenance job like this is "adaptive" here
        p.learn(op, "adaptive", "success")
    p.learn("Run the nightly backup of the analytics database", "adaptive", "failure")
    after = p.analyze(op)
    assert after.pattern == "adaptive" and after.learned_examples == 4
    assert after.probabilities["adaptive"] > before.probabilities["adaptive"]
    pred = p.predict("Schedule the nightly vacuum of the reporting database")
    assert pred.success_probability is not None and 0.5 < pred.success_probability < 1
    assert "most similar learned operations succeeded" in pred.reasoning
    with pytest.raises(ValidationError, match="pattern must be one of"):
        p.learn(op, "sideways")
    with pytest.raises(ValidationError, match="non-empty"):
        p.analyze("  ")


def test_plot_needs_matplotlib_or_writes_the_curve(tmp_path: Path) -> None:
    import importlib.util

    model, data = tmp_path / "model.json", tmp_path / "data.json"
    model.write_text(json.dumps(_config(epochs=3)))
    data.write_text(json.dumps(_records(100)))
    png = tmp_path / "curve.png"
    r = run_mindbank("neural", "train", "--model", str(model), "--data", str(data), "--target",
                     "outcome", "--plot", str(png), "--db", str(tmp_path / "m.db"))  # fmt: skip
    if importlib.util.find_spec("matplotlib") is None:
        assert r.returncode == 1 and "pip install 'mindbank[plot]'" in r.stderr
        assert not png.exists()
    else:
        assert r.returncode == 0, r.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_free_text_goes_through_the_embedder_unless_hashed_is_asked(
    db_path: Path, clock: FakeClock
) -> None:
    words = {"success": "careful guarded tested change", "failure": "rushed unchecked hack"}
    recs = [dict(r, note=f"{words[r['outcome']]} number {i}") for i, r in enumerate(_records(300))]
    with mindbank.open(db_path, clock=clock) as mb:
        mb.neural.train(_config(epochs=5), recs, target="outcome", name="embedded")
        spec = next(s for s in mb.neural.load("embedded").featurizer.spec if s["field"] == "note")
        assert spec["encoding"] == "embed" and spec["embedder"] == mb.embedder.identity
        hashed_cfg = dict(_config(epochs=5), features={"text": "hashed"})
        mb.neural.train(hashed_cfg, recs, target="outcome", name="hashed")
        spec = next(s for s in mb.neural.load("hashed").featurizer.spec if s["field"] == "note")
        assert spec["encoding"] == "hashed"
        infos = mb.neural.train_parallel([dict(_config(epochs=3), modelId="par")], recs,
                                         target="outcome", workers=2)  # fmt: skip
        assert infos[0].name == "par"
        with pytest.raises(ValidationError, match=r"features\.text"):
            mb.neural.train(dict(_config(), features={"text": "bert"}), recs, target="outcome")
    with mindbank.open(db_path, clock=clock, embedder="hashing:64") as other:
        with pytest.raises(ValidationError, match="was embedded with hashing-v1:256"):
            other.neural.predict("embedded", recs[0])
        assert other.neural.predict("hashed", recs[0]).prediction in ("success", "failure")


def test_model_cache_is_configurable(db_path: Path, clock: FakeClock) -> None:
    from mindbank.config import Settings

    with mindbank.open(
        db_path, clock=clock, settings=Settings(model_cache_size=1, model_cache_ttl=10)
    ) as mb:
        mb.neural.train(_config(epochs=2), _records(60), target="outcome", name="a")
        mb.neural.train(_config(epochs=2), _records(60), target="outcome", name="b")
        mb.neural.load("a")
        mb.neural.load("a")
        assert (mb.neural.cache.hits, mb.neural.cache.misses) == (1, 1)
        mb.neural.load("b")  # evicts a (size 1)
        mb.neural.load("a")
        assert mb.neural.cache.misses == 3
        clock.advance(11)  # older than the TTL
        mb.neural.load("a")
        assert mb.neural.cache.misses == 4
        assert mb.neural.memory_stats()["cache"]["capacity"] == 1

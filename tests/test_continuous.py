"""Learning that keeps going: model updates, transfer, federated averaging, pattern learning,
and the `mindbank training` commands. Real training runs on generated records with a known
rule."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mindbank
from mindbank import MindBank, ValidationError
from mindbank.neural.features import Featurizer, merge_specs
from mindbank.reasoning.mining import wilson
from mindbank.store.pipeline import PipelineRepo

from .conftest import FakeClock, run_mindbank


@pytest.fixture
def db_path(both_db: Path | str) -> Path | str:
    """The tests that open a database run on SQLite and on PostgreSQL."""
    return both_db


@pytest.fixture
def mb(db_path: Path | str, clock: FakeClock) -> Iterator[MindBank]:
    with mindbank.open(db_path, clock=clock) as bank:
        yield bank


KINDS = ["parse", "sort", "search", "math", "io", "text"]
CONFIG = {
    "architecture": {"layers": [
        {"type": "input"}, {"type": "hidden", "size": 16, "activation": "relu"},
        {"type": "output", "activation": "softmax"},
    ]},
    "training": {"epochs": 30, "learning_rate": 0.01, "batch_size": 16, "seed": 1},
}  # fmt: skip


def rule(kind: str, size: float, retries: int, cached: bool) -> bool:
    """The known rule the records follow."""
    return (size < 0.6 and kind in ("parse", "sort", "math")) or (cached and retries < 2)


def records(
    n: int, seed: int, kinds: list[str] = KINDS, flip: bool = False
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        kind, size = rng.choice(kinds), round(rng.random(), 3)
        retries, cached = rng.randint(0, 3), rng.random() < 0.5
        ok = rule(kind, size, retries, cached) != flip
        out.append({"kind": kind, "size": size, "retries": retries, "cached": cached,
                    "outcome": "pass" if ok else "fail"})  # fmt: skip
    return out


def test_an_incremental_update_is_measured_kept_and_logged(mb: MindBank) -> None:
    v1 = mb.neural.train(CONFIG, records(60, 1), target="outcome", name="m")
    r = mb.neural.update("m", records(400, 2), watermarks={"pipeline_runs": 7})
    assert (r.from_version, r.to_version, r.current, r.kept) == (1, 2, 2, True)
    assert r.records == 320 and r.held_out == 80 + v1.metrics["validation_records"]
    assert r.after is not None and r.before is not None and r.after >= r.before
    assert r.after > 0.9  # the rule is learnable; 60 records were not enough for v1
    info = mb.neural.info("m")
    assert info.version == 2 and info.metrics["updates"] == 1
    assert info.metrics["watermarks"] == {"pipeline_runs": 7}
    assert info.accuracy == pytest.approx(r.after)
    # measured again from the stored version: the same held-out rows give the same figure
    assert mb.neural.load("m").measured_accuracy() == pytest.approx(r.after)
    log = mb.neural.updates("m")
    assert len(log) == 1 and log[0]["kept"] and log[0]["mode"] == "incremental"


def test_a_worse_update_is_rolled_back(mb: MindBank) -> None:
    mb.neural.train(CONFIG, records(300, 1), target="outcome", name="m")
    r = mb.neural.update("m", records(300, 3, flip=True), epochs=20, replay=False)
    assert not r.kept and r.after is not None and r.before is not None and r.after < r.before
    assert r.current == 1 and r.to_version == 2 and "rolled back to v1" in r.reason
    assert mb.neural.info("m").version == 1  # the current one
    assert [v.version for v in mb.neural.versions("m")] == [1, 2]  # the worse one is kept
    assert not mb.neural.updates("m")[0]["kept"]
    # a tolerance lets a slightly worse update through
    r2 = mb.neural.update("m", records(300, 3, flip=True), epochs=20, replay=False,
                          tolerance=1.0)  # fmt: skip
    assert r2.kept and mb.neural.info("m").version == 3


def test_updates_refuse_what_they_cannot_learn(mb: MindBank) -> None:
    mb.neural.train(CONFIG, records(100, 1), target="outcome", name="m")
    bad = [{**r, "outcome": "maybe"} for r in records(20, 2)]
    with pytest.raises(ValidationError, match="does not know"):
        mb.neural.update("m", bad)
    with pytest.raises(ValidationError, match="epochs"):
        mb.neural.update("m", records(20, 2), epochs=0)
    mb.neural.quantize("m")
    with pytest.raises(ValidationError, match="quantized"):
        mb.neural.update("m", records(20, 2))
    assert len(mb.neural.versions("m")) == 2 and mb.neural.updates() == []


def _relative_moves(a: Any, b: Any) -> list[float]:
    out = []
    for wa, ba, wb, bb in zip(a.weights, a.biases, b.weights, b.biases, strict=True):
        moved = math.sqrt(float(np.sum((wb - wa) ** 2) + np.sum((bb - ba) ** 2)))
        size = math.sqrt(float(np.sum(wa**2) + np.sum(ba**2)))
        out.append(moved / size)
    return out


def test_online_updates_are_bounded_and_logged(mb: MindBank) -> None:
    mb.neural.train(CONFIG, records(100, 1), target="outcome", name="m")
    seen: list[int] = []
    reports, waiting = mb.neural.update_online(
        "m", records(230, 4), every=50, max_step=0.05, on_update=lambda r: seen.append(1)
    )
    assert len(reports) == 4 and waiting == 30 and len(seen) == 4
    assert all(r.mode == "online" for r in reports)
    assert any(r.max_move > 0.05 for r in reports)  # the bound was needed
    for r in reports:
        before = mb.neural.load("m", r.from_version).network
        after = mb.neural.load("m", r.to_version).network
        assert max(_relative_moves(before, after)) <= 0.05 + 1e-9
    assert [u["mode"] for u in mb.neural.updates("m")] == ["online"] * 4


def _speed_records(n: int, seed: int) -> list[dict[str, Any]]:
    out = []
    for r in records(n, seed):
        r = dict(r)
        r["speed"] = "slow" if (r["size"] > 0.5 and not r["cached"]) else "fast"
        del r["outcome"]
        out.append(r)
    return out


def test_transfer_reuses_hidden_layers_and_is_compared_with_scratch(mb: MindBank) -> None:
    mb.neural.train(CONFIG, records(300, 1), target="outcome", name="source")
    src = mb.neural.load("source").network
    r = mb.neural.transfer(
        "source", _speed_records(200, 5), target="speed", name="speed", epochs=15
    )
    assert r.frozen and r.source == "source v1"
    assert len(r.transfer_curve) == len(r.scratch_curve) == 15
    new = mb.neural.load("speed").network
    assert np.array_equal(new.weights[0], src.weights[0])  # frozen: untouched
    assert new.sizes[-1] == 2 and mb.neural.info("speed").classes == ("fast", "slow")
    d = r.to_dict()
    assert d["transfer_final"] == r.transfer_curve[-1] and d["scratch_final"] == r.scratch_curve[-1]
    tuned = mb.neural.transfer(
        "source", _speed_records(200, 5), target="speed", name="speed2", epochs=15, freeze=False
    )
    assert not tuned.frozen
    assert not np.array_equal(mb.neural.load("speed2").network.weights[0], src.weights[0])
    assert [u["mode"] for u in mb.neural.updates()] == ["transfer", "transfer"]
    with pytest.raises(ValidationError, match="share no field"):
        mb.neural.transfer("source", [{"x": 1, "speed": "fast"}] * 6, target="speed", name="x")


def test_federated_averaging_beats_agents_alone(mb: MindBank) -> None:
    parts = [
        ("agent-a", records(300, 10, kinds=["parse", "sort"])),
        ("agent-b", records(300, 11, kinds=["search", "math"])),
        ("agent-c", records(300, 12, kinds=["io", "text"])),
    ]
    curve: list[float] = []
    r = mb.neural.federated(
        parts, CONFIG, target="outcome", name="fed", rounds=10, local_epochs=2,
        on_round=lambda i, acc: curve.append(acc),
    )  # fmt: skip
    assert list(r.rounds) == curve and len(curve) == 10
    assert r.participants == (("agent-a", 240), ("agent-b", 240), ("agent-c", 240))
    assert r.held_out == 180 and r.pooled is not None
    assert r.federated > max(r.isolated.values())  # each agent alone saw only its kinds
    assert r.federated > 0.85 and r.pooled >= r.federated - 0.1
    model = mb.neural.load("fed")
    assert model.measured_accuracy() == pytest.approx(r.federated)
    with pytest.raises(ValidationError, match="two participants"):
        mb.neural.federated(parts[:1], CONFIG, target="outcome", name="x")


def test_merged_feature_summaries_equal_the_pooled_ones() -> None:
    a, b = records(120, 1, kinds=["parse", "sort"]), records(80, 2, kinds=["io"])
    merged = {s["field"]: s for s in merge_specs(
        [Featurizer.fit(a, "outcome").spec, Featurizer.fit(b, "outcome").spec], [120, 80]
    )}  # fmt: skip
    pooled = {s["field"]: s for s in Featurizer.fit(a + b, "outcome").spec}
    assert merged["kind"]["values"] == pooled["kind"]["values"] == ["io", "parse", "sort"]
    for name in ("size", "retries"):
        assert merged[name]["mean"] == pytest.approx(pooled[name]["mean"])
        assert merged[name]["std"] == pytest.approx(pooled[name]["std"])


def test_wilson_interval_matches_known_values() -> None:
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(0, 20)
    assert low == 0.0 and high == pytest.approx(0.1611, abs=1e-4)


def _trajectories(mb: MindBank) -> None:
    rng = random.Random(3)
    for i in range(120):
        strategy = ["careful", "hasty", "quick"][i % 3]
        kind = ["io", "math"][(i // 3) % 2]
        if strategy == "careful":
            ok = rng.random() < 0.9
        elif strategy == "hasty":
            ok = rng.random() < 0.2
        else:  # quick works on io and not on math: only the pair says so
            ok = kind == "io"
        mb.bank.record_trajectory(
            f"task {i}", [{"action": "try", "observation": "ok" if ok else "AssertionError"}],
            outcome={"exit_code": 0 if ok else 1}, strategy=strategy, kind=kind,
            agent="agent-1", distil=False,
        )  # fmt: skip


def test_pattern_learning_finds_patterns_and_anti_patterns(mb: MindBank) -> None:
    _trajectories(mb)
    total, base, found = mb.bank.learn_patterns(min_support=10)
    assert total == 120 and 0.4 < base < 0.7
    by = {p.conditions: p for p in found}
    assert by[(("strategy", "careful"),)].label == "success"
    hasty = by[(("strategy", "hasty"),)]
    assert hasty.label == "failure" and hasty.reasons[0][0] == "AssertionError"
    assert all(i in hasty.evidence for i in hasty.evidence[:3])
    assert by[(("kind", "io"), ("strategy", "quick"))].label == "success"
    assert by[(("kind", "math"), ("strategy", "quick"))].label == "failure"
    assert (("strategy", "quick"),) not in by  # 50 %: no different from all tasks
    for p in found:  # every figure checks out against the data
        assert p.rate == pytest.approx(p.successes / p.support)
        assert (p.low, p.high) == pytest.approx(wilson(p.successes, p.support))
    items = mb.bank.list(namespace="learned-patterns", limit=100)
    assert len(items) == len(found)
    again = mb.bank.learn_patterns(min_support=10)[2]
    assert len(mb.bank.list(namespace="learned-patterns", limit=100)) == len(again) == len(found)
    assert {p.item for p in again} == {p.item for p in found}  # the same items, updated
    hits = mb.bank.query("which strategy fails?", namespace="learned-patterns", k=3)
    assert hits


def _runs(db_path: Path, n: int, start: int = 0) -> None:
    import mindbank
    from mindbank.store.database import Database

    rng = random.Random(start)
    db = Database(db_path, mindbank.Settings())
    with db.transaction():
        rows = []
        for i in range(start, start + n):
            strategy, kind = rng.choice(["tdd", "guess"]), rng.choice(["parse", "math"])
            ok = strategy == "tdd" or (kind == "parse" and rng.random() < 0.5)
            rows.append({"task_id": f"t{i}", "kind": kind, "strategy": strategy,
                         "passed": int(ok), "failed": int(not ok), "errors": 0, "lint": 0,
                         "seconds": 1.0 + rng.random(), "status": "passed" if ok else "failed",
                         "reason": "" if ok else "AssertionError", "score": 100.0 * ok})  # fmt: skip
        PipelineRepo(db).add(rows, 1_800_000_000.0)
    db.close()


def test_training_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    r = run_mindbank("training", "neural-train", "--from", "pipeline", "--db", db)
    assert r.returncode == 1 and "no pipeline runs" in r.stderr
    run_mindbank("db", "migrate", "--db", db)
    _runs(tmp_path / "m.db", 200)
    r = run_mindbank("training", "neural-train", "--from", "pipeline", "--epochs", "20",
                     "--db", db, "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    model = json.loads(r.stdout)["model"]
    assert model["name"] == "pipeline-prediction"
    assert model["metrics"]["watermarks"] == {"pipeline_runs": 200}
    r = run_mindbank("training", "model-update", "pipeline-prediction", "--from", "pipeline",
                     "--db", db)  # fmt: skip
    assert r.returncode == 0 and "up to date" in r.stdout
    _runs(tmp_path / "m.db", 100, start=200)
    r = run_mindbank("training", "model-update", "pipeline-prediction", "--from", "pipeline",
                     "--tolerance", "1", "--db", db, "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    upd = json.loads(r.stdout)["updates"][0]
    assert upd["records"] == 80 and upd["kept"]
    r = run_mindbank("neural", "versions", "pipeline-prediction", "--db", db, "--json")
    current = next(v for v in json.loads(r.stdout) if v["current"])
    assert current["metrics"]["watermarks"] == {"pipeline_runs": 300}
    r = run_mindbank("training", "model-update", "pipeline-prediction", "--rollback", "1",
                     "--db", db)  # fmt: skip
    assert r.returncode == 0 and "v1 is current again" in r.stdout
    for args in (
        ("neural-train", "--wasm-simd", "--from", "pipeline"),
        ("neural-train", "--privacy-preserving", "--from", "pipeline"),
        ("pattern-learn", "--deep-analysis"),
        ("model-update", "x", "--transfer-learning"),
    ):
        r = run_mindbank("training", *args, "--db", db)
        assert r.returncode == 2 and "is not implemented in mindbank" in r.stderr, args
    r = run_mindbank("training", "model-update", "x", "--online", "--rollback", "1", "--db", db)
    assert r.returncode == 1 and "choose one" in r.stderr


def test_pattern_learn_command(mb: MindBank, db_path: Path) -> None:
    _trajectories(mb)
    mb.close()
    r = run_mindbank("training", "pattern-learn", "--failure-analysis", "--min-support", "10",
                     "--db", str(db_path))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "strategy hasty: failed" in r.stdout and "x AssertionError" in r.stdout
    assert "careful" not in r.stdout
    r = run_mindbank("training", "pattern-learn", "--dry-run", "--json", "--db", str(db_path))
    doc = json.loads(r.stdout)
    assert doc["trajectories"] == 120 and doc["patterns"]

"""Learning that keeps going: incremental and online updates, transfer, federated averaging.

Every update is measured the same way: the accuracy (R^2 for regression) of the model before
and after on the same held-out records (the rows the version kept from its own validation, plus
a stratified 20 % of the new records), and it is kept only if it is not worse by more than a
tolerance; otherwise the previous version is made current again (the worse one stays in the
registry, for inspection). Each update is logged in ``model_updates``.

- **Incremental**: continue training a version, warm-started from its weights, on new records
  (mixed with the training rows the version kept, so that it does not forget what it knew).
- **Online**: an incremental update after every ``every`` new records, each bounded: no layer
  moves further than ``max_step`` times its size.
- **Transfer**: a new model for a new target whose hidden layers start as another model's
  (frozen or not), trained side by side with the same model from random weights.
- **Federated averaging** (FedAvg): participants train locally from the global weights, and
  only their weights (and feature summaries: category values, means and spreads) leave them;
  the global model is their average weighted by record count, round after round.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mindbank.errors import ValidationError, shown
from mindbank.neural.features import Featurizer, merge_specs
from mindbank.neural.model import (
    Model,
    encode_targets,
    load_records,
    split,
    targets_of,
)
from mindbank.neural.network import Epoch, Network, parse_config
from mindbank.records import FederatedReport, ModelInfo, TransferReport, UpdateReport


class NeuralModels(Protocol):
    """What the updates need of :class:`mindbank.neural.registry.NeuralModels` (which calls
    them, so this module does not import it)."""

    def info(self, name: str, version: int | None = None) -> ModelInfo: ...

    def load(self, name: str, version: int | None = None) -> Model: ...

    def transaction(self) -> Any: ...

    def _store_version(
        self, name: str, description: str, model: Model, history: Sequence[Epoch]
    ) -> ModelInfo: ...

    def make_current(self, name: str, version: int) -> None: ...

    def _log_update(self, row: dict[str, Any]) -> None: ...


__all__ = ["federated", "online", "transfer", "update"]

F = npt.NDArray[np.float64]
KEEP_VALIDATION = 5000
"""Held-out rows a version keeps (newest first) to measure the next update on."""
KEEP_REFERENCE = 2000
"""Training rows a version keeps, replayed in updates and used to explain predictions."""


def _held_out(model: Model, val: list[dict[str, Any]]) -> tuple[F, F]:
    parts: list[tuple[F, F]] = []
    if val:
        parts.append((model.featurizer.transform(val), model.targets(val)))
    if model.validation is not None and len(model.validation[0]):
        parts.append(model.validation)
    if not parts:
        raise ValidationError(
            "nothing to measure the update on: the version kept no validation rows; give "
            "validation records or at least 5 new records"
        )
    x = np.vstack([p[0] for p in parts])[:KEEP_VALIDATION]
    y = np.vstack([p[1] for p in parts])[:KEEP_VALIDATION]
    return x, y


def update(
    models: NeuralModels,
    name: str,
    data: Any,
    *,
    version: int | None = None,
    epochs: int = 10,
    learning_rate: float | None = None,
    tolerance: float = 0.0,
    max_step: float | None = None,
    replay: bool = True,
    mode: str = "incremental",
    watermarks: Mapping[str, int] | None = None,
) -> UpdateReport:
    """Continue training a version on new records; keep it only if it is not worse.

    Args:
        models: the registry.
        name: the model.
        data: the new records (as :meth:`NeuralModels.train` takes them).
        version: the version to start from (default: the current one).
        epochs: passes over the new records (and the replayed ones).
        learning_rate: default: the model's own.
        tolerance: how much worse (in accuracy) the update may be and still be kept.
        max_step: bound every layer's move to this share of its size (None: no bound).
        replay: mix in the training rows the version kept.
        mode: what to log it as (``incremental`` or ``online``).
        watermarks: the newest source records now learned from (e.g. the last pipeline
            run's id), kept in the new version's header.

    Raises:
        ValidationError: bad arguments, records with unknown classes or fields of the wrong
            kind, or a quantized version.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValidationError(f"epochs must be a positive integer, got {shown(epochs)}")
    if tolerance < 0:
        raise ValidationError("tolerance must be >= 0")
    if max_step is not None and max_step <= 0:
        raise ValidationError("max_step must be > 0")
    start = time.perf_counter()
    info = models.info(name, version)
    current = models.info(name)
    if info.quantized:
        raise ValidationError(
            f"{name} v{info.version} is quantized; update the float version it came from"
        )
    model = models.load(name, version)
    train, val = load_records(data, model.target)
    if not val and len(train) >= 5:
        train, val = split(train, model.target, model.classes is not None, info.version)
    x_new, y_new = model.featurizer.transform(train), model.targets(train)
    x_h, y_h = _held_out(model, val)
    before = model.accuracy(x_h, y_h)
    x_fit, y_fit = x_new, y_new
    if replay and model.reference is not None and len(model.reference[0]):
        x_fit = np.vstack([x_new, model.reference[0]])
        y_fit = np.vstack([y_new, model.reference[1]])
    cfg = parse_config(model.config)
    cfg = dataclasses.replace(
        cfg, epochs=epochs, learning_rate=learning_rate or cfg.learning_rate, patience=None,
        seed=cfg.seed + info.version,
    )  # fmt: skip
    net = model.network.copy()
    history = net.fit(x_fit, y_fit, cfg, x_h, y_h, model._accuracy)
    moved = net.bound_step(model.network, max_step if max_step is not None else float("inf"))
    after = model.accuracy(x_h, y_h, net)
    kept = after >= before - tolerance
    ref_x = np.vstack([x_new, *([] if model.reference is None else [model.reference[0]])])
    ref_y = np.vstack([y_new, *([] if model.reference is None else [model.reference[1]])])
    new = Model(
        model.config, model.target, model.featurizer, net, model.classes, model.target_mean,
        model.target_std, reference=(ref_x[:KEEP_REFERENCE], ref_y[:KEEP_REFERENCE]),
        validation=(x_h, y_h),
    )  # fmt: skip
    metrics = dict(model.metrics)
    metrics.update(
        validation_accuracy=after,
        validation_records=len(x_h),
        train_records=int(metrics.get("train_records") or 0) + len(train),
        updates=int(metrics.get("updates") or 0) + 1,
        epochs=len(history),
        final_train_loss=history[-1].train_loss,
    )
    marks = dict(metrics.get("watermarks") or {})
    marks.update(watermarks or {})
    if marks:
        metrics["watermarks"] = marks
    new.metrics = metrics
    verdict = (
        f"kept: {after:.4f} >= {before:.4f} - {tolerance:g}"
        if kept
        else f"rolled back to v{current.version}: {after:.4f} < {before:.4f} - {tolerance:g}"
    )
    with models.transaction():
        stored = models._store_version(name, f"{mode} update of v{info.version}", new, history)
        if not kept:
            models.make_current(name, current.version)
        models._log_update(
            {"name": name, "mode": mode, "from_version": info.version,
             "to_version": stored.version, "records": len(train), "held_out": len(x_h),
             "before": before, "after": after, "kept": kept,
             "detail": {"max_move": moved, "max_step": max_step, "epochs": epochs,
                        "replayed": len(x_fit) - len(x_new), "reason": verdict}}
        )  # fmt: skip
    return UpdateReport(
        name, mode, info.version, stored.version, stored.version if kept else current.version,
        len(train), len(x_h), before, after, kept, verdict, moved, time.perf_counter() - start,
    )  # fmt: skip


def online(
    models: NeuralModels,
    name: str,
    records: Iterable[Mapping[str, Any]],
    *,
    every: int = 50,
    max_step: float = 0.1,
    epochs: int = 5,
    tolerance: float = 0.0,
    on_update: Callable[[UpdateReport], None] | None = None,
) -> tuple[list[UpdateReport], int]:
    """Update after every ``every`` records from a stream, each update bounded by
    ``max_step``; returns the updates and how many records are left waiting for the next.
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 5:
        raise ValidationError(f"every must be an integer >= 5, got {shown(every)}")
    reports: list[UpdateReport] = []
    batch: list[dict[str, Any]] = []
    for r in records:
        if not isinstance(r, Mapping):
            raise ValidationError("every record must be a JSON object")
        batch.append(dict(r))
        if len(batch) >= every:
            report = update(
                models, name, batch, epochs=epochs, tolerance=tolerance, max_step=max_step,
                mode="online",
            )  # fmt: skip
            reports.append(report)
            if on_update is not None:
                on_update(report)
            batch = []
    return reports, len(batch)


def _curve(history: Sequence[Epoch]) -> tuple[float, ...]:
    return tuple(float(e.val_accuracy) for e in history if e.val_accuracy is not None)


def transfer(
    models: NeuralModels,
    source: str,
    data: Any,
    *,
    target: str,
    name: str,
    source_version: int | None = None,
    head: str | None = None,
    epochs: int | None = None,
    freeze: bool = True,
    on_epoch: Callable[[Epoch], None] | None = None,
) -> TransferReport:
    """Train a model for ``target`` whose hidden layers start as ``source``'s, and the same
    model from random weights on the same data, config and seed, to compare.

    The new model reads its records with the source's featurizer (the fields it knew), so the
    records should describe the same kind of thing. ``head``: ``softmax`` (default for text
    or boolean targets) or ``linear`` (default for numbers).

    Raises:
        ValidationError: bad data, or records that share no field with the source's.
    """
    src = models.load(source, source_version)
    src_info = models.info(source, source_version)
    train, val = load_records(data, target)
    known = {f for f, _, _ in src.featurizer.field_slices()}
    if not any(set(r) & known for r in train):
        raise ValidationError(
            f"the records share no field with what {shown(source)} reads ({', '.join(sorted(known))})"
        )
    if head is None:
        numeric = all(
            isinstance(r[target], int | float) and not isinstance(r[target], bool) for r in train
        )
        head = "linear" if numeric else "softmax"
    if head not in ("softmax", "linear"):
        raise ValidationError(f"head must be softmax or linear, got {shown(head)}")
    cfg = parse_config(src.config)
    cfg = dataclasses.replace(cfg, head=head, patience=None, epochs=epochs or cfg.epochs)
    if not val and len(train) >= 5:
        train, val = split(train, target, head == "softmax", cfg.seed)
    if not val:
        raise ValidationError("transfer needs validation records (or at least 5 records)")
    classes, mean, std, out = targets_of(train, target, head, None)
    x, x_val = src.featurizer.transform(train), src.featurizer.transform(val)
    y = encode_targets(train, target, classes, head, mean, std)
    y_val = encode_targets(val, target, classes, head, mean, std)
    sizes = [*src.network.sizes[:-1], out]
    hidden = len(sizes) - 2
    config = dict(src.config)
    layers = [dict(lay) for lay in config["architecture"]["layers"]]
    layers[-1] = {"type": "output", "activation": head, "size": out}
    config["architecture"] = {**config["architecture"], "layers": layers}
    config["modelId"] = name

    def run(start_from_source: bool) -> tuple[Model, list[Epoch], float]:
        net = Network(sizes, src.network.activations, head, cfg.seed)
        if start_from_source:
            for i in range(hidden):
                net.weights[i] = src.network.weights[i].copy()
                net.biases[i] = src.network.biases[i].copy()
        m = Model(config, target, src.featurizer, net, classes, mean, std)
        t0 = time.perf_counter()
        hist = net.fit(
            x, y, cfg, x_val, y_val, m._accuracy, on_epoch if start_from_source else None,
            frozen=hidden if (freeze and start_from_source) else 0,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        m.reference = (x[:KEEP_REFERENCE], y[:KEEP_REFERENCE])
        m.validation = (x_val, y_val)
        m.metrics = m._measure(hist, len(train), len(val), x_val, y_val)
        return m, hist, seconds

    model, hist, t_seconds = run(True)
    _, scratch_hist, s_seconds = run(False)
    model.metrics["transferred_from"] = f"{source} v{src_info.version}"
    model.metrics["frozen_layers"] = hidden if freeze else 0
    t_curve, s_curve = _curve(hist), _curve(scratch_hist)
    with models.transaction():
        stored = models._store_version(
            name, f"transfer from {source} v{src_info.version}", model, hist
        )
        models._log_update(
            {"name": name, "mode": "transfer", "from_version": None,
             "to_version": stored.version, "records": len(train), "held_out": len(val),
             "before": s_curve[-1] if s_curve else None,
             "after": t_curve[-1] if t_curve else None, "kept": True,
             "detail": {"source": f"{source} v{src_info.version}", "frozen": freeze,
                        "transfer_curve": t_curve, "scratch_curve": s_curve}}
        )  # fmt: skip
    return TransferReport(
        stored, f"{source} v{src_info.version}", freeze, t_curve, s_curve, t_seconds, s_seconds
    )


def federated(
    models: NeuralModels,
    participants: Sequence[tuple[str, Any]],
    config: Mapping[str, Any],
    *,
    target: str,
    name: str,
    rounds: int = 10,
    local_epochs: int = 1,
    compare: bool = True,
    on_round: Callable[[int, float], None] | None = None,
) -> FederatedReport:
    """Federated averaging over participants' records (``(label, data)`` pairs).

    Each participant fits its own feature summary and holds out 20 % of its records; the
    summaries are merged (:func:`~mindbank.neural.features.merge_specs`); then, for
    ``rounds`` rounds, every participant trains ``local_epochs`` epochs from the global
    weights on its own records and the global weights become the record-weighted average.
    Accuracy is measured on the union of the held-out records after every round. With
    ``compare``, one model trained on all the records together (the same number of epochs)
    and one per participant alone are measured on the same records.

    Raises:
        ValidationError: fewer than two participants, bad data or config.
    """
    if len(participants) < 2:
        raise ValidationError("federated learning needs at least two participants")
    for label, value in (("rounds", rounds), ("local_epochs", local_epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(f"{label} must be a positive integer, got {shown(value)}")
    cfg = parse_config(config)
    if cfg.head not in ("softmax", "sigmoid", "linear"):  # pragma: no cover - parse_config
        raise ValidationError(f"unknown head {cfg.head!r}")
    start = time.perf_counter()
    features = config.get("features") or {}
    text = features.get("text", "hashed") if isinstance(features, Mapping) else "hashed"
    local: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = []
    specs, counts = [], []
    for i, (label, data) in enumerate(participants):
        train, val = load_records(data, target)
        if not val and len(train) >= 5:
            train, val = split(train, target, cfg.head != "linear", cfg.seed + i)
        local.append((str(label), train, val))
        specs.append(Featurizer.fit(train, target, text, None).spec)
        counts.append(len(train))
    featurizer = Featurizer(merge_specs(specs, counts), None)
    every = [r for _, train, _ in local for r in train]
    classes, mean, std, out = targets_of(every, target, cfg.head, cfg.output_size)
    # Classes and the target's mean and spread are summaries too; the records stay local.
    data_x = [featurizer.transform(train) for _, train, _ in local]
    data_y = [encode_targets(train, target, classes, cfg.head, mean, std) for _, train, _ in local]
    val_rows = [r for _, _, val in local for r in val]
    if not val_rows:
        raise ValidationError("no held-out records: give each participant at least 5 records")
    x_h = featurizer.transform(val_rows)
    y_h = encode_targets(val_rows, target, classes, cfg.head, mean, std)
    sizes = [featurizer.width, *(s for s, _ in cfg.hidden), out]
    acts = [a for _, a in cfg.hidden]
    glob = Network(sizes, acts, cfg.head, cfg.seed)
    model = Model(config, target, featurizer, glob, classes, mean, std)
    local_cfg = dataclasses.replace(cfg, epochs=local_epochs, patience=None)
    curve: list[float] = []
    history: list[Epoch] = []
    total = sum(len(x) for x in data_x)
    for rnd in range(1, rounds + 1):
        weights = [np.zeros_like(w) for w in glob.weights]
        biases = [np.zeros_like(b) for b in glob.biases]
        loss = 0.0
        for j, (x, y) in enumerate(zip(data_x, data_y, strict=True)):
            net = glob.copy()
            hist = net.fit(x, y, dataclasses.replace(local_cfg, seed=cfg.seed + 1000 * rnd + j))
            share = len(x) / total  # FedAvg: weighted by the participant's record count
            for i in range(len(weights)):
                weights[i] += share * net.weights[i]
                biases[i] += share * net.biases[i]
            loss += share * hist[-1].train_loss
        glob.weights, glob.biases = weights, biases
        acc = model.accuracy(x_h, y_h)
        curve.append(acc)
        history.append(Epoch(rnd, loss, glob.loss(glob.predict(x_h), y_h), acc, cfg.learning_rate))
        if on_round is not None:
            on_round(rnd, acc)
    seconds = time.perf_counter() - start
    pooled: float | None = None
    isolated: dict[str, float] = {}
    if compare:
        epochs = rounds * local_epochs
        alone_cfg = dataclasses.replace(cfg, epochs=epochs, patience=None)
        net = Network(sizes, acts, cfg.head, cfg.seed)
        net.fit(np.vstack(data_x), np.vstack(data_y), alone_cfg)
        pooled = model.accuracy(x_h, y_h, net)
        for (label, _, _), x, y in zip(local, data_x, data_y, strict=True):
            net = Network(sizes, acts, cfg.head, cfg.seed)
            net.fit(x, y, alone_cfg)
            isolated[label] = model.accuracy(x_h, y_h, net)
    model.reference = None
    model.validation = (x_h, y_h)
    model.metrics = {
        "epochs": rounds, "train_records": total, "validation_records": len(x_h),
        "final_train_loss": history[-1].train_loss, "validation_accuracy": curve[-1],
        "best_validation_accuracy": max(curve),
        "metric": "r2" if classes is None else "accuracy",
        "federated": {"participants": [[label, len(t)] for label, t, _ in local],
                      "rounds": rounds, "local_epochs": local_epochs},
    }  # fmt: skip
    with models.transaction():
        stored: ModelInfo = models._store_version(
            name, f"federated average of {len(local)} participants", model, history
        )
        models._log_update(
            {"name": name, "mode": "federated", "from_version": None,
             "to_version": stored.version, "records": total, "held_out": len(x_h),
             "before": pooled, "after": curve[-1], "kept": True,
             "detail": {"rounds": curve, "pooled": pooled, "isolated": isolated,
                        "participants": [label for label, _, _ in local]}}
        )  # fmt: skip
    return FederatedReport(
        stored, tuple((label, len(t)) for label, t, _ in local), tuple(curve), curve[-1],
        pooled, isolated, len(x_h), seconds,
    )  # fmt: skip

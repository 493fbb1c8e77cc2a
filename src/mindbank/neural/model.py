"""A trained model: featurizer + network + what it predicts, and how it explains itself.

Training data is Claude-Flow's JSON (``{"trainingData": [...], "validationData": [...]}``),
a list of records, or JSON Lines, with a named target field. Without validation data a
stratified 20 % held-out split is made (seeded). The accuracy a model reports is its measured
validation accuracy (for regression: R^2 on the validation data); with no validation records
there is none.

Serialized form (used by the registry and by ``.clf`` files): a JSON header (format, config,
feature spec, classes, metrics) and the arrays as ``.npz`` bytes, read back with
``allow_pickle=False``: loading a model can never execute code.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mindbank.errors import ValidationError, shown
from mindbank.neural.features import Featurizer
from mindbank.neural.network import (
    MAX_LAYERS,
    MAX_UNITS,
    Epoch,
    Network,
    act_grad,
    check_size,
    parse_config,
)

__all__ = ["Model", "Prediction", "encode_targets", "load_records", "split", "targets_of"]

F = npt.NDArray[np.float64]
FORMAT = 1
_NEIGHBOURS = 10
_KEEP_FOR_REASONS = 2000


@dataclass(frozen=True, slots=True)
class Prediction:
    """A prediction, how sure the model is, and why."""

    prediction: Any
    confidence: float | None
    probabilities: Mapping[str, float]
    reasoning: str
    recommendations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prediction": self.prediction,
            "confidence": self.confidence,
            "probabilities": dict(self.probabilities),
            "reasoning": self.reasoning,
            "recommendations": list(self.recommendations),
        }


def load_records(data: Any, target: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(training, validation)`` records from Claude-Flow's JSON, a list, or JSON Lines
    text. Raises ValidationError if empty or a record lacks the target."""
    if isinstance(data, str):
        text = data.strip()
        if text.startswith("{") and "\n{" in text:  # JSON Lines
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    if isinstance(data, Mapping):
        train = data.get("trainingData")
        val = data.get("validationData") or []
        if not isinstance(train, list):
            raise ValidationError("the data needs a trainingData list")
    elif isinstance(data, list):
        train, val = data, []
    else:
        raise ValidationError("the data must be {trainingData, validationData}, a list or JSONL")
    if not train:
        raise ValidationError("the training data is empty")
    for where, records in (("trainingData", train), ("validationData", val)):
        for i, r in enumerate(records):
            if not isinstance(r, Mapping):
                raise ValidationError(f"{where}[{i}] is not a JSON object")
            if r.get(target) is None:
                raise ValidationError(f"{where}[{i}] has no target field {shown(target)}")
    return [dict(r) for r in train], [dict(r) for r in val]


def split(
    records: list[dict[str, Any]], target: str, classes: bool, seed: int, share: float = 0.2
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A held-out split, stratified by the target's value for classification."""
    rng = np.random.default_rng(seed)
    groups: dict[Any, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(str(r[target]) if classes else 0, []).append(i)
    held: set[int] = set()
    for idx in groups.values():
        idx = list(rng.permutation(idx))
        held.update(idx[: round(len(idx) * share)])
    train = [r for i, r in enumerate(records) if i not in held]
    return train, [r for i, r in enumerate(records) if i in held]


MAX_MODEL_BYTES = 256 * 1024 * 1024
"""Most bytes a model's arrays may take."""


def check_shape(header: Mapping[str, Any]) -> list[int]:
    """The layer sizes of a model header, checked before anything is allocated: at most
    :data:`MAX_LAYERS` hidden layers of at most :data:`MAX_UNITS` units, at most
    :data:`MAX_PARAMETERS` weights, one activation per hidden layer, a head.

    Raises:
        ValidationError: naming what is wrong.
    """
    if not isinstance(header, Mapping):
        raise ValidationError("the model header is not an object")
    sizes = header.get("sizes")
    if (
        not isinstance(sizes, list)
        or not 2 <= len(sizes) <= MAX_LAYERS + 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes)
    ):
        raise ValidationError(
            f"the model's layer sizes must be a list of 2 to {MAX_LAYERS + 2} integers"
        )
    if not all(1 <= n <= MAX_UNITS for n in sizes):
        raise ValidationError(f"a layer of the model has {max(sizes):,} units; the limit is "
                              f"{MAX_UNITS:,}")  # fmt: skip
    check_size(sizes)
    acts = header.get("activations")
    if not isinstance(acts, list) or len(acts) != len(sizes) - 2:
        raise ValidationError("the model needs one activation per hidden layer")
    if not all(isinstance(a, str) for a in acts) or not isinstance(header.get("head"), str):
        raise ValidationError("the model's activations and head must be names")
    return list(sizes)


class Model:
    """A featurizer, a network and the target's encoding."""

    def __init__(
        self,
        config: Mapping[str, Any],
        target: str,
        featurizer: Featurizer,
        network: Network,
        classes: list[Any] | None,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        metrics: Mapping[str, Any] | None = None,
        reference: tuple[F, F] | None = None,
        validation: tuple[F, F] | None = None,
    ):
        self.config = dict(config)
        self.target = target
        self.featurizer = featurizer
        self.network = network
        self.classes = classes
        self.target_mean = target_mean
        self.target_std = target_std
        self.metrics: dict[str, Any] = dict(metrics or {})
        self.reference = reference  # a sample of training rows and their encoded targets
        self.validation = validation  # the validation rows and targets, to measure again later
        self._ref_sq: F | None = None

    # -- training --------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        config: Mapping[str, Any],
        data: Any,
        target: str,
        on_epoch: Callable[[Epoch], None] | None = None,
        embedder: Callable[[], Any] | None = None,
    ) -> tuple[Model, list[Epoch]]:
        """Fit a model on data; returns it and every epoch's measured figures. Free text is
        embedded with ``embedder`` unless the configuration says ``"features": {"text":
        "hashed"}`` (or there is no embedder)."""
        cfg = parse_config(config)
        features = config.get("features") or {}
        if not isinstance(features, Mapping):
            raise ValidationError("features must be an object")
        text = features.get("text", "embed" if embedder is not None else "hashed")
        train, val = load_records(data, target)
        classification = cfg.head in ("softmax", "sigmoid")
        if not val and len(train) >= 5:
            train, val = split(train, target, classification, cfg.seed)
        featurizer = Featurizer.fit(train, target, text, embedder)
        x = featurizer.transform(train)
        x_val = featurizer.transform(val) if val else None
        if cfg.input_size is not None and cfg.input_size != featurizer.width:
            raise ValidationError(
                f"the input layer has size {cfg.input_size} but the records give "
                f"{featurizer.width} features; leave the input size out to size it from the data"
            )
        classes, mean, std, out_size = targets_of(train, target, cfg.head, cfg.output_size)
        y = encode_targets(train, target, classes, cfg.head, mean, std)
        y_val = encode_targets(val, target, classes, cfg.head, mean, std) if val else None
        sizes = [featurizer.width, *(s for s, _ in cfg.hidden), out_size]
        net = Network(sizes, [a for _, a in cfg.hidden], cfg.head, cfg.seed)
        model = cls(config, target, featurizer, net, classes, mean, std)
        history = net.fit(x, y, cfg, x_val, y_val, model._accuracy, on_epoch)
        keep = np.random.default_rng(cfg.seed + 2).permutation(len(x))[:_KEEP_FOR_REASONS]
        model.reference = (x[keep], y[keep])
        if x_val is not None and y_val is not None and len(x_val):
            model.validation = (x_val, y_val)
        model.metrics = model._measure(history, len(train), len(val), x_val, y_val)
        return model, history

    def _accuracy(self, out: F, y: F) -> float:
        if self.network.head == "softmax":
            return float(np.mean(out.argmax(axis=1) == y.argmax(axis=1)))
        if self.network.head == "sigmoid":
            return float(np.mean((out[:, 0] >= 0.5) == (y[:, 0] >= 0.5)))
        ss = float(np.sum((y - y.mean()) ** 2)) or 1.0
        return 1.0 - float(np.sum((out - y) ** 2)) / ss  # R^2

    def _measure(
        self, history: list[Epoch], n_train: int, n_val: int, x_val: F | None, y_val: F | None
    ) -> dict[str, Any]:
        accs = [e.val_accuracy for e in history if e.val_accuracy is not None]
        final = None
        if x_val is not None and y_val is not None and len(x_val):
            final = self._accuracy(self.network.predict(x_val), y_val)
        return {
            "epochs": len(history),
            "train_records": n_train,
            "validation_records": n_val,
            "final_train_loss": history[-1].train_loss if history else None,
            "validation_accuracy": final,
            "best_validation_accuracy": max(accs) if accs else None,
            "metric": "r2" if self.classes is None else "accuracy",
        }

    def targets(self, records: Sequence[Mapping[str, Any]]) -> F:
        """The records' targets encoded as this model's outputs (one-hot, 0/1 or
        standardized values).

        Raises:
            ValidationError: a class the model does not know.
        """
        rows = [dict(r) for r in records]
        if self.classes is not None:
            unknown = {r[self.target] for r in rows} - set(self.classes)
            if unknown:
                raise ValidationError(
                    f"{self.target!r} has values the model does not know "
                    f"({', '.join(sorted(map(str, unknown)))}); a model's classes are fixed "
                    "when it is first trained"
                )
        return encode_targets(
            rows, self.target, self.classes, self.network.head, self.target_mean, self.target_std
        )

    def accuracy(self, x: F, y: F, network: Network | None = None) -> float:
        """Accuracy (R^2 for regression) of this model's network (or another of the same
        shape) on encoded rows."""
        return self._accuracy((network or self.network).predict(x), y)

    def validation_accuracy(self, records: Sequence[Mapping[str, Any]]) -> float:
        """Measured accuracy (R^2 for regression) on records with the target."""
        return self.accuracy(self.featurizer.transform(records), self.targets(records))

    # -- predicting ------------------------------------------------------------------------

    def outputs(self, records: Sequence[Mapping[str, Any]]) -> F:
        """Raw outputs for records (probabilities, or standardized values)."""
        return self.network.predict(self.featurizer.transform(records))

    def predict_batch(self, records: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Predictions only (fast path)."""
        out = self.outputs(records)
        if self.classes is None:
            return [float(v) for v in out[:, 0] * self.target_std + self.target_mean]
        if self.network.head == "sigmoid":
            return [self.classes[int(p >= 0.5)] for p in out[:, 0]]
        return [self.classes[int(i)] for i in out.argmax(axis=1)]

    def predict(self, record: Mapping[str, Any]) -> Prediction:
        """One prediction with its confidence, the reasoning and what drove it."""
        x = self.featurizer.transform([record])
        out = self.network.predict(x)[0]
        if self.classes is None:
            value = float(out[0] * self.target_std + self.target_mean)
            probs: dict[str, float] = {}
            label, conf, idx = value, None, 0
        else:
            p = np.array([1.0 - out[0], out[0]]) if self.network.head == "sigmoid" else out
            idx = int(np.argmax(p))
            label, conf = self.classes[idx], float(p[idx])
            probs = {str(c): float(q) for c, q in zip(self.classes, p, strict=True)}
        return Prediction(label, conf, probs, self._reasoning(x[0], label), self._drivers(x, idx))

    def _reasoning(self, row: F, label: Any) -> str:
        if self.reference is None or not len(self.reference[0]):
            return "no training sample kept"
        xs, ys = self.reference
        if self._ref_sq is None:
            self._ref_sq = np.einsum("ij,ij->i", xs, xs)
        d = self._ref_sq - 2.0 * (xs @ row)  # squared distance, less the query's own norm
        near = np.argsort(d, kind="stable")[:_NEIGHBOURS]
        if self.classes is None:
            vals = ys[near, 0] * self.target_std + self.target_mean
            return (
                f"the {len(near)} most similar training records had {self.target} "
                f"{float(vals.mean()):.4g} on average (from {float(vals.min()):.4g} "
                f"to {float(vals.max()):.4g})"
            )
        if self.network.head == "sigmoid":
            got = [self.classes[int(v >= 0.5)] for v in ys[near, 0]]
        else:
            got = [self.classes[int(i)] for i in ys[near].argmax(axis=1)]
        same = sum(1 for g in got if g == label)
        return f"{same} of the {len(near)} most similar training records had {self.target} {label}"

    def _drivers(self, x: F, idx: int) -> tuple[str, ...]:
        """Fields that pushed the prediction most, by gradient x input summed per field."""
        net = self.network
        outs = net.forward(x)
        grad = np.zeros_like(outs[-1])
        if net.head == "softmax" or net.head == "linear":
            grad[0, idx if net.head == "softmax" else 0] = 1.0
        else:
            grad[0, 0] = 1.0 if idx == 1 else -1.0
        # back through the head's pre-activation
        if net.head == "softmax":
            p = outs[-1]
            delta = p * (grad - (grad * p).sum(axis=1, keepdims=True))
        elif net.head == "sigmoid":
            delta = grad * outs[-1] * (1 - outs[-1])
        else:
            delta = grad
        for i in range(len(net.weights) - 1, -1, -1):
            g_in = delta @ net.weights[i].T
            if i > 0:
                delta = g_in * act_grad(net.activations[i - 1], outs[i])
        contrib = (g_in * x)[0]
        per_field = [
            (field, float(contrib[a:b].sum())) for field, a, b in self.featurizer.field_slices()
        ]
        per_field.sort(key=lambda t: -abs(t[1]))
        what = "toward" if self.classes is not None else "up"
        out = []
        for field, c in per_field[:3]:
            if abs(c) < 1e-9:
                continue
            direction = what if c > 0 else ("against" if self.classes is not None else "down")
            target = "this prediction" if self.classes is not None else "the value"
            out.append(f"{field} pushed {direction} {target} ({c:+.3f})")
        return tuple(out)

    # -- storing ---------------------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-ready data."""
        return {
            "format": FORMAT,
            "config": self.config,
            "target": self.target,
            "features": self.featurizer.spec,
            "classes": self.classes,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "sizes": self.network.sizes,
            "activations": self.network.activations,
            "head": self.network.head,
            "metrics": self.metrics,
        }

    def arrays(self) -> dict[str, Any]:
        """The arrays, by name."""
        out: dict[str, Any] = {}
        for i, (w, b) in enumerate(zip(self.network.weights, self.network.biases, strict=True)):
            out[f"w{i}"], out[f"b{i}"] = w, b
        if self.reference is not None:  # float32 is plenty for explanations and re-measuring
            out["ref_x"], out["ref_y"] = (a.astype(np.float32) for a in self.reference)
        if self.validation is not None:
            out["val_x"], out["val_y"] = (a.astype(np.float32) for a in self.validation)
        return out

    def measured_accuracy(self) -> float | None:
        """Accuracy (R^2 for regression) on the kept validation rows, measured now."""
        if self.validation is None:
            return None
        x, y = self.validation
        return self._accuracy(self.network.predict(x), y)

    def weights_bytes(self, replace: Mapping[str, Any] | None = None) -> bytes:
        """The arrays as ``.npz`` bytes; ``replace`` swaps arrays (``w{i}`` for int8 ``q{i}``
        and its scales ``s{i}`` in a quantized model)."""
        arrays: dict[str, Any] = dict(self.arrays())
        for k, v in (replace or {}).items():
            if k.startswith("q"):
                arrays.pop("w" + k[1:], None)
            arrays[k] = v
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_parts(
        cls, header: Mapping[str, Any], blob: bytes, embedder: Callable[[], Any] | None = None
    ) -> Model:
        """Rebuild from a header and ``.npz`` bytes (never unpickles).

        Raises:
            ValidationError: the parts do not fit together.
        """
        sizes = check_shape(header)  # before anything is allocated
        try:
            with zipfile.ZipFile(io.BytesIO(blob)) as members:
                declared = sum(i.file_size for i in members.infolist())
            if declared > MAX_MODEL_BYTES:
                raise ValidationError(
                    f"the model's arrays claim {declared:,} bytes; the limit is {MAX_MODEL_BYTES:,}"
                )
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise ValidationError(f"the model's arrays cannot be read: {exc}") from None
        net = Network(sizes, list(header["activations"]), str(header["head"]), 0)
        for i in range(len(sizes) - 1):
            w, b = arrays.get(f"w{i}"), arrays.get(f"b{i}")
            if w is None and f"q{i}" in arrays and f"s{i}" in arrays:  # int8, quantized
                w = arrays[f"q{i}"].astype(np.float64) * arrays[f"s{i}"].astype(np.float64)
            if (
                w is None
                or b is None
                or w.shape != (sizes[i], sizes[i + 1])
                or b.shape != (sizes[i + 1],)
            ):
                raise ValidationError(f"layer {i} of the model has the wrong shape")
            net.weights[i], net.biases[i] = w.astype(np.float64), b.astype(np.float64)
        if "ref_x" in arrays:
            arrays["ref_x"], arrays["ref_y"] = (
                arrays["ref_x"].astype(np.float64),
                arrays["ref_y"].astype(np.float64),
            )
        if "val_x" in arrays:
            arrays["val_x"], arrays["val_y"] = (
                arrays["val_x"].astype(np.float64),
                arrays["val_y"].astype(np.float64),
            )
        featurizer = Featurizer(header["features"], embedder)
        if featurizer.width != sizes[0]:
            raise ValidationError("the feature spec does not match the input layer")
        ref = (arrays["ref_x"], arrays["ref_y"]) if "ref_x" in arrays else None
        val = (arrays["val_x"], arrays["val_y"]) if "val_x" in arrays else None
        return cls(
            header["config"], header["target"], featurizer, net, header["classes"],
            float(header["target_mean"]), float(header["target_std"]), header["metrics"], ref,
            val,
        )  # fmt: skip


def targets_of(
    records: list[dict[str, Any]], target: str, head: str, output_size: int | None
) -> tuple[list[Any] | None, float, float, int]:
    """``(classes, mean, std, output units)`` a head needs for the training records' target.

    Raises:
        ValidationError: a single class, or classes that do not fit the output layer.
    """
    if head in ("softmax", "sigmoid"):
        classes = sorted({r[target] for r in records}, key=lambda v: (str(type(v)), v))
        if len(classes) < 2:
            raise ValidationError(
                f"the target {shown(target)} has a single class ({classes[0]!r}) in the training "
                "data: there is nothing to learn"
            )
        if head == "sigmoid" and len(classes) != 2:
            raise ValidationError(
                f"a sigmoid output predicts two classes; {shown(target)} has {len(classes)}"
            )
        if head == "softmax" and output_size not in (None, len(classes)):
            raise ValidationError(
                f"the output layer has size {output_size} but {shown(target)} has {len(classes)} classes"
            )
        return classes, 0.0, 1.0, 1 if head == "sigmoid" else len(classes)
    values = _numbers(records, target)
    return None, float(values.mean()), float(values.std()) or 1.0, output_size or 1


def encode_targets(
    records: list[dict[str, Any]],
    target: str,
    classes: list[Any] | None,
    head: str,
    mean: float = 0.0,
    std: float = 1.0,
) -> F:
    """Targets as network outputs: one-hot, a 0/1 column, or standardized values."""
    if classes is None:
        return ((_numbers(records, target) - mean) / std)[:, None]
    return _encode(records, target, classes, head)


def _encode(records: list[dict[str, Any]], target: str, classes: list[Any], head: str) -> F:
    index = {c: i for i, c in enumerate(classes)}
    if head == "sigmoid":
        return np.array([[float(index.get(r[target], 0))] for r in records])
    y = np.zeros((len(records), len(classes)))
    for i, r in enumerate(records):
        if r[target] in index:
            y[i, index[r[target]]] = 1.0
    return y


def _numbers(records: list[dict[str, Any]], target: str) -> F:
    try:
        values = np.array([float(r[target]) for r in records])
    except (TypeError, ValueError):
        raise ValidationError(f"a regression target {shown(target)} must be numbers") from None
    if not np.all(np.isfinite(values)):
        raise ValidationError(f"the target {shown(target)} has NaN or infinite values")
    return values

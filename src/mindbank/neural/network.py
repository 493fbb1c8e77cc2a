"""A feed-forward network in numpy: Claude-Flow's model configuration, trained for real.

Layers are dense, with relu, tanh, sigmoid or linear hidden activations. The head decides the
loss: ``softmax`` (several classes, cross-entropy), ``sigmoid`` with one unit (two classes,
binary cross-entropy) or ``linear`` (regression, mean squared error). Training is mini-batch
with Adam or SGD (momentum 0.9), L2 weight decay on the weights (not the biases), a step-decay
learning-rate schedule and early stopping on the validation loss (the best weights are kept).
Everything random comes from one seeded generator, so the same config, data and seed give the
same weights bit for bit (on the same machine and BLAS).
"""

from __future__ import annotations

import itertools
import math
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mindbank.errors import ValidationError, shown

__all__ = ["ACTIVATIONS", "Epoch", "Network", "NetworkConfig", "act_grad", "parse_config"]

F = npt.NDArray[np.float64]
HIDDEN = ("relu", "tanh", "sigmoid", "linear")
HEADS = ("softmax", "sigmoid", "linear")
ACTIVATIONS = tuple(dict.fromkeys(HIDDEN + HEADS))


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """The parts of a model configuration the network needs (see :func:`parse_config`)."""

    hidden: tuple[tuple[int, str], ...]
    head: str
    output_size: int | None
    input_size: int | None
    learning_rate: float = 0.001
    batch_size: int = 32
    epochs: int = 50
    optimizer: str = "adam"
    step_size: int | None = None
    gamma: float = 1.0
    patience: int | None = None
    min_delta: float = 0.0
    l2: float = 0.0
    seed: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict)


MAX_LAYERS = 32
"""Most hidden layers a model may have."""
MAX_UNITS = 65_536
"""Most units one layer may have."""
MAX_PARAMETERS = 20_000_000
"""Most weights a model may have (160 MB as float64)."""
MAX_EPOCHS = 10_000
"""Most epochs one training may run."""

_HIGH = {"learning_rate": 10.0, "batch_size": 1_000_000, "epochs": MAX_EPOCHS,
         "step_size": 1_000_000, "gamma": 10.0, "patience": MAX_EPOCHS, "min_delta": 1e6,
         "l2": 1e3, "seed": 2**32 - 1}  # fmt: skip


def _num(obj: Mapping[str, Any], key: str, default: Any, kind: type, low: float) -> Any:
    value = obj.get(key, default)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (kind is int and not float(value).is_integer())
    ):
        raise ValidationError(f"training.{key} must be a number, got {reprlib.repr(value)}")
    high = _HIGH.get(key, float("inf"))
    if not low <= value <= high:  # also NaN
        raise ValidationError(
            f"training.{key} must be from {low:g} to {high:g}, got {shown(value)}"
        )
    return kind(value)


def check_size(sizes: Sequence[int]) -> None:
    """Refuse a network larger than the limits, before it is built: at most
    :data:`MAX_LAYERS` hidden layers of at most :data:`MAX_UNITS` units and
    :data:`MAX_PARAMETERS` weights."""
    if len(sizes) > MAX_LAYERS + 2:
        raise ValidationError(f"at most {MAX_LAYERS} hidden layers, got {len(sizes) - 2}")
    if any(n > MAX_UNITS for n in sizes):
        raise ValidationError(f"a layer has {max(sizes):,} units; the limit is {MAX_UNITS:,}")
    weights = sum(a * b for a, b in itertools.pairwise(sizes))
    if weights > MAX_PARAMETERS:
        raise ValidationError(
            f"the network would have {weights:,} weights; the limit is {MAX_PARAMETERS:,}"
        )


def parse_config(config: Mapping[str, Any]) -> NetworkConfig:
    """Read Claude-Flow's model configuration (``architecture.layers`` with ``type``
    input/hidden/output, ``size``, ``activation``; ``training`` with ``learning_rate``,
    ``batch_size``, ``epochs``, ``optimizer``, ``lr_schedule``, ``early_stopping``, ``l2``,
    ``seed``).

    Raises:
        ValidationError: naming the field that is wrong.
    """
    if not isinstance(config, Mapping):
        raise ValidationError("the model configuration must be a JSON object")
    arch = config.get("architecture")
    if not isinstance(arch, Mapping) or not isinstance(arch.get("layers"), list):
        raise ValidationError("the configuration needs architecture.layers (a list)")
    layers = arch["layers"]
    if not layers:
        raise ValidationError("architecture.layers is empty")
    hidden: list[tuple[int, str]] = []
    input_size = output_size = None
    head = None
    for i, layer in enumerate(layers):
        if not isinstance(layer, Mapping):
            raise ValidationError(f"architecture.layers[{i}] must be an object")
        kind = layer.get("type", "hidden")
        size = layer.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValidationError(f"architecture.layers[{i}].size must be a positive integer")
        act = layer.get("activation", "relu" if kind == "hidden" else None)
        if kind == "input":
            if i != 0:
                raise ValidationError(f"architecture.layers[{i}]: the input layer must come first")
            input_size = size
        elif kind == "hidden":
            if act not in HIDDEN:
                raise ValidationError(
                    f"architecture.layers[{i}].activation {shown(act)} is unknown "
                    f"(hidden layers: {', '.join(HIDDEN)})"
                )
            if size is None:
                raise ValidationError(f"architecture.layers[{i}] needs a size")
            hidden.append((size, act))
        elif kind == "output":
            if i != len(layers) - 1:
                raise ValidationError(f"architecture.layers[{i}]: the output layer must be last")
            if act not in HEADS:
                raise ValidationError(
                    f"architecture.layers[{i}].activation {shown(act)} is unknown "
                    f"(output layers: {', '.join(HEADS)})"
                )
            head, output_size = act, size
        else:
            raise ValidationError(f"architecture.layers[{i}].type {shown(kind)} is unknown")
    if head is None:
        raise ValidationError("architecture.layers needs an output layer")
    check_size([input_size or 1, *(n for n, _ in hidden), output_size or 1])
    if head == "sigmoid" and output_size not in (None, 1):
        raise ValidationError("a sigmoid output layer has size 1 (two classes)")
    t = config.get("training", {})
    if not isinstance(t, Mapping):
        raise ValidationError("training must be an object")
    optimizer = t.get("optimizer", "adam")
    if optimizer not in ("adam", "sgd"):
        raise ValidationError(f"training.optimizer must be adam or sgd, got {shown(optimizer)}")
    sched = t.get("lr_schedule") or {}
    if sched and sched.get("type", "step_decay") != "step_decay":
        raise ValidationError("training.lr_schedule.type must be step_decay")
    stop = t.get("early_stopping") or {}
    return NetworkConfig(
        hidden=tuple(hidden),
        head=head,
        output_size=output_size,
        input_size=input_size,
        learning_rate=_num(t, "learning_rate", 0.001, float, 1e-12),
        batch_size=_num(t, "batch_size", 32, int, 1),
        epochs=_num(t, "epochs", 50, int, 1),
        optimizer=optimizer,
        step_size=_num(sched, "step_size", None, int, 1) if sched else None,
        gamma=_num(sched, "gamma", 1.0, float, 0.0) if sched else 1.0,
        patience=_num(stop, "patience", None, int, 1) if stop else None,
        min_delta=_num(stop, "min_delta", 0.0, float, 0.0) if stop else 0.0,
        l2=_num(t, "l2", 0.0, float, 0.0),
        seed=_num(t, "seed", 0, int, 0),
        raw=dict(config),
    )


def _act(name: str, z: F) -> F:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
    return z


def act_grad(name: str, a: F) -> F:
    """Derivative of the activation, from its output ``a``."""
    if name == "relu":
        return (a > 0).astype(np.float64)
    if name == "tanh":
        return 1.0 - a * a
    if name == "sigmoid":
        return a * (1.0 - a)
    return np.ones_like(a)


def _softmax(z: F) -> F:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: F = e / e.sum(axis=1, keepdims=True)
    return out


@dataclass(frozen=True, slots=True)
class Epoch:
    """One epoch's measured figures."""

    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    learning_rate: float


class Network:
    """Weights and biases of a dense network, its head, and the code to train and run it."""

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], head: str, seed: int = 0):
        if len(activations) != len(sizes) - 2:
            raise ValueError("one activation per hidden layer")
        check_size(sizes)  # before a weight is allocated
        self.sizes = list(sizes)
        self.activations = list(activations)
        self.head = head
        rng = np.random.default_rng(seed)
        self.weights: list[F] = []
        self.biases: list[F] = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            act = activations[i] if i < len(activations) else head
            scale = math.sqrt(2.0 / n_in) if act == "relu" else math.sqrt(1.0 / n_in)
            self.weights.append(rng.standard_normal((n_in, n_out)) * scale)
            self.biases.append(np.zeros(n_out))

    # -- running ---------------------------------------------------------------------------

    def forward(self, x: F) -> list[F]:
        """Activations of every layer, input first, output last."""
        outs = [x]
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = outs[-1] @ w + b
            if i < len(self.weights) - 1:
                outs.append(_act(self.activations[i], z))
            elif self.head == "softmax":
                outs.append(_softmax(z))
            elif self.head == "sigmoid":
                outs.append(_act("sigmoid", z))
            else:
                outs.append(z)
        return outs

    def predict(self, x: F) -> F:
        """The output layer: class probabilities, P(positive), or values."""
        return self.forward(x)[-1]

    def loss(self, out: F, y: F) -> float:
        """Mean loss of outputs against targets (one-hot, 0/1 column, or values)."""
        eps = 1e-12
        if self.head == "softmax":
            return float(-np.mean(np.sum(y * np.log(out + eps), axis=1)))
        if self.head == "sigmoid":
            return float(-np.mean(y * np.log(out + eps) + (1 - y) * np.log(1 - out + eps)))
        return float(np.mean((out - y) ** 2))

    def gradients(self, x: F, y: F, l2: float = 0.0) -> tuple[float, list[F], list[F]]:
        """Loss (with the L2 term) and its gradients for the weights and biases."""
        outs = self.forward(x)
        n = len(x)
        out = outs[-1]
        if self.head == "mse" or self.head == "linear":
            delta = 2.0 * (out - y) / (n * out.shape[1])
        else:  # softmax + cross-entropy and sigmoid + binary cross-entropy share this form
            delta = (out - y) / n
        gw: list[F] = [np.empty(0)] * len(self.weights)
        gb: list[F] = [np.empty(0)] * len(self.weights)
        for i in range(len(self.weights) - 1, -1, -1):
            gw[i] = outs[i].T @ delta + l2 * self.weights[i]
            gb[i] = delta.sum(axis=0)
            if i > 0:
                delta = (delta @ self.weights[i].T) * act_grad(self.activations[i - 1], outs[i])
        penalty = 0.5 * l2 * sum(float(np.sum(w * w)) for w in self.weights)
        return self.loss(out, y) + penalty, gw, gb

    def copy(self) -> Network:
        """An independent copy (same shape, weights copied)."""
        out = Network.__new__(Network)
        out.sizes, out.activations, out.head = list(self.sizes), list(self.activations), self.head
        out.weights = [w.copy() for w in self.weights]
        out.biases = [b.copy() for b in self.biases]
        return out

    def bound_step(self, start: Network, max_step: float) -> float:
        """Pull this network back towards ``start`` so that no layer moved further than
        ``max_step`` times its size at the start (Frobenius norms of weights and bias
        together); returns the largest relative move before the bound."""
        largest = 0.0
        for i in range(len(self.weights)):
            dw, db = self.weights[i] - start.weights[i], self.biases[i] - start.biases[i]
            moved = math.sqrt(float(np.sum(dw * dw) + np.sum(db * db)))
            size = math.sqrt(float(np.sum(start.weights[i] ** 2) + np.sum(start.biases[i] ** 2)))
            rel = moved / max(size, 1e-12)
            largest = max(largest, rel)
            if rel > max_step:
                k = max_step / rel
                self.weights[i] = start.weights[i] + dw * k
                self.biases[i] = start.biases[i] + db * k
        return largest

    # -- training --------------------------------------------------------------------------

    def fit(
        self,
        x: F,
        y: F,
        cfg: NetworkConfig,
        x_val: F | None = None,
        y_val: F | None = None,
        accuracy: Callable[[F, F], float] | None = None,
        on_epoch: Callable[[Epoch], None] | None = None,
        frozen: int = 0,
    ) -> list[Epoch]:
        """Train in place; returns every epoch's figures (measured, not estimated). The first
        ``frozen`` layers (weights and biases) are left as they are (transfer learning)."""
        rng = np.random.default_rng(cfg.seed + 1)
        layers = len(self.weights)
        params = [*self.weights, *self.biases]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        step = 0
        history: list[Epoch] = []
        best: tuple[float, list[F], list[F]] | None = None
        waited = 0
        for epoch in range(1, cfg.epochs + 1):
            lr = cfg.learning_rate
            if cfg.step_size:
                lr *= cfg.gamma ** ((epoch - 1) // cfg.step_size)
            order = rng.permutation(len(x))
            total = 0.0
            for lo in range(0, len(x), cfg.batch_size):
                idx = order[lo : lo + cfg.batch_size]
                loss, gw, gb = self.gradients(x[idx], y[idx], cfg.l2)
                total += loss * len(idx)
                grads = [*gw, *gb]
                step += 1
                params = [*self.weights, *self.biases]
                for j, (p, g) in enumerate(zip(params, grads, strict=True)):
                    if j % layers < frozen:
                        continue
                    if cfg.optimizer == "adam":
                        m[j] = 0.9 * m[j] + 0.1 * g
                        v[j] = 0.999 * v[j] + 0.001 * g * g
                        mh = m[j] / (1 - 0.9**step)
                        vh = v[j] / (1 - 0.999**step)
                        p -= lr * mh / (np.sqrt(vh) + 1e-8)
                    else:
                        m[j] = 0.9 * m[j] + g
                        p -= lr * m[j]
            val_loss = val_acc = None
            if x_val is not None and y_val is not None and len(x_val):
                out = self.predict(x_val)
                val_loss = self.loss(out, y_val)
                val_acc = accuracy(out, y_val) if accuracy is not None else None
            record = Epoch(epoch, total / len(x), val_loss, val_acc, lr)
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if cfg.patience and val_loss is not None:
                if best is None or val_loss < best[0] - cfg.min_delta:
                    best = (val_loss, [w.copy() for w in self.weights],
                            [b.copy() for b in self.biases])  # fmt: skip
                    waited = 0
                else:
                    waited += 1
                    if waited >= cfg.patience:
                        break
        if best is not None:
            self.weights, self.biases = best[1], best[2]
        return history

"""Records of the neural models: versions, training epochs, quantization and ensembles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mindbank.records._base import JSON, Record

__all__ = ["EnsembleReport", "ModelInfo", "QuantizeReport", "TrainingEpoch"]


@dataclass(frozen=True, slots=True)
class ModelInfo(Record):
    """One version of a model in the registry.

    ``metrics`` are measured: ``validation_accuracy`` (R^2 for regression) on the held-out
    records, None when there were none.
    """

    id: int
    name: str
    version: int
    description: str
    current: bool
    target: str
    classes: tuple[JSON, ...] | None
    metrics: Mapping[str, JSON]
    size_bytes: int
    sha256: str
    quantized: str | None
    created_at: float
    last_used: float | None

    @property
    def accuracy(self) -> float | None:
        """The measured validation accuracy (None: no validation data)."""
        value = self.metrics.get("validation_accuracy")
        return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class TrainingEpoch(Record):
    """One epoch of a training run, as measured."""

    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    learning_rate: float


@dataclass(frozen=True, slots=True)
class QuantizeReport(Record):
    """A model quantized to int8: sizes and validation accuracy before and after, measured."""

    model: ModelInfo
    scheme: str
    float_bytes: int
    int8_bytes: int
    accuracy_before: float | None
    accuracy_after: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "scheme": self.scheme,
            "float_bytes": self.float_bytes,
            "int8_bytes": self.int8_bytes,
            "size_ratio": self.float_bytes / self.int8_bytes if self.int8_bytes else None,
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
        }


@dataclass(frozen=True, slots=True)
class EnsembleReport(Record):
    """Accuracy of each member and of their averaged probabilities, on the same records."""

    target: str
    records: int
    members: Mapping[str, float]
    ensemble: float


@dataclass(frozen=True, slots=True)
class UpdateReport(Record):
    """One update of a model after its first training, measured on the same held-out records
    before and after.

    Attributes:
        name: the model.
        mode: ``incremental``, ``online``, ``transfer`` or ``federated``.
        from_version: the version updated (None for a new model).
        to_version: the version written (None if nothing was written).
        current: the version current afterwards (the old one again if the update was
            rolled back).
        records: records trained on.
        held_out: records the before and after accuracies were measured on.
        before: accuracy (R^2 for regression) on them before the update.
        after: accuracy on them after.
        kept: whether the update became the current version.
        reason: why it was kept or rolled back.
        max_move: the largest relative change of a layer's weights (before any bound).
        seconds: how long the update took.
    """

    name: str
    mode: str
    from_version: int | None
    to_version: int | None
    current: int | None
    records: int
    held_out: int
    before: float | None
    after: float | None
    kept: bool
    reason: str
    max_move: float
    seconds: float


@dataclass(frozen=True, slots=True)
class TransferReport(Record):
    """A model started from another's hidden layers, against the same model from scratch.

    Attributes:
        model: the stored transferred model.
        source: ``name vN`` of the model whose layers were reused.
        frozen: whether the reused layers were left as they were.
        transfer_curve: validation accuracy after each epoch, transferred.
        scratch_curve: the same from random weights (same data, config and seed).
        transfer_seconds: training time, transferred.
        scratch_seconds: training time, from scratch.
    """

    model: ModelInfo
    source: str
    frozen: bool
    transfer_curve: tuple[float, ...]
    scratch_curve: tuple[float, ...]
    transfer_seconds: float
    scratch_seconds: float

    def epochs_to(self, curve: tuple[float, ...], level: float) -> int | None:
        """The first epoch (1-based) whose accuracy reached ``level``, or None."""
        return next((i + 1 for i, a in enumerate(curve) if a >= level), None)

    def to_dict(self) -> dict[str, Any]:
        best = max((*self.transfer_curve, *self.scratch_curve), default=0.0)
        level = 0.95 * best
        return {
            "model": self.model.to_dict(),
            "source": self.source,
            "frozen": self.frozen,
            "transfer_final": self.transfer_curve[-1] if self.transfer_curve else None,
            "scratch_final": self.scratch_curve[-1] if self.scratch_curve else None,
            "transfer_best": max(self.transfer_curve, default=None),
            "scratch_best": max(self.scratch_curve, default=None),
            "level": level,
            "transfer_epochs_to_level": self.epochs_to(self.transfer_curve, level),
            "scratch_epochs_to_level": self.epochs_to(self.scratch_curve, level),
            "transfer_curve": list(self.transfer_curve),
            "scratch_curve": list(self.scratch_curve),
            "transfer_seconds": self.transfer_seconds,
            "scratch_seconds": self.scratch_seconds,
        }


@dataclass(frozen=True, slots=True)
class FederatedReport(Record):
    """Federated averaging over several participants, against pooled and isolated training,
    all measured on the union of the participants' held-out records.

    Attributes:
        model: the stored global model.
        participants: each participant's label and training record count.
        rounds: accuracy of the global model after each round.
        federated: its final accuracy.
        pooled: accuracy of one model trained on all the records together (None if not
            compared).
        isolated: accuracy of a model trained on each participant's records alone.
        held_out: records the accuracies were measured on.
        seconds: time of the federated training.
    """

    model: ModelInfo
    participants: tuple[tuple[str, int], ...]
    rounds: tuple[float, ...]
    federated: float
    pooled: float | None
    isolated: Mapping[str, float]
    held_out: int
    seconds: float

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

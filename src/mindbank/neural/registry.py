"""The model registry: train, store versions, predict, export and import, quantize, ensemble.

Every version lives in ``neural_models`` (header JSON + ``.npz`` weights + their SHA-256) with
its epochs in ``training_history``. A training run writes nothing until it has finished, and
then everything in one transaction: a failed run leaves nothing behind. Loaded models are kept
in an LRU cache (size and TTL configurable).

``.clf`` files are zip archives of ``header.json`` (``format``, ``name``, ``version``,
``description``, the model header, and ``sha256`` of the weights) and ``weights.npz``; import
checks the format, the checksum and every array's shape, and never unpickles.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mindbank.errors import ConflictError, NotFoundError, ValidationError, shown
from mindbank.memory.cache import LRUCache
from mindbank.memory.validation import check_finite, check_key, check_path
from mindbank.neural.model import MAX_MODEL_BYTES, Model, Prediction, load_records
from mindbank.neural.network import Epoch
from mindbank.records import (
    EnsembleReport,
    FederatedReport,
    ModelInfo,
    QuantizeReport,
    TrainingEpoch,
    TransferReport,
    UpdateReport,
)
from mindbank.store.database import Database
from mindbank.store.locking import serialized
from mindbank.store.neural import NeuralRepo

if TYPE_CHECKING:
    from mindbank.embedders.base import Embedder
    from mindbank.neural.patterns import CognitivePatterns

__all__ = ["CLF_FORMAT", "NeuralModels"]

CLF_FORMAT = "mindbank-clf-1"


def _train_one(
    args: tuple[Mapping[str, Any], Any, str, str | None],
) -> tuple[dict[str, Any], bytes, list[tuple[Any, ...]]]:
    """Train one configuration (in a worker process, or here); plain data back."""
    config, data, target, embedder_spec = args
    embedder: Callable[[], Any] | None = None
    if embedder_spec is not None:
        from functools import cache

        from mindbank.embedders import load_embedder

        embedder = cache(lambda: load_embedder(embedder_spec))
    return _train(config, data, target, embedder)


def _train(
    config: Mapping[str, Any], data: Any, target: str, embedder: Callable[[], Any] | None
) -> tuple[dict[str, Any], bytes, list[tuple[Any, ...]]]:
    """Train one configuration; the model's header, weights and epochs as plain data."""
    model, history = Model.train(config, data, target, None, embedder)
    return (
        model.header(),
        model.weights_bytes(),
        [(e.epoch, e.train_loss, e.val_loss, e.val_accuracy, e.learning_rate) for e in history],
    )


def _sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


@serialized
class NeuralModels:
    """Get one as ``mb.neural``."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        cache_size: int = 8,
        cache_ttl: float = 3600.0,
        embedder: Callable[[], Embedder] | None = None,
        embedder_spec: str | None = None,
    ):
        self._embedder_fn = embedder
        self._embedder_spec = embedder_spec
        self._db = db
        self._lock = db.lock  # (mindbank.store.locking)
        self._repo = NeuralRepo(db)
        self._clock = clock
        self.cache: LRUCache[Model] = LRUCache(cache_size, cache_ttl, clock)

    @cached_property
    def patterns(self) -> CognitivePatterns:
        """Cognitive patterns: analyze, learn, predict (needs the database's embedder)."""
        from mindbank.neural.patterns import CognitivePatterns

        if self._embedder_fn is None:
            raise ValidationError("cognitive patterns need an embedder")
        return CognitivePatterns(self._db, self._embedder_fn, self._clock)

    # -- training --------------------------------------------------------------------------

    def train(
        self,
        config: Mapping[str, Any],
        data: Any,
        *,
        target: str,
        name: str | None = None,
        description: str = "",
        on_epoch: Callable[[Epoch], None] | None = None,
    ) -> ModelInfo:
        """Train a model on data and store it as the next version of ``name``.

        Args:
            config: Claude-Flow's model configuration (``architecture``, ``training``).
            data: ``{"trainingData": [...], "validationData": [...]}``, a list of records, or
                JSON / JSON Lines text.
            target: the field to predict.
            name: the model's name (default: ``config["modelId"]``).
            description: kept with the version.
            on_epoch: called after every epoch with its measured figures.

        Raises:
            ValidationError: a bad config or data set, named.
        """
        if not name and isinstance(config, Mapping):
            name = str(config.get("modelId") or "")
        if not name:
            raise ValidationError("give the model a name (or a modelId in its configuration)")
        check_key(name, "model name")
        check_key(target, "target")
        model, history = Model.train(config, data, target, on_epoch, self._embedder_fn)
        return self._store(name, description, model, history, None)

    def train_parallel(
        self,
        configs: Sequence[Mapping[str, Any]],
        data: Any,
        *,
        target: str,
        names: Sequence[str] | None = None,
        workers: int = 2,
    ) -> builtins.list[ModelInfo]:
        """Train several configurations at once on a pool of ``workers`` processes; each is
        stored as a version of its name (default: its ``modelId``) once all have finished.

        Raises:
            ValidationError: a bad configuration or data set (nothing is stored then).
        """
        from concurrent.futures import ProcessPoolExecutor

        if isinstance(configs, str | bytes | Mapping) or not isinstance(configs, Sequence):
            raise ValidationError("configs must be a list of model configurations")
        if not configs:
            raise ValidationError("give at least one configuration")
        if not all(isinstance(c, Mapping) for c in configs):
            raise ValidationError("every configuration must be a JSON object")
        if names is not None and (
            isinstance(names, str | bytes) or not isinstance(names, Sequence)
        ):
            raise ValidationError("names must be a list of model names")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValidationError(f"workers must be a positive integer, got {shown(workers)}")
        labels = list(names) if names else [str(c.get("modelId") or "") for c in configs]
        if len(labels) != len(configs) or not all(labels):
            raise ValidationError("every configuration needs a name (or a modelId)")
        for label in labels:
            check_key(label, "model name")
        jobs = [(dict(c), data, target, self._embedder_spec) for c in configs]
        if self._embedder_spec is None and self._embedder_fn is not None:
            # an embedder given as an object cannot go to another process: train here
            results = [_train(c, data, target, self._embedder_fn) for c in configs]
        elif workers == 1 or len(jobs) == 1:
            results = [_train_one(j) for j in jobs]
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
                results = list(pool.map(_train_one, jobs))
        out = []
        for label, (header, blob, rows) in zip(labels, results, strict=True):
            model = Model.from_parts(header, blob, self._embedder_fn)
            out.append(self._store(label, "", model, [Epoch(*h) for h in rows], None, blob))
        return out

    def _store(
        self,
        name: str,
        description: str,
        model: Model,
        history: Sequence[Epoch],
        quantized: str | None,
        blob: bytes | None = None,
    ) -> ModelInfo:
        blob = model.weights_bytes() if blob is None else blob
        epochs = [
            TrainingEpoch(e.epoch, e.train_loss, e.val_loss, e.val_accuracy, e.learning_rate)
            for e in history
        ]
        with self._db.transaction():
            return self._repo.add(
                name, description, model.header(), blob, _sha(blob), quantized, epochs,
                self._clock(),
            )  # fmt: skip

    # -- updates (mindbank.neural.updates) ----------------------------------------------------

    def transaction(self) -> Any:
        """The database's transaction (for the update functions)."""
        return self._db.transaction()

    def _store_version(
        self, name: str, description: str, model: Model, history: Sequence[Epoch]
    ) -> ModelInfo:
        """Store a model as the next version of ``name`` (the current one)."""
        check_key(name, "model name")
        return self._store(name, description, model, history, None)

    def make_current(self, name: str, version: int) -> None:
        """Make a version current (inside the caller's transaction)."""
        self._repo.make_current(name, version)

    def set_watermarks(self, name: str, marks: Mapping[str, int]) -> ModelInfo:
        """Record on the current version the newest source records it has learned from (e.g.
        ``{"pipeline_runs": 120}``), so the next update takes only newer ones."""
        info = self._repo.info(name)
        header, _ = self._repo.parts(info.id)
        metrics = header.setdefault("metrics", {})
        metrics["watermarks"] = {**(metrics.get("watermarks") or {}), **marks}
        with self._db.transaction():
            self._repo.set_header(info.id, header)
        return self._repo.info(name)

    def _log_update(self, row: dict[str, Any]) -> None:
        """Record an update in ``model_updates`` (inside the caller's transaction)."""
        self._repo.log_update(row, self._clock())

    def updates(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """The update log (incremental, online, transfer, federated), oldest first."""
        return self._repo.updates(name)

    def pipeline_records(
        self, pattern_type: str = "prediction", after: int = 0
    ) -> tuple[builtins.list[dict[str, Any]], str, str, int]:
        """Records from the training pipeline's runs stored after run ``after``: ``(records,
        target, head, last run id)`` (see :mod:`mindbank.neural.sources`)."""
        from mindbank.neural.sources import pipeline_records

        check_key(pattern_type, "pattern type")
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= 2**62:
            raise ValidationError(f"after must be a run id, got {shown(after)}")
        return pipeline_records(self._db, pattern_type, after)

    def update(self, name: str, data: Any, **options: Any) -> UpdateReport:
        """Continue training a version on new records, warm-started; kept only if its
        accuracy on the same held-out records is not worse (see
        :func:`mindbank.neural.updates.update` for the options)."""
        from mindbank.neural.updates import update

        return update(self, name, data, **options)

    def update_online(
        self, name: str, records: Iterable[Mapping[str, Any]], **options: Any
    ) -> tuple[builtins.list[UpdateReport], int]:
        """An update after every ``every`` records of a stream, each bounded (see
        :func:`mindbank.neural.updates.online`); returns them and the records left waiting."""
        from mindbank.neural.updates import online

        if isinstance(records, str | bytes | Mapping) or not isinstance(records, Iterable):
            raise ValidationError("records must be a list (or a stream) of JSON objects")
        return online(self, name, records, **options)

    def transfer(
        self, source: str, data: Any, *, target: str, name: str, **options: Any
    ) -> TransferReport:
        """A new model started from ``source``'s hidden layers, compared with the same model
        from scratch (see :func:`mindbank.neural.updates.transfer`)."""
        from mindbank.neural.updates import transfer

        return transfer(self, source, data, target=target, name=name, **options)

    def federated(
        self,
        participants: Sequence[tuple[str, Any]],
        config: Mapping[str, Any],
        *,
        target: str,
        name: str,
        **options: Any,
    ) -> FederatedReport:
        """Federated averaging over participants' records, compared with pooled and
        isolated training (see :func:`mindbank.neural.updates.federated`)."""
        from mindbank.neural.updates import federated

        if isinstance(participants, str | bytes | Mapping) or not isinstance(
            participants, Sequence
        ):
            raise ValidationError("participants must be a list of (name, records) pairs")
        return federated(self, participants, config, target=target, name=name, **options)

    # -- loading and predicting ------------------------------------------------------------

    def info(self, name: str, version: int | None = None) -> ModelInfo:
        """A version's record (the current one by default)."""
        return self._repo.info(name, version)

    def load(self, name: str, version: int | None = None) -> Model:
        """The model (cached), checked against its stored checksum."""
        info = self._repo.info(name, version)
        key = (info.id, info.sha256)
        model = self.cache.get(key)
        if model is None:
            header, blob = self._repo.parts(info.id)
            if _sha(blob) != info.sha256:
                raise ValidationError(f"model {shown(name)} v{info.version}: weights do not match")
            model = Model.from_parts(header, blob, self._embedder_fn)
            self.cache.put(key, model)
        return model

    def predict(
        self, name: str, record: Mapping[str, Any], version: int | None = None
    ) -> Prediction:
        """One prediction: the value, its confidence (the model's probability), the
        reasoning (the nearest training records) and the fields that drove it."""
        if not isinstance(record, Mapping):
            raise ValidationError("the input must be a JSON object")
        model = self.load(name, version)
        out = model.predict(record)
        with self._db.transaction():
            self._repo.touch(self._repo.info(name, version).id, self._clock())
        return out

    def predict_batch(
        self, name: str, records: Sequence[Mapping[str, Any]], version: int | None = None
    ) -> builtins.list[Any]:
        """Predictions for many records at once."""
        if isinstance(records, str | bytes | Mapping) or not isinstance(records, Sequence):
            raise ValidationError("records must be a list of JSON objects")
        if not all(isinstance(r, Mapping) for r in records):
            raise ValidationError("every input must be a JSON object")
        return self.load(name, version).predict_batch(records)

    # -- versions --------------------------------------------------------------------------

    def versions(self, name: str | None = None) -> builtins.list[ModelInfo]:
        """Every version of a model (or of all models)."""
        return self._repo.versions(name)

    def history(self, name: str, version: int | None = None) -> builtins.list[TrainingEpoch]:
        """A version's training history, epoch by epoch."""
        return self._repo.history(self._repo.info(name, version).id)

    def save(self, name: str, description: str, version: int | None = None) -> ModelInfo:
        """Save a copy of a version as the next version, with a description."""
        info = self._repo.info(name, version)
        header, blob = self._repo.parts(info.id)
        model = Model.from_parts(header, blob, self._embedder_fn)
        history = [
            Epoch(e.epoch, e.train_loss, e.val_loss, e.val_accuracy, e.learning_rate)
            for e in self._repo.history(info.id)
        ]
        return self._store(name, description, model, history, info.quantized, blob)

    def rollback(self, name: str, version: int) -> ModelInfo:
        """Make an earlier (or later) version the current one."""
        self._repo.info(name, version)
        with self._db.transaction():
            self._repo.make_current(name, version)
        return self._repo.info(name)

    def delete(self, name: str, version: int | None = None) -> int:
        """Delete a version, or every version of a model; returns how many.

        Raises:
            NotFoundError: no such model or version.
            ConflictError: the version is the current one and others exist (make another
                current with :meth:`rollback` first, or delete the whole model): a model
                is never left without a current version.
        """
        with self._db.transaction():
            if version is not None:
                versions = self._repo.versions(name)
                if len(versions) > 1 and any(v.current and v.version == version for v in versions):
                    raise ConflictError(
                        f"version {version} is the current version of model {shown(name)}: make "
                        "another one current first (rollback(); CLI: neural load NAME "
                        "VERSION), or delete the whole model"
                    )
            n = self._repo.delete(name, version)
        if not n:
            raise NotFoundError(
                f"no model {shown(name)}" + ("" if version is None else f" v{version}")
            )
        self.cache.clear()
        return n

    def cleanup(self, days: float) -> builtins.list[tuple[str, int]]:
        """Delete versions (never a current one) unused for ``days``; returns them."""
        check_finite(days, "days", 0, 1e6)
        gone = self._repo.unused_since(self._clock() - days * 86400.0)
        with self._db.transaction():
            for name, version in gone:
                self._repo.delete(name, version)
        self.cache.clear()
        return gone

    def memory_stats(self) -> dict[str, Any]:
        """Models stored, their size, and the cache of loaded models."""
        versions, size = self._repo.totals()
        return {
            "models": len({v.name for v in self._repo.versions(None)}),
            "versions": versions,
            "weights_bytes": size,
            "cache": {
                "loaded": len(self.cache),
                "capacity": self.cache.size,
                "ttl_seconds": self.cache.ttl,
                "hits": self.cache.hits,
                "misses": self.cache.misses,
            },
        }

    def catalog(self) -> builtins.list[dict[str, Any]]:
        """The 27 presets: what each predicts from what, and its status here: "untrained",
        or the measured validation accuracy of the current version trained under its name."""
        from mindbank.neural.catalog import PRESETS

        trained = {v.name: v for v in self._repo.versions(None) if v.current}
        out = []
        for name, (category, purpose, fields, target, head) in PRESETS.items():
            info = trained.get(name)
            out.append({
                "name": name, "category": category, "purpose": purpose,
                "fields": list(fields), "target": target, "head": head,
                "status": "untrained" if info is None else f"trained v{info.version}",
                "validation_accuracy": None if info is None else info.accuracy,
            })  # fmt: skip
        return out

    # -- files -----------------------------------------------------------------------------

    def export(self, name: str, path: str | Path, version: int | None = None) -> Path:
        """Write a version to a ``.clf`` file."""
        info = self._repo.info(name, version)
        header, blob = self._repo.parts(info.id)
        doc = {
            "format": CLF_FORMAT,
            "name": info.name,
            "version": info.version,
            "description": info.description,
            "quantized": info.quantized,
            "model": header,
            "sha256": _sha(blob),
        }
        out = check_path(path, "the model file")
        if not out.absolute().parent.is_dir():
            raise ValidationError(f"cannot write {out}: its folder does not exist")
        if (out.exists() or out.is_symlink()) and not out.is_file():
            raise ValidationError(f"cannot write {out}: it is not a regular file")
        tmp = out.with_name(f".{out.name}.tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("header.json", json.dumps(doc, ensure_ascii=False))
            z.writestr("weights.npz", blob)
        tmp.replace(out)
        return out

    def import_(self, path: str | Path, name: str | None = None) -> ModelInfo:
        """Read a ``.clf`` file as the next version of its model (or of ``name``).

        Raises:
            ValidationError: not a .clf file, a damaged or tampered one, or shapes that do not
                fit; nothing is stored then.
        """
        p = check_path(path, "the model file")
        try:
            if not p.is_file():
                raise FileNotFoundError
            with zipfile.ZipFile(p) as z:
                doc = json.loads(_member(z, "header.json", MAX_HEADER_BYTES))
                blob = _member(z, "weights.npz", MAX_MODEL_BYTES)
        except FileNotFoundError:
            raise NotFoundError(f"no file {p}") from None
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, RecursionError) as exc:
            raise ValidationError(f"{p} is not a readable .clf model file ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != CLF_FORMAT:
            raise ValidationError(f"{p} is not a {CLF_FORMAT} file")
        if _sha(blob) != doc.get("sha256"):
            raise ValidationError(f"{p}: the weights do not match their checksum (tampered?)")
        try:
            model = Model.from_parts(doc["model"], blob, self._embedder_fn)
        except ValidationError as exc:
            raise ValidationError(f"{p}: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError, RecursionError) as exc:
            raise ValidationError(
                f"{p}: the header is incomplete or wrong ({exc!r:.200})"
            ) from None
        target = name or str(doc.get("name") or "")
        check_key(target, "model name")
        return self._store(
            target, str(doc.get("description", "")), model, [], doc.get("quantized"), blob
        )

    # -- quantization and ensembles ----------------------------------------------------------

    def quantize(
        self, name: str, version: int | None = None, *, per_channel: bool = False
    ) -> QuantizeReport:
        """Store an int8 copy of a version as the next version; sizes and validation
        accuracy before and after are measured."""
        info = self._repo.info(name, version)
        header, blob = self._repo.parts(info.id)
        model = Model.from_parts(header, blob, self._embedder_fn)
        before = model.measured_accuracy()
        weights = {}
        for i, w in enumerate(model.network.weights):
            if per_channel:
                scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
            else:
                scale = np.array([max(float(np.abs(w).max()), 1e-12) / 127.0])
            q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
            weights[f"q{i}"], weights[f"s{i}"] = q, scale.astype(np.float32)
            model.network.weights[i] = q.astype(np.float64) * scale
        after = model.measured_accuracy()
        float_bytes = sum(w.astype(np.float32).nbytes for w in model.network.weights)
        int8_bytes = sum(a.nbytes for a in weights.values())
        scheme = "int8-per-channel" if per_channel else "int8-per-tensor"
        stored = self._store(
            name, f"{scheme} of v{info.version}", model, [], scheme, model.weights_bytes(weights)
        )
        return QuantizeReport(stored, scheme, float_bytes, int8_bytes, before, after)

    def ensemble(self, names: Sequence[str], data: Any, target: str) -> EnsembleReport:
        """Average the probabilities of models with the same target and classes, and measure
        each member's and the ensemble's accuracy on the same records."""
        if isinstance(names, str | bytes | Mapping) or not isinstance(names, Sequence):
            raise ValidationError("names must be a list of model names")
        if len(names) < 2:
            raise ValidationError("an ensemble needs at least two models")
        models = [self.load(n) for n in names]
        if any(m.target != target for m in models):
            raise ValidationError(f"every member must predict {shown(target)}")
        if any(m.classes is None for m in models):
            raise ValidationError("ensembles average class probabilities: classifiers only")
        if any(m.classes != models[0].classes for m in models):
            raise ValidationError("the members' classes differ")
        train, val = load_records(data, target)
        records = val or train
        classes = models[0].classes or []
        truth = [classes.index(r[target]) if r[target] in classes else -1 for r in records]
        probs = []
        members = {}
        for n, m in zip(names, models, strict=True):
            out = m.outputs(records)
            p = np.hstack([1 - out, out]) if m.network.head == "sigmoid" else out
            probs.append(p)
            members[n] = float(np.mean(p.argmax(axis=1) == np.array(truth)))
        avg = np.mean(probs, axis=0)
        return EnsembleReport(
            target, len(records), members, float(np.mean(avg.argmax(axis=1) == np.array(truth)))
        )


MAX_HEADER_BYTES = 1024 * 1024
"""Most bytes a ``.clf`` file's ``header.json`` may take."""


def _member(z: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One member of a zip archive, read only if it declares at most ``limit`` bytes (a zip
    bomb declares what it expands to; reading stops at the declared size)."""
    info = z.getinfo(name)
    if info.file_size > limit:
        raise ValueError(f"{name} expands to {info.file_size:,} bytes; the limit is {limit:,}")
    with z.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{name} is larger than {limit:,} bytes")
    return data

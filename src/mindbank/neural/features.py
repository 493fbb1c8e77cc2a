"""Records to vectors, and the spec that does it again at predict time (saved with the model).

Fields are found in the training records (nested objects flattened to ``a.b``). Each becomes:

- a number (ints and floats): standardized with the training mean and standard deviation; a
  missing value is the mean (0 after standardizing);
- a boolean: 0 or 1;
- a category (strings with few distinct values, at most ``MAX_CATEGORIES`` and repeated): one
  column per value seen in training, plus one for values never seen (so an unknown category at
  predict time is handled, not crashed on);
- a list of strings: multi-hot over the ``MAX_CATEGORIES`` most frequent items;
- free text (strings with many distinct values): by default the store's embedder (its
  vector, one column per dimension; the embedder's identity is kept in the spec and must match
  at predict time), or, when asked (``"features": {"text": "hashed"}`` in the configuration),
  word unigrams and bigrams hashed into ``TEXT_DIMS`` columns, normalized to unit length.

The spec is plain JSON: nothing in it can execute code.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mindbank.errors import ValidationError, shown

__all__ = ["TEXT_DIMS", "Featurizer", "flatten", "merge_specs"]

MAX_CATEGORIES = 50
TEXT_DIMS = 256
_WORD = re.compile(r"\w+")


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as ``a.b`` keys."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{name}."))
        else:
            out[name] = v
    return out


def _hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")


def _text_vector(text: str) -> npt.NDArray[np.float64]:
    words = [w.lower() for w in _WORD.findall(text)]
    vec = np.zeros(TEXT_DIMS)
    for tok in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
        vec[_hash(tok) % TEXT_DIMS] += 1.0
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


class Featurizer:
    """Turns records into a float matrix, as fitted on the training records."""

    def __init__(
        self,
        spec: Sequence[Mapping[str, Any]],
        embedder: Callable[[], Any] | None = None,
    ):
        self.spec = [dict(s) for s in spec]
        self._embedder = embedder
        self.width = sum(self._width(s) for s in self.spec)

    @staticmethod
    def _width(s: Mapping[str, Any]) -> int:
        kind = s["kind"]
        if kind in ("number", "bool"):
            return 1
        if kind == "category":
            return len(s["values"]) + 1
        if kind == "tags":
            return len(s["values"])
        return int(s.get("dims", TEXT_DIMS))

    @classmethod
    def fit(
        cls,
        records: Sequence[Mapping[str, Any]],
        target: str,
        text: str = "hashed",
        embedder: Callable[[], Any] | None = None,
    ) -> Featurizer:
        """Infer the fields and their encodings from training records; free text is embedded
        (``text="embed"``, with ``embedder``) or hashed."""
        if text not in ("embed", "hashed"):
            raise ValidationError(f'features.text must be "embed" or "hashed", got {text!r}')
        if text == "embed" and embedder is None:
            raise ValidationError("embedding text fields needs an embedder")
        flat = [flatten(r) for r in records]
        fields = sorted({k for r in flat for k in r} - {target})
        spec: list[dict[str, Any]] = []
        for name in fields:
            values = [r[name] for r in flat if r.get(name) is not None]
            if not values:
                continue
            if all(isinstance(v, bool) for v in values):
                spec.append({"field": name, "kind": "bool"})
            elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                arr = np.array(values, dtype=np.float64)
                if not np.all(np.isfinite(arr)):
                    raise ValidationError(f"field {shown(name)} has NaN or infinite values")
                std = float(arr.std())
                spec.append(
                    {"field": name, "kind": "number", "mean": float(arr.mean()),
                     "std": std if std > 0 else 1.0}
                )  # fmt: skip
            elif all(isinstance(v, list) for v in values):
                counts = Counter(str(x) for v in values for x in v)
                spec.append(
                    {"field": name, "kind": "tags",
                     "values": [x for x, _ in counts.most_common(MAX_CATEGORIES)]}
                )  # fmt: skip
            elif all(isinstance(v, str) for v in values):
                counts = Counter(values)
                repeated = len(counts) < len(values)
                if len(counts) <= MAX_CATEGORIES and (repeated or len(values) < 4):
                    spec.append({"field": name, "kind": "category", "values": sorted(counts)})
                else:
                    if text == "embed":
                        assert embedder is not None
                        e = embedder()
                        spec.append({"field": name, "kind": "text", "encoding": "embed",
                                     "embedder": e.identity, "dims": e.dims})  # fmt: skip
                    else:
                        spec.append({"field": name, "kind": "text", "encoding": "hashed"})
            else:
                raise ValidationError(
                    f"field {shown(name)} mixes kinds of values (numbers, text, lists); make it one kind"
                )
        if not spec:
            raise ValidationError("the records have no fields besides the target")
        return cls(spec, embedder)

    def transform(self, records: Iterable[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """Records to a matrix (one row each)."""
        rows = [r if all(not isinstance(v, Mapping) for v in r.values()) else flatten(r)
                for r in records]  # fmt: skip
        x = np.zeros((len(rows), self.width))
        col = 0
        for s in self.spec:
            name, kind = s["field"], s["kind"]
            width = self._width(s)
            values = [r.get(name) for r in rows]
            if kind == "number":
                x[:, col] = self._numbers(name, values, s["mean"], s["std"])
            elif kind == "bool":
                x[:, col] = [1.0 if v else 0.0 for v in values]
            elif kind == "category":
                index = {v: j for j, v in enumerate(s["values"])}
                other = len(s["values"])
                for i, v in enumerate(values):
                    if v is not None:
                        x[i, col + index.get(v, other)] = 1.0
            elif kind == "tags":
                index = {v: j for j, v in enumerate(s["values"])}
                for i, v in enumerate(values):
                    if v is None:
                        continue
                    for item in v if isinstance(v, list) else [v]:
                        j = index.get(str(item))
                        if j is not None:
                            x[i, col + j] = 1.0
            elif s.get("encoding") == "embed":
                x[:, col : col + width] = self._embedded(s, values)
            else:
                for i, v in enumerate(values):
                    if v is not None:
                        x[i, col : col + width] = _text_vector(str(v))
            col += width
        return x

    def _embedded(self, s: Mapping[str, Any], values: list[Any]) -> npt.NDArray[np.float64]:
        """Vectors of a text field's values (each distinct text embedded once)."""
        if self._embedder is None:
            raise ValidationError(f"field {s['field']!r} is embedded text: an embedder is needed")
        e = self._embedder()
        if e.identity != s["embedder"]:
            raise ValidationError(
                f"field {s['field']!r} was embedded with {s['embedder']} when the model was "
                f"trained; this database uses {e.identity}"
            )
        texts = sorted({str(v) for v in values if v is not None})
        out = np.zeros((len(values), int(s["dims"])))
        if texts:
            vecs = dict(zip(texts, e.embed(texts).astype(np.float64), strict=True))
            for i, v in enumerate(values):
                if v is not None:
                    out[i] = vecs[str(v)]
        return out

    @staticmethod
    def _numbers(name: str, values: list[Any], mean: float, std: float) -> Any:
        if len(values) == 1:  # one record: plain Python is faster than numpy here
            v = values[0]
            if v is None:
                return 0.0
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValidationError(f"field {shown(name)} must be a number, got {shown(v)}")
            if not math.isfinite(v):
                raise ValidationError(f"field {shown(name)} is NaN or infinite")
            return (v - mean) / std
        out = np.empty(len(values))
        try:
            out[:] = [mean if v is None else v for v in values]
        except (TypeError, ValueError):
            bad = next(v for v in values if v is not None and not isinstance(v, int | float))
            raise ValidationError(
                f"field {shown(name)} must be a number, got {shown(bad)}"
            ) from None
        if any(isinstance(v, bool | str) for v in values):
            bad = next(v for v in values if isinstance(v, bool | str))
            raise ValidationError(f"field {shown(name)} must be a number, got {shown(bad)}")
        if not np.all(np.isfinite(out)):
            raise ValidationError(f"field {shown(name)} is NaN or infinite")
        return (out - mean) / std

    def field_slices(self) -> list[tuple[str, int, int]]:
        """``(field, first column, end column)`` of every field."""
        out, col = [], 0
        for s in self.spec:
            w = self._width(s)
            out.append((s["field"], col, col + w))
            col += w
        return out


def merge_specs(
    specs: Sequence[Sequence[Mapping[str, Any]]], counts: Sequence[int]
) -> list[dict[str, Any]]:
    """One feature spec from several participants' own (federated learning): categories and
    tags are united, numbers' means and spreads pooled by record count. Only these summaries
    leave a participant, never a record.

    Raises:
        ValidationError: a field encoded differently by two participants.
    """
    fields: dict[str, list[tuple[Mapping[str, Any], int]]] = {}
    for spec, n in zip(specs, counts, strict=True):
        for s in spec:
            fields.setdefault(str(s["field"]), []).append((s, n))
    out: list[dict[str, Any]] = []
    for name in sorted(fields):
        parts = fields[name]
        kinds = {(s["kind"], s.get("encoding"), s.get("embedder")) for s, _ in parts}
        if len(kinds) > 1:
            raise ValidationError(f"field {shown(name)} is encoded differently by the participants")
        first = dict(parts[0][0])
        if first["kind"] == "number":
            total = sum(n for _, n in parts)
            mean = sum(float(s["mean"]) * n for s, n in parts) / total
            second = sum((float(s["std"]) ** 2 + float(s["mean"]) ** 2) * n for s, n in parts)
            var = max(second / total - mean * mean, 0.0)
            first["mean"], first["std"] = mean, math.sqrt(var) if var > 0 else 1.0
        elif first["kind"] == "category":
            first["values"] = sorted({v for s, _ in parts for v in s["values"]})
        elif first["kind"] == "tags":
            first["values"] = sorted({v for s, _ in parts for v in s["values"]})[:MAX_CATEGORIES]
        out.append(first)
    return out

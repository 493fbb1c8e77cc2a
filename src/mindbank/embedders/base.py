"""The embedder extension point: one abstract method, ``embed_batch``.

An embedder turns texts into unit-length float32 vectors. Its identity, ``model-id:dims``, is
stored with every vector it writes, so vectors of different models are never compared.
The base class does batching, shape and finiteness checks and L2 normalisation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mindbank.errors import EmbedderError

__all__ = ["Embedder", "Vectors"]

Vectors = npt.NDArray[np.float32]


class Embedder(ABC):
    """Turns texts into vectors.

    Subclasses set ``model_id`` and ``dims`` and implement :meth:`embed_batch`. Register a new
    one with :func:`mindbank.embedders.register_embedder`.

    Attributes:
        model_id: names the model and its weights (``all-MiniLM-L6-v2-onnx-int8``).
        dims: the vector length.
        batch_size: how many texts :meth:`embed` passes to :meth:`embed_batch` at once.
    """

    model_id: str
    dims: int
    batch_size: int = 32

    @property
    def identity(self) -> str:
        """``model-id:dims``, stored with every vector this embedder writes."""
        return f"{self.model_id}:{self.dims}"

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        """Embed up to ``batch_size`` texts; returns an array of shape ``(len(texts), dims)``."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed any number of texts, in batches; returns unit-length float32 rows.

        Raises:
            EmbedderError: the model returned the wrong shape or non-finite numbers.
        """
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            vecs = np.asarray(self.embed_batch(chunk), dtype=np.float32)
            if vecs.shape != (len(chunk), self.dims):
                raise EmbedderError(
                    f"{self.identity} returned shape {vecs.shape} for {len(chunk)} texts"
                )
            if not np.isfinite(vecs).all():
                raise EmbedderError(f"{self.identity} returned non-finite numbers")
            out[start : start + len(chunk)] = vecs
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def embed_one(self, text: str) -> Vectors:
        """Embed one text; returns a vector of shape ``(dims,)``."""
        vec: Vectors = self.embed([text])[0]
        return vec

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.identity}>"

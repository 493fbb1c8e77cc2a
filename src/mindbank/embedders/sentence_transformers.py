"""An embedder over the ``sentence-transformers`` library (the ``st`` extra; it needs PyTorch).

``MINDBANK_EMBEDDER=st:MODEL`` where MODEL is a model already on this machine (a folder, or a
name in the local Hugging Face cache); mindbank sets ``HF_HUB_OFFLINE=1`` so it never downloads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from mindbank.embedders.base import Embedder, Vectors
from mindbank.errors import EmbedderError

__all__ = ["SentenceTransformerEmbedder"]


class SentenceTransformerEmbedder(Embedder):
    """Embeddings from a local sentence-transformers model.

    Args:
        model: a local folder or cached model name.
        dims: its vector length (checked when the model loads).
    """

    batch_size = 32

    def __init__(self, model: str, dims: int):
        self.model = model
        self.model_id = f"st-{os.path.basename(model.rstrip('/'))}"
        self.dims = dims
        self._st: Any = None

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        if self._st is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbedderError(
                    "sentence-transformers is not installed: pip install 'mindbank[st]'"
                ) from exc
            self._st = SentenceTransformer(self.model, device="cpu")
            got = self._st.get_sentence_embedding_dimension()
            if got != self.dims:
                raise EmbedderError(f"{self.model} makes {got}-dim vectors, not {self.dims}")
        return np.asarray(self._st.encode(list(texts), batch_size=len(texts)), dtype=np.float32)

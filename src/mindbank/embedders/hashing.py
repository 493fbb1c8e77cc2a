"""A deterministic hashing embedder: word and character-trigram features hashed into a vector.

It knows nothing of meaning (paraphrases score near chance), so it is never a default and never
a fallback: it is used only when named (``MINDBANK_EMBEDDER=hashing``), for tests and for
machines that want keyword-like similarity with no model at all. Its identity says what it is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from mindbank.embedders.base import Embedder, Vectors

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    """Signed feature hashing of lower-cased words and character trigrams.

    Args:
        dims: the vector length (default 256).
    """

    batch_size = 256

    def __init__(self, dims: int = 256):
        self.model_id = "hashing-v1"
        self.dims = dims

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        grams = [f"#{w[i : i + 3]}" for w in words for i in range(max(len(w) - 2, 1))]
        return words + grams

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                out[row, h % self.dims] += 1.0 if (h >> 63) & 1 else -1.0
        return out

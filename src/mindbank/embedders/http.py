"""An embedder that calls an OpenAI-compatible ``/v1/embeddings`` endpoint (Ollama, vLLM, an API).

Opt-in only: mindbank never opens a network connection unless this embedder is chosen
(``MINDBANK_EMBEDDER=openai:MODEL@URL:DIMS``). The API key, if any, comes from
``MINDBANK_EMBED_API_KEY`` or ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence

import numpy as np

from mindbank.embedders.base import Embedder, Vectors
from mindbank.errors import EmbedderError

__all__ = ["OpenAIEmbedder"]


class OpenAIEmbedder(Embedder):
    """Embeddings from an OpenAI-compatible HTTP endpoint.

    Args:
        model: the model name the endpoint knows.
        base_url: e.g. ``http://127.0.0.1:11434/v1`` (Ollama) or ``https://api.openai.com/v1``.
        dims: the vector length the model returns.
        timeout: seconds per request.
    """

    batch_size = 64

    def __init__(self, model: str, base_url: str, dims: int, *, timeout: float = 60.0):
        self.model = model
        self.model_id = f"openai-{model}"
        self.dims = dims
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        body = json.dumps({"model": self.model, "input": list(texts)}).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get("MINDBANK_EMBED_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            f"{self.base_url}/embeddings", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.load(response)
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
            raise EmbedderError(f"embedding endpoint {self.base_url} failed: {exc}") from exc
        try:
            rows = sorted(payload["data"], key=lambda d: d["index"])
            return np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(
                f"embedding endpoint {self.base_url} answered oddly: {exc}"
            ) from exc

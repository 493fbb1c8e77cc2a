"""Compressed cold entries: zstd values with a dictionary trained on the store, int8 vectors.

A compressed value is stored in ``memory_store.value`` as a BLOB (a plain value is TEXT, so
the storage class tells them apart; ``value_type`` keeps saying text or json): a zstd frame
made with a dictionary from ``zstd_dicts``, whose id the frame carries. Every read decodes it:
in Python through :meth:`Codec.plain`, in SQL through ``mb_plain(value)``, which the full-text
triggers and the full-text index's content view (migration 11) call, so the index always sees
the text.

A compressed vector is stored in ``embeddings.vector`` with ``quant = 'int8'``: one int8 per
dimension (symmetric, scale = max |x| / 127) followed by the float32 scale. ``mb_f32(vector,
quant)`` gives float32 bytes back, so every reader of vectors gets float32 and queries are
scored in float32 against the dequantized vector.

Both functions are registered on every connection mindbank opens; a connection without them
can read the rows but not write entries (the triggers call ``mb_plain``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["Codec", "dequantize", "quantize", "register"]


def quantize(vector: bytes) -> bytes:
    """float32 little-endian bytes -> int8 values followed by the float32 scale."""
    import numpy as np

    v = np.frombuffer(vector, dtype="<f4")
    scale = float(np.abs(v).max()) / 127.0 if len(v) else 0.0
    if scale == 0.0:
        scale = 1.0
    q = np.clip(np.rint(v / scale), -127, 127).astype(np.int8)
    return q.tobytes() + np.array([scale], dtype="<f4").tobytes()


def dequantize(blob: bytes | None, quant: str | None) -> bytes | None:
    """A stored vector as float32 little-endian bytes (``mb_f32`` in SQL)."""
    if blob is None or quant is None:
        return blob
    if quant != "int8":
        raise ValueError(f"unknown vector encoding {quant!r}")
    import numpy as np

    q = np.frombuffer(blob, dtype=np.int8, count=len(blob) - 4)
    scale = np.frombuffer(blob, dtype="<f4", offset=len(blob) - 4)[0]
    out: bytes = (q.astype(np.float32) * scale).astype("<f4").tobytes()
    return out


class Codec:
    """Decodes compressed values of one connection (dictionaries are read once, on first
    need)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._decompressors: dict[int, Any] = {}

    def plain(self, value: Any) -> Any:
        """The text of a stored value (a compressed one is decompressed)."""
        if value.__class__ is not bytes:
            return value
        import zstandard

        dict_id = zstandard.get_frame_parameters(value).dict_id
        d = self._decompressors.get(dict_id)
        if d is None:
            row = self.conn.execute(
                "SELECT data FROM zstd_dicts WHERE dict_id = ?", (dict_id,)
            ).fetchone()
            if row is None:
                raise ValueError(f"compressed value needs dictionary {dict_id}, which is missing")
            d = zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(row[0]))
            self._decompressors[dict_id] = d
        return d.decompress(value).decode("utf-8")


def register(conn: sqlite3.Connection) -> Codec:
    """Add ``mb_plain`` and ``mb_f32`` to a connection; returns its codec."""
    codec = Codec(conn)
    conn.create_function("mb_plain", 1, codec.plain, deterministic=True)
    conn.create_function("mb_f32", 2, dequantize, deterministic=True)
    return codec

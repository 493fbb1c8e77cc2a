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
from typing import Any, Protocol

from mindbank.errors import StoreError, shown

__all__ = [
    "Codec",
    "compress_values",
    "dequantize",
    "live_entries",
    "quantize",
    "quantize_vectors",
    "register",
    "train",
]


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
        raise ValueError(f"unknown vector encoding {shown(quant)}")
    import numpy as np

    q = np.frombuffer(blob, dtype=np.int8, count=len(blob) - 4)
    scale = np.frombuffer(blob, dtype="<f4", offset=len(blob) - 4)[0]
    out: bytes = (q.astype(np.float32) * scale).astype("<f4").tobytes()
    return out


MAX_PLAIN_BYTES = 64 * 1024 * 1024
"""Most bytes a compressed value may decompress to (a crafted one could claim gigabytes)."""


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
        size = zstandard.get_frame_parameters(value).content_size
        if size > MAX_PLAIN_BYTES and size != zstandard.CONTENTSIZE_UNKNOWN:
            raise StoreError(
                f"a compressed value claims {size:,} bytes, more than {MAX_PLAIN_BYTES:,}: the "
                "database was crafted or damaged"
            )
        try:
            return d.decompress(value, max_output_size=MAX_PLAIN_BYTES).decode("utf-8")
        except (zstandard.ZstdError, UnicodeDecodeError) as exc:
            raise StoreError(
                f"a compressed value cannot be read (crafted or damaged): {exc}"
            ) from None


def register(conn: sqlite3.Connection) -> Codec:
    """Add ``mb_plain`` and ``mb_f32`` to a connection; returns its codec."""
    codec = Codec(conn)
    conn.create_function("mb_plain", 1, codec.plain, deterministic=True)
    conn.create_function("mb_f32", 2, dequantize, deterministic=True)
    return codec


# -- compressing ---------------------------------------------------------------------------------


class Database(Protocol):
    """What compressing needs of a :class:`mindbank.store.database.Database` (which registers
    this module's functions on its connection, so this module does not import it)."""

    def run(self, sql: str, params: Any = ()) -> sqlite3.Cursor: ...

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor: ...


def live_entries(db: Database, now: float) -> list[tuple[int, int, float, float | None, bool, int]]:
    """``(id, access_count, updated_at, accessed_at, compressed, value bytes)`` of every live
    entry."""
    rows = db.run(
        "SELECT id, access_count, updated_at, accessed_at, typeof(value) = 'blob', "
        "length(CAST(value AS BLOB)) FROM memory_store "
        "WHERE expires_at IS NULL OR expires_at > ?",
        (now,),
    ).fetchall()
    return [(int(r[0]), int(r[1]), float(r[2]), r[3], bool(r[4]), int(r[5])) for r in rows]


def train(db: Database, samples: list[Any], dict_size: int, now: float) -> int:
    """Train a zstd dictionary on sample values and store it; returns its id.

    Raises:
        ValueError: zstd could not train one from these samples (too few or too small).
    """
    import secrets

    import zstandard

    while True:
        dict_id = secrets.randbits(31) or 1
        if db.run("SELECT 1 FROM zstd_dicts WHERE dict_id = ?", (dict_id,)).fetchone() is None:
            break
    try:
        d = zstandard.train_dictionary(dict_size, samples, dict_id=dict_id)
    except zstandard.ZstdError as exc:
        raise ValueError(str(exc)) from None
    db.run(
        "INSERT INTO zstd_dicts (dict_id, data, samples, created_at) VALUES (?, ?, ?, ?)",
        (dict_id, d.as_bytes(), len(samples), now),
    )
    return dict_id


def dictionary_size(db: Database, dict_id: int) -> int:
    """The size in bytes of a trained dictionary."""
    return int(
        db.run("SELECT length(data) FROM zstd_dicts WHERE dict_id = ?", (dict_id,)).fetchone()[0]
    )


def drop_dictionary(db: Database, dict_id: int) -> None:
    """Forget a dictionary no value uses."""
    db.run("DELETE FROM zstd_dicts WHERE dict_id = ?", (dict_id,))


def compress_values(
    db: Database, ids: list[int], dict_id: int, min_bytes: int, level: int
) -> tuple[int, int, int, list[tuple[str, str, str, str]]]:
    """Compress the plain values of these entries with dictionary ``dict_id`` where that
    makes them smaller (call inside a transaction); returns ``(compressed, bytes before,
    bytes after, witness records)``. ``updated_at`` does not change: the value is the same."""
    import zstandard

    from mindbank.store.digests import content_digest

    data = db.run("SELECT data FROM zstd_dicts WHERE dict_id = ?", (dict_id,)).fetchone()[0]
    cctx = zstandard.ZstdCompressor(
        level=level, dict_data=zstandard.ZstdCompressionDict(data), write_content_size=True
    )
    n = before = after = 0
    updates: list[tuple[bytes, int]] = []
    records = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = db.run(
            "SELECT id, key, namespace, value, value_type, tags, metadata, updated_at, "
            f"expires_at FROM memory_store WHERE id IN ({marks}) AND typeof(value) = 'text'",
            chunk,
        ).fetchall()
        for rid, key, ns, value, vtype, tags, meta, updated, expires in rows:
            raw = value.encode("utf-8")
            if len(raw) < min_bytes:
                continue
            packed = cctx.compress(raw)
            if len(packed) >= len(raw):
                continue
            n, before, after = n + 1, before + len(raw), after + len(packed)
            updates.append((packed, rid))
            digest = content_digest(
                key, ns, packed, vtype, tags, meta, float(updated),
                None if expires is None else float(expires),
            )  # fmt: skip
            records.append(("compress", "memory_store", f"{ns}\x1f{key}", digest))
    db.executemany("UPDATE memory_store SET value = ? WHERE id = ?", updates)
    return n, before, after, records


def quantize_vectors(db: Database, ids: list[int]) -> tuple[int, int, int]:
    """Store the float32 vectors of these entries as int8 (call inside a transaction);
    returns ``(quantized, bytes before, bytes after)``."""
    n = before = after = 0
    updates = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for rid, vector in db.run(
            f"SELECT entry_id, vector FROM embeddings WHERE entry_id IN ({marks}) "
            "AND quant IS NULL",
            chunk,
        ).fetchall():
            q = quantize(bytes(vector))
            n, before, after = n + 1, before + len(vector), after + len(q)
            updates.append((q, rid))
    db.executemany("UPDATE embeddings SET vector = ?, quant = 'int8' WHERE entry_id = ?", updates)
    return n, before, after

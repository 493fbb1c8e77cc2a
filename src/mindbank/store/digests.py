"""Digests of the witness chain, and the SQL functions the chain's triggers call.

See :mod:`mindbank.store.witness`. Kept apart so :mod:`mindbank.store.database` can register
the functions on every connection it opens.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

__all__ = ["chain_digest", "content_digest", "register"]


def content_digest(*values: Any) -> str:
    """SHAKE-256 (32 bytes, hex) of a row's values, in column order.

    The encoded form is Python's ``repr`` of the tuple of values: unambiguous for what SQLite
    returns (``None``, ``int``, ``float`` as its shortest round-tripping repr, ``str`` quoted
    and escaped, ``bytes``), and computed in C.
    """
    return hashlib.shake_256(repr(values).encode("utf-8")).hexdigest(32)


def chain_digest(seq: int, op: str, tbl: str, key: str, digest: str, prev: str) -> str:
    """SHAKE-256 (32 bytes, hex) of a record's fields and the previous record's chain digest."""
    text = f"{seq}\x1f{op}\x1f{tbl}\x1f{key}\x1f{digest}\x1f{prev}"
    return hashlib.shake_256(text.encode("utf-8")).hexdigest(32)


def register(conn: sqlite3.Connection) -> None:
    """Add ``mb_digest`` and ``mb_chain`` to a connection (before it writes)."""
    conn.create_function("mb_digest", -1, content_digest, deterministic=True)
    conn.create_function("mb_chain", 6, chain_digest, deterministic=True)

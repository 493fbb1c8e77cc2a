"""The vector index's snapshot file: derived state beside the database, for a fast first search.

``memory.db.vectors.npz`` holds the vectors of one embedder as NumPy arrays (no pickle: loading
it cannot run code) with the log sequence number they reflect. A process loads it and catches up
from ``embeddings_log``; a missing, unreadable, mismatched or outdated snapshot is detected and
ignored (the index is then loaded from SQLite and the snapshot rewritten). Deleting it is always
safe.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads only when a snapshot is read or written
    import numpy as np
    import numpy.typing as npt

__all__ = ["FORMAT", "Snapshot", "load_snapshot", "save_snapshot", "snapshot_path"]

FORMAT = 2


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Vectors of one embedder as of log sequence number ``version``."""

    version: int
    generation: int
    ids: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]
    namespaces: tuple[str, ...]
    q8: npt.NDArray[np.int8]
    scale: float


def snapshot_path(db_path: Path) -> Path:
    """Where the snapshot of a database lives."""
    return db_path.with_name(db_path.name + ".vectors.npz")


def save_snapshot(
    path: Path,
    *,
    identity: str,
    version: int,
    generation: int,
    ids: npt.NDArray[np.int64],
    matrix: npt.NDArray[np.float32],
    namespaces: tuple[str, ...],
    q8: npt.NDArray[np.int8],
    scale: float,
) -> None:
    """Write a snapshot atomically (a temporary file renamed into place)."""
    import numpy as np

    names = sorted(set(namespaces))
    code = {n: i for i, n in enumerate(names)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                format=np.asarray([FORMAT], dtype=np.int64),
                version=np.asarray([version], dtype=np.int64),
                generation=np.asarray([generation], dtype=np.int64),
                identity=np.asarray([identity]),
                ids=np.ascontiguousarray(ids, dtype=np.int64),
                matrix=np.ascontiguousarray(matrix, dtype="<f4"),
                names=np.asarray(names if names else [""]),
                codes=np.asarray([code[n] for n in namespaces], dtype=np.int32),
                q8=np.ascontiguousarray(q8, dtype=np.int8),
                scale=np.asarray([scale], dtype=np.float64),
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_snapshot(path: Path, identity: str, dims: int, generation: int) -> Snapshot | None:
    """The snapshot, or None when it is missing, unreadable, of another embedder or another
    generation of the database (see ``Database.generation``), or malformed."""
    import numpy as np

    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            if int(data["format"][0]) != FORMAT or str(data["identity"][0]) != identity:
                return None
            # Written before generations were recorded: generation 0.
            written = int(data["generation"][0]) if "generation" in data.files else 0
            if written != generation:
                return None
            ids = np.asarray(data["ids"], dtype=np.int64)
            matrix = np.asarray(data["matrix"], dtype=np.float32)
            names = [str(n) for n in data["names"]]
            codes = np.asarray(data["codes"], dtype=np.int64)
            version = int(data["version"][0])
            q8 = np.asarray(data["q8"], dtype=np.int8)
            scale = float(data["scale"][0])
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile):
        return None
    n = len(ids)
    if matrix.shape != (n, dims) or codes.shape != (n,) or q8.shape != (n, dims):
        return None
    if n and (codes.min() < 0 or codes.max() >= len(names) or not np.isfinite(matrix).all()):
        return None
    if not 0 < scale < 1e9:
        return None
    return Snapshot(
        version, generation, ids, matrix, tuple(names[c] for c in codes.tolist()), q8, scale
    )

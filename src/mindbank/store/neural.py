"""SQL of the neural model registry (``neural_models``, ``training_history``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mindbank.errors import NotFoundError
from mindbank.records import ModelInfo, TrainingEpoch
from mindbank.store.codec import dumps, loads
from mindbank.store.database import Database

__all__ = ["NeuralRepo"]

_COLS = (
    "id, name, version, description, current, header, length(weights), sha256, quantized, "
    "created_at, last_used"
)


def _info(r: Sequence[Any]) -> ModelInfo:
    header = loads(r[5])
    classes = header.get("classes")
    return ModelInfo(
        id=r[0], name=r[1], version=r[2], description=r[3], current=bool(r[4]),
        target=header["target"], classes=None if classes is None else tuple(classes),
        metrics=header.get("metrics", {}), size_bytes=r[6], sha256=r[7], quantized=r[8],
        created_at=r[9], last_used=r[10],
    )  # fmt: skip


class NeuralRepo:
    """Reads and writes the registry of one :class:`Database`."""

    def __init__(self, db: Database):
        self.db = db

    def add(
        self,
        name: str,
        description: str,
        header: dict[str, Any],
        weights: bytes,
        sha256: str,
        quantized: str | None,
        history: Sequence[TrainingEpoch],
        now: float,
    ) -> ModelInfo:
        """Add a new version (the current one) with its training history (in a transaction)."""
        row = self.db.run(
            "SELECT max(version) FROM neural_models WHERE name = ?", (name,)
        ).fetchone()
        version = int(row[0] or 0) + 1
        self.db.run("UPDATE neural_models SET current = 0 WHERE name = ? AND current = 1", (name,))
        model_id = int(
            self.db.run(
                "INSERT INTO neural_models (name, version, description, header, weights, sha256, "
                "quantized, current, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING id",
                (name, version, description, dumps(header), weights, sha256, quantized, now),
            ).fetchone()[0]
        )
        self.db.executemany(
            "INSERT INTO training_history VALUES (?, ?, ?, ?, ?, ?)",
            [(model_id, e.epoch, e.train_loss, e.val_loss, e.val_accuracy, e.learning_rate)
             for e in history],
        )  # fmt: skip
        return self.info(name, version)

    def info(self, name: str, version: int | None = None) -> ModelInfo:
        """A version (the current one by default).

        Raises:
            NotFoundError: no such model or version.
        """
        if version is None:
            row = self.db.run(
                f"SELECT {_COLS} FROM neural_models WHERE name = ? AND current = 1", (name,)
            ).fetchone()
        else:
            row = self.db.run(
                f"SELECT {_COLS} FROM neural_models WHERE name = ? AND version = ?",
                (name, version),
            ).fetchone()
        if row is None:
            what = f"model {name!r}" + ("" if version is None else f" version {version}")
            raise NotFoundError(f"no {what}")
        return _info(row)

    def parts(self, model_id: int) -> tuple[dict[str, Any], bytes]:
        """Header and weights of a version."""
        row = self.db.run(
            "SELECT header, weights FROM neural_models WHERE id = ?", (model_id,)
        ).fetchone()
        return loads(row[0]), bytes(row[1])

    def versions(self, name: str | None) -> list[ModelInfo]:
        """Versions of one model (or all), by name then version."""
        if name is None:
            rows = self.db.run(f"SELECT {_COLS} FROM neural_models ORDER BY name, version")
        else:
            rows = self.db.run(
                f"SELECT {_COLS} FROM neural_models WHERE name = ? ORDER BY version", (name,)
            )
        return [_info(r) for r in rows]

    def history(self, model_id: int) -> list[TrainingEpoch]:
        """The training history of a version."""
        return [
            TrainingEpoch(*r)
            for r in self.db.run(
                "SELECT epoch, train_loss, val_loss, val_accuracy, learning_rate FROM "
                "training_history WHERE model_id = ? ORDER BY epoch",
                (model_id,),
            )
        ]

    def make_current(self, name: str, version: int) -> None:
        """Roll back (or forward) to a version."""
        self.db.run("UPDATE neural_models SET current = 0 WHERE name = ? AND current = 1", (name,))
        self.db.run(
            "UPDATE neural_models SET current = 1 WHERE name = ? AND version = ?", (name, version)
        )

    def set_header(self, model_id: int, header: dict[str, Any]) -> None:
        """Replace a version's header (its weights stay)."""
        self.db.run("UPDATE neural_models SET header = ? WHERE id = ?", (dumps(header), model_id))

    def touch(self, model_id: int, now: float) -> None:
        """Record a use."""
        self.db.run("UPDATE neural_models SET last_used = ? WHERE id = ?", (now, model_id))

    def delete(self, name: str, version: int | None) -> int:
        """Delete a version (or every version); returns how many."""
        if version is None:
            return self.db.run("DELETE FROM neural_models WHERE name = ?", (name,)).rowcount
        return self.db.run(
            "DELETE FROM neural_models WHERE name = ? AND version = ?", (name, version)
        ).rowcount

    def unused_since(self, before: float) -> list[tuple[str, int]]:
        """``(name, version)`` of non-current versions not used (or made) since ``before``."""
        return self.db.run(
            "SELECT name, version FROM neural_models WHERE current = 0 AND "
            "COALESCE(last_used, created_at) < ? ORDER BY name, version",
            (before,),
        ).fetchall()

    def totals(self) -> tuple[int, int]:
        """Versions stored and their weights' bytes."""
        n, size = self.db.run(
            "SELECT count(*), COALESCE(sum(length(weights)), 0) FROM neural_models"
        ).fetchone()
        return int(n), int(size)

    # -- updates ---------------------------------------------------------------------------

    def log_update(self, row: dict[str, Any], now: float) -> None:
        """Record one update (``model_updates``)."""
        self.db.run(
            "INSERT INTO model_updates (name, mode, from_version, to_version, records, held_out, "
            "before, after, kept, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row["name"], row["mode"], row["from_version"], row["to_version"], row["records"],
             row["held_out"], row["before"], row["after"], int(row["kept"]),
             dumps(row.get("detail", {})), now),
        )  # fmt: skip

    def updates(self, name: str | None) -> list[dict[str, Any]]:
        """The update log, oldest first (of one model or all)."""
        cols = (
            "name, mode, from_version, to_version, records, held_out, before, after, kept, "
            "detail, at"
        )
        sql = f"SELECT {cols} FROM model_updates"
        params: tuple[Any, ...] = ()
        if name is not None:
            sql += " WHERE name = ?"
            params = (name,)
        out = []
        for r in self.db.run(sql + " ORDER BY id", params):
            row = dict(zip([c.strip() for c in cols.split(",")], r, strict=True))
            row["kept"], row["detail"] = bool(row["kept"]), loads(row["detail"])
            out.append(row)
        return out

    # -- cognitive pattern memory ------------------------------------------------------------

    def add_example(
        self,
        operation: str,
        pattern: str,
        outcome: str | None,
        embedder: str,
        vector: bytes,
        now: float,
    ) -> int:
        """Store one labelled operation; returns its id."""
        row = self.db.run(
            "INSERT INTO pattern_memory (operation, pattern, outcome, embedder, vector, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (operation, pattern, outcome, embedder, vector, now),
        ).fetchone()
        return int(row[0])

    def examples(self, embedder: str) -> list[tuple[str, str, str | None, bytes]]:
        """``(operation, pattern, outcome, vector)`` of every example of this embedder."""
        return self.db.run(
            "SELECT operation, pattern, outcome, vector FROM pattern_memory WHERE embedder = ? "
            "ORDER BY id",
            (embedder,),
        ).fetchall()

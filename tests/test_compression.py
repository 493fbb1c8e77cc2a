"""Compressed cold entries: zstd values with a trained dictionary, int8 vectors; reads, search,
integrity and the witness chain all see the same entries as before."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

import mindbank
from mindbank import MindBank, ValidationError
from mindbank.store.compression import dequantize, quantize

from .conftest import FakeClock, run_mindbank

WORDS = (
    "agent memory store vector search index retry backoff timeout cache token parse schema "
    "commit rollback migrate deploy build test lint format queue worker lock merge branch "
    "request response header payload encode decode compress latency budget error trace"
).split()


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40))) + "."


def _fill(mb: MindBank, n: int = 300) -> dict[str, object]:
    rng = random.Random(7)
    values: dict[str, object] = {}
    for i in range(n):
        values[f"k{i:04d}"] = {"note": _text(rng), "n": i} if i % 10 == 0 else _text(rng)
    mb.store_many({"key": k, "value": v, "tags": ["t"]} for k, v in values.items())
    return values


def test_int8_vectors_round_trip_within_half_a_step() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        v = rng.standard_normal(384).astype("<f4")
        back = np.frombuffer(dequantize(quantize(v.tobytes()), "int8") or b"", dtype="<f4")
        step = float(np.abs(v).max()) / 127.0
        assert np.max(np.abs(back - v)) <= step / 2 + 1e-6
    assert dequantize(b"abcd", None) == b"abcd"


def test_cold_entries_compress_and_read_back_exactly(
    mb: MindBank, clock: FakeClock, tmp_path: Path
) -> None:
    values = _fill(mb)
    clock.advance(40 * 86400)  # everything is cold now
    for _ in range(3):  # ... but this one is hot
        mb.retrieve("k0001")
    mb.export(tmp_path / "before.jsonl")
    keyword_before = [h.entry.key for h in mb.search("rollback deploy", mode="keyword", k=20)]
    r = mb.compress()
    assert r.entries == 300 and r.cold == 299
    assert r.values_compressed > 250 and r.value_bytes_after < 0.7 * r.value_bytes_before
    assert r.vectors_quantized == 299
    assert r.vector_bytes_after < 0.3 * r.vector_bytes_before
    assert r.keyword_recall_at_10 == 1.0
    assert r.semantic_recall_at_10 is not None and r.semantic_recall_at_10 >= 0.9
    assert r.reduction is not None and r.reduction > 0.5
    blobs = mb.query("SELECT key FROM memory_store WHERE typeof(value) = 'blob'").rows
    assert ("k0001",) not in blobs and len(blobs) == r.values_compressed
    for k, v in values.items():  # every entry reads back as stored
        e = mb.get(k)
        assert e is not None and e.value == v and e.tags == ("t",)
    mb.export(tmp_path / "after.jsonl")
    assert _lines(tmp_path / "after.jsonl") == _lines(tmp_path / "before.jsonl")
    assert [h.entry.key for h in mb.search("rollback deploy", mode="keyword", k=20)] == (
        keyword_before
    )
    assert mb.verify().ok and mb.check().ok
    status = mb.index_status()
    assert status.fts_ok and status.fts_rows == 300 and status.loaded == 300
    # writing over a compressed entry, and deleting one, keep the full-text index exact
    mb.store("k0002", "zebra crossing")
    assert [h.entry.key for h in mb.search("zebra", mode="keyword")] == ["k0002"]
    assert mb.delete("k0003")
    status = mb.index_status()
    assert status.fts_ok and status.fts_rows == status.entries == 299
    assert mb.verify().ok
    again = mb.compress()  # nothing left to do
    assert again.values_compressed == 0 and again.vectors_quantized == 0


def _lines(path: Path) -> list[dict[str, object]]:
    return sorted(
        (json.loads(line) for line in path.read_text().splitlines()), key=lambda d: str(d["key"])
    )


def test_another_process_reads_compressed_entries(
    mb: MindBank, clock: FakeClock, db_path: Path
) -> None:
    values = _fill(mb, 100)
    clock.advance(40 * 86400)
    assert mb.compress(vectors=False).values_compressed > 50
    mb.close()
    r = run_mindbank("memory", "retrieve", "k0005", "--db", str(db_path), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["value"] == values["k0005"]
    r = run_mindbank("search", "rollback", "--mode", "keyword", "--db", str(db_path), "--json")
    assert r.returncode == 0, r.stderr and json.loads(r.stdout)


def test_too_little_text_is_refused_and_nothing_changes(mb: MindBank, clock: FakeClock) -> None:
    mb.store("only", "one short value that is long enough to be worth compressing, maybe")
    clock.advance(40 * 86400)
    with pytest.raises(ValidationError, match="too little text"):
        mb.compress()
    assert mb.query("SELECT count(*) FROM zstd_dicts").rows == ((0,),)
    assert mb.query("SELECT typeof(value) FROM memory_store").rows == (("text",),)
    with pytest.raises(ValidationError, match="tiers"):
        mb.compress(tiers=["frozen"])


def test_optimize_command(db_path: Path) -> None:
    with mindbank.open(db_path, clock=lambda: 1_800_000_000.0) as mb:
        _fill(mb, 200)
    r = run_mindbank("memory", "optimize", "--compression", "--tier", "warm", "--tier", "cold",
                     "--vacuum", "--json", "--db", str(db_path))  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["cold"] == 200 and doc["values_compressed"] > 150
    assert doc["file_bytes_after"] < doc["file_bytes_before"]
    r = run_mindbank("memory", "optimize", "--compression", "--tier", "warm", "--db", str(db_path))
    assert r.returncode == 0 and "keyword search recall@10" in r.stdout, r.stdout

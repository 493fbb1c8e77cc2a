"""Memory that learns from use: the feedback loop, learned boosts, the confidence rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mindbank
from mindbank import NotFoundError, ValidationError
from mindbank.config import LearningSettings, Settings
from mindbank.learning.fuzzy import jaccard, trigrams
from mindbank.learning.graph import pagerank
from mindbank.learning.rules import DAY, confidence, learn_boost, tier_of
from mindbank.vectors.lsh import similar_neighbours
from mindbank.vectors.pairs import similar_pairs

from .conftest import FakeClock, run_mindbank

DOCS = [
    ("retry-backoff", "retry the request with exponential backoff and jitter"),
    ("retry-limit", "retry a failed request at most three times"),
    ("retry-idempotent", "only retry requests that are idempotent"),
    ("retry-log", "log every retry of a request with its attempt number"),
    ("timeouts", "set a timeout on every outgoing request"),
    ("pooling", "reuse connections from a pool"),
]


@pytest.fixture
def db_path(both_db: Path | str) -> Path | str:
    """Every test that opens a database runs on SQLite and on PostgreSQL."""
    return both_db


def _fill(mb: mindbank.MindBank) -> None:
    mb.store_many({"key": k, "value": v} for k, v in DOCS)


def test_a_user_who_always_picks_the_third_result_moves_it_up(
    db_path: Path, clock: FakeClock
) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        _fill(mb)
        query = "how should I retry a request"
        first = mb.search(query, k=5)
        wanted = first[2].entry.key
        above = [h.entry.key for h in first[:2]]
        ranks = []
        for _ in range(8):
            hits = mb.search(query, k=5)
            keys = [h.entry.key for h in hits]
            ranks.append(keys.index(wanted) + 1)
            if ranks[-1] == 1:
                break
            mb.retrieve(wanted)  # the user uses it
            clock.advance(5)
        assert ranks[0] == 3 and ranks[-1] == 1, ranks
        assert len(ranks) <= 5  # N = 4 rounds of feedback at the defaults
        top = mb.search(query, k=5)[0]
        assert top.entry.key == wanted and top.boost > 0
        for key in above:
            assert mb.entry_score(key).boost < 0 and mb.entry_score(key).skips >= 1
        s = mb.entry_score(wanted)
        assert s.uses == len(ranks) - 1 and s.skips == 0


def test_boost_is_added_to_the_score(db_path: Path, clock: FakeClock) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        _fill(mb)
        plain = {h.entry.key: h.score for h in mb.search("connection pool", k=6)}
        mb.feedback("pooling", 1.0)
        w = mb._db.settings.learning.feedback_weight
        for h in mb.search("connection pool", k=6):
            assert h.score == pytest.approx(plain[h.entry.key] + w * h.boost)
        assert mb.entry_score("pooling").boost == pytest.approx(0.3)


def test_no_feedback_outside_the_window_or_for_entries_not_shown(
    db_path: Path, clock: FakeClock
) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        _fill(mb)
        mb.search("retry", k=2)
        mb.retrieve("pooling")  # not shown
        assert mb.entry_score("pooling").uses == 0
        clock.advance(601)
        shown = mb.search("retry", k=2)[0].entry.key
        clock.advance(601)
        mb.retrieve(shown)
        assert mb.entry_score(shown).uses == 0
        shown = mb.search("retry", k=2)[0].entry.key
        mb.retrieve(shown)
        mb.retrieve(shown)  # one search, one use
        assert mb.entry_score(shown).uses == 1


def test_feedback_across_processes(db_path: Path) -> None:
    with mindbank.open(db_path) as mb:
        _fill(mb)
    db = str(db_path)
    r = run_mindbank("search", "how to retry a request", "-k", "3", "--json", "--db", db)
    hits = json.loads(r.stdout)["hits"]
    third = hits[2]["entry"]["key"]
    r = run_mindbank("memory", "retrieve", third, "--db", db)
    assert r.returncode == 0
    with mindbank.open(db_path) as mb:
        assert mb.entry_score(third).uses == 1
        assert mb.entry_score(hits[0]["entry"]["key"]).skips == 1
    r = run_mindbank("memory", "feedback", third, "-0.5", "--db", db, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["uses"] == 2
    r = run_mindbank("memory", "feedback", third, "3", "--db", db)
    assert r.returncode == 2 and "REWARD" in r.stderr  # a usage error


def test_explicit_feedback_validation(db_path: Path, clock: FakeClock) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        _fill(mb)
        with pytest.raises(ValidationError, match="reward"):
            mb.feedback("pooling", 2)
        with pytest.raises(NotFoundError):
            mb.feedback("nope", 1)
        entry = mb.get("pooling")
        assert entry is not None
        assert mb.feedback(entry, -1, query="db").boost == pytest.approx(-0.3)
        mb.delete("pooling")  # its feedback goes with it
        assert mb.query("SELECT count(*) FROM feedback").rows == ((0,),)


@given(b=st.floats(-1, 1), r=st.floats(-1, 1), rate=st.floats(0, 1))
def test_learn_boost_stays_in_range_and_moves_toward_the_reward(
    b: float, r: float, rate: float
) -> None:
    new = learn_boost(b, r, rate)
    assert -1 - 1e-12 <= new <= 1 + 1e-12
    assert abs(new - r) <= abs(b - r) + 1e-12


def test_confidence_rules() -> None:
    s = LearningSettings()
    t0 = 1_800_000_000.0
    assert confidence(0, t0, None, t0, s) == 0.5
    assert confidence(3, t0, t0, t0, s) == pytest.approx(0.5 + 3 * 0.03)
    assert confidence(100, t0, t0, t0, s) == 1.0
    assert confidence(0, t0, None, t0 + 10 * DAY, s) == pytest.approx(0.5 * 0.995**10)
    # consolidated entries (>= 10 accesses) decay at half the rate
    c9 = confidence(9, t0, t0, t0 + 100 * DAY, s) / confidence(9, t0, t0, t0, s)
    c10 = confidence(10, t0, t0, t0 + 100 * DAY, s) / confidence(10, t0, t0, t0, s)
    assert c9 == pytest.approx(0.995**100) and c10 == pytest.approx(0.9975**100)
    fast = LearningSettings(mode="aggressive")
    slow = LearningSettings(mode="conservative")
    later = t0 + 30 * DAY
    assert confidence(2, t0, t0, later, fast) < confidence(2, t0, t0, later, slow) or (
        confidence(2, t0, t0, t0, fast) > confidence(2, t0, t0, t0, slow)
    )
    assert confidence(0, t0, None, later, fast) < confidence(0, t0, None, later, s)
    assert confidence(0, t0, None, later, s) < confidence(0, t0, None, later, slow)
    with pytest.raises(ValidationError):
        LearningSettings(mode="reckless")


def test_feedback_can_be_turned_off(db_path: Path, clock: FakeClock) -> None:
    settings = Settings(learning=LearningSettings(feedback_window=0))
    with mindbank.open(db_path, clock=clock, settings=settings) as mb:
        _fill(mb)
        shown = mb.search("retry", k=1)[0].entry.key
        mb.retrieve(shown)
        assert mb.entry_score(shown).uses == 0
        assert mb.query("SELECT count(*) FROM search_impressions").rows == ((0,),)


# -- the memory graph --------------------------------------------------------------------------


def _dense_pagerank(n: int, edges: list[tuple[int, int, float]], d: float) -> np.ndarray:
    m = np.zeros((n, n))
    for a, b, w in edges:
        m[b, a] += w
    out = m.sum(axis=0)
    for j in range(n):
        m[:, j] = m[:, j] / out[j] if out[j] > 0 else 1.0 / n  # dangling: spread evenly
    g = d * m + (1 - d) / n
    vals, vecs = np.linalg.eig(g)
    v = np.real(vecs[:, np.argmax(np.real(vals))])
    return v / v.sum()


def test_sparse_pagerank_matches_a_dense_reference() -> None:
    rng = np.random.default_rng(3)
    n = 30
    edges = [
        (int(a), int(b), float(w))
        for a, b, w in zip(
            rng.integers(0, n, 90), rng.integers(0, n, 90), rng.random(90), strict=True
        )
        if a != b
    ]
    src = np.array([e[0] for e in edges])
    dst = np.array([e[1] for e in edges])
    w = np.array([e[2] for e in edges])
    sparse = pagerank(n, src, dst, w, 0.85, tol=1e-14, max_iter=1000)
    assert sparse.sum() == pytest.approx(1.0)
    assert np.allclose(sparse, _dense_pagerank(n, edges, 0.85), atol=1e-9)


def test_lsh_neighbours_against_exact_pairs() -> None:
    rng = np.random.default_rng(5)
    centers = rng.standard_normal((40, 64))
    m = np.repeat(centers, 25, axis=0) + 0.35 * rng.standard_normal((1000, 64))
    m = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
    exact = {(a, b) for a, b, _ in similar_pairs(m, 0.8)}
    src, dst, sim = similar_neighbours(m, 0.8, k=1000)
    found = {(min(a, b), max(a, b)) for a, b in zip(src.tolist(), dst.tolist(), strict=True)}
    assert found <= exact  # everything found is a true pair (scored exactly)
    assert np.all(sim >= 0.8)
    recall = len(found) / len(exact)
    assert len(exact) > 500 and recall >= 0.85, recall


def test_graph_build_rank_and_cli(db_path: Path, clock: FakeClock) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        _fill(mb)
        mb.store("retry-backoff-copy", "retry the request with exponential backoff and jitter")
        for key in ("pooling", "timeouts", "pooling", "timeouts"):
            mb.feedback(key, 1.0)
            clock.advance(60)
        report = mb.build_graph()
        assert report.nodes == len(DOCS) + 1
        assert report.similar_edges >= 1 and report.coaccess_edges == 1
        top = mb.graph(top=10)
        assert sum(n.pagerank for n in top) == pytest.approx(1.0)
        by_key = {n.key: n for n in top}
        assert ("default", "retry-backoff-copy", "similar") in {
            (ns, k, kind) for ns, k, kind, _ in by_key["retry-backoff"].neighbours
        }
        assert by_key["pooling"].neighbours[0][1:3] == ("timeouts", "coaccess")
        isolated = [n.pagerank for n in top if not n.neighbours]
        linked = [n.pagerank for n in top if n.neighbours]
        assert isolated and min(linked) > max(isolated)
    r = run_mindbank("memory", "graph", "--top", "3", "--json", "--db", str(db_path))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["built"]["nodes"] == len(DOCS) + 1 and len(data["top"]) == 3


# -- fuzzy lookup ------------------------------------------------------------------------------


def test_fuzzy_finds_keys_with_typos_and_matches_brute_force(
    db_path: Path, clock: FakeClock
) -> None:
    with mindbank.open(db_path, clock=clock) as mb:
        _fill(mb)
        mb.store("retry-policy", "our policy for retries", namespace="ops")
        mb.store("long", "x" * 500)  # long values are not matched, their keys are
        hits = mb.fuzzy("retyr-polcy")
        assert hits[0].key == "retry-policy" and hits[0].field == "key"
        assert mb.fuzzy("pooling", namespace="ops", min_score=0.5) == []
        assert mb.fuzzy("reuse connections from pol")[0].key == "pooling"
        # the index gives exactly what scoring every entry gives
        rows = [(e.namespace, e.key, str(e.value)) for e in mb.list(limit=None)]  # all of them
        for q in ("retyr", "timeout on request", "log retrys", "zzz"):
            brute = []
            for ns, key, value in rows:
                qg = trigrams(q)
                ks = jaccard(qg, trigrams(key))
                vs = jaccard(qg, trigrams(value)) if len(value) <= 200 else 0.0
                brute.append((max(ks, vs), ns, key))
            brute.sort(key=lambda t: (-t[0], t[1], t[2]))
            want = [(round(s, 9), ns, key) for s, ns, key in brute if s >= 0.2][:10]
            got = [(round(h.score, 9), h.namespace, h.key) for h in mb.fuzzy(q)]
            assert got == want, q
        mb.store("retry-polish", "a new key")  # a write rebuilds the index
        assert "retry-polish" in {h.key for h in mb.fuzzy("retry-pol")}
        with pytest.raises(ValidationError):
            mb.fuzzy(" ")
    r = run_mindbank("memory", "fuzzy", "retyr-polcy", "--json", "--db", str(db_path))
    assert r.returncode == 0 and json.loads(r.stdout)[0]["key"] == "retry-policy"


# -- tiers ---------------------------------------------------------------------------------------


def test_tier_rules() -> None:
    s = LearningSettings()
    t0 = 1_800_000_000.0
    assert tier_of(5, t0, t0 + 10, t0 + 100, s)[0] == "hot"
    assert tier_of(4, t0, t0 + 10, t0 + 100, s)[0] == "warm"
    assert tier_of(9, t0, t0, t0 + 2 * DAY, s)[0] == "warm"  # used, but not lately
    tier, why = tier_of(0, t0, None, t0 + 31 * DAY, s)
    assert tier == "cold" and "31.0 d" in why


def test_entries_move_between_tiers(db_path: Path, clock: FakeClock) -> None:
    settings = Settings(access_flush_seconds=0)
    with mindbank.open(db_path, clock=clock, settings=settings) as mb:
        _fill(mb)
        mb.events.log("task_done", "agent-1", {"n": 1})
        report = mb.tiers(entries=True)
        assert report.semantic == {"entries": 6, "hot": 0, "warm": 6, "cold": 0}
        for _ in range(5):
            mb.retrieve("pooling")
        by_key = {e.key: e for e in mb.tiers(entries=True).entries}
        assert by_key["pooling"].tier == "hot" and "5 accesses" in by_key["pooling"].reason
        clock.advance(2 * DAY)
        assert {e.key: e.tier for e in mb.tiers(entries=True).entries}["pooling"] == "warm"
        clock.advance(30 * DAY)
        report = mb.tiers(entries=True)
        assert report.semantic["cold"] == 6
        # the working tier is SQLite's row cache (PostgreSQL has none: another machine's
        # write could not invalidate it without a round trip, which is the read itself)
        assert report.working["rows"] >= (1 if isinstance(db_path, Path) else 0)
        assert report.working["limit_bytes"] == 50 * 1024 * 1024
        assert report.vector["entry_vectors"] == 6
        # episodic retention removes only what its rules say, and only when applied
        assert report.episodic["events"] >= 1 and report.episodic["would_remove"] >= 1
        assert mb.count() == 6
        removed = mb.apply_retention()
        assert removed == report.episodic["would_remove"]
        assert mb.tiers().episodic["events"] == report.episodic["events"] - removed
        assert mb.count() == 6


def test_working_memory_is_bounded_in_bytes(db_path: Path, clock: FakeClock) -> None:
    settings = Settings(working_memory_bytes=10_000, embed=False)
    with mindbank.open(db_path, clock=clock, settings=settings) as mb:
        mb.store_many({"key": f"k{i}", "value": "x" * 1000} for i in range(50))
        for i in range(50):
            mb.retrieve(f"k{i}")
        rows, size = mb._memory.working_memory()
        assert size <= 10_000 and (1 if isinstance(db_path, Path) else 0) <= rows < 50
        assert mb.retrieve("k49") is not None  # the most recent ones stay
    r = run_mindbank("memory", "tiers", "--list", "--json", "--db", str(db_path))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["semantic"]["entries"] == 50


def test_ranking_can_use_the_graph(db_path: Path, clock: FakeClock) -> None:
    settings = Settings(learning=LearningSettings(graph_weight=1.0, feedback_weight=0.0))
    with mindbank.open(db_path, clock=clock, settings=settings) as mb:
        _fill(mb)
        for _ in range(3):  # timeouts and pooling used together: co-access edges
            for key in ("timeouts", "pooling"):
                mb.feedback(key, 1.0)
                clock.advance(10)
        before = [h.entry.key for h in mb.search("request", k=6)]
        mb.build_graph()
        hits = mb.search("request", k=6)
        linked = {n.key for n in mb.graph(top=10) if n.neighbours}
        assert {"timeouts", "pooling"} <= linked
        assert [h.entry.key for h in hits][:2] in (["timeouts", "pooling"], ["pooling", "timeouts"])
        assert before != [h.entry.key for h in hits]

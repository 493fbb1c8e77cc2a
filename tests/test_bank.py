"""The ReasoningBank: items, verdicts, distillation, scored retrieval with MMR, the query cache,
confidence learning, links and consolidation; against real SQLite files and a real PostgreSQL
(every test that opens a database runs on both), real test runs and real subprocesses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mindbank
from mindbank import CommandError, NotFoundError, ValidationError
from mindbank.config import BankSettings, Settings
from mindbank.embedders import load_embedder
from mindbank.reasoning import scoring
from mindbank.reasoning.bank import item_text
from mindbank.reasoning.distill import error_types
from mindbank.reasoning.judge import from_tests
from mindbank.store.reasoning import BANK_TABLES

from .conftest import FakeClock, run_mindbank


@pytest.fixture
def db_path(both_db: Path | str) -> Path | str:
    """Every test that opens a database runs on SQLite and on PostgreSQL."""
    return both_db


def _open(path: Path, clock: FakeClock, **bank: object) -> mindbank.MindBank:
    return mindbank.open(path, clock=clock, settings=Settings(bank=BankSettings(**bank)))  # type: ignore[arg-type]


# -- pure functions ------------------------------------------------------------------------


@given(
    c=st.floats(0, 1),
    up=st.floats(0, 1),
    down=st.floats(0, 1),
    success=st.booleans(),
)
def test_confidence_update_stays_in_range_and_moves_the_right_way(
    c: float, up: float, down: float, success: bool
) -> None:
    new = scoring.update_confidence(c, success, up, down)
    assert 0.0 <= new <= 1.0
    if success:
        assert new >= c
        assert new == pytest.approx(c + up * (1 - c))
    else:
        assert new <= c
        assert new == pytest.approx(c * (1 - down))


def test_confidence_update_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        scoring.update_confidence(1.5, True, 0.1, 0.1)


def test_merged_confidence_weighs_evidence() -> None:
    assert scoring.merged_confidence([0.9, 0.3], [0, 0]) == pytest.approx(0.6)
    assert scoring.merged_confidence([0.9, 0.3], [3, 0]) == pytest.approx((0.9 * 4 + 0.3) / 5)


def test_recency_halves_every_half_life() -> None:
    r = scoring.recency(np.array([0.0, 10.0, 20.0, -5.0]), 10.0)
    assert r.tolist() == [1.0, 0.5, 0.25, 1.0]


def test_verdict_from_tests() -> None:
    assert from_tests({}) is None
    v = from_tests({"exit_code": 1, "tests_passed": 2, "tests_failed": 1})
    assert v is not None and (v.label, v.source) == ("failure", "tests")
    v = from_tests({"tests_passed": 3, "tests_failed": 0})
    assert v is not None and v.label == "success"
    v = from_tests({"exit_code": 0})
    assert v is not None and v.label == "success"
    v = from_tests({"exit_code": 2})
    assert v is not None and v.label == "failure"
    v = from_tests({"tests_passed": 0, "tests_failed": 0})
    assert v is not None and v.label == "unknown" and "no test ran" in str(v.detail)
    with pytest.raises(ValidationError, match="tests_failed"):
        from_tests({"tests_failed": -1})
    with pytest.raises(ValidationError, match="exit_code"):
        from_tests({"exit_code": "1"})


def test_error_types_are_read_from_outcome_and_steps() -> None:
    outcome = {
        "failures": [{"test": "test_a", "error": "AssertionError: 1 != 2"}],
        "stderr": "Traceback...\n  File x\nZeroDivisionError: division by zero\n",
    }
    steps = [{"action": "run", "observation": "TypeError: bad operand"}]
    assert error_types(outcome, steps) == ["AssertionError", "TypeError", "ZeroDivisionError"]


# -- storing, listing, status (the reference's workflow) -----------------------------------


def test_reference_workflow(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        bank = mb.bank
        assert bank.check_tables().missing_tables == ()
        assert set(bank.check_tables().existing_tables) == set(BANK_TABLES)
        bank.store("api-framework", "Use Express.js for REST API with middleware pattern",
                   namespace="architecture", confidence=0.90)  # fmt: skip
        bank.store("database-choice", "PostgreSQL for relational data with ACID guarantees",
                   namespace="architecture", confidence=0.92)  # fmt: skip
        bank.store("auth-strategy", "JWT tokens with refresh mechanism, stored in HttpOnly cookies",
                   namespace="security", confidence=0.88)  # fmt: skip
        hits = bank.query("backend architecture database API", namespace="architecture", k=5,
                          min_confidence=0.7)  # fmt: skip
        assert {h.item.key for h in hits} == {"api-framework", "database-choice"}
        assert [h.rank for h in hits] == [1, 2]
        for h in hits:
            assert h.item.value == h.item.content
            assert 0 < h.similarity <= 1 and h.score > 0
            d = h.to_dict()
            assert d["key"] == h.item.key and d["value"] == h.item.content
        assert [i.key for i in bank.list(namespace="security", limit=10)] == ["auth-strategy"]
        s = bank.status()
        assert (s.total_memories, s.total_categories, s.total_embeddings) == (3, 2, 3)
        assert s.avg_confidence == pytest.approx((0.90 + 0.92 + 0.88) / 3)
        assert (s.total_trajectories, s.total_links) == (0, 0)
        item = bank.list(namespace="architecture")[0]
        assert item.data["title"] == item.key and item.data["domain"] == "architecture"
        assert item.data["original_value"] == item.content


def test_store_same_key_replaces_text_and_keeps_record(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        first = mb.bank.store("k", "old advice", namespace="n")
        mb.bank.feedback(first.id, "success")
        clock.advance(5)
        second = mb.bank.store("k", {"advice": "new"}, namespace="n", confidence=0.5)
        assert second.id == first.id
        assert second.content == '{"advice":"new"}' and second.confidence == 0.5
        assert second.usage_count == 1 and second.updated_at == first.created_at + 5
        assert mb.bank.status().total_embeddings == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: b.store("", "v"), "key must not be empty"),
        (lambda b: b.store("k", "v", confidence=1.5), "confidence"),
        (lambda b: b.store("k", "  "), "value"),
        (lambda b: b.query(""), "query"),
        (lambda b: b.query("x", k=0), "k must be"),
        (lambda b: b.query("x", min_confidence=2), "min_confidence"),
        (lambda b: b.query("x", outcome="maybe"), "outcome"),
        (lambda b: b.list(status="gone"), "status"),
        (lambda b: b.record_trajectory(""), "task"),
        (lambda b: b.record_trajectory("t", "not a list"), "steps"),
        (lambda b: b.record_trajectory("t", verdict="great"), "verdict"),
        (lambda b: b.record_trajectory("t", outcome={"tests_failed": "x"}), "tests_failed"),
        (lambda b: b.record_trajectory("t", duration=-1), "duration"),
        (lambda b: b.feedback("nope", "success"), "no reasoning item"),
        (lambda b: b.link("a", "a", "related"), "itself"),
        (lambda b: b.link("a", "b", "friends"), "link type"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_lost(
    db_path: Path, clock: FakeClock, call: object, message: str
) -> None:
    with _open(db_path, clock) as mb:
        mb.bank.store("keep", "this stays")
        with pytest.raises((ValidationError, NotFoundError), match=message):
            call(mb.bank)  # type: ignore[operator]
        assert [i.key for i in mb.bank.list()] == ["keep"]
        assert mb.bank.status().total_trajectories == 0


def test_unknown_used_item_is_refused(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        with pytest.raises(NotFoundError):
            mb.bank.record_trajectory("t", verdict="success", used=["missing"])
        assert mb.bank.status().total_trajectories == 0


# -- retrieval: the score and MMR against a brute-force reference --------------------------


def test_query_matches_brute_force_score_and_mmr(db_path: Path, clock: FakeClock) -> None:
    topics = ["database", "cache", "retry", "index", "schema", "queue", "token", "lock"]
    with _open(db_path, clock, candidates=1000, w_recency=0.2, w_reliability=0.3) as mb:
        for i in range(40):
            clock.advance(86400 * (i % 5))
            mb.bank.store(
                f"k{i}",
                f"{topics[i % 8]} {topics[(i * 3) % 8]} advice number {i % 7}",
                namespace="ns" if i % 4 else "other",
                confidence=0.3 + (i % 7) / 10,
            )
        for lam in (1.0, 0.6, 0.2):
            hits = mb.bank.query("database retry advice", namespace="ns", k=6, mmr_lambda=lam)
            # brute force: every item scored by the documented formula, greedy MMR in Python
            s = mb.bank.settings
            emb = mb.embedder
            q = emb.embed_one("database retry advice").astype(np.float64)
            items = mb.bank.list(namespace="ns", limit=1000)
            vec = {
                it.id: emb.embed_one(item_text(it.title, it.description, it.content)).astype(
                    np.float64
                )
                for it in items
            }
            score = {}
            for it in items:
                sim = float(vec[it.id] @ q)
                age = clock() - max(it.last_used or 0, it.updated_at)
                rec = 0.5 ** (age / s.half_life)
                score[it.id] = (
                    s.w_similarity * sim + s.w_recency * rec + s.w_reliability * it.confidence
                )
            picked: list[str] = []
            while len(picked) < 6:
                best, best_v = None, -np.inf
                for it in sorted(items, key=lambda x: -score[x.id]):
                    if it.id in picked:
                        continue
                    red = max((float(vec[it.id] @ vec[p]) for p in picked), default=0.0)
                    v = lam * score[it.id] - (1 - lam) * red
                    if v > best_v + 1e-12:
                        best, best_v = it.id, v
                assert best is not None
                picked.append(best)
            assert [h.item.id for h in hits] == picked, f"lambda {lam}"
            for h in hits:
                assert h.score == pytest.approx(score[h.item.id], abs=1e-5)


def test_query_filters(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        b = mb.bank
        low = b.store("low", "retry with backoff", confidence=0.2)
        b.store("high", "retry with jitter", confidence=0.9)
        b.record_trajectory("retry a flaky call", verdict="success", strategy="aggressive")
        b.record_trajectory("retry a flaky call twice", verdict="failure", strategy="careful")
        assert "low" not in {h.item.key for h in b.query("retry", k=10, min_confidence=0.5)}
        assert {h.item.strategy for h in b.query("retry", k=10, strategy="careful")} == {"careful"}
        assert {h.item.outcome for h in b.query("retry", k=10, outcome="success")} == {"success"}
        assert len(b.query("retry")) == b.settings.default_k
        b.delete(low.id)
        assert "low" not in {h.item.key for h in b.query("retry", k=10)}


# -- the query cache ------------------------------------------------------------------------


def test_query_cache_hits_and_is_invalidated_by_writes(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        b = mb.bank
        b.store("a", "use connection pooling for the database")
        first = b.query("database pooling")
        assert b.query("database pooling") == first
        assert (b.cache.hits, b.cache.misses) == (1, 1)
        # a write from another connection (another process would do the same)
        with _open(db_path, clock) as other:
            other.bank.store("b", "database pooling with pgbouncer", confidence=0.99)
        again = b.query("database pooling", k=5)
        assert "b" in {h.item.key for h in again}
        assert b.cache.hits == 1
        # feedback changes reliability, so answers: the cache is cleared
        before = b.query("database pooling", k=5)
        assert before is again and b.cache.hits == 2
        b.feedback(before[0].item.id, "failure")
        after = b.query("database pooling", k=5)
        assert after is not before and b.cache.hits == 2
        assert after[0].item.confidence < before[0].item.confidence
        status = b.status().query_cache
        assert status["hits"] == 2 and status["misses"] == 3 and status["capacity"] == 100


def test_a_rolled_back_item_leaves_no_trace(db_path: Path, clock: FakeClock) -> None:
    """The query cache and the in-memory items do not keep what a rolled-back transaction
    wrote, even once the bank's log reaches the same sequence number again."""
    with _open(db_path, clock) as mb:
        b = mb.bank
        b.store("base", "always run the tests before committing")
        with pytest.raises(RuntimeError), mb.transaction():
            b.store("x", "use a connection pool for postgres database connections")
            assert b.query("database connection pool", k=2)[0].item.key == "x"
            raise RuntimeError
        b.store("y", "a connection pool sized to the database's cores")
        keys = [h.item.key for h in b.query("database connection pool", k=3)]
        assert "x" not in keys and "y" in keys


def test_list_and_trajectories_with_no_limit(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        for i in range(60):
            mb.bank.store(f"k{i}", f"lesson number {i}")
        assert len(mb.bank.list()) == 50 and len(mb.bank.list(limit=None)) == 60
        assert len(mb.bank.list(limit=None, offset=55)) == 5
        assert mb.bank.trajectories(limit=None) == []
        with pytest.raises(ValidationError):
            mb.graph(top=None)  # type: ignore[arg-type]


def test_query_cache_ttl_and_lru(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        b = mb.bank
        b.store("a", "alpha")
        b.query("q0")
        clock.advance(59)
        b.query("q0")
        assert b.cache.hits == 1
        clock.advance(2)  # older than the 60 s TTL
        b.query("q0")
        assert b.cache.hits == 1
        for i in range(1, 101):  # 100 more distinct queries evict q0 (the least recent)
            b.query(f"q{i}")
        assert len(b.cache) == 100
        misses = b.cache.misses
        b.query("q0")
        assert b.cache.misses == misses + 1
        b.query("q100")
        assert b.cache.misses == misses + 1


# -- trajectories, verdicts, distillation, confidence --------------------------------------


def test_tests_outrank_the_callers_verdict(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        r = mb.bank.record_trajectory(
            "parse a date", outcome={"exit_code": 1, "tests_failed": 2}, verdict="success"
        )
        v = r.trajectory.verdict
        assert (v.label, v.source, v.detail["caller_said"]) == ("failure", "tests", "success")
        assert r.items and all(i.outcome == "failure" for i in r.items)


def test_unknown_verdict_says_so_and_distils_nothing(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        r = mb.bank.record_trajectory("do something", [{"action": "tried"}])
        assert r.trajectory.verdict.label == "unknown"
        assert "no test results" in r.trajectory.verdict.detail["reason"]
        assert r.items == () and mb.bank.distill(r.trajectory.id) == []
        assert mb.bank.status().verdicts == {"unknown": 1}


def test_structural_items_are_specific(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        r = mb.bank.record_trajectory(
            "Write a function to find the area of a circle",
            [{"action": "used // for division", "observation": "AssertionError: 12 != 12.566"}],
            outcome={
                "exit_code": 1, "tests_passed": 1, "tests_failed": 2,
                "failures": [{"test": "test_area", "error": "AssertionError: assert 12 == 12.566"},
                             {"test": "test_zero", "error": "ZeroDivisionError: division by zero"}],
            },
            strategy="int-division", kind="math", duration=0.42,
        )  # fmt: skip
        items = r.items
        assert 1 <= len(items) <= 3
        pitfall = items[0]
        assert pitfall.title.startswith("Pitfall: int-division fails math task with AssertionError")
        assert pitfall.description.startswith("When not to: int-division on a math task")
        assert "1/3 tests passed" in pitfall.description and "0.42 s" in pitfall.description
        assert "test_area: AssertionError: assert 12 == 12.566" in pitfall.content
        assert any("ZeroDivisionError" in i.title for i in items[1:])
        assert all(i.sources == (r.trajectory.id,) for i in items)
        assert all(i.confidence == 0.7 and i.origin == "distilled" for i in items)
        assert mb.bank.distill(r.trajectory.id) == list(items)  # idempotent
        ok = mb.bank.record_trajectory(
            "Reverse the words of a sentence",
            [{"action": "split", "observation": "IndexError: list index out of range"},
             {"action": "guard the empty string", "observation": "tests pass"}],
            outcome={"exit_code": 0, "tests_passed": 4, "tests_failed": 0},
            strategy="careful",
        )  # fmt: skip
        titles = [i.title for i in ok.items]
        assert titles[0].startswith("careful works for task: Reverse the words")
        assert titles[1].startswith("Recover from IndexError")
        assert "guard the empty string" in ok.items[1].content


def test_using_items_moves_their_confidence(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock, rate_up=0.2, rate_down=0.5) as mb:
        a = mb.bank.store("a", "check inputs first", confidence=0.5)
        r = mb.bank.record_trajectory("t1", verdict="success", used=[a.id], distil=False)
        assert r.updated[0].confidence == pytest.approx(0.6)
        r = mb.bank.record_trajectory(
            "t2", outcome={"exit_code": 1}, used=[a.id, a.id], distil=False
        )
        assert r.updated[0].confidence == pytest.approx(0.3)
        item = mb.bank.feedback(a.id, True)
        assert item.confidence == pytest.approx(0.44)
        assert (item.usage_count, item.success_count, item.failure_count) == (3, 2, 1)
        assert item.success_rate == pytest.approx(2 / 3)
        unknown = mb.bank.record_trajectory("t3", used=[a.id])
        assert unknown.updated == () and mb.bank.get(a.id).usage_count == 3


def _write_task(folder: Path, body: str) -> None:
    (folder / "solution.py").write_text(body)
    (folder / "test_solution.py").write_text(
        textwrap.dedent(
            """
            from solution import mean

            def test_ints():
                assert mean([1, 2, 3]) == 2

            def test_fraction():
                assert mean([1, 2]) == 1.5

            def test_empty():
                assert mean([]) == 0
            """
        )
    )


def _run_pytest(folder: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    passed = re.search(r"(\d+) passed", proc.stdout)
    failed = re.search(r"(\d+) failed", proc.stdout)
    errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("E ")][:5]
    return {
        "exit_code": proc.returncode,
        "tests_passed": int(passed.group(1)) if passed else 0,
        "tests_failed": int(failed.group(1)) if failed else 0,
        "stderr": "\n".join(errors),
    }


def test_judged_distilled_retrieved_round_trip_with_real_tests(
    tmp_path: Path, db_path: Path, clock: FakeClock
) -> None:
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    good.mkdir()
    _write_task(bad, "def mean(xs):\n    return sum(xs) // len(xs)\n")
    _write_task(good, "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0\n")
    bad_outcome, good_outcome = _run_pytest(bad), _run_pytest(good)
    assert bad_outcome["tests_failed"] == 2 and good_outcome["tests_passed"] == 3
    task = "Write a function that returns the mean of a list of numbers"
    with _open(db_path, clock) as mb:
        r_bad = mb.bank.record_trajectory(
            task, [{"action": "integer division"}], outcome=bad_outcome, strategy="terse"
        )
        r_good = mb.bank.record_trajectory(
            task, [{"action": "true division, empty guard"}], outcome=good_outcome,
            strategy="careful",
        )  # fmt: skip
        assert r_bad.trajectory.verdict.source == "tests"
        assert r_bad.trajectory.verdict.label == "failure"
        assert r_good.trajectory.verdict.label == "success"
        assert any("ZeroDivisionError" in i.content for i in r_bad.items)
        # a new, similar task finds both lessons; by strategy, the right one
        new_task = "Compute the average of a list of numbers"
        terse = mb.bank.query(new_task, strategy="terse", k=1)[0]
        assert terse.item.outcome == "failure"
        assert r_bad.trajectory.id in terse.item.sources
        careful = mb.bank.query(new_task, strategy="careful", k=1)[0]
        assert careful.item.outcome == "success" and careful.task_similarity is not None
        # using the pitfall and succeeding anyway raises its confidence
        r = mb.bank.record_trajectory(
            new_task, outcome=good_outcome, strategy="careful", used=[terse.item.id]
        )
        assert r.updated[0].confidence > terse.item.confidence


JUDGE = """
import json, sys
t = json.load(sys.stdin)
ok = any("sorted" in json.dumps(s) for s in t["steps"])
print(json.dumps({"verdict": "success" if ok else "failure", "reason": "looked for sorted()"}))
"""

DISTIL = """
import json, sys
t = json.load(sys.stdin)
print(json.dumps([{"title": "Sort with a key", "description": "When to use: ordering records",
                   "content": "sorted(rows, key=...) for " + t["trajectory"]["task"]}]))
"""


def test_judge_and_distil_commands(tmp_path: Path, db_path: Path, clock: FakeClock) -> None:
    (tmp_path / "judge.py").write_text(JUDGE)
    (tmp_path / "distil.py").write_text(DISTIL)
    (tmp_path / "broken.py").write_text("import sys; print('oops'); sys.exit(3)")
    py = sys.executable
    with _open(db_path, clock, judge_cmd=f"{py} {tmp_path / 'judge.py'}",
               distil_cmd=f"{py} {tmp_path / 'distil.py'}") as mb:  # fmt: skip
        r = mb.bank.record_trajectory("order users by age", [{"action": "sorted(users)"}])
        assert (r.trajectory.verdict.label, r.trajectory.verdict.source) == ("success", "judge")
        assert r.trajectory.verdict.detail["reason"] == "looked for sorted()"
        assert [i.title for i in r.items] == ["Sort with a key"]
        assert r.items[0].origin == "distilled:command" and r.items[0].confidence == 0.5
        r = mb.bank.record_trajectory("order users", [{"action": "bubble"}])
        assert r.trajectory.verdict.label == "failure"
    with _open(db_path, clock, judge_cmd=f"{py} {tmp_path / 'broken.py'}",
               distil_cmd=f"{py} {tmp_path / 'broken.py'}") as mb:  # fmt: skip
        r = mb.bank.record_trajectory("anything", [])
        assert r.trajectory.verdict.label == "unknown"
        assert "exited with 3" in r.trajectory.verdict.detail["judge_error"]
        with pytest.raises(CommandError, match="distil command exited with 3"):
            mb.bank.record_trajectory("anything", verdict="success")
        kept = mb.bank.trajectories(limit=1)[0]  # the attempt is kept, not yet distilled
        assert kept.verdict.label == "success" and kept.distilled_at is None
    with _open(db_path, clock, judge_cmd=f"{py} {tmp_path / 'judge.py'}") as mb:
        unknown = mb.bank.trajectories(limit=2)[1]
        assert unknown.verdict.label == "unknown"
        assert mb.bank.judge(unknown.id).source == "judge"  # judged again, and stored
        assert mb.bank.trajectory(unknown.id).verdict.label == "failure"
        assert len(mb.bank.distill(kept.id)) >= 1  # structural now


# -- links and consolidation ----------------------------------------------------------------


def test_links(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        a = mb.bank.store("a", "set up the schema")
        b = mb.bank.store("b", "write the migration")
        link = mb.bank.link(a.id, b.id, "prerequisite", 0.8)
        assert (link.source, link.target, link.type, link.strength) == (a.id, b.id,
                                                                        "prerequisite", 0.8)  # fmt: skip
        mb.bank.link(a.id, b.id, "prerequisite", 0.9)  # again: the strength changes
        [seen] = mb.bank.links(b.id)
        assert (seen.direction, seen.other.id, seen.strength) == ("in", a.id, 0.9)
        assert mb.bank.links(a.id, "related") == []
        assert mb.bank.status().total_links == 1


def test_consolidation_merges_links_archives_and_is_idempotent(
    db_path: Path, clock: FakeClock
) -> None:
    with _open(db_path, clock, contradiction=0.3) as mb:
        b = mb.bank
        # the same lesson learned twice (same task, strategy, outcome): near-duplicates
        t = "Write a function to merge two sorted lists"
        r1 = b.record_trajectory(t, outcome={"exit_code": 0, "tests_passed": 3}, strategy="s")
        r2 = b.record_trajectory(t, outcome={"exit_code": 0, "tests_passed": 3}, strategy="s")
        b.feedback(r2.items[0].id, "success")
        # a failure on the same task: similar text, opposite outcome
        r3 = b.record_trajectory(t, outcome={"exit_code": 1, "tests_failed": 1}, strategy="s")
        # an old, unused, unreliable item
        stale = b.store("stale", "an idea nobody used", confidence=0.1, namespace="other")
        clock.advance(100 * 86400)
        fresh = b.store("fresh", "another idea", confidence=0.1, namespace="other")
        report = b.consolidate()
        keep, gone = r2.items[0].id, r1.items[0].id  # r2's item has more evidence
        assert [(m[0], m[1]) for m in report.merged] == [(gone, keep)]
        merged = b.get(keep)
        assert merged.sources == (r1.trajectory.id, r2.trajectory.id)
        assert merged.usage_count == 1
        assert merged.confidence == pytest.approx(scoring.merged_confidence([0.73, 0.7], [1, 0]))
        away = b.get(gone)  # never destroyed
        assert (away.status, away.superseded_by) == ("superseded", keep)
        assert [link.type for link in b.links(gone)] == ["supersedes"]
        assert len(report.contradictions) == 1
        pair = set(report.contradictions[0][:2])
        assert pair == {keep, r3.items[0].id}
        assert report.archived == (stale.id,)
        assert b.get(stale.id).status == "archived" and b.get(fresh.id).status == "active"
        assert stale.id not in {h.item.id for h in b.query("an idea nobody used", k=10)}
        assert stale.id in {
            h.item.id for h in b.query("an idea nobody used", k=10, include_archived=True)
        }
        assert gone not in {h.item.id for h in b.query(t, k=10, include_archived=True)}
        # trajectories (raw episodes) are all kept
        assert b.status().total_trajectories == 3
        again = b.consolidate()
        assert not again.changed and again.examined == report.examined - 2


def test_feedback_from_two_processes_loses_nothing(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        item = mb.bank.store("shared", "a lesson many agents use", confidence=0.5)
    code = (
        "import sys, mindbank\n"
        "with mindbank.open(sys.argv[1]) as mb:\n"
        "    for _ in range(25):\n"
        "        mb.bank.feedback(sys.argv[2], 'success')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(db_path), item.id]) for _ in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with _open(db_path, clock) as mb:
        done = mb.bank.get(item.id)
    assert (done.usage_count, done.success_count) == (50, 50)
    assert done.confidence == pytest.approx(1 - 0.5 * 0.9**50)


def test_items_are_reembedded_for_a_new_embedder(db_path: Path, clock: FakeClock) -> None:
    with _open(db_path, clock) as mb:
        r = mb.bank.record_trajectory("sort numbers", verdict="success", strategy="s")
    other = load_embedder("hashing:128")
    with mindbank.open(db_path, clock=clock, embedder=other) as mb:
        hits = mb.bank.query("sort numbers", k=1)
        assert hits[0].item.id == r.items[0].id and hits[0].task_similarity is not None
        assert "hashing-v1:128" in mb.bank.status().embedder


# -- the CLI --------------------------------------------------------------------------------


def test_cli_reference_workflow(db_path: Path | str) -> None:
    db = str(db_path)
    for key, value, ns, conf in [
        ("api-framework", "Use Express.js for REST API with middleware pattern", "architecture", "0.90"),
        ("database-choice", "PostgreSQL for relational data with ACID guarantees", "architecture", "0.92"),
        ("auth-strategy", "JWT tokens with refresh mechanism, stored in HttpOnly cookies", "security", "0.88"),
    ]:  # fmt: skip
        r = run_mindbank("bank", "store", key, value, "-n", ns, "-c", conf, "--db", db)
        assert r.returncode == 0, r.stderr
    r = run_mindbank("bank", "query", "backend architecture database API", "-n", "architecture",
                     "-k", "5", "--min-confidence", "0.7", "--db", db, "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert {h["key"] for h in hits} == {"api-framework", "database-choice"}
    assert all(h["score"] > 0 for h in hits)
    r = run_mindbank("bank", "list", "-n", "security", "--db", db, "--json")
    assert [i["key"] for i in json.loads(r.stdout)] == ["auth-strategy"]
    r = run_mindbank("bank", "status", "--db", db, "--json")
    s = json.loads(r.stdout)
    assert (s["total_memories"], s["total_categories"], s["total_embeddings"]) == (3, 2, 3)
    r = run_mindbank("bank", "trajectory", "record", "Find the area of a circle", "--strategy",
                     "int-division", "--outcome", '{"exit_code": 1, "tests_failed": 2}',
                     "--db", db, "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    recorded = json.loads(r.stdout)
    assert recorded["trajectory"]["verdict"]["source"] == "tests"
    item_id = recorded["items"][0]["id"]
    r = run_mindbank("bank", "feedback", item_id, "failure", "--db", db, "--json")
    assert json.loads(r.stdout)["confidence"] == pytest.approx(0.7 * 0.85)
    r = run_mindbank("bank", "trajectory", "record", "--from", "-", "--db", db, "--json",
                     input=json.dumps({"task": "Sort tuples", "verdict": "success"}))  # fmt: skip
    assert json.loads(r.stdout)["trajectory"]["verdict"]["source"] == "caller"
    for args in (("check",), ("migrate",), ("consolidate",), ("trajectory", "list"),
                 ("links", item_id), ("distill", "1"), ("judge", "1"), ("get", item_id)):  # fmt: skip
        r = run_mindbank("bank", *args, "--db", db)
        assert r.returncode == 0, (args, r.stderr)
    r = run_mindbank("bank", "trajectory", "record", "x", "--outcome", "{bad", "--db", db)
    assert r.returncode == 1 and "--outcome is not valid JSON" in r.stderr
    r = run_mindbank("bank", "get", "nope", "--db", db)
    assert r.returncode == 1 and "no reasoning item" in r.stderr
    r = run_mindbank("bank", "status", "--db", db, "--json")
    assert json.loads(r.stdout)["total_trajectories"] == 2


def test_mirror_caught_up_incrementally_equals_a_full_load(db_path: Path, clock: FakeClock) -> None:
    from mindbank.reasoning.mirror import BankMirror
    from mindbank.store.repos import bank_repo

    rng = np.random.default_rng(7)
    with _open(db_path, clock) as mb, _open(db_path, clock) as other:
        ids: list[str] = []
        for step in range(120):
            writer = mb if rng.random() < 0.5 else other
            op = rng.integers(0, 6)
            if op <= 1 or not ids:
                ids.append(writer.bank.store(f"k{rng.integers(0, 40)}", f"text {step}").id)
                ids = list(dict.fromkeys(ids))
            elif op == 2:
                writer.bank.feedback(ids[rng.integers(0, len(ids))], bool(rng.integers(0, 2)))
            elif op == 3:
                writer.bank.delete(ids.pop(rng.integers(0, len(ids))))
            elif op == 4:
                r = writer.bank.record_trajectory(f"task {step}", verdict="success", strategy="s")
                ids += [i.id for i in r.items]
            else:
                clock.advance(100 * 86400)
                writer.bank.consolidate()
            if step % 10 == 0 or step > 110:
                mb.bank.query("text", k=3)  # catches up through the log
                live = mb.bank._mirror
                assert live is not None
                full = BankMirror(live.identity, live.dims)
                full.load(bank_repo(mb._db))
                got = {live.ids[r]: r for r in live.rows()}
                want = {full.ids[r]: r for r in full.rows()}
                assert set(got) == set(want)
                for item_id, r in got.items():
                    w = want[item_id]
                    assert live.confidence[r] == full.confidence[w]
                    assert live.active_at[r] == full.active_at[w]
                    assert np.array_equal(live.content[r], full.content[w])
                    for f in ("status", "namespace", "strategy", "outcome"):
                        a, b = getattr(live, f)[r], getattr(full, f)[w]
                        assert [k for k, v in live._codes.items() if v == a] == [
                            k for k, v in full._codes.items() if v == b
                        ]


def test_opposite_outcomes_of_different_strategies_do_not_contradict(
    db_path: Path, clock: FakeClock
) -> None:
    with _open(db_path, clock) as mb:
        text = "merging two sorted lists of integers"
        a = mb.bank.store("a", text, strategy="careful", outcome="success")
        b = mb.bank.store("b", text, strategy="terse", outcome="failure")
        c = mb.bank.store("c", text, strategy="careful", outcome="failure")
        report = mb.bank.consolidate()
        assert [set(x[:2]) for x in report.contradictions] == [{a.id, c.id}]
        assert mb.bank.links(b.id) == []

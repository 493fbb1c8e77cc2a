"""Sessions, agents, tasks, shared state, events, metrics, workflows, topology, consensus: on
both backends (SQLite and PostgreSQL, as a tenant)."""

from __future__ import annotations

import statistics

import pytest

from mindbank import ConflictError, MindBank, NotFoundError, ValidationError

from .conftest import FakeClock


@pytest.fixture
def mb(backend_mb: MindBank) -> MindBank:
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_mb


def test_sessions_create_resume_update_expire(mb: MindBank, clock: FakeClock) -> None:
    s = mb.sessions.create({"user": "dev", "progress": 0}, ttl=60)
    assert len(s.id) == 32 and s.expires_at == clock.now + 60
    clock.advance(10)
    resumed = mb.sessions.resume(s.id)
    assert resumed.data == {"user": "dev", "progress": 0}
    assert resumed.last_accessed == clock.now
    updated = mb.sessions.update(s.id, {"progress": 75})
    assert updated.data == {"user": "dev", "progress": 75}
    assert updated.expires_at == s.expires_at
    assert mb.sessions.update(s.id, {}, ttl=None).expires_at is None
    assert mb.sessions.expire(s.id) is True
    with pytest.raises(NotFoundError):
        mb.sessions.resume(s.id)
    assert mb.sessions.get(s.id) is None
    assert mb.sessions.list() == []


def test_sessions_expire_by_ttl_and_cleanup(mb: MindBank, clock: FakeClock) -> None:
    mb.sessions.create({"a": 1}, ttl=5, id="s1")
    with pytest.raises(ConflictError):
        mb.sessions.create({}, id="s1")
    clock.advance(5)
    assert mb.sessions.get("s1") is None
    mb.sessions.create({"again": True}, id="s1")  # an expired id can be reused
    clock.advance(1)
    mb.sessions.create({}, id="s2", ttl=1)
    clock.advance(2)
    assert mb.cleanup().sessions == 1
    with pytest.raises(ValidationError):
        mb.sessions.create(["not", "an", "object"])  # type: ignore[arg-type]


def test_agents_and_their_memory(mb: MindBank, clock: FakeClock) -> None:
    a = mb.agents.register("coder-001", "coder", capabilities=["python", "testing"], swarm_id="dev")
    assert a.capabilities == ("python", "testing") and a.state == {}
    mb.agents.register("tester-001", "tester", swarm_id="dev")
    mb.agents.register("lone", "coder")
    assert [x.id for x in mb.agents.list(swarm_id="dev")] == ["coder-001", "tester-001"]
    assert [x.id for x in mb.agents.list(type="coder")] == ["coder-001", "lone"]
    clock.advance(3)
    assert mb.agents.set_state("coder-001", {"busy": True}).last_active == clock.now

    mb.agents.remember("coder-001", "task_history", [{"task": "analyze", "result": "success"}])
    got = mb.agents.recall("coder-001", "task_history")
    assert got is not None and got.value == [{"task": "analyze", "result": "success"}]
    assert mb.agents.recall("coder-001", "other") is None
    with pytest.raises(NotFoundError, match="register it first"):
        mb.agents.remember("ghost", "k", 1)
    assert mb.agents.remove("coder-001") is True
    assert mb.agents.memory("coder-001") == []  # cascaded
    with pytest.raises(NotFoundError):
        mb.agents.set_state("coder-001", {})


def test_tasks_dependencies_status_and_priority(mb: MindBank, clock: FakeClock) -> None:
    mb.tasks.create("design", id="design", priority="high")
    mb.tasks.create("build", id="build", depends_on=["design"])
    mb.tasks.create("docs", id="docs", priority="low")
    mb.tasks.create("hotfix", id="hotfix", priority="critical")
    with pytest.raises(NotFoundError, match="unknown tasks: nope"):
        mb.tasks.create("x", depends_on=["nope"])
    with pytest.raises(ConflictError):
        mb.tasks.create("again", id="design")
    with pytest.raises(ValidationError):
        mb.tasks.create("bad", priority="urgent")
    assert [t.id for t in mb.tasks.list()] == ["hotfix", "design", "build", "docs"]
    assert [t.id for t in mb.tasks.ready()] == ["hotfix", "design", "docs"]

    with pytest.raises(ConflictError, match="unfinished dependencies: design"):
        mb.tasks.update("build", status="in_progress")
    clock.advance(60)
    done = mb.tasks.update("design", status="completed", result={"doc": "api.md"})
    assert done.completed_at == clock.now and done.result == {"doc": "api.md"}
    assert mb.tasks.update("build", status="in_progress", assigned_to="coder-1").status == (
        "in_progress"
    )
    assert [t.id for t in mb.tasks.list(assigned_to="coder-1")] == ["build"]
    with pytest.raises(ValidationError):
        mb.tasks.update("build", status="done")
    with pytest.raises(NotFoundError):
        mb.tasks.update("ghost", status="failed")


def test_shared_state_compare_and_set(mb: MindBank) -> None:
    first = mb.shared.set("plan", {"stage": "test"}, expected_version=0, updated_by="a")
    assert first.version == 1
    with pytest.raises(ConflictError) as info:
        mb.shared.set("plan", {"stage": "deploy"}, expected_version=0)
    assert info.value.expected == 0 and info.value.actual == 1
    second = mb.shared.set("plan", {"stage": "deploy"}, expected_version=1, updated_by="b")
    assert second.version == 2
    got = mb.shared.get("plan")
    assert got is not None and got.value == {"stage": "deploy"} and got.updated_by == "b"
    assert mb.shared.set("plan", "unconditional").version == 3
    assert mb.shared.update("counter", lambda v: (v or 0) + 1).value == 1
    assert mb.shared.update("counter", lambda v: v + 1).value == 2
    assert mb.shared.delete("plan") is True
    assert mb.shared.get("plan") is None


def test_events_log(mb: MindBank, clock: FakeClock) -> None:
    e1 = mb.events.log("task_completed", "coder-001", {"taskId": "auth", "duration": 1200})
    clock.advance(10)
    mb.events.log("task_started", "coder-002")
    mb.events.log("task_completed", "coder-002", {"taskId": "db"})
    assert [e.source for e in mb.events.list(type="task_completed")] == ["coder-001", "coder-002"]
    assert [e.type for e in mb.events.list(since=clock.now)] == ["task_started", "task_completed"]
    assert len(mb.events.list(after_id=e1.id, limit=1)) == 1
    assert mb.events.list(source="coder-001")[0].data == {"taskId": "auth", "duration": 1200}


def test_metrics_aggregate_over_window(mb: MindBank, clock: FakeClock) -> None:
    old = [100.0, 200.0]
    recent = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    for v in old:
        mb.metrics.record("response_ms", v)
    clock.advance(7200)
    for v in recent:
        mb.metrics.record("response_ms", v, tags={"route": "/api"})
    s = mb.metrics.aggregate("response_ms", window=3600)
    assert s.count == len(recent)
    assert s.mean == pytest.approx(statistics.fmean(recent))
    assert (s.minimum, s.maximum, s.total) == (1.0, 9.0, sum(recent))
    # statistics.quantiles(method="inclusive") is the same linear interpolation.
    q = statistics.quantiles(recent, n=100, method="inclusive")
    assert s.p50 == pytest.approx(statistics.median(recent))
    assert s.p95 == pytest.approx(q[94])
    assert mb.metrics.aggregate("response_ms").count == 10
    empty = mb.metrics.aggregate("nothing")
    assert empty.count == 0 and empty.mean is None
    with pytest.raises(ValidationError):
        mb.metrics.record("x", float("inf"))
    assert mb.metrics.names() == ["response_ms"]


def test_workflow_checkpoint_and_resume(mb: MindBank, clock: FakeClock) -> None:
    mb.workflows.save("build", "pipeline", "testing", {"done": ["lint"], "left": ["test"]})
    clock.advance(1)
    w = mb.workflows.save("build", "pipeline", "deploying", {"done": ["lint", "test"]})
    assert w.created_at == clock.now - 1 and w.updated_at == clock.now
    got = mb.workflows.get("build")
    assert (
        got is not None
        and got.state == "deploying"
        and got.checkpoint == {"done": ["lint", "test"]}
    )
    assert mb.workflows.get("nope") is None
    assert [x.id for x in mb.workflows.list(state="deploying")] == ["build"]


def test_topology_history(mb: MindBank) -> None:
    mb.topology.save("dev", "star", ["hub", "a"], [["hub", "a"]])
    mb.topology.save("dev", "mesh", ["a", "b", "c"], [["a", "b"], ["b", "c"]], {"v": 2})
    latest = mb.topology.latest("dev")
    assert latest is not None and latest.topology_type == "mesh" and latest.metadata == {"v": 2}
    assert [t.topology_type for t in mb.topology.history("dev")] == ["mesh", "star"]
    assert mb.topology.latest("none") is None


def test_consensus_quorum(mb: MindBank) -> None:
    p = mb.consensus.propose("deploy", True, proposer="coord", voters=["a1", "a2", "a3"])
    assert p.quorum == 2 and not p.reached and p.version == 1
    assert not mb.consensus.accept("deploy", "a1").reached
    assert not mb.consensus.accept("deploy", "a1").reached  # twice counts once
    with pytest.raises(NotFoundError, match="not a voter"):
        mb.consensus.accept("deploy", "intruder")
    assert mb.consensus.accept("deploy", "a3").reached
    again = mb.consensus.propose("deploy", False, proposer="coord", voters=["a1", "a2", "a3"])
    assert again.version == 2 and again.acceptors == ()
    with pytest.raises(ConflictError):
        mb.consensus.accept("deploy", "a1", version=1)
    with pytest.raises(NotFoundError):
        mb.consensus.accept("other", "a1")
    with pytest.raises(ValidationError):
        mb.consensus.propose("x", 1, proposer="c", voters=["a"], quorum=2)
    open_vote = mb.consensus.propose("x", 1, proposer="c", quorum=1)
    assert mb.consensus.accept("x", "anyone").reached and open_vote.voters == ()

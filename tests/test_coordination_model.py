"""A hypothesis state machine over shared state (versions, compare-and-set) and tasks
(dependencies, statuses, readiness): any sequence agrees with a plain model, also across a
second connection and transactions that roll back, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    invariant,
    rule,
)

import mindbank
from mindbank import ConflictError, NotFoundError, ValidationError

from .conftest import Abort, DatabaseMachine, run_machine_on_postgres

state_keys = st.sampled_from(["plan", "lock", "cfg"])
values = st.none() | st.integers(-5, 5) | st.text(max_size=4) | st.lists(st.integers(), max_size=2)
statuses = st.sampled_from(["pending", "in_progress", "completed", "failed", "cancelled"])
priorities = st.sampled_from(["low", "medium", "high", "critical"])
_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class CoordinationMachine(DatabaseMachine):
    tasks = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        settings_ = mindbank.Settings(embed=False)
        self.mb = self.open(settings=settings_)
        self.other = self.open(settings=settings_)
        self.shared: dict[str, tuple[Any, int]] = {}  # key -> (value, version)
        # id -> (status, priority, dependencies)
        self.model: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        self.next_id = 0

    def handle(self, second: bool) -> mindbank.MindBank:
        return self.other if second else self.mb

    # -- shared state ------------------------------------------------------------------------

    @rule(
        key=state_keys, value=values, expected=st.none() | st.integers(0, 3), second=st.booleans()
    )
    def shared_set(self, key: str, value: Any, expected: int | None, second: bool) -> None:
        current = self.shared.get(key, (None, 0))[1]
        if expected is not None and expected != current:
            with pytest.raises(ConflictError) as info:
                self.handle(second).shared.set(key, value, expected_version=expected)
            assert (info.value.expected, info.value.actual) == (expected, current)
            return
        got = self.handle(second).shared.set(key, value, expected_version=expected)
        assert got.version == current + 1 and got.value == value
        self.shared[key] = (value, current + 1)

    @rule(key=state_keys, second=st.booleans())
    def shared_increment(self, key: str, second: bool) -> None:
        value, version = self.shared.get(key, (None, 0))
        new = (value if isinstance(value, int) and not isinstance(value, bool) else 0) + 1
        got = self.handle(second).shared.update(
            key, lambda v: (v if isinstance(v, int) and not isinstance(v, bool) else 0) + 1
        )
        assert (got.value, got.version) == (new, version + 1)
        self.shared[key] = (new, version + 1)

    @rule(key=state_keys, second=st.booleans())
    def shared_delete(self, key: str, second: bool) -> None:
        assert self.handle(second).shared.delete(key) == (key in self.shared)
        self.shared.pop(key, None)

    @rule(key=state_keys, value=values)
    def shared_set_rolled_back(self, key: str, value: Any) -> None:
        try:
            with self.mb.transaction():
                self.mb.shared.set(key, value)
                raise Abort
        except Abort:
            pass

    # -- tasks -------------------------------------------------------------------------------

    @rule(
        target=tasks,
        priority=priorities,
        deps=st.lists(st.integers(0, 8), max_size=3, unique=True),
        second=st.booleans(),
    )
    def create_task(self, priority: str, deps: list[int], second: bool) -> str:
        tid = f"t{self.next_id}"
        self.next_id += 1
        depends = tuple(f"t{d}" for d in deps)
        if tid in depends:
            with pytest.raises(ValidationError, match="itself"):
                self.handle(second).tasks.create(tid, id=tid, priority=priority, depends_on=depends)
            return tid
        unknown = [d for d in depends if d not in self.model]
        if unknown:
            with pytest.raises(NotFoundError):
                self.handle(second).tasks.create(tid, id=tid, priority=priority, depends_on=depends)
            return tid
        task = self.handle(second).tasks.create(tid, id=tid, priority=priority, depends_on=depends)
        assert task.status == "pending" and tuple(task.dependencies) == depends
        self.model[tid] = ("pending", priority, depends)
        return tid

    @rule(tid=tasks, status=statuses, second=st.booleans())
    def update_task(self, tid: str, status: str, second: bool) -> None:
        if tid not in self.model:
            with pytest.raises(NotFoundError):
                self.handle(second).tasks.update(tid, status=status)
            return
        _, priority, deps = self.model[tid]
        blocked = [d for d in deps if self.model[d][0] != "completed"]
        if status in ("in_progress", "completed") and blocked:
            with pytest.raises(ConflictError, match="unfinished dependencies"):
                self.handle(second).tasks.update(tid, status=status)
            return
        task = self.handle(second).tasks.update(tid, status=status)
        assert task.status == status
        assert (task.completed_at is not None) == (status in ("completed", "failed", "cancelled"))
        self.model[tid] = (status, priority, deps)

    @rule(tid=tasks)
    def update_rolled_back(self, tid: str) -> None:
        if tid not in self.model:
            return
        try:
            with self.mb.transaction():
                self.mb.tasks.update(tid, status="cancelled")
                raise Abort
        except Abort:
            pass

    # -- what both handles see ---------------------------------------------------------------

    @invariant()
    def shared_matches(self) -> None:
        for handle in (self.mb, self.other):
            for key in ("plan", "lock", "cfg"):
                got = handle.shared.get(key)
                want = self.shared.get(key)
                if want is None:
                    assert got is None
                else:
                    assert got is not None and (got.value, got.version) == want

    @invariant()
    def tasks_match(self) -> None:
        listed = {t.id: (t.status, t.priority, tuple(t.dependencies)) for t in self.mb.tasks.list()}
        assert listed == self.model
        ready = [
            tid
            for tid, (status, _, deps) in self.model.items()
            if status == "pending" and all(self.model[d][0] == "completed" for d in deps)
        ]
        got = [t.id for t in self.other.tasks.ready()]
        assert sorted(got) == sorted(ready)
        ranks = [_ORDER[self.model[t][1]] for t in got]
        assert ranks == sorted(ranks)  # in priority order


TestCoordinationMachine = CoordinationMachine.TestCase
TestCoordinationMachine.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)


@pytest.mark.slow
def test_the_machine_on_postgresql(pg_admin: str) -> None:
    """The same rules on PostgreSQL, a new tenant per example."""
    run_machine_on_postgres(CoordinationMachine, pg_admin, "coord", examples=20, steps=20)

"""A hypothesis state machine: any sequence of store / delete / retrieve / retrieve_many / clear
/ time passing / reopen / a transaction rolled back / another connection's write agrees with a
plain dict model of the memory, and search never shows an entry the model does not have."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    invariant,
    precondition,
    rule,
)

import mindbank

from .conftest import Abort, DatabaseMachine, run_machine_on_postgres

keys = st.sampled_from(["a", "b", "api-1", "api-2", "ü", "x y"])
namespaces = st.sampled_from(["default", "ns1", "ns2"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)


class MemoryMachine(DatabaseMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mb = self.open()
        # (namespace, key) -> (value, tags, expires_at)
        self.model: dict[tuple[str, str], tuple[Any, tuple[str, ...], float | None]] = {}

    def live(self) -> dict[tuple[str, str], tuple[Any, tuple[str, ...], float | None]]:
        now = self.clock.now
        return {k: v for k, v in self.model.items() if v[2] is None or v[2] > now}

    @rule(
        key=keys,
        ns=namespaces,
        value=st.text(max_size=10) | json_values,
        tags=st.lists(st.sampled_from(["t1", "t2"]), max_size=2, unique=True),
        ttl=st.none() | st.integers(min_value=1, max_value=20),
    )
    def store(self, key: str, ns: str, value: Any, tags: list[str], ttl: int | None) -> None:
        self.mb.store(key, value, namespace=ns, tags=tags, ttl=ttl)
        self.model[(ns, key)] = (value, tuple(tags), None if ttl is None else self.clock.now + ttl)

    @rule(
        items=st.lists(
            st.tuples(keys, namespaces, st.text(max_size=10) | json_values), min_size=1, max_size=4
        )
    )
    def store_many(self, items: list[tuple[str, str, Any]]) -> None:
        n = self.mb.store_many({"key": k, "namespace": ns, "value": v} for k, ns, v in items)
        assert n == len(items)
        for key, ns, value in items:  # a key twice: the last one stays
            self.model[(ns, key)] = (value, (), None)

    @rule(ns=namespaces, limit=st.integers(min_value=0, max_value=3), offset=st.integers(0, 3))
    def list_a_page(self, ns: str, limit: int, offset: int) -> None:
        page = self.mb.list(namespace=ns, limit=limit, offset=offset)
        keys_in_ns = sorted(k for n, k in self.live() if n == ns)
        assert [e.key for e in page] == keys_in_ns[offset : offset + limit]

    @rule(key=keys, ns=namespaces)
    def delete(self, key: str, ns: str) -> None:
        was_live = (ns, key) in self.live()
        assert self.mb.delete(key, namespace=ns) == was_live
        self.model.pop((ns, key), None)

    @rule(key=keys, ns=namespaces)
    def retrieve(self, key: str, ns: str) -> None:
        got = self.mb.retrieve(key, namespace=ns)
        expected = self.live().get((ns, key))
        if expected is None:
            assert got is None
        else:
            assert got is not None and (got.value, got.tags, got.expires_at) == expected

    @rule(wanted=st.lists(keys, max_size=4), ns=namespaces)
    def retrieve_many(self, wanted: list[str], ns: str) -> None:
        got = self.mb.retrieve_many(wanted, namespace=ns)
        live = self.live()
        expected = {k: live[(ns, k)] for k in dict.fromkeys(wanted) if (ns, k) in live}
        assert {k: (e.value, e.tags, e.expires_at) for k, e in got.items()} == expected
        assert list(got) == list(expected)

    @rule(key=keys, other=keys, ns=namespaces, value=st.text(max_size=10))
    def rolled_back(self, key: str, other: str, ns: str, value: str) -> None:
        """Writes and reads inside a transaction that fails: nothing of it stays."""
        try:
            with self.mb.transaction():
                self.mb.store(key, value, namespace=ns)
                assert self.mb.retrieve(key, namespace=ns).value == value  # type: ignore[union-attr]
                self.mb.delete(other, namespace=ns)
                self.mb.search(value.replace("\x00", "").strip() or "x", k=3)
                raise Abort
        except Abort:
            pass

    @rule(key=keys, ns=namespaces, value=st.text(max_size=10))
    def another_connection_stores(self, key: str, ns: str, value: str) -> None:
        with mindbank.open(self.path, clock=self.clock) as other:
            other.store(key, value, namespace=ns)
        self.model[(ns, key)] = (value, (), None)

    @rule(query=st.sampled_from(["api", "a", "x y", "ü"]))
    def search_shows_only_what_is_there(self, query: str) -> None:
        live = self.live()
        for hit in self.mb.search(query, k=10):
            where = (hit.entry.namespace, hit.entry.key)
            assert where in live and hit.entry.value == live[where][0]

    @rule(mode=st.sampled_from(["semantic", "hybrid"]))
    def search_sees_every_live_entry(self, mode: str) -> None:
        """With k above the number of entries, search by meaning returns every live one."""
        hits = self.mb.search("anything at all", k=100, mode=mode)
        assert {(h.entry.namespace, h.entry.key) for h in hits} == set(self.live())

    @rule(seconds=st.integers(min_value=1, max_value=15))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: bool(self.model))
    @rule(ns=namespaces)
    def clear(self, ns: str) -> None:
        if any(k[0] == ns for k in self.model):
            live = sum(1 for k in self.live() if k[0] == ns)
            assert self.mb.clear_namespace(ns) == live
            self.model = {k: v for k, v in self.model.items() if k[0] != ns}

    @rule()
    def cleanup(self) -> None:
        expired = len(self.model) - len(self.live())
        assert self.mb.cleanup().entries == expired
        self.model = self.live()

    @rule()
    def reopen(self) -> None:
        self.mb.close()
        self.mb = self.open()

    @invariant()
    def listing_matches(self) -> None:
        live = self.live()
        listed = {
            (e.namespace, e.key): (e.value, e.tags, e.expires_at) for e in self.mb.list(limit=None)
        }
        assert listed == live
        assert self.mb.count(tags=["t1"]) == sum(1 for v in live.values() if "t1" in v[1])
        assert self.mb.count(pattern="api-*") == sum(1 for k in live if k[1].startswith("api-"))


TestMemoryMachine = MemoryMachine.TestCase
TestMemoryMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


@pytest.mark.slow
def test_the_machine_on_postgresql(pg_admin: str) -> None:
    """The same rules on PostgreSQL, a new tenant per example."""
    run_machine_on_postgres(MemoryMachine, pg_admin, "model", examples=25, steps=20)

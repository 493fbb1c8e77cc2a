"""A hypothesis state machine over the ReasoningBank's items: store (new and again), delete,
feedback, transactions that roll back and a second connection's writes agree with a plain
model; a query never shows an item the model does not have, and with k above the number of
items it shows every one. On SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

import mindbank

from .conftest import Abort, DatabaseMachine, run_machine_on_postgres

item_keys = st.sampled_from(["pool", "retry", "index", "cache"])
words = st.sampled_from(["database", "timeout", "retry", "pool", "cache", "index", "lock"])
texts = st.lists(words, min_size=1, max_size=4).map(" ".join)


class BankMachine(DatabaseMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mb = self.open(embedder="hashing")
        self.other = self.open(embedder="hashing")
        # key -> (content, usage count, successes)
        self.model: dict[str, tuple[str, int, int]] = {}

    def handle(self, second: bool) -> mindbank.MindBank:
        return self.other if second else self.mb

    def item_id(self, key: str) -> str:
        ids = {i.key: i.id for i in self.mb.bank.list(limit=None)}
        return ids[key]

    @rule(key=item_keys, text=texts, second=st.booleans())
    def store(self, key: str, text: str, second: bool) -> None:
        item = self.handle(second).bank.store(key, text)
        assert item.content == text and item.key == key
        _, uses, wins = self.model.get(key, ("", 0, 0))
        self.model[key] = (text, uses, wins)  # storing again keeps the track record

    @rule(key=item_keys, second=st.booleans())
    def delete(self, key: str, second: bool) -> None:
        if key not in self.model:
            return
        assert self.handle(second).bank.delete(self.item_id(key)) is True
        del self.model[key]

    @rule(key=item_keys, success=st.booleans(), second=st.booleans())
    def feedback(self, key: str, success: bool, second: bool) -> None:
        if key not in self.model:
            return
        item = self.handle(second).bank.feedback(self.item_id(key), success)
        text, uses, wins = self.model[key]
        self.model[key] = (text, uses + 1, wins + int(success))
        assert (item.usage_count, item.success_count) == self.model[key][1:]

    @rule(key=item_keys, text=texts, query=texts)
    def rolled_back(self, key: str, text: str, query: str) -> None:
        try:
            with self.mb.transaction():
                self.mb.bank.store(key, text)
                self.mb.bank.query(query, k=10)
                if key in self.model:
                    self.mb.bank.feedback(self.item_id(key), True)
                raise Abort
        except Abort:
            pass

    @rule(query=texts, second=st.booleans())
    def query_shows_what_is_there(self, query: str, second: bool) -> None:
        hits = self.handle(second).bank.query(query, k=10)
        got = {h.item.key: h.item.content for h in hits}
        assert got == {k: v[0] for k, v in self.model.items()}

    @invariant()
    def items_match(self) -> None:
        for handle in (self.mb, self.other):
            items = {
                i.key: (i.content, i.usage_count, i.success_count)
                for i in handle.bank.list(limit=None)
            }
            assert items == self.model


TestBankMachine = BankMachine.TestCase
TestBankMachine.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)


@pytest.mark.slow
def test_the_machine_on_postgresql(pg_admin: str) -> None:
    """The same rules on PostgreSQL, a new tenant per example."""
    run_machine_on_postgres(BankMachine, pg_admin, "bank", examples=15, steps=20)

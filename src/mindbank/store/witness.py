"""The witness chain: a tamper-evident record of every write to the witnessed tables.

Every insert, update and delete of ``memory_store`` and ``patterns`` rows appends, in the same
transaction, a record ``(seq, op, tbl, row_key, digest, prev, chain)``:
``digest`` is SHAKE-256 (32 bytes, hex) of the row's content after the write (before it, for a
delete), ``prev`` the previous record's ``chain``, and ``chain`` SHAKE-256 of the record's
fields and ``prev``. Entries stored through mindbank are witnessed by the store itself
(:func:`append`, in the statement's transaction); deletes and ReasoningBank items by triggers
that call ``mb_digest`` and ``mb_chain``, which :func:`register` adds to every mindbank
connection, so a connection without them (the ``sqlite3`` shell) cannot make those writes at
all. Whatever is written around mindbank, :func:`verify` finds: rows changed, deleted or
inserted outside it, and the first broken link if the chain itself was edited.

The content encoding is unambiguous: each value is a type letter, its length and its bytes
(``N`` null, ``I`` integer, ``R`` real as ``repr``, ``T`` UTF-8 text, ``B`` bytes).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from mindbank.records import WitnessReport
from mindbank.store.database import Database, translate_error
from mindbank.store.digests import chain_digest, content_digest, register

__all__ = [
    "chain_digest",
    "content_digest",
    "head",
    "register",
    "tail_ok",
    "verify",
    "verify_database",
]


def verify(
    records: Iterable[tuple[int, str, str, str, str, str, str]],
    rows: Mapping[tuple[str, str], str],
    *,
    chain_of: Callable[[int, str, str, str, str, str], str] = chain_digest,
) -> WitnessReport:
    """Recompute the chain and compare its last word on each row with the rows as they are.

    Args:
        records: ``(seq, op, tbl, key, digest, prev, chain)`` in seq order, from record 0.
        rows: ``(tbl, key) -> content digest`` of every row of the witnessed tables now.
        chain_of: how a record's chain digest is computed (SQLite's, or PostgreSQL's).
    """
    expected: dict[tuple[str, str], tuple[str, str]] = {}
    prev, next_seq, count = "", 0, 0
    broken: int | None = None
    head_seq, head_ = -1, ""
    for seq, op, tbl, key, digest, rec_prev, chain in records:
        count += 1
        if broken is None and (
            seq != next_seq
            or rec_prev != prev
            or chain != chain_of(seq, op, tbl, key, digest, rec_prev)
        ):
            broken = min(seq, next_seq)
        prev, next_seq = chain, seq + 1
        head_seq, head_ = seq, chain
        if op != "genesis":
            expected[(tbl, key)] = (op, digest)
    if count == 0:
        broken = 0
    changed, deleted, inserted = [], [], []
    for where, (op, digest) in expected.items():
        now = rows.get(where)
        if op == "delete":
            if now is not None:
                inserted.append(where)
        elif now is None:
            deleted.append(where)
        elif now != digest:
            changed.append(where)
    inserted += [where for where in rows if where not in expected]
    return WitnessReport(
        records=count,
        head_seq=head_seq,
        head=head_,
        broken_at=broken,
        changed=tuple(sorted(changed)),
        deleted=tuple(sorted(deleted)),
        inserted=tuple(sorted(inserted)),
    )


# -- reading the database --------------------------------------------------------------------


def _records(db: Database) -> Iterator[tuple[int, str, str, str, str, str, str]]:
    yield from db.conn.execute(
        "SELECT seq, op, tbl, row_key, digest, prev, chain FROM witness_chain ORDER BY seq"
    )


def _rows(db: Database) -> dict[tuple[str, str], str]:
    from mindbank.store.schema import WITNESSED

    out: dict[tuple[str, str], str] = {}
    for table, (key_sql, columns) in WITNESSED.items():
        key = key_sql.format(r=table)
        for row in db.conn.execute(f"SELECT {key}, {', '.join(columns)} FROM {table}"):
            out[(table, row[0])] = content_digest(*row[1:])
    return out


def _missing_triggers(db: Database) -> tuple[str, ...]:
    from mindbank.store.schema import WITNESS_TRIGGERS

    have = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    return tuple(t for t in WITNESS_TRIGGERS if t not in have)


def verify_database(db: Database) -> WitnessReport:
    """Verify the whole chain of a database against its rows (reads every row once)."""
    try:
        with db.snapshot():  # one consistent view, without the write lock: a read never waits
            v = verify(_records(db), _rows(db))
            missing = _missing_triggers(db)
    except sqlite3.Error as exc:
        raise translate_error(exc, db.path) from exc
    return WitnessReport(
        v.records, v.head_seq, v.head, v.broken_at, v.changed, v.deleted, v.inserted, missing
    )


def append(db: Database, records: Sequence[tuple[str, str, str, str]]) -> None:
    """Append ``(op, table, key, content digest)`` records (call inside a write transaction:
    the head read here stays the head until commit)."""
    if not records or not db.witnessed:  # no chain on PostgreSQL yet
        return
    seq, prev = db.execute(
        "SELECT seq, chain FROM witness_chain ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    rows = []
    for op, tbl, key, digest in records:
        seq += 1
        chain = chain_digest(seq, op, tbl, key, digest, prev)
        rows.append((seq, op, tbl, key, digest, prev, chain))
        prev = chain
    db.executemany("INSERT INTO witness_chain VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def entry_key(namespace: str, key: str) -> str:
    """How the chain names a memory entry."""
    return f"{namespace}\x1f{key}"


def head(db: Database) -> tuple[int, str]:
    """The last record's sequence number and chain digest (for anchoring elsewhere)."""
    try:
        row = db.conn.execute(
            "SELECT seq, chain FROM witness_chain ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    except sqlite3.Error as exc:
        raise translate_error(exc, db.path) from exc
    return (int(row[0]), str(row[1])) if row else (-1, "")


def tail_ok(db: Database, records: int = 64) -> list[str]:
    """The cheap check made at open: the witness triggers exist and the last ``records``
    links hold. Returns the problems found (empty when fine)."""
    problems = []
    missing = _missing_triggers(db)
    if missing:
        problems.append(f"witness triggers missing: {', '.join(missing)}")
    rows = db.conn.execute(
        "SELECT seq, op, tbl, row_key, digest, prev, chain FROM witness_chain "
        "ORDER BY seq DESC LIMIT ?",
        (records + 1,),
    ).fetchall()[::-1]
    for before, rec in itertools.pairwise(rows):
        seq, op, tbl, key, digest, prev, chain = rec
        if (
            seq != before[0] + 1
            or prev != before[6]
            or chain != chain_digest(seq, op, tbl, key, digest, prev)
        ):
            problems.append(f"witness chain broken at record {min(seq, before[0] + 1)}")
            break
    return problems

"""The witness chain on PostgreSQL: one chain per tenant, written by the server.

Every insert, update and delete of a witnessed row (entries, ReasoningBank items, model
versions) appends, from a trigger in the same transaction, a record ``(seq, op, tbl, row_key,
digest, prev, chain)`` to the tenant's chain. The digests are SHA-256 (PostgreSQL has it built
in; SQLite's chain uses SHAKE-256 computed in Python):

- ``digest``: of the row's witnessed columns, each written unambiguously (``T<length>:<text>``,
  ``I<length>:<integer>``, ``F<16 hex digits of the IEEE double>``, ``N`` for null), computed
  by the server both when writing and when verifying, so no client formats a number;
- ``chain``: of ``seq, op, tbl, row_key, digest, prev`` joined by ``\\x1f``, recomputed in
  Python by :func:`chain_digest` when verifying.

Tenants may read and append to their chain, never change or delete it (no UPDATE or DELETE
privilege). Because the triggers witness every write, whoever makes it, what :func:`verify`
finds on PostgreSQL is what was done around the triggers: rows changed with triggers off
(``session_replication_role = replica``, ``ALTER TABLE ... DISABLE TRIGGER``: the tables'
owner) and chain records edited by the owner. Anchor :func:`head` elsewhere to prove history
up to it was not rewritten.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mindbank.records import WitnessReport

__all__ = ["MIGRATION", "WITNESSED_PG", "chain_digest", "head", "verify_database"]

# table -> (the row's name in the chain, [(column, kind)]): kind T text, I integer, F double
WITNESSED_PG: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "memory_store": (
        "{r}.namespace || chr(31) || {r}.key",
        (("key", "T"), ("namespace", "T"), ("value", "T"), ("value_type", "T"), ("tags", "T"),
         ("metadata", "T"), ("updated_at", "F"), ("expires_at", "F")),
    ),
    "patterns": (
        "{r}.id",
        (("id", "T"), ("type", "T"), ("pattern_data", "T"), ("confidence", "F"),
         ("usage_count", "I"), ("created_at", "F"), ("last_used", "F"), ("namespace", "T"),
         ("key", "T"), ("status", "T"), ("superseded_by", "T"), ("success_count", "I"),
         ("failure_count", "I"), ("updated_at", "F"), ("origin", "T")),
    ),
    "neural_models": (
        "{r}.name || chr(31) || {r}.version::text",
        (("name", "T"), ("version", "I"), ("description", "T"), ("header", "T"),
         ("sha256", "T"), ("quantized", "T"), ("current", "I"), ("created_at", "F")),
    ),
}  # fmt: skip

_LOCK = 0x4D425743  # advisory lock class ("MBWC"): one tenant's chain grows one record at a time


def _field(ref: str, kind: str) -> str:
    if kind == "F":
        return f"coalesce('F' || encode(float8send({ref}), 'hex'), 'N')"
    text = ref if kind == "T" else f"{ref}::text"
    return f"coalesce('{kind}' || length({text})::text || ':' || {text}, 'N')"


def digest_sql(table: str, row: str) -> str:
    """The SQL expression of a row's content digest (``row``: its alias or variable)."""
    columns = WITNESSED_PG[table][1]
    body = " || ".join(_field(f"{row}.{c}", kind) for c, kind in columns)
    return f"encode(sha256(convert_to({body}, 'UTF8')), 'hex')"


def key_sql(table: str, row: str) -> str:
    """The SQL expression of a row's name in the chain."""
    return WITNESSED_PG[table][0].format(r=row)


def _trigger(table: str) -> tuple[str, ...]:
    columns = ", ".join(c for c, _ in WITNESSED_PG[table][1])
    return (
        f"""CREATE FUNCTION mindbank_witness_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            r {table}%ROWTYPE;
        BEGIN
            IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
            PERFORM mindbank_witness_append(r.tenant, lower(TG_OP), '{table}',
                                            {key_sql(table, "r")}, {digest_sql(table, "r")});
            RETURN NULL;
        END $$""",
        f"CREATE TRIGGER {table}_witness AFTER INSERT OR DELETE OR UPDATE OF {columns} "
        f"ON {table} FOR EACH ROW EXECUTE FUNCTION mindbank_witness_{table}()",
    )


MIGRATION: tuple[str, ...] = (
    """CREATE TABLE witness_chain (
        tenant TEXT NOT NULL DEFAULT current_user,
        seq BIGINT NOT NULL,
        op TEXT NOT NULL,
        tbl TEXT NOT NULL,
        row_key TEXT NOT NULL,
        digest TEXT NOT NULL,
        prev TEXT NOT NULL,
        chain TEXT NOT NULL,
        PRIMARY KEY (tenant, seq)
    )""",
    """CREATE FUNCTION mindbank_chain(seq BIGINT, op TEXT, tbl TEXT, k TEXT, d TEXT, prev TEXT)
    RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
        SELECT encode(sha256(convert_to(concat_ws(chr(31), seq::text, op, tbl, k, d, prev),
                                        'UTF8')), 'hex')
    $$""",
    f"""CREATE FUNCTION mindbank_witness_append(t TEXT, op TEXT, tbl TEXT, k TEXT, d TEXT)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        last_seq BIGINT;
        last_chain TEXT;
    BEGIN
        PERFORM pg_advisory_xact_lock({_LOCK}, hashtext(t));
        SELECT seq, chain INTO last_seq, last_chain FROM witness_chain WHERE tenant = t
            ORDER BY seq DESC LIMIT 1;
        IF last_seq IS NULL THEN
            last_seq := 0;
            last_chain := mindbank_chain(0, 'genesis', '', '', '', '');
            INSERT INTO witness_chain VALUES (t, 0, 'genesis', '', '', '', '', last_chain);
        END IF;
        INSERT INTO witness_chain VALUES (t, last_seq + 1, op, tbl, k, d, last_chain,
                                          mindbank_chain(last_seq + 1, op, tbl, k, d, last_chain));
    END $$""",
    *(statement for table in WITNESSED_PG for statement in _trigger(table)),
    "ALTER TABLE witness_chain ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE witness_chain FORCE ROW LEVEL SECURITY",
    "CREATE POLICY witness_chain_tenant ON witness_chain USING (tenant = current_user) "
    "WITH CHECK (tenant = current_user)",
    "GRANT SELECT, INSERT ON witness_chain TO mindbank_tenant",  # append only
    # Rows written before the chain existed are witnessed as they are now.
    *(
        f"SELECT mindbank_witness_append(x.tenant, 'update', '{table}', {key_sql(table, 'x')}, "
        f"{digest_sql(table, 'x')}) FROM {table} x ORDER BY x.tenant, {key_sql(table, 'x')}"
        for table in WITNESSED_PG
    ),
)
"""PostgreSQL migration 8: the witness chain."""


def chain_digest(seq: int, op: str, tbl: str, key: str, digest: str, prev: str) -> str:
    """SHA-256 (hex) of a record's fields and the previous record's chain digest, as the
    server's ``mindbank_chain`` computes it."""
    text = f"{seq}\x1f{op}\x1f{tbl}\x1f{key}\x1f{digest}\x1f{prev}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_database(db: Any) -> WitnessReport:
    """Verify the tenant's chain against its rows, in one snapshot."""
    from mindbank.store.witness import verify

    with db.snapshot():
        records = db.run(
            "SELECT seq, op, tbl, row_key, digest, prev, chain FROM witness_chain ORDER BY seq"
        ).fetchall()
        rows: dict[tuple[str, str], str] = {}
        for table in WITNESSED_PG:
            sql = f"SELECT {key_sql(table, 'x')}, {digest_sql(table, 'x')} FROM {table} x"
            for key, digest in db.run(sql):
                rows[(table, str(key))] = str(digest)
        have = {r[0] for r in db.run("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    report = verify(((int(r[0]), *r[1:]) for r in records), rows, chain_of=chain_digest)
    missing = tuple(f"{t}_witness" for t in WITNESSED_PG if f"{t}_witness" not in have)
    if not records:  # a tenant that never wrote a witnessed row: nothing to break yet
        report = WitnessReport(0, -1, "", None, report.changed, report.deleted, report.inserted)
    return WitnessReport(
        report.records, report.head_seq, report.head, report.broken_at, report.changed,
        report.deleted, report.inserted, missing,
    )  # fmt: skip


def head(db: Any) -> tuple[int, str]:
    """The tenant's last record's sequence number and chain digest."""
    row = db.run("SELECT seq, chain FROM witness_chain ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (-1, "")

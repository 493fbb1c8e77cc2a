"""A mindbank database on PostgreSQL: the same surface as :class:`~mindbank.store.database.
Database` (``run``, ``execute``, ``executemany``, ``transaction``), so the repositories that use
portable SQL run on both; the few statements that differ are class attributes the PostgreSQL
repositories override.

Tenants are PostgreSQL roles. Every row carries ``tenant`` (default ``current_user``) and
row-level security (forced, so it binds the tables' owner too) lets a role read and write only
its own rows: isolation is enforced by PostgreSQL, not by the client. A superuser bypasses it
(the admin connection, for migrations and tenant management).

Needs the ``pg`` extra (``psycopg``). Parameters are written ``?`` as for SQLite and sent as
``%s``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mindbank.config import Settings
from mindbank.errors import (
    DatabaseLockedError,
    NotFoundError,
    SchemaError,
    StoreError,
    ValidationError,
    shown,
)
from mindbank.store import pg_witness
from mindbank.store.database import Transactions, migration_problems
from mindbank.store.locking import NO_LOCK

__all__ = [
    "HNSW_DIMS",
    "PG_MIGRATIONS",
    "PgDatabase",
    "agent_url",
    "create_tenant",
    "create_token",
    "drop_tenant",
    "is_url",
    "revoke_token",
]


def is_url(target: object) -> bool:
    """Whether a database argument names a PostgreSQL server."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def _rls(table: str) -> tuple[str, ...]:
    return (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_tenant ON {table} USING (tenant = current_user) "
        "WITH CHECK (tenant = current_user)",
    )


COORDINATION = (
    "sessions",
    "agents",
    "tasks",
    "agent_memory",
    "performance_metrics",
    "workflow_state",
    "swarm_topology",
    "consensus_state",
)

_P1 = (
    """CREATE TABLE memory_store (
        id BIGSERIAL PRIMARY KEY,
        key TEXT COLLATE "C" NOT NULL,
        namespace TEXT COLLATE "C" NOT NULL DEFAULT 'default',
        value TEXT NOT NULL,
        value_type TEXT NOT NULL DEFAULT 'text' CHECK (value_type IN ('text', 'json')),
        tags TEXT NOT NULL DEFAULT '[]',
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        accessed_at DOUBLE PRECISION,
        access_count INTEGER NOT NULL DEFAULT 0,
        expires_at DOUBLE PRECISION,
        tenant TEXT NOT NULL DEFAULT current_user,
        fts tsvector GENERATED ALWAYS AS
            (to_tsvector('simple', key || ' ' || value || ' ' || tags)) STORED,
        UNIQUE (tenant, namespace, key)
    )""",
    "CREATE INDEX memory_store_key ON memory_store (tenant, key, namespace)",
    "CREATE INDEX memory_store_fts ON memory_store USING GIN (fts)",
    *_rls("memory_store"),
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "INSERT INTO counters VALUES ('memory', 0), ('schemas', 0)",
    """CREATE TABLE change_log (
        seq BIGSERIAL PRIMARY KEY,
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('store', 'delete')),
        actor TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX change_log_namespace ON change_log (tenant, namespace, seq)",
    *_rls("change_log"),
    """CREATE TABLE change_cursors (
        name TEXT NOT NULL,
        seq BIGINT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, name)
    )""",
    *_rls("change_cursors"),
    """CREATE TABLE namespace_schemas (
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        document TEXT NOT NULL,
        strict INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, namespace)
    )""",
    *_rls("namespace_schemas"),
    # Every change to an entry is logged (who: the session's mindbank.actor, else the role)
    # and broadcast on the channel mindbank_changes with the tenant's name.
    """CREATE FUNCTION mindbank_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        who TEXT := coalesce(nullif(current_setting('mindbank.actor', true), ''), current_user);
        now_s DOUBLE PRECISION := extract(epoch FROM clock_timestamp());
    BEGIN
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.namespace, OLD.key)
                                IS DISTINCT FROM (NEW.namespace, NEW.key)) THEN
            INSERT INTO change_log (namespace, key, op, actor, at, tenant)
            VALUES (OLD.namespace, OLD.key, 'delete', who, now_s, OLD.tenant);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO change_log (namespace, key, op, actor, at, tenant)
            VALUES (NEW.namespace, NEW.key, 'store', who, now_s, NEW.tenant);
        END IF;
        UPDATE counters SET value = value + 1 WHERE name = 'memory';
        PERFORM pg_notify('mindbank_changes', coalesce(NEW.tenant, OLD.tenant));
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER memory_store_change AFTER INSERT OR DELETE OR UPDATE OF key, namespace, "
    "value, tags, metadata, expires_at ON memory_store FOR EACH ROW "
    "EXECUTE FUNCTION mindbank_log_change()",
    """CREATE FUNCTION mindbank_bump_schemas() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'schemas';
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER namespace_schemas_bump AFTER INSERT OR UPDATE OR DELETE ON namespace_schemas "
    "FOR EACH STATEMENT EXECUTE FUNCTION mindbank_bump_schemas()",
    # the role every tenant is a member of: what it may touch (rows: only its own)
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mindbank_tenant') THEN
            CREATE ROLE mindbank_tenant NOLOGIN;
        END IF;
    END $$""",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON memory_store, change_log, change_cursors, "
    "namespace_schemas TO mindbank_tenant",
    "GRANT SELECT, UPDATE ON counters TO mindbank_tenant",
    "GRANT SELECT ON schema_migrations TO mindbank_tenant",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO mindbank_tenant",
)

_P2 = (
    # Vectors with pgvector: one per entry, with the embedder's identity and its dims.
    "CREATE EXTENSION IF NOT EXISTS vector",
    """CREATE TABLE embeddings (
        entry_id BIGINT PRIMARY KEY REFERENCES memory_store (id) ON DELETE CASCADE,
        embedder TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        vector vector NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX embeddings_hash ON embeddings (tenant, content_hash, embedder)",
    *_rls("embeddings"),
    "GRANT SELECT, INSERT, UPDATE, DELETE ON embeddings TO mindbank_tenant",
)

_P3 = (
    """CREATE TABLE shared_state (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_by TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        updated_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, key)
    )""",
    *_rls("shared_state"),
    """CREATE TABLE events (
        id BIGSERIAL PRIMARY KEY,
        type TEXT NOT NULL,
        source TEXT NOT NULL,
        data TEXT,
        timestamp DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX events_type_time ON events (tenant, type, timestamp)",
    *_rls("events"),
    "GRANT SELECT, INSERT, UPDATE, DELETE ON shared_state, events TO mindbank_tenant",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO mindbank_tenant",
)

_P4 = (
    """CREATE TABLE sessions (
        id TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        last_accessed DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, id)
    )""",
    """CREATE TABLE agents (
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        capabilities TEXT NOT NULL DEFAULT '[]',
        state TEXT NOT NULL DEFAULT '{}',
        swarm_id TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        last_active DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, id)
    )""",
    "CREATE INDEX agents_swarm ON agents (tenant, swarm_id)",
    """CREATE TABLE tasks (
        id TEXT NOT NULL,
        description TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
        priority TEXT NOT NULL DEFAULT 'medium'
            CHECK (priority IN ('low', 'medium', 'high', 'critical')),
        assigned_to TEXT,
        dependencies TEXT NOT NULL DEFAULT '[]',
        result TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        completed_at DOUBLE PRECISION,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, id)
    )""",
    "CREATE INDEX tasks_status ON tasks (tenant, status, priority)",
    """CREATE TABLE agent_memory (
        id BIGSERIAL PRIMARY KEY,
        agent_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        UNIQUE (tenant, agent_id, key),
        FOREIGN KEY (tenant, agent_id) REFERENCES agents (tenant, id) ON DELETE CASCADE
    )""",
    """CREATE TABLE performance_metrics (
        id BIGSERIAL PRIMARY KEY,
        metric_name TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        tags TEXT NOT NULL DEFAULT '{}',
        timestamp DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX performance_metrics_name_time ON performance_metrics "
    "(tenant, metric_name, timestamp)",
    """CREATE TABLE workflow_state (
        id TEXT NOT NULL,
        workflow_type TEXT NOT NULL,
        state TEXT NOT NULL,
        checkpoint_data TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, id)
    )""",
    """CREATE TABLE swarm_topology (
        id BIGSERIAL PRIMARY KEY,
        swarm_id TEXT NOT NULL,
        topology_type TEXT NOT NULL,
        nodes TEXT NOT NULL,
        edges TEXT NOT NULL DEFAULT '[]',
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX swarm_topology_swarm ON swarm_topology (tenant, swarm_id, id)",
    """CREATE TABLE consensus_state (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        proposer TEXT NOT NULL,
        voters TEXT NOT NULL DEFAULT '[]',
        acceptors TEXT NOT NULL DEFAULT '[]',
        quorum INTEGER NOT NULL,
        timestamp DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, key)
    )""",
    *(statement for table in COORDINATION for statement in _rls(table)),
    # Every unique key of a tenant's table begins with the tenant (statements name the rest)
    "CREATE UNIQUE INDEX embeddings_tenant_entry ON embeddings (tenant, entry_id)",
    # The change log without the global counter: a row every tenant's writer updated, so one
    # tenant's open transaction held up every other tenant's writes. (Nothing reads it here:
    # there is no cache across requests on PostgreSQL.)
    """CREATE OR REPLACE FUNCTION mindbank_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        who TEXT := coalesce(nullif(current_setting('mindbank.actor', true), ''), current_user);
        now_s DOUBLE PRECISION := extract(epoch FROM clock_timestamp());
    BEGIN
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.namespace, OLD.key)
                                IS DISTINCT FROM (NEW.namespace, NEW.key)) THEN
            INSERT INTO change_log (namespace, key, op, actor, at, tenant)
            VALUES (OLD.namespace, OLD.key, 'delete', who, now_s, OLD.tenant);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO change_log (namespace, key, op, actor, at, tenant)
            VALUES (NEW.namespace, NEW.key, 'store', who, now_s, NEW.tenant);
        END IF;
        PERFORM pg_notify('mindbank_changes', coalesce(NEW.tenant, OLD.tenant));
        RETURN NULL;
    END $$""",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(COORDINATION)} TO mindbank_tenant",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO mindbank_tenant",
)

BANK = (
    "patterns",
    "pattern_embeddings",
    "task_trajectories",
    "pattern_sources",
    "pattern_links",
    "bank_log",
)

_P5 = (
    # The ReasoningBank. ``rowid`` is insertion order, as SQLite's implicit one.
    """CREATE TABLE patterns (
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        pattern_data TEXT NOT NULL,
        confidence DOUBLE PRECISION NOT NULL DEFAULT 0.0,
        usage_count INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        last_used DOUBLE PRECISION,
        namespace TEXT NOT NULL DEFAULT 'default',
        key TEXT,
        status TEXT NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'superseded', 'archived')),
        superseded_by TEXT,
        success_count INTEGER NOT NULL DEFAULT 0,
        failure_count INTEGER NOT NULL DEFAULT 0,
        updated_at DOUBLE PRECISION,
        origin TEXT NOT NULL DEFAULT 'stored',
        rowid BIGSERIAL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, id)
    )""",
    "CREATE UNIQUE INDEX patterns_namespace_key ON patterns (tenant, namespace, key) "
    "WHERE key IS NOT NULL",
    "CREATE INDEX patterns_namespace_status ON patterns (tenant, namespace, status)",
    "CREATE INDEX patterns_rowid ON patterns (tenant, rowid)",
    """CREATE TABLE pattern_embeddings (
        id TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'content' CHECK (kind IN ('content', 'task')),
        model TEXT NOT NULL,
        dims INTEGER NOT NULL,
        vector BYTEA NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, id, kind),
        FOREIGN KEY (tenant, id) REFERENCES patterns (tenant, id) ON DELETE CASCADE
    )""",
    """CREATE TABLE task_trajectories (
        id BIGSERIAL PRIMARY KEY,
        task_id TEXT NOT NULL,
        pattern_id TEXT,
        namespace TEXT NOT NULL DEFAULT 'default',
        task TEXT NOT NULL,
        kind TEXT,
        strategy TEXT,
        agent TEXT,
        steps TEXT NOT NULL DEFAULT '[]',
        outcome TEXT NOT NULL DEFAULT '{}',
        success INTEGER,
        verdict TEXT NOT NULL DEFAULT 'unknown'
            CHECK (verdict IN ('success', 'failure', 'unknown')),
        verdict_source TEXT NOT NULL DEFAULT 'none'
            CHECK (verdict_source IN ('tests', 'caller', 'judge', 'none')),
        verdict_detail TEXT NOT NULL DEFAULT '{}',
        used_patterns TEXT NOT NULL DEFAULT '[]',
        duration DOUBLE PRECISION,
        timestamp DOUBLE PRECISION NOT NULL,
        distilled_at DOUBLE PRECISION,
        tenant TEXT NOT NULL DEFAULT current_user,
        UNIQUE (tenant, id)
    )""",
    "CREATE INDEX task_trajectories_task ON task_trajectories (tenant, task_id)",
    "CREATE INDEX task_trajectories_namespace_time ON task_trajectories "
    "(tenant, namespace, timestamp)",
    """CREATE TABLE pattern_sources (
        pattern_id TEXT NOT NULL,
        trajectory_id BIGINT NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, pattern_id, trajectory_id),
        FOREIGN KEY (tenant, pattern_id) REFERENCES patterns (tenant, id) ON DELETE CASCADE,
        FOREIGN KEY (tenant, trajectory_id) REFERENCES task_trajectories (tenant, id)
            ON DELETE CASCADE
    )""",
    "CREATE INDEX pattern_sources_trajectory ON pattern_sources (tenant, trajectory_id)",
    """CREATE TABLE pattern_links (
        id BIGSERIAL PRIMARY KEY,
        source_pattern_id TEXT NOT NULL,
        target_pattern_id TEXT NOT NULL,
        link_type TEXT NOT NULL
            CHECK (link_type IN ('related', 'prerequisite', 'contradicts', 'supersedes')),
        strength DOUBLE PRECISION NOT NULL DEFAULT 0.5 CHECK (strength >= 0 AND strength <= 1),
        created_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        UNIQUE (tenant, source_pattern_id, target_pattern_id, link_type),
        FOREIGN KEY (tenant, source_pattern_id) REFERENCES patterns (tenant, id)
            ON DELETE CASCADE,
        FOREIGN KEY (tenant, target_pattern_id) REFERENCES patterns (tenant, id)
            ON DELETE CASCADE
    )""",
    "CREATE INDEX pattern_links_target ON pattern_links (tenant, target_pattern_id)",
    # bank_log: which item changed (its row or a vector), in order; a process holding the
    # items in memory catches up from it.
    """CREATE TABLE bank_log (
        seq BIGSERIAL PRIMARY KEY,
        pattern_id TEXT NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX bank_log_tenant ON bank_log (tenant, seq)",
    """CREATE FUNCTION mindbank_bank_log() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO bank_log (pattern_id, tenant) VALUES (OLD.id, OLD.tenant);
        ELSE
            INSERT INTO bank_log (pattern_id, tenant) VALUES (NEW.id, NEW.tenant);
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER patterns_log AFTER INSERT OR UPDATE OR DELETE ON patterns "
    "FOR EACH ROW EXECUTE FUNCTION mindbank_bank_log()",
    "CREATE TRIGGER pattern_embeddings_log AFTER INSERT OR UPDATE OR DELETE ON "
    "pattern_embeddings FOR EACH ROW EXECUTE FUNCTION mindbank_bank_log()",
    *(statement for table in BANK for statement in _rls(table)),
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(BANK)} TO mindbank_tenant",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO mindbank_tenant",
)

NEURAL = (
    "neural_models",
    "training_history",
    "pattern_memory",
    "model_updates",
    "pipeline_runs",
)

_P6 = (
    # Neural models: every version (weights as .npz bytes), its training history, the labelled
    # operations of cognitive pattern memory and the log of updates.
    """CREATE TABLE neural_models (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        header TEXT NOT NULL,
        weights BYTEA NOT NULL,
        sha256 TEXT NOT NULL,
        quantized TEXT,
        current INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        last_used DOUBLE PRECISION,
        tenant TEXT NOT NULL DEFAULT current_user,
        UNIQUE (tenant, id),
        UNIQUE (tenant, name, version)
    )""",
    "CREATE UNIQUE INDEX neural_models_current ON neural_models (tenant, name) WHERE current = 1",
    """CREATE TABLE training_history (
        model_id BIGINT NOT NULL,
        epoch INTEGER NOT NULL,
        train_loss DOUBLE PRECISION NOT NULL,
        val_loss DOUBLE PRECISION,
        val_accuracy DOUBLE PRECISION,
        learning_rate DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, model_id, epoch),
        FOREIGN KEY (tenant, model_id) REFERENCES neural_models (tenant, id) ON DELETE CASCADE
    )""",
    """CREATE TABLE pattern_memory (
        id BIGSERIAL PRIMARY KEY,
        operation TEXT NOT NULL,
        pattern TEXT NOT NULL CHECK (pattern IN ('convergent', 'divergent', 'lateral',
                                                 'systems', 'critical', 'adaptive')),
        outcome TEXT CHECK (outcome IN ('success', 'failure')),
        embedder TEXT NOT NULL,
        vector BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX pattern_memory_embedder ON pattern_memory (tenant, embedder)",
    """CREATE TABLE model_updates (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('incremental', 'online', 'transfer', 'federated')),
        from_version INTEGER,
        to_version INTEGER,
        records INTEGER NOT NULL,
        held_out INTEGER NOT NULL,
        before DOUBLE PRECISION,
        after DOUBLE PRECISION,
        kept INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX model_updates_name ON model_updates (tenant, name, id)",
    # The training pipeline's runs: one row per task x strategy execution, as measured.
    """CREATE TABLE pipeline_runs (
        id BIGSERIAL PRIMARY KEY,
        task_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        strategy TEXT NOT NULL,
        passed INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        lint INTEGER,
        seconds DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('passed', 'failed', 'error', 'timeout', 'crashed')),
        reason TEXT NOT NULL DEFAULT '',
        score DOUBLE PRECISION NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX pipeline_runs_strategy ON pipeline_runs (tenant, strategy, kind, id)",
    *(statement for table in NEURAL for statement in _rls(table)),
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(NEURAL)} TO mindbank_tenant",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO mindbank_tenant",
)

FEEDBACK = ("search_impressions", "feedback", "entry_scores", "memory_edges")

_P7 = (
    # The feedback loop and the memory graph. Rows refer to entries of their own tenant.
    "CREATE UNIQUE INDEX memory_store_tenant_id ON memory_store (tenant, id)",
    """CREATE TABLE search_impressions (
        id BIGSERIAL PRIMARY KEY,
        query TEXT NOT NULL,
        results TEXT NOT NULL,
        shown_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user
    )""",
    "CREATE INDEX search_impressions_time ON search_impressions (tenant, shown_at)",
    """CREATE TABLE feedback (
        id BIGSERIAL PRIMARY KEY,
        entry_id BIGINT NOT NULL,
        query TEXT,
        reward DOUBLE PRECISION NOT NULL CHECK (reward >= -1 AND reward <= 1),
        source TEXT NOT NULL CHECK (source IN ('used', 'skipped', 'explicit')),
        at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        FOREIGN KEY (tenant, entry_id) REFERENCES memory_store (tenant, id) ON DELETE CASCADE
    )""",
    "CREATE INDEX feedback_entry ON feedback (tenant, entry_id)",
    """CREATE TABLE entry_scores (
        entry_id BIGINT NOT NULL,
        boost DOUBLE PRECISION NOT NULL DEFAULT 0,
        uses INTEGER NOT NULL DEFAULT 0,
        skips INTEGER NOT NULL DEFAULT 0,
        pagerank DOUBLE PRECISION,
        updated_at DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, entry_id),
        FOREIGN KEY (tenant, entry_id) REFERENCES memory_store (tenant, id) ON DELETE CASCADE
    )""",
    """CREATE TABLE memory_edges (
        a BIGINT NOT NULL,
        b BIGINT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('similar', 'coaccess')),
        weight DOUBLE PRECISION NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        PRIMARY KEY (tenant, a, b, kind),
        FOREIGN KEY (tenant, a) REFERENCES memory_store (tenant, id) ON DELETE CASCADE,
        FOREIGN KEY (tenant, b) REFERENCES memory_store (tenant, id) ON DELETE CASCADE
    )""",
    "CREATE INDEX memory_edges_b ON memory_edges (tenant, b)",
    *(statement for table in FEEDBACK for statement in _rls(table)),
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(FEEDBACK)} TO mindbank_tenant",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO mindbank_tenant",
)

_P9 = (
    # The replicas' operations (mindbank.sync), in the order the server received them; an
    # operation pushed twice is kept once (its id).
    """CREATE TABLE sync_ops (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL,
        stamp TEXT NOT NULL,
        replica TEXT NOT NULL,
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('set', 'delete', 'tag', 'untag', 'count')),
        payload TEXT NOT NULL,
        tenant TEXT NOT NULL DEFAULT current_user,
        UNIQUE (tenant, id)
    )""",
    "CREATE INDEX sync_ops_entry ON sync_ops (tenant, namespace, key)",
    *_rls("sync_ops"),
    "GRANT SELECT, INSERT ON sync_ops TO mindbank_tenant",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO mindbank_tenant",
)

# counters belonged to no tenant and every tenant could write it: rewinding its 'schemas'
# row made another tenant's process skip reloading its schemas. Now each tenant has its own
# rows, under row-level security, made on first use by the trigger that bumps them.
_P10 = (
    "ALTER TABLE counters ADD COLUMN tenant TEXT NOT NULL DEFAULT current_user",
    "ALTER TABLE counters DROP CONSTRAINT counters_pkey",
    "ALTER TABLE counters ADD PRIMARY KEY (tenant, name)",
    *_rls("counters"),
    """CREATE OR REPLACE FUNCTION mindbank_bump_schemas() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO counters (name, value) VALUES ('schemas', 1)
        ON CONFLICT (tenant, name) DO UPDATE SET value = counters.value + 1;
        RETURN NULL;
    END $$""",
    "GRANT INSERT ON counters TO mindbank_tenant",
)

# One tenant could block or overhear another (issue 20): its write lock and its witness lock
# were advisory locks keyed by the tenant's name, which any role may take, and every change was
# broadcast on one channel with the tenant's name. Now both locks are row locks on the
# tenant's own rows of counters ('lock', 'witness'), which row-level security hides from every
# other role; and each tenant's changes go to a channel named by a random number kept in its
# own counters row ('channel'), which no other tenant can read.
_P11 = (
    """CREATE FUNCTION mindbank_channel(t TEXT) RETURNS TEXT LANGUAGE plpgsql AS $$
    DECLARE
        c BIGINT;
    BEGIN
        SELECT value INTO c FROM counters WHERE tenant = t AND name = 'channel';
        IF c IS NULL THEN
            INSERT INTO counters (tenant, name, value) VALUES (t, 'channel',
                ('x' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 15))::bit(60)::bigint)
            ON CONFLICT (tenant, name) DO NOTHING;
            SELECT value INTO c FROM counters WHERE tenant = t AND name = 'channel';
        END IF;
        RETURN 'mindbank_' || c::text;
    END $$""",
    """CREATE OR REPLACE FUNCTION mindbank_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        who TEXT := coalesce(nullif(current_setting('mindbank.actor', true), ''), current_user);
        now_s DOUBLE PRECISION := extract(epoch FROM clock_timestamp());
    BEGIN
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.namespace, OLD.key)
                                IS DISTINCT FROM (NEW.namespace, NEW.key)) THEN
            INSERT INTO change_log (namespace, key, op, actor, at, tenant)
            VALUES (OLD.namespace, OLD.key, 'delete', who, now_s, OLD.tenant);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO change_log (namespace, key, op, actor, at, tenant)
            VALUES (NEW.namespace, NEW.key, 'store', who, now_s, NEW.tenant);
        END IF;
        PERFORM pg_notify(mindbank_channel(coalesce(NEW.tenant, OLD.tenant)), '');
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION mindbank_witness_append(t TEXT, op TEXT, tbl TEXT, k TEXT,
                                                       d TEXT)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        last_seq BIGINT;
        last_chain TEXT;
    BEGIN
        INSERT INTO counters (tenant, name, value) VALUES (t, 'witness', 0)
            ON CONFLICT (tenant, name) DO NOTHING;
        PERFORM 1 FROM counters WHERE tenant = t AND name = 'witness' FOR UPDATE;
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
)

PG_MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "memory, change log, cursors, schemas, tenants with row-level security", _P1),
    (2, "vectors (pgvector)", _P2),
    (3, "shared state (compare-and-set) and events", _P3),
    (4, "sessions, agents, tasks, agent memory, metrics, workflows, topology, consensus", _P4),
    (5, "the ReasoningBank: items, vectors, trajectories, provenance, links, log", _P5),
    (6, "neural models (versions, history, pattern memory, updates); pipeline runs", _P6),
    (7, "the feedback loop (impressions, feedback, learned scores) and the memory graph", _P7),
    (8, "the witness chain: one per tenant, appended by triggers", pg_witness.MIGRATION),
    (9, "replica operations (sync)", _P9),
    (10, "counters of each tenant's own, under row-level security", _P10),
    (11, "a tenant's locks and change channel: its own rows, no other tenant's to take", _P11),
)
"""PostgreSQL migrations, in order. Append only."""

_NUMBERED = re.compile(r"\?(\d+)")
_CONFLICT = re.compile(r"ON CONFLICT \((?!tenant\b)")
_LOCK = 0x4D424E4B  # advisory lock id ("MBNK") held while migrating
# A transaction holds its tenant's write lock from its start, as SQLite's BEGIN IMMEDIATE holds
# the file's: a read-modify-write inside it can never lose another's update. The lock is the
# tenant's own row of counters (row-level security: no other tenant can see it, let alone lock
# it). Other tenants are not held up; single statements outside a transaction take no lock.
_BEGIN_LOCKED = (
    "BEGIN; INSERT INTO counters (name, value) VALUES ('lock', 0) ON CONFLICT (tenant, name) "
    "DO NOTHING; SELECT 1 FROM counters WHERE tenant = current_user AND name = 'lock' FOR UPDATE"
)
HNSW_DIMS = 384
"""Vector length of the per-tenant HNSW index (the default embedder's, all-MiniLM-L6-v2)."""


def _sha(statements: Sequence[str]) -> str:
    return hashlib.sha256("\n;\n".join(statements).encode("utf-8")).hexdigest()


def _pool_module() -> Any:
    try:
        import psycopg_pool
    except ImportError:
        raise StoreError("PostgreSQL needs the pg extra: pip install 'mindbank[pg]'") from None
    return psycopg_pool


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError("PostgreSQL needs the pg extra: pip install 'mindbank[pg]'") from None
    return psycopg


class _Codec:
    """Values are never compressed on PostgreSQL: reads need no decoding."""

    @staticmethod
    def plain(value: Any) -> Any:
        return value


# Lock functions a read-only query must not call (and DO blocks, which could call them
# by a name built at run time).
_LOCKING = re.compile(r"pg_(try_)?advisory|^\s*do\b", re.IGNORECASE)


class PgDatabase(Transactions):
    """A connection to a mindbank database on PostgreSQL (as one role: a tenant, or the
    admin)."""

    dialect = "postgres"
    witnessed = False
    BEGIN = "BEGIN"  # while migrating; then _BEGIN_LOCKED (see __init__)

    def __init__(
        self,
        url: str,
        settings: Settings | None = None,
        *,
        migrate: bool = True,
        clock: Callable[[], float] = time.time,
    ):
        psycopg = _psycopg()
        self.settings = settings or Settings()
        self.clock = clock
        self.url = url
        # Threads share a PostgreSQL handle through the pool: each has its own connection and
        # its own transactions, and they run at once. (On SQLite, one connection: a lock.)
        self.lock = NO_LOCK
        self.path = _Display(url)
        self.codec = _Codec()
        self._local = threading.local()
        self._sql: dict[str, str] = {}
        self._slow_hooks: list[Any] = []
        self._in_slow_hook = False
        self._listener: Any = None
        # One connection first: its error is the one to show (a pool only times out), and it
        # migrates while the pool opens its own connections in the background.
        try:
            first = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {self.path}: {str(exc).strip()}") from None
        self.role, login = (str(v) for v in first.execute(
            "SELECT current_user, session_user").fetchone())  # fmt: skip
        # an agent's own token acts as its tenant (current_user) and writes as itself
        self.actor = self.settings.actor or login
        self._pool = _pool_module().ConnectionPool(
            url,
            min_size=1,
            max_size=self.settings.pool_size,
            kwargs={"autocommit": True, "connect_timeout": 10},
            configure=self._configure,
            timeout=30.0,
            name=f"mindbank:{self.role}",
            open=False,
        )
        self._pool.open(wait=False)
        try:
            self._configure(first)
            self._local.conn = first
            if migrate:
                self.migrate()
            self._check_schema()
            self.BEGIN = _BEGIN_LOCKED
        except BaseException:
            self._pool.close()
            raise
        finally:
            self._local.conn = None
            first.close()

    def _configure(self, conn: Any) -> None:
        """Every connection of the pool: who writes (for the change log) and how long to wait
        for a lock."""
        conn.execute("SELECT set_config('mindbank.actor', %s, false)", (self.actor,))
        conn.execute(f"SET lock_timeout = {int(self.settings.busy_timeout * 1000)}")

    # -- connections: a pool; a thread's transaction keeps one connection to its end ----------

    @property
    def conn(self) -> Any:
        """The connection of this thread's transaction (or ``connection()`` block)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            raise StoreError("no connection is held: use transaction() or connection()")
        return conn

    @property
    def _depth(self) -> int:
        return int(getattr(self._local, "depth", 0))

    @_depth.setter
    def _depth(self, value: int) -> None:
        self._local.depth = value

    @property
    def _undo(self) -> list[list[Callable[[], None]]]:
        """As on SQLite, per thread (a thread's transaction is its own)."""
        stack: list[list[Callable[[], None]]] | None = getattr(self._local, "undo", None)
        if stack is None:
            stack = self._local.undo = []
        return stack

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """Hold one connection of the pool for this thread until the block ends (a
        transaction does; so does a listener)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self._pool.connection() as conn:
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction on one connection of the pool; nested calls are savepoints."""
        with self.connection(), super().transaction():
            yield

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read in one snapshot until the block ends (``REPEATABLE READ READ ONLY``: others
        keep writing, this thread sees the database as it was; nothing here may write)."""
        with self.connection() as conn:
            self.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._depth = 1  # transaction() inside: a savepoint, never a COMMIT of the snapshot
            try:
                yield
            finally:
                self._depth = 0
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")

    @property
    def pool_stats(self) -> dict[str, int]:
        """The pool's counters (size, available, waiting, requests ...)."""
        return dict(self._pool.get_stats())

    # -- SQL ---------------------------------------------------------------------------------

    def _translate(self, sql: str) -> str:
        out = self._sql.get(sql)
        if out is None:
            out = sql.replace("%", "%%")
            # Every unique key of a tenant's table begins with its tenant.
            out = _CONFLICT.sub("ON CONFLICT (tenant, ", out)
            if _NUMBERED.search(out):  # SQLite's ?N: the N-th parameter, usable twice
                out = _NUMBERED.sub(lambda m: f"%(p{m.group(1)})s", out)
            else:
                out = out.replace("?", "%s")
            self._sql[sql] = out
        return out

    def run(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Run one statement (``?`` or ``?N`` parameters); mindbank's errors for the server's.
        The rows are read before the connection goes back to the pool."""
        psycopg = _psycopg()
        text = self._translate(sql)
        if "%(p" in text and not isinstance(params, dict):
            params = {f"p{i}": v for i, v in enumerate(params, start=1)}
        threshold = self.settings.slow_query_ms
        start = time.perf_counter()
        try:
            with self.connection() as conn:
                cur = conn.execute(text, params or None)
        except psycopg.Error as exc:
            raise _translate(exc, self.path) from exc
        if threshold is not None and not self._in_slow_hook:
            ms = (time.perf_counter() - start) * 1000.0
            if ms >= threshold:
                self._report_slow(sql, ms)
        return cur

    execute = run

    def _report_slow(self, sql: str, ms: float) -> None:
        """A ``slow_query`` event and the hooks, as on SQLite (time measured by the client:
        the round trip included)."""
        import json

        self._in_slow_hook = True
        try:
            self.run(
                "INSERT INTO events (type, source, data, timestamp) VALUES (?, ?, ?, ?)",
                ("slow_query", "mindbank", json.dumps({"sql": sql, "ms": round(ms, 3)}),
                 self.clock()),
            )  # fmt: skip
            for hook in self._slow_hooks:
                hook(sql, ms)
        finally:
            self._in_slow_hook = False

    def set_slow_query(self, threshold_ms: float | None, hook: Any) -> None:
        """Set the slow-query threshold and add a hook (``None`` threshold turns timing off)."""
        from dataclasses import replace

        self.settings = replace(self.settings, slow_query_ms=threshold_ms)
        if hook is not None:
            self._slow_hooks.append(hook)

    def raw(self, sql: str) -> Any:
        """Run SQL as written (no parameters, no translation: DDL, role statements)."""
        psycopg = _psycopg()
        try:
            with self.connection() as conn:
                return conn.execute(sql)
        except psycopg.Error as exc:
            raise _translate(exc, self.path) from exc

    def executemany(self, sql: str, rows: Any) -> Any:
        """One statement for many parameter rows."""
        psycopg = _psycopg()
        try:
            with self.connection() as conn:
                cur = conn.cursor()
                cur.executemany(self._translate(sql), list(rows))
        except psycopg.Error as exc:
            raise _translate(exc, self.path) from exc
        return cur

    def _abandon(self) -> None:
        """After a failed BEGIN or COMMIT: roll back what may still be open."""
        with contextlib.suppress(Exception):
            self.conn.execute("ROLLBACK")

    def wait_for_changes(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for a change to this tenant's memory (``LISTEN`` on
        its change channel, on a connection of its own, kept between calls). True if one came.
        """
        psycopg = _psycopg()
        try:
            if self._listener is None:
                self._listener = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
                self.listen(self._listener)
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except psycopg.Error as exc:
            with contextlib.suppress(Exception):
                self._listener.close()
            self._listener = None
            raise _translate(exc, self.path) from exc

    def listen(self, conn: Any) -> None:
        """``LISTEN`` on this tenant's change channel, on ``conn`` (a connection of its own):
        a channel named by a random number in the tenant's own row, which no other tenant can
        read, so none can hear when this one writes."""
        channel = conn.execute("SELECT mindbank_channel(current_user)").fetchone()[0]
        conn.execute(f'LISTEN "{channel}"')

    def close(self) -> None:
        """Close every connection of the pool (idempotent)."""
        with contextlib.suppress(Exception):
            if self._listener is not None:
                self._listener.close()
        with contextlib.suppress(Exception):
            self._pool.close()

    # -- migrations --------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply pending migrations (needs a role that may create tables; tenants cannot, and
        need not: they open an already migrated database)."""
        exists = self.raw("SELECT to_regclass('schema_migrations')").fetchone()[0]
        if exists is not None:
            done = {r[0] for r in self.raw("SELECT version FROM schema_migrations")}
            if all(v in done for v, _, _ in PG_MIGRATIONS):
                return []
        if not self.run("SELECT has_schema_privilege('public', 'CREATE')").fetchone()[0]:
            pending = [v for v, _, _ in PG_MIGRATIONS if exists is None or v not in done]
            raise SchemaError(
                f"{self.path} needs migrations {pending}, and {self.role} may not create "
                "tables: run `mindbank db migrate --db ADMIN_URL` (the admin's URL) first"
            )
        applied = []
        with self.transaction():
            self.run(f"SELECT pg_advisory_xact_lock({_LOCK})")
            self.run(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            done = {r[0] for r in self.run("SELECT version FROM schema_migrations")}
            for version, name, statements in PG_MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    self.raw(statement)
                self.run(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                    (version, name, _sha(statements), self.clock()),
                )
                applied.append(version)
        return applied

    @staticmethod
    def numbered(sql: str, params: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        """A statement with numbered parameters as is: the server infers a parameter's type
        from its first use, which ``?N`` keeps for its repeats."""
        return sql, params

    def generation(self) -> int:
        """Always 0: on PostgreSQL, derived state (the HNSW index, tsvector) lives in the server
        and follows every change itself; a restore replaces rows in one transaction."""
        return 0

    def start_generation(self) -> int:
        """Nothing to start on PostgreSQL (see :meth:`generation`)."""
        return 0

    def table_names(self) -> list[str]:
        """The database's tables, by name."""
        rows = self.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        return [str(r[0]) for r in rows]

    def stats(self, now: float) -> Any:
        """The database's size on the server, this role's rows per table (row-level security
        counts only the tenant's), live entries per namespace."""
        from mindbank.records import Stats

        counts = {
            t: int(self.run(f'SELECT count(*) FROM "{t}"').fetchone()[0])
            for t in self.table_names()
        }
        namespaces = {
            r[0]: int(r[1])
            for r in self.run(
                "SELECT namespace, count(*) FROM memory_store WHERE expires_at IS NULL OR "
                "expires_at > ? GROUP BY namespace ORDER BY namespace",
                (now,),
            )
        }
        expired = self.run(
            "SELECT count(*) FROM memory_store WHERE expires_at <= ?", (now,)
        ).fetchone()[0]
        size = self.run("SELECT pg_database_size(current_database())").fetchone()[0]
        version = max((m.version for m in self.migration_status() if m.applied_at), default=0)
        return Stats(str(self.path), int(size), 0, version, counts, namespaces, int(expired))

    def read_only_query(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """One statement in a ``READ ONLY`` transaction that is rolled back: PostgreSQL refuses
        every write, whatever its spelling, and a prepared statement cannot hold two statements.
        Row-level security shows the tenant its own rows only."""
        from mindbank.errors import ReadOnlyQueryError
        from mindbank.records import QueryResult

        psycopg = _psycopg()
        if _LOCKING.search(sql):
            # A lock function would let one tenant hold up another's writers (the locks are
            # the server's, not the tenant's), and a session lock outlives the query.
            raise ReadOnlyQueryError("query() only reads; it may not take locks (pg_advisory_*)")
        text = self._translate(sql) if params else sql
        limit, max_rows = self.settings.query_timeout, self.settings.query_max_rows
        with self.connection() as conn:
            if conn.info.transaction_status != 0:  # inside a transaction of this thread
                raise ReadOnlyQueryError("query() cannot run inside a transaction on PostgreSQL")
            conn.execute("BEGIN READ ONLY")
            conn.execute(f"SET LOCAL statement_timeout = {max(1, int(limit * 1000))}")
            try:
                cur = conn.execute(text, list(params) if params else None, prepare=True)
                rows = (
                    tuple(tuple(r) for r in cur.fetchmany(max_rows + 1)) if cur.description else ()
                )
                columns = tuple(d.name for d in cur.description or ())
            except psycopg.Error as exc:
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if exc.sqlstate == "57014":  # query_canceled: the statement timeout
                    raise ReadOnlyQueryError(
                        f"the query ran past {limit:g} s and was stopped (raise "
                        "MINDBANK_QUERY_TIMEOUT, or narrow it)"
                    ) from None
                if exc.sqlstate in ("25006", "42501"):  # read-only transaction; not allowed
                    raise ReadOnlyQueryError(
                        f"query() only reads; this statement would write or is not allowed ({msg})"
                    ) from None
                raise ReadOnlyQueryError(f"invalid query: {msg}") from None
            finally:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
        if len(rows) > max_rows:
            raise ReadOnlyQueryError(
                f"the result has more than {max_rows:,} rows; add a LIMIT (or raise "
                "MINDBANK_QUERY_MAX_ROWS)"
            )
        return QueryResult(columns, rows)

    def check(self) -> Any:
        """What can be checked from a tenant's connection: the migrations (all applied, none
        altered), row-level security enabled, forced and with its policy on every tenant
        table, and the tenant's HNSW index."""
        from mindbank.records import CheckReport

        known = {v: _sha(st) for v, _, st in PG_MIGRATIONS}
        applied = dict(self.run("SELECT version, sha256 FROM schema_migrations").fetchall())
        problems = migration_problems(known, applied)
        tables = tenant_tables(self)
        guarded = {
            r[0]: (bool(r[1]), bool(r[2]))
            for r in self.run(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
        }
        policies = {r[0] for r in self.run("SELECT tablename FROM pg_policies")}
        for table in tables:
            if guarded.get(table) != (True, True):
                problems.append(f"row-level security is not enabled and forced on {table}")
            if table not in policies:
                problems.append(f"{table} has no row-level security policy")
        member = self.run(
            "SELECT pg_has_role(current_user, 'mindbank_tenant', 'MEMBER')"
        ).fetchone()[0]
        index = f"embeddings_hnsw_{self.role}"
        if (
            member
            and not self.run("SELECT 1 FROM pg_indexes WHERE indexname = ?", (index,)).fetchone()
        ):
            problems.append(f"the tenant's vector index {index} is missing (approximate search "
                            "falls back to exact)")  # fmt: skip
        return CheckReport(tuple(problems), max(applied, default=0))

    def migration_status(self) -> list[Any]:
        """Every known migration and when it was applied."""
        from mindbank.records import MigrationInfo

        applied = {int(r[0]): float(r[1]) for r in
                   self.raw("SELECT version, applied_at FROM schema_migrations")}  # fmt: skip
        return [MigrationInfo(v, name, _sha(st), applied.get(v)) for v, name, st in PG_MIGRATIONS]

    def _check_schema(self) -> None:
        try:
            rows = self.raw("SELECT version, sha256 FROM schema_migrations").fetchall()
        except Exception:
            raise SchemaError(
                f"{self.path} has no mindbank schema: run `mindbank db migrate --db URL` with "
                "a role that may create tables"
            ) from None
        known = {v: _sha(s) for v, _, s in PG_MIGRATIONS}
        for version, sha in rows:
            if version not in known:
                raise SchemaError(f"{self.path} was written by a newer mindbank (v{version})")
            if sha != known[version]:
                raise SchemaError(f"{self.path}: migration {version} was altered")
        missing = set(known) - {r[0] for r in rows}
        if missing:
            raise SchemaError(
                f"{self.path} needs migrations {sorted(missing)}: run `mindbank db migrate` "
                "with a role that may create tables"
            )


class _Display(str):
    """The URL without its password, for messages (``path`` of a PostgreSQL database)."""

    def __new__(cls, url: str) -> _Display:
        return super().__new__(cls, re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url))

    @property
    def parent(self) -> Any:
        raise StoreError("this subsystem keeps files next to the database: not on PostgreSQL")


def _translate(exc: Exception, where: str) -> Exception:
    """The mindbank error for a server error."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if sqlstate == "55P03":  # lock_not_available
        return DatabaseLockedError(f"{where} is locked by another transaction: {text}")
    if sqlstate.startswith("23"):  # integrity constraint violation
        return ValidationError(text)
    if sqlstate == "42501":  # insufficient privilege, including row-level security
        return StoreError(f"not allowed: {text}")
    if sqlstate == "42P01":
        return SchemaError(f"{where}: {text}")
    return StoreError(f"{where}: {text}")


# -- tenants ---------------------------------------------------------------------------------


def tenant_name_ok(name: str) -> bool:
    """Whether a name is a valid tenant (role) name: safe to write into SQL."""
    return re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name) is not None


def _tenant_name(name: str) -> str:
    if not tenant_name_ok(name):
        raise ValidationError(
            f"tenant names are lower-case letters, digits and _ (starting with a letter): {shown(name)}"
        )
    return name


def create_tenant(admin_url: str, name: str) -> str:
    """Create a tenant (a login role in ``mindbank_tenant``) and return its token (the
    role's password). The database is migrated first if needed."""
    _tenant_name(name)
    db = PgDatabase(admin_url)
    try:
        token = secrets.token_urlsafe(24)
        if db.run("SELECT 1 FROM pg_roles WHERE rolname = ?", (name,)).fetchone():
            raise ValidationError(f"tenant {shown(name)} exists")
        db.raw(f"CREATE ROLE {name} LOGIN PASSWORD '{token}' IN ROLE mindbank_tenant")
        # An approximate (HNSW) index over the tenant's own vectors of the default embedder's
        # length: row-level security filters after an index scan, so one index for all
        # tenants would leave a small tenant with too few neighbours.
        db.raw(
            f"CREATE INDEX embeddings_hnsw_{name} ON embeddings USING hnsw "
            f"((vector::vector({HNSW_DIMS})) vector_cosine_ops) "
            f"WHERE tenant = '{name}' AND vector_dims(vector) = {HNSW_DIMS}"
        )
        return token
    finally:
        db.close()


def agent_role(tenant: str, agent: str) -> str:
    """The login role of one agent's token of a tenant."""
    name = f"{_tenant_name(tenant)}__{agent}"
    if not re.fullmatch(r"[a-z0-9_]{1,40}", agent) or not tenant_name_ok(name):
        raise ValidationError(
            f"agent names are lower-case letters, digits and _ (with the tenant's name, at most "
            f"63 characters): {agent!r}"
        )
    return name


def create_token(admin_url: str, tenant: str, agent: str) -> str:
    """Create a token for one agent of a tenant: a login role of its own, a member of the
    tenant's role, that connects as the tenant (``options=-crole=TENANT``: row-level security
    sees the tenant) and writes the change log as itself. Revoked alone with
    :func:`revoke_token`. Returns the token (the role's password)."""
    role = agent_role(tenant, agent)
    db = PgDatabase(admin_url)
    try:
        if not db.run("SELECT 1 FROM pg_roles WHERE rolname = ?", (tenant,)).fetchone():
            raise NotFoundError(f"no tenant {shown(tenant)}")
        if db.run("SELECT 1 FROM pg_roles WHERE rolname = ?", (role,)).fetchone():
            raise ValidationError(
                f"agent {shown(agent)} of tenant {shown(tenant)} has a token; revoke it"
            )
        token = secrets.token_urlsafe(24)
        db.raw(f"CREATE ROLE {role} LOGIN PASSWORD '{token}' IN ROLE {tenant}")
        return token
    finally:
        db.close()


def revoke_token(admin_url: str, tenant: str, agent: str) -> int:
    """Revoke one agent's token: its role is dropped and its open sessions ended at once.
    Returns how many sessions were ended."""
    role = agent_role(tenant, agent)
    db = PgDatabase(admin_url)
    try:
        if not db.run("SELECT 1 FROM pg_roles WHERE rolname = ?", (role,)).fetchone():
            raise NotFoundError(f"agent {shown(agent)} of tenant {shown(tenant)} has no token")
        db.raw(f"ALTER ROLE {role} NOLOGIN")
        ended = db.run(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = ?",
            (role,),
        ).fetchone()[0]
        db.raw(f"DROP ROLE {role}")
        return int(ended)
    finally:
        db.close()


def agent_url(url: str, role: str, token: str, tenant: str | None = None) -> str:
    """The URL an agent opens: ``url`` with this role and token (and, for an agent's own
    token, the option that makes it act as its tenant)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if tenant is not None:
        query = (query + "&" if query else "") + f"options=-crole%3D{tenant}"
    return urlunsplit(parts._replace(netloc=f"{role}:{token}@{host}", query=query))


def tenant_tables(db: PgDatabase) -> list[str]:
    """Every table whose rows belong to tenants, tables that reference others first."""
    rows = db.run(
        "SELECT c.table_name, (SELECT count(*) FROM information_schema.table_constraints k "
        "WHERE k.table_name = c.table_name AND k.constraint_type = 'FOREIGN KEY') "
        "FROM information_schema.columns c WHERE c.table_schema = 'public' "
        "AND c.column_name = 'tenant' ORDER BY 2 DESC, 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def drop_tenant(admin_url: str, name: str) -> int:
    """Delete a tenant's rows (every table) and its role; returns its entries deleted. Other
    tenants' rows are untouched: every statement names this tenant."""
    _tenant_name(name)
    db = PgDatabase(admin_url)
    try:
        if not db.run("SELECT 1 FROM pg_roles WHERE rolname = ?", (name,)).fetchone():
            raise NotFoundError(f"no tenant {shown(name)}")
        with db.transaction():
            n = db.run("DELETE FROM memory_store WHERE tenant = ?", (name,)).rowcount
            # children first (a cascade finds nothing left); twice, for the log rows the
            # first pass's delete triggers wrote
            for table in tenant_tables(db) * 2:
                db.run(f'DELETE FROM "{table}" WHERE tenant = ?', (name,))
        db.raw(f"DROP INDEX IF EXISTS embeddings_hnsw_{name}")
        for (agent,) in db.run(  # its agents' tokens first
            "SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid "
            "WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = ?)",
            (name,),
        ).fetchall():
            db.raw(f'DROP ROLE "{agent}"')
        db.raw(f"DROP ROLE {name}")
        return int(n)
    finally:
        db.close()

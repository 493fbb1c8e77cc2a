"""The schema, as numbered, append-only migrations.

Never edit a migration that has shipped: add a new one. Each migration is applied in one
transaction and recorded in ``schema_migrations`` with the SHA-256 of its statements, so an
altered migration is detected (``mindbank db check``).

Times are REAL Unix seconds (UTC). JSON columns hold compact JSON text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["APPLICATION_ID", "MIGRATIONS", "WITNESSED", "WITNESS_TRIGGERS", "Migration"]

# "MBNK": marks a file as a mindbank database in the SQLite header (PRAGMA application_id).
APPLICATION_ID = 0x4D424E4B


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: a version, a name and the statements that make it."""

    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def sha256(self) -> str:
        """SHA-256 of the statements, recorded when applied."""
        return hashlib.sha256("\n;\n".join(self.statements).encode()).hexdigest()


_M1 = (
    # memory_store: the key-value memory. value_type says whether value is raw text or JSON.
    """CREATE TABLE memory_store (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        namespace TEXT NOT NULL DEFAULT 'default',
        value TEXT NOT NULL,
        value_type TEXT NOT NULL DEFAULT 'text' CHECK (value_type IN ('text', 'json')),
        tags TEXT NOT NULL DEFAULT '[]',
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        accessed_at REAL,
        access_count INTEGER NOT NULL DEFAULT 0,
        expires_at REAL,
        UNIQUE (namespace, key)
    )""",
    "CREATE INDEX memory_store_key ON memory_store (key, namespace)",
    "CREATE INDEX memory_store_expires ON memory_store (expires_at) WHERE expires_at IS NOT NULL",
    """CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_accessed REAL NOT NULL,
        expires_at REAL
    )""",
    """CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        capabilities TEXT NOT NULL DEFAULT '[]',
        state TEXT NOT NULL DEFAULT '{}',
        swarm_id TEXT,
        created_at REAL NOT NULL,
        last_active REAL NOT NULL
    )""",
    "CREATE INDEX agents_swarm ON agents (swarm_id)",
    """CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
        priority TEXT NOT NULL DEFAULT 'medium'
            CHECK (priority IN ('low', 'medium', 'high', 'critical')),
        assigned_to TEXT,
        dependencies TEXT NOT NULL DEFAULT '[]',
        result TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        completed_at REAL
    )""",
    "CREATE INDEX tasks_status ON tasks (status, priority)",
    """CREATE TABLE agent_memory (
        id INTEGER PRIMARY KEY,
        agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (agent_id, key)
    )""",
    """CREATE TABLE shared_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_by TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL,
        source TEXT NOT NULL,
        data TEXT,
        timestamp REAL NOT NULL
    )""",
    "CREATE INDEX events_type_time ON events (type, timestamp)",
    "CREATE INDEX events_time ON events (timestamp)",
    # patterns: Claude-Flow's learned-pattern table; the ReasoningBank builds on it.
    """CREATE TABLE patterns (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        pattern_data TEXT NOT NULL,
        confidence REAL NOT NULL DEFAULT 0.0,
        usage_count INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        last_used REAL
    )""",
    "CREATE INDEX patterns_type ON patterns (type, confidence)",
    """CREATE TABLE performance_metrics (
        id INTEGER PRIMARY KEY,
        metric_name TEXT NOT NULL,
        value REAL NOT NULL,
        tags TEXT NOT NULL DEFAULT '{}',
        timestamp REAL NOT NULL
    )""",
    "CREATE INDEX performance_metrics_name_time ON performance_metrics (metric_name, timestamp)",
    """CREATE TABLE workflow_state (
        id TEXT PRIMARY KEY,
        workflow_type TEXT NOT NULL,
        state TEXT NOT NULL,
        checkpoint_data TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE swarm_topology (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        swarm_id TEXT NOT NULL,
        topology_type TEXT NOT NULL,
        nodes TEXT NOT NULL,
        edges TEXT NOT NULL DEFAULT '[]',
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX swarm_topology_swarm ON swarm_topology (swarm_id, id)",
    """CREATE TABLE consensus_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        proposer TEXT NOT NULL,
        voters TEXT NOT NULL DEFAULT '[]',
        acceptors TEXT NOT NULL DEFAULT '[]',
        quorum INTEGER NOT NULL,
        timestamp REAL NOT NULL
    )""",
)

_FTS_ROW = "(rowid, key, value, tags) VALUES (new.id, new.key, new.value, new.tags)"
_FTS_DEL = (
    "(memory_fts, rowid, key, value, tags) VALUES ('delete', old.id, old.key, old.value, old.tags)"
)
_BUMP_MEMORY = "UPDATE counters SET value = value + 1 WHERE name = 'memory'"

_M2 = (
    # meta: facts about the database, e.g. the identity of the embedder that wrote the vectors.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # counters: bumped by triggers, so any process can tell cheaply that results may have changed.
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO counters VALUES ('memory', 0)",
    # embeddings: one float32 little-endian vector per entry, with the embedder's identity and
    # the hash of the text it was computed from (so unchanged text is never embedded again).
    """CREATE TABLE embeddings (
        entry_id INTEGER PRIMARY KEY REFERENCES memory_store (id) ON DELETE CASCADE,
        embedder TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        vector BLOB NOT NULL
    )""",
    "CREATE INDEX embeddings_hash ON embeddings (content_hash, embedder)",
    # Full-text index over keys, values and tags, kept in step by triggers.
    "CREATE VIRTUAL TABLE memory_fts USING fts5(key, value, tags, content='memory_store', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER memory_store_ai AFTER INSERT ON memory_store BEGIN "
    f"INSERT INTO memory_fts {_FTS_ROW}; {_BUMP_MEMORY}; END",
    f"CREATE TRIGGER memory_store_ad AFTER DELETE ON memory_store BEGIN "
    f"INSERT INTO memory_fts {_FTS_DEL}; {_BUMP_MEMORY}; END",
    f"CREATE TRIGGER memory_store_au AFTER UPDATE OF key, namespace, value, tags, metadata, "
    f"expires_at ON memory_store BEGIN INSERT INTO memory_fts {_FTS_DEL}; "
    f"INSERT INTO memory_fts {_FTS_ROW}; {_BUMP_MEMORY}; END",
    # embeddings_log: which entry's vector changed, in order. The in-memory index and its
    # snapshot file catch up by reading the log after the sequence number they were built at.
    "CREATE TABLE embeddings_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry_id INTEGER NOT NULL)",
    "CREATE TRIGGER embeddings_ai AFTER INSERT ON embeddings BEGIN "
    "INSERT INTO embeddings_log (entry_id) VALUES (new.entry_id); END",
    "CREATE TRIGGER embeddings_ad AFTER DELETE ON embeddings BEGIN "
    "INSERT INTO embeddings_log (entry_id) VALUES (old.entry_id); END",
    "CREATE TRIGGER embeddings_au AFTER UPDATE ON embeddings BEGIN "
    "INSERT INTO embeddings_log (entry_id) VALUES (new.entry_id); END",
    "INSERT INTO memory_fts (memory_fts) VALUES ('rebuild')",
    # How many entries hold each term: lets keyword search leave out the very common ones.
    "CREATE VIRTUAL TABLE memory_fts_vocab USING fts5vocab(memory_fts, 'row')",
)


def _bank_log_triggers(table: str, id_column: str) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER {table}_log_{op[0].lower()} AFTER {op} ON {table} BEGIN "
        f"INSERT INTO bank_log (pattern_id) VALUES ({row}.{id_column}); END"
        for op, row in (("INSERT", "new"), ("UPDATE", "new"), ("DELETE", "old"))
    )


_M3 = (
    # patterns gains what the ReasoningBank needs: the item's namespace and optional key (the
    # memory-model mapping), its life cycle (active, superseded by a merge, archived), how its
    # uses turned out, and where it came from.
    "ALTER TABLE patterns ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default'",
    "ALTER TABLE patterns ADD COLUMN key TEXT",
    "ALTER TABLE patterns ADD COLUMN status TEXT NOT NULL DEFAULT 'active' "
    "CHECK (status IN ('active', 'superseded', 'archived'))",
    "ALTER TABLE patterns ADD COLUMN superseded_by TEXT",
    "ALTER TABLE patterns ADD COLUMN success_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE patterns ADD COLUMN failure_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE patterns ADD COLUMN updated_at REAL",
    "ALTER TABLE patterns ADD COLUMN origin TEXT NOT NULL DEFAULT 'stored'",
    "CREATE UNIQUE INDEX patterns_namespace_key ON patterns (namespace, key) WHERE key IS NOT NULL",
    "CREATE INDEX patterns_namespace_status ON patterns (namespace, status)",
    # pattern_embeddings: float32 little-endian vectors of an item's content and, for items
    # distilled from trajectories, of the task they were learned on.
    """CREATE TABLE pattern_embeddings (
        id TEXT NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
        kind TEXT NOT NULL DEFAULT 'content' CHECK (kind IN ('content', 'task')),
        model TEXT NOT NULL,
        dims INTEGER NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (id, kind)
    )""",
    # task_trajectories: one attempt at a task, its steps, its outcome and who judged it.
    """CREATE TABLE task_trajectories (
        id INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL,
        pattern_id TEXT REFERENCES patterns (id) ON DELETE SET NULL,
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
        duration REAL,
        timestamp REAL NOT NULL,
        distilled_at REAL
    )""",
    "CREATE INDEX task_trajectories_task ON task_trajectories (task_id)",
    "CREATE INDEX task_trajectories_namespace_time ON task_trajectories (namespace, timestamp)",
    # pattern_sources: provenance, which trajectories an item was distilled from (kept through
    # merges: the surviving item inherits the sources of the items merged into it).
    """CREATE TABLE pattern_sources (
        pattern_id TEXT NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
        trajectory_id INTEGER NOT NULL REFERENCES task_trajectories (id) ON DELETE CASCADE,
        PRIMARY KEY (pattern_id, trajectory_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX pattern_sources_trajectory ON pattern_sources (trajectory_id)",
    """CREATE TABLE pattern_links (
        id INTEGER PRIMARY KEY,
        source_pattern_id TEXT NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
        target_pattern_id TEXT NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
        link_type TEXT NOT NULL
            CHECK (link_type IN ('related', 'prerequisite', 'contradicts', 'supersedes')),
        strength REAL NOT NULL DEFAULT 0.5 CHECK (strength >= 0 AND strength <= 1),
        created_at REAL NOT NULL,
        UNIQUE (source_pattern_id, target_pattern_id, link_type)
    )""",
    "CREATE INDEX pattern_links_target ON pattern_links (target_pattern_id)",
    # bank_log: which item changed (its row or a vector), in order, by any process. A process
    # holding the items in memory catches up by reading the log after the last sequence number
    # it saw; the largest sequence number tells whether any query's answer may have changed.
    "CREATE TABLE bank_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, pattern_id TEXT NOT NULL)",
    *_bank_log_triggers("patterns", "id"),
    *_bank_log_triggers("pattern_embeddings", "id"),
)


# Witnessed tables: the expression naming a row, and the columns its content digest covers.
WITNESSED: dict[str, tuple[str, tuple[str, ...]]] = {
    "memory_store": (
        "{r}.namespace || char(31) || {r}.key",
        ("key", "namespace", "value", "value_type", "tags", "metadata", "updated_at",
         "expires_at"),
    ),
    "patterns": (
        "{r}.id",
        ("id", "type", "pattern_data", "confidence", "usage_count", "created_at", "last_used",
         "namespace", "key", "status", "superseded_by", "success_count", "failure_count",
         "updated_at", "origin"),
    ),
    "neural_models": (
        "{r}.name || char(31) || {r}.version",
        ("name", "version", "description", "header", "sha256", "quantized", "current",
         "created_at"),
    ),
}  # fmt: skip


def _witness_trigger(table: str, op: str) -> str:
    key_sql, columns = WITNESSED[table]
    row = "old" if op == "delete" else "new"
    key = key_sql.format(r=row)
    values = ", ".join(f"{row}.{c}" for c in columns)
    event = {"insert": "INSERT", "update": f"UPDATE OF {', '.join(columns)}", "delete": "DELETE"}
    return (
        f"CREATE TRIGGER {table}_witness_{op} AFTER {event[op]} ON {table} BEGIN "
        f"INSERT INTO witness_chain (seq, op, tbl, row_key, digest, prev, chain) "
        f"SELECT seq + 1, '{op}', '{table}', k, d, chain, "
        f"mb_chain(seq + 1, '{op}', '{table}', k, d, chain) FROM (SELECT seq, chain, {key} AS k, "
        f"mb_digest({values}) AS d FROM witness_chain ORDER BY seq DESC LIMIT 1); END"
    )


# Entries are stored in bulk: their inserts and updates are witnessed by the store in Python
# (mindbank.store.witness.append), a few microseconds a row instead of a trigger's Python call.
# Everything else is witnessed by trigger.
_TRIGGERED = (
    ("memory_store", "delete"),
    ("patterns", "insert"),
    ("patterns", "update"),
    ("patterns", "delete"),
)
_TRIGGERED_M6 = tuple(("neural_models", op) for op in ("insert", "update", "delete"))
WITNESS_TRIGGERS = tuple(f"{table}_witness_{op}" for table, op in _TRIGGERED + _TRIGGERED_M6)

_M4 = (
    # witness_chain: one record per write to a witnessed table, each holding the digest of the
    # row's content and the previous record's chain digest (see mindbank.store.witness). The
    # triggers call mb_digest and mb_chain, functions every mindbank connection registers: a
    # write they cover from a connection without them (the sqlite3 shell) fails.
    """CREATE TABLE witness_chain (
        seq INTEGER PRIMARY KEY,
        op TEXT NOT NULL,
        tbl TEXT NOT NULL,
        row_key TEXT NOT NULL,
        digest TEXT NOT NULL,
        prev TEXT NOT NULL,
        chain TEXT NOT NULL
    )""",
    "INSERT INTO witness_chain VALUES (0, 'genesis', '', '', '', '', "
    "mb_chain(0, 'genesis', '', '', '', ''))",
    *(_witness_trigger(t, op) for t, op in _TRIGGERED),
    # Rows written before the chain existed are witnessed as they are now (entries through a
    # trigger that exists only for this).
    _witness_trigger("memory_store", "update").replace(
        "memory_store_witness_update", "memory_store_witness_adopt"
    ),
    "UPDATE memory_store SET key = key",
    "DROP TRIGGER memory_store_witness_adopt",
    "UPDATE patterns SET id = id",
)

_M5 = (
    # search_impressions: what a search showed, kept for a while, so that using one of the
    # results (retrieving it, in this process or another) counts as feedback on that search.
    """CREATE TABLE search_impressions (
        id INTEGER PRIMARY KEY,
        query TEXT NOT NULL,
        results TEXT NOT NULL,
        shown_at REAL NOT NULL
    )""",
    "CREATE INDEX search_impressions_time ON search_impressions (shown_at)",
    # feedback: every signal about an entry: used after being shown, skipped (shown above the
    # one used), or given explicitly, with its reward in [-1, 1].
    """CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        entry_id INTEGER NOT NULL REFERENCES memory_store (id) ON DELETE CASCADE,
        query TEXT,
        reward REAL NOT NULL CHECK (reward >= -1 AND reward <= 1),
        source TEXT NOT NULL CHECK (source IN ('used', 'skipped', 'explicit')),
        at REAL NOT NULL
    )""",
    "CREATE INDEX feedback_entry ON feedback (entry_id)",
    # entry_scores: what was learned about an entry: its ranking boost, and how often it was
    # used and skipped.
    """CREATE TABLE entry_scores (
        entry_id INTEGER PRIMARY KEY REFERENCES memory_store (id) ON DELETE CASCADE,
        boost REAL NOT NULL DEFAULT 0,
        uses INTEGER NOT NULL DEFAULT 0,
        skips INTEGER NOT NULL DEFAULT 0,
        pagerank REAL,
        updated_at REAL NOT NULL
    )""",
    # memory_edges: the memory graph, rebuilt by `mindbank memory graph --rebuild`: similarity
    # (cosine above a threshold) and co-access (used close together in time), undirected, a < b.
    """CREATE TABLE memory_edges (
        a INTEGER NOT NULL REFERENCES memory_store (id) ON DELETE CASCADE,
        b INTEGER NOT NULL REFERENCES memory_store (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('similar', 'coaccess')),
        weight REAL NOT NULL,
        PRIMARY KEY (a, b, kind)
    ) WITHOUT ROWID""",
    "CREATE INDEX memory_edges_b ON memory_edges (b)",
)

_M6 = (
    # neural_models: every version of every model. header is JSON (config, feature spec,
    # classes, metrics), weights the arrays as .npz bytes (read with allow_pickle=False).
    """CREATE TABLE neural_models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        header TEXT NOT NULL,
        weights BLOB NOT NULL,
        sha256 TEXT NOT NULL,
        quantized TEXT,
        current INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        last_used REAL,
        UNIQUE (name, version)
    )""",
    "CREATE UNIQUE INDEX neural_models_current ON neural_models (name) WHERE current = 1",
    # training_history: one row per epoch of a training run, measured.
    """CREATE TABLE training_history (
        model_id INTEGER NOT NULL REFERENCES neural_models (id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        train_loss REAL NOT NULL,
        val_loss REAL,
        val_accuracy REAL,
        learning_rate REAL NOT NULL,
        PRIMARY KEY (model_id, epoch)
    ) WITHOUT ROWID""",
    # Model versions are witnessed like entries and items (the weights through their sha256).
    *(_witness_trigger(t, op) for t, op in _TRIGGERED_M6),
)

_M7 = (
    # pattern_memory: operations labelled with a cognitive pattern (and, when known, how they
    # turned out), with the vector of their text; they teach `neural patterns`.
    """CREATE TABLE pattern_memory (
        id INTEGER PRIMARY KEY,
        operation TEXT NOT NULL,
        pattern TEXT NOT NULL CHECK (pattern IN ('convergent', 'divergent', 'lateral',
                                                 'systems', 'critical', 'adaptive')),
        outcome TEXT CHECK (outcome IN ('success', 'failure')),
        embedder TEXT NOT NULL,
        vector BLOB NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX pattern_memory_embedder ON pattern_memory (embedder)",
)

_M8 = (
    # pipeline_runs: one row per task x strategy execution, as measured.
    """CREATE TABLE pipeline_runs (
        id INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        strategy TEXT NOT NULL,
        passed INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        lint INTEGER,
        seconds REAL NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('passed', 'failed', 'error', 'timeout', 'crashed')),
        reason TEXT NOT NULL DEFAULT '',
        score REAL NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX pipeline_runs_strategy ON pipeline_runs (strategy, kind, id)",
)

_M9 = (
    # Batch writes index their new rows in the full-text index with one INSERT ... SELECT after
    # the batch instead of one trigger call per row (the per-row path made FTS5 write a segment
    # per row: four times slower). A row in this table, written and removed inside the batch's
    # own transaction (so no other connection ever sees it), turns the per-row insert off.
    "CREATE TABLE memory_fts_deferred (flag INTEGER NOT NULL)",
    "DROP TRIGGER memory_store_ai",
    f"CREATE TRIGGER memory_store_ai AFTER INSERT ON memory_store "
    f"WHEN NOT EXISTS (SELECT 1 FROM memory_fts_deferred) BEGIN "
    f"INSERT INTO memory_fts {_FTS_ROW}; {_BUMP_MEMORY}; END",
)

_M10 = (
    # model_updates: every update of a model after its first training (incremental, online,
    # transfer, federated), with the accuracy before and after on the same held-out data and
    # whether it was kept (a worse update is rolled back).
    """CREATE TABLE model_updates (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('incremental', 'online', 'transfer', 'federated')),
        from_version INTEGER,
        to_version INTEGER,
        records INTEGER NOT NULL,
        held_out INTEGER NOT NULL,
        before REAL,
        after REAL,
        kept INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        at REAL NOT NULL
    )""",
    "CREATE INDEX model_updates_name ON model_updates (name, id)",
)

_PLAIN_ROW = "(rowid, key, value, tags) VALUES (new.id, new.key, mb_plain(new.value), new.tags)"
_PLAIN_DEL = (
    "(memory_fts, rowid, key, value, tags) "
    "VALUES ('delete', old.id, old.key, mb_plain(old.value), old.tags)"
)

_M11 = (
    # Compressed cold entries (mindbank.store.compression). zstd_dicts: the dictionaries
    # compressed values were made with, by the id their frames carry.
    """CREATE TABLE zstd_dicts (
        dict_id INTEGER PRIMARY KEY,
        data BLOB NOT NULL,
        samples INTEGER NOT NULL,
        created_at REAL NOT NULL
    )""",
    # quant: NULL for float32 vectors, 'int8' for int8 values followed by a float32 scale.
    "ALTER TABLE embeddings ADD COLUMN quant TEXT",
    # The full-text index reads its content through a view that decompresses, and the
    # triggers hand it decompressed text: it always indexes the text, compressed or not.
    "CREATE VIEW memory_fts_text AS SELECT id, key, mb_plain(value) AS value, tags "
    "FROM memory_store",
    "DROP TABLE memory_fts_vocab",
    "DROP TABLE memory_fts",
    "CREATE VIRTUAL TABLE memory_fts USING fts5(key, value, tags, content='memory_fts_text', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "DROP TRIGGER memory_store_ai",
    "DROP TRIGGER memory_store_ad",
    "DROP TRIGGER memory_store_au",
    f"CREATE TRIGGER memory_store_ai AFTER INSERT ON memory_store "
    f"WHEN NOT EXISTS (SELECT 1 FROM memory_fts_deferred) BEGIN "
    f"INSERT INTO memory_fts {_PLAIN_ROW}; {_BUMP_MEMORY}; END",
    f"CREATE TRIGGER memory_store_ad AFTER DELETE ON memory_store BEGIN "
    f"INSERT INTO memory_fts {_PLAIN_DEL}; {_BUMP_MEMORY}; END",
    f"CREATE TRIGGER memory_store_au AFTER UPDATE OF key, namespace, value, tags, metadata, "
    f"expires_at ON memory_store BEGIN INSERT INTO memory_fts {_PLAIN_DEL}; "
    f"INSERT INTO memory_fts {_PLAIN_ROW}; {_BUMP_MEMORY}; END",
    "INSERT INTO memory_fts (memory_fts) VALUES ('rebuild')",
    "CREATE VIRTUAL TABLE memory_fts_vocab USING fts5vocab(memory_fts, 'row')",
)

_M12 = (
    # namespace_schemas: a namespace's JSON Schema. document holds the definitions (so $ref
    # between them resolves), name the one values must match; version grows with each change.
    """CREATE TABLE namespace_schemas (
        namespace TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        document TEXT NOT NULL,
        strict INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "INSERT INTO counters VALUES ('schemas', 0)",
    "CREATE TRIGGER namespace_schemas_ai AFTER INSERT ON namespace_schemas BEGIN "
    "UPDATE counters SET value = value + 1 WHERE name = 'schemas'; END",
    "CREATE TRIGGER namespace_schemas_au AFTER UPDATE ON namespace_schemas BEGIN "
    "UPDATE counters SET value = value + 1 WHERE name = 'schemas'; END",
    "CREATE TRIGGER namespace_schemas_ad AFTER DELETE ON namespace_schemas BEGIN "
    "UPDATE counters SET value = value + 1 WHERE name = 'schemas'; END",
)

_M13 = (
    # change_log: every change to an entry (store or delete), who made it and when, in order.
    # Subscribers read it after the last sequence number they saw; named cursors keep that
    # number in the database. mb_actor() and mb_now() are this connection's actor and clock.
    # Compressing a value (text -> blob, same content) is not a change.
    # seq is the rowid: it grows by one per change; pruning always keeps the newest change,
    # so a number is never given twice.
    """CREATE TABLE change_log (
        seq INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('store', 'delete')),
        actor TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX change_log_namespace ON change_log (namespace, seq)",
    """CREATE TABLE change_cursors (
        name TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        updated_at REAL NOT NULL
    )""",
    # A batch (memory_fts_deferred, migration 9) logs its new rows itself, in one statement.
    "CREATE TRIGGER memory_store_change_ai AFTER INSERT ON memory_store "
    "WHEN NOT EXISTS (SELECT 1 FROM memory_fts_deferred) BEGIN "
    "INSERT INTO change_log (namespace, key, op, actor, at) "
    "VALUES (new.namespace, new.key, 'store', mb_actor(), mb_now()); END",
    "CREATE TRIGGER memory_store_change_au AFTER UPDATE OF key, namespace, value, tags, "
    "metadata, expires_at ON memory_store "
    "WHEN NOT (typeof(new.value) = 'blob' AND typeof(old.value) = 'text') BEGIN "
    "INSERT INTO change_log (namespace, key, op, actor, at) "
    "SELECT old.namespace, old.key, 'delete', mb_actor(), mb_now() "
    "WHERE old.namespace IS NOT new.namespace OR old.key IS NOT new.key; "
    "INSERT INTO change_log (namespace, key, op, actor, at) "
    "VALUES (new.namespace, new.key, 'store', mb_actor(), mb_now()); END",
    "CREATE TRIGGER memory_store_change_ad AFTER DELETE ON memory_store BEGIN "
    "INSERT INTO change_log (namespace, key, op, actor, at) "
    "VALUES (old.namespace, old.key, 'delete', mb_actor(), mb_now()); END",
)

_M14 = (
    # A replica's operations (mindbank.sync): every operation it made or received, unique by
    # id; ``pushed`` says whether the server has it (the write-behind queue is the rows with
    # pushed = 0, kept across restarts). sync_meta: the replica's id, its clock, its cursors,
    # the circuit breaker.
    """CREATE TABLE sync_ops (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        stamp TEXT NOT NULL,
        replica TEXT NOT NULL,
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('set', 'delete', 'tag', 'untag', 'count')),
        payload TEXT NOT NULL,
        pushed INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX sync_ops_entry ON sync_ops (namespace, key)",
    "CREATE INDEX sync_ops_queue ON sync_ops (pushed, seq)",
    "CREATE TABLE sync_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

_M15 = (
    # Entries of a replica that may differ from the fold of their operations: marked in the
    # same transaction as what changed them (a pull, a capture, a stamp the server clamped),
    # cleared in the transaction that writes the fold. Replicas made before this table
    # existed may hold pulled operations never written: every entry with operations starts
    # pending.
    """CREATE TABLE sync_pending (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID""",
    "INSERT INTO sync_pending SELECT DISTINCT namespace, key FROM sync_ops",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "memory and coordination tables", _M1),
    Migration(2, "embeddings, full-text index, change counter and log", _M2),
    Migration(3, "reasoning bank: items, vectors, trajectories, provenance, links", _M3),
    Migration(4, "witness chain", _M4),
    Migration(
        5, "learning: search impressions, feedback, learned entry scores, the memory graph", _M5
    ),
    Migration(6, "neural models and their training history", _M6),
    Migration(7, "cognitive pattern memory", _M7),
    Migration(8, "training pipeline runs", _M8),
    Migration(9, "batch writes index the full text once per batch", _M9),
    Migration(10, "model updates: incremental, online, transfer, federated", _M10),
    Migration(11, "compressed cold entries: zstd dictionaries, int8 vectors", _M11),
    Migration(12, "namespace schemas", _M12),
    Migration(13, "change log and subscriber cursors", _M13),
    Migration(14, "replica operations and sync state", _M14),
    Migration(15, "replica entries pending a merge", _M15),
)
"""Every migration this mindbank knows, in order. Append only."""

"""mindbank: a local-first memory and learning engine for AI agents.

Quick start::

    import mindbank

    with mindbank.open() as mb:                      # .mindbank/memory.db, found like git
        mb.store("api-design", "Use REST", namespace="architecture", tags=["api"])
        entry = mb.retrieve("api-design", namespace="architecture")
        print(entry.value)                           # "Use REST"
"""

from mindbank.config import Settings, find_db_path
from mindbank.engine import MindBank, open, restore
from mindbank.errors import (
    ConflictError,
    DatabaseLockedError,
    ImportFormatError,
    IntegrityCheckError,
    MindbankError,
    NotADatabaseError,
    NotFoundError,
    ReadOnlyQueryError,
    SchemaError,
    StoreError,
    ValidationError,
)
from mindbank.records import (
    Agent,
    AgentMemory,
    CheckReport,
    CleanupReport,
    Consensus,
    Entry,
    Event,
    HotKey,
    MetricSummary,
    MigrationInfo,
    NamespaceUsage,
    QueryResult,
    Session,
    SharedState,
    Stats,
    Task,
    Topology,
    UsageReport,
    WorkflowState,
)

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentMemory",
    "CheckReport",
    "CleanupReport",
    "ConflictError",
    "Consensus",
    "DatabaseLockedError",
    "Entry",
    "Event",
    "HotKey",
    "ImportFormatError",
    "IntegrityCheckError",
    "MetricSummary",
    "MigrationInfo",
    "MindBank",
    "MindbankError",
    "NamespaceUsage",
    "NotADatabaseError",
    "NotFoundError",
    "QueryResult",
    "ReadOnlyQueryError",
    "SchemaError",
    "Session",
    "Settings",
    "SharedState",
    "Stats",
    "StoreError",
    "Task",
    "Topology",
    "UsageReport",
    "ValidationError",
    "WorkflowState",
    "__version__",
    "find_db_path",
    "open",
    "restore",
]

"""mindbank: a local-first memory and learning engine for AI agents.

Quick start::

    import mindbank

    with mindbank.open() as mb:                      # .mindbank/memory.db, found like git
        mb.store("api-design", "Use REST", namespace="architecture", tags=["api"])
        entry = mb.retrieve("api-design", namespace="architecture")
        print(entry.value)                           # "Use REST"
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mindbank.config import Settings, find_db_path
    from mindbank.engine import MindBank, open, restore
    from mindbank.errors import (
        CommandError,
        ConflictError,
        DatabaseLockedError,
        EmbedderError,
        EmbedderMismatchError,
        ImportFormatError,
        IntegrityCheckError,
        MindbankError,
        NotADatabaseError,
        NotFoundError,
        ReadOnlyQueryError,
        SchemaError,
        StoreError,
        ValidationError,
        WitnessWarning,
    )
    from mindbank.records import (
        Agent,
        AgentMemory,
        BankHit,
        BankStatus,
        BridgeReport,
        CheckReport,
        CleanupReport,
        Consensus,
        ConsolidationReport,
        EnsembleReport,
        Entry,
        EntryScore,
        Event,
        FuzzyHit,
        GraphNode,
        GraphReport,
        HotKey,
        IndexStatus,
        Item,
        Link,
        MetricSummary,
        MigrationInfo,
        ModelInfo,
        NamespaceUsage,
        QuantizeReport,
        QueryResult,
        Recorded,
        SearchHit,
        Session,
        SharedState,
        Stats,
        TablesCheck,
        Task,
        TierEntry,
        TierReport,
        Topology,
        TrainingEpoch,
        Trajectory,
        UsageReport,
        Verdict,
        WitnessReport,
        WorkflowState,
    )

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentMemory",
    "BankHit",
    "BankStatus",
    "BridgeReport",
    "CheckReport",
    "CleanupReport",
    "CommandError",
    "ConflictError",
    "Consensus",
    "ConsolidationReport",
    "DatabaseLockedError",
    "EmbedderError",
    "EmbedderMismatchError",
    "EnsembleReport",
    "Entry",
    "EntryScore",
    "Event",
    "FuzzyHit",
    "GraphNode",
    "GraphReport",
    "HotKey",
    "ImportFormatError",
    "IndexStatus",
    "IntegrityCheckError",
    "Item",
    "Link",
    "MetricSummary",
    "MigrationInfo",
    "MindBank",
    "MindbankError",
    "ModelInfo",
    "NamespaceUsage",
    "NotADatabaseError",
    "NotFoundError",
    "QuantizeReport",
    "QueryResult",
    "ReadOnlyQueryError",
    "Recorded",
    "SchemaError",
    "SearchHit",
    "Session",
    "Settings",
    "SharedState",
    "Stats",
    "StoreError",
    "TablesCheck",
    "Task",
    "TierEntry",
    "TierReport",
    "Topology",
    "TrainingEpoch",
    "Trajectory",
    "UsageReport",
    "ValidationError",
    "Verdict",
    "WitnessReport",
    "WitnessWarning",
    "WorkflowState",
    "__version__",
    "find_db_path",
    "open",
    "restore",
]

# Names load on first use: `mindbank memory retrieve` should not pay for every module.
_WHERE = {
    "Agent": "records",
    "AgentMemory": "records",
    "BankHit": "records",
    "BankStatus": "records",
    "BridgeReport": "records",
    "CheckReport": "records",
    "CleanupReport": "records",
    "CommandError": "errors",
    "ConflictError": "errors",
    "Consensus": "records",
    "ConsolidationReport": "records",
    "DatabaseLockedError": "errors",
    "EmbedderError": "errors",
    "EmbedderMismatchError": "errors",
    "EnsembleReport": "records",
    "Entry": "records",
    "EntryScore": "records",
    "Event": "records",
    "FuzzyHit": "records",
    "GraphNode": "records",
    "GraphReport": "records",
    "HotKey": "records",
    "ImportFormatError": "errors",
    "IndexStatus": "records",
    "IntegrityCheckError": "errors",
    "Item": "records",
    "Link": "records",
    "MetricSummary": "records",
    "MigrationInfo": "records",
    "MindBank": "engine",
    "MindbankError": "errors",
    "ModelInfo": "records",
    "NamespaceUsage": "records",
    "NotADatabaseError": "errors",
    "NotFoundError": "errors",
    "QuantizeReport": "records",
    "QueryResult": "records",
    "ReadOnlyQueryError": "errors",
    "Recorded": "records",
    "SchemaError": "errors",
    "SearchHit": "records",
    "Session": "records",
    "Settings": "config",
    "SharedState": "records",
    "Stats": "records",
    "StoreError": "errors",
    "TablesCheck": "records",
    "Task": "records",
    "TierEntry": "records",
    "TierReport": "records",
    "Topology": "records",
    "TrainingEpoch": "records",
    "Trajectory": "records",
    "UsageReport": "records",
    "ValidationError": "errors",
    "Verdict": "records",
    "WitnessReport": "records",
    "WitnessWarning": "errors",
    "WorkflowState": "records",
    "find_db_path": "config",
    "open": "engine",
    "restore": "engine",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"mindbank.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mindbank' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

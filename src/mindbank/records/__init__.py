"""The records mindbank returns: frozen, typed dataclasses.

Times are Unix seconds (UTC) as floats, the same numbers that are stored in the database, so a
record read back compares equal to the one written. ``JSON`` is any value ``json.dumps`` accepts.

The classes live in submodules by concept and load on first use, so a command that only
retrieves an entry does not pay for defining every record.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mindbank.errors import shown
from mindbank.records._base import JSON

if TYPE_CHECKING:
    from mindbank.records.coordination import (
        Agent,
        AgentMemory,
        Consensus,
        Event,
        MetricSummary,
        Session,
        SharedState,
        Task,
        Topology,
        WorkflowState,
    )
    from mindbank.records.memory import (
        Entry,
    )
    from mindbank.records.neural import (
        EnsembleReport,
        FederatedReport,
        ModelInfo,
        QuantizeReport,
        TrainingEpoch,
        TransferReport,
        UpdateReport,
    )
    from mindbank.records.reasoning import (
        BankHit,
        BankStatus,
        ConsolidationReport,
        Item,
        Link,
        MinedPattern,
        Recorded,
        TablesCheck,
        Trajectory,
        Verdict,
    )
    from mindbank.records.reports import (
        BridgeReport,
        Change,
        CheckReport,
        CleanupReport,
        CompressionReport,
        CopyReport,
        HotKey,
        MigrationInfo,
        NamespaceUsage,
        QueryResult,
        SchemaInfo,
        Stats,
        SyncReport,
        SyncStatus,
        TierEntry,
        TierReport,
        UsageReport,
        WitnessReport,
    )
    from mindbank.records.search import (
        EntryScore,
        FuzzyHit,
        GraphNode,
        GraphReport,
        IndexStatus,
        SearchHit,
    )

__all__ = [
    "Agent",
    "AgentMemory",
    "BankHit",
    "BankStatus",
    "BridgeReport",
    "Change",
    "CheckReport",
    "CleanupReport",
    "CompressionReport",
    "Consensus",
    "ConsolidationReport",
    "CopyReport",
    "EnsembleReport",
    "Entry",
    "EntryScore",
    "Event",
    "FederatedReport",
    "FuzzyHit",
    "GraphNode",
    "GraphReport",
    "HotKey",
    "IndexStatus",
    "Item",
    "JSON",
    "Link",
    "MetricSummary",
    "MigrationInfo",
    "MinedPattern",
    "ModelInfo",
    "NamespaceUsage",
    "QuantizeReport",
    "QueryResult",
    "Recorded",
    "SchemaInfo",
    "SearchHit",
    "Session",
    "SharedState",
    "Stats",
    "SyncReport",
    "SyncStatus",
    "TablesCheck",
    "Task",
    "TierEntry",
    "TierReport",
    "Topology",
    "TrainingEpoch",
    "Trajectory",
    "TransferReport",
    "UpdateReport",
    "UsageReport",
    "Verdict",
    "WitnessReport",
    "WorkflowState",
]

_WHERE = {
    "Agent": "coordination",
    "AgentMemory": "coordination",
    "BankHit": "reasoning",
    "BankStatus": "reasoning",
    "BridgeReport": "reports",
    "CheckReport": "reports",
    "CleanupReport": "reports",
    "Change": "reports",
    "CompressionReport": "reports",
    "CopyReport": "reports",
    "Consensus": "coordination",
    "ConsolidationReport": "reasoning",
    "EnsembleReport": "neural",
    "Entry": "memory",
    "EntryScore": "search",
    "Event": "coordination",
    "FuzzyHit": "search",
    "GraphNode": "search",
    "GraphReport": "search",
    "HotKey": "reports",
    "IndexStatus": "search",
    "Item": "reasoning",
    "Link": "reasoning",
    "MinedPattern": "reasoning",
    "MetricSummary": "coordination",
    "MigrationInfo": "reports",
    "ModelInfo": "neural",
    "NamespaceUsage": "reports",
    "QuantizeReport": "neural",
    "QueryResult": "reports",
    "Recorded": "reasoning",
    "SearchHit": "search",
    "Session": "coordination",
    "SharedState": "coordination",
    "Stats": "reports",
    "SyncReport": "reports",
    "SyncStatus": "reports",
    "SchemaInfo": "reports",
    "TablesCheck": "reasoning",
    "Task": "coordination",
    "TierEntry": "reports",
    "TierReport": "reports",
    "Topology": "coordination",
    "TrainingEpoch": "neural",
    "TransferReport": "neural",
    "UpdateReport": "neural",
    "FederatedReport": "neural",
    "Trajectory": "reasoning",
    "UsageReport": "reports",
    "Verdict": "reasoning",
    "WitnessReport": "reports",
    "WorkflowState": "coordination",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"mindbank.records.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mindbank.records' has no attribute {shown(name)}")


def __dir__() -> list[str]:
    return sorted(__all__)

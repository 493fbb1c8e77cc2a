"""Claude-Flow's 27 named models, as presets: what each expects and predicts, and an
architecture. A preset is "untrained" until you train it on your own records
(``mindbank neural train --model <preset> ...``); then the catalog shows its measured
validation accuracy. Claude-Flow's accuracy column (92 %, 88 % ...) is not reproduced: no
number appears here that was not measured on your data.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "preset_config", "starter_config"]

# name -> (category, purpose, fields it expects, target it predicts, output head)
PRESETS: dict[str, tuple[str, str, tuple[str, ...], str, str]] = {
    "hierarchical-coordinator": ("coordination", "tree-based delegation",
                                 ("task", "team_size", "depth"), "outcome", "sigmoid"),
    "mesh-coordinator": ("coordination", "peer-to-peer coordination",
                         ("task", "agents", "messages"), "outcome", "sigmoid"),
    "adaptive-coordinator": ("coordination", "which topology suits a task",
                             ("task", "complexity", "agents"), "topology", "softmax"),
    "collective-intelligence": ("coordination", "swarm decision quality",
                                ("question", "votes", "agreement"), "outcome", "sigmoid"),
    "swarm-memory-manager": ("coordination", "whether a memory will be reused",
                             ("namespace", "access_count", "age_days"), "reused", "sigmoid"),
    "ring-coordinator": ("coordination", "pipeline stage success",
                         ("stage", "position", "input_size"), "outcome", "sigmoid"),
    "star-coordinator": ("coordination", "hub load outcome",
                         ("hub_load", "agents", "task"), "outcome", "sigmoid"),
    "hybrid-coordinator": ("coordination", "mode to use for a project",
                           ("project", "team_size", "phase"), "mode", "softmax"),
    "byzantine-coordinator": ("consensus", "whether a proposal is accepted despite faults",
                              ("voters", "faulty", "round"), "accepted", "sigmoid"),
    "raft-manager": ("consensus", "election outcome",
                     ("term", "nodes", "latency_ms"), "elected", "sigmoid"),
    "gossip-coordinator": ("consensus", "rounds to convergence",
                           ("nodes", "fanout", "loss_rate"), "rounds", "linear"),
    "consensus-builder": ("consensus", "vote outcome",
                          ("proposal", "voters", "quorum"), "outcome", "sigmoid"),
    "crdt-synchronizer": ("consensus", "conflicts after a merge",
                          ("replicas", "edits", "offline_s"), "conflicts", "linear"),
    "quorum-manager": ("consensus", "whether a quorum forms",
                       ("voters", "quorum", "available"), "formed", "sigmoid"),
    "perf-analyzer": ("performance", "the bottleneck of a run",
                      ("cpu_ms", "io_ms", "memory_mb", "task"), "bottleneck", "softmax"),
    "performance-benchmarker": ("performance", "duration of a run",
                                ("task", "input_size", "strategy"), "duration_ms", "linear"),
    "task-orchestrator": ("performance", "which agent type to assign",
                          ("task", "priority", "load"), "agent_type", "softmax"),
    "memory-coordinator": ("performance", "whether a cache entry will be hit",
                           ("key_pattern", "size", "age_s"), "hit", "sigmoid"),
    "smart-agent": ("performance", "the strategy that will pass",
                    ("task", "kind", "size"), "strategy", "softmax"),
    "sparc-coord": ("sparc", "the SPARC phase a task is in",
                    ("task", "artifacts", "tests"), "phase", "softmax"),
    "specification": ("sparc", "whether a spec is complete",
                      ("spec", "requirements", "open_questions"), "complete", "sigmoid"),
    "architecture": ("sparc", "whether a design passes review",
                     ("design", "components", "interfaces"), "approved", "sigmoid"),
    "refinement": ("sparc", "whether a change passes its tests",
                   ("change", "lines", "tests_touched"), "passed", "sigmoid"),
    "backend-dev": ("specialized", "whether a backend task passes",
                    ("task", "endpoints", "db"), "passed", "sigmoid"),
    "ml-developer": ("specialized", "whether a training run converges",
                     ("model", "data_size", "learning_rate"), "converged", "sigmoid"),
    "cicd-engineer": ("specialized", "whether a pipeline run succeeds",
                      ("pipeline", "changed_files", "duration_s"), "succeeded", "sigmoid"),
    "system-architect": ("specialized", "the architecture style that fits",
                         ("system", "scale", "team_size"), "style", "softmax"),
}  # fmt: skip


def preset_config(name: str) -> dict[str, Any]:
    """The model configuration of a preset (Claude-Flow's format)."""
    category, purpose, _, _, head = PRESETS[name]
    return starter_config(name, head, category, purpose)


def starter_config(
    name: str = "task-outcome", head: str = "softmax", kind: str = "custom", purpose: str = ""
) -> dict[str, Any]:
    """A starting configuration: two hidden layers (64, 32, relu), Adam, early stopping."""
    return {
        "modelId": name,
        "type": kind,
        "description": purpose,
        "architecture": {
            "type": "feedforward",
            "layers": [
                {"type": "input"},
                {"type": "hidden", "size": 64, "activation": "relu"},
                {"type": "hidden", "size": 32, "activation": "relu"},
                {"type": "output", "activation": head},
            ],
        },
        "training": {
            "learning_rate": 0.001,
            "batch_size": 32,
            "epochs": 50,
            "optimizer": "adam",
            "early_stopping": {"patience": 8, "min_delta": 0.0001},
            "l2": 0.0001,
            "seed": 0,
        },
    }

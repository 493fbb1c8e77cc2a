"""Replicas that work offline and converge: hybrid logical clocks, CRDT merge rules, and the
sync of a local SQLite replica with a shared PostgreSQL memory (see docs/sync.md)."""

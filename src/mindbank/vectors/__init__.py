"""Vector math for search: the in-memory index, score fusion and MMR. Pure numpy, no I/O."""

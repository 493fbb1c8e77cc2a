"""The memory domain: input rules, the export format and coordination state."""

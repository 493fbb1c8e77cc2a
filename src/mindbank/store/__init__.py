"""The substrate: all SQL lives here. The embedded backend is SQLite."""

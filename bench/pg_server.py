"""A throwaway PostgreSQL server for the benchmarks (pgserver: PostgreSQL 16 with pgvector from a
wheel; ``pip install .[dev]``)."""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def pg_server() -> Iterator[str]:
    """Start a server in a temporary directory; yields its superuser URL; stops it after."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        import pgserver

        srv = pgserver.get_server(
            tempfile.mkdtemp(prefix="mindbank-bench-pg-"), cleanup_mode="stop"
        )
    try:
        yield srv.get_uri()
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            srv.cleanup()

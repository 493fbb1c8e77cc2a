"""The exceptions mindbank raises.

Every error mindbank raises on purpose is a :class:`MindbankError`, so a caller can catch one
class at the edge. The tree::

    MindbankError
    ├── ValidationError          bad input: empty key, negative TTL, metadata that is not a JSON
    │   │                        object, an unknown status ... (also a ValueError)
    │   └── SchemaViolationError  a value does not match its namespace's JSON Schema
    ├── NotFoundError            the named thing does not exist (also a LookupError)
    ├── ConflictError            a compare-and-set lost: someone else wrote first
    ├── ReadOnlyQueryError       ``query()`` was given a statement that would write
    ├── ImportFormatError        an import file line is malformed (``line`` says which)
    ├── EmbedderError            the embedding model could not load or misbehaved
    │   └── EmbedderMismatchError  the vectors were written by another embedder
    ├── ChangeLogGapError        a subscriber asked for changes the log no longer keeps
    ├── CommandError             a configured judge or distil command failed or answered
    │                            something that is not the documented JSON
    └── StoreError               the database itself
        ├── NotADatabaseError    the file is not a mindbank database (it is never overwritten)
        ├── SchemaError          the schema is newer than this mindbank, or a migration was altered
        ├── DatabaseLockedError  another process held the lock past the busy timeout
        ├── BackendError         not available on this backend (PostgreSQL) yet
        └── IntegrityCheckError  ``check()`` found corruption (or, in strict witness mode,
                                 the witness chain is broken at open)

``WitnessWarning`` (a ``UserWarning``) is issued when a database opens with a broken witness
chain outside strict mode.

The core never prints: the CLI and the MCP server translate these into one clear line and a
non-zero exit (or a tool error).
"""

from __future__ import annotations

import reprlib

__all__ = [
    "BackendError",
    "ChangeLogGapError",
    "CommandError",
    "ConflictError",
    "DatabaseLockedError",
    "EmbedderError",
    "EmbedderMismatchError",
    "ImportFormatError",
    "IntegrityCheckError",
    "MindbankError",
    "NotADatabaseError",
    "NotFoundError",
    "ReadOnlyQueryError",
    "SchemaError",
    "SchemaViolationError",
    "StoreError",
    "ValidationError",
    "WitnessWarning",
]


class MindbankError(Exception):
    """Base class of every error mindbank raises on purpose."""


class ValidationError(MindbankError, ValueError):
    """An argument is invalid. Nothing was written."""


class SchemaViolationError(ValidationError):
    """A value does not match its namespace's JSON Schema. Nothing was written."""


class ChangeLogGapError(MindbankError):
    """Changes after the asked-for point were pruned from the log: resynchronise (read the
    entries again) and subscribe from the log's head."""


class NotFoundError(MindbankError, LookupError):
    """The named entry, session, agent, task, namespace ... does not exist."""


class ConflictError(MindbankError):
    """A compare-and-set failed because the stored version moved on.

    Attributes:
        expected: the version the writer expected.
        actual: the version found in the database (0 when the key does not exist).
    """

    def __init__(self, message: str, *, expected: int | None = None, actual: int | None = None):
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class ReadOnlyQueryError(MindbankError):
    """``query()`` refused a statement that would write, or the SQL is invalid."""


class ImportFormatError(MindbankError, ValueError):
    """An import file is malformed. Nothing was imported.

    Attributes:
        line: the 1-based line number of the first bad line.
    """

    def __init__(self, message: str, *, line: int):
        super().__init__(f"line {line}: {message}")
        self.line = line


class EmbedderError(MindbankError):
    """The embedder could not load (missing package, altered model file) or returned something
    that is not a vector."""


class EmbedderMismatchError(EmbedderError):
    """The database's vectors were written by another embedder than the one in use.

    Attributes:
        stored: the identity (``model-id:dims``) of the stored vectors.
        current: the identity of the embedder in use.
    """

    def __init__(self, stored: str, current: str):
        super().__init__(
            f"this database's vectors were written by {stored}, but the embedder in use is "
            f"{current}; vectors of different models cannot be compared. Use the same embedder "
            f"(MINDBANK_EMBEDDER), or re-embed everything with `mindbank memory reembed`"
        )
        self.stored = stored
        self.current = current


class CommandError(MindbankError):
    """A configured external command (judge, distiller) failed or answered badly."""


class StoreError(MindbankError):
    """The database could not be opened, read or written."""


class NotADatabaseError(StoreError):
    """The file exists but is not a mindbank database. It was left untouched."""


class SchemaError(StoreError):
    """The schema is newer than this mindbank knows, or an applied migration was altered."""


class BackendError(StoreError):
    """What was asked for is not available on this backend (PostgreSQL) yet."""


class DatabaseLockedError(StoreError):
    """Another connection held a lock for longer than the busy timeout."""


class IntegrityCheckError(StoreError):
    """The database failed an integrity check."""


class WitnessWarning(UserWarning):
    """The witness chain of a database being opened is broken (see ``mindbank db verify``)."""


def shown(value: object) -> str:
    """A value for an error message: its repr, cut short (at most ~100 characters a string,
    4 levels deep), so a hostile value (huge, or nested without end) cannot blow up the
    message that refuses it."""
    return _SHOWN.repr(value)


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 100
_SHOWN.maxlevel = 4

"""Which repository serves a database: the SQLite one, or its PostgreSQL subclass.

Kept apart from both so that neither imports the other: the PostgreSQL repositories
(``pg_memory``) subclass the SQLite ones, and this module, above both, chooses.
"""

from __future__ import annotations

from mindbank.store.changes import ChangeRepo
from mindbank.store.coordination import CoordinationRepo
from mindbank.store.database import Database
from mindbank.store.feedback import FeedbackRepo
from mindbank.store.memory import MemoryRepo
from mindbank.store.pg_memory import (
    PgBankRepo,
    PgChangeRepo,
    PgCoordinationRepo,
    PgFeedbackRepo,
    PgMemoryRepo,
)
from mindbank.store.reasoning import BankRepo

__all__ = ["bank_repo", "change_repo", "coordination_repo", "feedback_repo", "memory_repo"]


def memory_repo(db: Database) -> MemoryRepo:
    """The entries' repository for this database's backend."""
    return PgMemoryRepo(db) if db.dialect == "postgres" else MemoryRepo(db)


def change_repo(db: Database) -> ChangeRepo:
    """The change log's repository for this database's backend."""
    return PgChangeRepo(db) if db.dialect == "postgres" else ChangeRepo(db)


def coordination_repo(db: Database) -> CoordinationRepo:
    """The coordination tables' repository for this database's backend."""
    return PgCoordinationRepo(db) if db.dialect == "postgres" else CoordinationRepo(db)


def bank_repo(db: Database) -> BankRepo:
    """The ReasoningBank's repository for this database's backend."""
    return PgBankRepo(db) if db.dialect == "postgres" else BankRepo(db)


def feedback_repo(db: Database) -> FeedbackRepo:
    """The feedback repository for this database's backend."""
    return PgFeedbackRepo(db) if db.dialect == "postgres" else FeedbackRepo(db)

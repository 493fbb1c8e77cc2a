"""Which repository serves a database: the SQLite one, or its PostgreSQL subclass.

Kept apart from both so that neither imports the other: the PostgreSQL repositories
(``pg_memory``) subclass the SQLite ones, and this module, above both, chooses.
"""

from __future__ import annotations

from mindbank.store.database import Database
from mindbank.store.feedback import FeedbackRepo
from mindbank.store.pg_memory import PgBankRepo, PgFeedbackRepo
from mindbank.store.reasoning import BankRepo

__all__ = ["bank_repo", "feedback_repo"]


def bank_repo(db: Database) -> BankRepo:
    """The ReasoningBank's repository for this database's backend."""
    return PgBankRepo(db) if db.dialect == "postgres" else BankRepo(db)


def feedback_repo(db: Database) -> FeedbackRepo:
    """The feedback repository for this database's backend."""
    return PgFeedbackRepo(db) if db.dialect == "postgres" else FeedbackRepo(db)

"""The serving store (SQLAlchemy Core over SQLite by default, PostgreSQL in production):
accounts, cases, policy history, the audit log, products, explanations and decisions."""

from peel.serving import tables
from peel.serving.engine import make_engine
from peel.serving.store import Store, head_revision

__all__ = ["Store", "head_revision", "make_engine", "tables"]

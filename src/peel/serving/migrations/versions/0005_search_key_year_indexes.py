"""person_search_keys: (surname key, birth year) indexes for the person check with a date

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEYS = ("surname", "surname_metaphone", "surname_soundex")


def upgrade() -> None:
    for key in KEYS:
        op.create_index(
            f"ix_person_search_keys_{key}_year",
            "person_search_keys",
            [key, "birth_year"],
        )


def downgrade() -> None:
    for key in KEYS:
        op.drop_index(f"ix_person_search_keys_{key}_year", table_name="person_search_keys")

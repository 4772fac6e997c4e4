"""resolve_overrides: analysts' merge and split corrections of person resolution

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import peel.serving.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resolve_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("record_a", sa.String(length=300), nullable=False),
        sa.Column("record_b", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", peel.serving.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolve_overrides")),
    )


def downgrade() -> None:
    op.drop_table("resolve_overrides")

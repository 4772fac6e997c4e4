"""lead_monitoring: the keeper's self-defined ethnicity and age band for each raised lead,
for the oversight page (issue 6)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import peel.serving.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_monitoring",
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("keeper_kind", sa.String(length=32), nullable=False),
        sa.Column("self_defined_ethnicity", sa.String(length=64), nullable=False),
        sa.Column("age_band", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_lead_monitoring_product_id_products")
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_lead_monitoring")),
    )


def downgrade() -> None:
    op.drop_table("lead_monitoring")

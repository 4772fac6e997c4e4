"""anpr_authorisation_requests; decisions.confirmation (issue 6: ANPR access pages, leads
actioned only after a person confirms the read's image and OCR confidence)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import peel.serving.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anpr_authorisation_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("investigation_reference", sa.String(length=64), nullable=False),
        sa.Column("offence_category", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("requested_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", peel.serving.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("authorisation_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anpr_authorisation_requests")),
    )
    op.create_index(
        op.f("ix_anpr_authorisation_requests_requester"),
        "anpr_authorisation_requests",
        ["requester"],
    )
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("confirmation", peel.serving.types.JSONText(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("confirmation")
    op.drop_index(
        op.f("ix_anpr_authorisation_requests_requester"), table_name="anpr_authorisation_requests"
    )
    op.drop_table("anpr_authorisation_requests")

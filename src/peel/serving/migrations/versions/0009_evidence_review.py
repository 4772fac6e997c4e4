"""evidence review: batches as audited, coding decisions, leases, views, searches and the
stopping rule's checks (issue 7)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import peel.serving.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_batches",
        sa.Column("case_reference", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("files", peel.serving.types.JSONText(), nullable=False),
        sa.Column("ingested_by", sa.String(length=64), nullable=False),
        sa.Column("ingested_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_reference"],
            ["cases.reference"],
            name=op.f("fk_evidence_batches_case_reference_cases"),
        ),
        sa.PrimaryKeyConstraint("case_reference", "batch", name=op.f("pk_evidence_batches")),
    )
    op.create_table(
        "evidence_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_reference", sa.String(length=64), nullable=False),
        sa.Column("reviewed", sa.Integer(), nullable=False),
        sa.Column("knee_rank", sa.Integer(), nullable=False),
        sa.Column("sample_items", peel.serving.types.JSONText(), nullable=False),
        sa.Column("sample_relevant", sa.Integer(), nullable=True),
        sa.Column("estimate", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", peel.serving.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_reference"],
            ["cases.reference"],
            name=op.f("fk_evidence_checks_case_reference_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_checks")),
    )
    op.create_index("ix_evidence_checks_case", "evidence_checks", ["case_reference"], unique=False)
    op.create_table(
        "evidence_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_reference", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("relevance", sa.String(length=16), nullable=False),
        sa.Column("meets_test", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("coded_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_reference"],
            ["cases.reference"],
            name=op.f("fk_evidence_codes_case_reference_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_codes")),
    )
    op.create_index(
        "ix_evidence_codes_case_item", "evidence_codes", ["case_reference", "item_id"], unique=False
    )
    op.create_table(
        "evidence_leases",
        sa.Column("case_reference", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("leased_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_reference"],
            ["cases.reference"],
            name=op.f("fk_evidence_leases_case_reference_cases"),
        ),
        sa.PrimaryKeyConstraint("case_reference", "item_id", name=op.f("pk_evidence_leases")),
    )
    op.create_table(
        "evidence_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_reference", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("filters", peel.serving.types.JSONText(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("searched_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_reference"],
            ["cases.reference"],
            name=op.f("fk_evidence_searches_case_reference_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_searches")),
    )
    op.create_index(
        "ix_evidence_searches_case", "evidence_searches", ["case_reference"], unique=False
    )
    op.create_table(
        "evidence_views",
        sa.Column("case_reference", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.Column("first_viewed_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_reference"],
            ["cases.reference"],
            name=op.f("fk_evidence_views_case_reference_cases"),
        ),
        sa.PrimaryKeyConstraint(
            "case_reference", "item_id", "username", name=op.f("pk_evidence_views")
        ),
    )


def downgrade() -> None:
    for name in (
        "evidence_views",
        "evidence_searches",
        "evidence_leases",
        "evidence_codes",
        "evidence_checks",
        "evidence_batches",
    ):
        op.drop_table(name)

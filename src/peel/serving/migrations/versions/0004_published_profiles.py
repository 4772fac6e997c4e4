"""published profiles: person and vehicle profile documents, person search keys, publishes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import peel.serving.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_profiles",
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("document", peel.serving.types.JSONText(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("published_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_person_profiles")),
    )
    op.create_table(
        "person_search_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("surname", sa.String(length=100), nullable=True),
        sa.Column("forename", sa.String(length=100), nullable=True),
        sa.Column("surname_metaphone", sa.String(length=32), nullable=True),
        sa.Column("surname_soundex", sa.String(length=8), nullable=True),
        sa.Column("forename_metaphone", sa.String(length=32), nullable=True),
        sa.Column("dob", sa.String(length=10), nullable=True),
        sa.Column("dob_swapped", sa.String(length=10), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_search_keys")),
    )
    op.create_index(op.f("ix_person_search_keys_profile_id"), "person_search_keys", ["profile_id"])
    for col in ("surname", "surname_metaphone", "surname_soundex", "dob", "dob_swapped"):
        op.create_index(f"ix_person_search_keys_{col}", "person_search_keys", [col])
    op.create_table(
        "vehicle_profiles",
        sa.Column("vrm", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("document", peel.serving.types.JSONText(), nullable=False),
        sa.Column("published_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("vrm", name=op.f("pk_vehicle_profiles")),
    )
    op.create_table(
        "publish_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("published_at", peel.serving.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("datasets", peel.serving.types.JSONText(), nullable=False),
        sa.Column("counts", peel.serving.types.JSONText(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publish_runs")),
    )


def downgrade() -> None:
    op.drop_table("publish_runs")
    op.drop_table("vehicle_profiles")
    op.drop_table("person_search_keys")
    op.drop_table("person_profiles")

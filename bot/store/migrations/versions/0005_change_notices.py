"""Notices posted in threads whose answer cited a policy version since replaced or removed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_notices",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=256), nullable=False),
        sa.Column("thread_id", sa.String(length=512), nullable=False),
        sa.Column("doc_id", sa.String(length=512), nullable=False),
        sa.Column("new_version", sa.String(length=128), nullable=False),
        sa.Column("old_interaction_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("platform", "channel", "thread_id", "doc_id", "new_version"),
    )


def downgrade() -> None:
    op.drop_table("change_notices")

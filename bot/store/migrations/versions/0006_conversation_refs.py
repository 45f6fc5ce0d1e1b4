"""Conversation references per thread, for posting in a Teams thread later (change notices).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_refs",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("thread_id", sa.String(length=512), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "thread_id"),
    )


def downgrade() -> None:
    op.drop_table("conversation_refs")

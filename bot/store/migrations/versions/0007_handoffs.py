"""Hand-offs to a person: the escalation post and the human answer relayed back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("interaction_id", sa.String(length=36), nullable=False),
        sa.Column("requested_by", sa.String(length=256), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalation_platform", sa.String(length=16), nullable=False),
        sa.Column("escalation_channel", sa.String(length=256), nullable=False),
        sa.Column("escalation_message_id", sa.String(length=256), nullable=True),
        sa.Column("human_answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=256), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("interaction_id"),
    )
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_handoffs_escalation_message_id"), ["escalation_message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handoffs_escalation_message_id"))
    op.drop_table("handoffs")

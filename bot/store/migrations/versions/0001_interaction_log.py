"""The interaction log: answers with their passages and prompts, and the votes on them.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_texts",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "interactions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=256), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("thread_id", sa.String(length=512), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("rewritten_question", sa.Text(), nullable=False),
        sa.Column("scope_groups", sa.JSON(), nullable=False),
        sa.Column("answer_text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("abstained", sa.Boolean(), nullable=False),
        sa.Column("answerer", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("notice", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("system_prompt_sha256", sa.String(length=64), nullable=True),
        sa.Column("user_prompt", sa.Text(), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_prompt_sha256"],
            ["prompt_texts.sha256"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interactions_channel"), ["channel"], unique=False)
        batch_op.create_index(batch_op.f("ix_interactions_created_at"), ["created_at"], unique=False)

    op.create_table(
        "interaction_passages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("interaction_id", sa.String(length=36), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("chunk_id", sa.String(length=128), nullable=False),
        sa.Column("doc_id", sa.String(length=512), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("section", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("acl", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("cited", sa.Boolean(), nullable=False),
        sa.Column("citation_marker", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("interaction_passages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interaction_passages_doc_id"), ["doc_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_interaction_passages_interaction_id"), ["interaction_id"], unique=False
        )

    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("interaction_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("value", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_votes_interaction_id"), ["interaction_id"], unique=False)
        batch_op.create_index(
            "uq_votes_current",
            ["interaction_id", "user_id"],
            unique=True,
            sqlite_where=sa.text("retracted_at IS NULL"),
            postgresql_where=sa.text("retracted_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_votes_current",
            sqlite_where=sa.text("retracted_at IS NULL"),
            postgresql_where=sa.text("retracted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_votes_interaction_id"))

    op.drop_table("votes")
    with op.batch_alter_table("interaction_passages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interaction_passages_interaction_id"))
        batch_op.drop_index(batch_op.f("ix_interaction_passages_doc_id"))

    op.drop_table("interaction_passages")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interactions_created_at"))
        batch_op.drop_index(batch_op.f("ix_interactions_channel"))

    op.drop_table("interactions")
    op.drop_table("prompt_texts")

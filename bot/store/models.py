"""Tables of the interaction log. Changes here need an Alembic migration (bot/store/migrations).

An interaction is one answered question with everything needed to judge or replay it
later: the exact prompt, every retrieved passage with its document version and score,
and which passages the answer cited. Votes are rows of their own so that a changed or
retracted vote stays in the history; at most one vote per user per answer is current.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Dialect, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps in UTC, and timezone-aware when read back on SQLite too (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC times")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class PromptText(Base):
    """System prompts by hash: stored once, referenced by every interaction that used them."""

    __tablename__ = "prompt_texts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Interaction(Base):
    __tablename__ = "interactions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(256), index=True)
    user_id: Mapped[str] = mapped_column(String(256))
    # Display and real names of the asker, for scrubbing them from training data (0003).
    asker_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    thread_id: Mapped[str] = mapped_column(String(512), default="")
    question: Mapped[str] = mapped_column(Text)
    rewritten_question: Mapped[str] = mapped_column(Text, default="")
    scope_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer_text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # generated / extracted / abstained / failed
    abstained: Mapped[bool] = mapped_column(Boolean, default=False)
    answerer: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128), default="")
    notice: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[float] = mapped_column(Float)
    system_prompt_sha256: Mapped[str | None] = mapped_column(ForeignKey("prompt_texts.sha256"), nullable=True)
    user_prompt: Mapped[str] = mapped_column(Text, default="")
    prompt_version: Mapped[int] = mapped_column(Integer, default=0)

    passages: Mapped[list[InteractionPassage]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan", order_by="InteractionPassage.rank"
    )
    votes: Mapped[list[Vote]] = relationship(back_populates="interaction", order_by="Vote.id")


class InteractionPassage(Base):
    """A retrieved passage exactly as it was put in the prompt (rank 1 = `[1]` in the prompt)."""

    __tablename__ = "interaction_passages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    chunk_id: Mapped[str] = mapped_column(String(128))
    doc_id: Mapped[str] = mapped_column(String(512), index=True)
    title: Mapped[str] = mapped_column(Text)
    section: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(Text, default="")
    acl: Mapped[list[str]] = mapped_column(JSON, default=list)
    score: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    cited: Mapped[bool] = mapped_column(Boolean, default=False)
    citation_marker: Mapped[int | None] = mapped_column(Integer, nullable=True)

    interaction: Mapped[Interaction] = relationship(back_populates="passages")


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (
        # One current vote per user per answer; retracted rows stay as history.
        Index(
            "uq_votes_current",
            "interaction_id",
            "user_id",
            unique=True,
            sqlite_where=text("retracted_at IS NULL"),
            postgresql_where=text("retracted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(256))
    value: Mapped[str] = mapped_column(String(8))  # up / down
    source: Mapped[str] = mapped_column(String(16))  # reaction / button / feedback_loop / console
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    interaction: Mapped[Interaction] = relationship(back_populates="votes")


class ProcessedEvent(Base):
    """Platform events already handled. Slack and Bot Framework redeliver what they think
    failed; a unique key (not an in-memory set) makes that safe across restarts and replicas."""

    __tablename__ = "processed_events"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class AnswerMessage(Base):
    """Which posted chat message carries which answer: reactions name the message, votes
    need the interaction."""

    __tablename__ = "answer_messages"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    channel: Mapped[str] = mapped_column(String(256), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DigestRun(Base):
    """One weekly digest for one leads' target: claimed by the first replica (the primary
    key makes that race safe), marked when posted. Its summary gives next week's deltas."""

    __tablename__ = "digest_runs"

    week: Mapped[str] = mapped_column(String(10), primary_key=True)  # ISO week, 2026-W47
    target: Mapped[str] = mapped_column(String(128), primary_key=True)  # digest.leads[].name
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str] = mapped_column(String(256), default="")
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ChangeNotice(Base):
    """A thread told that a policy it was answered from changed: one row per thread and
    document version, so re-running the same supersession posts nothing more."""

    __tablename__ = "change_notices"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    channel: Mapped[str] = mapped_column(String(256), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    new_version: Mapped[str] = mapped_column(String(128), primary_key=True)  # "" when removed
    old_interaction_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConversationRef(Base):
    """Where the bot can post later in a thread it answered (a Teams proactive message needs
    the service URL and conversation as Bot Framework gave them): kept per thread."""

    __tablename__ = "conversation_refs"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Handoff(Base):
    """An answer handed to a person: one per interaction (the primary key makes a second
    press do nothing). The first reply in the escalation thread is the human answer."""

    __tablename__ = "handoffs"

    interaction_id: Mapped[str] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True
    )
    requested_by: Mapped[str] = mapped_column(String(256))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    escalation_platform: Mapped[str] = mapped_column(String(16))
    escalation_channel: Mapped[str] = mapped_column(String(256))
    escalation_message_id: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    human_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

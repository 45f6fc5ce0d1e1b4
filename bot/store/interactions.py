"""Writing answers and votes to the log, each write retried while the failure may pass.

A write that still fails raises RecordError; bot.journal_records then keeps it in the
local journal and replays it when the database is back, so an outage costs delay, not data.
Replayed votes carry the time they were cast: one that a later vote or retraction has
already superseded is not applied again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.store.models import Interaction, InteractionPassage, PromptText, Vote
from bot.store.retries import RecordError, RetryPolicy, in_transaction
from bot.types import VoteOutcome, VoteSource, VoteStatus, VoteValue

__all__ = ["InteractionLog", "InteractionRecord", "PassageRecord", "RecordError"]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassageRecord:
    rank: int
    chunk_id: str
    doc_id: str
    title: str
    section: str
    version: str
    source: str
    acl: list[str]
    score: float
    text: str
    citation_marker: int | None = None


@dataclass(frozen=True)
class InteractionRecord:
    """One answered question, as the core hands it to the log."""

    id: str
    created_at: str  # ISO 8601, UTC: survives the journal unchanged
    platform: str
    channel: str
    user_id: str
    thread_id: str
    question: str
    rewritten_question: str
    scope_groups: list[str]
    answer_text: str
    kind: str
    abstained: bool
    answerer: str
    model: str
    latency_ms: float
    notice: str = ""
    error: str = ""
    system_prompt: str = ""
    user_prompt: str = ""
    prompt_version: int = 0
    passages: list[PassageRecord] = field(default_factory=list)
    asker_names: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InteractionRecord:
        fields = dict(data)
        passages = [PassageRecord(**p) for p in fields.pop("passages", [])]
        return cls(**fields, passages=passages)


class InteractionLog:
    def __init__(self, engine: Engine, policy: RetryPolicy | None = None) -> None:
        self.engine = engine
        self.policy = policy or RetryPolicy()
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- writing -------------------------------------------------------------------------

    def record(self, record: InteractionRecord) -> bool:
        """Write one interaction (again: a no-op); True, or RecordError when the database refuses."""
        what = f"recording interaction {record.id}"
        # IntegrityError: a concurrent answer stored the same new system prompt first (on
        # PostgreSQL both see it missing); the retry finds it and writes the answer.
        work = lambda session: self._insert(session, record)  # noqa: E731
        in_transaction(self._sessions, what, work, self.policy, also_retry=(IntegrityError,))
        return True

    @staticmethod
    def _insert(session: Session, record: InteractionRecord) -> None:
        if session.get(Interaction, record.id) is not None:
            return  # an earlier attempt committed before its connection dropped
        data = asdict(record)
        passages = data.pop("passages")
        system_prompt = data.pop("system_prompt")
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        if system_prompt:
            sha = hashlib.sha256(system_prompt.encode()).hexdigest()
            if session.get(PromptText, sha) is None:
                session.add(PromptText(sha256=sha, text=system_prompt))
                session.flush()
            data["system_prompt_sha256"] = sha
        interaction = Interaction(**data)
        interaction.passages = [
            InteractionPassage(**p, cited=p["citation_marker"] is not None) for p in passages
        ]
        session.add(interaction)

    # -- votes ---------------------------------------------------------------------------

    def vote(
        self,
        interaction_id: str,
        user: str,
        value: VoteValue,
        source: VoteSource,
        comment: str = "",
        cast_at: datetime | None = None,
    ) -> VoteOutcome:
        """Record a vote; `cast_at` (a replayed vote) skips it when a later one superseded it."""

        def work(session: Session) -> VoteOutcome:
            if session.get(Interaction, interaction_id) is None:
                return VoteOutcome(VoteStatus.NOT_FOUND, interaction_id)
            if cast_at is not None and self._superseded(session, interaction_id, user, cast_at):
                return VoteOutcome(VoteStatus.UNCHANGED, interaction_id, value)
            current = self._current_vote(session, interaction_id, user)
            if current is not None and current.value == value.value:
                if comment and comment != current.comment:
                    current.comment = comment
                return VoteOutcome(VoteStatus.UNCHANGED, interaction_id, value)
            status = VoteStatus.RECORDED
            when = cast_at or datetime.now(UTC)
            if current is not None:
                current.retracted_at = when
                session.flush()  # the partial unique index must see the retraction first
                status = VoteStatus.CHANGED
            session.add(
                Vote(
                    interaction_id=interaction_id,
                    user_id=user,
                    value=value.value,
                    source=source.value,
                    comment=comment,
                    created_at=when,
                )
            )
            return VoteOutcome(status, interaction_id, value)

        # A unique-index conflict means another replica voted for this user at the same moment:
        # the next attempt sees its row and resolves against it.
        what = f"recording a vote on {interaction_id}"
        return in_transaction(self._sessions, what, work, self.policy, also_retry=(IntegrityError,))

    def retract(
        self,
        interaction_id: str,
        user: str,
        value: VoteValue | None = None,
        retracted_at: datetime | None = None,
    ) -> VoteOutcome:
        """Retract `user`'s current vote (only if it is `value`, when given: a removed 👎
        reaction must not retract a 👍 cast later). `retracted_at`: as for `vote`'s `cast_at`."""

        def work(session: Session) -> VoteOutcome:
            if retracted_at is not None and self._superseded(session, interaction_id, user, retracted_at):
                return VoteOutcome(VoteStatus.NOT_FOUND, interaction_id, value)
            current = self._current_vote(session, interaction_id, user)
            if current is None or (value is not None and current.value != value.value):
                return VoteOutcome(VoteStatus.NOT_FOUND, interaction_id, value)
            current.retracted_at = retracted_at or datetime.now(UTC)
            return VoteOutcome(VoteStatus.RETRACTED, interaction_id, VoteValue(current.value))

        return in_transaction(self._sessions, f"retracting a vote on {interaction_id}", work, self.policy)

    @staticmethod
    def _superseded(session: Session, interaction_id: str, user: str, at: datetime) -> bool:
        """Something this user did on this answer at or after `at`: a replay is then stale
        (or is itself already applied, which makes a second replay change nothing)."""
        query = select(Vote.id).where(
            Vote.interaction_id == interaction_id,
            Vote.user_id == user,
            or_(Vote.created_at >= at, Vote.retracted_at >= at),
        )
        return session.execute(query.limit(1)).first() is not None

    @staticmethod
    def _current_vote(session: Session, interaction_id: str, user: str) -> Vote | None:
        query = select(Vote).where(
            Vote.interaction_id == interaction_id, Vote.user_id == user, Vote.retracted_at.is_(None)
        )
        return session.scalars(query.with_for_update()).first()

    # -- reading -------------------------------------------------------------------------

    def load(self, interaction_id: str) -> Interaction | None:
        """One interaction with its passages and votes, detached from the session."""
        with self._sessions() as session:
            query = (
                select(Interaction)
                .where(Interaction.id == interaction_id)
                .options(selectinload(Interaction.passages), selectinload(Interaction.votes))
            )
            return session.scalars(query).first()

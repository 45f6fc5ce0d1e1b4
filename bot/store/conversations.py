"""What chat adapters need from the database besides the log itself: which events were
already handled, which posted message carries which answer, and a thread's earlier turns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.store.database import read_only
from bot.store.models import AnswerMessage, ConversationRef, Interaction, ProcessedEvent
from bot.store.retries import RetryPolicy, in_transaction
from bot.types import AnswerKind, Turn


class ConversationStore:
    def __init__(self, engine: Engine, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Lookups take no write lock on SQLite: they go on while a writer (or an outage) holds it.
        self._reads = sessionmaker(read_only(engine), expire_on_commit=False)

    def claim_event(self, platform: str, event_id: str) -> bool:
        """True for the first delivery of an event, False for every redelivery (any process).
        RecordError when the database cannot say."""

        def work(session: Session) -> bool:
            if session.get(ProcessedEvent, (platform, event_id)) is not None:
                return False
            session.add(ProcessedEvent(platform=platform, event_id=event_id))
            return True

        # Two replicas claiming at once: the loser's insert conflicts, its retry sees the row.
        what = f"claiming event {event_id}"
        return in_transaction(self._sessions, what, work, self.policy, also_retry=(IntegrityError,))

    def is_claimed(self, platform: str, event_id: str) -> bool:
        """A read, no lock: may the database already hold this claim (during an outage)?"""
        with self._reads() as session:
            return session.get(ProcessedEvent, (platform, event_id)) is not None

    def attach_message(self, platform: str, channel: str, message_id: str, interaction_id: str) -> None:
        def work(session: Session) -> None:
            link = AnswerMessage(
                platform=platform, channel=channel, message_id=message_id, interaction_id=interaction_id
            )
            session.merge(link)

        in_transaction(self._sessions, f"linking message {message_id}", work, self.policy)

    def interaction_for_message(self, platform: str, channel: str, message_id: str) -> str | None:
        """The answer a message carries; None for messages that are not the bot's answers."""
        with self._reads() as session:
            found = session.get(AnswerMessage, (platform, channel, message_id))
            return found.interaction_id if found else None

    def remember_thread(self, platform: str, thread_id: str, reference: dict[str, Any]) -> None:
        """Keep (or refresh) how to post in a thread later."""
        with self._sessions.begin() as session:
            session.merge(ConversationRef(platform=platform, thread_id=thread_id, reference=reference))

    def thread_reference(self, platform: str, thread_id: str) -> dict[str, Any] | None:
        with self._reads() as session:
            found = session.get(ConversationRef, (platform, thread_id))
            return dict(found.reference) if found else None

    def thread_turns(self, platform: str, channel: str, thread_id: str, limit: int) -> tuple[Turn, ...]:
        """The last `limit` answered turns of a thread, oldest first (failures are no context)."""
        if not thread_id or limit <= 0:
            return ()
        query = (
            select(Interaction.question, Interaction.answer_text)
            .where(
                Interaction.platform == platform,
                Interaction.channel == channel,
                Interaction.thread_id == thread_id,
                Interaction.kind != AnswerKind.FAILED.value,
            )
            .order_by(Interaction.created_at.desc())
            .limit(limit)
        )
        with self._reads() as session:
            rows = session.execute(query).all()
        return tuple(Turn(question, answer) for question, answer in reversed(rows))

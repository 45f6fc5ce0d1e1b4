"""What chat adapters need from the database besides the log itself: which events were
already handled, which posted message carries which answer, and a thread's earlier turns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.store.models import AnswerMessage, ConversationRef, Interaction, ProcessedEvent
from bot.types import AnswerKind, Turn


class ConversationStore:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def claim_event(self, platform: str, event_id: str) -> bool:
        """True for the first delivery of an event, False for every redelivery (any process)."""
        try:
            with self._sessions.begin() as session:
                session.add(ProcessedEvent(platform=platform, event_id=event_id))
            return True
        except IntegrityError:
            return False

    def attach_message(self, platform: str, channel: str, message_id: str, interaction_id: str) -> None:
        with self._sessions.begin() as session:
            session.merge(
                AnswerMessage(
                    platform=platform, channel=channel, message_id=message_id, interaction_id=interaction_id
                )
            )

    def interaction_for_message(self, platform: str, channel: str, message_id: str) -> str | None:
        """The answer a message carries; None for messages that are not the bot's answers."""
        with self._sessions() as session:
            found = session.get(AnswerMessage, (platform, channel, message_id))
            return found.interaction_id if found else None

    def remember_thread(self, platform: str, thread_id: str, reference: dict[str, Any]) -> None:
        """Keep (or refresh) how to post in a thread later."""
        with self._sessions.begin() as session:
            session.merge(ConversationRef(platform=platform, thread_id=thread_id, reference=reference))

    def thread_reference(self, platform: str, thread_id: str) -> dict[str, Any] | None:
        with self._sessions() as session:
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
        with self._sessions() as session:
            rows = session.execute(query).all()
        return tuple(Turn(question, answer) for question, answer in reversed(rows))

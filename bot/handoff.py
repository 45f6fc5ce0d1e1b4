"""Handing a question to a person, and bringing their answer back.

The core decides who gets the question and what they may see: the escalation channel of
the first access group of the cited documents that has one (the people who own that
policy), else of the asker channel's groups, else the default. The escalation channel
must itself be allowed to read every quoted document: if it is not, only the question is
forwarded. One hand-off per interaction; the first reply in the escalation thread is the
human answer, recorded on the interaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from bot.settings import EscalationTarget, HandoffSettings
from bot.store.models import Handoff, Interaction
from knowledge.access import EVERY_CHANNEL, AccessPolicy


class HandoffStatus(StrEnum):
    REQUESTED = "requested"
    ALREADY = "already"  # someone pressed it before: nothing more happens
    NOT_FOUND = "not_found"
    NO_ESCALATION = "no_escalation"  # nobody configured for this question's groups


@dataclass(frozen=True)
class Source:
    title: str
    version: str
    source: str


@dataclass(frozen=True)
class HandoffRequest:
    """What the escalation channel is shown."""

    interaction_id: str
    target: EscalationTarget
    asker: str
    platform: str
    channel: str  # the asker's channel (scope) and thread, to link back and reply in
    thread_id: str
    question: str
    answer: str | None  # None: withheld, the escalation channel may not read what it quotes
    sources: tuple[Source, ...]
    abstained: bool


@dataclass(frozen=True)
class HandoffResult:
    status: HandoffStatus
    request: HandoffRequest | None = None


@dataclass(frozen=True)
class OpenHandoff:
    """A hand-off found from its escalation thread: where the human answer goes."""

    interaction_id: str
    platform: str
    channel: str
    thread_id: str
    already_answered: bool


class HandoffDesk:
    def __init__(self, engine: Engine, access: AccessPolicy, settings: HandoffSettings) -> None:
        self.engine, self.access, self.settings = engine, access, settings
        self._open_to_all = {g for g, channels in access.groups.items() if EVERY_CHANNEL in channels}

    def enabled(self, platform: str) -> bool:
        return self.settings.enabled(platform)

    def request(self, interaction_id: str, user: str) -> HandoffResult:
        with Session(self.engine) as session:
            interaction = session.scalars(
                select(Interaction)
                .where(Interaction.id == interaction_id)
                .options(selectinload(Interaction.passages))
            ).first()
            if interaction is None:
                return HandoffResult(HandoffStatus.NOT_FOUND)
            cited = [p for p in interaction.passages if p.cited]
            target = self._target(interaction.platform, interaction.channel, [p.acl or [] for p in cited])
            if target is None:
                return HandoffResult(HandoffStatus.NO_ESCALATION)
            readable = self.access.scope_for(target.channel).groups
            visible = all(readable.intersection(p.acl or []) for p in cited)
            request = HandoffRequest(
                interaction_id=interaction.id,
                target=target,
                asker=interaction.user_id,
                platform=interaction.platform,
                channel=interaction.channel,
                thread_id=interaction.thread_id,
                question=interaction.question,
                answer=interaction.answer_text if visible else None,
                sources=tuple(Source(p.title, p.version, p.source) for p in cited) if visible else (),
                abstained=interaction.abstained,
            )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(
                    Handoff(
                        interaction_id=interaction_id,
                        requested_by=user,
                        escalation_platform=target.platform,
                        escalation_channel=target.channel,
                    )
                )
        except IntegrityError:
            return HandoffResult(HandoffStatus.ALREADY)
        return HandoffResult(HandoffStatus.REQUESTED, request)

    def _target(self, platform: str, channel: str, acls: list[list[str]]) -> EscalationTarget | None:
        policy = self.access.scope_for(channel)
        # The documents' own groups first, the narrowest (not open to everyone) before the rest.
        open_to_all = self._open_to_all
        groups = [g for acl in acls for g in acl]
        ordered = [g for g in groups if g not in open_to_all] + [g for g in groups if g in open_to_all]
        ordered += sorted(g for g in policy.groups if g not in open_to_all) + sorted(
            policy.groups & open_to_all
        )
        for group in dict.fromkeys(ordered):
            found = self.settings.targets(group, platform)
            if found is not None:
                return found
        return self.settings.targets(None, platform)

    def escalated(self, interaction_id: str, message_id: str) -> None:
        """The escalation post is out: its id finds the hand-off when a person replies."""
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(Handoff)
                .where(Handoff.interaction_id == interaction_id)
                .values(escalation_message_id=message_id)
            )

    def release(self, interaction_id: str) -> None:
        """Posting to the escalation channel failed: the asker may press again."""
        with Session(self.engine) as session, session.begin():
            handoff = session.get(Handoff, interaction_id)
            if handoff is not None and handoff.escalation_message_id is None:
                session.delete(handoff)

    def find(self, platform: str, channel: str, message_id: str) -> OpenHandoff | None:
        """The hand-off whose escalation post is `message_id` in `channel`, if any."""
        with Session(self.engine) as session:
            row = session.execute(
                select(Handoff, Interaction)
                .join(Interaction, Interaction.id == Handoff.interaction_id)
                .where(
                    Handoff.escalation_platform == platform,
                    Handoff.escalation_channel == channel,
                    Handoff.escalation_message_id == message_id,
                )
            ).first()
            if row is None:
                return None
            handoff, interaction = row
            return OpenHandoff(
                interaction.id,
                interaction.platform,
                interaction.channel,
                interaction.thread_id,
                handoff.human_answer is not None,
            )

    def answered(self, interaction_id: str, text: str, by: str) -> bool:
        """Record the human answer; True only for the first reply (later ones are a conversation)."""
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                update(Handoff)
                .where(Handoff.interaction_id == interaction_id, Handoff.human_answer.is_(None))
                .values(human_answer=text, answered_by=by, answered_at=datetime.now(UTC))
            )
            return bool(getattr(result, "rowcount", 0) == 1)

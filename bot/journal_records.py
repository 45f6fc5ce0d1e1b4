"""The bot's writes: to the database, or to the local journal when the database cannot take
them, replayed in order once it can.

Every front end goes through here (claims of events, answers, the messages that carry
them, votes), so a database outage ends the same way everywhere: the person gets their
answer, a voter hears that the vote was kept for later, and nothing is lost. While any
entry waits in the journal, new writes queue behind it rather than overtake it: order is
kept, and only the first write of an outage waits for the database to time out.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.journal import Applied, Entry, EntryKind, Journal
from bot.store.conversations import ConversationStore
from bot.store.interactions import InteractionLog, InteractionRecord
from bot.store.retries import RecordError
from bot.types import VoteOutcome, VoteSource, VoteStatus, VoteValue

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Stored(StrEnum):
    DATABASE = "database"
    JOURNAL = "journal"  # written when the database is back
    LOST = "lost"  # neither the database nor the disk took it (logged)


class DurableRecords:
    def __init__(
        self, log: InteractionLog, conversations: ConversationStore, journal: Journal | None = None
    ) -> None:
        self.log = log
        self.conversations = conversations
        self.journal = journal  # None: failures reach the caller, as in one-off commands

    # -- claims --------------------------------------------------------------------------

    def claim_event(self, platform: str, event_id: str) -> bool:
        """True for the first delivery of an event. Never raises: when neither the database
        nor the journal can say, the event is handled (a rare double answer beats silence)."""
        journal = self.journal
        if journal is not None and journal.claimed(platform, event_id):
            return False
        if journal is None or not journal.has_pending():
            try:
                return self.conversations.claim_event(platform, event_id)
            except RecordError as error:
                if journal is None:
                    logger.error("%s; handling the event unclaimed", error)
                    return True
                logger.warning("%s; claim journalled", error)
        else:
            try:  # a redelivery of an event claimed before the outage, if the database can say
                if self.conversations.is_claimed(platform, event_id):
                    return False
            except SQLAlchemyError:
                pass
        try:
            return journal.claim(platform, event_id)
        except OSError as error:
            logger.error("the journal at %s refused a claim too: %s", journal.path, error)
            metrics.LOST_RECORDS.labels(EntryKind.CLAIM.value).inc()
            return True

    # -- answers -------------------------------------------------------------------------

    def record(self, record: InteractionRecord) -> Stored:
        # Also a row the database refuses for good is journalled: set aside for a person, not lost.
        apply = partial(self.log.record, record)
        stored, _ = self._write(EntryKind.INTERACTION, asdict(record), apply, permanent_too=True)
        return stored

    def attach_message(self, platform: str, channel: str, message_id: str, interaction_id: str) -> Stored:
        data = {"platform": platform, "channel": channel, "message_id": message_id}
        data["interaction_id"] = interaction_id
        apply = partial(self.conversations.attach_message, platform, channel, message_id, interaction_id)
        stored, _ = self._write(EntryKind.LINK, data, apply)
        return stored

    def interaction_for_message(self, platform: str, channel: str, message_id: str) -> str | None:
        """The answer a message carries (its link may still wait in the journal). Raises
        SQLAlchemyError when the database cannot be read."""
        if self.journal is not None:
            waiting = self.journal.answer_of(platform, channel, message_id)
            if waiting is not None:
                return waiting
        return self.conversations.interaction_for_message(platform, channel, message_id)

    # -- votes ---------------------------------------------------------------------------

    def vote(
        self,
        target: MessageRef | str,
        user: str,
        value: VoteValue,
        source: VoteSource,
        comment: str = "",
    ) -> VoteOutcome:
        """A vote on an answer (its interaction id, or the message that carries it)."""
        interaction_id = self._resolve(target)
        if interaction_id is None:
            return VoteOutcome(VoteStatus.NOT_FOUND, "", value)
        data = _target(target, interaction_id) | {"user": user, "value": value.value}
        data |= {"source": source.value, "comment": comment}
        apply = partial(self.log.vote, interaction_id, user, value, source, comment)
        return self._vote_outcome(EntryKind.VOTE, data, apply, interaction_id, value)

    def retract(self, target: MessageRef | str, user: str, value: VoteValue | None = None) -> VoteOutcome:
        interaction_id = self._resolve(target)
        if interaction_id is None:
            return VoteOutcome(VoteStatus.NOT_FOUND, "", value)
        data = _target(target, interaction_id) | {"user": user, "value": value.value if value else None}
        apply = partial(self.log.retract, interaction_id, user, value)
        return self._vote_outcome(EntryKind.RETRACT, data, apply, interaction_id, value)

    def _resolve(self, target: MessageRef | str) -> str | None:
        """The interaction id; "" when the database cannot say now (resolved on replay)."""
        if isinstance(target, str):
            return target
        try:
            return self.interaction_for_message(*target)
        except SQLAlchemyError as error:
            if self.journal is None:
                raise
            logger.warning("cannot look up message %s now (%s); the vote waits for replay", target[2], error)
            return ""

    def _vote_outcome(
        self,
        kind: EntryKind,
        data: dict[str, Any],
        apply: Callable[[], VoteOutcome],
        interaction_id: str,
        value: VoteValue | None,
    ) -> VoteOutcome:
        if not interaction_id:  # not resolvable now: straight to the journal
            stored = self._journal(kind, data)
            outcome = None
        else:
            try:
                stored, outcome = self._write(kind, data, apply)
            except RecordError as error:
                logger.error("%s", error)
                return VoteOutcome(VoteStatus.FAILED, interaction_id, value)
        if outcome is not None:
            return outcome
        status = VoteStatus.JOURNALLED if stored is Stored.JOURNAL else VoteStatus.FAILED
        return VoteOutcome(status, interaction_id, value)

    # -- the write path ------------------------------------------------------------------

    def _write(
        self, kind: EntryKind, data: dict[str, Any], apply: Callable[[], T], permanent_too: bool = False
    ) -> tuple[Stored, T | None]:
        journal = self.journal
        if journal is not None and journal.has_pending():
            return self._journal(kind, data), None  # behind what waits, never before it
        try:
            return Stored.DATABASE, apply()
        except RecordError as error:
            if journal is None or not (error.transient or permanent_too):
                raise
            logger.warning("%s; journalled for replay", error)
        return self._journal(kind, data), None

    def _journal(self, kind: EntryKind, data: dict[str, Any]) -> Stored:
        if self.journal is None:
            return Stored.LOST
        try:
            self.journal.append(kind, data)
            return Stored.JOURNAL
        except OSError as error:
            logger.error("the journal at %s refused a %s too: %s", self.journal.path, kind.value, error)
            metrics.LOST_RECORDS.labels(kind.value).inc()
            return Stored.LOST

    # -- replay --------------------------------------------------------------------------

    def replay(self) -> int:
        """Write what waits in the journal, in order; the number of entries written."""
        if self.journal is None or not self.journal.has_pending():
            return 0
        written = self.journal.replay(self._apply)
        if written:
            logger.info("replayed %d journalled write(s)", written)
        return written

    async def keep_replaying(self, interval_s: float) -> None:
        """`serve`'s background task: replay whenever the journal holds entries."""
        while True:
            await asyncio.sleep(interval_s)
            if self.journal is None or not self.journal.has_pending():
                continue
            try:
                await asyncio.to_thread(self.replay)
            except Exception:  # a bug in one round must not end replay for good
                logger.exception("replaying the journal failed")

    def _apply(self, entry: Entry) -> Applied:
        data = entry.data
        at = datetime.fromisoformat(entry.at)
        try:
            if entry.kind is EntryKind.CLAIM:
                self.conversations.claim_event(data["platform"], data["event_id"])
            elif entry.kind is EntryKind.INTERACTION:
                self.log.record(InteractionRecord.from_json(data))
            elif entry.kind is EntryKind.LINK:
                keys = ("platform", "channel", "message_id", "interaction_id")
                self.conversations.attach_message(*(data[k] for k in keys))
            else:
                interaction_id = data["interaction_id"] or self.conversations.interaction_for_message(
                    data["platform"], data["channel"], data["message_id"]
                )
                if interaction_id is None:
                    return Applied.DONE  # a reaction on some other message: nothing to record
                value = VoteValue(data["value"]) if data["value"] else None
                if entry.kind is EntryKind.VOTE:
                    assert value is not None
                    source = VoteSource(data["source"])
                    self.log.vote(interaction_id, data["user"], value, source, data["comment"], cast_at=at)
                else:
                    self.log.retract(interaction_id, data["user"], value, retracted_at=at)
        except RecordError as error:
            if error.transient:
                return Applied.DEFERRED
            logger.error("journal entry %d rejected: %s", entry.seq, error)
            return Applied.REJECTED
        except SQLAlchemyError:  # the message lookup: the database is still down
            return Applied.DEFERRED
        except (KeyError, TypeError, ValueError) as error:
            logger.error("journal entry %d unreadable: %s", entry.seq, error)
            return Applied.REJECTED
        return Applied.DONE

    def adopt_spool(self, spool: Path) -> None:
        """Answers an earlier version kept in `unrecorded-interactions.jsonl`: into the journal."""
        if self.journal is None or not spool.exists():
            return
        for line in spool.read_text().splitlines():
            if line.strip():
                try:
                    self.journal.append(EntryKind.INTERACTION, json.loads(line))
                except ValueError:
                    logger.error("unreadable line of %s left in %s.bad", spool, spool)
                    with open(f"{spool}.bad", "a") as bad:
                        bad.write(line + "\n")
        spool.unlink()


MessageRef = tuple[str, str, str]  # platform, channel, message id


def _target(target: MessageRef | str, interaction_id: str) -> dict[str, Any]:
    if isinstance(target, str) or interaction_id:
        return {"interaction_id": interaction_id}
    platform, channel, message_id = target
    return {"interaction_id": "", "platform": platform, "channel": channel, "message_id": message_id}

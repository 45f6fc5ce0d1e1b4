"""Writing answers and votes to the log, with retries and a spool so nothing is lost.

An answer that cannot be written after a few attempts is appended to a JSON-lines spool
file in the data directory and replayed at the next start, so a database outage costs
nothing but delay. Votes are retried too; if they still fail, the caller is told (the
user can vote again), because a vote replayed hours later could override a newer one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.store.models import Interaction, InteractionPassage, PromptText, Vote
from bot.types import VoteOutcome, VoteSource, VoteStatus, VoteValue

logger = logging.getLogger(__name__)
T = TypeVar("T")


class RecordError(RuntimeError):
    """The database refused a write after every retry (`transient`), or for good."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


def _reason(error: Exception) -> str:
    # The driver's own message; SQLAlchemy's wrapper appends the SQL and its parameters.
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


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
    created_at: str  # ISO 8601, UTC: survives the JSON spool unchanged
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
    def __init__(
        self, engine: Engine, spool: Path | None = None, attempts: int = 4, backoff_s: float = 0.25
    ) -> None:
        self.engine = engine
        self.spool = spool
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- writing -------------------------------------------------------------------------

    def _retrying(
        self, what: str, work: Callable[[Session], T], also_retry: tuple[type[Exception], ...] = ()
    ) -> T:
        """Run `work` in a transaction; retry what may pass on its own (a dropped connection,
        a locked database, a failover), not what never will (a constraint, bad data)."""
        transient: tuple[type[Exception], ...] = (OperationalError, InterfaceError, *also_retry)
        for attempt in range(1, self.attempts + 1):
            try:
                with self._sessions.begin() as session:
                    return work(session)
            except transient as error:
                if attempt == self.attempts:
                    raise RecordError(f"{what}: {type(error).__name__}: {_reason(error)}") from error
                logger.warning("%s failed (attempt %d/%d): %s", what, attempt, self.attempts, _reason(error))
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            except SQLAlchemyError as error:
                message = f"{what}: {type(error).__name__}: {_reason(error)}"
                raise RecordError(message, transient=False) from error
        raise AssertionError("unreachable")

    def record(self, record: InteractionRecord) -> bool:
        """Write one interaction; True when it is in the database, False when it was spooled."""
        try:
            self._retrying(f"recording interaction {record.id}", lambda s: self._insert(s, record))
            return True
        except RecordError as error:
            if self.spool is None:
                raise
            self._append_to_spool(record)
            logger.error("%s; kept in %s for the next start", error, self.spool)
            return False

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

    def _append_to_spool(self, record: InteractionRecord) -> None:
        assert self.spool is not None
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(record), ensure_ascii=False) + "\n").encode()
        # One O_APPEND write per record: concurrent writers never interleave lines.
        fd = os.open(self.spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def replay_spool(self) -> int:
        """Write spooled interactions (from an earlier outage); returns how many were written.

        Lines that cannot be read go to `<spool>.bad` for a person to look at; records that
        still cannot be written go back to the spool. Nothing is dropped.
        """
        if self.spool is None:
            return 0
        claimed = self.spool.with_name(f"{self.spool.name}.{os.getpid()}.replay")
        # Nothing spooled, or another process claimed it first: both fine.
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.spool, claimed)  # new failures go to a fresh spool meanwhile
        written = 0
        # Ours, and any left by a process that died mid-replay. A live replayer holds a lock
        # on its file (released by the kernel if it dies), so no file is replayed twice at once.
        for path in sorted(self.spool.parent.glob(f"{self.spool.name}.*.replay")):
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                if path.exists():  # not finished by another process just before we locked
                    written += self._replay_file(path)
        if written:
            logger.info("replayed %d spooled interactions", written)
        return written

    def _replay_file(self, path: Path) -> int:
        written = 0
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                record = InteractionRecord.from_json(json.loads(line))
            except (ValueError, TypeError) as error:
                logger.error("unreadable spooled interaction moved to %s.bad: %s", self.spool, error)
                with open(f"{self.spool}.bad", "a") as bad:
                    bad.write(line + "\n")
                continue
            try:
                self._retrying(f"replaying interaction {record.id}", partial(self._insert, record=record))
                written += 1
            except RecordError as error:
                if error.transient:
                    self._append_to_spool(record)  # still down: keep it for the next start
                else:
                    logger.error("%s; moved to %s.bad", error, self.spool)
                    with open(f"{self.spool}.bad", "a") as bad:
                        bad.write(line + "\n")
        path.unlink()
        return written

    # -- votes ---------------------------------------------------------------------------

    def vote(
        self, interaction_id: str, user: str, value: VoteValue, source: VoteSource, comment: str = ""
    ) -> VoteOutcome:
        def work(session: Session) -> VoteOutcome:
            if session.get(Interaction, interaction_id) is None:
                return VoteOutcome(VoteStatus.NOT_FOUND, interaction_id)
            current = self._current_vote(session, interaction_id, user)
            if current is not None and current.value == value.value:
                if comment and comment != current.comment:
                    current.comment = comment
                return VoteOutcome(VoteStatus.UNCHANGED, interaction_id, value)
            status = VoteStatus.RECORDED
            if current is not None:
                current.retracted_at = datetime.now(UTC)
                session.flush()  # the partial unique index must see the retraction first
                status = VoteStatus.CHANGED
            session.add(
                Vote(
                    interaction_id=interaction_id,
                    user_id=user,
                    value=value.value,
                    source=source.value,
                    comment=comment,
                )
            )
            return VoteOutcome(status, interaction_id, value)

        # A unique-index conflict means another replica voted for this user at the same moment:
        # the next attempt sees its row and resolves against it.
        return self._retrying(f"recording a vote on {interaction_id}", work, also_retry=(IntegrityError,))

    def retract(self, interaction_id: str, user: str, value: VoteValue | None = None) -> VoteOutcome:
        """Retract `user`'s current vote (only if it is `value`, when given: a removed 👎
        reaction must not retract a 👍 cast later)."""

        def work(session: Session) -> VoteOutcome:
            current = self._current_vote(session, interaction_id, user)
            if current is None or (value is not None and current.value != value.value):
                return VoteOutcome(VoteStatus.NOT_FOUND, interaction_id, value)
            current.retracted_at = datetime.now(UTC)
            return VoteOutcome(VoteStatus.RETRACTED, interaction_id, VoteValue(current.value))

        return self._retrying(f"retracting a vote on {interaction_id}", work)

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

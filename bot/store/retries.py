"""One transaction, retried while the failure may pass on its own (tenacity), for every write.

A dropped connection, a locked SQLite file or a PostgreSQL failover are retried with
exponential back-off, for a bounded time: past it the caller journals the write
(bot.journal_records) instead of keeping a person waiting. A constraint or bad data never
passes on its own and fails at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


class RecordError(RuntimeError):
    """The database refused a write after every retry (`transient`), or for good."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff_s: float = 0.25  # then twice as long each time
    # One SQLite attempt can wait its whole busy_timeout (10 s): past this, no new attempt.
    give_up_s: float = 5.0


def reason(error: BaseException) -> str:
    # The driver's own message; SQLAlchemy's wrapper appends the SQL and its parameters.
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def in_transaction(
    sessions: sessionmaker[Session],
    what: str,
    work: Callable[[Session], T],
    policy: RetryPolicy,
    also_retry: tuple[type[Exception], ...] = (),
) -> T:
    """Run `work` in a transaction; RecordError when it cannot be done (now or ever)."""
    transient: tuple[type[Exception], ...] = (OperationalError, InterfaceError, *also_retry)

    def warn(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning("%s failed (attempt %d): %s", what, state.attempt_number, reason(error or Exception()))

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.give_up_s),
        wait=wait_exponential(multiplier=policy.backoff_s),
        retry=retry_if_exception_type(transient),
        before_sleep=warn,
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt, sessions.begin() as session:
                return work(session)
    except transient as error:
        raise RecordError(f"{what}: {type(error).__name__}: {reason(error)}") from error
    except SQLAlchemyError as error:
        raise RecordError(f"{what}: {type(error).__name__}: {reason(error)}", transient=False) from error
    raise AssertionError("unreachable: tenacity returns or raises")

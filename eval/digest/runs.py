"""Each week's digest is posted once per leads' target, however many replicas run `serve`.

The first replica to insert (week, target) owns it; the primary key turns the race into
an IntegrityError for the others. A claim whose owner died before posting (no posted_at
after `retry_after`) can be taken over, by a conditional update only one replica wins.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models import DigestRun
from eval.digest.week import Week

RETRY_AFTER = timedelta(hours=1)


def whoami() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(engine: Engine, week: Week, target: str, retry_after: timedelta = RETRY_AFTER) -> bool:
    """True when this process should build and post `week`'s digest for `target`."""
    now = datetime.now(UTC)
    try:
        with Session(engine) as session, session.begin():
            session.add(DigestRun(week=str(week), target=target, claimed_at=now, claimed_by=whoami()))
        return True
    except IntegrityError:
        pass
    with Session(engine) as session, session.begin():
        run = session.get(DigestRun, (str(week), target))
        if run is None or run.posted_at is not None or run.claimed_at > now - retry_after:
            return False
        taken = session.execute(
            update(DigestRun)
            .where(DigestRun.week == str(week), DigestRun.target == target)
            .where(DigestRun.claimed_at == run.claimed_at, DigestRun.posted_at.is_(None))
            .values(claimed_at=now, claimed_by=whoami())
        )
        return cast(CursorResult[Any], taken).rowcount == 1


def record(engine: Engine, week: Week, target: str, summary: dict[str, Any], posted: bool) -> None:
    """Store the digest's summary (next week's deltas), and when it was posted."""
    with Session(engine) as session, session.begin():
        run = session.get(DigestRun, (str(week), target))
        if run is None:
            run = DigestRun(week=str(week), target=target, claimed_by=whoami())
            session.add(run)
        run.summary = summary
        if posted:
            run.posted_at = datetime.now(UTC)


def keep_claim(engine: Engine, week: Week, target: str) -> bool:
    """Renew this process's unposted claim (a long build must not look like a dead owner)."""
    with Session(engine) as session, session.begin():
        kept = session.execute(
            update(DigestRun)
            .where(DigestRun.week == str(week), DigestRun.target == target)
            .where(DigestRun.claimed_by == whoami(), DigestRun.posted_at.is_(None))
            .values(claimed_at=datetime.now(UTC))
        )
        return cast(CursorResult[Any], kept).rowcount == 1


def posted_at(engine: Engine, week: Week, target: str) -> datetime | None:
    with Session(engine) as session:
        run = session.get(DigestRun, (str(week), target))
        return run.posted_at if run else None


def release(engine: Engine, week: Week, target: str) -> None:
    """Give up an unposted claim (posting failed): the next tick may try again."""
    with Session(engine) as session, session.begin():
        run = session.get(DigestRun, (str(week), target))
        if run is not None and run.posted_at is None:
            session.delete(run)


def previous_quality(engine: Engine, week: Week, target: str) -> dict[str, dict[str, float]] | None:
    with Session(engine) as session:
        run = session.get(DigestRun, (str(week.previous), target))
        if run is None or not run.summary:
            return None
        quality = run.summary.get("quality")
        return quality if isinstance(quality, dict) and quality else None

"""Following up answers whose policy changed: when a document version is replaced or removed,
threads answered from the old version in the last N days get one notice each.

Changes are found by comparing what recent answers cited with the current catalogue, not
by listening for ingest events: a scan finds every change however it happened (a chat
post, the CLI, another replica) and can run again at any time. The change_notices table
makes each (thread, document, new version) notice happen once, across reruns and replicas.

The notice says which policy changed (title, old and new version, effective date) and
carries a fresh answer to the same question under the same channel's access rules; when
the document is gone, or the channel may no longer see it, it only says the earlier
answer no longer stands, quoting nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core import SupportBot
from bot.store.models import ChangeNotice, Interaction, InteractionPassage
from bot.types import Answer, Platform, Question
from knowledge.types import DocumentInfo

FOLLOWED_PLATFORMS = (Platform.SLACK.value, Platform.TEAMS.value)


@dataclass(frozen=True)
class DocumentChange:
    doc_id: str
    title: str
    old_version: str
    new_version: str | None  # None: removed
    effective_date: str = ""


@dataclass(frozen=True)
class StaleThread:
    """The latest answer in a thread that cited a version since replaced or removed."""

    platform: str
    channel: str
    thread_id: str
    interaction_id: str
    user_id: str
    question: str
    asked_at: datetime
    change: DocumentChange


@dataclass(frozen=True)
class Notice:
    thread: StaleThread
    text: str  # the heading: what changed, and what that means for the earlier answer
    answer: Answer | None  # the fresh answer; None when the earlier one simply no longer stands


def stale_threads(
    engine: Engine,
    catalogue: Mapping[str, DocumentInfo],
    days: int,
    off_channels: Collection[str] = (),
    now: datetime | None = None,
) -> list[StaleThread]:
    """Threads of the last `days` whose answer cited a document version that is no longer
    current, without a notice yet: oldest first, one per thread and document."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    query = (
        select(
            Interaction.platform,
            Interaction.channel,
            Interaction.thread_id,
            Interaction.id,
            Interaction.user_id,
            Interaction.question,
            Interaction.created_at,
            InteractionPassage.doc_id,
            InteractionPassage.version,
            InteractionPassage.title,
        )
        .join(InteractionPassage, InteractionPassage.interaction_id == Interaction.id)
        .where(Interaction.created_at >= since, InteractionPassage.cited.is_(True))
        .where(Interaction.platform.in_(FOLLOWED_PLATFORMS), Interaction.thread_id != "")
        .order_by(Interaction.created_at, Interaction.id)
    )
    latest: dict[tuple[str, str, str, str], StaleThread] = {}
    with Session(engine) as session:
        for platform, channel, thread, iid, user, question, asked, doc_id, version, title in session.execute(
            query
        ):
            if channel in off_channels:
                continue
            current = catalogue.get(doc_id)
            key = (platform, channel, thread, doc_id)
            if current is not None and current.version == version:
                latest.pop(key, None)  # a later answer in the thread already cited the current version
                continue
            change = DocumentChange(
                doc_id,
                current.title if current else title,
                version,
                current.version if current else None,
                current.effective_date if current else "",
            )
            latest[key] = StaleThread(platform, channel, thread, iid, user, question, asked, change)
        # An answer is followed up once per document: a thread told its answer no longer
        # stands is not told again when the document later goes altogether.
        done = {
            (n.old_interaction_id, n.doc_id)
            for n in session.scalars(select(ChangeNotice).where(ChangeNotice.created_at >= since))
        }
    return [t for t in latest.values() if (t.interaction_id, t.change.doc_id) not in done]


def claim(engine: Engine, thread: StaleThread) -> bool:
    """True for the one process that should post this notice."""
    try:
        with Session(engine) as session, session.begin():
            session.add(
                ChangeNotice(
                    platform=thread.platform,
                    channel=thread.channel,
                    thread_id=thread.thread_id,
                    doc_id=thread.change.doc_id,
                    new_version=thread.change.new_version or "",
                    old_interaction_id=thread.interaction_id,
                )
            )
        return True
    except IntegrityError:
        return False


def mark_posted(engine: Engine, thread: StaleThread) -> None:
    key = (
        thread.platform,
        thread.channel,
        thread.thread_id,
        thread.change.doc_id,
        thread.change.new_version or "",
    )
    with Session(engine) as session, session.begin():
        notice = session.get(ChangeNotice, key)
        if notice is not None:
            notice.posted_at = datetime.now(UTC)


def release(engine: Engine, thread: StaleThread) -> None:
    """Posting failed: the next scan tries again."""
    key = (
        thread.platform,
        thread.channel,
        thread.thread_id,
        thread.change.doc_id,
        thread.change.new_version or "",
    )
    with Session(engine) as session, session.begin():
        notice = session.get(ChangeNotice, key)
        if notice is not None and notice.posted_at is None:
            session.delete(notice)


def compose(bot: SupportBot, thread: StaleThread, audience: Collection[str] | None) -> Notice:
    """The notice for `thread`; `audience` is the new version's groups (None when removed)."""
    change = thread.change
    if change.new_version is None:
        text = (
            f"Update: {change.title} (version {change.old_version}), which my earlier answer here "
            "was based on, has been withdrawn. That answer no longer stands."
        )
        return Notice(thread, text, None)
    effective = f", in effect from {change.effective_date}" if change.effective_date else ""
    heading = f"Update: {change.title} changed from version {change.old_version} to {change.new_version}{effective}."
    scope = bot.kb.scope_for(thread.channel)
    if not scope.groups.intersection(audience or ()):
        # The new version is not for this channel: say so without quoting any of it.
        return Notice(thread, f"{heading} My earlier answer here no longer stands.", None)
    fresh = bot.answer(
        Question(thread.question, Platform(thread.platform), thread.channel, thread.user_id, thread.thread_id)
    )
    return Notice(thread, f"{heading} Here is a fresh answer to the question:", fresh)

"""Following up answers whose policy changed, for `serve` (a background scan) and for
`app.py notify-changes` (once, or as a dry run). The core finds and words the notices
(bot.changes); this posts them, at most `notices.per_minute` a minute."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.notices import post_notice as post_slack_notice
from adapters.teams.notices import TeamsNotices
from adapters.teams.notices import post_notice as post_teams_notice
from bot import changes
from bot.changes import Notice, StaleThread
from bot.core import SupportBot
from bot.settings import NoticeSettings
from bot.store.conversations import ConversationStore
from knowledge.types import DocumentInfo

logger = logging.getLogger(__name__)


class ChangeFollowUp:
    def __init__(
        self,
        bot: SupportBot,
        documents: Callable[[], list[DocumentInfo]],
        settings: NoticeSettings,
        slack: AsyncWebClient | None = None,
        teams: TeamsNotices | None = None,
    ) -> None:
        self.bot, self.documents, self.settings, self.slack, self.teams = (
            bot,
            documents,
            settings,
            slack,
            teams,
        )
        self.engine = bot.log.engine
        self.conversations = ConversationStore(self.engine)

    def plan(self, now: datetime | None = None) -> tuple[list[StaleThread], dict[str, DocumentInfo]]:
        catalogue = {d.doc_id: d for d in self.documents()}
        found = changes.stale_threads(
            self.engine, catalogue, self.settings.days, self.settings.off_channels, now
        )
        return found, catalogue

    async def run_once(self, now: datetime | None = None) -> list[Notice]:
        """Post every notice due; returns those posted by this process."""
        threads, catalogue = await asyncio.to_thread(self.plan, now)
        posted: list[Notice] = []
        for thread in threads:
            reference = None
            if thread.platform == "teams":
                reference = await asyncio.to_thread(
                    self.conversations.thread_reference, "teams", thread.thread_id
                )
            if not self._can_post(thread, reference):
                continue
            if not await asyncio.to_thread(changes.claim, self.engine, thread):
                continue  # another replica, or an earlier run
            current = catalogue.get(thread.change.doc_id)
            try:
                notice = await asyncio.to_thread(
                    changes.compose, self.bot, thread, current.audience if current else None
                )
                where, message = await self._post(notice, reference)
            except BaseException:
                await asyncio.shield(asyncio.to_thread(changes.release, self.engine, thread))
                raise
            await asyncio.to_thread(changes.mark_posted, self.engine, thread)
            fresh = notice.answer
            if fresh is not None and fresh.interaction_id and fresh.recorded and message:
                # Votes on the fresh answer count like votes on any other.
                await asyncio.to_thread(
                    self.conversations.attach_message, thread.platform, where, message, fresh.interaction_id
                )
            posted.append(notice)
            logger.info("change notice for %s posted in %s", thread.change.doc_id, thread.thread_id)
            await asyncio.sleep(60 / self.settings.per_minute)
        return posted

    def _can_post(self, thread: StaleThread, reference: dict[str, object] | None) -> bool:
        if thread.platform == "slack" and self.slack is not None:
            return True
        if thread.platform == "teams" and self.teams is not None and reference is not None:
            return True
        why = "no conversation reference kept" if self.teams is not None else "not configured"
        logger.info("no notice for %s thread %s: %s", thread.platform, thread.thread_id, why)
        return False

    async def _post(self, notice: Notice, reference: dict[str, object] | None) -> tuple[str, str | None]:
        if notice.thread.platform == "slack":
            assert self.slack is not None
            return await post_slack_notice(self.slack, notice)
        assert self.teams is not None and reference is not None
        return await post_teams_notice(self.teams, reference, notice)

    async def run(self) -> None:
        while True:
            try:
                await self.run_once(datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("following up changed policies failed; retrying later")
            await asyncio.sleep(self.settings.scan_interval_s)

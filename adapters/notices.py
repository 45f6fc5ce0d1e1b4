"""Following up answers whose policy changed, for `serve` (a background scan) and for
`app.py notify-changes` (once, or as a dry run). The core finds and words the notices
(bot.changes); this posts them, at most `notices.per_minute` a minute."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.notices import post_notice
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
    ) -> None:
        self.bot, self.documents, self.settings, self.slack = bot, documents, settings, slack
        self.engine = bot.log.engine

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
            if thread.platform != "slack" or self.slack is None:
                # Teams threads need the conversation reference to post proactively: not yet kept.
                logger.info(
                    "no notice for %s thread %s: platform not followed up", thread.platform, thread.thread_id
                )
                continue
            if not await asyncio.to_thread(changes.claim, self.engine, thread):
                continue  # another replica, or an earlier run
            current = catalogue.get(thread.change.doc_id)
            try:
                notice = await asyncio.to_thread(
                    changes.compose, self.bot, thread, current.audience if current else None
                )
                channel, ts = await post_notice(self.slack, notice)
            except BaseException:
                await asyncio.shield(asyncio.to_thread(changes.release, self.engine, thread))
                raise
            await asyncio.to_thread(changes.mark_posted, self.engine, thread)
            if notice.answer is not None and notice.answer.interaction_id and notice.answer.recorded:
                store = ConversationStore(self.engine)  # votes on the fresh answer count like any other
                await asyncio.to_thread(
                    store.attach_message, "slack", channel, ts, notice.answer.interaction_id
                )
            posted.append(notice)
            logger.info("change notice for %s posted in %s", thread.change.doc_id, thread.thread_id)
            await asyncio.sleep(60 / self.settings.per_minute)
        return posted

    async def run(self) -> None:
        while True:
            try:
                await self.run_once(datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("following up changed policies failed; retrying later")
            await asyncio.sleep(self.settings.scan_interval_s)

"""Building and posting the weekly digests, for `app.py digest` and for `serve`'s schedule.

The digest itself is decided in eval.digest; here it meets the platforms: links to the
posted answers, the Slack and Teams clients, and the claim that makes a week's digest go
out once however many replicas run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from botbuilder.integration.aiohttp import CloudAdapter
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from adapters.slack import digest as slack_digest
from adapters.teams import digest as teams_digest
from adapters.teams.auth import BotAuthentication
from bot.core import SupportBot
from bot.settings import DigestSettings, DigestTarget, Settings
from bot.store.database import read_only
from bot.store.models import AnswerMessage, Interaction
from eval.digest import DigestError, runs
from eval.digest.build import ALL, Digest, QualityProvider, build_digest
from eval.digest.numbers import EVERY_CHANNEL, LinkMaker
from eval.digest.ragas_provider import DigestRagas
from eval.digest.week import Week
from knowledge.types import DocumentInfo

logger = logging.getLogger(__name__)
RECORD_ATTEMPTS, RECORD_BACKOFF_S = 4, 0.5  # the digest is out: try hard to write that down


class DigestKnowledge(Protocol):
    embed_model: Any  # a LlamaIndex embedding model

    def list_documents(self) -> list[DocumentInfo]: ...


@dataclass(frozen=True)
class TeamsPoster:
    adapter: CloudAdapter
    app_id: str
    tenants: frozenset[str]


@dataclass(frozen=True)
class Outcome:
    target: str
    week: Week
    posted: bool
    detail: str  # where it went, or why not
    digest: Digest | None = None
    elsewhere: bool = False  # another instance has posted it already


def answer_links(
    settings: DigestSettings, engine: Engine, lead: DigestTarget | None = None, tenant: str | None = None
) -> LinkMaker:
    """Links from the digest to posted answers: Slack needs the workspace URL; Teams the
    thread the answer is in (from the log), the tenant and, for the team, the `lead`."""

    def link(platform: str, channel: str, message_id: str) -> str | None:
        if platform == "slack" and settings.slack_workspace_url:
            base = settings.slack_workspace_url.rstrip("/")
            return f"{base}/archives/{channel}/p{message_id.replace('.', '')}"
        if platform == "teams":
            thread = _teams_thread(engine, channel, message_id)
            team = lead.team_id if lead else None
            return teams_digest.answer_link(channel, message_id, thread, tenant, team) if thread else None
        return None

    return link


def _teams_thread(engine: Engine, channel: str, message_id: str) -> str | None:
    """The thread (conversation id) a Teams answer message was posted in. Read-only: this runs
    while the digest's own session is open, which on SQLite holds the write lock."""
    query = (
        select(Interaction.thread_id)
        .join(AnswerMessage, AnswerMessage.interaction_id == Interaction.id)
        .where(
            AnswerMessage.platform == "teams",
            AnswerMessage.channel == channel,
            AnswerMessage.message_id == message_id,
        )
    )
    with Session(read_only(engine)) as session:
        return session.scalar(query)


class DigestPublisher:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        documents: Callable[[], dict[str, DocumentInfo]],
        embed: Callable[[list[str]], np.ndarray] | None = None,
        quality: QualityProvider | None = None,
        slack: AsyncWebClient | None = None,
        teams: TeamsPoster | None = None,
    ) -> None:
        self.settings, self.engine = settings, engine
        self.digest_settings = settings.file.digest
        self.documents, self.embed, self.quality = documents, embed, quality
        self.slack, self.teams = slack, teams
        self.out = settings.data_dir / "digests"
        self._pending: dict[tuple[Week, str], dict[str, Any]] = {}  # posted, not yet recorded
        self.claim_refresh_s = runs.RETRY_AFTER.total_seconds() / 6
        self.private_channels = (
            settings.file.slack.dm_scope_channel,
            settings.file.teams.personal_scope_channel,
        )

    def targets(self, only: str | None = None) -> list[DigestTarget | None]:
        """The configured leads (or the one named); None stands for one digest of every channel."""
        leads = self.digest_settings.leads
        if only is not None:
            found = [t for t in leads if t.name == only]
            if not found:
                names = ", ".join(t.name for t in leads) or "none configured"
                raise DigestError(f"no digest.leads entry named {only!r} (known: {names})")
            return list(found)
        return list(leads) or [None]

    def build(self, week: Week, target: DigestTarget | None, out: Path | None = None) -> Digest:
        return build_digest(
            self.engine,
            week,
            target.name if target else ALL,
            target.covers if target else [EVERY_CHANNEL],
            self.documents(),
            self.digest_settings,
            out or self.out,
            embed=self.embed,
            link=answer_links(self.digest_settings, self.engine, target, self._tenant(target)),
            quality=self.quality,
            # A lead's "*" leaves out direct messages; the local all-channel digest does not.
            private=self.private_channels if target else (),
        )

    async def post(self, digest: Digest, target: DigestTarget) -> str:
        if target.platform == "slack":
            if self.slack is None:
                raise DigestError(f"digest.leads {target.name}: Slack is not configured (SLACK_BOT_TOKEN)")
            ts = await slack_digest.post_digest(self.slack, target.channel, digest)
            return f"Slack {target.channel} (ts {ts})"
        if self.teams is None:
            raise DigestError(f"digest.leads {target.name}: Teams is not configured (MICROSOFT_APP_ID)")
        tenant = self._tenant(target)
        if tenant is None:
            raise DigestError(f"digest.leads {target.name}: set tenant_id (the bot allows several tenants)")
        conversation = await teams_digest.post_digest(
            self.teams.adapter,
            self.teams.app_id,
            self.digest_settings.teams_service_url,
            tenant,
            target.channel,
            digest,
        )
        return f"Teams {target.channel} ({conversation})"

    def _tenant(self, target: DigestTarget | None) -> str | None:
        """The lead's Teams tenant, or the bot's only allowed one."""
        if target is not None and target.tenant_id:
            return target.tenant_id
        tenants = self.teams.tenants if self.teams is not None else frozenset()
        return next(iter(tenants)) if len(tenants) == 1 else None

    async def publish(
        self, week: Week, target: DigestTarget, force: bool = False, out: Path | None = None
    ) -> Outcome:
        """Claim the week, build (in a thread: charts and RAGAS are CPU work), post, record."""
        await self.record_pending()
        claimed = await asyncio.to_thread(runs.claim, self.engine, week, target.name)
        if not claimed and not force:
            when = await asyncio.to_thread(runs.posted_at, self.engine, week, target.name)
            detail = f"already posted {when:%Y-%m-%d %H:%M} UTC" if when else "another instance is posting it"
            return Outcome(target.name, week, False, detail, elsewhere=when is not None)
        heartbeat = asyncio.create_task(self._keep_claim(week, target)) if claimed else None
        try:
            digest = await asyncio.to_thread(self.build, week, target, out)
            where = await self.post(digest, target)
        except BaseException:  # also cancelled (serve stopping): the week may be claimed again
            if claimed:  # a forced post must not drop the claim of the replica that holds it
                await asyncio.shield(asyncio.to_thread(runs.release, self.engine, week, target.name))
            raise
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
        # Posted: from here on the claim is never released, or the week would go out twice.
        self._pending[(week, target.name)] = digest.summary
        await self.record_pending()
        logger.info("digest %s for %s posted to %s", week, target.name, where)
        return Outcome(target.name, week, True, where, digest)

    async def _keep_claim(self, week: Week, target: DigestTarget) -> None:
        """While a digest builds (RAGAS with a slow judge can take long), renew the claim well
        before it would expire, so no other replica takes it over and posts the week too."""
        while True:
            await asyncio.sleep(self.claim_refresh_s)
            try:
                await asyncio.to_thread(runs.keep_claim, self.engine, week, target.name)
            except Exception:
                logger.warning("could not renew the claim on digest %s for %s", week, target.name)

    async def record_pending(self) -> None:
        """Record posted digests as posted. Retried here and at every later publish (each
        scheduler tick) until the database takes it: an unrecorded claim would expire and
        the week would be posted again."""
        for (week, name), summary in list(self._pending.items()):
            for attempt in range(RECORD_ATTEMPTS):
                try:
                    await asyncio.to_thread(runs.record, self.engine, week, name, summary, True)
                    del self._pending[(week, name)]
                    break
                except Exception:
                    if attempt == RECORD_ATTEMPTS - 1:
                        logger.exception("digest %s for %s was posted but is not recorded yet", week, name)
                    else:
                        await asyncio.sleep(RECORD_BACKOFF_S * 2**attempt)


def make_publisher(
    settings: Settings,
    engine: Engine,
    kb: DigestKnowledge,
    quality: QualityProvider | None = None,
    slack: AsyncWebClient | None = None,
    teams: TeamsPoster | None = None,
) -> DigestPublisher:
    """The publisher on the knowledge base: its catalogue for document facts, its embedding
    model to group content gaps by meaning."""

    def documents() -> dict[str, DocumentInfo]:
        return {d.doc_id: d for d in kb.list_documents()}

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(kb.embed_model.get_text_embedding_batch(texts))

    return DigestPublisher(settings, engine, documents, embed, quality, slack, teams)


def ragas_quality(settings: Settings, bot: SupportBot, kb: DigestKnowledge) -> QualityProvider:
    """The digest's RAGAS scores: the golden set and the week's answers, with Claude as the
    judge when there is a key (the judge and RAGAS load only when a digest is built)."""
    judge = None
    key = settings.anthropic_api_key
    if key is not None:

        def judge() -> tuple[Any, Any]:
            from eval.judge import FastEmbedForRagas, claude_judge

            client = claude_judge(
                key.get_secret_value(), settings.anthropic_base_url, settings.file.answers.claude
            )
            return client, FastEmbedForRagas(kb.embed_model)

    return DigestRagas(bot, settings.file.digest, settings.knowledge.retrieval.top_k, judge)


def teams_poster(settings: Settings, adapter: CloudAdapter | None = None) -> TeamsPoster | None:
    if settings.teams is None:
        return None
    if adapter is None:
        adapter = CloudAdapter(BotAuthentication(settings.teams))
    return TeamsPoster(adapter, settings.teams.app_id, settings.file.teams.tenants(settings.teams))

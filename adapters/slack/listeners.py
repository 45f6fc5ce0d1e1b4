"""Slack events in, bot calls out: each listener translates and hands over to the core.

Bolt acknowledges events before the listener runs (process_before_response is off), so
Slack gets its 200 at once and the answer follows in the background. The synchronous
core runs in the answer pool (adapters.workers) so the event loop keeps acknowledging.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.files import SlackFiles
from adapters.slack.handoff import SlackHandoff
from adapters.slack.people import SlackPeople
from adapters.slack.render import (
    FEEDBACK_ACTION,
    HANDOFF_ACTION,
    answer_blocks,
    answer_fallback_text,
    escape,
    parse_feedback_value,
    plain_text,
)
from adapters.workers import Workers
from bot.core import SupportBot, vote_notice
from bot.desk import DeskReply, KnowledgeDesk, Post, parse_command
from bot.handoff import HandoffDesk
from bot.settings import SlackSettings
from bot.store.conversations import ConversationStore
from bot.types import Answer, Platform, Question, VoteOutcome, VoteSource, VoteValue

logger = logging.getLogger(__name__)
PLATFORM = Platform.SLACK.value
APOLOGY = "Sorry, something went wrong while I was answering. Please try again in a minute."
INGEST_FAILED = "Sorry, indexing that post failed; nothing was changed. Please try again."
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_UP = {"+1", "thumbsup"}
_DOWN = {"-1", "thumbsdown"}


def vote_of(reaction: str) -> VoteValue | None:
    """`+1`, `thumbsup`, `-1`, `thumbsdown`, with or without `::skin-tone-N`."""
    name = reaction.split("::", 1)[0]
    return VoteValue.UP if name in _UP else VoteValue.DOWN if name in _DOWN else None


class SlackFrontEnd:
    def __init__(
        self,
        bot: SupportBot,
        conversations: ConversationStore,
        settings: SlackSettings,
        desk: KnowledgeDesk,
        workers: Workers | None = None,
        handoff: HandoffDesk | None = None,
    ) -> None:
        self.bot = bot
        self.workers = workers or Workers()
        self.conversations = conversations
        self.settings = settings
        self.desk = desk
        self.files = SlackFiles(settings.file_hosts, desk.loader.max_file_mb)
        self.people = SlackPeople()
        enabled = handoff is not None and handoff.enabled(PLATFORM)
        self.handoff = SlackHandoff(handoff, self.workers) if handoff is not None and enabled else None

    def register(self, app: AsyncApp) -> None:
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.event("reaction_added")(self.on_reaction_added)
        app.event("reaction_removed")(self.on_reaction_removed)
        app.action(FEEDBACK_ACTION)(self.on_feedback_button)
        if self.handoff is not None:
            app.action(HANDOFF_ACTION)(self.handoff.on_handoff)
        app.command(re.compile(r"^/.+"))(self.on_command)

    async def _first_delivery(self, body: dict[str, Any]) -> bool:
        """Slack redelivers events it thinks failed: act on each event id once, in any replica.

        Checked in the listener, after Bolt has acknowledged: the acknowledgement never
        waits on the database, which is busy with answers under load.
        """
        event_id = body.get("event_id")
        if not event_id:
            return True
        first = await asyncio.to_thread(self.bot.records.claim_event, PLATFORM, event_id)
        if not first:
            logger.info("event %s already handled; ignoring the redelivery", event_id)
        return first

    async def _first_command(self, command: dict[str, Any]) -> bool:
        """A slash command's signed request can be replayed for five minutes (Slack's window
        for the timestamp): each trigger id, unique per invocation, is answered once."""
        trigger = command.get("trigger_id")
        if not trigger:
            return True
        first = await asyncio.to_thread(self.bot.records.claim_event, PLATFORM, f"command:{trigger}")
        if not first:
            logger.warning("slash command %s replayed; not answered again", trigger)
        return first

    # -- questions -----------------------------------------------------------------------

    async def on_mention(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        if not await self._first_delivery(body):
            return
        text = plain_text(event.get("text", ""))
        thread = event.get("thread_ts") or event["ts"]
        command = parse_command(text)
        if command is not None:
            reply = await self.workers.run(self.desk.run, event.get("user", ""), event["channel"], command)
            await self._reply(client, event["channel"], thread, reply)
            return
        question = Question(text, Platform.SLACK, event["channel"], event.get("user", ""), thread)
        await self._answer_in_thread(client, question, event["channel"], event["ts"], thread)

    async def on_message(
        self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        # The bot never reacts to itself or other bots, nor to edits, joins and the like.
        if event.get("bot_id") or event.get("user") in {None, context.get("bot_user_id")}:
            return
        if event.get("subtype") not in {None, "file_share"}:
            return
        if self.handoff is not None and self.handoff.is_escalation_reply(event):
            if await self._first_delivery(body):
                await self.handoff.relay(event, client)
            return
        if event.get("channel_type") != "im":
            # Channel questions arrive as mentions; here only top-level posts in ingest channels.
            top_level = not event.get("thread_ts") and not _MENTION.match(event.get("text", ""))
            if (
                self.desk.is_ingest_channel(event["channel"])
                and top_level
                and await self._first_delivery(body)
            ):
                await self._ingest(event, client)
            return
        if event.get("subtype") or not await self._first_delivery(body):
            return
        thread = event.get("thread_ts") or event["ts"]
        scope = self.settings.dm_scope_channel
        question = Question(
            plain_text(event.get("text", "")),
            Platform.SLACK,
            scope,
            event["user"],
            f"{event['channel']}:{thread}",
        )
        await self._answer_in_thread(client, question, event["channel"], event["ts"], event.get("thread_ts"))

    async def on_command(
        self, ack: Callable[..., Awaitable[None]], command: dict[str, Any], client: AsyncWebClient
    ) -> None:
        text = plain_text(command.get("text", ""))
        await ack(
            f"Looking that up: {escape(text)}"
            if text
            else "Ask me a question, e.g. `/ask how many days can I work remotely?`"
        )
        if not text or not await self._first_command(command):
            return
        names = await self.people.names(client, command["user_id"])
        question = Question(
            text, Platform.SLACK, command["channel_id"], command["user_id"], asker_names=names
        )
        answer = await self.workers.run(self.bot.answer, question)
        await client.chat_postEphemeral(
            channel=command["channel_id"],
            user=command["user_id"],
            text=answer_fallback_text(answer),
            blocks=answer_blocks(answer),
        )

    async def _ingest(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        channel, user, ts = event["channel"], event["user"], event["ts"]
        if not self.desk.may_change(user):
            await self._reply(client, channel, ts, self.desk.refusal())
            return
        working = await self._react(client, "add", channel, ts)
        try:
            files, problems = await self.files.fetch(client, event.get("files") or [])
            if event.get("files") and not files:
                reply = DeskReply(False, "\n".join(problems))
            else:
                text = plain_text(event.get("text", ""))
                post = Post(channel, user, text, tuple(files), source=event.get("permalink", ""))
                reply = (await self.desk.ingest(post)).with_problems(problems)
            await self._reply(client, channel, ts, reply)
        except Exception:
            logger.exception("ingesting a post in %s failed", channel)
            await client.chat_postMessage(channel=channel, thread_ts=ts, text=INGEST_FAILED)
        finally:
            if working:
                await self._react(client, "remove", channel, ts)

    async def _reply(self, client: AsyncWebClient, channel: str, thread: str, reply: DeskReply) -> None:
        icon = ":white_check_mark:" if reply.ok else ":warning:"
        await client.chat_postMessage(channel=channel, thread_ts=thread, text=f"{icon} {escape(reply.text)}")

    async def _answer_in_thread(
        self, client: AsyncWebClient, question: Question, channel: str, message_ts: str, thread_ts: str | None
    ) -> None:
        # The reaction goes out while the answer is worked on, not before: it is only a sign of life.
        reacting = asyncio.create_task(self._react(client, "add", channel, message_ts))
        try:
            names = await self.people.names(client, question.user)
            answer = await self.workers.run(self.bot.answer, replace(question, asker_names=names))
            posted = await client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=answer_fallback_text(answer),
                blocks=answer_blocks(answer, handoff=self.handoff is not None),
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception:
            logger.exception("answering in %s failed", channel)
            await client.chat_postMessage(channel=channel, thread_ts=thread_ts or message_ts, text=APOLOGY)
            return
        finally:
            if await reacting:
                await self._react(client, "remove", channel, message_ts)
        await self._remember(answer, channel, posted.get("ts"))

    async def _remember(self, answer: Answer, channel: str, ts: str | None) -> None:
        # The answer is posted: if this fails, reactions on it go unrecorded, but no apology.
        if answer.interaction_id and answer.recorded and ts:
            try:
                await asyncio.to_thread(
                    self.bot.records.attach_message, PLATFORM, channel, ts, answer.interaction_id
                )
            except Exception:
                logger.exception("could not link message %s to answer %s", ts, answer.interaction_id)

    async def _react(self, client: AsyncWebClient, how: str, channel: str, ts: str) -> bool:
        # A nicety: a missing scope or an already-present reaction must not stop the answer.
        try:
            call = client.reactions_add if how == "add" else client.reactions_remove
            await call(channel=channel, timestamp=ts, name=self.settings.working_reaction)
            return True
        except SlackApiError as error:
            logger.info("reactions.%s failed: %s", how, error.response.get("error"))
            return False

    # -- feedback ------------------------------------------------------------------------

    async def on_reaction_added(
        self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await self._reaction(event, body, client, context, retract=False)

    async def on_reaction_removed(
        self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await self._reaction(event, body, client, context, retract=True)

    async def _reaction(
        self,
        event: dict[str, Any],
        body: dict[str, Any],
        client: AsyncWebClient,
        context: dict[str, Any],
        retract: bool,
    ) -> None:
        value, item = vote_of(event.get("reaction", "")), event.get("item", {})
        if value is None or item.get("type") != "message":
            return
        # Only the bot's own messages carry answers: known without the database (down, maybe).
        author, bot_user = event.get("item_user"), context.get("bot_user_id")
        if (author and bot_user and author != bot_user) or not await self._first_delivery(body):
            return
        channel, user = item.get("channel", ""), event["user"]
        message = (PLATFORM, channel, item.get("ts", ""))
        if retract:
            outcome = await asyncio.to_thread(self.bot.retract, message, user, value)
        else:
            outcome = await asyncio.to_thread(self.bot.vote, message, user, value, VoteSource.REACTION)
            if self.handoff is not None:
                await self.handoff.offer(client, outcome, channel, user)
        await self._tell_voter(client, outcome, channel, user)

    async def _tell_voter(
        self, client: AsyncWebClient, outcome: VoteOutcome, channel: str, user: str
    ) -> None:
        notice = vote_notice(outcome)
        if channel and notice:
            await client.chat_postEphemeral(channel=channel, user=user, text=notice)

    async def on_feedback_button(
        self,
        ack: Callable[..., Awaitable[None]],
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        await ack()
        parsed = parse_feedback_value(action.get("value", ""))
        if parsed is None:
            return
        vote, interaction_id = parsed
        user = body.get("user", {}).get("id", "")
        value = VoteValue.UP if vote == "up" else VoteValue.DOWN
        outcome = await asyncio.to_thread(self.bot.vote, interaction_id, user, value, VoteSource.BUTTON)
        channel = (body.get("channel") or body.get("container") or {}).get("id") or body.get(
            "container", {}
        ).get("channel_id")
        if channel and self.handoff is not None:
            await self.handoff.offer(client, outcome, channel, user)
        await self._tell_voter(client, outcome, channel or "", user)

"""The "Ask a person" hand-off in Slack: the button's action, the escalation post, the relayed reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import escape, handoff_button, unescape
from adapters.workers import Workers
from bot.handoff import HandoffDesk, HandoffRequest, HandoffStatus
from bot.types import VoteOutcome, VoteStatus, VoteValue

logger = logging.getLogger(__name__)
PLATFORM = "slack"


def escalation_blocks(request: HandoffRequest, link: str | None) -> list[dict[str, Any]]:
    where = f"<#{request.channel}>" if request.channel.startswith(("C", "G")) else "a direct message"
    tag = f"<!subteam^{request.target.tag}> " if request.target.tag else ""
    lines = [
        f"{tag}<@{request.asker}> asked in {where} and would like a person to answer:",
        f">{escape(request.question)}",
    ]
    if request.answer is None:
        lines.append(
            "_The bot's answer quotes documents this channel may not see, so only the question is shown._"
        )
    elif request.abstained:
        lines.append("The bot found nothing in the documents.")
    else:
        lines.append(
            "*The bot answered:*\n" + "\n".join(f">{escape(line)}" for line in request.answer.splitlines())
        )
        if request.sources:
            lines.append(
                "*Sources:* " + "; ".join(f"{escape(s.title)} v{escape(s.version)}" for s in request.sources)
            )
    if link:
        lines.append(f"<{link}|Open the asker's thread>")
    lines.append("_Reply in this thread: the first reply is posted back to the asker._")
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}}]


def relayed_text(person: str, text: str) -> str:
    # Event text arrives escaped; re-escaped, a helpdesk reply cannot ping the asker's channel.
    return f":bust_in_silhouette: *From a person* (<@{person}>):\n{escape(unescape(text))}"


class SlackHandoff:
    """The Slack side of hand-offs: the button's action, the offer after a thumbs-down, and
    relaying the first reply in the escalation thread back to the asker."""

    def __init__(self, desk: HandoffDesk, workers: Workers) -> None:
        self.desk, self.workers = desk, workers
        settings = desk.settings
        targets = [t for listed in settings.escalations.values() for t in listed] + settings.default
        self.escalation_channels = {t.channel for t in targets if t.platform == PLATFORM}

    def is_escalation_reply(self, event: dict[str, Any]) -> bool:
        return (
            bool(event.get("thread_ts"))
            and not event.get("subtype")
            and event.get("channel") in self.escalation_channels
        )

    async def offer(self, client: AsyncWebClient, outcome: VoteOutcome, channel: str, user: str) -> None:
        """After a thumbs-down, offer the voter a person (only they see it)."""
        fresh = outcome.status in {VoteStatus.RECORDED, VoteStatus.CHANGED}
        if outcome.value is not VoteValue.DOWN or not fresh:
            return
        text = "Sorry that did not help. A person can take the question:"
        blocks = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            handoff_button(outcome.interaction_id),
        ]
        try:
            await client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
        except SlackApiError as error:
            logger.info("could not offer a person: %s", error.response.get("error"))

    async def on_handoff(
        self,
        ack: Callable[..., Awaitable[None]],
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        await ack()
        user = body.get("user", {}).get("id", "")
        where = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        result = await self.workers.run(self.desk.request, action.get("value", ""), user)
        if result.status is not HandoffStatus.REQUESTED or result.request is None:
            text = {
                HandoffStatus.ALREADY: "A person has already been asked; they will answer in the thread.",
                HandoffStatus.NO_ESCALATION: "Sorry, no one is set up to take questions like this one yet.",
            }.get(result.status, "Sorry, I could not find that answer any more.")
            if where:
                await client.chat_postEphemeral(channel=where, user=user, text=text)
            return
        request = result.request
        asker_channel, asker_ts = slack_thread(request.channel, request.thread_id)
        try:
            link = None
            if asker_channel and asker_ts:
                try:
                    link = (await client.chat_getPermalink(channel=asker_channel, message_ts=asker_ts)).get(
                        "permalink"
                    )
                except SlackApiError as error:
                    logger.info("no permalink for the asker's thread: %s", error.response.get("error"))
            posted = await client.chat_postMessage(
                channel=request.target.channel,
                text=f"A question for a person from <@{request.asker}>",
                blocks=escalation_blocks(request, link),
                unfurl_links=False,
            )
            await asyncio.to_thread(self.desk.escalated, request.interaction_id, str(posted["ts"]))
        except Exception:
            logger.exception("handing %s to a person failed", request.interaction_id)
            await asyncio.to_thread(self.desk.release, request.interaction_id)
            if where:
                await client.chat_postEphemeral(
                    channel=where, user=user, text="Sorry, that did not work; please try again."
                )
            return
        if asker_channel:
            await client.chat_postMessage(
                channel=asker_channel,
                thread_ts=asker_ts or None,
                text=f"I have asked a person in <#{request.target.channel}>; they will answer here in this thread.",
            )

    async def relay(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        """The first reply in an escalation thread goes back to the asker, marked as a person's."""
        found = await asyncio.to_thread(self.desk.find, PLATFORM, event["channel"], event["thread_ts"])
        if found is None or found.already_answered:
            return
        if not await asyncio.to_thread(
            self.desk.answered, found.interaction_id, event.get("text", ""), event["user"]
        ):
            return
        channel, ts = slack_thread(found.channel, found.thread_id)
        await client.chat_postMessage(
            channel=channel, thread_ts=ts or None, text=relayed_text(event["user"], event.get("text", ""))
        )


def slack_thread(channel: str, thread_id: str) -> tuple[str, str]:
    """(channel, thread ts) of a logged question: DMs are logged as "D…:ts" under their scope."""
    real, _, ts = thread_id.rpartition(":")
    return (real, ts) if real else (channel, thread_id)

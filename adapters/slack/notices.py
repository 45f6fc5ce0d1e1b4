"""Change notices in Slack: posted in the thread of the answer that cited the old version."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import answer_blocks, escape
from bot.changes import Notice, StaleThread


def slack_place(thread: StaleThread) -> tuple[str, str]:
    """(channel, thread ts): DMs are logged under their scope channel, with "D…:ts" as thread."""
    channel, _, ts = thread.thread_id.rpartition(":")
    return (channel, ts) if channel else (thread.channel, thread.thread_id)


def notice_blocks(notice: Notice) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":memo: {escape(notice.text)}"}}
    ]
    if notice.answer is not None:
        blocks += answer_blocks(notice.answer)
    return blocks


async def post_notice(client: AsyncWebClient, notice: Notice) -> tuple[str, str]:
    """Post it; returns (channel, ts) of the message."""
    channel, thread_ts = slack_place(notice.thread)
    text = escape(notice.text) + (f"\n{escape(notice.answer.text)}" if notice.answer is not None else "")
    posted = await client.chat_postMessage(
        channel=channel,
        thread_ts=thread_ts,
        text=text[:3000],
        blocks=notice_blocks(notice),
        unfurl_links=False,
    )
    return channel, str(posted["ts"])

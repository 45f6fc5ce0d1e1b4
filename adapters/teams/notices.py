"""Change notices in Teams: a proactive message in the thread of the answer that cited the
old version, through the conversation reference kept when the question came in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ConversationReference

from adapters.teams.activities import conversation_base
from adapters.teams.cards import answer_activity, card, paragraph, run
from bot.changes import Notice


@dataclass(frozen=True)
class TeamsNotices:
    adapter: CloudAdapter
    app_id: str


def notice_activity(notice: Notice) -> Activity:
    heading = paragraph(run(notice.text, weight="bolder"))
    if notice.answer is None:
        return Activity(type="message", attachments=[card([heading])], summary=notice.text[:200])
    activity = answer_activity(notice.answer)
    activity.attachments[0].content["body"].insert(0, heading)
    return activity


async def post_notice(
    poster: TeamsNotices, reference: dict[str, Any], notice: Notice
) -> tuple[str, str | None]:
    """Post it; returns (conversation, message id) for linking votes on the fresh answer."""
    conversation = ConversationReference().deserialize(reference)
    sent: list[str | None] = []

    async def turn(context: TurnContext) -> None:
        context.activity.id = conversation.activity_id  # into the thread, as answers are
        response = await context.send_activity(notice_activity(notice))
        sent.append(response.id if response else None)

    await poster.adapter.continue_conversation(conversation, turn, poster.app_id)
    return conversation_base(notice.thread.thread_id), sent[0] if sent else None

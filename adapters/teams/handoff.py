"""The "Ask a person" hand-off in Teams: the card's Action.Submit, the escalation thread
started in the helpdesk channel, and the first reply there relayed to the asker's thread.

Teams delivers channel messages to a bot only when they @mention it (without the
ChannelMessage.Read.Group permission), so the helpdesk replies with a mention of the bot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes, ConversationParameters, ConversationReference

from adapters.teams.activities import Where
from adapters.teams.cards import card, paragraph, plain_activity, run
from adapters.workers import Workers
from bot.handoff import HandoffDesk, HandoffRequest, HandoffStatus
from bot.store.conversations import ConversationStore

logger = logging.getLogger(__name__)
PLATFORM = "teams"
SUBMIT = "ask_a_person"
Work = Callable[[TurnContext], Awaitable[None]]


def requested(activity: Activity) -> str | None:
    """The interaction id when this message is the "Ask a person" button being pressed."""
    value = activity.value if isinstance(activity.value, dict) else None
    if value and value.get("action") == SUBMIT and isinstance(value.get("interaction"), str):
        return str(value["interaction"])
    return None


def offer_activity(interaction_id: str) -> Activity:
    """After a thumbs-down: the button on its own, in the answer's thread."""
    attachment = card([paragraph(run("Sorry that did not help. A person can take the question."))])
    attachment.content["actions"] = [
        {
            "type": "Action.Submit",
            "title": "Ask a person",
            "data": {"action": SUBMIT, "interaction": interaction_id},
        }
    ]
    return Activity(type=ActivityTypes.message, attachments=[attachment], summary="Ask a person")


def escalation_activity(request: HandoffRequest, asker_name: str) -> Activity:
    body = [
        paragraph(run(f"{asker_name or 'Someone'} would like a person to answer:", weight="bolder")),
        paragraph(run(request.question)),
    ]
    if request.answer is None:
        body.append(
            paragraph(
                run(
                    "The bot's answer quotes documents this channel may not see, so only the question is shown.",
                    isSubtle=True,
                )
            )
        )
    elif request.abstained:
        body.append(paragraph(run("The bot found nothing in the documents.", isSubtle=True)))
    else:
        body += [paragraph(run("The bot answered:", weight="bolder")), paragraph(run(request.answer))]
        if request.sources:
            body.append(
                paragraph(
                    run(
                        "Sources: " + "; ".join(f"{s.title} v{s.version}" for s in request.sources),
                        isSubtle=True,
                    )
                )
            )
    body.append(
        paragraph(
            run(
                "Reply in this thread, mentioning the bot: the first reply goes back to the asker.",
                isSubtle=True,
            )
        )
    )
    return Activity(type=ActivityTypes.message, attachments=[card(body)], summary=request.question[:200])


class TeamsHandoff:
    def __init__(
        self,
        desk: HandoffDesk,
        workers: Workers,
        adapter: CloudAdapter,
        app_id: str,
        conversations: ConversationStore,
    ) -> None:
        self.desk, self.workers, self.adapter, self.app_id = desk, workers, adapter, app_id
        self.conversations = conversations
        settings = desk.settings
        targets = [t for listed in settings.escalations.values() for t in listed] + settings.default
        self.escalation_channels = {t.channel for t in targets if t.platform == PLATFORM}

    def is_escalation_reply(self, place: Where, activity: Activity) -> bool:
        return (
            place.kind == "channel"
            and place.scope in self.escalation_channels
            and not place.is_root(activity)
        )

    def request_work(
        self, interaction_id: str, user: str, reference: ConversationReference, asker_name: str
    ) -> Work:
        async def work(context: TurnContext) -> None:
            result = await self.workers.run(self.desk.request, interaction_id, user)
            if result.status is not HandoffStatus.REQUESTED or result.request is None:
                text = {
                    HandoffStatus.ALREADY: "A person has already been asked; they will answer in this thread.",
                    HandoffStatus.NO_ESCALATION: "Sorry, no one is set up to take questions like this one yet.",
                }.get(result.status, "Sorry, I could not find that answer any more.")
                await context.send_activity(plain_activity(text))
                return
            request = result.request
            try:
                root = await self._escalate(request, reference, asker_name)
                await asyncio.to_thread(self.desk.escalated, request.interaction_id, root)
            except Exception:
                logger.exception("handing %s to a person failed", request.interaction_id)
                await asyncio.to_thread(self.desk.release, request.interaction_id)
                await context.send_activity(plain_activity("Sorry, that did not work; please try again."))
                return
            await context.send_activity(
                plain_activity("I have asked a person in the helpdesk channel; they will answer here.")
            )

        return work

    async def _escalate(
        self, request: HandoffRequest, reference: ConversationReference, asker_name: str
    ) -> str:
        tenant = (reference.conversation.tenant_id if reference.conversation else None) or ""
        parameters = ConversationParameters(
            is_group=True,
            channel_data={"channel": {"id": request.target.channel}, "tenant": {"id": tenant}},
            activity=escalation_activity(request, asker_name),
            tenant_id=tenant,
        )
        created: list[str] = []

        async def remember(context: TurnContext) -> None:
            created.append(context.activity.conversation.id)

        await self.adapter.create_conversation(
            self.app_id, remember, parameters, "msteams", reference.service_url
        )
        # "19:helpdesk@thread.tacv2;messageid=<root>": replies arrive in that thread.
        return created[0].rpartition(";messageid=")[2] if created else ""

    def relay_work(self, place: Where, text: str, person: str) -> Work:
        root = place.thread.rpartition(";messageid=")[2]

        async def work(context: TurnContext) -> None:
            found = await asyncio.to_thread(self.desk.find, PLATFORM, place.scope, root)
            if found is None or found.already_answered:
                return
            if not await asyncio.to_thread(self.desk.answered, found.interaction_id, text, person):
                return
            stored = await asyncio.to_thread(self.conversations.thread_reference, PLATFORM, found.thread_id)
            if stored is None:
                logger.warning(
                    "no conversation reference for %s: the reply cannot be relayed", found.thread_id
                )
                return
            asker = ConversationReference().deserialize(stored)

            async def send(asker_context: TurnContext) -> None:
                asker_context.activity.id = asker.activity_id
                await asker_context.send_activity(
                    Activity(
                        type=ActivityTypes.message,
                        attachments=[
                            card(
                                [
                                    paragraph(run(f"From a person ({person}):", weight="bolder")),
                                    paragraph(run(text)),
                                ]
                            )
                        ],
                        summary=f"From a person: {text[:150]}",
                    )
                )

            await self.adapter.continue_conversation(asker, send, self.app_id)

        return work

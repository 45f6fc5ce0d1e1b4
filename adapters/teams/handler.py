"""Teams activities in, bot calls out: each handler translates and hands over to the core.

Bot Framework waits for the HTTP response of every activity and redelivers on timeouts,
so a message only gets a typing indicator within the request; the answer (or ingest) runs
in the background and is sent proactively into the same conversation/thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from botbuilder.core import ActivityHandler, BotAdapter, InvokeResponse, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ConversationReference,
    ErrorResponseException,
    MessageReaction,
    ResourceResponse,
)

from adapters.downloads import FetchError, download
from adapters.teams.activities import (
    Where,
    event_key,
    feedback_of,
    file_links,
    from_a_bot,
    reaction_vote,
    text_of,
    user_ids,
    where,
)
from adapters.teams.cards import answer_activity, plain_activity, reply_activity
from bot.core import SupportBot
from bot.desk import DeskReply, KnowledgeDesk, Post, PostedFile
from bot.settings import TeamsSettings
from bot.store.conversations import ConversationStore
from bot.types import Answer, Platform, Question, VoteSource, VoteStatus

logger = logging.getLogger(__name__)
PLATFORM = Platform.TEAMS.value
APOLOGY = "Sorry, something went wrong while I was answering. Please try again in a minute."
HINT = "Ask me a question about our policies, e.g. “How many days can I work remotely?”"
Work = Callable[[TurnContext], Awaitable[None]]
SEND_ATTEMPTS = 4
RETRYABLE = {429, 502, 503, 504}


def _retry_after(response: object) -> float | None:
    headers = getattr(response, "headers", None) or {}
    try:
        return float(headers.get("Retry-After", ""))
    except ValueError:
        return None


class TeamsFrontEnd(ActivityHandler):
    def __init__(
        self,
        bot: SupportBot,
        conversations: ConversationStore,
        settings: TeamsSettings,
        desk: KnowledgeDesk,
        adapter: BotAdapter,
        app_id: str,
    ) -> None:
        self.bot = bot
        self.conversations = conversations
        self.settings = settings
        self.desk = desk
        self.adapter = adapter
        self.app_id = app_id
        self.max_file_bytes = int(desk.loader.max_file_mb * 1024 * 1024)
        self._tasks: set[asyncio.Task[None]] = set()

    async def _first_delivery(self, activity: Activity) -> bool:
        key = event_key(activity)
        if key is None:
            return True
        first = await asyncio.to_thread(self.conversations.claim_event, PLATFORM, key)
        if not first:
            logger.info("activity %s already handled; ignoring the redelivery", activity.id)
        return first

    # -- messages ------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if from_a_bot(activity) or not await self._first_delivery(activity):
            return
        place, text, links = where(activity, self.settings), text_of(activity), file_links(activity)
        users = user_ids(activity)
        # Posters may be listed by Entra object id or by Teams user id.
        user = next((u for u in users if self.desk.may_change(u)), users[0] if users else "")
        command, _, argument = text.partition(" ")
        work: Work
        if command.lower() == "docs":
            work = self._desk_work(lambda: self.desk.list_documents(user))
        elif command.lower() == "forget":
            work = self._desk_work(lambda: self.desk.forget(user, argument))
        elif links or (place.kind == "channel" and self.desk.is_ingest_channel(place.scope)):
            work = self._ingest_work(place, user, text, activity)
        elif not text:
            await turn_context.send_activity(plain_activity(HINT))
            return
        else:
            question = Question(text, Platform.TEAMS, place.scope, user, place.thread)
            work = self._answer_work(question, place)
        self._later(TurnContext.get_conversation_reference(activity), work)
        await self._typing(turn_context)

    def _later(self, reference: ConversationReference, work: Work) -> None:
        """Run `work` after this request has been answered, in a proactive turn on the same
        conversation (the reference's activity id makes replies land in the thread)."""

        async def turn(context: TurnContext) -> None:
            # botbuilder gives the continuation activity an id of its own, and replies would
            # point at it: point them at the message being answered instead.
            context.activity.id = reference.activity_id
            try:
                await work(context)
            except Exception:
                logger.exception("working on a Teams message failed")
                await self._send(context, plain_activity(APOLOGY))

        async def run() -> None:
            try:
                await self.adapter.continue_conversation(reference, turn, self.app_id)
            except Exception:
                # Even the apology could not be sent (Bot Connector or token service down).
                logger.exception("could not reply in Teams conversation %s", reference.conversation.id)

        task = asyncio.create_task(run())
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 30) -> None:
        """Wait for answers still being worked on (shutdown, tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _send(self, context: TurnContext, activity: Activity) -> ResourceResponse | None:
        """Send, waiting out the Bot Connector's throttling: botbuilder does not retry POSTs."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                return await context.send_activity(activity)
            except ErrorResponseException as error:
                response = getattr(error, "response", None)
                status = getattr(response, "status_code", None)
                if status not in RETRYABLE or attempt == SEND_ATTEMPTS - 1:
                    raise
                delay = _retry_after(response) or 2.0**attempt
                logger.info("Bot Connector said %s; retrying in %.1f s", status, delay)
                await asyncio.sleep(min(delay, 30.0))
        return None

    def _answer_work(self, question: Question, place: Where) -> Work:
        async def work(context: TurnContext) -> None:
            typing = asyncio.create_task(self._keep_typing(context))
            try:
                answer = await asyncio.to_thread(self.bot.answer, question)
            finally:
                typing.cancel()
            sent = await self._send(context, answer_activity(answer))
            await self._remember(answer, place, sent.id if sent else None)

        return work

    async def _keep_typing(self, context: TurnContext) -> None:
        # Teams hides the indicator after a few seconds: renew it while the answer is worked on.
        while True:
            await asyncio.sleep(self.settings.typing_interval_s)
            if not await self._typing(context):
                return

    @staticmethod
    async def _typing(context: TurnContext) -> bool:
        # A nicety: throttling or an outage must not stop the answer.
        try:
            await context.send_activity(Activity(type=ActivityTypes.typing))
            return True
        except Exception as error:
            logger.info("typing indicator not sent: %s", error)
            return False

    async def _remember(self, answer: Answer, place: Where, message_id: str | None) -> None:
        # The answer is out: if this fails, votes on it go unrecorded, but no apology.
        if answer.interaction_id and answer.recorded and message_id:
            try:
                await asyncio.to_thread(
                    self.conversations.attach_message,
                    PLATFORM,
                    place.conversation,
                    message_id,
                    answer.interaction_id,
                )
            except Exception:
                logger.exception("could not link message %s to answer %s", message_id, answer.interaction_id)

    def _desk_work(self, act: Callable[[], DeskReply]) -> Work:
        async def work(context: TurnContext) -> None:
            reply = await asyncio.to_thread(act)
            await self._send(context, reply_activity(reply))

        return work

    def _ingest_work(self, place: Where, user: str, text: str, activity: Activity) -> Work:
        links = file_links(activity)

        async def work(context: TurnContext) -> None:
            if not self.desk.may_change(user):
                await self._send(context, reply_activity(self.desk.refusal()))
                return
            files: list[PostedFile] = []
            problems: list[str] = []
            for link in links:
                try:
                    data = await download(
                        link.url,
                        hosts=self.settings.file_hosts,
                        max_bytes=self.max_file_bytes,
                        name=link.name,
                    )
                    files.append(PostedFile(link.name, data))
                except FetchError as error:
                    logger.warning("could not fetch %s: %s", link.name, error)
                    problems.append(f"Could not index {link.name}: {error}")
            if links and not files:
                reply = DeskReply(False, "\n".join(problems))
            else:
                reply = await asyncio.to_thread(self.desk.ingest, Post(place.scope, user, text, tuple(files)))
                if problems:
                    reply = DeskReply(False, "\n".join([*problems, reply.text]), reply.results)
            await self._send(context, reply_activity(reply))

        return work

    # -- feedback ------------------------------------------------------------------------

    async def on_reactions_added(
        self, message_reactions: list[MessageReaction], turn_context: TurnContext
    ) -> None:
        await self._reactions(message_reactions, turn_context, retract=False)

    async def on_reactions_removed(
        self, message_reactions: list[MessageReaction], turn_context: TurnContext
    ) -> None:
        await self._reactions(message_reactions, turn_context, retract=True)

    async def _reactions(self, reactions: list[MessageReaction], context: TurnContext, retract: bool) -> None:
        activity = context.activity
        votes = [v for v in (reaction_vote(r.type, self.settings) for r in reactions) if v is not None]
        if not votes or not activity.reply_to_id or not await self._first_delivery(activity):
            return
        interaction_id = await self._interaction_of(activity)
        users = user_ids(activity)
        if interaction_id is None or not users:
            return  # a reaction on some other message
        for value in votes:
            if retract:
                await asyncio.to_thread(self.bot.retract, interaction_id, users[0], value)
            else:
                await asyncio.to_thread(self.bot.vote, interaction_id, users[0], value, VoteSource.REACTION)

    async def _interaction_of(self, activity: Activity) -> str | None:
        place = where(activity, self.settings)
        return await asyncio.to_thread(
            self.conversations.interaction_for_message,
            PLATFORM,
            place.conversation,
            activity.reply_to_id or "",
        )

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        activity = turn_context.activity
        feedback = feedback_of(activity)
        if feedback is None:
            return await super().on_invoke_activity(turn_context)
        # Teams wants a 200 for every feedback submission, a redelivered one included.
        if await self._first_delivery(activity):
            interaction_id = await self._interaction_of(activity)
            users = user_ids(activity)
            if interaction_id is not None and users:
                outcome = await asyncio.to_thread(
                    self.bot.vote,
                    interaction_id,
                    users[0],
                    feedback.value,
                    VoteSource.FEEDBACK_LOOP,
                    feedback.comment,
                )
                if outcome.status is VoteStatus.FAILED:
                    await turn_context.send_activity(
                        plain_activity("Sorry, your feedback could not be saved; please try again.")
                    )
        return InvokeResponse(status=int(HTTPStatus.OK))

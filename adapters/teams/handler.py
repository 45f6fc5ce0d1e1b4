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
    CHANNEL_FILE,
    Feedback,
    Where,
    asker_names,
    channel_files,
    event_key,
    feedback_of,
    file_links,
    foreign,
    from_a_bot,
    reaction_vote,
    text_of,
    user_ids,
    where,
)
from adapters.teams.cards import answer_activity, plain_activity, reply_activity
from adapters.teams.handoff import TeamsHandoff, offer_activity, requested
from adapters.workers import Workers
from bot.core import SupportBot, vote_notice
from bot.desk import Command, DeskReply, KnowledgeDesk, Post, PostedFile, parse_command
from bot.handoff import HandoffDesk
from bot.settings import TeamsSettings
from bot.store.conversations import ConversationStore
from bot.types import Answer, Platform, Question, VoteOutcome, VoteSource, VoteStatus, VoteValue

logger = logging.getLogger(__name__)
PLATFORM = Platform.TEAMS.value
APOLOGY = "Sorry, something went wrong while I was answering. Please try again in a minute."
INGEST_FAILED = "Sorry, indexing that post failed; nothing was changed. Please try again."
HINT = "Ask me a question about our policies, e.g. “How many days can I work remotely?”"
Work = Callable[[TurnContext], Awaitable[None]]
SEND_ATTEMPTS = 4
# 429 and 503 mean "not done, try later"; after a 502 or 504 the message may be posted already.
RETRYABLE = {429, 503}


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
        workers: Workers | None = None,
        tenants: frozenset[str] = frozenset(),
        handoff: HandoffDesk | None = None,
    ) -> None:
        self.bot = bot
        self.tenants = tenants
        self.workers = workers or Workers()
        self.conversations = conversations
        self.settings = settings
        self.desk = desk
        self.adapter = adapter
        self.app_id = app_id
        self.max_file_bytes = int(desk.loader.max_file_mb * 1024 * 1024)
        self._tasks: set[asyncio.Task[None]] = set()
        self.handoff = (
            TeamsHandoff(handoff, self.workers, adapter, app_id, conversations)
            if handoff is not None and handoff.enabled(PLATFORM)
            else None
        )

    async def _first_delivery(self, activity: Activity) -> bool:
        key = event_key(activity)
        if key is None:
            return True
        first = await asyncio.to_thread(self.bot.records.claim_event, PLATFORM, key)
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
        command = parse_command(text)
        work: Work
        apology = APOLOGY
        reference = TurnContext.get_conversation_reference(activity)
        pressed = requested(activity) if self.handoff is not None else None
        if self.handoff is not None and pressed is not None:
            names = asker_names(activity)
            work = self.handoff.request_work(pressed, user, reference, names[0] if names else "")
        elif self.handoff is not None and self.handoff.is_escalation_reply(place, activity):
            if not text:
                return
            person = (asker_names(activity) or (user,))[0]
            work = self.handoff.relay_work(place, text, person)
        elif command is not None:
            work = self._desk_work(user, place.scope, command)
        elif (
            links
            or channel_files(activity)
            or (self.desk.is_ingest_channel(place.scope) and place.is_root(activity))
        ):
            # Like Slack: a new post in an ingest channel is a document; replies in its
            # thread are questions. Files sent to the bot are documents wherever they come.
            work, apology = self._ingest_work(place, user, text, activity), INGEST_FAILED
        elif not text:
            await turn_context.send_activity(plain_activity(HINT))
            return
        else:
            question = Question(
                text, Platform.TEAMS, place.scope, user, place.thread, asker_names=asker_names(activity)
            )
            work = self._answer_work(question, place, reference)
        self._later(reference, work, apology)
        await self._typing(turn_context)

    async def on_turn(self, turn_context: TurnContext) -> None:
        # A valid token proves the activity came through Bot Framework, which also serves Web
        # Chat and Direct Line, where the client names the sender; and a multi-tenant bot can
        # be reached from any organisation. Only Teams, in our tenants, gets through.
        refused = foreign(turn_context.activity, self.tenants)
        if refused:
            logger.warning("ignored a %s activity: %s", turn_context.activity.type, refused)
            return
        await super().on_turn(turn_context)

    def _later(self, reference: ConversationReference, work: Work, apology: str = APOLOGY) -> None:
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
                await self._send(context, plain_activity(apology))

        async def run() -> None:
            try:
                await self.adapter.continue_conversation(reference, turn, self.app_id)
            except Exception:
                # No connector (token service down), or the apology itself failed to send.
                logger.exception("could not reply in Teams conversation %s", reference.conversation.id)

        task = asyncio.create_task(run())
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

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

    def _answer_work(self, question: Question, place: Where, reference: ConversationReference) -> Work:
        async def work(context: TurnContext) -> None:
            try:  # kept so the bot can post in this thread later (a changed policy's notice)
                await asyncio.to_thread(
                    self.conversations.remember_thread, PLATFORM, place.thread, reference.serialize()
                )
            except Exception:
                logger.exception("could not keep the reference of thread %s", place.thread)
            typing = asyncio.create_task(self._keep_typing(context))
            try:
                answer = await self.workers.run(self.bot.answer, question)
            finally:
                typing.cancel()
            sent = await self._send(context, answer_activity(answer, handoff=self.handoff is not None))
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
                    self.bot.records.attach_message,
                    PLATFORM,
                    place.conversation,
                    message_id,
                    answer.interaction_id,
                )
            except Exception:
                logger.exception("could not link message %s to answer %s", message_id, answer.interaction_id)

    def _desk_work(self, user: str, scope: str, command: Command) -> Work:
        async def work(context: TurnContext) -> None:
            reply = await self.workers.run(self.desk.run, user, scope, command)
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
            problems += [f"Could not index {name}: {CHANNEL_FILE}" for name in channel_files(activity)]
            if problems and not files:  # as in Slack: files that all failed index nothing
                reply = DeskReply(False, "\n".join(problems))
            else:
                post = Post(place.scope, user, text, tuple(files))
                reply = (await self.desk.ingest(post)).with_problems(problems)
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
        users = user_ids(activity)
        if not users:
            return
        message = self._message_of(activity)
        for value in votes:
            if retract:
                outcome = await asyncio.to_thread(self.bot.retract, message, users[0], value)
            else:
                outcome = await asyncio.to_thread(
                    self.bot.vote, message, users[0], value, VoteSource.REACTION
                )
                self._offer_person(activity, outcome)
            self._tell_voter(activity, outcome)

    def _message_of(self, activity: Activity) -> tuple[str, str, str]:
        return (PLATFORM, where(activity, self.settings).conversation, activity.reply_to_id or "")

    def _tell_voter(self, activity: Activity, outcome: VoteOutcome) -> None:
        notice = vote_notice(outcome)
        if notice:
            reference = TurnContext.get_conversation_reference(activity)
            self._later(reference, self._notice(plain_activity(notice)))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        activity = turn_context.activity
        feedback = feedback_of(activity)
        if feedback is None:
            return await super().on_invoke_activity(turn_context)
        # Teams wants a 200 for every feedback submission (a redelivered one included), or
        # the user sees an error: a failure here is logged and told, never a 5xx.
        try:
            outcome = await self._record_feedback(activity, feedback)
        except Exception:
            logger.exception("recording Teams feedback failed")
            outcome = VoteOutcome(VoteStatus.FAILED, "", feedback.value)
        if outcome is not None:
            self._tell_voter(activity, outcome)
        return InvokeResponse(status=int(HTTPStatus.OK))

    async def _record_feedback(self, activity: Activity, feedback: Feedback) -> VoteOutcome | None:
        """None for a redelivery or a stray message."""
        users = user_ids(activity)
        if not await self._first_delivery(activity) or not users:
            return None
        outcome = await asyncio.to_thread(
            self.bot.vote,
            self._message_of(activity),
            users[0],
            feedback.value,
            VoteSource.FEEDBACK_LOOP,
            feedback.comment,
        )
        self._offer_person(activity, outcome)
        return outcome

    def _offer_person(self, activity: Activity, outcome: VoteOutcome) -> None:
        """A fresh thumbs-down gets the "Ask a person" button on its own, in the thread."""
        fresh = outcome.status in {VoteStatus.RECORDED, VoteStatus.CHANGED}
        if self.handoff is not None and outcome.value is VoteValue.DOWN and fresh:
            reference = TurnContext.get_conversation_reference(activity)
            self._later(reference, self._notice(offer_activity(outcome.interaction_id)))

    def _notice(self, activity: Activity) -> Work:
        async def work(context: TurnContext) -> None:
            await self._send(context, activity)

        return work

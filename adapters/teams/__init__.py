"""Teams: botbuilder's CloudAdapter at /api/messages, translating activities for the core."""

from __future__ import annotations

import json
import logging

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ActivityTypes

from adapters.teams.auth import BotAuthentication
from adapters.teams.cards import plain_activity
from adapters.teams.handler import APOLOGY, TeamsFrontEnd
from adapters.workers import Workers
from bot.core import SupportBot
from bot.desk import KnowledgeDesk
from bot.handoff import HandoffDesk
from bot.settings import TeamsCredentials, TeamsSettings
from bot.store.conversations import ConversationStore

logger = logging.getLogger(__name__)


class TeamsEndpoint:
    """POST /api/messages: the Bot Framework checks the JWT, then our handler runs."""

    def __init__(
        self,
        bot: SupportBot,
        conversations: ConversationStore,
        settings: TeamsSettings,
        desk: KnowledgeDesk,
        credentials: TeamsCredentials,
        workers: Workers | None = None,
        handoff: HandoffDesk | None = None,
    ) -> None:
        self.auth = BotAuthentication(credentials)
        self.adapter = CloudAdapter(self.auth)
        self.adapter.on_turn_error = self._on_turn_error
        self.front = TeamsFrontEnd(
            bot,
            conversations,
            settings,
            desk,
            self.adapter,
            credentials.app_id,
            workers,
            settings.tenants(credentials),
            handoff,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            return web.json_response({"error": "expected application/json"}, status=415)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(body, dict) or not body.get("type"):
            return web.json_response({"error": "not a Bot Framework activity"}, status=400)
        if not request.headers.get("Authorization", "").strip():
            # botbuilder would fail on the missing header with a 500; it is a 401.
            return web.json_response({"error": "missing Authorization header"}, status=401)
        response = await self.adapter.process(request, self.front)
        return response if response is not None else web.Response(status=201)

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        # Reached only when a handler failed before handing work to the background.
        logger.error("Teams turn failed (%s): %s", context.activity.type, error, exc_info=error)
        if context.activity.type == ActivityTypes.message:
            try:
                await context.send_activity(plain_activity(APOLOGY))
            except Exception:
                logger.exception("could not send the apology")

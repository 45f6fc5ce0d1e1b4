"""Teams: botbuilder's CloudAdapter at /api/messages, translating activities for the core."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import ActivityTypes

from adapters.teams.cards import plain_activity
from adapters.teams.handler import APOLOGY, TeamsFrontEnd
from bot.core import SupportBot
from bot.desk import KnowledgeDesk
from bot.settings import TeamsCredentials, TeamsSettings
from bot.store.conversations import ConversationStore

logger = logging.getLogger(__name__)


def bot_framework_config(credentials: TeamsCredentials) -> SimpleNamespace:
    """The attribute names botbuilder's ConfigurationBotFrameworkAuthentication reads."""
    config = SimpleNamespace(
        APP_ID=credentials.app_id,
        APP_PASSWORD=credentials.password.get_secret_value(),
        APP_TYPE=credentials.app_type,
        APP_TENANTID=credentials.tenant_id,
    )
    if credentials.openid_metadata_url or credentials.login_url:
        # A private cloud or a test identity service: the parameterised authentication
        # needs the public cloud's other values spelled out.
        config.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = credentials.openid_metadata_url
        config.TO_CHANNEL_FROM_BOT_LOGIN_URL = credentials.login_url
        config.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = "https://api.botframework.com"
        config.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = "https://api.botframework.com"  # noqa: S105 (an issuer URL)
        config.VALIDATE_AUTHORITY = False
    return config


class TeamsEndpoint:
    """POST /api/messages: the Bot Framework checks the JWT, then our handler runs."""

    def __init__(
        self,
        bot: SupportBot,
        conversations: ConversationStore,
        settings: TeamsSettings,
        desk: KnowledgeDesk,
        credentials: TeamsCredentials,
    ) -> None:
        self.adapter = CloudAdapter(
            ConfigurationBotFrameworkAuthentication(bot_framework_config(credentials))
        )
        self.adapter.on_turn_error = self._on_turn_error
        self.front = TeamsFrontEnd(bot, conversations, settings, desk, self.adapter, credentials.app_id)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            return web.json_response({"error": "expected application/json"}, status=415)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(body, dict) or not body.get("type"):
            return web.json_response({"error": "not a Bot Framework activity"}, status=400)
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

    async def drain(self) -> None:
        await self.front.drain()

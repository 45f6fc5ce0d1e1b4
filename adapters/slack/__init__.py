"""Slack: slack-bolt listeners that translate events to bot questions and answers to blocks."""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.listeners import SlackFrontEnd

DEFAULT_API_URL = "https://slack.com/api/"


def build_slack_app(
    front: SlackFrontEnd, bot_token: str, signing_secret: str, api_url: str | None
) -> AsyncApp:
    """The Bolt app with our listeners; its Web API client backs off on 429s and retries."""
    app = AsyncApp(
        token=bot_token, signing_secret=signing_secret, process_before_response=False, logger=bolt_logger()
    )
    # Bolt builds its own client (handing it one makes Bolt warn that SLACK_BOT_TOKEN is
    # unused whenever that variable is set, as it is in production): adjust that one.
    _configure(app.client, api_url)
    front.register(app)
    return app


class _NoRequestBodies(logging.Filter):
    """Bolt logs whole request bodies (a rejected signature at INFO, responses at DEBUG):
    questions, names, files, megabytes of a hostile post. Its lines keep everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        at = message.find("body")
        if at >= 0:
            record.msg, record.args = message[:at] + "body not logged", ()
        elif len(message) > _LONGEST_LINE:
            record.msg, record.args = message[:_LONGEST_LINE] + " …", ()
        return True


_LONGEST_LINE = 1000


def bolt_logger() -> logging.Logger:
    """The logger Bolt builds its own from (they copy its filters)."""
    logger = logging.getLogger("supportbot.slack_bolt")
    if not logger.filters:
        logger.addFilter(_NoRequestBodies())
    return logger


def web_client(bot_token: str, api_url: str | None) -> AsyncWebClient:
    """A Web API client outside Bolt (the digest command), set up like Bolt's."""
    return _configure(AsyncWebClient(token=bot_token), api_url)


def _configure(client: AsyncWebClient, api_url: str | None) -> AsyncWebClient:
    client.base_url = api_url or DEFAULT_API_URL
    # Replaces the SDK's default list, so the connection-error handler is named again.
    client.retry_handlers = [
        AsyncConnectionErrorRetryHandler(),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
    ]
    return client


def socket_mode_handler(app: AsyncApp, app_token: str) -> AsyncSocketModeHandler:
    """Socket Mode: Slack pushes events over a WebSocket, so no public URL is needed. It
    opens the connection with the app-level token through the app's own Web API client."""
    return AsyncSocketModeHandler(app, app_token)

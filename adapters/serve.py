"""`python app.py serve`: one aiohttp server for Slack (/slack/events or Socket Mode), Teams
(/api/messages) and /health, wired from the settings."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from adapters import terminal
from adapters.http_server import build_web_app
from adapters.slack import build_slack_app, socket_mode_handler
from adapters.slack.listeners import SlackFrontEnd
from adapters.teams import TeamsEndpoint
from bot.core import SupportBot
from bot.desk import KnowledgeAdmin, KnowledgeDesk
from bot.settings import ConfigError, Settings

logger = logging.getLogger(__name__)


def check_serve_settings(settings: Settings) -> None:
    slack = settings.slack_bot_token is not None or settings.slack_signing_secret is not None
    if slack and (settings.slack_bot_token is None or settings.slack_signing_secret is None):
        raise ConfigError(
            "Slack needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (see the README's Slack section)"
        )
    if not slack and settings.teams is None:
        raise ConfigError(
            "serve needs Slack (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET) or Teams "
            "(MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD): see the README"
        )


def serve(bot: SupportBot, kb: KnowledgeAdmin, settings: Settings, host: str, port: int) -> None:
    check_serve_settings(settings)
    assert bot.conversations is not None
    desk = KnowledgeDesk(kb, settings.file.ingest, settings.knowledge.loader)
    slack: AsyncApp | None = None
    if settings.slack_bot_token is not None and settings.slack_signing_secret is not None:
        front = SlackFrontEnd(bot, bot.conversations, settings.file.slack, desk)
        slack = build_slack_app(
            front,
            settings.slack_bot_token.get_secret_value(),
            settings.slack_signing_secret.get_secret_value(),
            settings.slack_api_url,
        )
    teams = (
        TeamsEndpoint(bot, bot.conversations, settings.file.teams, desk, settings.teams)
        if settings.teams is not None
        else None
    )
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    workers = settings.file.serve.workers(generative=settings.anthropic_api_key is not None)
    asyncio.run(_serve(build_web_app(slack, teams), host, port, slack, teams, app_token, workers))


async def _serve(
    web_app: web.Application,
    host: str,
    port: int,
    slack: AsyncApp | None,
    teams: TeamsEndpoint | None,
    app_token: str | None,
    workers: int,
) -> None:
    # The front ends run the synchronous core through asyncio.to_thread: this pool bounds
    # how many questions are answered at once.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(workers, thread_name_prefix="answer"))
    runner = web.AppRunner(web_app)
    await runner.setup()
    socket = socket_mode_handler(slack, app_token) if slack is not None and app_token else None
    try:
        await web.TCPSite(runner, host, port).start()
        base = f"http://{host}:{port}"
        if socket is not None:
            await socket.connect_async()  # events come over the WebSocket instead
            terminal.err.print("Connected to Slack in Socket Mode")
        elif slack is not None:
            terminal.err.print(f"Serving Slack events at {base}/slack/events")
        if teams is not None:
            terminal.err.print(f"Serving Teams (Bot Framework) at {base}/api/messages")
        terminal.err.print(f"Health: {base}/health")
        await asyncio.Event().wait()  # until Ctrl-C or SIGTERM
    finally:
        if socket is not None:
            await socket.close_async()
        await runner.cleanup()
        if teams is not None:
            await teams.drain()

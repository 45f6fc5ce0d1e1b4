"""`python app.py serve`: one aiohttp server for Slack (/slack/events or Socket Mode), Teams
(/api/messages) and /health, wired from the settings."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from adapters import terminal
from adapters.digest_schedule import DigestSchedule
from adapters.digests import DigestKnowledge, make_publisher, ragas_quality, teams_poster
from adapters.health import HealthMonitor, serve_dependencies
from adapters.http_server import build_web_app
from adapters.notices import ChangeFollowUp
from adapters.slack import build_slack_app, socket_mode_handler
from adapters.slack.listeners import SlackFrontEnd
from adapters.teams import TeamsEndpoint
from adapters.teams.notices import TeamsNotices
from adapters.workers import Workers
from bot.core import SupportBot
from bot.desk import KnowledgeAdmin, KnowledgeDesk
from bot.handoff import HandoffDesk
from bot.settings import ConfigError, Settings
from knowledge.ingest_process import ProcessIngest
from knowledge.weaviate_supervisor import Reconnectable, start_supervisor

logger = logging.getLogger(__name__)


def check_serve_settings(settings: Settings) -> None:
    slack = settings.slack_bot_token is not None or settings.slack_signing_secret is not None
    if slack and (settings.slack_bot_token is None or settings.slack_signing_secret is None):
        raise ConfigError(
            "Slack needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (see the README's Slack section)"
        )
    if settings.teams is not None and not settings.file.teams.tenants(settings.teams):
        raise ConfigError(
            "Teams needs the tenant(s) to answer: set MICROSOFT_APP_TENANT_ID or teams.allowed_tenants "
            "(otherwise any organisation could use a multi-tenant bot)"
        )
    for lead in settings.file.digest.leads:
        if (lead.platform == "slack" and not slack) or (lead.platform == "teams" and settings.teams is None):
            raise ConfigError(f"digest.leads {lead.name} posts to {lead.platform}, which is not configured")
    if not slack and settings.teams is None:
        raise ConfigError(
            "serve needs Slack (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET) or Teams "
            "(MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD): see the README"
        )


class ServedKnowledge(KnowledgeAdmin, DigestKnowledge, Reconnectable, Protocol):
    pass


def serve(bot: SupportBot, kb: ServedKnowledge, settings: Settings, host: str, port: int) -> int:
    """Run until SIGTERM or Ctrl-C; answers under way are finished first. The exit code."""
    check_serve_settings(settings)
    assert bot.conversations is not None
    jobs = ProcessIngest(
        settings.knowledge, settings.file.access, settings.data_dir, settings.file.ingest.job_timeout
    )
    desk = KnowledgeDesk(kb, settings.file.ingest, settings.knowledge.loader, jobs)
    workers = Workers(settings.file.serve.workers(generative=settings.anthropic_api_key is not None))
    handoff = HandoffDesk(bot.log.engine, settings.file.access, settings.file.handoff)
    slack: AsyncApp | None = None
    if settings.slack_bot_token is not None and settings.slack_signing_secret is not None:
        front = SlackFrontEnd(bot, bot.conversations, settings.file.slack, desk, workers, handoff)
        slack = build_slack_app(
            front,
            settings.slack_bot_token.get_secret_value(),
            settings.slack_signing_secret.get_secret_value(),
            settings.slack_api_url,
        )
    teams = (
        TeamsEndpoint(bot, bot.conversations, settings.file.teams, desk, settings.teams, workers, handoff)
        if settings.teams is not None
        else None
    )
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    schedule = None
    if settings.file.digest.leads and settings.file.digest.scheduled:
        poster = teams_poster(settings, teams.adapter if teams else None)
        publisher = make_publisher(
            settings,
            bot.log.engine,
            kb,
            ragas_quality(settings, bot, kb),
            slack.client if slack else None,
            poster,
        )
        schedule = DigestSchedule(publisher, settings.file.digest)
    follow_up = None
    if settings.file.notices.enabled:
        teams_notices = (
            TeamsNotices(teams.adapter, settings.teams.app_id) if teams and settings.teams else None
        )
        follow_up = ChangeFollowUp(
            bot, kb.list_documents, settings.file.notices, slack.client if slack else None, teams_notices
        )
    supervisor = start_supervisor(kb, settings.knowledge.weaviate, settings.data_dir)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    checks = serve_dependencies(supervisor.down_reason, bot.log.engine, token, settings.slack_api_url)
    try:
        return asyncio.run(
            _serve(
                build_web_app(slack, teams, HealthMonitor(checks)),
                host,
                port,
                slack,
                app_token,
                teams is not None,
                schedule,
                follow_up,
                lambda: bot.records.keep_replaying(settings.file.journal.replay_interval_s),
            )
        )
    finally:
        supervisor.stop()
        workers.shutdown()


async def _serve(
    web_app: web.Application,
    host: str,
    port: int,
    slack: AsyncApp | None,
    app_token: str | None,
    teams: bool,
    schedule: DigestSchedule | None = None,
    follow_up: ChangeFollowUp | None = None,
    replay_journal: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stopped_by: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):

        def on_signal(signum: int = signum) -> None:
            stopped_by.append(signum)
            stop.set()

        # Handled in the loop, not by raising in it: a raise would cancel answers under way.
        loop.add_signal_handler(signum, on_signal)
    runner = web.AppRunner(web_app)
    await runner.setup()
    background: list[asyncio.Task[None]] = []
    socket = socket_mode_handler(slack, app_token) if slack is not None and app_token else None
    try:
        await web.TCPSite(runner, host, port).start()
        base = f"http://{host}:{port}"
        if socket is not None:
            await socket.connect_async()  # events come over the WebSocket instead
            terminal.err.print("Connected to Slack in Socket Mode")
        elif slack is not None:
            terminal.err.print(f"Serving Slack events at {base}/slack/events")
        if teams:
            terminal.err.print(f"Serving Teams (Bot Framework) at {base}/api/messages")
        terminal.err.print(f"Health: {base}/health")
        if schedule is not None:
            background.append(asyncio.create_task(schedule.run(), name="weekly-digest"))
            terminal.err.print(f"Weekly digest: {schedule.describe()}")
        if replay_journal is not None:  # writes kept while the database was down go in when it is back
            background.append(asyncio.create_task(replay_journal(), name="journal-replay"))
        if follow_up is not None:
            background.append(asyncio.create_task(follow_up.run(), name="change-notices"))
            terminal.err.print(f"Change notices: answers of the last {follow_up.settings.days} days")
        await stop.wait()
    finally:
        for task in background:
            task.cancel()  # unposted claims are given back; another replica picks them up
        if socket is not None:
            await socket.close_async()
        await runner.cleanup()  # no new requests from here on
        await _finish_work_under_way()
    return 128 + stopped_by[0] if stopped_by else 0


async def _finish_work_under_way(timeout: float = 60) -> None:
    """Answers and ingests run as tasks after their request was acknowledged: let them end."""
    pending = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
    if pending:
        terminal.err.print(f"Finishing {len(pending)} answer(s) under way...")
        _, late = await asyncio.wait(pending, timeout=timeout)
        if late:
            logger.warning("%d answer(s) still running after %.0f s were abandoned", len(late), timeout)

"""The one aiohttp server the chat platforms talk to: Slack at /slack/events, Teams at
/api/messages, plus /health for load balancers and container probes and /metrics for
Prometheus (counts and timings only: no question text, channel or user appears there)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

if TYPE_CHECKING:
    from adapters.teams import TeamsEndpoint


def build_web_app(slack: AsyncApp | None, teams: TeamsEndpoint | None = None) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "slack": slack is not None, "teams": teams is not None})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    if slack is not None:

        async def slack_events(request: web.Request) -> web.Response:
            # Bolt verifies the signature and timestamp before anything else runs.
            return await to_aiohttp_response(await slack.async_dispatch(await to_bolt_request(request)))

        app.router.add_post("/slack/events", slack_events)
    if teams is not None:
        app.router.add_post("/api/messages", teams.handle)
    return app

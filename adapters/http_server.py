"""The one aiohttp server the chat platforms talk to: Slack at /slack/events, Teams at
/api/messages, plus /health for load balancers and container probes and /metrics for
Prometheus (counts and timings only: no question text, channel or user appears there).

/health is 200 while every dependency's last check passed, 503 naming each failing one
otherwise (adapters/health.py keeps the checks running in the background)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

if TYPE_CHECKING:
    from adapters.health import HealthMonitor
    from adapters.teams import TeamsEndpoint


async def malformed_slack_request(request: web.Request) -> web.Response | None:
    """401 for a timestamp that is no number, 400 for a body that is not what it claims to be."""
    if not request.headers.get("X-Slack-Request-Timestamp", "").strip().isdigit():
        return web.json_response({"error": "invalid X-Slack-Request-Timestamp"}, status=401)
    body = await request.read()  # aiohttp keeps it: Bolt reads it again
    try:
        text = body.decode("utf-8")
        if request.content_type == "application/json":
            json.loads(text)
        elif "payload" in (form := parse_qs(text)):
            json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError):
        return web.json_response({"error": "malformed request body"}, status=400)
    return None


def build_web_app(
    slack: AsyncApp | None, teams: TeamsEndpoint | None = None, monitor: HealthMonitor | None = None
) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024)

    async def health(_: web.Request) -> web.Response:
        body: dict[str, object] = {"status": "ok", "slack": slack is not None, "teams": teams is not None}
        failing = monitor.failing() if monitor is not None else {}
        if failing:
            return web.json_response({**body, "status": "failing", "failing": failing}, status=503)
        return web.json_response(body)

    if monitor is not None:

        async def start_checks(_: web.Application) -> None:
            await monitor.start()

        async def stop_checks(_: web.Application) -> None:
            await monitor.stop()

        app.on_startup.append(start_checks)
        app.on_cleanup.append(stop_checks)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    if slack is not None:

        async def slack_events(request: web.Request) -> web.Response:
            # Bolt verifies the signature and timestamp, but a timestamp that is not a number,
            # or a body it cannot parse, raises inside it: a 500 for what is the sender's fault.
            refusal = await malformed_slack_request(request)
            if refusal is not None:
                return refusal
            return await to_aiohttp_response(await slack.async_dispatch(await to_bolt_request(request)))

        app.router.add_post("/slack/events", slack_events)
    if teams is not None:
        app.router.add_post("/api/messages", teams.handle)
        warming: set[asyncio.Task[None]] = set()

        async def warm_teams_keys(_: web.Application) -> None:
            # In the background: the server listens at once, and the first Teams request
            # finds the signing keys fetched (or waits for that fetch in a thread, not the loop).
            task = asyncio.create_task(teams.auth.warm())
            warming.add(task)
            task.add_done_callback(warming.discard)

        app.on_startup.append(warm_teams_keys)
    return app

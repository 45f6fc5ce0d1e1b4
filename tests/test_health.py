"""The checks behind /health, each against a real server (the fake Slack Web API)."""

from __future__ import annotations

import asyncio
import threading

from adapters.health import Dependency, HealthMonitor, slack_check
from knowledge.weaviate_server import free_port
from tests.fakes.slack_api import FakeSlack


def test_slack_check_names_a_refused_token_and_an_unreachable_api() -> None:
    with FakeSlack(bot_token="xoxb-live") as fake:
        assert slack_check("xoxb-live", fake.api_url)() is None
        assert slack_check("xoxb-revoked", fake.api_url)() == "Slack refused the bot token (invalid_auth)"
    unreachable = slack_check("xoxb-live", f"http://127.0.0.1:{free_port()}/api/")()
    assert unreachable is not None and unreachable.startswith("Slack's API did not answer"), unreachable


def test_a_hung_check_is_reported_failing_without_holding_up_the_others() -> None:
    release = threading.Event()
    entered = threading.Event()

    def hung() -> str | None:
        entered.set()
        release.wait()
        return None

    async def scenario() -> tuple[dict[str, str], dict[str, str]]:
        monitor = HealthMonitor(
            [Dependency("database", hung, 60.0), Dependency("weaviate", lambda: "down", 60.0)], slow_after=0
        )
        assert monitor.failing() == {"database": "not checked yet", "weaviate": "not checked yet"}
        await monitor.start()
        await asyncio.to_thread(entered.wait)
        while monitor.failing().get("weaviate") != "down":  # the other check finished meanwhile
            await asyncio.sleep(0.01)
        during = monitor.failing()
        release.set()
        while "database" in monitor.failing():
            await asyncio.sleep(0.01)
        after = monitor.failing()
        await monitor.stop()
        return during, after

    during, after = asyncio.run(scenario())
    assert during["weaviate"] == "down" and during["database"].startswith("no answer to the check for")
    assert after == {"weaviate": "down"}

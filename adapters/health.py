"""What /health reports: each dependency's last check, refreshed in the background.

/health answers from these cached results, so it stays fast and never waits on a
dependency: a database locked for 25 s makes its check hang, not the endpoint. Each check
runs in a thread of its own (a hung one holds no other), on its own schedule; a check that
has not finished after `slow_after` seconds counts as failing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine, text

logger = logging.getLogger(__name__)

Check = Callable[[], str | None]  # None: fine; otherwise why the dependency fails
_RECHECK_FAILING = 15.0
_UNCHECKED = "not checked yet"


@dataclass(frozen=True)
class Dependency:
    name: str
    check: Check
    every: float  # seconds between checks


class HealthMonitor:
    def __init__(self, dependencies: list[Dependency], slow_after: float = 5.0) -> None:
        self.dependencies = dependencies
        self.slow_after = slow_after
        # Failing until checked: serve listens at once, and says so for its first moments.
        self._failing: dict[str, str] = {d.name: _UNCHECKED for d in dependencies}
        self._running_since: dict[str, float] = {}
        self._executor = ThreadPoolExecutor(max(1, len(dependencies)), thread_name_prefix="health")
        self._tasks: list[asyncio.Task[None]] = []

    def failing(self) -> dict[str, str]:
        """Each failing dependency and why, from the last checks: never waits."""
        now = time.monotonic()
        failing = dict(self._failing)
        for name, since in list(self._running_since.items()):
            if now - since >= self.slow_after:
                failing[name] = f"no answer to the check for {now - since:.0f} s"
        return failing

    async def start(self) -> None:
        """Start checking, each dependency at once and then on its schedule."""
        self._tasks = [
            asyncio.create_task(self._keep_checking(d), name=f"health-{d.name}") for d in self.dependencies
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)  # a hung check is not waited for

    async def _keep_checking(self, dependency: Dependency) -> None:
        while True:
            await self._check(dependency)
            # A failing dependency is looked at again sooner: /health says when it is back.
            failing = dependency.name in self._failing
            await asyncio.sleep(min(dependency.every, _RECHECK_FAILING) if failing else dependency.every)

    async def _check(self, dependency: Dependency) -> None:
        self._running_since[dependency.name] = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            reason = await loop.run_in_executor(self._executor, dependency.check)
        except Exception as error:  # a check that breaks says so, it does not stop checking
            # The first line only: the rest of a driver's message is the SQL and a help link.
            first = (str(error).splitlines() or [""])[0][:200]
            reason = f"{type(error).__name__}: {first}"
        finally:
            self._running_since.pop(dependency.name, None)
        was = self._failing.get(dependency.name)
        if reason is None:
            self._failing.pop(dependency.name, None)
            if was not in (None, _UNCHECKED):
                logger.warning("health: %s is back", dependency.name)
        else:
            self._failing[dependency.name] = reason
            if was in (None, _UNCHECKED):
                logger.warning("health: %s is failing: %s", dependency.name, reason)


def database_check(engine: Engine) -> Check:
    def check() -> str | None:
        # A real table, in the engine's own kind of transaction: on SQLite that begins
        # IMMEDIATE (bot/store/database.py), taking the write lock for a moment, so a database
        # another writer holds, or a read-only file, shows here as it would to the bot.
        with engine.connect() as connection:
            connection.execute(text("SELECT 1 FROM alembic_version"))
        return None

    return check


def slack_check(token: str, api_url: str | None) -> Check:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=token, base_url=api_url or WebClient.BASE_URL, timeout=10)

    def check() -> str | None:
        try:
            client.auth_test()
        except SlackApiError as error:
            return f"Slack refused the bot token ({error.response.get('error', 'error')})"
        except OSError as error:
            return f"Slack's API did not answer ({type(error).__name__})"
        return None

    return check


def serve_dependencies(
    weaviate: Check, engine: Engine, slack_token: str | None = None, slack_api_url: str | None = None
) -> list[Dependency]:
    """What serve needs: Weaviate (the supervisor's verdict, cheap), the database and, when
    configured, Slack's acceptance of the bot token (a network call: every 5 minutes)."""
    found = [Dependency("weaviate", weaviate, 0.5), Dependency("database", database_check(engine), 5.0)]
    if slack_token:
        found.append(Dependency("slack", slack_check(slack_token, slack_api_url), 300.0))
    return found

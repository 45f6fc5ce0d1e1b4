"""Our HTTP server in a thread for the Slack tests and the Slack benchmark, and small helpers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.slack import socket_mode_handler
from bot.store.models import Vote
from knowledge.weaviate_server import free_port
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import (
    event_callback,
    signed_headers,
)

T = TypeVar("T")
SECRET = "test-signing-secret"
REMOTE = "How many days per week can I work remotely?"
BREACH = "Within how many hours must personal data breaches be reported to the data protection officer?"


class SlackServer:
    """Our HTTP server (Bolt + SlackFrontEnd) in a thread with its own event loop."""

    def __init__(self, web_app: web.Application, slack: AsyncApp | None = None) -> None:
        self.slack = slack
        self.socket: AsyncSocketModeHandler | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(web_app)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Runs `work` in the server's event loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=timeout)

    def settle(self, timeout: float = 60) -> None:
        """Returns once every Slack listener started so far has finished.

        Bolt acknowledges first and runs the listener as a task of its own: a request's 200
        says nothing about what the listener will still do. This is the barrier before
        asserting that nothing more was posted or stored."""

        async def listeners_done() -> None:
            while running := [t for t in asyncio.all_tasks() if _is_bolt_listener(t)]:
                await asyncio.wait(running)

        self.run(listeners_done(), timeout)

    def connect_socket_mode(self, app_token: str) -> None:
        slack = self.slack
        assert slack is not None

        async def connect() -> None:
            # The handler's aiohttp session must be made inside the running loop.
            self.socket = socket_mode_handler(slack, app_token)
            await self.socket.connect_async()

        asyncio.run_coroutine_threadsafe(connect(), self._loop).result(timeout=30)

    async def _stop(self) -> None:
        if self.socket is not None:
            await self.socket.close_async()
        await self._runner.cleanup()
        # Answers still running in the background finish before the loop goes.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=15)

    def close(self) -> None:
        if self._loop.is_closed():  # closed by the test already (a restart)
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def post(
        self, body: str, headers: dict[str, str] | None = None, path: str = "/slack/events"
    ) -> tuple[int, str]:
        request = urllib.request.Request(
            self.url + path,
            data=body.encode(),
            headers=headers or signed_headers(body, SECRET),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def event(self, event: dict[str, Any], event_id: str) -> tuple[int, str]:
        return self.post(json.dumps(event_callback(event, event_id)))


def _is_bolt_listener(task: asyncio.Task[Any]) -> bool:
    # slack_bolt's AsyncioListenerRunner starts each listener as this nested coroutine.
    coroutine = task.get_coro()
    return not task.done() and getattr(coroutine, "__name__", "") == "run_ack_function_asynchronously"


class HeldRetrieval:
    """The knowledge base with retrieval held until the test calls `release()`: proves that a
    request is answered before its question is, without timing either."""

    def __init__(self, knowledge: Any) -> None:
        self.knowledge = knowledge
        self.access = knowledge.access
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def retrieve(self, *args: Any, **kwargs: Any) -> Any:
        assert self._released.wait(60), "retrieval was never released"
        return self.knowledge.retrieve(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.knowledge, name)


def texts(call: Any) -> str:
    return json.dumps(call.params.get("blocks", [])) + call.params.get("text", "")


def count(engine: Any, model: Any) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def current_votes(engine: Any) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        rows = session.scalars(select(Vote).where(Vote.retracted_at.is_(None)).order_by(Vote.id))
        return [(v.user_id, v.value, v.source) for v in rows]


def wait_until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def ingest_reply(fake: FakeSlack, count: int) -> str:
    return fake.wait_for("chat.postMessage", count=count, timeout=60)[count - 1].params["text"]

"""Askers' names from users.info: looked up once, and no failure ever reaches the answer path.

Through the real `slack_sdk` client, set up as `serve` sets it up (`web_client`: retries on
connection errors, waits out 429s), against the fake Slack Web API, a closed port, a port
that never answers and a server that answers garbage.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from types import SimpleNamespace

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import people as people_module
from adapters.slack import web_client
from adapters.slack.people import SlackPeople
from tests.fakes.slack_api import FakeSlack

TOKEN = "xoxb-people-test-secret"
# What the client alone would wait (its timeout; Retry-After below): the lookups must give up
# long before. Half of it leaves a loaded machine all the slack it needs.
SLACK_WAITS = 30.0


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=TOKEN) as server:
        server.add_user("U1", "Grant Holiday")
        yield server


def names(people: SlackPeople, client: AsyncWebClient, *users: str) -> list[tuple[str, ...]]:
    async def look_up() -> list[tuple[str, ...]]:
        return [await people.names(client, user) for user in users]

    return asyncio.run(look_up())


def timed(people: SlackPeople, client: AsyncWebClient, user: str) -> tuple[tuple[str, ...], float]:
    start = time.monotonic()
    [found] = names(people, client, user)
    return found, time.monotonic() - start


def failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "adapters.slack.people"]


def test_names_are_looked_up_once(fake: FakeSlack) -> None:
    people, client = SlackPeople(), web_client(TOKEN, fake.api_url)
    first, again, bot = names(people, client, "U1", "U1", "UBOT")
    assert first == again and "Grant Holiday" in first
    assert bot == ()  # bots have no names to scrub
    assert [c.params["user"] for c in fake.calls_to("users.info")] == ["U1", "UBOT"]


def test_a_failing_users_info_is_remembered_briefly(
    fake: FakeSlack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cache's clock is the test's: expiry is a step of the clock, not a wait.
    now = [time.monotonic()]
    monkeypatch.setattr(people_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    caplog.set_level(logging.INFO, "adapters.slack.people")
    client = web_client(TOKEN, fake.api_url)
    fake.fail("users.info", "missing_scope")
    assert names(SlackPeople(), client, "U1", "U1") == [(), ()]  # not asked twice in five minutes
    assert len(fake.calls_to("users.info")) == 1
    [record] = failures(caplog)
    assert record.levelno == logging.INFO and record.getMessage() == "users.info for U1 failed: missing_scope"

    # Once the failure has expired Slack is asked again, and a success is kept for long.
    people = SlackPeople(failure_ttl_s=0.2)
    fake.fail("users.info", "internal_error")
    assert names(people, client, "U1") == [()]
    now[0] += 0.3
    [found] = names(people, client, "U1")
    now[0] += 0.3
    assert names(people, client, "U1") == [found] and "Grant Holiday" in found
    assert len(fake.calls_to("users.info")) == 3


def test_a_rate_limit_is_not_waited_out(fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    # The client's retry handler would sleep Retry-After (30 s) before each of 3 retries.
    fake.rate_limit("users.info", times=4, retry_after=30)
    people = SlackPeople(timeout_s=0.5)
    found, took = timed(people, web_client(TOKEN, fake.api_url), "U1")
    assert found == () and took < SLACK_WAITS / 2
    [record] = failures(caplog)
    assert record.levelno == logging.WARNING and record.getMessage().endswith("TimeoutError")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_api_gives_no_names(caplog: pytest.LogCaptureFixture) -> None:
    people, client = SlackPeople(), web_client(TOKEN, f"http://127.0.0.1:{closed_port()}/api/")
    found, took = timed(people, client, "U1")
    assert found == () and took < SLACK_WAITS / 2
    assert names(people, client, "U1") == [()]
    [record] = failures(caplog)  # the second question did not try again
    assert record.levelno == logging.WARNING and "Error" in record.getMessage()
    assert TOKEN not in caplog.text and "127.0.0.1" not in caplog.text


def test_an_api_that_never_answers_times_out(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as listener:  # accepts connections (the backlog) and never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/api/"
        found, took = timed(SlackPeople(timeout_s=0.3), web_client(TOKEN, url), "U1")
    assert found == () and took < SLACK_WAITS / 2
    assert [r.getMessage() for r in failures(caplog)] == ["users.info for U1 failed: TimeoutError"]


class _Garbage(BaseHTTPRequestHandler):
    """Answers every call with a 200 that says it is JSON and is not."""

    def do_GET(self) -> None:
        self._garbage()

    def do_POST(self) -> None:
        self._garbage()

    def _garbage(self) -> None:
        body = b"<html>upstream proxy error"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_answer_that_is_not_json_gives_no_names(caplog: pytest.LogCaptureFixture) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/"
        assert names(SlackPeople(), web_client(TOKEN, url), "U1", "U1") == [(), ()]
    finally:
        server.shutdown()
        server.server_close()
    [record] = failures(caplog)
    assert record.levelno == logging.WARNING and record.getMessage() == (
        "users.info for U1 failed: HTTP 200 without a Slack error code"
    )
    assert TOKEN not in caplog.text

"""Two `serve` processes on one PostgreSQL and one Weaviate, as a scaled-out deployment runs:
whichever replica Slack delivers to, each event is acted on once."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.database import create_db_engine
from bot.store.models import AnswerMessage, Vote
from tests.fakes.postgres_server import PostgresServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import (
    event_callback,
    mention_event,
    message_event,
    reaction_event,
    signed_headers,
)
from tests.slack.harness import REMOTE, SECRET
from tests.test_serve import serving, with_digest

pytestmark = [pytest.mark.weaviate, pytest.mark.slow]
POLICY = """title: Bike Scheme
audience: everyone
version: 1

Staff may lease a bicycle through salary sacrifice for up to 2,400 EUR every four years."""


def deliver(url: str, event: dict[str, Any], event_id: str) -> int:
    body = json.dumps(event_callback(event, event_id))
    request = urllib.request.Request(url + "/slack/events", body.encode(), signed_headers(body, SECRET))
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def wait(condition: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


def test_two_replicas_act_on_each_event_once(
    samples_env: dict[str, str], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    database = postgres_server.create_database("replicas")
    with FakeSlack(bot_token="xoxb-replicas") as fake, ExitStack() as stack:
        environ = with_digest(
            {
                **samples_env,
                "DATABASE_URL": database,
                "SLACK_BOT_TOKEN": "xoxb-replicas",
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": fake.api_url,
            },
            tmp_path,
            "https://unused.example/",
            slack_only=True,
        )
        replicas = [stack.enter_context(serving(environ)) for _ in range(2)]
        [one, two] = [url for _, url in replicas]

        def posts(channel: str) -> list[Any]:
            return [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == channel]

        # Slack redelivers an event it thinks failed, possibly to the other replica.
        mention = mention_event(REMOTE, "C0ENG", "U1", "1700000090.000100")
        assert deliver(one, mention, "EvRep1") == deliver(two, mention, "EvRep1") == 200
        [answer] = wait(lambda: posts("C0ENG"), "no answer")
        engine = create_db_engine(database)
        stack.callback(engine.dispose)
        ts = wait(lambda: _answer_ts(engine), "the answer message was not recorded")
        # The same reaction, delivered to both, is one vote.
        reaction = reaction_event("reaction_added", "+1", "U5", "C0ENG", ts)
        deliver(one, reaction, "EvRep2")
        deliver(two, reaction, "EvRep2")
        wait(lambda: _votes(engine), "no vote")
        # The weekly digest was due at start: one post, not one per replica.
        wait(lambda: fake.calls_to("files.completeUploadExternal"), "no digest charts")
        # A policy posted through one replica is answered from by the other at once.
        post = message_event(POLICY, "C0INGEST", "U0HR1", "1700000091.000100", channel_type="channel")
        deliver(one, post, "EvRep3")
        wait(lambda: any("Bike Scheme" in json.dumps(c.params) for c in posts("C0INGEST")), "no ingest reply")
        question = mention_event("How much can I lease a bicycle for?", "C0ENG", "U2", "1700000092.000100")
        deliver(two, question, "EvRep4")
        wait(lambda: len(posts("C0ENG")) == 2, "no second answer")
        # Both replicas stop as on a deploy: each finishes the work under way, then exits.
        # Whatever either was still going to post has been posted then.
        for process, _ in replicas:
            process.send_signal(signal.SIGTERM)
        for process, _ in replicas:
            output, _ = process.communicate(timeout=90)
            assert process.returncode == 128 + signal.SIGTERM, output
        second = posts("C0ENG")[1]
        assert "2,400 EUR" in json.dumps(second.params["blocks"]) and "Bike Scheme" in json.dumps(
            second.params
        )
        assert len(posts("C0ENG")) == 2 and answer.params["thread_ts"] == "1700000090.000100"
        assert _votes(engine) == [("U5", "up")]
        assert len(posts("C0LEADS")) == 1 and len(fake.calls_to("files.completeUploadExternal")) == 1


def _answer_ts(engine: Any) -> str | None:
    with Session(engine) as session:
        return session.scalars(
            select(AnswerMessage.message_id).where(AnswerMessage.channel == "C0ENG")
        ).first()


def _votes(engine: Any) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [
            (v.user_id, v.value) for v in session.scalars(select(Vote).where(Vote.retracted_at.is_(None)))
        ]

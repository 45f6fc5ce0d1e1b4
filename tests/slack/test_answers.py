"""Slack questions, votes and delivery: mentions, DMs, /ask, reactions, buttons, redeliveries, Socket Mode."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.http_server import build_web_app
from adapters.slack.listeners import APOLOGY, vote_of
from adapters.slack.render import FEEDBACK_ACTION
from bot.store.models import AnswerMessage, Interaction, Vote
from bot.types import VoteValue
from knowledge.service import WeaviateKnowledgeBase
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import (
    block_actions_payload,
    event_callback,
    mention_event,
    message_event,
    reaction_event,
    signed_headers,
    slash_command_form,
)
from tests.fakes.slack_socket import FakeSocketMode
from tests.slack.conftest import ServerFactory
from tests.slack.harness import (
    BREACH,
    REMOTE,
    SECRET,
    HeldRetrieval,
    SlackServer,
    count,
    current_votes,
    texts,
    wait_until,
)

pytestmark = pytest.mark.weaviate


def test_a_mention_is_answered_in_its_thread_with_citations(
    start: ServerFactory, fake: FakeSlack, engine: Any, kb: WeaviateKnowledgeBase
) -> None:
    held = HeldRetrieval(kb)
    server = start(knowledge=held)
    fake.add_user("U1", "Priya Sharma", profile={"real_name": "Priya Sharma", "display_name": "priya.s"})
    # Acknowledged while the answer is held: acknowledged before answering.
    status, _ = server.event(mention_event(REMOTE, "C0ENG", "U1", "1700000001.000100"), "Ev1")
    assert status == 200 and fake.calls_to("chat.postMessage") == []
    held.release()
    [post] = fake.wait_for("chat.postMessage")
    assert post.params["channel"] == "C0ENG" and post.params["thread_ts"] == "1700000001.000100"
    body = texts(post)
    assert "three days per week" in body and "Remote Work Policy" in body and "v2" in body
    assert any(b["type"] == "context_actions" for b in post.params["blocks"])
    # The working indicator came and went on the question.
    [added] = fake.wait_for("reactions.add")
    assert (added.params["name"], added.params["timestamp"]) == ("eyes", "1700000001.000100")
    fake.wait_for("reactions.remove")
    with Session(engine) as session:
        row = session.scalars(select(Interaction)).one()
    assert (row.platform, row.channel, row.user_id, row.thread_id) == (
        "slack",
        "C0ENG",
        "U1",
        "1700000001.000100",
    )


def test_the_channel_decides_what_is_visible(start: ServerFactory, fake: FakeSlack) -> None:
    server = start()
    server.event(mention_event(BREACH, "C0ENG", "U1", "1700000002.000100"), "Ev2")
    server.event(mention_event(BREACH, "C0SEC", "U1", "1700000003.000100"), "Ev3")
    posts = {p.params["channel"]: texts(p) for p in fake.wait_for("chat.postMessage", count=2)}
    assert "Security Incident Response" not in posts["C0ENG"] and "24 hours" not in posts["C0ENG"]
    assert "Security Incident Response" in posts["C0SEC"] and "24 hours" in posts["C0SEC"]


def test_a_follow_up_in_the_thread_uses_the_earlier_turn(start: ServerFactory, fake: FakeSlack) -> None:
    server = start()
    server.event(mention_event(REMOTE, "C0ENG", "U1", "1700000004.000100"), "Ev4")
    fake.wait_for("chat.postMessage")
    follow = mention_event(
        "what about from abroad?", "C0ENG", "U1", "1700000005.000100", thread_ts="1700000004.000100"
    )
    server.event(follow, "Ev5")
    _, second = fake.wait_for("chat.postMessage", count=2)
    assert second.params["thread_ts"] == "1700000004.000100"
    assert "20 working days" in texts(second)


def test_direct_messages_and_slash_commands(start: ServerFactory, fake: FakeSlack, engine: Any) -> None:
    server = start()
    # Without users:read the names are missing, and the question is answered all the same.
    fake.fail("users.info", "missing_scope", times=2)
    server.event(message_event(REMOTE, "D0DM1", "U1", "1700000006.000100"), "Ev6")
    [dm] = fake.wait_for("chat.postMessage")
    assert dm.params["channel"] == "D0DM1" and "three days per week" in texts(dm)
    # The bot's own messages (and other bots') are never answered.
    server.event(message_event("I am a bot", "D0DM1", "UBOT", "1700000007.000100", bot_id="BBOT"), "Ev7")
    status, ack = server.post(slash_command_form("/ask", REMOTE, "U2", "C0ENG"))
    assert status == 200 and "Looking that up" in ack
    [private] = fake.wait_for("chat.postEphemeral")
    assert private.params["user"] == "U2" and "three days per week" in texts(private)
    server.settle()
    assert len(fake.calls_to("chat.postMessage")) == 1
    with Session(engine) as session:
        assert session.scalars(select(Interaction.asker_names)).all() == [[], []]


def test_reactions_and_buttons_vote_on_the_answer(start: ServerFactory, fake: FakeSlack, engine: Any) -> None:
    server = start()
    server.event(mention_event(REMOTE, "C0ENG", "U1", "1700000008.000100"), "Ev8")
    fake.wait_for("chat.postMessage")
    wait_until(lambda: count(engine, AnswerMessage) == 1)
    with Session(engine) as session:
        ts = session.scalars(select(AnswerMessage.message_id)).one()  # the posted answer's ts
    server.event(reaction_event("reaction_added", "+1::skin-tone-3", "U5", "C0ENG", ts), "Ev9")
    server.event(
        reaction_event("reaction_added", "thumbsup", "U6", "C0ENG", "1699999999.000001", item_user="U1"),
        "Ev10",
    )
    wait_until(lambda: count(engine, Vote) == 1)
    server.event(reaction_event("reaction_removed", "+1::skin-tone-3", "U5", "C0ENG", ts), "Ev11")
    wait_until(lambda: current_votes(engine) == [])
    with Session(engine) as session:
        interaction_id = session.scalars(select(Interaction.id)).one()
    status, _ = server.post(
        block_actions_payload(
            FEEDBACK_ACTION, f"down:{interaction_id}", "U7", "C0ENG", ts, action_type="feedback_buttons"
        )
    )
    assert status == 200
    wait_until(lambda: current_votes(engine) == [("U7", "down", "button")])
    with Session(engine) as session:
        history = [
            (v.user_id, v.value, v.source, v.retracted_at is None)
            for v in session.scalars(select(Vote).order_by(Vote.id))
        ]
    assert history == [("U5", "up", "reaction", False), ("U7", "down", "button", True)]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_redeliveries_are_answered_once_even_by_two_instances(start: ServerFactory, fake: FakeSlack) -> None:
    first, second = start(), start(own_engine=True)  # two replicas on one database
    event = mention_event(REMOTE, "C0ENG", "U1", "1700000010.000100")
    statuses = [(first if i % 2 else second).event(event, "EvSame")[0] for i in range(5)]
    assert statuses == [200] * 5
    fake.wait_for("chat.postMessage")
    first.settle()
    second.settle()
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_a_redelivery_after_a_restart_is_not_answered_again(start: ServerFactory, fake: FakeSlack) -> None:
    before = start()
    event = mention_event(REMOTE, "C0ENG", "U1", "1700000013.000100")
    assert before.event(event, "EvRestart")[0] == 200
    fake.wait_for("chat.postMessage")
    before.close()
    after = start(own_engine=True)  # a new process: nothing in memory, only the database
    assert after.event(event, "EvRestart")[0] == 200
    fresh = mention_event(BREACH, "C0ENG", "U1", "1700000014.000100")
    assert after.event(fresh, "EvAfterRestart")[0] == 200
    posts = fake.wait_for("chat.postMessage", count=2)
    after.settle()
    assert [p.params["thread_ts"] for p in fake.calls_to("chat.postMessage")] == [
        "1700000013.000100",
        "1700000014.000100",
    ], posts


def test_forged_or_stale_requests_are_refused(start: ServerFactory, fake: FakeSlack, engine: Any) -> None:
    server = start()
    body = json.dumps(event_callback(mention_event(REMOTE, "C0ENG", "U1", "1700000011.000100"), "EvForged"))
    forged = signed_headers(body, "not-the-secret")
    stale = signed_headers(body, SECRET, timestamp=int(time.time()) - 6 * 60)
    assert server.post(body, forged)[0] == 401
    assert server.post(body, stale)[0] == 401
    server.settle()
    assert fake.calls_to("chat.postMessage") == [] and count(engine, Interaction) == 0


def test_rate_limits_are_retried_and_failures_apologise(
    start: ServerFactory, fake: FakeSlack, kb: WeaviateKnowledgeBase
) -> None:
    server = start()
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    server.event(mention_event(REMOTE, "C0ENG", "U1", "1700000012.000100"), "Ev12")
    attempts = fake.wait_for("chat.postMessage", count=2, timeout=60)
    assert "three days per week" in texts(attempts[-1])
    # A post that fails for good is followed by a short apology in the thread, not silence.
    fake.fail("chat.postMessage", error="msg_too_long")
    server.event(mention_event(REMOTE, "C0ENG", "U1", "1700000013.000100"), "Ev13")
    apology = fake.wait_for("chat.postMessage", count=4)[-1]
    assert apology.params["text"] == APOLOGY and apology.params["thread_ts"] == "1700000013.000100"


def test_health_and_reaction_names() -> None:
    assert vote_of("+1") is VoteValue.UP and vote_of("thumbsup::skin-tone-2") is VoteValue.UP
    assert vote_of("-1::skin-tone-6") is VoteValue.DOWN and vote_of("thumbsdown") is VoteValue.DOWN
    assert vote_of("eyes") is None and vote_of("") is None
    server = SlackServer(build_web_app(None))
    try:
        with urllib.request.urlopen(server.url + "/health", timeout=10) as response:
            assert json.loads(response.read()) == {"status": "ok", "slack": False, "teams": False}
    finally:
        server.close()


def test_socket_mode_receives_events_over_a_websocket(start: ServerFactory, fake: FakeSlack) -> None:
    socket = FakeSocketMode()
    fake.socket_url = socket.url
    try:
        server = start()
        server.connect_socket_mode("xapp-test")
        socket.wait_connected()
        envelope = socket.send(
            "events_api", event_callback(mention_event(REMOTE, "C0ENG", "U1", "1700000050.000100"), "EvWs")
        )
        assert socket.wait_ack(envelope)["envelope_id"] == envelope
        [post] = fake.wait_for("chat.postMessage")
        assert post.params["thread_ts"] == "1700000050.000100" and "three days per week" in texts(post)
        opened = fake.calls_to("apps.connections.open")
        assert opened and all(call.token == "xapp-test" for call in opened)
    finally:
        socket.close()


def test_tokens_and_secrets_never_reach_the_logs(
    start: ServerFactory, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """Every logger at DEBUG (the SDKs', aiohttp's, ours) through an answer, a retried 429, a
    file download, a forged request and a Socket Mode connection: no token or secret appears."""
    socket = FakeSocketMode()
    fake.socket_url = socket.url
    try:
        with caplog.at_level(logging.DEBUG):
            server = start()
            server.connect_socket_mode("xapp-test")
            socket.wait_connected()
            fake.rate_limit("chat.postMessage", times=1, retry_after=1)
            server.event(mention_event(REMOTE, "C0ENG", "U1", "1700000060.000100"), "EvLog1")
            note = fake.add_file(
                "F60", "note.txt", "text", b"Kettles\nKettles are descaled monthly.", "text/plain"
            )
            post = message_event(
                "audience: everyone",
                "C0INGEST",
                "U0HR1",
                "1700000061.000100",
                channel_type="channel",
                files=[note],
            )
            server.event(post, "EvLog2")
            body = json.dumps(
                event_callback(mention_event(REMOTE, "C0ENG", "U1", "1700000062.000100"), "EvLog3")
            )
            assert server.post(body, signed_headers(body, "not-the-secret"))[0] == 401
            fake.wait_for("chat.postMessage", count=3, timeout=60)  # 429, its retry, the ingest reply
            assert fake.calls_to("files-pri")
    finally:
        socket.close()
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "chat.postMessage" in logged  # the SDK did log its calls at DEBUG
    for secret in ["xoxb-test", "xapp-test", SECRET]:
        assert secret not in logged

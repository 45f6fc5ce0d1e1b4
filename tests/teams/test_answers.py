"""Teams questions: the real CloudAdapter, JWT validation on, answers to the fake Bot Connector."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import AnswerMessage, Interaction, ProcessedEvent
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.ms_identity import FakeIdentity
from tests.fakes.teams_payloads import (
    BOT_APP_ID,
    CHANNEL_ID,
    TENANT_ID,
    USER_AAD_ID,
    USER_NAME,
    channel_mention,
    group_chat_message,
    personal_message,
)
from tests.slack.harness import BREACH, REMOTE, HeldRetrieval, count, wait_until
from tests.teams.conftest import PASSWORD, SEC, ServerFactory
from tests.teams.helpers import answers, card_text, links

pytestmark = pytest.mark.weaviate


def test_a_channel_mention_is_answered_in_its_thread(
    start: ServerFactory, connector: FakeConnector, engine: Any, kb: Any
) -> None:
    held = HeldRetrieval(kb)
    server = start(knowledge=held)
    mention = channel_mention(REMOTE, service_url=connector.service_url)
    status, _ = server.send(mention)  # returns while the answer is held: answered after the response
    assert status in {200, 201} and connector.replies() == []
    held.release()
    [reply] = answers(connector)
    thread = f"{CHANNEL_ID};messageid={mention['id']}"
    assert (reply.kind, reply.conversation_id, reply.activity_id) == (
        "reply_to_activity",
        thread,
        mention["id"],
    )
    assert reply.token_valid is True  # a token the bot got from the identity service
    text = card_text(reply.body)
    assert "three days per week" in text and "Remote Work Policy" in text and "v2" in text
    assert "<at>" not in text
    assert reply.body["channelData"] == {"feedbackLoopEnabled": True}
    assert reply.body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    # A typing indicator went out before the answer.
    kinds = [c.body.get("type") for c in connector.calls if c.body]
    assert kinds.index("typing") < kinds.index("message")
    with Session(engine) as session:
        row = session.scalars(select(Interaction)).one()
    assert (row.platform, row.channel, row.user_id, row.thread_id, row.question) == (
        "teams",
        CHANNEL_ID,
        USER_AAD_ID,
        thread,
        REMOTE,  # the mention stripped
    )
    assert row.asker_names == [USER_NAME]  # for the fine-tuning export's scrubber


def test_the_channel_decides_what_is_visible(start: ServerFactory, connector: FakeConnector) -> None:
    server = start()
    server.send(channel_mention(BREACH, service_url=connector.service_url))
    server.send(channel_mention(BREACH, service_url=connector.service_url, channel_id=SEC))
    replies = {r.conversation_id.split(";")[0]: card_text(r.body) for r in answers(connector, 2)}
    assert "Security Incident Response" not in replies[CHANNEL_ID] and "24 hours" not in replies[CHANNEL_ID]
    assert "Security Incident Response" in replies[SEC] and "24 hours" in replies[SEC]


def test_a_follow_up_in_the_thread_uses_the_earlier_turn(
    start: ServerFactory, connector: FakeConnector
) -> None:
    server = start()
    first = channel_mention(REMOTE, service_url=connector.service_url)
    server.send(first)
    answers(connector)
    server.send(
        channel_mention(
            "what about from abroad?", service_url=connector.service_url, reply_to_thread=first["id"]
        )
    )
    _, second = answers(connector, 2)
    assert second.conversation_id == f"{CHANNEL_ID};messageid={first['id']}"
    assert "20 working days" in card_text(second.body)


def test_personal_and_group_chats_are_answered(start: ServerFactory, connector: FakeConnector) -> None:
    server = start()
    personal = personal_message(REMOTE, service_url=connector.service_url)
    group = group_chat_message(REMOTE, service_url=connector.service_url)
    server.send(personal)
    server.send(group)
    replies = {r.conversation_id: r for r in answers(connector, 2)}
    assert set(replies) == {personal["conversation"]["id"], group["conversation"]["id"]}
    for reply in replies.values():
        assert "three days per week" in card_text(reply.body)
    # A message with nothing but the mention gets a hint, not an answer to nothing.
    server.send(group_chat_message("", service_url=connector.service_url))
    hint = answers(connector, 3)[-1]
    assert "Ask me a question" in hint.body["text"]


def test_document_text_is_shown_literally(start: ServerFactory, connector: FakeConnector) -> None:
    server = start()
    server.send(channel_mention(REMOTE, service_url=connector.service_url))
    [reply] = answers(connector)
    body = reply.body["attachments"][0]["content"]["body"]
    # Answer and citations are TextRuns (never Markdown), and the only links are citation sources.
    assert all(block["type"] == "RichTextBlock" for block in body)
    assert all(inline["type"] == "TextRun" for block in body for inline in block["inlines"])
    assert all(url.startswith("https://") for url in links(reply.body))


def test_a_redelivered_activity_is_answered_once(start: ServerFactory, connector: FakeConnector) -> None:
    server = start()
    mention = channel_mention(REMOTE, service_url=connector.service_url)
    assert [server.send(mention)[0] for _ in range(3)] == [201, 201, 201]
    answers(connector)
    server.settle()
    assert len(connector.replies()) == 1


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_replicas_on_one_database_answer_once(start: ServerFactory, connector: FakeConnector) -> None:
    first, second = start(), start(own_engine=True)
    mention = channel_mention(REMOTE, service_url=connector.service_url)
    statuses = [(first if i % 2 else second).send(mention)[0] for i in range(4)]
    assert statuses == [201] * 4
    answers(connector)
    first.settle()
    second.settle()
    assert len(connector.replies()) == 1


@pytest.mark.parametrize(
    "case",
    [
        "wrong audience",
        "expired",
        "wrong serviceUrl claim",
        "unknown key id",
        "forged signature",
        "no header",
        "not bearer",
    ],
)
def test_requests_without_a_valid_token_are_refused_and_change_nothing(
    case: str, start: ServerFactory, connector: FakeConnector, identity: FakeIdentity, engine: Any
) -> None:
    server = start()
    mention = channel_mention(REMOTE, service_url=connector.service_url)
    url = mention["serviceUrl"]
    tokens = {
        "wrong audience": identity.channel_token("11111111-2222-3333-4444-555555555555", url),
        "expired": identity.channel_token(BOT_APP_ID, url, expires_in=-3600),
        "wrong serviceUrl claim": identity.channel_token(BOT_APP_ID, "https://smba.trafficmanager.net/emea/"),
        "unknown key id": identity.channel_token(BOT_APP_ID, url, unknown_key=True),
        "forged signature": identity.channel_token(BOT_APP_ID, url, unknown_key=True, kid=identity.kid),
    }
    if case == "no header":
        status, _ = server.send(mention, headers={"Content-Type": "application/json"})
    elif case == "not bearer":
        status, _ = server.send(
            mention, headers={"Content-Type": "application/json", "Authorization": f"Basic {PASSWORD}"}
        )
    else:
        status, _ = server.send(mention, token=tokens[case])
    assert status == 401
    server.settle()
    assert connector.calls == [] and count(engine, Interaction) == 0 and count(engine, ProcessedEvent) == 0


def test_only_teams_in_our_tenant_is_answered(
    start: ServerFactory, connector: FakeConnector, engine: Any
) -> None:
    """A valid token also comes with Web Chat and Direct Line (where the client names the
    sender) and, for a multi-tenant bot, from any organisation: those are ignored."""
    server = start()
    url = connector.service_url
    webchat = personal_message(REMOTE, service_url=url, channelId="webchat")
    other = channel_mention(REMOTE, service_url=url, tenant_id="99999999-0000-4000-8000-000000000000")
    assert server.send(webchat)[0] == 201 and server.send(other)[0] == 201
    server.settle()
    assert connector.calls == [] and count(engine, Interaction) == 0 and count(engine, ProcessedEvent) == 0
    server.send(channel_mention(REMOTE, service_url=url))  # the same question from our tenant
    assert "three days per week" in card_text(answers(connector)[0].body)


def test_bad_requests_get_clear_errors(start: ServerFactory, connector: FakeConnector) -> None:
    server = start()
    token = server.identity.channel_token(BOT_APP_ID, connector.service_url)
    auth = {"Authorization": f"Bearer {token}"}
    assert server.send({}, headers={**auth, "Content-Type": "text/plain"})[0] == 415
    status, body = server.send({"no": "type"}, headers={**auth, "Content-Type": "application/json"})
    assert status == 400 and "activity" in body


def test_throttled_replies_are_retried_and_failures_apologise(
    start: ServerFactory, connector: FakeConnector, kb: Any
) -> None:
    server = start(typing_interval_s=60)  # no renewed typing: the calls are typing, answer, retry
    connector.rate_limit(times=2, retry_after=1, kind="reply_to_activity")
    server.send(channel_mention(REMOTE, service_url=connector.service_url))
    [reply] = answers(connector, timeout=30)
    assert "three days per week" in card_text(reply.body)
    calls = [(c.body.get("type"), c.status) for c in connector.calls_to("reply_to_activity")]
    assert calls == [("typing", 429), ("message", 429), ("message", 201)]

    class Broken:
        access = kb.access

        def retrieve(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("Weaviate is down")

    broken = start(knowledge=Broken())
    mention = channel_mention(REMOTE, service_url=connector.service_url)
    broken.send(mention)
    apology = answers(connector, 2)[-1]
    assert apology.activity_id == mention["id"] and "went wrong" in card_text(apology.body) + str(
        apology.body
    )


def test_answers_are_linked_to_their_message_for_votes(
    start: ServerFactory, connector: FakeConnector, engine: Any
) -> None:
    server = start()
    server.send(channel_mention(REMOTE, service_url=connector.service_url))
    [reply] = answers(connector)
    wait_until(lambda: count(engine, AnswerMessage) == 1)
    with Session(engine) as session:
        link = session.scalars(select(AnswerMessage)).one()
    assert (link.platform, link.channel, link.message_id) == ("teams", CHANNEL_ID, reply.response["id"])


def test_secrets_never_reach_the_logs(
    start: ServerFactory, connector: FakeConnector, identity: FakeIdentity, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        server = start()
        mention = channel_mention(REMOTE, service_url=connector.service_url)
        token = identity.channel_token(BOT_APP_ID, mention["serviceUrl"])
        server.send(mention, token=token)
        [reply] = answers(connector)
        server.send(channel_mention(REMOTE, service_url=connector.service_url), token=token + "x")
        server.settle()
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    outbound = reply.authorization.removeprefix("Bearer ")
    assert "refused a Bot Framework request" in logged  # the logs were captured
    for secret in [PASSWORD, token, outbound]:
        assert secret not in logged


def test_a_single_tenant_bot_gets_its_tokens_from_its_own_tenant(
    start: ServerFactory, connector: FakeConnector, identity: FakeIdentity
) -> None:
    server = start(app_type="SingleTenant", tenant_id=TENANT_ID, login_url=identity.login_url(TENANT_ID))
    before = len(identity.token_requests)
    server.send(channel_mention(REMOTE, service_url=connector.service_url))
    [reply] = answers(connector)
    assert reply.token_valid is True and "three days per week" in card_text(reply.body)
    requested = identity.token_requests[before:]
    assert requested and {(r.tenant, r.client_id) for r in requested} == {(TENANT_ID, BOT_APP_ID)}
    # The token is kept: more answers fetch no new one (the SDK alone would fetch one per turn).
    server.send(channel_mention(BREACH, service_url=connector.service_url))
    answers(connector, 2)
    assert len(identity.token_requests) == before + 1

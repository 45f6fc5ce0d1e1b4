""" "Ask a person" in Teams: the card's button starts a thread in the helpdesk channel through
the fake Bot Connector; a reply there (mentioning the bot) reaches the asker's thread once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.settings import HandoffSettings
from bot.store.models import Handoff
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.teams_payloads import CHANNEL_ID, channel_mention, feedback_invoke
from tests.slack.harness import REMOTE
from tests.teams.conftest import ServerFactory
from tests.teams.helpers import answers, card_text, message_id

pytestmark = pytest.mark.weaviate
HELPDESK = "19:helpdesk@thread.tacv2"
HELP = {"default": [{"platform": "teams", "channel": HELPDESK}]}


def press(server: Any, connector: FakeConnector, interaction_id: str, thread_root: str) -> None:
    submit = channel_mention(
        "", service_url=connector.service_url, reply_to_thread=thread_root, html_copy=False
    )
    submit |= {"text": "", "entities": [], "value": {"action": "ask_a_person", "interaction": interaction_id}}
    status, _ = server.send(submit)
    assert status in {200, 201}


def test_a_person_takes_over_in_teams(start: ServerFactory, connector: FakeConnector, engine: Any) -> None:
    server = start(handoff=HandoffSettings.model_validate(HELP))
    mention = channel_mention(REMOTE, service_url=connector.service_url)
    server.send(mention)
    [answer] = answers(connector)
    [action] = answer.body["attachments"][0]["content"]["actions"]
    assert action["type"] == "Action.Submit" and action["title"] == "Ask a person"
    press(server, connector, action["data"]["interaction"], mention["id"])
    [created] = connector.wait_for("create_conversation", timeout=60)
    assert created.body["channelData"]["channel"]["id"] == HELPDESK
    escalation = json.dumps(created.body["activity"])
    assert REMOTE in escalation and "three days per week" in escalation and "Remote Work Policy" in escalation
    [_, told] = answers(connector, 2)
    assert (
        "asked a person" in json.dumps(told.body)
        and told.conversation_id == f"{CHANNEL_ID};messageid={mention['id']}"
    )
    # Twice: nothing more is handed over.
    press(server, connector, action["data"]["interaction"], mention["id"])
    answers(connector, 3)
    assert len(connector.calls_to("create_conversation")) == 1
    # The helpdesk replies in the escalation thread, mentioning the bot: relayed once.
    with Session(engine) as session:
        root = session.scalars(select(Handoff.escalation_message_id)).one()
    assert root
    reply = channel_mention(
        "Yes, Fridays too.",
        service_url=connector.service_url,
        channel_id=HELPDESK,
        reply_to_thread=root,
        user_name="Hana Helpdesk",
    )
    server.send(reply)
    [*_, relayed] = answers(connector, 4)
    assert relayed.conversation_id == f"{CHANNEL_ID};messageid={mention['id']}"
    assert "From a person (Hana Helpdesk):" in card_text(relayed.body) and "Yes, Fridays too." in card_text(
        relayed.body
    )
    server.send(
        channel_mention(
            "And Mondays.", service_url=connector.service_url, channel_id=HELPDESK, reply_to_thread=root
        )
    )
    server.settle()  # the second reply's relay work has run to its end
    assert _answered(engine) == "Yes, Fridays too."
    assert len(connector.replies()) == 4


def _answered(engine: Any) -> str | None:
    with Session(engine) as session:
        return session.scalars(select(Handoff.human_answer)).one()


def test_a_thumbs_down_offers_a_person(start: ServerFactory, connector: FakeConnector) -> None:
    server = start(handoff=HandoffSettings.model_validate(HELP))
    mention = channel_mention(REMOTE, service_url=connector.service_url)
    server.send(mention)
    [answer] = answers(connector)
    # The answer is linked to its message id after it is posted; feedback on a message not
    # linked yet is taken for feedback on some other message. A person cannot click that
    # fast, the test can: it waits for the answer's turn to end, as the feedback tests do.
    server.settle()
    thread = f"{CHANNEL_ID};messageid={mention['id']}"
    dislike = feedback_invoke(
        "dislike",
        reply_to_id=message_id(answer),
        service_url=connector.service_url,
        scope="channel",
        conversation_id=thread,
    )
    status, _ = server.send(dislike)
    assert status == 200
    [_, offer] = answers(connector, 2)
    assert offer.conversation_id == thread
    [action] = offer.body["attachments"][0]["content"]["actions"]
    assert (
        action["title"] == "Ask a person"
        and action["data"]["interaction"]
        == answer.body["attachments"][0]["content"]["actions"][0]["data"]["interaction"]
    )

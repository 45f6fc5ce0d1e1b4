""" "Ask a person" in Slack: the button under answers and abstentions, the escalation post,
one hand-off per answer, the first reply relayed, and restricted text kept back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.slack.render import HANDOFF_ACTION
from bot.settings import HandoffSettings
from bot.store.models import AnswerMessage, Handoff, Interaction
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import block_actions_payload, mention_event, message_event, reaction_event
from tests.slack.conftest import ServerFactory
from tests.slack.harness import REMOTE, texts, wait_until

pytestmark = pytest.mark.weaviate
HELP = {
    "escalations": {
        "everyone": [{"platform": "slack", "channel": "C0HELP", "tag": "S0PEOPLE"}],
        "hr-team": [{"platform": "slack", "channel": "C0HRDESK"}],  # not allowed to read HR documents
    }
}


def posts(fake: FakeSlack, channel: str) -> list[Any]:
    return [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == channel]


def ask(
    server: Any, fake: FakeSlack, engine: Any, question: str, channel: str, ts: str, event_id: str
) -> str:
    server.event(mention_event(question, channel, "U1", ts), event_id)
    wait_until(lambda: any(c.params.get("thread_ts") == ts for c in posts(fake, channel)))
    with Session(engine) as session:
        return session.scalars(select(Interaction.id).where(Interaction.thread_id == ts)).one()


def press(server: Any, interaction_id: str, channel: str, ts: str, user: str = "U1") -> None:
    status, _ = server.post(block_actions_payload(HANDOFF_ACTION, interaction_id, user, channel, ts))
    assert status == 200


def test_a_person_takes_over_and_their_reply_reaches_the_asker(
    start: ServerFactory, fake: FakeSlack, engine: Any
) -> None:
    server = start(handoff=HandoffSettings.model_validate(HELP))
    iid = ask(server, fake, engine, REMOTE, "C0ENG", "1700000501.000100", "EvH1")
    [answer] = posts(fake, "C0ENG")
    buttons = [b for b in answer.params["blocks"] if b["type"] == "actions"]
    assert (
        buttons[0]["elements"][0]["action_id"] == HANDOFF_ACTION and buttons[0]["elements"][0]["value"] == iid
    )
    press(server, iid, "C0ENG", "1700000501.000100")
    fake.wait_for("chat.postMessage", count=3)  # the answer, the escalation, the note to the asker
    [escalation] = posts(fake, "C0HELP")
    body = texts(escalation)
    assert "<!subteam^S0PEOPLE>" in body and "<@U1>" in body and REMOTE in body
    assert "three days per week" in body and "Remote Work Policy" in body
    assert "https://fake-t0test.slack.com/archives/C0ENG/p1700000501000100" in body
    told = [c for c in posts(fake, "C0ENG") if c.params.get("thread_ts") == "1700000501.000100"][-1]
    assert "asked a person in <#C0HELP>" in told.params["text"]
    # Pressing again hands nothing more over.
    press(server, iid, "C0ENG", "1700000501.000100")
    fake.wait_for("chat.postEphemeral")
    assert len(posts(fake, "C0HELP")) == 1
    # The first reply in the escalation thread goes back to the asker, marked as a person's.
    with Session(engine) as session:
        escalation_ts = session.scalars(select(Handoff.escalation_message_id)).one()
    reply = message_event(
        "Yes, and <!channel> Fridays too",
        "C0HELP",
        "U9",
        "1700000600.000100",
        channel_type="channel",
        thread_ts=escalation_ts,
    )
    server.event(reply, "EvH2")
    wait_until(lambda: any("From a person" in c.params.get("text", "") for c in posts(fake, "C0ENG")))
    [relayed] = [c for c in posts(fake, "C0ENG") if "From a person" in c.params.get("text", "")]
    assert relayed.params["thread_ts"] == "1700000501.000100" and "<@U9>" in relayed.params["text"]
    assert "&lt;!channel&gt;" in relayed.params["text"]  # a reply cannot ping the asker's channel
    later = message_event(
        "Also, ask your manager.",
        "C0HELP",
        "U9",
        "1700000601.000100",
        channel_type="channel",
        thread_ts=escalation_ts,
    )
    server.event(later, "EvH3")
    with Session(engine) as session:
        handoff = session.scalars(select(Handoff)).one()
    assert (handoff.human_answer, handoff.answered_by, handoff.requested_by) == (
        "Yes, and <!channel> Fridays too",
        "U9",
        "U1",
    )
    wait_until(lambda: len(fake.calls_to("chat.postMessage")) >= 4)
    assert sum("From a person" in c.params.get("text", "") for c in posts(fake, "C0ENG")) == 1


def test_abstentions_thumbs_down_and_restricted_answers(
    start: ServerFactory, fake: FakeSlack, engine: Any
) -> None:
    server = start(handoff=HandoffSettings.model_validate(HELP))
    # An abstention carries the button too; the escalation says nothing was found.
    iid = ask(server, fake, engine, "Is there a company choir?", "C0ENG", "1700000701.000100", "EvH4")
    [abstained] = posts(fake, "C0ENG")
    assert any(b["type"] == "actions" for b in abstained.params["blocks"])
    press(server, iid, "C0ENG", "1700000701.000100")
    wait_until(lambda: len(posts(fake, "C0HELP")) == 1)
    assert "found nothing in the documents" in texts(posts(fake, "C0HELP")[0])
    # A thumbs-down offers a person to the voter only.
    with Session(engine) as session:
        ts = session.scalars(select(AnswerMessage.message_id)).first()
    server.event(reaction_event("reaction_added", "-1", "U5", "C0ENG", ts), "EvH5")
    [offer] = fake.wait_for("chat.postEphemeral")
    assert offer.params["user"] == "U5" and HANDOFF_ACTION in json.dumps(offer.params["blocks"])
    # An HR-only answer goes to a helpdesk that may not read HR documents: the question only.
    hr = ask(
        server,
        fake,
        engine,
        "How quickly must HR acknowledge a workplace complaint?",
        "C0HR",
        "1700000702.000100",
        "EvH6",
    )
    with Session(engine) as session:
        answered = session.get(Interaction, hr)
        assert answered is not None and not answered.abstained
    press(server, hr, "C0HR", "1700000702.000100")
    wait_until(lambda: len(posts(fake, "C0HRDESK")) == 1)
    body = texts(posts(fake, "C0HRDESK")[0])
    assert "How quickly must HR acknowledge" in body and "only the question is shown" in body
    assert "working days" not in body and "Handling Workplace Complaints" not in body

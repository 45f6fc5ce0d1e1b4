"""The digest's Teams card: it fits in a Teams message whatever the week's text, and its
links to answers are Teams deep links to the reply in the asking channel's thread."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationParameters
from botframework.connector import models
from msrest import Serializer
from sqlalchemy import Engine

from adapters.digests import TeamsPoster
from adapters.teams import digest as teams_digest
from adapters.teams.activities import where
from bot.settings import TeamsSettings
from bot.store.conversations import ConversationStore
from eval.digest.build import Digest
from tests.digest_helpers import publisher
from tests.fakes.teams_payloads import CHANNEL_ID, TENANT_ID, channel_mention, group_chat_message
from tests.test_digest_numbers import MONDAY, WEEK, Seed, cited, seeded  # noqa: F401 (fixture)

LEADS_CHANNEL = "19:leads@thread.tacv2"
GROUP_ID = "8c2d1a4e-0000-4000-8000-0000000000aa"  # the team's Entra group id
SERVICE_URL = "https://smba.trafficmanager.net/emea/"
# Six bytes a character once json.dumps escapes it, twelve for the emoji.
LONG = "Wie lange gilt die Übergangsfrist für Elternzeit im Ausland? 育児休業はいつまでですか 😀 "


def lead(**fields: Any) -> dict[str, Any]:
    return {"name": "eng-leads", "platform": "teams", "channel": LEADS_CHANNEL, "covers": ["*"]} | fields


def build(
    engine: Engine,
    tmp_path: Path,
    leads: list[dict[str, Any]] | None = None,
    teams: TeamsPoster | None = None,
    **settings: Any,
) -> Digest:
    """The digest of the first lead (none configured: of every channel, with no lead)."""
    digests = publisher(engine, tmp_path, [lead()] if leads is None else leads, teams=teams, **settings)
    return digests.build(WEEK, digests.targets()[0])


def card_of(activity: Activity) -> dict[str, Any]:
    [attachment] = activity.attachments
    content: dict[str, Any] = attachment.content
    return content


def facts(card: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}


def texts(card: dict[str, Any]) -> str:
    return " ".join(i["text"] for b in card["body"] for i in b.get("inlines", [])) + " ".join(
        b.get("text", "") for b in card["body"]
    )


def request_body(activity: Activity) -> str:
    """The create-conversation request exactly as botbuilder's connector client writes it."""
    parameters = ConversationParameters(
        is_group=True,
        channel_data={"channel": {"id": LEADS_CHANNEL}, "tenant": {"id": TENANT_ID}},
        activity=activity,
        tenant_id=TENANT_ID,
    )
    serializer = Serializer({k: v for k, v in models.__dict__.items() if isinstance(v, type)})
    return json.dumps(serializer.body(parameters, "ConversationParameters"))


def test_a_week_of_long_non_ascii_text_is_shortened_to_fit(engine: Engine, tmp_path: Path) -> None:
    seed = Seed(engine)
    for n in range(40):
        comments = tuple((f"U{v}", "down", f"{v}: {LONG * 3}") for v in range(3))
        seed.answer(
            MONDAY + timedelta(hours=n),
            comments,
            question=f"{n} {LONG * 4}",
            channel=f"C{n % 4}",
            passages=[cited(f"richtlinie-für-überstunden-und-auslandsaufenthalte-{n}", "1")],
        )
    digest = build(engine, tmp_path, worst_answers=50)
    assert len(digest.numbers.worst) == 40
    full = teams_digest.digest_card_body(digest)  # everything: far too big for Teams
    assert len(json.dumps(full)) > 2 * teams_digest.SIZE_BUDGET

    activity = teams_digest.digest_activity(digest)
    assert teams_digest.sent_size(activity) <= teams_digest.SIZE_BUDGET
    assert len(request_body(activity)) < 28_000  # the whole request, as sent
    card = card_of(activity)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert card["body"][0]["text"] == digest.title
    assert facts(card)["Questions"].startswith("40 ") and set(facts(card)) >= {"Helpful", "Time to answer"}
    assert not [b for b in card["body"] if b["type"] == "Image"]  # the chart went first
    assert f"the full digest is in the HTML page ({WEEK}/eng-leads/index.html)" in texts(card)


def test_the_chart_is_dropped_before_any_list(
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = build(engine, tmp_path)
    chart = digest.files.folder / "teams" / "questions.png"
    teams_digest.digest_activity(digest)  # renders the small chart
    with_chart = len(json.dumps(teams_digest.digest_card_body(digest, chart)))
    without = len(json.dumps(teams_digest.digest_card_body(digest, None, teams_digest.DETAILS[1])))
    monkeypatch.setattr(teams_digest, "SIZE_BUDGET", (with_chart + without) // 2)
    card = card_of(teams_digest.digest_activity(digest))
    assert not [b for b in card["body"] if b["type"] == "Image"]
    # Every list as it was: both worst-rated answers with their comments.
    text = texts(card)
    assert "How much can I claim for a monitor?" in text and "wrong amount" in text
    assert "Can I work from home on Fridays?" in text and "Shortened to fit in Teams" in text


def test_a_small_digest_keeps_its_chart(
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    activity = teams_digest.digest_activity(build(engine, tmp_path))
    card = card_of(activity)
    [image] = [b for b in card["body"] if b["type"] == "Image"]
    assert image["url"].startswith("data:image/png;base64,")
    assert "Shortened" not in texts(card) and facts(card)["Questions"].startswith("10 ")
    assert teams_digest.sent_size(activity) <= teams_digest.SIZE_BUDGET


def answered_in_teams(
    engine: Engine, payload: dict[str, Any], message_id: str, suffixed: bool = False
) -> str:
    """A thumbs-down Teams answer logged as the Teams front end logs it: the thread's
    conversation reference, the interaction, and the answer message in its conversation."""
    activity = Activity().deserialize(payload)
    place = where(activity, TeamsSettings())
    conversations = ConversationStore(engine)
    reference = TurnContext.get_conversation_reference(activity)
    conversations.remember_thread("teams", place.thread, reference.serialize())
    interaction = Seed(engine).answer(
        MONDAY + timedelta(hours=1),
        (("29:voter", "down", "falsch"),),
        platform="teams",
        channel=place.scope,
        thread_id=place.thread,
        question=f"Question {message_id}",
    )
    # Logs written before the conversation id was cut back kept the thread suffix.
    channel = place.thread if suffixed else place.conversation
    conversations.attach_message("teams", channel, message_id, interaction)
    return interaction


def test_a_teams_answer_links_to_the_reply_in_its_thread(engine: Engine, tmp_path: Path) -> None:
    answered_in_teams(
        engine,
        channel_mention("Wie lange?", service_url=SERVICE_URL, reply_to_thread="1700000000000"),
        "1700000000500",
    )
    answered_in_teams(
        engine,
        channel_mention("Und?", service_url=SERVICE_URL, reply_to_thread="1700000000001"),
        "1700000000600",
        suffixed=True,
    )
    answered_in_teams(engine, group_chat_message("Chat?", service_url=SERVICE_URL), "1700000000700")
    # The tenant is the lead's, else the bot's only one (the log does not have it).
    poster = TeamsPoster(None, "app", frozenset({TENANT_ID}))  # type: ignore[arg-type] # never posts
    digest = build(engine, tmp_path, [lead(team_id=GROUP_ID)], teams=poster)
    links = {a.question: a.link for a in digest.numbers.worst}
    channel = "19%3Aeng%40thread.tacv2"
    assert CHANNEL_ID == "19:eng@thread.tacv2"
    assert links == {
        "Question 1700000000500": f"https://teams.microsoft.com/l/message/{channel}/1700000000500"
        f"?tenantId={TENANT_ID}&groupId={GROUP_ID}&parentMessageId=1700000000000",
        # Stored with the thread suffix: still the channel's id.
        "Question 1700000000600": f"https://teams.microsoft.com/l/message/{channel}/1700000000600"
        f"?tenantId={TENANT_ID}&groupId={GROUP_ID}&parentMessageId=1700000000001",
    }  # the group chat's question is not in a lead's "*" digest at all (private conversations)
    # The card links each question to its answer.
    actions = [
        i["selectAction"]["url"]
        for b in card_of(teams_digest.digest_activity(digest))["body"]
        for i in b.get("inlines", [])
        if "selectAction" in i
    ]
    assert sorted(actions) == sorted(link for link in links.values() if link)
    # Without a lead (the local digest of every channel, Teams not configured) neither the
    # team nor the tenant is known: left out. The group chat is there, without a link.
    local = build(engine, tmp_path / "local", [])
    assert {a.link for a in local.numbers.worst} == {
        f"https://teams.microsoft.com/l/message/{channel}/1700000000500?parentMessageId=1700000000000",
        f"https://teams.microsoft.com/l/message/{channel}/1700000000600?parentMessageId=1700000000001",
        None,
    }
    # Every part is URL-encoded.
    thread = "19:a b&c@thread.tacv2;messageid=1"
    assert teams_digest.answer_link(thread, "2", thread, "t&1") == (
        "https://teams.microsoft.com/l/message/19%3Aa%20b%26c%40thread.tacv2/2?tenantId=t%261&parentMessageId=1"
    )

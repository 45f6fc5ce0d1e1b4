"""Answer invalidation in Teams: the notice goes into the thread of the answer that cited the
replaced version, proactively, through the conversation reference kept with the question."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from botbuilder.integration.aiohttp import CloudAdapter

from adapters.notices import ChangeFollowUp
from adapters.teams.auth import BotAuthentication
from adapters.teams.notices import TeamsNotices
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followups import HeuristicRewriter
from bot.core import AnswerSettings, SupportBot
from bot.settings import NoticeSettings, load_file_config
from bot.store.conversations import ConversationStore
from bot.store.interactions import InteractionLog
from knowledge.loaders import DocumentDefaults
from knowledge.service import WeaviateKnowledgeBase
from tests.conftest import REPO, KBFactory
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.ms_identity import FakeIdentity
from tests.fakes.teams_payloads import BOT_APP_ID, CHANNEL_ID, channel_mention
from tests.slack.test_notices import QUESTION, policy
from tests.teams.conftest import ServerFactory, credentials
from tests.teams.helpers import answers, card_text

pytestmark = pytest.mark.weaviate


@pytest.fixture
def bike_kb(make_kb: KBFactory, tmp_path: Path) -> WeaviateKnowledgeBase:
    groups = {k: list(v) for k, v in load_file_config(REPO / "config" / "sample.yaml").access.groups.items()}
    kb = make_kb(groups)
    [result] = kb.ingest_paths([policy(tmp_path, 1, "2,400 EUR")], DocumentDefaults())
    assert result.ok, result
    return kb


def test_a_replaced_policy_is_followed_up_in_the_teams_thread(
    start: ServerFactory,
    connector: FakeConnector,
    identity: FakeIdentity,
    engine: Any,
    bike_kb: WeaviateKnowledgeBase,
    tmp_path: Path,
) -> None:
    server = start(bike_kb)
    mention = channel_mention(QUESTION, service_url=connector.service_url)
    server.send(mention)
    [first] = answers(connector)
    assert "2,400 EUR" in card_text(first.body)
    [result] = bike_kb.ingest_paths([policy(tmp_path, 2, "3,000 EUR")], DocumentDefaults())
    assert result.status.value == "replaced"
    settings = AnswerSettings()
    extractive = ExtractiveAnswerer(settings.extractive, bike_kb.embed)
    bot = SupportBot(
        bike_kb,
        extractive,
        extractive,
        HeuristicRewriter(),
        InteractionLog(engine),
        settings,
        ConversationStore(engine),
    )
    teams = TeamsNotices(CloudAdapter(BotAuthentication(credentials(identity))), BOT_APP_ID)
    follow_up = ChangeFollowUp(bot, bike_kb.list_documents, NoticeSettings(per_minute=600), teams=teams)
    [notice] = asyncio.run(follow_up.run_once())
    [_, sent] = answers(connector, 2)
    thread = f"{CHANNEL_ID};messageid={mention['id']}"
    assert (sent.kind, sent.conversation_id, sent.activity_id) == ("reply_to_activity", thread, mention["id"])
    assert sent.token_valid is True
    text = card_text(sent.body)
    assert "Bike Scheme changed from version 1 to 2" in text and "3,000 EUR" in text and "2,400" not in text
    assert notice.answer is not None and notice.answer.recorded
    assert asyncio.run(follow_up.run_once()) == []  # once per answer

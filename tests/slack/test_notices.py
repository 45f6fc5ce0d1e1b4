"""Answer invalidation in Slack: threads answered from a policy version that HR has since
replaced (or removed) get one notice each, with a fresh answer under the channel's rules."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.notices import ChangeFollowUp
from adapters.slack import web_client
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followups import HeuristicRewriter
from bot.core import AnswerSettings, SupportBot
from bot.settings import NoticeSettings, load_file_config
from bot.store.conversations import ConversationStore
from bot.store.interactions import InteractionLog
from knowledge.loaders import DocumentDefaults
from knowledge.service import WeaviateKnowledgeBase
from tests.conftest import REPO, KBFactory
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import mention_event
from tests.slack.conftest import ServerFactory
from tests.slack.harness import texts, wait_until

pytestmark = pytest.mark.weaviate
QUESTION = "How much can I lease a bicycle for?"


def policy(folder: Path, version: int, amount: str, audience: str = "everyone") -> Path:
    path = folder / f"bike-v{version}.md"
    path.write_text(
        f"---\nid: bike-scheme\ntitle: Bike Scheme\nversion: {version}\naudience: [{audience}]\n"
        f"effective: 2026-1{version}-01\n---\n\n# Leasing\n\nStaff may lease a bicycle through salary "
        f"sacrifice for up to {amount} every four years.\n"
    )
    return path


@pytest.fixture
def bike_kb(make_kb: KBFactory, tmp_path: Path) -> WeaviateKnowledgeBase:
    groups = {k: list(v) for k, v in load_file_config(REPO / "config" / "sample.yaml").access.groups.items()}
    kb = make_kb(groups)
    [result] = kb.ingest_paths([policy(tmp_path, 1, "2,400 EUR")], DocumentDefaults())
    assert result.ok, result
    return kb


def follow_up(kb: WeaviateKnowledgeBase, engine: Any, fake: FakeSlack) -> ChangeFollowUp:
    settings = AnswerSettings()
    extractive = ExtractiveAnswerer(settings.extractive, kb.embed)
    bot = SupportBot(
        kb,
        extractive,
        extractive,
        HeuristicRewriter(),
        InteractionLog(engine),
        settings,
        ConversationStore(engine),
    )
    return ChangeFollowUp(
        bot, kb.list_documents, NoticeSettings(per_minute=600), web_client(fake.bot_token, fake.api_url)
    )


def ask_in(server: Any, fake: FakeSlack, channel: str, ts: str, n: int) -> None:
    server.event(mention_event(QUESTION, channel, "U1", ts), f"EvBike{n}")
    wait_until(lambda: len(fake.calls_to("chat.postMessage")) == n)


def test_a_replaced_policy_is_followed_up_once_per_thread(
    start: ServerFactory, fake: FakeSlack, engine: Any, bike_kb: WeaviateKnowledgeBase, tmp_path: Path
) -> None:
    server = start(bike_kb)
    ask_in(server, fake, "C0ENG", "1700000201.000100", 1)
    ask_in(server, fake, "C0HR", "1700000202.000100", 2)
    assert all("2,400 EUR" in texts(c) for c in fake.calls_to("chat.postMessage"))
    notices = follow_up(bike_kb, engine, fake)
    assert notices.plan()[0] == []  # nothing changed yet
    [result] = bike_kb.ingest_paths([policy(tmp_path, 2, "3,000 EUR")], DocumentDefaults())
    assert result.status.value == "replaced"
    # The dry run lists both threads and posts nothing.
    planned, _ = notices.plan()
    assert sorted((t.channel, t.change.old_version, t.change.new_version) for t in planned) == [
        ("C0ENG", "1", "2"),
        ("C0HR", "1", "2"),
    ]
    assert len(fake.calls_to("chat.postMessage")) == 2
    # A channel can opt out.
    quiet = follow_up(bike_kb, engine, fake)
    quiet.settings = quiet.settings.model_copy(update={"off_channels": ["C0ENG"]})
    assert [t.channel for t in quiet.plan()[0]] == ["C0HR"]
    posted = asyncio.run(notices.run_once())
    assert len(posted) == 2
    followed = fake.calls_to("chat.postMessage")[2:]
    assert sorted((c.params["channel"], c.params["thread_ts"]) for c in followed) == [
        ("C0ENG", "1700000201.000100"),
        ("C0HR", "1700000202.000100"),
    ]
    for call in followed:
        body = texts(call)
        assert "Bike Scheme changed from version 1 to 2, in effect from 2026-12-01" in body
        assert "3,000 EUR" in body and "2,400 EUR" not in body
    # The same supersession again: nothing more (also not from a second replica).
    assert (
        asyncio.run(notices.run_once()) == []
        and asyncio.run(follow_up(bike_kb, engine, fake).run_once()) == []
    )
    assert len(fake.calls_to("chat.postMessage")) == 4


def test_a_channel_that_lost_access_or_a_removed_policy_quotes_nothing(
    start: ServerFactory, fake: FakeSlack, engine: Any, bike_kb: WeaviateKnowledgeBase, tmp_path: Path
) -> None:
    server = start(bike_kb)
    ask_in(server, fake, "C0ENG", "1700000301.000100", 1)
    ask_in(server, fake, "C0HR", "1700000302.000100", 2)
    # Version 2 is for HR only: engineering is told the answer no longer stands, nothing more.
    [result] = bike_kb.ingest_paths(
        [policy(tmp_path, 2, "9,999 EUR", audience="hr-team")], DocumentDefaults()
    )
    assert result.ok
    notices = follow_up(bike_kb, engine, fake)
    asyncio.run(notices.run_once())
    by_channel = {c.params["channel"]: texts(c) for c in fake.calls_to("chat.postMessage")[2:]}
    assert "no longer stands" in by_channel["C0ENG"] and "9,999" not in json.dumps(by_channel["C0ENG"])
    assert "9,999 EUR" in by_channel["C0HR"]
    # Removed altogether: the HR thread hears the answer (now from version 2) is withdrawn.
    assert bike_kb.forget("bike-scheme") > 0
    asyncio.run(notices.run_once())
    [withdrawn] = fake.calls_to("chat.postMessage")[4:]
    # Engineering was already told its answer no longer stands: it hears nothing twice.
    assert withdrawn.params["channel"] == "C0HR" and "has been withdrawn" in texts(withdrawn)

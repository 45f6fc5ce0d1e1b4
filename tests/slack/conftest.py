"""Fixtures of the Slack tests: a knowledge base with the samples, the fake API, our server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.http_server import build_web_app
from adapters.slack import build_slack_app
from adapters.slack.listeners import SlackFrontEnd
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followups import HeuristicRewriter
from bot.core import AnswerSettings, SupportBot
from bot.desk import KnowledgeDesk
from bot.handoff import HandoffDesk
from bot.settings import HandoffSettings, SlackSettings, load_file_config
from bot.store.conversations import ConversationStore
from bot.store.interactions import InteractionLog
from knowledge.loaders import DocumentDefaults, LoaderSettings
from knowledge.service import WeaviateKnowledgeBase
from tests.chat_fixtures import database_url, engine, replica_engine  # noqa: F401 (fixtures)
from tests.conftest import REPO, KBFactory
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import SECRET, SlackServer


@pytest.fixture(scope="module")
def kb(make_kb: KBFactory) -> WeaviateKnowledgeBase:
    groups = dict(load_file_config(REPO / "config" / "sample.yaml").access.groups)
    groups["everyone"] = ["*"]
    base = make_kb(groups)
    results = base.ingest_paths([REPO / "samples" / "policies"], DocumentDefaults(audience=("everyone",)))
    assert all(r.ok for r in results), results
    return base


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


ServerFactory = Callable[..., SlackServer]


@pytest.fixture
def start(kb: WeaviateKnowledgeBase, fake: FakeSlack, engine: Any) -> Iterator[ServerFactory]:  # noqa: F811
    servers: list[SlackServer] = []
    engines: list[Any] = []

    def build(
        knowledge: Any = None, own_engine: bool = False, handoff: HandoffSettings | None = None
    ) -> SlackServer:
        """`own_engine`: a connection pool of its own on the same database, as another replica has."""
        db = engine
        if own_engine:
            db = replica_engine(engine, engines)
        settings = AnswerSettings()
        extractive = ExtractiveAnswerer(settings.extractive, kb.embed)
        conversations = ConversationStore(db)
        bot = SupportBot(
            knowledge or kb,
            extractive,
            extractive,
            HeuristicRewriter(),
            InteractionLog(db),
            settings,
            conversations,
        )
        slack_settings = SlackSettings(file_hosts=["127.0.0.1"])  # the fake serves the files
        policy = load_file_config(REPO / "config" / "sample.yaml").ingest
        desk = KnowledgeDesk(knowledge or kb, policy, LoaderSettings(max_file_mb=1))
        desk_of_people = HandoffDesk(db, (knowledge or kb).access, handoff) if handoff is not None else None
        front = SlackFrontEnd(bot, conversations, slack_settings, desk, handoff=desk_of_people)
        slack = build_slack_app(front, "xoxb-test", SECRET, fake.api_url)
        server = SlackServer(build_web_app(slack), slack)
        servers.append(server)
        return server

    yield build
    for server in servers:
        server.close()
    for db in engines:
        db.dispose()

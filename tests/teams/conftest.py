"""Fixtures of the Teams tests: the real CloudAdapter behind our server, JWT validation on,
a fake Microsoft identity service (HTTPS) and a fake Bot Connector recording replies."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.http_server import build_web_app
from adapters.teams import TeamsEndpoint
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followups import HeuristicRewriter
from bot.core import AnswerSettings, SupportBot
from bot.desk import KnowledgeDesk
from bot.handoff import HandoffDesk
from bot.journal import Journal
from bot.settings import HandoffSettings, IngestPolicy, TeamsCredentials, TeamsSettings, load_file_config
from bot.store.conversations import ConversationStore
from bot.store.interactions import InteractionLog
from knowledge.loaders import DocumentDefaults, LoaderSettings
from knowledge.service import WeaviateKnowledgeBase
from tests.chat_fixtures import database_url, engine, replica_engine  # noqa: F401 (fixtures)
from tests.conftest import REPO, KBFactory
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.ms_identity import FakeIdentity
from tests.fakes.teams_payloads import BOT_APP_ID, CHANNEL_ID, TENANT_ID
from tests.slack.harness import SlackServer

PASSWORD = "teams-test-app-secret"
ENG = CHANNEL_ID  # an ordinary channel: everyone's documents only
SEC = "19:security@thread.tacv2"  # mapped to the security group
INGEST = "19:policy-updates@thread.tacv2"
POSTER_AAD = "00000000-0000-0000-0000-0000000000b0"  # an HR poster, listed by Entra object id
POSTER = "29:poster-1"


class TeamsServer:
    """Our aiohttp server (Teams endpoint) in a thread; activities are posted as Teams would."""

    def __init__(self, endpoint: TeamsEndpoint, identity: FakeIdentity) -> None:
        self.endpoint = endpoint
        self.identity = identity
        self.web = SlackServer(build_web_app(None, endpoint))
        self.url = self.web.url

    def send(
        self, activity: dict[str, Any], token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """POST /api/messages with a valid channel token unless `token` or `headers` say otherwise."""
        if headers is None:
            bearer = (
                token
                if token is not None
                else self.identity.channel_token(BOT_APP_ID, activity["serviceUrl"])
            )
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
        request = urllib.request.Request(
            self.url + "/api/messages", data=json.dumps(activity).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def settle(self, timeout: float = 60) -> None:
        """Returns once the work handed to the background so far (answers, relays, notices)
        has finished: a request's response comes before it. The barrier before asserting
        that nothing more was sent or stored."""
        front = self.endpoint.front

        async def background_done() -> None:
            # The handler keeps each background turn in `_tasks` until it is done.
            while running := set(front._tasks):
                await asyncio.wait(running)

        self.web.run(background_done(), timeout)

    def close(self) -> None:
        self.web.close()


@pytest.fixture(scope="module")
def kb(make_kb: KBFactory) -> WeaviateKnowledgeBase:
    groups = {k: list(v) for k, v in load_file_config(REPO / "config" / "sample.yaml").access.groups.items()}
    groups["security"].append(SEC)
    base = make_kb(groups)
    results = base.ingest_paths([REPO / "samples" / "policies"], DocumentDefaults(audience=("everyone",)))
    assert all(r.ok for r in results), results
    return base


@pytest.fixture(scope="module")
def identity() -> Iterator[FakeIdentity]:
    # Bot Framework's signing keys serve every channel, Web Chat and Direct Line included.
    with FakeIdentity(
        apps={BOT_APP_ID: PASSWORD}, endorsements=("msteams", "webchat", "directline")
    ) as server:
        yield server


@pytest.fixture(autouse=True)
def _trust_the_fake_identity(monkeypatch: pytest.MonkeyPatch, identity: FakeIdentity) -> None:
    # MSAL and botframework fetch tokens and keys with `requests`, over HTTPS.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", identity.ca_bundle)


@pytest.fixture
def connector(identity: FakeIdentity) -> Iterator[FakeConnector]:
    with FakeConnector(identity) as server:
        yield server


def credentials(identity: FakeIdentity, **changes: Any) -> TeamsCredentials:
    values: dict[str, Any] = {
        "app_id": BOT_APP_ID,
        "password": SecretStr(PASSWORD),
        "openid_metadata_url": identity.openid_metadata_url,
        "login_url": identity.login_url(),
    }
    return TeamsCredentials(**(values | changes))


ServerFactory = Callable[..., TeamsServer]


@pytest.fixture
def start(kb: WeaviateKnowledgeBase, identity: FakeIdentity, engine: Any) -> Iterator[ServerFactory]:  # noqa: F811
    servers: list[TeamsServer] = []
    engines: list[Any] = []

    def build(
        knowledge: Any = None,
        own_engine: bool = False,
        typing_interval_s: float = 0.5,
        handoff: HandoffSettings | None = None,
        journal: Journal | None = None,
        **creds: Any,
    ) -> TeamsServer:
        db = engine
        if own_engine:  # a connection pool of its own on the same database, as another replica has
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
            journal=journal,
        )
        policy = IngestPolicy(channels=[INGEST], posters=[POSTER_AAD], default_audience=["everyone"])
        desk = KnowledgeDesk(knowledge or kb, policy, LoaderSettings(max_file_mb=1))
        teams = TeamsSettings(  # the fake connector serves the files
            file_hosts=["127.0.0.1"], typing_interval_s=typing_interval_s, allowed_tenants=[TENANT_ID]
        )
        people = HandoffDesk(db, (knowledge or kb).access, handoff) if handoff is not None else None
        endpoint = TeamsEndpoint(
            bot, conversations, teams, desk, credentials(identity, **creds), handoff=people
        )
        server = TeamsServer(endpoint, identity)
        servers.append(server)
        return server

    yield build
    for server in servers:
        server.close()
    for db in engines:
        db.dispose()

"""Slack end to end: the real Bolt app on loopback HTTP, signed requests in, a fake Web API out."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from docx import Document
from pypdf import PdfWriter
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.http_server import build_web_app
from adapters.slack import build_slack_app, socket_mode_handler
from adapters.slack.files import SlackFiles
from adapters.slack.listeners import APOLOGY, SlackFrontEnd, vote_of
from adapters.slack.render import FEEDBACK_ACTION
from bot.answering.extractive import ExtractiveAnswerer, HeuristicRewriter
from bot.core import AnswerSettings, SupportBot
from bot.desk import KnowledgeDesk
from bot.settings import SlackSettings, load_file_config
from bot.store.conversations import ConversationStore
from bot.store.database import create_db_engine, migrate
from bot.store.interactions import InteractionLog
from bot.store.models import AnswerMessage, Interaction, Vote
from bot.types import VoteValue
from knowledge.loaders import DocumentDefaults, LoaderSettings
from knowledge.service import WeaviateKnowledgeBase
from knowledge.weaviate_server import free_port
from tests.conftest import REPO, KBFactory
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

pytestmark = pytest.mark.weaviate
SECRET = "test-signing-secret"
REMOTE = "How many days per week can I work remotely?"
BREACH = "Within how many hours must personal data breaches be reported to the data protection officer?"


@pytest.fixture(scope="module")
def kb(make_kb: KBFactory) -> WeaviateKnowledgeBase:
    groups = dict(load_file_config(REPO / "config" / "sample.yaml").access.groups)
    groups["everyone"] = ["*"]
    base = make_kb(groups)
    results = base.ingest_paths([REPO / "samples" / "policies"], DocumentDefaults(audience=("everyone",)))
    assert all(r.ok for r in results), results
    return base


class SlackServer:
    """Our HTTP server (Bolt + SlackFrontEnd) in a thread with its own event loop."""

    def __init__(self, web_app: web.Application, slack: AsyncApp | None = None) -> None:
        self.slack = slack
        self.socket: AsyncSocketModeHandler | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(web_app)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def connect_socket_mode(self, app_token: str) -> None:
        slack = self.slack
        assert slack is not None

        async def connect() -> None:
            # The handler's aiohttp session must be made inside the running loop.
            self.socket = socket_mode_handler(slack, app_token)
            await self.socket.connect_async()

        asyncio.run_coroutine_threadsafe(connect(), self._loop).result(timeout=30)

    async def _stop(self) -> None:
        if self.socket is not None:
            await self.socket.close_async()
        await self._runner.cleanup()
        # Answers still running in the background finish before the loop goes.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=15)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def post(
        self, body: str, headers: dict[str, str] | None = None, path: str = "/slack/events"
    ) -> tuple[int, str]:
        request = urllib.request.Request(
            self.url + path,
            data=body.encode(),
            headers=headers or signed_headers(body, SECRET),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def event(self, event: dict[str, Any], event_id: str) -> tuple[int, str]:
        return self.post(json.dumps(event_callback(event, event_id)))


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    return engine


ServerFactory = Callable[..., SlackServer]


@pytest.fixture
def start(kb: WeaviateKnowledgeBase, fake: FakeSlack, engine: Any) -> Iterator[ServerFactory]:
    servers: list[SlackServer] = []

    def build(knowledge: Any = None) -> SlackServer:
        settings = AnswerSettings()
        extractive = ExtractiveAnswerer(settings.extractive)
        conversations = ConversationStore(engine)
        bot = SupportBot(
            knowledge or kb,
            extractive,
            extractive,
            HeuristicRewriter(),
            InteractionLog(engine),
            settings,
            conversations,
        )
        slack_settings = SlackSettings(file_hosts=["127.0.0.1"])  # the fake serves the files
        policy = load_file_config(REPO / "config" / "sample.yaml").ingest
        desk = KnowledgeDesk(knowledge or kb, policy, LoaderSettings(max_file_mb=1))
        front = SlackFrontEnd(bot, conversations, slack_settings, desk)
        slack = build_slack_app(front, "xoxb-test", SECRET, fake.api_url)
        server = SlackServer(build_web_app(slack), slack)
        servers.append(server)
        return server

    yield build
    for server in servers:
        server.close()


def texts(call: Any) -> str:
    return json.dumps(call.params.get("blocks", [])) + call.params.get("text", "")


def count(engine: Any, model: Any) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_mention_is_answered_in_its_thread_with_citations(
    start: ServerFactory, fake: FakeSlack, engine: Any
) -> None:
    server = start()
    started = time.perf_counter()
    status, _ = server.event(mention_event(REMOTE, "C0ENG", "U1", "1700000001.000100"), "Ev1")
    assert status == 200 and time.perf_counter() - started < 5  # acknowledged before answering
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


def test_direct_messages_and_slash_commands(start: ServerFactory, fake: FakeSlack) -> None:
    server = start()
    server.event(message_event(REMOTE, "D0DM1", "U1", "1700000006.000100"), "Ev6")
    [dm] = fake.wait_for("chat.postMessage")
    assert dm.params["channel"] == "D0DM1" and "three days per week" in texts(dm)
    # The bot's own messages (and other bots') are never answered.
    server.event(message_event("I am a bot", "D0DM1", "UBOT", "1700000007.000100", bot_id="BBOT"), "Ev7")
    status, ack = server.post(slash_command_form("/ask", REMOTE, "U2", "C0ENG"))
    assert status == 200 and "Looking that up" in ack
    [private] = fake.wait_for("chat.postEphemeral")
    assert private.params["user"] == "U2" and "three days per week" in texts(private)
    time.sleep(0.5)
    assert len(fake.calls_to("chat.postMessage")) == 1


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


def test_redeliveries_are_answered_once_even_by_two_instances(start: ServerFactory, fake: FakeSlack) -> None:
    first, second = start(), start()  # two replicas on one database
    event = mention_event(REMOTE, "C0ENG", "U1", "1700000010.000100")
    statuses = [(first if i % 2 else second).event(event, "EvSame")[0] for i in range(5)]
    assert statuses == [200] * 5
    fake.wait_for("chat.postMessage")
    time.sleep(1.0)
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_forged_or_stale_requests_are_refused(start: ServerFactory, fake: FakeSlack, engine: Any) -> None:
    server = start()
    body = json.dumps(event_callback(mention_event(REMOTE, "C0ENG", "U1", "1700000011.000100"), "EvForged"))
    forged = signed_headers(body, "not-the-secret")
    stale = signed_headers(body, SECRET, timestamp=int(time.time()) - 6 * 60)
    assert server.post(body, forged)[0] == 401
    assert server.post(body, stale)[0] == 401
    time.sleep(0.5)
    assert fake.calls_to("chat.postMessage") == [] and count(engine, Interaction) == 0


def test_rate_limits_are_retried_and_failures_apologise(
    start: ServerFactory, fake: FakeSlack, kb: WeaviateKnowledgeBase
) -> None:
    server = start()
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    server.event(mention_event(REMOTE, "C0ENG", "U1", "1700000012.000100"), "Ev12")
    attempts = fake.wait_for("chat.postMessage", count=2, timeout=15)
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
            assert json.loads(response.read()) == {"status": "ok", "slack": False}
    finally:
        server.close()


def current_votes(engine: Any) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        rows = session.scalars(select(Vote).where(Vote.retracted_at.is_(None)).order_by(Vote.id))
        return [(v.user_id, v.value, v.source) for v in rows]


def wait_until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


# -- the ingest channel ---------------------------------------------------------------------


def ingest_reply(fake: FakeSlack, count: int) -> str:
    return fake.wait_for("chat.postMessage", count=count, timeout=60)[count - 1].params["text"]


def test_an_authorised_text_post_is_indexed_and_answers_at_once(
    start: ServerFactory, fake: FakeSlack
) -> None:
    server = start()
    post = (
        "Bike to work scheme\naudience: everyone\nversion: 1\neffective: 2026-06-01\n\n"
        "Employees can lease a bicycle through payroll once every four years, up to 1,500 EUR."
    )
    server.event(
        message_event(post, "C0INGEST", "U0HR1", "1700000020.000100", channel_type="channel"), "Ev20"
    )
    reply = ingest_reply(fake, 1)
    assert reply.startswith(
        ":white_check_mark: Indexed Bike to work scheme v1 (bike-to-work-scheme) for everyone: 1 chunks"
    )
    assert fake.calls_to("chat.postMessage")[0].params["thread_ts"] == "1700000020.000100"
    server.event(
        mention_event("How often can I lease a bicycle?", "C0ENG", "U1", "1700000021.000100"), "Ev21"
    )
    answer = texts(fake.wait_for("chat.postMessage", count=2)[1])
    assert "once every four years" in answer and "Bike to work scheme" in answer
    # A new version replaces the old one and says so.
    newer = "Bike to work scheme\nversion: 2\n\nEmployees can lease a bicycle once every three years."
    server.event(
        message_event(newer, "C0INGEST", "U0HR1", "1700000022.000100", channel_type="channel"), "Ev22"
    )
    assert "v2 (bike-to-work-scheme) for everyone: 1 chunks, replacing v1." in ingest_reply(fake, 3)


def test_others_cannot_change_the_knowledge_base(
    start: ServerFactory, fake: FakeSlack, kb: WeaviateKnowledgeBase
) -> None:
    server = start()
    before = {d.doc_id for d in kb.list_documents()}
    post = "Free lunch policy\n\nEveryone gets free lunch every day."
    server.event(message_event(post, "C0INGEST", "U9", "1700000023.000100", channel_type="channel"), "Ev23")
    assert "only the people listed as knowledge-base posters" in ingest_reply(fake, 1)
    server.event(mention_event("forget remote-work", "C0INGEST", "U9", "1700000024.000100"), "Ev24")
    assert "only the people listed" in ingest_reply(fake, 2)
    # An authorised poster naming an unknown audience is refused with the known groups.
    bad = "Secret plan\naudience: board\n\nThe board meets monthly."
    server.event(message_event(bad, "C0INGEST", "U0HR1", "1700000025.000100", channel_type="channel"), "Ev25")
    refused = ingest_reply(fake, 3)
    assert "unknown audience board" in refused and "hr-team" in refused and "security" in refused
    # Posts in other channels are not ingested at all.
    server.event(message_event(post, "C0ENG", "U0HR1", "1700000026.000100", channel_type="channel"), "Ev26")
    time.sleep(0.5)
    assert len(fake.calls_to("chat.postMessage")) == 3
    assert {d.doc_id for d in kb.list_documents()} == before


def test_files_of_each_type_are_fetched_and_indexed(
    start: ServerFactory, fake: FakeSlack, tmp_path: Path
) -> None:
    server = start()
    document = Document()
    document.add_heading("Visitor Policy", level=1)
    document.add_paragraph("Visitors sign in at reception and wear a badge at all times.")
    docx = tmp_path / "visitors.docx"
    document.save(str(docx))
    files = [
        fake.add_file(
            "F1",
            "parking.md",
            "markdown",
            b"# Parking\n\nStaff park on level -2 after 9:00.",
            "text/markdown",
        ),
        fake.add_file(
            "F2", "lockers.txt", "text", b"Lockers\nLockers are emptied every Friday evening.", "text/plain"
        ),
        fake.add_file(
            "F3",
            "plants.html",
            "html",
            b"<h1>Plants</h1><p>Office plants are watered on Mondays.</p>",
            "text/html",
        ),
        fake.add_file(
            "F4",
            "visitors.docx",
            "docx",
            docx.read_bytes(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        fake.add_file("F5", "scan.pdf", "pdf", _tiny_pdf(), "application/pdf"),
    ]
    message = message_event(
        "audience: everyone", "C0INGEST", "U0HR1", "1700000030.000100", channel_type="channel", files=files
    )
    server.event(message, "Ev30")
    reply = ingest_reply(fake, 1)
    for title in ["Parking", "Lockers", "Plants", "Visitor Policy"]:
        assert f"indexed {title.lower()}" in reply.lower(), reply
    assert "Could not index" in reply and "scan.pdf" in reply  # an image-only PDF says why
    downloads = fake.calls_to("files-pri")
    assert len(downloads) == 5 and all(d.token == "xoxb-test" for d in downloads)


def test_oversized_and_corrupt_files_are_refused(start: ServerFactory, fake: FakeSlack) -> None:
    server = start()
    big = fake.add_file("F6", "huge.txt", "text", b"x" * (2 * 1024 * 1024), "text/plain")
    broken = fake.add_file("F7", "broken.pdf", "pdf", b"%PDF-1.4 not really", "application/pdf")
    message = message_event(
        "", "C0INGEST", "U0HR1", "1700000031.000100", channel_type="channel", files=[big, broken]
    )
    server.event(message, "Ev31")
    reply = ingest_reply(fake, 1)
    assert "huge.txt: the file is 2.0 MB, over the 1 MB limit" in reply
    assert "broken.pdf" in reply and "not a readable PDF" in reply
    assert len(fake.calls_to("files-pri")) == 1  # the oversized file is never downloaded


def test_the_token_only_goes_to_allowed_hosts(fake: FakeSlack) -> None:
    fake.add_file("F9", "notes.txt", "text", b"Notes\nSome text.", "text/plain")
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    files, problems = asyncio.run(
        SlackFiles(["files.slack.com"], 1).fetch(client, [{"id": "F9", "name": "notes.txt"}])
    )
    assert files == [] and problems == ["Could not index notes.txt: downloads from 127.0.0.1 are not allowed"]
    assert fake.calls_to("files-pri") == []


def test_docs_and_forget_for_posters(start: ServerFactory, fake: FakeSlack) -> None:
    server = start()
    post = "Desk booking\n\nDesks are booked in the app up to two weeks ahead."
    server.event(
        message_event(post, "C0INGEST", "U0HR1", "1700000040.000100", channel_type="channel"), "Ev40"
    )
    ingest_reply(fake, 1)
    server.event(mention_event("docs", "C0INGEST", "U0HR1", "1700000041.000100"), "Ev41")
    assert "desk-booking: Desk booking v1 for everyone" in ingest_reply(fake, 2)
    server.event(mention_event("forget desk-booking", "C0INGEST", "U0HR1", "1700000042.000100"), "Ev42")
    assert "Forgot desk-booking" in ingest_reply(fake, 3)
    server.event(mention_event("forget desk-booking", "C0INGEST", "U0HR1", "1700000043.000100"), "Ev43")
    assert "No document with id 'desk-booking'" in ingest_reply(fake, 4)


def _tiny_pdf() -> bytes:
    # A valid PDF whose only page has no text: what a scan without OCR looks like.
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


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

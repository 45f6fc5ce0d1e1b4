"""The Claude path follows the extractive answerer's rules: short answers from the passages only,
differing sources said out loud with both citations (the ranked one first), abstention, and a
question cleaned of greetings and contact details. Through the real SDK and a fake Messages API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.answering.claude import ClaudeAnswerer, ClaudeSettings, make_client
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followups import HeuristicRewriter
from bot.answering.prompts import SYSTEM_PROMPT
from bot.core import AnswerSettings, SupportBot
from bot.store.database import create_db_engine, migrate
from bot.store.interactions import InteractionLog
from bot.types import AnswerKind, Platform, Question
from knowledge.loaders import DocumentDefaults, build_document
from knowledge.service import WeaviateKnowledgeBase
from tests.conftest import KBFactory
from tests.fakes.anthropic_api import FakeAnthropic, Reply

pytestmark = pytest.mark.weaviate
HELPDESK = "# IT Helpdesk\n\nPasswords must be at least 14 characters long. Use the password manager.\n"
OLD_POLICY = (
    "# Information Security Policy\n\nUsers select passwords with a minimum length of eight characters.\n"
)


@pytest.fixture(scope="module")
def kb(make_kb: KBFactory) -> WeaviateKnowledgeBase:
    kb = make_kb({"everyone": ["*"], "security": ["C0SEC"]})
    docs = [
        build_document("helpdesk.md", HELPDESK, DocumentDefaults(audience=("everyone",)), id_hint="helpdesk"),
        build_document("infosec.md", OLD_POLICY, DocumentDefaults(audience=("security",)), id_hint="infosec"),
    ]
    assert all(r.ok for r in kb.ingest_documents(docs))
    return kb


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def bot(kb: WeaviateKnowledgeBase, fake: FakeAnthropic, tmp_path: Path) -> SupportBot:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    settings = AnswerSettings(claude=ClaudeSettings(max_retries=0), source_priority={"everyone": 1})
    client = make_client("test-key", fake.base_url, settings.claude)
    claude = ClaudeAnswerer(client, settings.claude, settings.source_priority)
    extractive = ExtractiveAnswerer(settings.extractive, kb.embed, settings.source_priority)
    return SupportBot(kb, claude, extractive, HeuristicRewriter(), InteractionLog(engine), settings)


def documents(body: dict[str, Any]) -> dict[str, int]:
    """Document title -> its number in the request's user message."""
    user = body["messages"][0]["content"]
    return {
        m["title"]: int(m["n"])
        for m in re.finditer(r'<document index="(?P<n>\d+)" title="(?P<title>[^"]*)"', user)
    }


def test_the_request_carries_the_rules_the_passages_and_the_clean_question(
    bot: SupportBot, fake: FakeAnthropic
) -> None:
    seen: list[dict[str, Any]] = []

    def model(body: dict[str, Any]) -> Reply:
        seen.append(body)
        n = documents(body)
        return Reply.tool(
            "submit_answer",
            {
                "answer": f"The documents differ: the IT Helpdesk says at least 14 characters [{n['IT Helpdesk']}]; "
                f"the Information Security Policy says eight [{n['Information Security Policy']}].",
                "abstained": False,
            },
        )

    fake.responder = model
    asked = "Hi, I'm Jane Doe (jane.doe@acme.com, +44 7700 900123). What is the minimum password length?"
    answer = bot.answer(Question(asked, Platform.SLACK, "C0SEC", "U1", "T1"))
    [body] = seen
    system = body["system"][0]["text"]
    assert system == SYSTEM_PROMPT
    assert "the documents differ" in system and "own citation" in system and "Never merge them" in system
    assert "one to three sentences" in system and "abstained to true" in system
    user = body["messages"][0]["content"]
    assert "<question>What is the minimum password length?</question>" in user
    assert "jane.doe" not in user and "7700" not in user and "Jane" not in user
    assert "at least 14 characters" in user and "eight characters" in user
    # The company-wide page is ranked: the model is told so.
    assert re.search(r'title="IT Helpdesk"[^>]* priority="1"', user)
    assert not re.search(r'title="Information Security Policy"[^>]* priority=', user)
    # Both citations resolve, each to its own document, in the order the model wrote them.
    assert answer.kind is AnswerKind.GENERATED
    assert [c.doc_id for c in answer.citations] == ["helpdesk", "infosec"]
    assert answer.text.endswith("says eight [2].") and "14 characters [1]" in answer.text
    stored = bot.log.load(answer.interaction_id)
    assert stored is not None and "jane.doe@acme.com" in stored.question


def test_an_abstention_is_shown_as_one(bot: SupportBot, fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.tool("submit_answer", {"answer": "The documents do not cover it.", "abstained": True}))
    answer = bot.answer(Question("How long must my password be?", Platform.SLACK, "C0SEC", "U1", "T2"))
    assert answer.abstained and answer.citations == ()

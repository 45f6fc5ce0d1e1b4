"""The questions a new user asked after `make run` (issue 17), answered extractively from the samples
and the policy-qa PDFs, as the console channel of config/sample.yaml sees them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followups import HeuristicRewriter
from bot.core import SupportBot
from bot.settings import load_file_config
from bot.store.database import create_db_engine, migrate
from bot.store.interactions import InteractionLog
from bot.types import Answer, AnswerKind, Platform, Question
from knowledge.loaders import DocumentDefaults
from knowledge.service import WeaviateKnowledgeBase
from tests.conftest import POLICY_QA, KBFactory

REPO = Path(__file__).resolve().parents[1]
CONFIG = load_file_config(REPO / "config" / "sample.yaml")
PDFS = {  # the folders whose PDFs the questions touch, with the audience the Makefile gives them
    "HR_HR_Policy": "hr",
    "HR_HR_Policy_Procedures": "hr",
    "Security_Information_Security_Policy": "security",
}

pytestmark = pytest.mark.skipif(not POLICY_QA.is_dir(), reason="../shared/data/policy-qa is not here")


@pytest.fixture(scope="module")
def kb(make_kb: KBFactory) -> WeaviateKnowledgeBase:
    kb = make_kb(CONFIG.access.groups)
    results = kb.ingest_paths([REPO / "samples" / "policies"], DocumentDefaults(audience=("everyone",)))
    for folder, group in PDFS.items():
        results += kb.ingest_paths([POLICY_QA / folder], DocumentDefaults(audience=(group,)))
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    return kb


@pytest.fixture(scope="module")
def bot(kb: WeaviateKnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> SupportBot:
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('examples') / 'log.db'}")
    migrate(engine)
    answers = CONFIG.answers
    extractive = ExtractiveAnswerer(answers.extractive, kb.embed, answers.source_priority)
    return SupportBot(kb, extractive, extractive, HeuristicRewriter(), InteractionLog(engine), answers)


def ask(bot: SupportBot, text: str) -> Answer:
    answer = bot.answer(Question(text, Platform.CLI, "C0CONSOLE", "U1"))
    assert answer.kind is AnswerKind.EXTRACTED, (text, answer.text)
    return answer


def cited_docs(answer: Answer) -> list[str]:
    return [c.doc_id for c in answer.citations]


def test_how_long_must_my_password_be_is_answered_with_the_rule_not_a_title(bot: SupportBot) -> None:
    answer = ask(bot, "How long must my password be?")
    assert "14 characters" in answer.text
    assert answer.text.split(" [")[0] != "IT Helpdesk: Passwords and Accounts"
    assert "it-helpdesk" in cited_docs(answer)


def test_a_bike_is_a_bicycle(bot: SupportBot) -> None:
    answer = ask(bot, "How much can I spend on a bike through the cycle to work scheme?")
    assert "1,500 EUR" in answer.text and cited_docs(answer)[0] == "cycle-to-work"


def test_a_greeting_and_contact_details_change_nothing(bot: SupportBot) -> None:
    bare = ask(bot, "How many days per year can I work from abroad?")
    greeted = ask(
        bot,
        "Hi, I'm Jane Doe (jane.doe@acme.com, phone +44 7700 900123). "
        "How many days per year can I work from abroad?",
    )
    assert "20 working days" in greeted.text and greeted.text == bare.text
    assert cited_docs(greeted) == ["remote-work"]
    # What was asked is what the log keeps; what was searched is beside it.
    row = bot.log.load(greeted.interaction_id or "")
    assert row is not None
    assert "jane.doe@acme.com" in row.question
    assert row.rewritten_question == "How many days per year can I work from abroad?"


def test_annual_leave_is_answered_with_table_rows_and_their_headers(bot: SupportBot) -> None:
    answer = ask(bot, "How many days of annual leave do I get?")
    assert "working days" in answer.text and "years of service" in answer.text.lower(), answer.text
    assert cited_docs(answer) == ["hr-policy"]


def test_two_organisations_rates_are_not_run_together(bot: SupportBot) -> None:
    answer = ask(bot, "How much is the transport reimbursement per km if I use my own car?")
    assert answer.text.startswith("The documents differ"), answer.text
    assert "60 cents per km" in answer.text and "$0.48 per kilometer" in answer.text
    assert "15 cents" not in answer.text  # the motor-cycle row is another rate
    assert sorted(cited_docs(answer)) == ["hr-policy", "hr-policy-procedures"]


def test_differing_password_rules_are_said_out_loud_the_company_page_first(bot: SupportBot) -> None:
    answer = ask(bot, "What is the minimum password length?")
    assert answer.text.startswith("The documents differ on this. IT Helpdesk"), answer.text
    assert "14 characters" in answer.text and (
        "eight characters" in answer.text or "8 characters" in answer.text
    )
    assert cited_docs(answer)[0] == "it-helpdesk" and len(set(cited_docs(answer))) == 2

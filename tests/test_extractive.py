"""The extractive answerer (with the real embedding model), its parts, the follow-up rewriter and
citation markers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bot.answering.candidates import candidates, looks_like_heading
from bot.answering.citations import cited_numbers, resolve_citations
from bot.answering.extractive import ExtractiveAnswerer, ExtractiveSettings
from bot.answering.followups import HeuristicRewriter
from bot.answering.prompts import render_user_message
from bot.answering.question_types import Wants, figures, fits, wants
from bot.answering.terms import content_terms, question_terms
from bot.types import AnswerKind, Turn
from knowledge.types import Passage


def passage(
    text: str, n: int = 1, section: str = "", title: str = "Travel Policy", acl: tuple[str, ...] = ()
) -> Passage:
    return Passage(f"c{n}", f"doc{n}", title, section, "2", f"doc{n}.md", 0.5, text, acl=acl)


MEALS = passage(
    "## Meals\nMeals while travelling are reimbursed up to 60 EUR per day\nwith receipts. "
    "Alcohol is not reimbursed.",
    1,
    "Meals",
)
HOTELS = passage(
    "Hotels are booked through the travel portal.\n\n- Rooms up to 150 EUR per night in most cities.\n"
    "- Rooms up to 220 EUR per night in London, Paris and New York.",
    2,
    "Hotels",
)


@pytest.fixture(scope="module")
def answerer(embed_model: Any) -> ExtractiveAnswerer:
    return ExtractiveAnswerer(ExtractiveSettings(), embed(embed_model))


def embed(model: Any) -> Any:
    def run(texts: Sequence[str]) -> list[list[float]]:
        return model.get_text_embedding_batch(list(texts))  # type: ignore[no-any-return]

    return run


def texts(passages: list[Passage]) -> list[str]:
    return [c.text for c in candidates(passages)]


def test_units_join_wrapped_lines_and_split_at_bullets_and_headings() -> None:
    assert texts([MEALS]) == [
        "Meals while travelling are reimbursed up to 60 EUR per day with receipts.",
        "Alcohol is not reimbursed.",
    ]
    assert texts([HOTELS]) == [
        "Hotels are booked through the travel portal.",
        "Rooms up to 150 EUR per night in most cities.",
        "Rooms up to 220 EUR per night in London, Paris and New York.",
    ]


def test_headings_titles_and_contents_lines_are_context_never_answers() -> None:
    pdf = passage(
        "Section 5: Leave\nAnnual Leave ........................ 3\nMedical Leave .......... 7\n"
        "1. ANNUAL LEAVE\n1.1 Staff are entitled to annual leave as set out below.\nPage 3 of 94\n",
        1,
        "page 3",
        title="HR Policy",
    )
    units = candidates([pdf])
    assert [u.text for u in units] == ["Staff are entitled to annual leave as set out below."]
    assert units[0].context == "ANNUAL LEAVE"
    assert looks_like_heading("Mode of Transport Rates of Transport Reimbursement")
    assert not looks_like_heading("Staff should plan his official journeys properly.")
    assert texts([passage("# Travel Policy\nTravel Policy", 1, title="Travel Policy")]) == []


def test_table_rows_stand_alone_with_their_headers() -> None:
    table = passage(
        "Rates:\n\n| Mode of Transport: For motor-car | Rate: 60 cents per km |\n"
        "| Mode of Transport: For motor-cycle | Rate: 15 cents per km |\n\nPlan journeys well.",
        1,
    )
    units = candidates([table])
    rows = [u for u in units if u.is_row]
    assert [r.text for r in rows] == [
        "Mode of Transport: For motor-car; Rate: 60 cents per km",
        "Mode of Transport: For motor-cycle; Rate: 15 cents per km",
    ]
    assert rows[0].table == rows[1].table != 0


def test_question_shapes_and_figures() -> None:
    assert wants("How long must my password be?") is Wants.DURATION
    assert wants("How much can I spend on a bike?") is Wants.AMOUNT
    assert wants("How many days of annual leave do I get?") is Wants.COUNT
    assert wants("When are expenses due?") is Wants.TIME
    assert wants("Who approves travel?") is Wants.PERSON
    assert wants("What is the minimum password length?") is Wants.FIGURE
    assert wants("Can I bring my dog?") is Wants.YESNO
    assert fits(Wants.DURATION, "Passwords must be at least 14 characters long.")
    assert fits(Wants.AMOUNT, "up to 1,500 EUR in total") and not fits(Wants.AMOUNT, "once every four years")
    assert figures("Passwords need a minimum of eight characters") == {"8"}
    assert figures("4.2 The bike may cost up to 1,500 EUR in 2026.") == {"1500"}
    assert figures("at $0.48 per kilometer") == {"0.48"}


def test_content_words_survive_only_the_question_phrase_goes() -> None:
    # "long" is a content word ("long-term illness") except in "how long".
    assert "long" in content_terms("long term illness leave")
    assert question_terms("How long must my password be?") == {"password"}
    assert question_terms("How many days of annual leave do I get?") == {"day", "annual", "leav", "get"}


def test_answers_with_the_best_sentence_and_its_passage(answerer: ExtractiveAnswerer) -> None:
    draft = answerer.answer("How much is reimbursed for meals per day?", [HOTELS, MEALS])
    assert draft.kind is AnswerKind.EXTRACTED and draft.answerer == "extractive" and draft.model == ""
    assert draft.text == "Meals while travelling are reimbursed up to 60 EUR per day with receipts. [2]"
    london = answerer.answer("What is the hotel room limit per night in London?", [HOTELS, MEALS])
    assert "220 EUR per night in London" in london.text and london.text.endswith("[1]")
    assert "Alcohol" not in london.text


def test_meaning_finds_a_synonym(answerer: ExtractiveAnswerer) -> None:
    bikes = passage(
        "Employees may lease a bicycle through salary sacrifice. The bicycle and accessories may "
        "cost up to 1,500 EUR in total.",
        1,
        "What the scheme offers",
        "Cycle to Work Scheme",
    )
    draft = answerer.answer(
        "How much can I spend on a bike through the cycle to work scheme?", [bikes, MEALS]
    )
    assert "1,500 EUR" in draft.text and draft.text.endswith("[1]")


def test_abstains_when_the_passages_do_not_answer(answerer: ExtractiveAnswerer) -> None:
    for question in ["What is the wifi password?", "hello", "???", "Who won the last hackathon?"]:
        draft = answerer.answer(question, [HOTELS, MEALS])
        assert draft.kind is AnswerKind.ABSTAINED and draft.text == "", question


def test_the_confidence_floor_is_a_setting(embed_model: Any) -> None:
    question = "Are hotels booked through the portal?"
    strict = ExtractiveAnswerer(ExtractiveSettings(min_confidence=2.0), embed(embed_model))
    assert strict.answer(question, [HOTELS]).abstained
    lenient = ExtractiveAnswerer(ExtractiveSettings(min_confidence=0.1), embed(embed_model))
    assert not lenient.answer(question, [HOTELS]).abstained


def test_differing_figures_are_said_out_loud_higher_priority_first(embed_model: Any) -> None:
    helpdesk = passage(
        "Passwords must be at least 14 characters long. Use the company password manager.",
        1,
        "",
        "IT Helpdesk: Passwords and Accounts",
        acl=("everyone",),
    )
    policy = passage(
        "Users shall select quality passwords with a minimum length of eight characters.",
        2,
        "page 27",
        "Information Security Policy",
        acl=("security",),
    )
    for ranks, first in [({"everyone": 1}, "IT Helpdesk"), ({"security": 5}, "Information Security")]:
        answerer = ExtractiveAnswerer(ExtractiveSettings(), embed(embed_model), ranks)
        draft = answerer.answer("What is the minimum password length?", [policy, helpdesk])
        assert draft.text.startswith(f"The documents differ on this. {first}"), draft.text
        assert "14 characters" in draft.text and "eight characters" in draft.text
        resolved = resolve_citations(draft.text, [policy, helpdesk])
        assert {c.doc_id for c in resolved.citations} == {"doc1", "doc2"}


def test_a_run_on_sentence_is_cut_to_the_length_cap(embed_model: Any) -> None:
    table = passage(" ".join(f"grade{i} hotel limit {i}00 EUR" for i in range(200)), 3)
    answerer = ExtractiveAnswerer(ExtractiveSettings(max_chars=200), embed(embed_model))
    draft = answerer.answer("What is the hotel limit per grade?", [table])
    assert draft.kind is AnswerKind.EXTRACTED
    assert len(draft.text) <= 200 + len(" … [1]") and draft.text.endswith("… [1]")


def test_the_prompt_is_rendered_even_without_a_model(answerer: ExtractiveAnswerer) -> None:
    # The fine-tuning export replays extracted answers with the prompt Claude would have seen.
    draft = answerer.answer("meals per day?", [MEALS])
    assert '<document index="1" title="Travel Policy" section="Meals" version="2">' in draft.user_prompt
    assert draft.system_prompt


def test_heuristic_rewriter_only_joins_questions_that_lean_on_the_thread() -> None:
    rewriter = HeuristicRewriter()
    history = [Turn("How many days can I work remotely?", "Three [1].")]
    assert rewriter.rewrite("what about from abroad?", history) == (
        "How many days can I work remotely? what about from abroad?"
    )
    assert rewriter.rewrite("Does it apply to contractors?", history).startswith("How many days")
    assert rewriter.rewrite("and interns?", history).startswith("How many days")
    for standalone in [
        "How do I report a security incident?",
        "Is there a dress code?",
        "What is this year's training budget?",
    ]:
        assert rewriter.rewrite(standalone, history) == standalone
    assert rewriter.rewrite("what about from abroad?", []) == "what about from abroad?"


def test_citation_markers_are_checked_and_renumbered() -> None:
    passages = [passage("a", 1), passage("b", 2), passage("c", 3)]
    resolved = resolve_citations("First [3]. Second [1, 3]. Nowhere [7]. Again [3][3].", passages)
    assert resolved.text == "First [1]. Second [2][1]. Nowhere. Again [1]."
    assert [(c.marker, c.chunk_id) for c in resolved.citations] == [(1, "c3"), (2, "c1")]
    assert resolved.cited_ranks == (2, 0) and resolved.dropped_markers == 1
    assert cited_numbers("x [1] y [2, 4] z [0]") == [1, 2, 4, 0]
    assert resolve_citations("No markers at all.", passages).citations == ()


def test_bracketed_numbers_in_a_document_never_become_citations(answerer: ExtractiveAnswerer) -> None:
    clause = passage("Taxis are reimbursed subject to clause [2] of the travel policy.", 1, "Taxis")
    other = passage("Remote work is allowed three days a week.", 2, "Remote")
    draft = answerer.answer("Are taxis reimbursed?", [clause, other])
    resolved = resolve_citations(draft.text, [clause, other])
    assert resolved.text == "Taxis are reimbursed subject to clause (2) of the travel policy. [1]"
    assert [c.chunk_id for c in resolved.citations] == ["c1"]
    # The model sees the same neutral form, so it cannot echo the document's "[2]" either.
    assert "clause (2) of" in render_user_message("taxis?", [clause, other])


def test_a_sentence_case_heading_is_context_not_part_of_the_next_sentence() -> None:
    scope = passage(
        "Staff must sign in every day.\nScope of this policy\nThe policy covers all contractors too.", 4
    )
    assert texts([scope]) == ["Staff must sign in every day.", "The policy covers all contractors too."]
    assert candidates([scope])[1].context == "Scope of this policy"
    # A wrapped line that ends a sentence in the middle of a paragraph stays in it.
    wrapped = passage("Claims are paid by the\nFinance team after\nReview by a manager.", 5)
    assert texts([wrapped]) == ["Claims are paid by the Finance team after Review by a manager."]


def test_a_two_part_question_gets_a_unit_for_each_part(answerer: ExtractiveAnswerer) -> None:
    notice = passage(
        "Staff on probation who resign must give 48 hours of written notice. "
        "Office plants are watered on Mondays by the facilities team.",
        6,
        title="Resignation",
    )
    pay = passage(
        "Staff who did not serve a full month receive a pro-rated salary for the last month of service.",
        7,
        title="Payroll",
    )
    question = (
        "How much notice must a staff member on probation give, and will they receive a pro-rated salary?"
    )
    draft = answerer.answer(question, [notice, pay])
    assert "48 hours" in draft.text and "pro-rated salary" in draft.text
    assert "plants" not in draft.text
    single = answerer.answer("How much notice must a staff member on probation give?", [notice, pay])
    assert "pro-rated" not in single.text


def test_a_sentence_repeated_by_overlapping_passages_is_quoted_once(answerer: ExtractiveAnswerer) -> None:
    text = "Information availability is the responsibility of the hosting State Agency. Backups run nightly."
    draft = answerer.answer(
        "Who is responsible for information availability?", [passage(text, 8), passage(text, 9)]
    )
    assert draft.text.count("Information availability is the responsibility") == 1

"""The extractive answerer, the heuristic follow-up rewriter and citation markers (pure code)."""

from __future__ import annotations

from bot.answering.citations import cited_numbers, resolve_citations
from bot.answering.extractive import (
    ExtractiveAnswerer,
    ExtractiveSettings,
    HeuristicRewriter,
    content_terms,
    split_sentences,
)
from bot.answering.prompts import render_user_message
from bot.types import AnswerKind, Turn
from knowledge.types import Passage


def passage(text: str, n: int = 1, section: str = "", title: str = "Travel Policy") -> Passage:
    return Passage(f"c{n}", f"doc{n}", title, section, "2", f"doc{n}.md", 0.5, text)


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


def test_sentences_join_wrapped_lines_and_split_at_bullets_and_headings() -> None:
    assert split_sentences(MEALS.text) == [
        "Meals while travelling are reimbursed up to 60 EUR per day with receipts.",
        "Alcohol is not reimbursed.",
    ]
    assert split_sentences(HOTELS.text) == [
        "Hotels are booked through the travel portal.",
        "Rooms up to 150 EUR per night in most cities.",
        "Rooms up to 220 EUR per night in London, Paris and New York.",
    ]


def test_terms_drop_function_words_and_stem() -> None:
    assert content_terms("How many days can I work remotely?") == ["day", "work", "remot"]
    assert content_terms("What is the parental leave?") == ["parent", "leav"]


def test_answers_with_the_supporting_sentences_and_their_passages() -> None:
    answerer = ExtractiveAnswerer(ExtractiveSettings())
    draft = answerer.answer("How much is reimbursed for meals per day?", [HOTELS, MEALS])
    assert draft.kind is AnswerKind.EXTRACTED and draft.answerer == "extractive" and draft.model == ""
    assert draft.text == "Meals while travelling are reimbursed up to 60 EUR per day with receipts. [2]"
    both = answerer.answer("What are the hotel room limits per night in London?", [HOTELS, MEALS])
    assert "220 EUR per night in London" in both.text and both.text.endswith("[1]")
    assert "Alcohol" not in both.text


def test_abstains_when_the_passages_do_not_support_the_question() -> None:
    answerer = ExtractiveAnswerer(ExtractiveSettings())
    for question in ["What is the wifi password?", "hello", "???"]:
        draft = answerer.answer(question, [HOTELS, MEALS])
        assert draft.kind is AnswerKind.ABSTAINED and draft.text == "", question
    strict = ExtractiveAnswerer(ExtractiveSettings(min_support=1.0))
    assert strict.answer("Are hotels and parking reimbursed?", [HOTELS]).abstained
    lenient = ExtractiveAnswerer(ExtractiveSettings(min_support=0.2))
    assert not lenient.answer("Are hotels and parking reimbursed?", [HOTELS]).abstained


def test_a_run_on_sentence_is_cut_to_the_length_cap() -> None:
    table = passage(
        "| Grade | Limit |\n" + " ".join(f"grade{i} hotel limit {i}00 EUR" for i in range(200)), 3
    )
    draft = ExtractiveAnswerer(ExtractiveSettings(max_chars=200)).answer("hotel limit per grade", [table])
    assert draft.kind is AnswerKind.EXTRACTED
    assert len(draft.text) <= 200 + len(" … [1]") and draft.text.endswith("… [1]")


def test_the_prompt_is_rendered_even_without_a_model() -> None:
    # The fine-tuning export replays extracted answers with the prompt Claude would have seen.
    draft = ExtractiveAnswerer(ExtractiveSettings()).answer("meals per day?", [MEALS])
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


def test_bracketed_numbers_in_a_document_never_become_citations() -> None:
    clause = passage("Taxis are reimbursed subject to clause [2] of the travel policy.", 1, "Taxis")
    other = passage("Remote work is allowed three days a week.", 2, "Remote")
    draft = ExtractiveAnswerer(ExtractiveSettings()).answer("Are taxis reimbursed?", [clause, other])
    resolved = resolve_citations(draft.text, [clause, other])
    assert resolved.text == "Taxis are reimbursed subject to clause (2) of the travel policy. [1]"
    assert [c.chunk_id for c in resolved.citations] == ["c1"]
    # The model sees the same neutral form, so it cannot echo the document's "[2]" either.
    assert "clause (2) of" in render_user_message("taxis?", [clause, other])

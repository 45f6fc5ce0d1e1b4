"""What is searched for: greetings, introductions, sign-offs and contact details left out."""

from __future__ import annotations

import pytest

from bot.answering.hygiene import searchable_question


@pytest.mark.parametrize(
    ("asked", "searched"),
    [
        (
            "Hi, I'm Jane Doe (jane.doe@acme.com, phone +44 7700 900123). "
            "How many days per year can I work from abroad?",
            "How many days per year can I work from abroad?",
        ),
        ("I'm Jane Doe - how many days can I work from abroad?", "how many days can I work from abroad?"),
        ("Hey team, quick question: what is the meal allowance? Thanks, Jane", "what is the meal allowance?"),
        (
            "Hello! My name is Bob Smith from the Finance team. When must expenses be submitted? "
            "Best regards, Bob",
            "When must expenses be submitted?",
        ),
        ("I am Jane from the Finance team, when are expenses due?", "when are expenses due?"),
        (
            "Good morning, can I work from Spain for 2 weeks in 2026?",
            "can I work from Spain for 2 weeks in 2026?",
        ),
        ("Who do I call? Mail it@acme.com or see https://intranet/help", "Who do I call? Mail or see"),
    ],
)
def test_pleasantries_and_contact_details_are_not_searched(asked: str, searched: str) -> None:
    assert searchable_question(asked) == searched


@pytest.mark.parametrize(
    "question",
    [
        "How much can I spend on a bike through the cycle to work scheme?",
        "Is Grant eligible for parental leave?",  # a name that is the topic stays
        "what about from abroad?",  # a follow-up keeps its case: the thread is prepended as asked
        "I'm new here. How do I get a laptop?",  # not an introduction by name
        "This is urgent: who approves travel?",
        "hi",  # nothing would be left: the question stays as asked
    ],
)
def test_a_plain_question_is_searched_as_asked(question: str) -> None:
    assert searchable_question(question) == question

"""Answer correctness without a judge (eval.answer_metrics): SQuAD token F1 and numbers recall,
the figures `app.py eval` and bench/answer_quality.py both report."""

from __future__ import annotations

import pytest

from eval.answer_metrics import (
    AnswerScores,
    normalise_answer,
    numbers_in,
    numbers_recall,
    score_answer,
    token_f1,
)


def test_squad_normalisation() -> None:
    # Lower case, punctuation deleted (typographic quotes too), articles gone, single spaces.
    assert normalise_answer("The Employee’s  “right” to an A/B test.") == "employees right to ab test"
    assert normalise_answer("A theory, the end.") == "theory end"


def test_token_f1() -> None:
    reference = "Passwords must be at least 14 characters long."
    assert token_f1("Passwords must be at least 14 characters long [1].", reference) == 1.0
    # 6 shared tokens; 7 in the answer ("the" is dropped), 8 in the reference.
    assert token_f1("The password must be at least 14 characters.", reference) == pytest.approx(
        2 * (6 / 7) * (6 / 8) / (6 / 7 + 6 / 8)
    )
    assert token_f1("Use the password manager.", "Twenty weeks.") == 0.0
    assert token_f1("", reference) == 0.0
    # Repeated words count as often as they occur in both (multiset overlap).
    assert token_f1("leave leave leave", "leave") == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Up to 1,500 EUR in total", {"1500"}),
        ("60% of their hours, or 60 percent", {"60"}),
        ("$0.48 per kilometre; 0.50 per mile; 60.00 a day", {"0.48", "0.5", "60"}),
        ("fourteen characters, twenty-five weeks", {"14", "25"}),
        ("two hundred and fifty days", {"250"}),
        ("between 15-20 days, 10:00 to 15:00", {"15", "20", "10", "0"}),
        ("fifty, one of them", {"50", "1"}),  # a comma ends a run of number words
        ("zero-based budgeting", set()),  # "zero" is never a quantity in these texts
        ("the 3rd of May", {"3"}),
    ],
)
def test_numbers_in(text: str, numbers: set[str]) -> None:
    assert numbers_in(text) == numbers


def test_numbers_recall() -> None:
    assert numbers_recall("At least fourteen characters.", "Passwords must be at least 14 characters.") == 1.0
    assert numbers_recall("Up to 1500 EUR.", "Up to 1,500 EUR over 12 months.") == 0.5
    assert numbers_recall("Ask HR.", "The birth parent receives 20 weeks.") == 0.0
    # A reference without numbers leaves the question out of the mean.
    assert numbers_recall("20 weeks", "Ask your manager.") is None
    # A reference's lone "one" is a pronoun, not a figure; an answer's "one" does count.
    assert numbers_recall("Ask a manager.", "Ask one of the managers.") is None
    assert numbers_recall("Within one hour.", "Within 1 hour.") == 1.0


def test_an_abstention_scores_zero_where_the_figures_apply() -> None:
    reference = "The birth parent receives 20 weeks."
    assert score_answer("I couldn't find this.", reference, answered=False) == AnswerScores(0.0, 0.0)
    assert score_answer("", "Ask your manager.", answered=False) == AnswerScores(0.0, None)
    scores = score_answer("20 weeks of paid leave [1].", reference, answered=True)
    assert scores.numbers_recall == 1.0 and 0.0 < scores.token_f1 < 1.0

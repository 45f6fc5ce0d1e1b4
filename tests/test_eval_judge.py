"""Claude as the RAGAS judge, through the real Anthropic SDK against the fake Messages API
(tests/fakes/anthropic_api.py RagasJudge answers RAGAS's prompts with valid tool calls)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answering.claude import ClaudeSettings
from bot.store.database import create_db_engine, migrate
from bot.store.interactions import InteractionLog
from eval.eval_report import EvalRow
from eval.ragas_eval import JudgeError, evaluate_rows, row_from_interaction
from tests.fakes.anthropic_api import FakeAnthropic, RagasJudge, Reply
from tests.records import make_record


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def judge_for(fake: FakeAnthropic):  # type: ignore[no-untyped-def]
    from eval.judge import claude_judge

    return claude_judge("test-key", fake.base_url, ClaudeSettings(max_retries=0), model="claude-judge-test")


CONTEXTS = (
    "Staff get 25 days of annual leave. Leave requests go to the line manager.",
    "Unused leave lapses at the end of the year.",
)


def test_faithfulness_and_relevancy_follow_the_judges_verdicts(fake: FakeAnthropic, embed_model) -> None:  # type: ignore[no-untyped-def]
    from eval.judge import FastEmbedForRagas

    question = "How many days of annual leave do staff get?"
    fake.responder = RagasJudge(
        question_for=lambda answer: question if "25 days" in answer else "What is the weather like?",
        noncommittal=lambda answer: "not sure" in answer,
    )
    rows = [
        EvalRow(  # 2 of 3 sentences are in the passages: 0.667
            "three-claims",
            question,
            "Staff get 25 days of annual leave [1]. Leave requests go to the line manager [1]. "
            "Leave can be carried over for ever.",
            "generated",
            ("leave", "leave"),
            CONTEXTS,
            reference="Staff get 25 days of annual leave.",
            reference_doc_ids=("leave",),
        ),
        EvalRow("vague", question, "I am not sure about leave [1].", "generated", ("leave",), CONTEXTS[:1]),
        EvalRow("abstained", question, "I couldn't find this.", "abstained", ("leave",), CONTEXTS[:1]),
    ]
    report = evaluate_rows(rows, judge_for(fake), FastEmbedForRagas(embed_model))
    three, vague, abstained = (r.scores for r in report.rows)
    assert three.faithfulness == pytest.approx(2 / 3)
    assert three.answer_relevancy == pytest.approx(1.0, abs=1e-3)  # the implied question is the question
    assert vague.faithfulness == 0.0  # "I am not sure about leave" is not in the passage
    assert vague.answer_relevancy == 0.0  # noncommittal
    assert abstained.faithfulness is None and abstained.answer_relevancy is None
    assert report.judge == "claude-judge-test" and report.metric("faithfulness").rows == 2
    bodies = [r.json for r in fake.requests]
    # 2 rows judged: 2 faithfulness calls and 3 relevancy calls each; the abstention costs nothing.
    assert len(bodies) == 10
    for body in bodies:
        assert body["model"] == "claude-judge-test" and body["tool_choice"]["type"] == "tool"
        assert "temperature" not in body and "top_p" not in body
    nli = [b for b in bodies if b["tool_choice"]["name"] == "NLIStatementOutput"]
    assert all("[1]" not in str(b["messages"]) for b in nli)  # markers are not claims


def test_logged_answers_without_a_reference_get_only_the_judges_metrics(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    log = InteractionLog(engine)
    record = make_record()  # "Birth parents get 20 weeks [1]." citing "The birth parent receives 20 weeks."
    log.record(record)
    interaction = log.load(record.id)
    assert interaction is not None
    row = row_from_interaction(interaction)
    assert row.reference is None and row.retrieved_doc_ids == ("parental-leave", "remote-work")
    fake.responder = RagasJudge(supported=lambda statement, context: "20 weeks" in context)
    report = evaluate_rows([row], judge_for(fake))
    scores = report.rows[0].scores
    assert scores.faithfulness == 1.0 and scores.answer_relevancy is None  # no embeddings given
    assert scores.recall_at_k is None and scores.rouge_score is None
    assert any("embeddings" in note for note in report.notes)


def test_a_refused_key_stops_the_run_instead_of_scoring_zeros(fake: FakeAnthropic) -> None:
    fake.responder = lambda body: Reply.failure(401, "authentication_error", "invalid x-api-key")
    row = EvalRow("r", "How many days?", "Staff get 25 days [1].", "generated", ("leave",), CONTEXTS)
    with pytest.raises(JudgeError, match="AuthenticationError"):
        evaluate_rows([row], judge_for(fake))


def test_a_failing_judge_call_is_reported_on_its_row(fake: FakeAnthropic) -> None:
    fake.responder = lambda body: Reply.failure(400, "invalid_request_error", "prompt is too long")
    row = EvalRow("r", "How many days?", "Staff get 25 days [1].", "generated", ("leave",), CONTEXTS)
    report = evaluate_rows([row], judge_for(fake))
    assert report.rows[0].scores.faithfulness is None
    assert "prompt is too long" in report.rows[0].errors["faithfulness"]
    assert any("failed" in note for note in report.notes)


def test_evaluate_rows_also_runs_inside_an_event_loop() -> None:
    """serve's digest job runs in an event loop; RAGAS's coroutines then get a loop of their own."""
    row = EvalRow(
        "r", "How many days?", "Staff get 25 days.", "extracted", ("leave",), CONTEXTS, reference="25 days."
    )

    async def digest_job() -> float | None:
        return evaluate_rows([row]).rows[0].scores.rouge_score

    assert asyncio.run(digest_job()) == pytest.approx(2 / 3)  # ROUGE-L: precision 2/4, recall 2/2

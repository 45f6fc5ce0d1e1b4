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
from tests.fakes.anthropic_api import JSON, FakeAnthropic, RagasJudge, Reply, ragas_input, words_in_context
from tests.records import make_record


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def judge_for(fake: FakeAnthropic):  # type: ignore[no-untyped-def]
    from eval.judge import claude_judge

    return claude_judge("test-key", fake.base_url, ClaudeSettings(max_retries=0), model="claude-judge-test")


def classify_by_words(body: JSON) -> Reply | None:
    """RAGAS answer correctness's classification (`ClassificationWithReason`) of the answer's
    statements against the reference's: an answer statement whose words the reference holds is
    a true positive, others false positives; reference statements the answer lacks, false
    negatives. None for any other request."""
    if (body.get("tool_choice") or {}).get("name") != "ClassificationWithReason":
        return None
    data = ragas_input(body)
    reference, answer = " ".join(data["ground_truth"]), " ".join(data["answer"])

    def listed(statements: list[str]) -> list[JSON]:
        return [{"statement": s, "reason": "compared word by word"} for s in statements]

    return Reply.tool(
        "ClassificationWithReason",
        {
            "TP": listed([s for s in data["answer"] if words_in_context(s, reference)]),
            "FP": listed([s for s in data["answer"] if not words_in_context(s, reference)]),
            "FN": listed([s for s in data["ground_truth"] if not words_in_context(s, answer)]),
        },
    )


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
        fallback=lambda body: classify_by_words(body) or Reply.text("unexpected"),
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
    # Answer correctness, for the row with a reference: 1 of its 3 statements is the reference's,
    # which it covers (facts F1 0.5, weight 0.75), plus the embeddings' similarity (weight 0.25).
    assert three.answer_correctness is not None and 0.375 < three.answer_correctness <= 0.625
    assert vague.answer_correctness is None and abstained.answer_correctness is None  # no reference
    assert report.judge == "claude-judge-test" and report.metric("faithfulness").rows == 2
    bodies = [r.json for r in fake.requests]
    # 2 rows judged: 2 faithfulness calls and 3 relevancy calls each, and for the one with a
    # reference 3 answer-correctness calls (statements of answer and reference, classification);
    # the abstention costs nothing.
    assert len(bodies) == 13
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
    assert scores.answer_correctness is None and scores.token_f1 is None  # nothing to compare with
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


def test_an_unanswerable_question_counts_only_for_abstention() -> None:
    rows = [
        EvalRow("right", "Canteen menu?", "I couldn't find this.", "abstained", answerable=False),
        EvalRow(
            "wrong", "Canteen chef?", "Staff get 25 days [1].", "extracted", ("leave",), answerable=False
        ),
        EvalRow(
            "missed", "Leave?", "I couldn't find this.", "abstained", reference="25 days.", answerable=True
        ),
        EvalRow(
            "found",
            "Leave?",
            "Staff get 25 days.",
            "extracted",
            ("leave",),
            reference="25 days.",
            answerable=True,
        ),
    ]
    report = evaluate_rows(rows)
    both = report.abstention
    assert (both.unanswerable, both.answered_unanswerable) == (2, 1)
    assert (both.answerable, both.abstained_answerable) == (2, 1)
    assert both.answered_when_unanswerable_rate == 0.5 and both.abstained_when_answerable_rate == 0.5
    assert report.abstention.as_dict()["answered_when_unanswerable"] == 1
    right, wrong, missed, found = (r.scores for r in report.rows)
    assert right.token_f1 is None and wrong.token_f1 is None and wrong.rouge_score is None
    assert missed.token_f1 == 0.0 and missed.numbers_recall == 0.0
    assert found.numbers_recall == 1.0 and found.token_f1 == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert report.metric("token_f1").rows == 2
    assert not any("without a reference" in note for note in report.notes)  # unanswerable: none is due

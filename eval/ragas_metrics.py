"""The RAGAS side of an evaluation: one row in, its scores out. Imported only by
`eval.ragas_eval.evaluate_rows`, so only evaluations pay for loading RAGAS (about 4 s).

RAGAS 0.4 has two metric APIs. `ragas.metrics.collections` (the current one) has ROUGE,
string similarity, faithfulness and answer relevancy; the id-based context metrics and the
non-LLM context recall exist only as the older `SingleTurnMetric` classes, still exported
(with a deprecation warning) until RAGAS 1.0. Both are called metric by metric here rather
than through `ragas.evaluate()`: each metric gets its judge and embeddings explicitly (so
nothing falls back to an OpenAI client), and rows that a metric does not apply to (an
abstention, a logged answer without a reference) are skipped rather than scored.
"""

from __future__ import annotations

import os

os.environ["RAGAS_DO_NOT_TRACK"] = "true"  # before ragas loads: it reports usage otherwise

import asyncio
import threading
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ragas.dataset_schema import SingleTurnSample
from ragas.metrics.collections import (
    AnswerCorrectness,
    AnswerRelevancy,
    Faithfulness,
    NonLLMStringSimilarity,
    RougeScore,
)

with warnings.catch_warnings():  # "use ragas.metrics.collections": these three are not there yet
    warnings.simplefilter("ignore", DeprecationWarning)
    from ragas.metrics import IDBasedContextPrecision, IDBasedContextRecall, NonLLMContextRecall

from eval.answer_metrics import score_answer
from eval.eval_report import EvalRow, RowResult, Scores, clean
from eval.judge import is_fatal
from eval.ragas_eval import JudgeError, normalise, recall_at_k, reciprocal_rank

if TYPE_CHECKING:
    from ragas.embeddings.base import BaseRagasEmbedding
    from ragas.llms.base import InstructorBaseRagasLLM

T = TypeVar("T")
JUDGED_AT_ONCE = 4  # rows whose judge calls run concurrently (each makes 2 + 3 + 3 calls)
Progress = Callable[[int, int], None]


class RowScorer:
    def __init__(
        self,
        top_k: int | None,
        judge: InstructorBaseRagasLLM | None = None,
        embeddings: BaseRagasEmbedding | None = None,
    ) -> None:
        self.top_k = top_k
        self.id_precision = IDBasedContextPrecision()
        self.id_recall = IDBasedContextRecall()
        self.context_recall = NonLLMContextRecall()
        self.rouge = RougeScore(rouge_type="rougeL", mode="fmeasure")
        self.similarity = NonLLMStringSimilarity()
        self.faithfulness = Faithfulness(llm=judge) if judge is not None else None
        # RAGAS's default weights (facts 0.75, meaning 0.25) need embeddings; without them, facts only.
        self.correctness = (
            None
            if judge is None
            else AnswerCorrectness(llm=judge, embeddings=embeddings)
            if embeddings is not None
            else AnswerCorrectness(llm=judge, weights=[1.0, 0.0])
        )
        self.relevancy = (
            AnswerRelevancy(llm=judge, embeddings=embeddings)
            if judge is not None and embeddings is not None
            else None
        )
        self._judging = asyncio.Semaphore(JUDGED_AT_ONCE)

    async def score(self, row: EvalRow) -> RowResult:
        values: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        values.update(await self._retrieval(row))
        values.update(await self._against_reference(row))
        if row.answered and self.faithfulness is not None:
            async with self._judging:
                judged, errors = await self._judged(row)
            values.update(judged)
        elif row.reference and self.correctness is not None:
            values["answer_correctness"] = 0.0  # an answerable question left unanswered
        return RowResult(row, Scores(**values), errors)

    async def _retrieval(self, row: EvalRow) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        if row.reference_doc_ids:
            ids = SingleTurnSample(
                retrieved_context_ids=list(row.retrieved_doc_ids),
                reference_context_ids=list(row.reference_doc_ids),
            )
            # Precision is undefined with nothing retrieved (RAGAS: NaN); recall is then 0.
            if row.retrieved_doc_ids:
                out["id_based_context_precision"] = clean(await self.id_precision.single_turn_ascore(ids))
            out["id_based_context_recall"] = clean(await self.id_recall.single_turn_ascore(ids))
            k = self.top_k or len(row.retrieved_doc_ids)
            out["recall_at_k"] = recall_at_k(row.retrieved_doc_ids, row.reference_doc_ids, k)
            out["mrr"] = reciprocal_rank(row.retrieved_doc_ids, row.reference_doc_ids)
        if row.reference_contexts:
            if row.retrieved_contexts:
                texts = SingleTurnSample(
                    retrieved_contexts=list(row.retrieved_contexts),
                    reference_contexts=list(row.reference_contexts),
                )
                out["non_llm_context_recall"] = clean(await self.context_recall.single_turn_ascore(texts))
            else:
                out["non_llm_context_recall"] = 0.0  # nothing retrieved, nothing found
        return out

    async def _against_reference(self, row: EvalRow) -> dict[str, float | None]:
        if not row.reference:
            return {}
        ours = score_answer(row.answer, row.reference, row.answered)
        out = {"token_f1": ours.token_f1, "numbers_recall": ours.numbers_recall}
        if not row.answered:
            # The golden question is answerable from documents the channel sees, so an
            # abstention (or failure) is a miss; leaving it out would reward abstaining.
            return {**out, "rouge_score": 0.0, "non_llm_string_similarity": 0.0}
        answer, reference = normalise(row.answer), normalise(row.reference)
        rouge = await self.rouge.ascore(reference=reference, response=answer)
        similarity = await self.similarity.ascore(reference=reference, response=answer)
        return {
            **out,
            "rouge_score": clean(rouge.value),
            "non_llm_string_similarity": clean(similarity.value),
        }

    async def _judged(self, row: EvalRow) -> tuple[dict[str, float | None], dict[str, str]]:
        values: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        answer = normalise(row.answer)
        calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        if self.faithfulness is not None and row.retrieved_contexts:
            metric = self.faithfulness
            contexts = list(row.retrieved_contexts)
            calls.append(
                ("faithfulness", lambda: metric.ascore(row.question, answer, retrieved_contexts=contexts))
            )
        if self.correctness is not None and row.reference:
            correctness, reference = self.correctness, normalise(row.reference)
            calls.append(
                (
                    "answer_correctness",
                    lambda: correctness.ascore(user_input=row.question, response=answer, reference=reference),
                )
            )
        if self.relevancy is not None:
            relevancy = self.relevancy
            calls.append(
                ("answer_relevancy", lambda: relevancy.ascore(user_input=row.question, response=answer))
            )
        for name, call in calls:
            try:
                result = await call()
            except Exception as error:
                if is_fatal(error):
                    raise JudgeError(f"the judge was refused: {_reason(error)}") from error
                errors[name] = _reason(error)
                continue
            values[name] = clean(result.value)
        return values, errors


def _reason(error: BaseException) -> str:
    """The innermost message: instructor's retry error wraps the SDK's, which says what happened."""
    while error.__cause__ is not None:
        error = error.__cause__
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".strip()


def score_rows(
    rows: Sequence[EvalRow],
    top_k: int | None,
    judge: InstructorBaseRagasLLM | None,
    embeddings: BaseRagasEmbedding | None,
    progress: Progress | None = None,
) -> list[RowResult]:
    async def run() -> list[RowResult]:
        scorer = RowScorer(top_k, judge, embeddings)  # its semaphore belongs to this loop
        done = 0

        async def one(row: EvalRow) -> RowResult:
            nonlocal done
            result = await scorer.score(row)
            done += 1
            if progress is not None:
                progress(done, len(rows))
            return result

        return list(await asyncio.gather(*(one(row) for row in rows)))

    with warnings.catch_warnings():
        # RAGAS reads its (unused, with tracking off) analytics id with an unclosed file.
        warnings.simplefilter("ignore", ResourceWarning)
        return run_coroutine(run())


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from code that already runs an event loop (serve's digest job)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as error:
            box["error"] = error

    thread = threading.Thread(target=target, name="ragas-eval")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value

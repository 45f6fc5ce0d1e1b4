"""Evaluate the bot with RAGAS: on a golden set (`run_golden`), or on answers already given
(`evaluate_rows`, e.g. a sample of the week's logged answers for the digest).

Metrics (see eval.eval_report.Scores):
- Retrieval on document ids: RAGAS IDBasedContextPrecision / IDBasedContextRecall (retrieved
  passages' doc ids vs the reference doc ids; both work on sets of ids), and our own
  recall@k and MRR over the ranked passages (k = retrieval top_k). With top-k passages,
  recall@k equals the id-based recall: a cross-check that the RAGAS wiring is right.
- Retrieval on texts: RAGAS NonLLMContextRecall, for rows with reference contexts (the
  golden set's reference passages: the chunk of the reference document that holds the answer).
- Answer vs reference: SQuAD token F1 and numbers recall (eval.answer_metrics, ours), RAGAS
  RougeScore (ROUGE-L F1) and NonLLMStringSimilarity (Levenshtein).
- With a judge: RAGAS AnswerCorrectness (the answer's statements vs the reference's, with the
  embedding model's similarity when embeddings are given), Faithfulness and AnswerRelevancy
  (ResponseRelevancy in the old API).
- Abstention both ways (EvalReport.abstention): golden questions marked unanswerable that were
  answered, answerable ones that were abstained on.

Abstentions: counted (`EvalReport.abstention_rate`). Against a reference they score 0 (the
golden question is answerable, so abstaining is a miss; answer correctness too); faithfulness
and relevancy skip them (an abstention states nothing to check, and its relevancy says
nothing about answer quality). Unanswerable golden questions have no reference: only the
abstention count applies to them.
Citation markers `[n]` are removed before answers are compared or judged.

RAGAS itself loads only when rows are scored (eval.ragas_metrics, eval.judge).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core import SupportBot
from bot.store.database import create_db_engine, migrate
from bot.store.interactions import InteractionLog
from bot.store.models import Interaction
from bot.types import Answer, Platform, Question
from eval.eval_report import EvalReport, EvalRow, summarise
from eval.golden import GoldenItem

if TYPE_CHECKING:
    from ragas.embeddings.base import BaseRagasEmbedding
    from ragas.llms.base import InstructorBaseRagasLLM

# (stage, done, total): "answering" then "scoring".
Progress = Callable[[str, int, int], None]
EVAL_USER = "golden-eval"
_MARKERS = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")


class JudgeError(RuntimeError):
    """The judge cannot work at all (a refused key, an unknown model): stop, don't score zeros."""


def normalise(text: str) -> str:
    """Answer text as compared: no citation markers, single spaces."""
    return " ".join(_MARKERS.sub("", text).split())


def recall_at_k(retrieved: Sequence[str], reference: Sequence[str], k: int) -> float:
    """Share of the reference documents with a passage among the top k."""
    wanted = set(reference)
    return len(wanted & set(retrieved[:k])) / len(wanted)


def reciprocal_rank(retrieved: Sequence[str], reference: Sequence[str]) -> float:
    """1 / rank of the first passage from a reference document; 0 when there is none."""
    wanted = set(reference)
    return next((1.0 / rank for rank, doc in enumerate(retrieved, 1) if doc in wanted), 0.0)


def evaluate_rows(
    rows: Sequence[EvalRow],
    judge: InstructorBaseRagasLLM | None = None,
    embeddings: BaseRagasEmbedding | None = None,
    *,
    top_k: int | None = None,
    progress: Progress | None = None,
    answerer: str | None = None,
) -> EvalReport:
    """Score answered rows. Without a judge: the metrics that need no language model. With a
    judge (eval.judge.claude_judge): also faithfulness, and answer relevancy when `embeddings`
    are given too (eval.judge.FastEmbedForRagas). Raises JudgeError when the judge is refused."""
    from eval import ragas_metrics  # RAGAS loads here, and only here

    def scored(done: int, total: int) -> None:
        if progress is not None:
            progress("scoring", done, total)

    results = ragas_metrics.score_rows(rows, top_k, judge, embeddings, scored)
    notes = []
    if judge is not None and embeddings is None:
        notes.append("answer relevancy needs embeddings: not computed")
    failures = sum(len(r.errors) for r in results)
    if failures:
        notes.append(f"the judge failed on {failures} metric(s) of some rows: see each row's errors")
    if any(not r.reference and r.answerable is not False for r in rows):
        notes.append("rows without a reference: only the metrics that need none")
    return EvalReport(
        rows=tuple(results),
        metrics=summarise(results),
        top_k=top_k,
        judge=getattr(judge, "model", type(judge).__name__) if judge is not None else None,
        answerer=answerer,
        notes=tuple(notes),
    )


def run_golden(
    bot: SupportBot,
    items: Sequence[GoldenItem],
    judge: InstructorBaseRagasLLM | None = None,
    embeddings: BaseRagasEmbedding | None = None,
    *,
    top_k: int | None = None,
    progress: Progress | None = None,
) -> EvalReport:
    """Ask the bot every golden question (in its channel, with no thread), then score the answers.

    The answers are recorded in a throwaway log, not the bot's: a golden run is not traffic
    (the digest would count it, and the fine-tuning export could pick it up)."""
    rows = answer_golden(bot, items, progress)
    return evaluate_rows(
        rows, judge, embeddings, top_k=top_k, progress=progress, answerer=getattr(bot.answerer, "name", None)
    )


def answer_golden(
    bot: SupportBot, items: Sequence[GoldenItem], progress: Progress | None = None
) -> list[EvalRow]:
    rows = []
    with unlogged(bot) as quiet:
        for done, item in enumerate(items, 1):
            answer = quiet.answer(Question(item.question, Platform.CLI, item.channel, EVAL_USER))
            rows.append(golden_row(item, answer))
            if progress is not None:
                progress("answering", done, len(items))
    return rows


def golden_row(item: GoldenItem, answer: Answer) -> EvalRow:
    return EvalRow(
        id=item.id,
        question=item.question,
        answer=answer.text,
        kind=answer.kind.value,
        retrieved_doc_ids=tuple(p.doc_id for p in answer.passages),
        retrieved_contexts=tuple(p.text for p in answer.passages),
        channel=item.channel,
        reference=item.reference,
        reference_doc_ids=tuple(item.reference_doc_ids),
        reference_contexts=tuple(item.reference_contexts),
        answerable=item.answerable,
    )


def row_from_interaction(interaction: Interaction) -> EvalRow:
    """A logged answer (passages loaded) as a row without a reference: for judging the week's answers."""
    passages = sorted(interaction.passages, key=lambda p: p.rank)
    return EvalRow(
        id=interaction.id,
        question=interaction.rewritten_question or interaction.question,
        answer=interaction.answer_text,
        kind=interaction.kind,
        retrieved_doc_ids=tuple(p.doc_id for p in passages),
        retrieved_contexts=tuple(p.text for p in passages),
        channel=interaction.channel,
    )


@contextmanager
def unlogged(bot: SupportBot) -> Iterator[SupportBot]:
    """The same knowledge base and answerers, recording into a scratch SQLite log and
    counting nothing in the Prometheus metrics: a golden run is not traffic."""
    with tempfile.TemporaryDirectory(prefix="supportbot-eval-") as scratch:
        engine = create_db_engine(f"sqlite:///{Path(scratch) / 'eval.db'}")
        try:
            migrate(engine)
            log = InteractionLog(engine)
            yield SupportBot(
                bot.kb, bot.answerer, bot.fallback, bot.rewriter, log, bot.settings, metered=False
            )
        finally:
            engine.dispose()

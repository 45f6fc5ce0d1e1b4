"""Typed inputs and results of an evaluation run (no RAGAS import: cheap to use anywhere).

`EvalRow` is one answered question; `EvalReport` holds a `RowResult` per row, the
mean of each metric over the rows it applies to, and abstention both ways (`Abstention`):
answered when it should have abstained, abstained when it should have answered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

ANSWERED_KINDS = frozenset({"generated", "extracted"})


@dataclass(frozen=True)
class EvalRow:
    """One answered question, as the bot answered it (a golden run) or logged it (the week's answers).

    `reference` and `reference_doc_ids` are empty for logged answers: then only the metrics
    that need no reference are computed.
    """

    id: str
    question: str
    answer: str
    kind: str  # bot.types.AnswerKind value: generated / extracted / abstained / failed
    retrieved_doc_ids: tuple[str, ...] = ()  # in rank order, one per retrieved passage
    retrieved_contexts: tuple[str, ...] = ()  # the passages' texts, same order
    channel: str = ""
    reference: str | None = None
    reference_doc_ids: tuple[str, ...] = ()
    reference_contexts: tuple[str, ...] = ()
    answerable: bool | None = None  # golden rows: True / False; logged answers: unknown

    @property
    def answered(self) -> bool:
        return self.kind in ANSWERED_KINDS


@dataclass(frozen=True)
class Scores:
    """One row's scores, or a report's means. None: the metric does not apply (or failed)."""

    # Retrieval, on document ids (RAGAS, and our own recall@k and MRR).
    id_based_context_precision: float | None = None
    id_based_context_recall: float | None = None
    recall_at_k: float | None = None
    mrr: float | None = None
    # Retrieval, on texts: the reference passages found among the retrieved ones (RAGAS).
    non_llm_context_recall: float | None = None
    # The answer against the reference answer, no language model: ours (eval.answer_metrics)
    # and RAGAS's.
    token_f1: float | None = None
    numbers_recall: float | None = None
    rouge_score: float | None = None
    non_llm_string_similarity: float | None = None
    # With a judge (RAGAS with Claude): the answer's facts vs the reference's; claims supported
    # by the passages; answer on topic.
    answer_correctness: float | None = None
    faithfulness: float | None = None
    answer_relevancy: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


METRIC_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Scores))

DESCRIPTIONS = {
    "id_based_context_precision": "retrieved documents that are reference documents",
    "id_based_context_recall": "reference documents among the retrieved",
    "recall_at_k": "reference documents in the top k passages",
    "mrr": "1 / rank of the first passage of a reference document",
    "non_llm_context_recall": "reference passages found among the retrieved (string similarity)",
    "token_f1": "SQuAD token F1, answer vs reference (abstained = 0)",
    "numbers_recall": "reference's numbers stated in the answer (references with numbers; abstained = 0)",
    "rouge_score": "ROUGE-L F1, answer vs reference (abstained = 0)",
    "non_llm_string_similarity": "Levenshtein similarity, answer vs reference (abstained = 0)",
    "answer_correctness": "answer's facts vs the reference's, and meaning (judge; abstained = 0)",
    "faithfulness": "answer's statements supported by the passages (judge; answered only)",
    "answer_relevancy": "questions the answer implies vs the question (judge; answered only)",
}


@dataclass(frozen=True)
class RowResult:
    row: EvalRow
    scores: Scores
    errors: dict[str, str] = field(default_factory=dict)  # metric -> why it has no score

    def as_dict(self) -> dict[str, object]:
        row = self.row
        return {
            "id": row.id,
            "question": row.question,
            "channel": row.channel,
            "kind": row.kind,
            "answer": row.answer,
            "reference": row.reference,
            "answerable": row.answerable,
            "reference_doc_ids": list(row.reference_doc_ids),
            "retrieved_doc_ids": list(row.retrieved_doc_ids),
            "scores": _rounded(self.scores.as_dict()),
            "errors": dict(self.errors),
        }


@dataclass(frozen=True)
class MetricSummary:
    name: str
    mean: float | None
    rows: int  # rows the metric applied to

    @property
    def description(self) -> str:
        return DESCRIPTIONS.get(self.name, "")


@dataclass(frozen=True)
class Abstention:
    """Abstention both ways, over golden rows that say whether they are answerable.

    A failed answer (an error) is neither an answer nor an abstention: it is counted apart,
    in `EvalReport.failed`."""

    answerable: int  # questions some visible document answers
    abstained_answerable: int  # ... on which the bot abstained: it should have answered
    unanswerable: int  # questions no visible document answers
    answered_unanswerable: int  # ... which the bot answered: it should have abstained

    @property
    def abstained_when_answerable_rate(self) -> float | None:
        return self.abstained_answerable / self.answerable if self.answerable else None

    @property
    def answered_when_unanswerable_rate(self) -> float | None:
        return self.answered_unanswerable / self.unanswerable if self.unanswerable else None

    def as_dict(self) -> dict[str, object]:
        return {
            "answerable": self.answerable,
            "abstained_when_answerable": self.abstained_answerable,
            "abstained_when_answerable_rate": _round(self.abstained_when_answerable_rate),
            "unanswerable": self.unanswerable,
            "answered_when_unanswerable": self.answered_unanswerable,
            "answered_when_unanswerable_rate": _round(self.answered_when_unanswerable_rate),
        }


def abstention(rows: Sequence[EvalRow]) -> Abstention:
    answerable = [r for r in rows if r.answerable is True]
    unanswerable = [r for r in rows if r.answerable is False]
    return Abstention(
        answerable=len(answerable),
        abstained_answerable=sum(r.kind == "abstained" for r in answerable),
        unanswerable=len(unanswerable),
        answered_unanswerable=sum(r.answered for r in unanswerable),
    )


@dataclass(frozen=True)
class EvalReport:
    rows: tuple[RowResult, ...]
    metrics: tuple[MetricSummary, ...]
    top_k: int | None = None
    judge: str | None = None  # the judge model, when there was one
    answerer: str | None = None  # who answered (golden runs)
    notes: tuple[str, ...] = ()

    @property
    def questions(self) -> int:
        return len(self.rows)

    @property
    def abstained(self) -> int:
        return sum(r.row.kind == "abstained" for r in self.rows)

    @property
    def failed(self) -> int:
        return sum(r.row.kind == "failed" for r in self.rows)

    @property
    def abstention_rate(self) -> float:
        return self.abstained / self.questions if self.questions else 0.0

    @property
    def abstention(self) -> Abstention:
        return abstention([r.row for r in self.rows])

    def metric(self, name: str) -> MetricSummary:
        return next(m for m in self.metrics if m.name == name)

    def scores(self) -> dict[str, float]:
        """{metric: mean} of the metrics that applied to at least one row (all higher-is-better);
        the shape the digest's RAGAS section takes. The abstention rate is apart (lower is better)."""
        return {m.name: m.mean for m in self.metrics if m.mean is not None}

    def as_dict(self) -> dict[str, object]:
        return {
            "questions": self.questions,
            "answered": self.questions - self.abstained - self.failed,
            "abstained": self.abstained,
            "failed": self.failed,
            "abstention_rate": round(self.abstention_rate, 4),
            "abstention": self.abstention.as_dict(),
            "top_k": self.top_k,
            "answerer": self.answerer,
            "judge": self.judge,
            "metrics": {
                m.name: {"mean": _round(m.mean), "rows": m.rows, "about": m.description} for m in self.metrics
            },
            "notes": list(self.notes),
            "rows": [r.as_dict() for r in self.rows],
        }


def summarise(results: Sequence[RowResult]) -> tuple[MetricSummary, ...]:
    summaries = []
    for name in METRIC_NAMES:
        values = [v for r in results if (v := getattr(r.scores, name)) is not None]
        summaries.append(MetricSummary(name, sum(values) / len(values) if values else None, len(values)))
    return tuple(summaries)


def clean(value: float | None) -> float | None:
    """RAGAS says "undefined" with NaN; here that is None."""
    if value is None or math.isnan(value):
        return None
    return float(value)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _rounded(scores: dict[str, float | None]) -> dict[str, float | None]:
    return {k: _round(v) for k, v in scores.items()}

"""The digest's RAGAS scores (build.QualityProvider): the golden set re-asked, and a sample of
the week's answers judged by Claude.

- Golden set (`digest.golden`): asked once per week and process, whatever the number of
  leads (eval.ragas_eval.run_golden records nothing in the log); each lead's digest scores
  only the questions asked from the channels it covers.
- The week's answers: up to `digest.sample_size` answered questions of the lead's channels,
  drawn with the week as seed (a rebuilt digest scores the same ones). They have no
  reference answer, so only the judge's metrics (faithfulness, answer relevancy) apply:
  without ANTHROPIC_API_KEY the digest says so instead of scoring.

Nothing here may stop a digest: a missing RAGAS, a refused judge or a bad golden file
becomes a note in the RAGAS section, and the rest of the digest goes out.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.core import SupportBot
from bot.settings import DigestSettings
from bot.store.database import read_only
from bot.store.models import Interaction
from eval.digest.numbers import EVERY_CHANNEL, excluded, in_scope
from eval.digest.week import Week
from eval.eval_report import ANSWERED_KINDS, EvalReport, summarise
from eval.golden import GoldenError, load_golden

if TYPE_CHECKING:
    from ragas.embeddings.base import BaseRagasEmbedding
    from ragas.llms.base import InstructorBaseRagasLLM

logger = logging.getLogger("supportbot.digest")

GOLDEN_SET = "golden set"
WEEK_SAMPLE = "week's answers"
# () -> (judge, embeddings): built only when scores are wanted (loads RAGAS and the SDK).
JudgeFactory = Callable[[], "tuple[InstructorBaseRagasLLM, BaseRagasEmbedding]"]


@dataclass
class DigestRagas:
    bot: SupportBot
    settings: DigestSettings
    top_k: int | None
    judge: JudgeFactory | None = None  # None: no ANTHROPIC_API_KEY
    _golden: dict[Week, EvalReport] = field(default_factory=dict)  # this week's full run
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self, week: Week, scope: Sequence[str], private: Sequence[str] = ()
    ) -> tuple[dict[str, dict[str, float]], list[str]]:
        if importlib.util.find_spec("ragas") is None:
            return {}, ["RAGAS is not installed (the eval extra): no scores"]
        scores: dict[str, dict[str, float]] = {}
        notes: list[str] = []
        with self._lock:  # the scheduler builds leads' digests one at a time, but be safe
            judged = self._judge(notes)
            golden = self._golden_scores(week, scope, private, judged, notes)
            if golden:
                scores[GOLDEN_SET] = golden
            sample = self._sample_scores(week, scope, private, judged, notes)
            if sample:
                scores[WEEK_SAMPLE] = sample
        return scores, notes

    def _judge(self, notes: list[str]) -> tuple[InstructorBaseRagasLLM, BaseRagasEmbedding] | None:
        if self.judge is None:
            return None
        try:
            return self.judge()
        except Exception as error:
            logger.exception("the RAGAS judge could not be set up")
            notes.append(f"the judge could not be set up ({type(error).__name__}): scored without it")
            return None

    def _golden_scores(
        self, week: Week, scope: Sequence[str], private: Sequence[str], judged: Any, notes: list[str]
    ) -> dict[str, float]:
        if self.settings.golden is None:
            notes.append("no golden set configured (digest.golden)")
            return {}
        report: EvalReport | str | None = self._golden.get(week)
        if report is None:
            report = self._run_golden(judged)
            # Kept for the other leads' digests of this week, unless it fell short (no golden
            # file, a judge down): the next build then tries again.
            if isinstance(report, EvalReport) and not any("without the judge" in n for n in report.notes):
                self._golden = {week: report}
        if isinstance(report, str):
            notes.append(report)
            return {}
        left_out = excluded(scope, private)
        rows = [
            r
            for r in report.rows
            if r.row.channel in scope or (EVERY_CHANNEL in scope and r.row.channel not in left_out)
        ]
        if not rows:
            notes.append("no golden question is asked from these channels")
            return {}
        asked = len(rows)
        abstained = sum(r.row.kind == "abstained" for r in rows)
        notes.append(f"golden set: {asked} questions asked from these channels, {abstained} abstained")
        notes.extend(n for n in report.notes if "judge" in n)
        return {m.name: m.mean for m in summarise(rows) if m.mean is not None}

    def _run_golden(self, judged: Any) -> EvalReport | str:
        from eval.ragas_eval import JudgeError, answer_golden, evaluate_rows

        assert self.settings.golden is not None
        try:
            items = load_golden(self.settings.golden)
        except GoldenError as error:
            return f"golden set not evaluated: {error}"
        judge, embeddings = judged or (None, None)
        try:
            rows = answer_golden(self.bot, items)
            try:
                return evaluate_rows(rows, judge, embeddings, top_k=self.top_k)
            except JudgeError as error:  # the metrics that need no judge still tell a lot
                logger.warning("golden set: %s", error)
                report = evaluate_rows(rows, top_k=self.top_k)
                return replace(report, notes=(*report.notes, f"golden set scored without the judge: {error}"))
        except Exception as error:
            logger.exception("the golden set evaluation failed")
            return f"golden set not evaluated: {type(error).__name__}"

    def _sample_scores(
        self, week: Week, scope: Sequence[str], private: Sequence[str], judged: Any, notes: list[str]
    ) -> dict[str, float]:
        if self.settings.sample_size == 0:
            return {}
        if judged is None:
            notes.append("the week's answers are scored only with Claude as judge (ANTHROPIC_API_KEY)")
            return {}
        from eval.ragas_eval import JudgeError, evaluate_rows, row_from_interaction

        interactions = week_sample(self.bot, week, scope, self.settings.sample_size, private)
        if not interactions:
            return {}
        judge, embeddings = judged
        try:
            report = evaluate_rows([row_from_interaction(i) for i in interactions], judge, embeddings)
        except JudgeError as error:
            logger.warning("week's answers: %s", error)
            notes.append(f"the week's answers not evaluated: {error}")
            return {}
        except Exception as error:
            logger.exception("evaluating the week's answers failed")
            notes.append(f"the week's answers not evaluated: {type(error).__name__}")
            return {}
        notes.append(f"week's answers: {len(interactions)} judged by {report.judge}")
        notes.extend(n for n in report.notes if "without a reference" not in n)
        return report.scores()


def week_sample(
    bot: SupportBot, week: Week, scope: Sequence[str], size: int, private: Sequence[str] = ()
) -> list[Interaction]:
    """Up to `size` answered questions of the week in `scope` (as the digest's numbers
    count them), drawn with the week as seed."""
    query = select(Interaction.id).where(
        Interaction.created_at >= week.start,
        Interaction.created_at < week.end,
        Interaction.kind.in_(ANSWERED_KINDS),
        in_scope(scope, private),
    )
    with Session(read_only(bot.log.engine)) as session:
        ids = sorted(session.scalars(query))
        picked = random.Random(str(week)).sample(ids, min(size, len(ids)))  # noqa: S311 - a reproducible draw
        loaded = session.scalars(
            select(Interaction).where(Interaction.id.in_(picked)).options(selectinload(Interaction.passages))
        ).all()
        session.expunge_all()
    return sorted(loaded, key=lambda i: (i.created_at, i.id))

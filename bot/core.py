"""The conversation core: scope -> rewrite -> retrieve -> answer -> record.

`SupportBot.answer` is the one entry point every adapter calls. It never raises: whatever
breaks becomes an answer that says what went wrong in one sentence (recorded when the
failure is in retrieval; an unexpected bug is logged with its traceback).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.answering.base import Answerer, AnswererError, Draft, QuestionRewriter
from bot.answering.citations import resolve_citations
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.hygiene import searchable_question
from bot.answering.prompts import PROMPT_VERSION, SYSTEM_PROMPT, render_user_message
from bot.answering.settings import AnswerSettings
from bot.journal import Journal
from bot.journal_records import DurableRecords, MessageRef, Stored
from bot.store.conversations import ConversationStore
from bot.store.interactions import InteractionLog, InteractionRecord, PassageRecord
from bot.types import Answer, AnswerKind, Question, Turn, VoteOutcome, VoteSource, VoteStatus, VoteValue
from knowledge.query_engine import RetrievalError
from knowledge.service import KnowledgeBase
from knowledge.types import AccessScope, Passage

logger = logging.getLogger(__name__)


RETRIEVAL_FAILED = "Sorry, I couldn't search the documents just now (the search service did not respond); please try again in a minute."
INTERNAL_ERROR = "Sorry, something went wrong on my side while answering; please try again."
EMPTY_QUESTION = (
    "Ask me a question about the company's policies, for example: how many days can I work remotely?"
)


class SupportBot:
    def __init__(
        self,
        kb: KnowledgeBase,
        answerer: Answerer,
        fallback: ExtractiveAnswerer,
        rewriter: QuestionRewriter,
        log: InteractionLog,
        settings: AnswerSettings,
        conversations: ConversationStore | None = None,
        metered: bool = True,
        journal: Journal | None = None,
    ) -> None:
        self.kb = kb
        self.answerer = answerer
        self.fallback = fallback
        self.rewriter = rewriter
        self.log = log
        self.settings = settings
        # Chat adapters don't carry a thread's turns: they are read back from the log.
        self.conversations = conversations
        self.metered = metered  # False: not traffic (a golden-set evaluation), kept out of /metrics
        # Every write of every front end: to the database, or to the journal while it is down.
        self.records = DurableRecords(log, conversations or ConversationStore(log.engine), journal)

    def answer(self, question: Question) -> Answer:
        started = time.perf_counter()
        try:
            answer = self._answer(question, started)
        except Exception:
            logger.exception("answering failed in channel %s", question.channel)
            answer = Answer(INTERNAL_ERROR, AnswerKind.FAILED, latency_ms=_since(started))
        if self.metered:
            metrics.answered(question.platform.value, answer)
        return answer

    def vote(
        self,
        target: MessageRef | str,
        user: str,
        value: VoteValue,
        source: VoteSource,
        comment: str = "",
    ) -> VoteOutcome:
        """A vote on an answer: its interaction id, or the (platform, channel, message id)
        that carries it. NOT_FOUND with no interaction id: not an answer's message."""
        outcome = self.records.vote(target, user, value, source, comment.strip())
        logger.info("vote %s by %s on %s: %s", value, user, outcome.interaction_id, outcome.status)
        if outcome.interaction_id or outcome.status is not VoteStatus.NOT_FOUND:
            metrics.voted(outcome, source)
        return outcome

    def retract(self, target: MessageRef | str, user: str, value: VoteValue | None = None) -> VoteOutcome:
        outcome = self.records.retract(target, user, value)
        if outcome.interaction_id or outcome.status is not VoteStatus.NOT_FOUND:
            metrics.voted(outcome, None)
        return outcome

    # -- the pipeline --------------------------------------------------------------------

    def _answer(self, question: Question, started: float) -> Answer:
        text = " ".join(question.text.split())
        if not text:
            return Answer(EMPTY_QUESTION, AnswerKind.FAILED, latency_ms=_since(started))
        if len(text) > self.settings.max_question_chars:
            message = (
                f"That question is {len(text)} characters long; please ask it in under "
                f"{self.settings.max_question_chars} characters."
            )
            return Answer(message, AnswerKind.FAILED, latency_ms=_since(started))
        scope = self.kb.scope_for(question.channel)
        history = self._history(question)
        searched = searchable_question(text)  # the log keeps `text`, as asked
        rewritten = self.rewriter.rewrite(searched, history) if history else searched
        try:  # retrieve -> post-process -> answer, as one LlamaIndex query engine
            found = self.kb.answer(rewritten, scope, self._draft)
        except RetrievalError as error:
            logger.exception("retrieval failed in channel %s", question.channel)
            failed = Draft(RETRIEVAL_FAILED, AnswerKind.FAILED, "none", "", "", "")
            cause = error.__cause__ or error
            return self._finish(question, text, rewritten, scope, [], failed, started, error=repr(cause))
        metrics.RETRIEVAL_SECONDS.observe(found.retrieval_s)
        draft, notice = found.result
        return self._finish(question, text, rewritten, scope, found.passages, draft, started, notice=notice)

    def _history(self, question: Question) -> tuple[Turn, ...]:
        limit = self.settings.history_turns
        if not limit:
            return ()
        if question.history:
            return question.history[-limit:]
        if self.conversations is not None and question.thread_id:
            try:
                return self.conversations.thread_turns(
                    question.platform.value, question.channel, question.thread_id, limit
                )
            except SQLAlchemyError as error:  # the database is down: answer without the thread
                logger.warning("thread %s not read: %s", question.thread_id, error)
        return ()

    def _draft(self, question: str, passages: list[Passage]) -> tuple[Draft, str]:
        if not passages:
            # Nothing visible matched: no model call, nothing to cite.
            prompt = render_user_message(question, passages)
            return Draft("", AnswerKind.ABSTAINED, "none", "", SYSTEM_PROMPT, prompt), ""
        try:
            return self.answerer.answer(question, passages), ""
        except AnswererError as error:
            if self.answerer is self.fallback:
                raise
            draft = self.fallback.answer(question, passages)
            if draft.abstained:
                return (
                    draft,
                    f"Claude could not answer ({error.reason}), and the documents don't seem to cover it.",
                )
            notice = (
                f"Claude could not answer ({error.reason}), so these sentences are quoted from the documents."
            )
            return draft, notice

    def _finish(
        self,
        question: Question,
        text: str,
        rewritten: str,
        scope: AccessScope,
        passages: list[Passage],
        draft: Draft,
        started: float,
        notice: str = "",
        error: str = "",
    ) -> Answer:
        resolved = resolve_citations(draft.text, passages)
        kind = draft.kind
        if kind in (AnswerKind.GENERATED, AnswerKind.EXTRACTED) and not resolved.citations:
            kind = AnswerKind.ABSTAINED  # an answer that cites nothing is not shown
        reply = self.settings.abstain_text if kind is AnswerKind.ABSTAINED else resolved.text
        citations = () if kind is AnswerKind.ABSTAINED else resolved.citations
        answer = Answer(
            text=reply,
            kind=kind,
            citations=citations,
            passages=tuple(passages),
            model=draft.model,
            latency_ms=_since(started),
            interaction_id=str(uuid.uuid4()),
            rewritten_question=rewritten if rewritten != text else "",
            notice=notice,
        )
        recorded = self._record(question, text, scope, answer, draft, error)
        logger.info(
            "answered %s in %s: %s, %d citations, %.0f ms",
            answer.interaction_id,
            question.channel,
            kind,
            len(citations),
            answer.latency_ms,
        )
        return replace(answer, recorded=recorded)

    def _record(
        self, question: Question, text: str, scope: AccessScope, answer: Answer, draft: Draft, error: str
    ) -> bool:
        record = interaction_record(question, text, scope, answer, draft, error)
        try:
            stored = self.records.record(record)
        except Exception:  # the answer is computed: a broken log (or journal) must not hide it
            logger.exception("interaction %s not recorded", record.id)
            stored = Stored.LOST
        if stored is Stored.LOST:
            metrics.UNRECORDED.inc()
        return stored is not Stored.LOST


VOTE_KEPT = "Thanks for the feedback. The database is busy just now: your vote is kept and counted shortly."
VOTE_LOST = "Sorry, your feedback could not be saved; please try again."


def vote_notice(outcome: VoteOutcome) -> str | None:
    """What a voter is told when the vote did not simply land (nothing when it did)."""
    if outcome.status is VoteStatus.JOURNALLED:
        return VOTE_KEPT
    if outcome.status is VoteStatus.FAILED:
        return VOTE_LOST
    return None


def interaction_record(
    question: Question, text: str, scope: AccessScope, answer: Answer, draft: Draft, error: str = ""
) -> InteractionRecord:
    """The log row for one answer: everything needed to judge or replay it later."""
    markers = {c.chunk_id: c.marker for c in answer.citations}
    return InteractionRecord(
        id=answer.interaction_id or "",
        created_at=datetime.now(UTC).isoformat(),
        platform=question.platform.value,
        channel=question.channel,
        user_id=question.user,
        asker_names=[n for n in question.asker_names if n],
        thread_id=question.thread_id,
        question=text,
        rewritten_question=answer.rewritten_question,
        scope_groups=sorted(scope.groups),
        answer_text=answer.text,
        kind=answer.kind.value,
        abstained=answer.abstained,
        answerer=draft.answerer,
        model=answer.model,
        latency_ms=answer.latency_ms,
        notice=answer.notice,
        error=error,
        system_prompt=draft.system_prompt,
        user_prompt=draft.user_prompt,
        prompt_version=PROMPT_VERSION if draft.system_prompt else 0,
        passages=_passage_records(answer.passages, markers),
    )


def _passage_records(passages: Sequence[Passage], markers: dict[str, int]) -> list[PassageRecord]:
    return [
        PassageRecord(
            rank=rank,
            chunk_id=p.chunk_id,
            doc_id=p.doc_id,
            title=p.title,
            section=p.section,
            version=p.version,
            source=p.source,
            acl=list(p.acl),
            score=p.score,
            text=p.text,
            citation_marker=markers.get(p.chunk_id),
        )
        for rank, p in enumerate(passages, 1)
    ]


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)

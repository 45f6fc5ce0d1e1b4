"""Typed values that cross the bot core's boundary: what adapters send in and get back.

Adapters build a `Question` from a platform event, call `SupportBot.answer`, and render the
`Answer`; they never see Weaviate, LlamaIndex or database objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from knowledge.types import Passage


class Platform(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    CONSOLE = "console"
    CLI = "cli"


class VoteValue(StrEnum):
    UP = "up"
    DOWN = "down"


class VoteSource(StrEnum):
    REACTION = "reaction"
    BUTTON = "button"
    FEEDBACK_LOOP = "feedback_loop"
    CONSOLE = "console"


@dataclass(frozen=True)
class Turn:
    """One earlier exchange in the thread: what was asked and what the bot replied."""

    question: str
    answer: str


@dataclass(frozen=True)
class Question:
    text: str
    platform: Platform
    channel: str
    user: str
    thread_id: str = ""
    history: tuple[Turn, ...] = ()
    # The asker's names as the platform shows them: logged so the fine-tuning export can
    # scrub them from questions (an id alone does not say what to look for in the text).
    asker_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Citation:
    """What a `[n]` marker in the answer text points to (n == `marker`)."""

    marker: int
    doc_id: str
    title: str
    section: str
    version: str
    source: str
    chunk_id: str

    def as_dict(self) -> dict[str, object]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "section": self.section,
            "version": self.version,
            "source": self.source,
        }


class AnswerKind(StrEnum):
    GENERATED = "generated"  # written by the language model from the passages
    EXTRACTED = "extracted"  # sentences copied from the passages, no language model
    ABSTAINED = "abstained"  # the passages do not answer the question
    FAILED = "failed"  # something broke; the text says what


@dataclass(frozen=True)
class Answer:
    text: str
    kind: AnswerKind
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    model: str = ""
    latency_ms: float = 0.0
    interaction_id: str | None = None
    rewritten_question: str = ""
    notice: str = ""  # e.g. why the extractive fallback answered instead of the model
    recorded: bool = False

    @property
    def abstained(self) -> bool:
        return self.kind is AnswerKind.ABSTAINED

    @property
    def label(self) -> str:
        """A short provenance line adapters show under the answer."""
        if self.kind is AnswerKind.GENERATED:
            return f"Answered by {self.model} from the cited documents."
        if self.kind is AnswerKind.EXTRACTED:
            return "Extracted word for word from the cited documents."
        return ""


class VoteStatus(StrEnum):
    RECORDED = "recorded"  # a first vote by this user on this answer
    CHANGED = "changed"  # replaced this user's opposite vote (kept as history)
    UNCHANGED = "unchanged"  # the same vote again: nothing to do
    RETRACTED = "retracted"
    NOT_FOUND = "not_found"  # no such answer, or nothing to retract
    FAILED = "failed"  # neither the database nor the journal took it; the user is told to try again
    JOURNALLED = "journalled"  # kept in the local journal; written when the database is back


@dataclass(frozen=True)
class VoteOutcome:
    status: VoteStatus
    interaction_id: str
    value: VoteValue | None = None

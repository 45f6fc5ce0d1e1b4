"""The seam between the bot core and whatever writes the answer text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.types import AnswerKind, Turn
from knowledge.types import Passage


class AnswererError(RuntimeError):
    """The answerer could not produce a usable answer; `reason` is one short phrase for users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Draft:
    """An answer before citations are resolved: `[n]` markers refer to `passages[n - 1]`."""

    text: str
    kind: AnswerKind
    answerer: str  # "claude", "extractive", or "none" (nothing to answer from)
    model: str  # the language model that wrote it; "" when none did
    system_prompt: str
    user_prompt: str

    @property
    def abstained(self) -> bool:
        return self.kind is AnswerKind.ABSTAINED


class Answerer(Protocol):
    name: str

    def answer(self, question: str, passages: Sequence[Passage]) -> Draft:
        """Answer from `passages` only (never empty); raise `AnswererError` when it cannot."""
        ...


class QuestionRewriter(Protocol):
    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        """A standalone version of a follow-up question (never raises; falls back to a heuristic)."""
        ...

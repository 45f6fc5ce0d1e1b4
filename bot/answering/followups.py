"""Follow-up questions without a model: which ones lean on the thread, and how to search them."""

from __future__ import annotations

from collections.abc import Sequence

from bot.answering.terms import WORD, content_terms
from bot.types import Turn


class HeuristicRewriter:
    """Without a model: a follow-up that leans on the thread is searched with the previous question.

    "What about from abroad?" or "does it apply to contractors?" cannot be searched alone;
    "How do I report an incident?" can, and gluing the previous question to it would only
    pull in the old topic. So only short questions, or ones that open with a connective or
    refer back with a pronoun, are combined.
    """

    _OPENERS = ("what about", "how about", "and ", "also", "what if", "but ", "same ", "then ")
    _BACK_REFERENCES = frozenset("it its that this these those they them such".split())

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        if not history:
            return question
        lowered = question.lower().strip()
        topic_words = len(content_terms(question))
        leans_back = bool(set(WORD.findall(lowered)[:4]) & self._BACK_REFERENCES) and topic_words <= 2
        dependent = lowered.startswith(self._OPENERS) or leans_back or topic_words <= 1
        return f"{history[-1].question.strip()} {question.strip()}" if dependent else question

"""Answers without a language model: the sentences of the passages that best support the question.

Used when no Anthropic key is set, and as the fallback when Claude fails. Support is
measured as the weighted share of the question's content words (stemmed) that a passage
contains; words that no passage contains weigh most, so a question about something the
documents never mention scores low and the answerer abstains instead of quoting noise.
Sentences are then picked greedily, each one adding question words not yet covered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from nltk.stem import PorterStemmer
from pydantic import BaseModel, ConfigDict, Field

from bot.answering.base import Draft
from bot.answering.citations import neutralise_markers
from bot.answering.prompts import SYSTEM_PROMPT, render_user_message
from bot.types import AnswerKind, Turn
from knowledge.types import Passage


class ExtractiveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # 0.4 on the policy-qa benchmark: 85% of real questions answered (98% of those cite the
    # right document) while 92% of off-topic questions abstain; 0.5 answers only 68%.
    min_support: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="Abstain when the best passage holds less than this weighted share of the question's words.",
    )
    max_sentences: int = Field(3, ge=1, le=10, description="Sentences quoted at most.")
    max_chars: int = Field(700, ge=100, description="Length cap of an extracted answer.")


# English function words plus question words: they say nothing about the topic.
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves may might must shall also get got
    us let tell know please need want like many much long often within without per via there's what's i'm""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_BLOCK_START = re.compile(r"^\s*(?:#{1,6}\s|[-*•]\s|\d{1,2}[.)]\s|\|)")
_stemmer = PorterStemmer()


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    return _stemmer.stem(word)


def content_terms(text: str) -> list[str]:
    return [
        _stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())
    ]


def split_sentences(text: str) -> list[str]:
    """Sentences of a chunk: wrapped lines are joined; headings, bullets and blank lines break."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            blocks.append([])
            continue
        if _BLOCK_START.match(line):
            blocks.append([])
            if line.lstrip().startswith("#"):
                continue  # headings are in the citation already
        blocks[-1].append(re.sub(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+", "", line).strip())
    sentences: list[str] = []
    for block in blocks:
        joined = " ".join(block).strip()
        sentences.extend(s.strip() for s in _SENTENCE_END.split(joined) if len(s.split()) >= 3)
    return sentences


@dataclass
class _Candidate:
    rank: int  # passage index
    position: int  # sentence index within the passage
    text: str
    terms: frozenset[str]


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, settings: ExtractiveSettings) -> None:
        self.settings = settings

    def answer(self, question: str, passages: Sequence[Passage]) -> Draft:
        user_prompt = render_user_message(question, passages)
        wanted = set(content_terms(question))
        # A chunk is read under its title and heading path; so are its words.
        heading_terms = [set(content_terms(f"{p.section} {p.title}")) for p in passages]
        passage_terms = [set(content_terms(p.text)) | heading_terms[i] for i, p in enumerate(passages)]
        if not wanted or not passages:
            return Draft("", AnswerKind.ABSTAINED, self.name, "", SYSTEM_PROMPT, user_prompt)
        weights = {
            t: math.log((len(passages) + 1) / (sum(t in pt for pt in passage_terms) + 0.5)) + 1.0
            for t in wanted
        }
        total = sum(weights.values())
        support = [sum(weights[t] for t in wanted & pt) / total for pt in passage_terms]
        if max(support) < self.settings.min_support:
            return Draft("", AnswerKind.ABSTAINED, self.name, "", SYSTEM_PROMPT, user_prompt)
        candidates = [
            _Candidate(
                rank, pos, sentence, frozenset(set(content_terms(sentence)) | heading_terms[rank]) & wanted
            )
            for rank, p in enumerate(passages)
            if support[rank] >= self.settings.min_support / 2
            for pos, sentence in enumerate(split_sentences(neutralise_markers(p.text)))
        ]
        chosen = self._pick(candidates, weights, support)
        if not chosen:
            return Draft("", AnswerKind.ABSTAINED, self.name, "", SYSTEM_PROMPT, user_prompt)
        chosen.sort(key=lambda c: (c.rank, c.position))
        text = " ".join(f"{c.text} [{c.rank + 1}]" for c in chosen)
        return Draft(text, AnswerKind.EXTRACTED, self.name, "", SYSTEM_PROMPT, user_prompt)

    def _pick(
        self, candidates: list[_Candidate], weights: dict[str, float], support: list[float]
    ) -> list[_Candidate]:
        covered: set[str] = set()
        chosen: list[_Candidate] = []
        length = 0

        def gain(c: _Candidate) -> float:
            new = sum(weights[t] for t in c.terms - covered)
            # Prefer sentences from better-supported, higher-ranked passages on ties.
            return new + 0.3 * support[c.rank] - 0.01 * c.rank

        while candidates and len(chosen) < self.settings.max_sentences:
            best = max(candidates, key=gain)
            if not best.terms - covered or (chosen and length + len(best.text) > self.settings.max_chars):
                break
            if len(best.text) > self.settings.max_chars:  # one run-on "sentence" (a table, a list)
                best.text = best.text[: self.settings.max_chars].rsplit(" ", 1)[0] + " …"
            chosen.append(best)
            covered |= best.terms
            length += len(best.text)
            candidates.remove(best)
        return chosen


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
        leans_back = bool(set(_WORD.findall(lowered)[:4]) & self._BACK_REFERENCES) and topic_words <= 2
        dependent = lowered.startswith(self._OPENERS) or leans_back or topic_words <= 1
        return f"{history[-1].question.strip()} {question.strip()}" if dependent else question

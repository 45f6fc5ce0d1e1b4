"""Answers without a language model: the sentences or table rows that best answer the question.

Used when no Anthropic key is set, and as the fallback when Claude fails. Each sentence
and table row of the retrieved passages (bot.answering.candidates) is scored by:
- meaning: cosine similarity of the question and the unit (read under its heading) with
  the index's own embedding model, so "bike" finds "bicycle";
- lexical evidence: the weighted share of the question's content words the unit and its
  heading contain (words rare among the units weigh most);
- shape: whether the unit carries the kind of fact the question asks for (a duration for
  "how long", money for "how much"...; bot.answering.question_types).
The best unit's document answers, in one to three of its units. When another document
states a different figure for the same thing, the answer says so and cites both. When
no unit is close enough in meaning and words, the answerer abstains.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.answering.base import Draft
from bot.answering.candidates import Candidate, candidates
from bot.answering.conflicts import differ, priority
from bot.answering.prompts import SYSTEM_PROMPT, render_user_message
from bot.answering.question_types import Wants, asks_for_figure, figures, fits, wants
from bot.answering.settings import ExtractiveSettings
from bot.answering.terms import content_terms, question_terms
from bot.types import AnswerKind
from knowledge.types import Passage

_CACHE_LIMIT = 50_000  # sentence vectors kept (about 75 MB at most)
# How the evidence adds up, against meaning similarity at 1. Fitted once as a listwise ranker
# over the candidates of the policy-qa questions (5-fold cross-validated: the chosen unit's
# token F1 rose from 0.335 to 0.348), then rounded and checked on whole answers, where a
# smaller length weight did better (it also keeps table rows, which are short, in reach); the
# off-topic questions set the abstention floor, which these do not touch.
WEIGHTS = {
    "support": 0.22,  # the question's words in the unit, its heading and its document's title
    "own_support": 0.23,  # ... in the unit's own words: evidence the heading alone cannot give
    "restates": 0.15,  # share of the unit's words that the question uses: it is on the topic
    "length": 0.1,  # per log word: an answer says something; a four-word fragment rarely does
    "rank": 0.05,  # per retrieval rank of the unit's passage
    "fit": 0.05,  # the unit carries the shape of fact asked for
    "misfit": 0.05,  # ... or it does not
    "later": 0.035,  # units further into a passage are past its preamble (up to 20 units in)
    "sentence_gap": 0.06,  # a neighbouring sentence joins when it scores this close to the best
    "row_gap": 0.12,  # another row of the same table joins when this close
    "broad_gap": 0.1,  # for a broad question, any unit of the same document this close
}
_EMBED_WORDS = 40  # a unit's first words say what it is about; the model reads 256 word pieces at most


def _clip(text: str) -> str:
    words = text.split()
    return text if len(words) <= _EMBED_WORDS else " ".join(words[:_EMBED_WORDS])


def _same_text(a: Candidate, b: Candidate) -> bool:
    x, y = " ".join(a.text.lower().split()), " ".join(b.text.lower().split())
    return x in y or y in x


_PART_BREAK = re.compile(
    r"\?\s+(?=\S)|[,;]?\s+and\s+(?=(?:what|how|why|who|whom|when|where|which|whether)\b"
    r"|(?:will|would|does|do|is|are|can|could|should|must)\s+(?:they|he|she|it|there|the|a|an|this|that|"
    r"these|those|we|i|you|staff|employees?)\b)",
    re.IGNORECASE,
)


def question_parts(question: str) -> list[str]:
    """The separate asks of a compound question, each long enough to be searched alone."""
    parts = [p.strip(" ,;?") for p in _PART_BREAK.split(question.strip())]
    return [p for p in parts if len(p.split()) >= 3]


_LAST_SENTENCE = re.compile(r"(?<=[.?!])\s+(?=\S)")
Embed = Callable[[Sequence[str]], list[list[float]]]


@dataclass(frozen=True)
class _Scored:
    unit: Candidate
    doc: str  # the document id of the unit's passage
    meaning: float  # cosine similarity to the question
    support: float  # weighted share of the question's words present
    fits: bool  # carries the wanted shape of fact
    score: float

    @property
    def confidence(self) -> float:
        return self.meaning + 0.5 * self.support


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self, settings: ExtractiveSettings, embed: Embed, source_priority: Mapping[str, int] | None = None
    ) -> None:
        self.settings = settings
        self._embed = embed
        self._priority = dict(source_priority or {})
        # Sentences of popular passages come back question after question: embed them once.
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def answer(self, question: str, passages: Sequence[Passage]) -> Draft:
        user_prompt = render_user_message(question, passages, self._priority)
        abstain = Draft("", AnswerKind.ABSTAINED, self.name, "", SYSTEM_PROMPT, user_prompt)
        units = candidates(passages)
        wanted_terms = question_terms(question)
        if not units or not wanted_terms:
            return abstain
        scored = self._score(question, wanted_terms, units, passages)
        best = max(scored, key=lambda s: s.score)
        # Whether to answer at all is a question of meaning and words; which unit answers
        # also weighs its length and place.
        if max(s.confidence for s in scored) < self.settings.min_confidence:
            return abstain
        wanted = wants(question)
        rivals = self._rivals(best, scored, wanted)
        if rivals:
            text = self._differing(best, rivals, passages)
        else:
            extra = self._part_answers(question, best, units, passages)
            text = self._compose(best, scored, units, wanted in (Wants.OTHER, Wants.YESNO), extra)
        return Draft(text, AnswerKind.EXTRACTED, self.name, "", SYSTEM_PROMPT, user_prompt)

    # -- scoring -------------------------------------------------------------------------

    def _score(
        self, question: str, wanted_terms: set[str], units: list[Candidate], passages: Sequence[Passage]
    ) -> list[_Scored]:
        # A unit is read under its document's title and its heading; so are its words.
        unit_terms = [set(content_terms(f"{passages[u.rank].title} {u.context} {u.text}")) for u in units]
        # The last sentence asked is the question proper ("I'm new here. How do I...?"), and in a
        # follow-up searched with the thread's question before it, the part that is new.
        last_sentence = _LAST_SENTENCE.split(question.strip())[-1]
        last = question_terms(last_sentence)
        weights = {
            t: (math.log((len(units) + 1) / (sum(t in terms for terms in unit_terms) + 0.5)) + 1.0)
            * (2.0 if t in last else 1.0)
            for t in wanted_terms
        }
        total = sum(weights.values())
        wanted = wants(question)
        supports = [sum(weights[t] for t in wanted_terms & terms) / total for terms in unit_terms]
        own_terms = [set(content_terms(u.text)) for u in units]
        own_supports = [sum(weights[t] for t in wanted_terms & terms) / total for terms in own_terms]
        asked = set(content_terms(question))
        restating = [len(terms & asked) / max(1, len(terms)) for terms in own_terms]
        fitting = [fits(wanted, u.text) for u in units]
        # Embedding is the cost (tens of ms per dozen sentences on a CPU): only the units with
        # the most lexical evidence, in the best-ranked passages, are compared in meaning.
        pool = sorted(
            range(len(units)),
            key=lambda i: -(supports[i] + 0.2 * fitting[i] - 0.05 * units[i].rank),
        )[: self.settings.semantic_pool]
        vectors = self._embed_all([question, last_sentence, *(_clip(units[i].embed_text) for i in pool)])
        meanings = vectors[2:] @ vectors[0]
        if last_sentence != question.strip():  # the part asked last counts as much as the whole
            meanings = (meanings + vectors[2:] @ vectors[1]) / 2
        out = []
        for i, meaning in zip(pool, meanings, strict=True):
            unit, support, fit = units[i], supports[i], fitting[i]
            score = (
                float(meaning)
                + WEIGHTS["support"] * support
                + WEIGHTS["own_support"] * own_supports[i]
                + WEIGHTS["restates"] * restating[i]
                + WEIGHTS["length"] * math.log1p(len(unit.text.split()))
                - WEIGHTS["rank"] * unit.rank
                + WEIGHTS["later"] * min(unit.position, 20) / 20
            )
            if wanted not in (Wants.YESNO, Wants.OTHER):
                score += WEIGHTS["fit"] if fit else -WEIGHTS["misfit"]
            out.append(_Scored(unit, passages[unit.rank].doc_id, float(meaning), support, fit, score))
        return out

    def _embed_all(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            fresh = np.asarray(self._embed(missing), dtype=np.float32)
            fresh /= np.maximum(np.linalg.norm(fresh, axis=1, keepdims=True), 1e-9)
            with self._lock:
                if len(self._vectors) + len(missing) > _CACHE_LIMIT:
                    self._vectors.clear()
                self._vectors.update(zip(missing, fresh, strict=True))
                found = [self._vectors.get(t) for t in texts]
            if any(v is None for v in found):  # cleared by another thread meanwhile
                return np.asarray(self._embed(texts), dtype=np.float32)
            return np.stack([v for v in found if v is not None])
        return np.stack([self._vectors[t] for t in texts])

    # -- composing -----------------------------------------------------------------------

    def _part_answers(
        self, question: str, best: _Scored, units: list[Candidate], passages: Sequence[Passage]
    ) -> list[_Scored]:
        """For a question that asks two things ("what must they give, and will they be paid?"),
        the best unit for each part the best unit overall does not already answer."""
        parts = question_parts(question)
        if len(parts) < 2:
            return []
        found: list[_Scored] = []
        for part in parts:
            terms = question_terms(part)
            if not terms:
                continue
            top = max(self._score(part, terms, units, passages), key=lambda s: s.score)
            if top.unit != best.unit and top.confidence >= self.settings.min_confidence:
                found.append(top)
        return found

    def _compose(
        self,
        best: _Scored,
        scored: list[_Scored],
        units: list[Candidate],
        broad: bool,
        part_units: list[_Scored],
    ) -> str:
        """The best unit, and up to two more of its document that add to it: a neighbouring
        sentence or another row of its table that scores nearly as well, or, for a broad
        question (what, how, why, whether), any of the document's units that does. Each part
        of a two-part question brings its own best unit, from whichever document."""
        chosen = [best]
        length = len(best.unit.text)
        for part in part_units:
            if not any(_same_text(part.unit, c.unit) for c in chosen):
                chosen.append(part)
                length += len(part.unit.text)
        if best.unit.text.endswith(":"):  # "paid at the following rates:": what follows is the answer
            following = [u for u in units if u.rank == best.unit.rank and u.position > best.unit.position]
            for unit in following[: self.settings.max_sentences - 1]:
                chosen.append(_Scored(unit, best.doc, 0.0, 0.0, False, 0.0))
                length += len(unit.text)
        others = [s for s in scored if s.doc == best.doc and all(s is not c for c in chosen)]
        for other in sorted(others, key=lambda s: -s.score):
            if len(chosen) >= self.settings.max_sentences:
                break
            same_passage = other.unit.rank == best.unit.rank
            near = same_passage and abs(other.unit.position - best.unit.position) <= 1
            same_table = same_passage and best.unit.is_row and other.unit.table == best.unit.table
            if same_table:
                gap = WEIGHTS["row_gap"]
            elif near:
                gap = WEIGHTS["sentence_gap"]
            elif broad:
                gap = WEIGHTS["broad_gap"]
            else:
                continue
            if other.score < best.score - gap or length + len(other.unit.text) > self.settings.max_chars:
                continue
            if any(_same_text(other.unit, c.unit) for c in chosen):  # overlapping chunks repeat sentences
                continue
            chosen.append(other)
            length += len(other.unit.text)
        chosen.sort(key=lambda s: (s.unit.rank, s.unit.position))
        parts: list[str] = []
        for i, s in enumerate(chosen):
            last = i + 1 == len(chosen) or chosen[i + 1].unit.rank != s.unit.rank
            # Rows of one table are read under its heading once.
            heading = i == 0 or chosen[i - 1].unit.context != s.unit.context
            parts.append(self._shown(s.unit, heading) + (f" [{s.unit.rank + 1}]" if last else ""))
        return " ".join(parts)

    def _shown(self, unit: Candidate, heading: bool = True) -> str:
        text = unit.text
        if len(text) > self.settings.max_chars:  # one run-on "sentence" (a flattened list)
            text = text[: self.settings.max_chars].rsplit(" ", 1)[0] + " …"
        if unit.is_row:
            if heading and unit.context and unit.context not in text:
                text = f"{unit.context}: {text}"
            text = text if text.endswith((".", "…")) else text + "."
        return text

    def _rivals(self, best: _Scored, scored: list[_Scored], wanted: Wants) -> list[_Scored]:
        """Other documents' best units that state a different figure for the same thing (two at most)."""
        if not asks_for_figure(wanted) and wanted is not Wants.TIME:
            return []
        mine = figures(best.unit.text)
        floor = max(self.settings.conflict_floor, best.meaning - self.settings.conflict_margin)
        rivals: dict[str, _Scored] = {}
        for other in sorted(scored, key=lambda s: -s.score):
            if other.doc == best.doc or other.doc in rivals or not other.fits or other.meaning < floor:
                continue
            if differ(mine, figures(other.unit.text)):
                rivals[other.doc] = other
        return list(rivals.values())[:2]

    def _differing(self, best: _Scored, rivals: list[_Scored], passages: Sequence[Passage]) -> str:
        sources = sorted(
            (best, *rivals), key=lambda s: -priority(passages[s.unit.rank], self._priority)
        )  # stable: equal ranks keep the better-scored source first
        said = [
            f"{passages[s.unit.rank].title} says: {self._shown(s.unit)} [{s.unit.rank + 1}]" for s in sources
        ]
        return "The documents differ on this. " + " ".join(said)

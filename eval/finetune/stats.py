"""`feedback stats`: what votes there are, before anyone exports them.

Current votes only (a retracted vote is no feedback), counted by ISO week of the vote, by
channel of the answer, and by document cited in the answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.store.database import read_only
from bot.store.models import Interaction, InteractionPassage, Vote


@dataclass
class Tally:
    up: int = 0
    down: int = 0

    @property
    def total(self) -> int:
        return self.up + self.down

    @property
    def helpful(self) -> float:
        return self.up / self.total if self.total else 0.0

    def add(self, value: str) -> None:
        if value == "up":
            self.up += 1
        else:
            self.down += 1


@dataclass
class FeedbackStats:
    weeks: dict[str, Tally] = field(default_factory=dict)
    channels: dict[str, Tally] = field(default_factory=dict)
    documents: dict[str, Tally] = field(default_factory=dict)
    overall: Tally = field(default_factory=Tally)
    retracted: int = 0
    voted_answers: int = 0
    sources: Counter[str] = field(default_factory=Counter)


def feedback_stats(engine: Engine) -> FeedbackStats:
    engine = read_only(engine)
    stats = FeedbackStats()
    answers: set[str] = set()
    query = (
        select(
            Vote.interaction_id,
            Vote.value,
            Vote.source,
            Vote.created_at,
            Vote.retracted_at,
            Interaction.channel,
        )
        .join(Interaction, Interaction.id == Vote.interaction_id)
        .execution_options(yield_per=2000)
    )
    # Each current vote counts once for every document its answer cited (twice-cited: once).
    cited_docs = (
        select(InteractionPassage.interaction_id, InteractionPassage.doc_id)
        .where(InteractionPassage.citation_marker.is_not(None))
        .distinct()
        .subquery()
    )
    cited = (
        select(cited_docs.c.doc_id, Vote.value)
        .join(Vote, Vote.interaction_id == cited_docs.c.interaction_id)
        .where(Vote.retracted_at.is_(None))
    )
    with Session(engine) as session:
        for interaction_id, value, source, created_at, retracted_at, channel in session.execute(query):
            if retracted_at is not None:
                stats.retracted += 1
                continue
            year, week, _ = created_at.isocalendar()
            stats.weeks.setdefault(f"{year}-W{week:02d}", Tally()).add(value)
            stats.channels.setdefault(channel, Tally()).add(value)
            stats.overall.add(value)
            stats.sources[source] += 1
            answers.add(interaction_id)
        for doc_id, value in session.execute(cited.execution_options(yield_per=2000)):
            stats.documents.setdefault(doc_id, Tally()).add(value)
    stats.voted_answers = len(answers)
    return stats

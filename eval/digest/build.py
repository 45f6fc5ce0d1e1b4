"""One digest end to end: the week's numbers for a target's channels, the RAGAS section,
the files. Posting is the front ends' job (adapters.slack.digest, adapters.teams.digest)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from bot.settings import DigestSettings
from eval.digest.numbers import EVERY_CHANNEL, Embed, LinkMaker, WeekNumbers, week_numbers
from eval.digest.page import DigestFiles, summary, write_digest
from eval.digest.quality import Quality, quality_section
from eval.digest.runs import previous_quality
from eval.digest.week import Week
from knowledge.types import DocumentInfo

ALL = "all"  # the target name of a digest over every channel (no leads configured)
# (week, channels covered, private scopes) -> ({set: {metric: score}}, notes): the RAGAS
# section's scores, over the same conversations as the rest of the digest (numbers.in_scope).
QualityProvider = Callable[
    [Week, Sequence[str], Sequence[str]], tuple[dict[str, dict[str, float]], list[str]]
]


@dataclass(frozen=True)
class Digest:
    target: str
    week: Week
    title: str
    numbers: WeekNumbers
    quality: Quality | None
    files: DigestFiles

    @property
    def summary(self) -> dict[str, object]:
        return summary(self.numbers, self.title, self.quality)


def build_digest(
    engine: Engine,
    week: Week,
    target: str,
    covers: Sequence[str],
    documents: Mapping[str, DocumentInfo],
    settings: DigestSettings,
    out: Path,
    *,
    embed: Embed | None = None,
    link: LinkMaker | None = None,
    quality: QualityProvider | None = None,
    private: Sequence[str] = (),
) -> Digest:
    numbers = week_numbers(
        engine,
        week,
        covers or (EVERY_CHANNEL,),
        documents,
        stale_after_days=settings.stale_after_days,
        worst=settings.worst_answers,
        embed=embed,
        gap_similarity=settings.gap_similarity,
        link=link,
        private=private,
    )
    section = None
    if quality is not None:
        scores, notes = quality(week, covers or (EVERY_CHANNEL,), private)
        section = quality_section(scores, previous_quality(engine, week, target), notes)
    title = f"Support bot weekly digest, {week}" + ("" if target == ALL else f", {target}")
    files = write_digest(numbers, out / str(week) / target, title, section, settings.stale_after_days)
    return Digest(target, week, title, numbers, section, files)

"""The digest's RAGAS section: this week's scores, with the change since last week's digest.

Scores come in as {set: {metric: score}} ("golden set", "this week's answers"); last
week's come from the digest recorded then (bot.store: digest_runs), so a change is
between what the bot scored then and now, not a re-run of old answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Scores = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class QualityRow:
    set: str
    metric: str
    score: float
    change: str
    trend: str  # better / worse / ""


@dataclass(frozen=True)
class Quality:
    rows: tuple[QualityRow, ...]
    notes: tuple[str, ...] = ()
    scores: dict[str, dict[str, float]] = field(default_factory=dict)


def quality_section(current: Scores, previous: Scores | None = None, notes: Sequence[str] = ()) -> Quality:
    rows = []
    for set_name, metrics in current.items():
        for metric, score in sorted(metrics.items()):
            before = (previous or {}).get(set_name, {}).get(metric)
            change, trend = "", ""
            if before is not None:
                delta = score - before
                change = f"{delta:+.3f}"
                # Every RAGAS metric reported here is "higher is better".
                trend = "" if abs(delta) < 0.005 else ("better" if delta > 0 else "worse")
            rows.append(QualityRow(set_name, metric, score, change, trend))
    return Quality(
        tuple(rows),
        tuple(notes),
        {name: {m: float(v) for m, v in metrics.items()} for name, metrics in current.items()},
    )

"""The digest as files: index.html, the chart PNGs beside it, and digest.json for machines."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from eval.digest.facts import headline_facts
from eval.digest.numbers import EVERY_CHANNEL, WeekNumbers
from eval.digest.quality import Quality

if TYPE_CHECKING:  # matplotlib (charts) loads when a digest is written, not when serve starts
    from eval.digest.charts import Chart

_TEMPLATES = Environment(
    loader=PackageLoader("eval.digest", "templates"),
    autoescape=select_autoescape(["html", "j2"]),  # questions and comments are staff text
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class DigestFiles:
    folder: Path
    html: Path
    data: Path
    charts: tuple[Chart, ...]


def write_digest(
    numbers: WeekNumbers, folder: Path, title: str, quality: Quality | None, stale_after_days: int
) -> DigestFiles:
    from eval.digest.charts import render_charts

    charts = render_charts(numbers, folder)
    week = numbers.week
    last_day = week.days()[-1]
    period = f"{week}: {week.monday:%a %d %b} to {last_day:%a %d %b %Y} ({week.zone})"
    scope = "every channel" if numbers.scope == (EVERY_CHANNEL,) else "channels " + ", ".join(numbers.scope)
    html = _TEMPLATES.get_template("digest.html.j2").render(
        title=title,
        period=period,
        scope=scope,
        facts=headline_facts(numbers.headline, numbers.previous),
        charts=charts,
        numbers=numbers,
        quality=quality,
        stale_after_days=stale_after_days,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    page = folder / "index.html"
    page.write_text(html, encoding="utf-8")
    data = folder / "digest.json"
    data.write_text(json.dumps(summary(numbers, title, quality), indent=2) + "\n")
    return DigestFiles(folder, page, data, tuple(charts))


def summary(numbers: WeekNumbers, title: str, quality: Quality | None) -> dict[str, Any]:
    """Everything in the digest as plain JSON values (it is also stored in digest_runs)."""
    head, before = numbers.headline, numbers.previous
    data = {
        "title": title,
        "week": str(numbers.week),
        "scope": list(numbers.scope),
        "headline": {
            **dataclasses.asdict(head),
            "helpful_rate": head.helpful_rate,
            "vote_share": head.vote_share,
            "abstention_rate": head.abstention_rate,
        },
        "previous_week": {
            **dataclasses.asdict(before),
            "helpful_rate": before.helpful_rate,
            "vote_share": before.vote_share,
            "abstention_rate": before.abstention_rate,
        },
        "days": [dataclasses.asdict(d) for d in numbers.days],
        "worst": [dataclasses.asdict(a) for a in numbers.worst],
        "gaps": [{**dataclasses.asdict(g), "size": g.size} for g in numbers.gaps],
        "documents": [dataclasses.asdict(d) for d in numbers.documents],
        "stale": [d.doc_id for d in numbers.stale],
        "superseded": [d.doc_id for d in numbers.superseded],
        "quality": quality.scores if quality else {},
        "quality_notes": list(quality.notes) if quality else [],
    }
    plain: dict[str, Any] = json.loads(json.dumps(data, default=_plain))
    return plain


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")

"""The digest's charts with user text in their labels: `$` is a dollar sign, never mathtext."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

from eval.digest.charts import CHARTS, _plain, render_charts
from eval.digest.numbers import Day, DocumentUse, Headline, WeekNumbers
from eval.digest.week import Week

WEEK = Week(2026, 45)
# Titles as staff name their documents: a pair of `$` would open mathtext, and a bad
# formula in it ("$\frac$") made savefig raise.
TITLES = (
    r"$\frac$",
    "Costs $5 and $10",
    "Meal allowance: $40/day, $\\alpha$ tier",
    r"Already escaped \$ stays as typed",
    "A title long enough to be cut short right at $5 and $10",
)


def week_numbers_with(titles: tuple[str, ...]) -> WeekNumbers:
    documents = tuple(
        DocumentUse(f"doc-{i}", title, 10 - i, i % 2, ("1",), "1", "2026-01-01", 0)
        for i, title in enumerate(titles)
    )
    days = tuple(Day(WEEK.monday + timedelta(days=i), 3, 1, 2, 1) for i in range(7))
    headline = Headline(questions=21, latency_p50_ms=1200.0, latency_p95_ms=4000.0)
    return WeekNumbers(
        WEEK, ("*",), headline, Headline(), days, (900.0, 1200.0, 4000.0), (), (), documents, (), ()
    )


def test_charts_with_dollar_signs_in_titles_are_written_and_decode(tmp_path: Path) -> None:
    charts = render_charts(week_numbers_with(TITLES), tmp_path)
    assert [c.name for c in charts] == list(CHARTS)
    for chart in charts:
        pixels = imread(chart.path)
        assert chart.path.suffix == ".png" and pixels.ndim == 3 and pixels.shape[1] >= 600
        assert len(np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)) > 10  # not blank


def png(text: str, parse_math: bool) -> np.ndarray:
    figure = Figure(figsize=(4, 0.6))
    FigureCanvasAgg(figure)
    figure.text(0.02, 0.3, text, parse_math=parse_math)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    buffer.seek(0)
    return imread(buffer)


@pytest.mark.parametrize("title", TITLES)
def test_an_escaped_title_draws_exactly_as_plain_text(title: str) -> None:
    assert np.array_equal(png(_plain(title), parse_math=True), png(title, parse_math=False))

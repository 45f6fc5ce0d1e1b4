"""The digest's charts as PNG files (matplotlib).

Figures are built with the object API on an Agg canvas, never pyplot: `serve` renders the
digest in a worker thread, and pyplot's global state is neither thread-safe nor needed.

Text that comes from users (document titles; questions, should a chart ever show them) goes
through `_plain` first: matplotlib reads the text between two `$` as mathtext, so "Costs $5
to $10" would render as a formula and "$\\frac$" would make `savefig` raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from eval.digest.numbers import WeekNumbers

UP, DOWN, NEUTRAL, MUTED = "#2e7d32", "#c62828", "#1565c0", "#9e9e9e"


@dataclass(frozen=True)
class Chart:
    name: str  # file stem, also the image's id in posts
    title: str
    path: Path


CHARTS = {
    "questions": "Questions per day",
    "votes": "Votes per day",
    "latency": "Time to answer",
    "documents": "Most cited documents",
}


def render_charts(
    numbers: WeekNumbers, out: Path, dpi: int = 110, names: tuple[str, ...] = tuple(CHARTS)
) -> list[Chart]:
    """PNG files in `out`; a lower `dpi` gives the small images a Teams card can carry inline."""
    out.mkdir(parents=True, exist_ok=True)
    painters = {"questions": _questions, "votes": _votes, "latency": _latency, "documents": _documents}
    made = []
    for name in names:
        title, draw = CHARTS[name], painters[name]
        figure = Figure(figsize=(6.4, 3.2), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        draw(axes, numbers)
        # Counts are whole numbers: no "1.5 questions" on a quiet week.
        (axes.xaxis if name in {"documents"} else axes.yaxis).set_major_locator(MaxNLocator(integer=True))
        axes.set_title(title, loc="left", fontsize=11)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        path = out / f"{name}.png"
        figure.savefig(path, dpi=dpi)
        made.append(Chart(name, title, path))
    return made


def _questions(axes, numbers: WeekNumbers) -> None:  # type: ignore[no-untyped-def]
    labels = [d.day.strftime("%a %d") for d in numbers.days]
    answered = [d.questions - d.abstained for d in numbers.days]
    abstained = [d.abstained for d in numbers.days]
    axes.bar(labels, answered, color=NEUTRAL, label="answered")
    axes.bar(labels, abstained, bottom=answered, color=MUTED, label="not found")
    axes.set_ylabel("questions")
    axes.legend(frameon=False, fontsize=8)


def _votes(axes, numbers: WeekNumbers) -> None:  # type: ignore[no-untyped-def]
    labels = [d.day.strftime("%a %d") for d in numbers.days]
    axes.bar(labels, [d.votes_up for d in numbers.days], color=UP, label="thumbs up")
    axes.bar(labels, [-d.votes_down for d in numbers.days], color=DOWN, label="thumbs down")
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_ylabel("votes")
    axes.legend(frameon=False, fontsize=8)


def _latency(axes, numbers: WeekNumbers) -> None:  # type: ignore[no-untyped-def]
    seconds = [ms / 1000 for ms in numbers.latencies_ms]
    if not seconds:
        _empty(axes, "no answers this week")
        return
    axes.hist(seconds, bins=min(30, max(5, len(seconds) // 5)), color=NEUTRAL)
    head = numbers.headline
    for value, label, style in ((head.latency_p50_ms, "p50", "--"), (head.latency_p95_ms, "p95", ":")):
        if value is not None:
            axes.axvline(value / 1000, color="black", linestyle=style, linewidth=1)
            axes.annotate(
                f"{label} {value / 1000:.1f} s",
                (value / 1000, 0.95),
                xycoords=("data", "axes fraction"),
                fontsize=8,
            )
    axes.set_xlabel("seconds")
    axes.set_ylabel("answers")


def _documents(axes, numbers: WeekNumbers) -> None:  # type: ignore[no-untyped-def]
    top = list(reversed(numbers.most_cited[:8]))
    if not top:
        _empty(axes, "no citations this week")
        return
    labels = [_plain(_short(d.title or d.doc_id)) for d in top]
    axes.barh(labels, [d.cited - d.in_down for d in top], color=NEUTRAL, label="cited")
    axes.barh(
        labels,
        [d.in_down for d in top],
        left=[d.cited - d.in_down for d in top],
        color=DOWN,
        label="in thumbs-down answers",
    )
    axes.set_xlabel("answers")
    axes.legend(frameon=False, fontsize=8)


def _empty(axes, text: str) -> None:  # type: ignore[no-untyped-def]
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color=MUTED)
    axes.set_xticks([])
    axes.set_yticks([])


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str) -> str:
    """User text as a literal label: every `$` escaped, so no mathtext is parsed.

    With no unescaped `$` left, matplotlib treats the text as plain and turns each `\\$` back
    into `$`; a `\\$` the user typed comes out as typed. Apply after `_short`, so a cut never
    separates a backslash from its `$`.
    """
    return text.replace("$", r"\$")

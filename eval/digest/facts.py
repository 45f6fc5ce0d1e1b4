"""The digest's headline figures as formatted text, shared by the HTML page, Slack and Teams.

Each front end lays the facts out in its own way; the wording, the rounding and what
counts as better or worse week over week are decided here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

from eval.digest.numbers import Headline


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    change: str  # "+12 vs last week", "" when there is nothing to compare with
    trend: str  # "better", "worse" or "" (no change, or no judgement)


def headline_facts(now: Headline, before: Headline) -> list[Fact]:
    return [
        _count("Questions", now.questions, before.questions),
        _count("Askers", now.askers, before.askers),
        _rate("Helpful", now.helpful_rate, before.helpful_rate, higher_is_better=True),
        _rate("Answers with a vote", now.vote_share, before.vote_share, higher_is_better=None),
        _rate("Not found (abstained)", now.abstention_rate, before.abstention_rate, higher_is_better=False),
        _latency(now, before),
    ]


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def seconds(ms: float | None) -> str:
    return "n/a" if ms is None else f"{ms / 1000:.1f} s"


def _count(label: str, now: int, before: int) -> Fact:
    if not before:
        return Fact(label, str(now), "none last week" if now else "", "")
    change = now - before
    return Fact(label, str(now), f"{change:+d} ({change / before:+.0%}) vs last week", "")


def _rate(label: str, now: float | None, before: float | None, higher_is_better: bool | None) -> Fact:
    if now is None or before is None:
        return Fact(label, percent(now), "", "")
    points = round((now - before) * 100)
    trend = ""
    if points and higher_is_better is not None:
        trend = "better" if (points > 0) == higher_is_better else "worse"
    return Fact(label, percent(now), f"{points:+d} pts vs last week", trend)


def _latency(now: Headline, before: Headline) -> Fact:
    value = f"p50 {seconds(now.latency_p50_ms)} · p95 {seconds(now.latency_p95_ms)}"
    if now.latency_p95_ms is None or before.latency_p95_ms is None:
        return Fact("Time to answer", value, "", "")
    change = (now.latency_p95_ms - before.latency_p95_ms) / 1000
    trend = "" if abs(change) < 0.05 else ("worse" if change > 0 else "better")
    return Fact("Time to answer", value, f"p95 {change:+.1f} s vs last week", trend)

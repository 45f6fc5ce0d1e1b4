"""The weekly digest in Teams: an Adaptive Card posted as a new thread in the leads' channel.

There is no incoming activity to reply to, so the bot creates the conversation itself
(Bot Connector `POST /v3/conversations` with the channel in channelData), which needs the
tenant and the regional service URL (`digest.teams_service_url`). Teams messages are
limited to about 28 KB: the card carries the figures, the lists and one small chart
inline (a data: URI); the full page with every chart is the HTML file.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes, ConversationParameters

from adapters.teams.cards import card, paragraph, run
from eval.digest.build import Digest
from eval.digest.charts import render_charts
from eval.digest.facts import headline_facts

INLINE_CHART_LIMIT = 12_000  # bytes of PNG; base64 adds a third


def digest_card_body(digest: Digest, chart: Path | None = None) -> list[dict[str, Any]]:
    numbers = digest.numbers
    week = numbers.week
    scope = "every channel" if numbers.scope == ("*",) else f"{len(numbers.scope)} channels"
    facts = [
        {"title": f.label, "value": f.value + (f" ({f.change})" if f.change else "")}
        for f in headline_facts(numbers.headline, numbers.previous)
    ]
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": digest.title, "size": "large", "weight": "bolder", "wrap": True},
        paragraph(run(f"{week.monday:%a %d %b} to {week.days()[-1]:%a %d %b %Y} · {scope}", isSubtle=True)),
        {"type": "FactSet", "facts": facts},
    ]
    if chart is not None and chart.stat().st_size <= INLINE_CHART_LIMIT:
        data = base64.b64encode(chart.read_bytes()).decode()
        body.append({"type": "Image", "url": f"data:image/png;base64,{data}", "altText": "Questions per day"})
    body.append(_heading("Worst-rated answers"))
    for a in numbers.worst:
        question = run(a.question[:200])
        if a.link and a.link.startswith("https://"):
            question |= {"selectAction": {"type": "Action.OpenUrl", "url": a.link}, "color": "accent"}
        comments = [run(f" “{c[:200]}”", isSubtle=True) for c in a.comments[:2]]
        body.append(
            paragraph(run("• "), question, run(f" ({a.ups} up, {a.downs} down)"), *comments, spacing="none")
        )
    if not numbers.worst:
        body.append(paragraph(run("No answer had more thumbs-down than up.", isSubtle=True)))
    body.append(_heading("Content gaps"))
    for g in numbers.gaps[:5]:
        body.append(
            paragraph(
                run(f"• {g.example[:200]}"),
                run(
                    f" ({g.size} questions: {g.abstained} not found, {g.thumbs_down} thumbs-down)",
                    isSubtle=True,
                ),
                spacing="none",
            )
        )
    if not numbers.gaps:
        body.append(paragraph(run("Every question was answered; none got a thumbs-down.", isSubtle=True)))
    body.append(_heading("Documents"))
    for d in numbers.most_cited[:5]:
        body.append(
            paragraph(run(f"• {d.title}: {d.cited} answers, {d.in_down} thumbs-down"), spacing="none")
        )
    for d in numbers.stale[:3]:
        body.append(
            paragraph(
                run(f"• Stale: {d.title} (in effect since {d.effective})", color="warning"), spacing="none"
            )
        )
    for d in numbers.superseded[:3]:
        now = f"now v{d.current_version}" if d.current_version else "since removed"
        body.append(
            paragraph(
                run(
                    f"• Superseded: {d.on_old_version} answers cited {d.title} v{', '.join(d.cited_versions)}, {now}",
                    color="attention",
                ),
                spacing="none",
            )
        )
    if digest.quality is not None:
        body.append(_heading("Answer quality (RAGAS)"))
        for r in digest.quality.rows:
            change = f" ({r.change})" if r.change else ""
            body.append(paragraph(run(f"• {r.set}: {r.metric} {r.score:.3f}{change}"), spacing="none"))
        for note in digest.quality.notes:
            body.append(paragraph(run(note, isSubtle=True), spacing="none"))
    return body


def digest_activity(digest: Digest) -> Activity:
    small = render_charts(digest.numbers, digest.files.folder / "teams", dpi=55, names=("questions",))
    return Activity(
        type=ActivityTypes.message,
        attachments=[card(digest_card_body(digest, small[0].path if small else None))],
        summary=digest.title,
    )


async def post_digest(
    adapter: CloudAdapter, app_id: str, service_url: str, tenant_id: str, channel: str, digest: Digest
) -> str:
    """Start a thread in `channel` with the digest; returns the new conversation's id."""
    parameters = ConversationParameters(
        is_group=True,
        channel_data={"channel": {"id": channel}, "tenant": {"id": tenant_id}},
        activity=digest_activity(digest),
        tenant_id=tenant_id,
    )
    created: list[str] = []

    async def remember(context: TurnContext) -> None:
        created.append(context.activity.conversation.id)

    await adapter.create_conversation(app_id, remember, parameters, "msteams", service_url)
    return created[0] if created else ""


def _heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "bolder", "spacing": "medium", "wrap": True}

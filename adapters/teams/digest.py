"""The weekly digest in Teams: an Adaptive Card posted as a new thread in the leads' channel.

There is no incoming activity to reply to, so the bot creates the conversation itself
(Bot Connector `POST /v3/conversations` with the channel in channelData), which needs the
tenant and the regional service URL (`digest.teams_service_url`). Teams rejects messages
above about 28 KB: the card carries the figures, the lists and one small chart inline (a
data: URI), and is shortened until it fits; the full page with every chart is the HTML file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes, ConversationParameters

from adapters.teams.activities import conversation_base
from adapters.teams.cards import card, paragraph, run
from eval.digest.build import Digest
from eval.digest.facts import headline_facts

logger = logging.getLogger(__name__)
INLINE_CHART_LIMIT = 12_000  # bytes of PNG; base64 adds a third
# Teams rejects activities above about 28 KB; the margin covers the create-conversation
# wrapper (channelData, tenant) around the activity.
SIZE_BUDGET = 26_000


@dataclass(frozen=True)
class Detail:
    """How much of the digest goes into the card."""

    chart: bool = True
    worst: int | None = None  # worst-rated answers; None: all (digest.worst_answers, up to 50)
    comments: int = 2  # voters' comments per answer
    text: int = 200  # characters of a question, comment, gap example or title
    gaps: int = 5
    documents: int = 5  # most cited
    flagged: int = 3  # stale, and superseded, documents
    quality: bool = True


# Tried in turn until the card fits: the chart is the biggest part (up to 16 KB as base64),
# so it goes first, then the lists shrink. The last has no lists at all and always fits.
DETAILS = (
    Detail(),
    Detail(chart=False),
    Detail(chart=False, worst=5, comments=1, text=120),
    Detail(chart=False, worst=3, comments=1, text=80, gaps=3, documents=3, flagged=2),
    Detail(chart=False, worst=2, comments=0, text=60, gaps=2, documents=2, flagged=1),
    Detail(chart=False, worst=0, comments=0, text=0, gaps=0, documents=0, flagged=0, quality=False),
)


def digest_card_body(
    digest: Digest, chart: Path | None = None, detail: Detail = DETAILS[0]
) -> list[dict[str, Any]]:
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
    if detail != DETAILS[0]:
        page = f"{digest.week}/{digest.target}/{digest.files.html.name}"  # under the digests folder
        body.append(
            paragraph(
                run(
                    f"Shortened to fit in Teams: the full digest is in the HTML page ({page}).", isSubtle=True
                )
            )
        )
    if detail.chart and chart is not None and chart.stat().st_size <= INLINE_CHART_LIMIT:
        data = base64.b64encode(chart.read_bytes()).decode()
        body.append({"type": "Image", "url": f"data:image/png;base64,{data}", "altText": "Questions per day"})
    cut = detail.text
    if detail.worst != 0:
        body.append(_heading("Worst-rated answers"))
    for a in numbers.worst[: detail.worst]:
        question = run(_cut(a.question, cut))
        if a.link and a.link.startswith("https://"):
            question |= {"selectAction": {"type": "Action.OpenUrl", "url": a.link}, "color": "accent"}
        comments = [run(f" “{_cut(c, cut)}”", isSubtle=True) for c in a.comments[: detail.comments]]
        body.append(
            paragraph(run("• "), question, run(f" ({a.ups} up, {a.downs} down)"), *comments, spacing="none")
        )
    if detail.worst != 0 and not numbers.worst:
        body.append(paragraph(run("No answer had more thumbs-down than up.", isSubtle=True)))
    if detail.gaps:
        body.append(_heading("Content gaps"))
    for g in numbers.gaps[: detail.gaps]:
        body.append(
            paragraph(
                run(f"• {_cut(g.example, cut)}"),
                run(
                    f" ({g.size} questions: {g.abstained} not found, {g.thumbs_down} thumbs-down)",
                    isSubtle=True,
                ),
                spacing="none",
            )
        )
    if detail.gaps and not numbers.gaps:
        body.append(paragraph(run("Every question was answered; none got a thumbs-down.", isSubtle=True)))
    if detail.documents or detail.flagged:
        body.append(_heading("Documents"))
    for d in numbers.most_cited[: detail.documents]:
        body.append(
            paragraph(
                run(f"• {_cut(d.title, cut)}: {d.cited} answers, {d.in_down} thumbs-down"), spacing="none"
            )
        )
    for d in numbers.stale[: detail.flagged]:
        body.append(
            paragraph(
                run(f"• Stale: {_cut(d.title, cut)} (in effect since {d.effective})", color="warning"),
                spacing="none",
            )
        )
    for d in numbers.superseded[: detail.flagged]:
        now = f"now v{d.current_version}" if d.current_version else "since removed"
        versions = ", ".join(d.cited_versions)
        body.append(
            paragraph(
                run(
                    f"• Superseded: {d.on_old_version} answers cited {_cut(d.title, cut)} v{versions}, {now}",
                    color="attention",
                ),
                spacing="none",
            )
        )
    if digest.quality is not None and detail.quality:
        body.append(_heading("Answer quality (RAGAS)"))
        for r in digest.quality.rows:
            change = f" ({r.change})" if r.change else ""
            body.append(paragraph(run(f"• {r.set}: {r.metric} {r.score:.3f}{change}"), spacing="none"))
        for note in digest.quality.notes:
            body.append(paragraph(run(_cut(note, cut), isSubtle=True), spacing="none"))
    return body


def sent_size(activity: Activity) -> int:
    """Bytes of the activity as botbuilder sends it: msrest's serialisation, then json.dumps
    with its default ensure_ascii, so every non-ASCII character counts as a 6-byte \\uXXXX
    (12 for an emoji): a card of accented or CJK text is several times its UTF-8 size."""
    return len(json.dumps(activity.serialize(), ensure_ascii=True))


def digest_activity(digest: Digest) -> Activity:
    """The digest card at the most detail that fits in a Teams message."""
    from eval.digest.charts import render_charts  # matplotlib: when a digest is posted, not at start

    small = render_charts(digest.numbers, digest.files.folder / "teams", dpi=55, names=("questions",))
    chart = small[0].path if small else None
    for detail in DETAILS:
        activity = Activity(
            type=ActivityTypes.message,
            attachments=[card(digest_card_body(digest, chart, detail))],
            summary=digest.title,
        )
        size = sent_size(activity)
        if size <= SIZE_BUDGET:
            break
    if detail != DETAILS[0]:
        logger.info("digest %s for %s shortened to fit in Teams (%d bytes)", digest.week, digest.target, size)
    return activity


async def post_digest(
    adapter: CloudAdapter, app_id: str, service_url: str, tenant_id: str, channel: str, digest: Digest
) -> str:
    """Start a thread in `channel` with the digest; returns the new conversation's id."""
    parameters = ConversationParameters(
        is_group=True,
        channel_data={"channel": {"id": channel}, "tenant": {"id": tenant_id}},
        # Drawing the small chart and sizing the card is CPU work: off the event loop.
        activity=await asyncio.to_thread(digest_activity, digest),
        tenant_id=tenant_id,
    )
    created: list[str] = []

    async def remember(context: TurnContext) -> None:
        created.append(context.activity.conversation.id)

    await adapter.create_conversation(app_id, remember, parameters, "msteams", service_url)
    return created[0] if created else ""


def answer_link(
    channel: str, message_id: str, thread: str, tenant_id: str | None = None, team_id: str | None = None
) -> str | None:
    """A deep link to an answer the bot posted as a reply in a channel thread.

    The log has the answer message's conversation and id (the channel id is the conversation
    id without a ";messageid=" thread suffix) and its thread, `<channel>;messageid=<root>`,
    whose root Teams wants as parentMessageId. Tenant and team are not in the log, nor in
    the thread's stored conversation reference: botbuilder reads Teams' conversation.tenantId
    as "tenantID" and drops it, and a reference keeps no channelData (whose teamsTeamId is the
    team's thread id anyway, not the group id that groupId wants). So they come from the
    settings: the lead's team_id and tenant_id (or the bot's only tenant).
    """
    base, _, root = thread.partition(";messageid=")
    if not root:
        return None  # a group or 1:1 chat: the leads are not in it
    path = "/".join(quote(part, safe="") for part in (conversation_base(channel) or base, message_id))
    query = {"tenantId": tenant_id, "groupId": team_id, "parentMessageId": root}
    known = urlencode({k: v for k, v in query.items() if v}, quote_via=quote)  # unknown: left out
    return f"https://teams.microsoft.com/l/message/{path}?{known}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def _heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "bolder", "spacing": "medium", "wrap": True}

"""The weekly digest in Slack: a Block Kit message with the headline and the lists, then the
charts uploaded as images in the same channel (files_upload_v2; needs `files:write`).

Questions, comments and titles are staff and document text: escaped like answers are.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import SECTION_LIMIT, escape
from eval.digest.build import Digest
from eval.digest.facts import headline_facts

logger = logging.getLogger(__name__)
_TREND = {"better": " :small_green_triangle:", "worse": " :small_red_triangle_down:", "": ""}


def digest_blocks(digest: Digest) -> list[dict[str, Any]]:
    numbers = digest.numbers
    week = numbers.week
    scope = "every channel" if numbers.scope == ("*",) else ", ".join(f"<#{c}>" for c in numbers.scope)
    fields = [
        {
            "type": "mrkdwn",
            "text": f"*{f.label}*\n{escape(f.value)}{_TREND[f.trend]}"
            + (f"\n_{escape(f.change)}_" if f.change else ""),
        }
        for f in headline_facts(numbers.headline, numbers.previous)
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": digest.title[:150]}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{week.monday:%a %d %b} to {week.days()[-1]:%a %d %b %Y} · {scope}",
                }
            ],
        },
        {"type": "section", "fields": fields},
    ]
    for title, lines in _lists(digest):
        blocks.append({"type": "divider"})
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _fit(f"*{title}*\n" + "\n".join(lines))}}
        )
    return blocks


def fallback_text(digest: Digest) -> str:
    head = digest.numbers.headline
    return f"{digest.title}: {head.questions} questions from {head.askers} askers."


async def post_digest(client: AsyncWebClient, channel: str, digest: Digest) -> str:
    """Post the message, then the charts; returns the message's ts.

    Once the message is out the digest counts as posted: a failed chart upload (no
    files:write, a network error) is logged, not raised, or the caller would release the
    week and post the whole digest again on the next tick."""
    posted = await client.chat_postMessage(
        channel=channel, text=fallback_text(digest), blocks=digest_blocks(digest), unfurl_links=False
    )
    uploads = [{"file": str(c.path), "filename": c.path.name, "title": c.title} for c in digest.files.charts]
    if uploads:
        try:
            await client.files_upload_v2(
                channel=channel, file_uploads=uploads, initial_comment=f"Charts for {digest.numbers.week}"
            )
        except Exception as error:
            logger.warning(
                "digest %s posted to %s, but its charts were not uploaded: %s", digest.week, channel, error
            )
    return str(posted["ts"])


def _lists(digest: Digest) -> list[tuple[str, list[str]]]:
    numbers = digest.numbers
    worst = [
        f"• {_linked(a.question, a.link)} ({a.ups} up, {a.downs} down)"
        + "".join(f"\n    “{escape(c)}”" for c in a.comments[:2])
        for a in numbers.worst
    ] or ["_No answer had more thumbs-down than up._"]
    gaps = [
        f"• {escape(g.example)} ({g.size} question{'s' if g.size > 1 else ''}: {g.abstained} not found, {g.thumbs_down} thumbs-down)"
        for g in numbers.gaps[:5]
    ] or ["_Every question was answered; none got a thumbs-down._"]
    documents = [
        f"• {escape(d.title)}: {d.cited} answers, {d.in_down} thumbs-down" for d in numbers.most_cited[:5]
    ]
    documents += [
        f"• :hourglass: stale: {escape(d.title)} (in effect since {escape(d.effective)})"
        for d in numbers.stale[:3]
    ]
    documents += [
        f"• :warning: superseded: {d.on_old_version} answers cited {escape(d.title)} v{escape(', '.join(d.cited_versions))}, "
        + (f"now v{escape(d.current_version)}" if d.current_version else "since removed")
        for d in numbers.superseded[:3]
    ]
    lists = [
        ("Worst-rated answers", worst),
        ("Content gaps", gaps),
        ("Documents", documents or ["_No citations._"]),
    ]
    if digest.quality is not None:
        quality = [
            f"• {escape(r.set)}: {escape(r.metric)} {r.score:.3f}" + (f" ({r.change})" if r.change else "")
            for r in digest.quality.rows
        ] + [f"_{escape(n)}_" for n in digest.quality.notes]
        lists.append(("Answer quality (RAGAS)", quality or ["_Not evaluated._"]))
    return lists


def _linked(text: str, link: str | None) -> str:
    short = escape(text if len(text) <= 120 else text[:119] + "…")
    if link and link.startswith("https://") and "|" not in link and ">" not in link:
        return f"<{link}|{short}>"
    return short


def _fit(text: str) -> str:
    return text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…"

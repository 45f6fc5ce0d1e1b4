"""Answers and desk replies as Teams messages: Adaptive Cards with the feedback loop on.

Text from documents and users goes into `TextRun`s of `RichTextBlock`s, which Teams shows
literally (no Markdown, no HTML): a passage cannot plant a link, a mention or formatting.
Links are only the citations' own sources, as explicit `Action.OpenUrl`s.
"""

from __future__ import annotations

from typing import Any

from botbuilder.schema import Activity, ActivityTypes, Attachment

from bot.desk import DeskReply
from bot.types import Answer, AnswerKind, Citation

CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"
TEXT_LIMIT = 6000  # well under Teams' ~28 KB message limit, with citations


def run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def paragraph(*inlines: dict[str, Any], spacing: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "RichTextBlock", "inlines": list(inlines)}
    if spacing:
        block["spacing"] = spacing
    return block


def citation_paragraph(c: Citation) -> dict[str, Any]:
    where = " › ".join(x for x in (c.title, c.section) if x) or c.doc_id
    title = run(where, weight="bolder" if not c.source.startswith("https://") else "default")
    if c.source.startswith("https://"):
        title["selectAction"] = {"type": "Action.OpenUrl", "url": c.source, "title": where}
        title["color"] = "accent"
    version = [run(f" · v{c.version}", isSubtle=True)] if c.version else []
    return paragraph(run(f"[{c.marker}] "), title, *version, spacing="none")


def card(body: list[dict[str, Any]]) -> Attachment:
    return Attachment(
        content_type=CARD,
        content={
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION,
            "body": body,
        },
    )


def answer_activity(answer: Answer, handoff: bool = False) -> Activity:
    """The answer card; with `handoff`, an "Ask a person" button (abstentions too)."""
    text = (
        answer.text if len(answer.text) <= TEXT_LIMIT else answer.text[:TEXT_LIMIT].rsplit(" ", 1)[0] + " …"
    )
    body = [paragraph(run(text))]
    if answer.notice:
        body.append(paragraph(run(f"⚠ {answer.notice}", isSubtle=True, size="small")))
    if answer.citations:
        body.append(paragraph(run("Sources", weight="bolder", size="small"), spacing="medium"))
        body += [citation_paragraph(c) for c in answer.citations]
    rateable = bool(answer.interaction_id) and answer.kind is not AnswerKind.FAILED
    if rateable:
        footer = f"{answer.label} " if answer.label else ""
        body.append(
            paragraph(run(f"{footer}Was this helpful? Use 👍 / 👎 below.", isSubtle=True, size="small"))
        )
    attachment = card(body)
    if handoff and answer.interaction_id and answer.kind is not AnswerKind.FAILED:
        attachment.content["actions"] = [
            {
                "type": "Action.Submit",
                "title": "Ask a person",
                "data": {"action": "ask_a_person", "interaction": answer.interaction_id},
            }
        ]
    activity = Activity(
        type=ActivityTypes.message, attachments=[attachment], summary=text[:200], text_format="plain"
    )
    if rateable:
        # Teams shows its own thumbs up/down under the message and sends a message/submitAction invoke.
        activity.channel_data = {"feedbackLoopEnabled": True}
    if answer.kind is AnswerKind.GENERATED:
        # Teams' "AI generated" label on the message.
        activity.entities = [
            {
                "type": "https://schema.org/Message",
                "@type": "Message",
                "@context": "https://schema.org",
                "@id": "",
                "additionalType": ["AIGeneratedContent"],
            }
        ]
    return activity


def reply_activity(reply: DeskReply) -> Activity:
    icon = "✅" if reply.ok else "⚠"
    lines = reply.text.splitlines() or [""]
    body = [paragraph(run(f"{icon} {lines[0]}"))] + [
        paragraph(run(line), spacing="none") for line in lines[1:]
    ]
    return Activity(type=ActivityTypes.message, attachments=[card(body)], summary=lines[0][:200])


def plain_activity(text: str) -> Activity:
    return Activity(type=ActivityTypes.message, text=text, text_format="plain")

"""Answers as Slack messages: escaped mrkdwn, citations, and feedback buttons.

Everything that comes from a document or a user is escaped (`&`, `<`, `>`), so a passage
cannot ping `@channel` (`<!channel>`), mention someone, or plant a link of its own.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.models.blocks import (
    ContextActionsBlock,
    ContextBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
    MarkdownTextObject,
    SectionBlock,
)

from adapters.text_input import valid_text
from bot.types import Answer, AnswerKind, Citation

FEEDBACK_ACTION = "answer_feedback"
HANDOFF_ACTION = "ask_a_person"
SECTION_LIMIT = 2900  # Slack refuses section text over 3,000 characters


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Message text as the poster typed it (Slack escapes these three in event payloads)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_MARKUP = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def _readable(m: re.Match[str]) -> str:
    target, label = m.group(1), m.group(2)
    if target.startswith("@"):  # a mention: the bot's own, or a person's, never part of the question
        return ""
    if target.startswith("#"):  # <#C0123|general>
        return "#" + (label or target[1:])
    if target.startswith("!"):  # <!here>, <!subteam^S01|@hr-team>, <!date^...|Nov 2>
        return label or "@" + target[1:].split("^")[0]
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    return f"{label} ({target})" if label and label != target else target  # a link keeps its address


def plain_text(text: str) -> str:
    """A message as a person reads it: Slack's markup for channels, links and mentions
    resolved, its escapes undone and its Unicode made valid; what the core and the log get."""
    return valid_text(unescape(_MARKUP.sub(_readable, text))).strip()


def citation_line(c: Citation) -> str:
    where = " › ".join(escape(x) for x in (c.title, c.section) if x)
    version = f" · v{escape(c.version)}" if c.version else ""
    if c.source.startswith(("https://", "http://")) and "|" not in c.source and ">" not in c.source:
        return f"[{c.marker}] <{c.source}|{where}>{version}"
    return f"[{c.marker}] *{where}*{version}"


def feedback_value(vote: str, interaction_id: str) -> str:
    return f"{vote}:{interaction_id}"


def parse_feedback_value(value: str) -> tuple[str, str] | None:
    vote, _, interaction_id = value.partition(":")
    return (vote, interaction_id) if vote in {"up", "down"} and interaction_id else None


def answer_blocks(answer: Answer, handoff: bool = False) -> list[dict[str, Any]]:
    """The answer; with `handoff`, an "Ask a person" button under it (abstentions too)."""
    text = escape(answer.text)
    if len(text) > SECTION_LIMIT:
        text = text[:SECTION_LIMIT].rsplit(" ", 1)[0] + " …"
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=text))]
    if answer.notice:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f":warning: {escape(answer.notice)}")]))
    if answer.citations:
        lines = "\n".join(citation_line(c) for c in answer.citations)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=lines)]))
    if answer.interaction_id and answer.kind is not AnswerKind.FAILED:
        footer = f"{escape(answer.label)} " if answer.label else ""
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=f"{footer}Was this helpful? React with :+1: or :-1:.")]
            )
        )
        blocks.append(
            ContextActionsBlock(
                elements=[
                    FeedbackButtonsElement(
                        action_id=FEEDBACK_ACTION,
                        positive_button=FeedbackButtonObject(
                            text="Helpful", value=feedback_value("up", answer.interaction_id)
                        ),
                        negative_button=FeedbackButtonObject(
                            text="Not helpful", value=feedback_value("down", answer.interaction_id)
                        ),
                    )
                ]
            )
        )
    rendered = [b.to_dict() for b in blocks]
    if handoff and answer.interaction_id and answer.kind is not AnswerKind.FAILED:
        rendered.append(handoff_button(answer.interaction_id))
    return rendered


def handoff_button(interaction_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": HANDOFF_ACTION,
                "text": {"type": "plain_text", "text": "Ask a person"},
                "value": interaction_id,
            }
        ],
    }


def answer_fallback_text(answer: Answer) -> str:
    """The notification and screen-reader text (no blocks)."""
    return escape(answer.text)[:3000]

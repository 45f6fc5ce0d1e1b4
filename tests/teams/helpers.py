"""Small helpers of the Teams tests: the card text, the bot's message ids, database counts."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.bot_connector import ConnectorCall, FakeConnector


def card_text(activity: dict[str, Any]) -> str:
    """Every TextRun of an answer card, joined (what a reader sees), plus any plain text."""
    runs: list[str] = []
    for attachment in activity.get("attachments") or []:
        for block in attachment.get("content", {}).get("body", []):
            runs += [inline.get("text", "") for inline in block.get("inlines", [])]
            runs.append(block.get("text", ""))
    return " ".join([*runs, activity.get("text") or ""])


def links(activity: dict[str, Any]) -> list[str]:
    return [
        inline["selectAction"]["url"]
        for attachment in activity.get("attachments") or []
        for block in attachment.get("content", {}).get("body", [])
        for inline in block.get("inlines", [])
        if "selectAction" in inline
    ]


def answers(connector: FakeConnector, count: int = 1, timeout: float = 60) -> list[ConnectorCall]:
    """The bot's message posts (typing left out), once there are `count`."""
    return connector.wait_for("replies", count=count, timeout=timeout)


def message_id(call: ConnectorCall) -> str:
    """The id the Bot Connector gave the bot's message: what reactions and feedback point at."""
    return str(call.response["id"])


def dump(calls: list[ConnectorCall]) -> str:
    return "\n".join(json.dumps(c.body)[:300] for c in calls)

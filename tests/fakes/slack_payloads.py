"""Requests INTO the app as Slack sends them: signed headers and Events/interactivity payloads.

Builders return what Slack puts on the wire: `event_callback` a dict (send `json.dumps` of it),
`block_actions_payload` and `slash_command_form` form-encoded strings. Sign the exact string
you send with `signed_headers`.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode

from slack_sdk.signature import SignatureVerifier

JSON = dict[str, Any]
__all__ = [
    "block_actions",
    "block_actions_payload",
    "channel_object",
    "event_callback",
    "file_object",
    "file_shared_event",
    "mention_event",
    "message_event",
    "reaction_event",
    "signed_headers",
    "slash_command_form",
    "user_object",
]
RESPONSE_URL = "https://hooks.slack.com/actions/T0TEST/1000000000001/fakeResponseUrlToken"


def signed_headers(body: str, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers that make `body` pass Bolt's request verification (5-minute replay window)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    # Slack sends Events API callbacks as JSON, interactivity and slash commands form-encoded.
    content_type = (
        "application/json" if body.lstrip().startswith("{") else "application/x-www-form-urlencoded"
    )
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": content_type}


def _event_ts(ts: str) -> JSON:
    return {"ts": ts, "event_ts": ts}


def event_callback(
    event: JSON, event_id: str, team_id: str = "T0TEST", api_app_id: str = "A0TEST", bot_user_id: str = "UBOT"
) -> JSON:
    """The Events API envelope around one event."""
    return {
        "token": "fakeVerificationToken",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(event.get("event_ts") or event.get("ts") or time.time())),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-fake-{event_id}",
    }


def _thread(thread_ts: str | None) -> JSON:
    return {"thread_ts": thread_ts} if thread_ts else {}


def mention_event(
    text: str, channel: str, user: str, ts: str, thread_ts: str | None = None, bot_user_id: str = "UBOT"
) -> JSON:
    """`app_mention`: the text starts with `<@UBOT> ` (added unless it already starts with a mention)."""
    if not text.startswith("<@"):
        text = f"<@{bot_user_id}> {text}"
    return {
        "type": "app_mention",
        "user": user,
        "text": text,
        "channel": channel,
        "team": "T0TEST",
        "client_msg_id": f"fake-{ts}",
        **_event_ts(ts),
        **_thread(thread_ts),
    }


def message_event(
    text: str,
    channel: str,
    user: str,
    ts: str,
    channel_type: str = "im",
    thread_ts: str | None = None,
    files: list[JSON] | None = None,
    subtype: str | None = None,
    bot_id: str | None = None,
) -> JSON:
    """`message` (channel_type "im", "channel", "group" or "mpim"); with `files`, subtype `file_share`."""
    event: JSON = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "channel_type": channel_type,
        "team": "T0TEST",
        **_event_ts(ts),
        **_thread(thread_ts),
    }
    if files is not None:
        event["files"] = files
        event["upload"] = False
        subtype = subtype or "file_share"
    if subtype:
        event["subtype"] = subtype
    if bot_id:
        event["bot_id"] = bot_id
    else:
        event["client_msg_id"] = f"fake-{ts}"
    return event


def reaction_event(
    kind: str, reaction: str, user: str, channel: str, ts: str, item_user: str = "UBOT"
) -> JSON:
    """`reaction_added` / `reaction_removed` on the message `ts` in `channel`."""
    assert kind in ("reaction_added", "reaction_removed"), kind
    return {
        "type": kind,
        "user": user,
        "reaction": reaction,
        "item_user": item_user,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": f"{float(ts) + 1:.6f}",
    }


def file_shared_event(file_id: str, user: str, channel: str, event_ts: str) -> JSON:
    return {
        "type": "file_shared",
        "file_id": file_id,
        "file": {"id": file_id},
        "user_id": user,
        "channel_id": channel,
        "event_ts": event_ts,
    }


def block_actions(
    action_id: str,
    value: str,
    user: str,
    channel: str,
    message_ts: str,
    *,
    block_id: str = "actions",
    action_type: str = "button",
    response_url: str = RESPONSE_URL,
    message: JSON | None = None,
) -> JSON:
    """The decoded `block_actions` payload for a click on a bot message."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0TEST"},
        "api_app_id": "A0TEST",
        "token": "fakeVerificationToken",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"1000000000.1.fake{message_ts}",
        "team": {"id": "T0TEST", "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": channel.lower()},
        "message": message
        or {"type": "message", "user": "UBOT", "bot_id": "BBOT", "text": "", "ts": message_ts, "blocks": []},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "type": action_type,
                "action_ts": f"{float(message_ts) + 5:.6f}",
            }
        ],
    }


def block_actions_payload(
    action_id: str, value: str, user: str, channel: str, message_ts: str, **kw: Any
) -> str:
    """The form-encoded body (`payload=<json>`) Slack POSTs for a block action."""
    return urlencode(
        {"payload": json.dumps(block_actions(action_id, value, user, channel, message_ts, **kw))}
    )


def slash_command_form(
    command: str, text: str, user: str, channel: str, response_url: str = RESPONSE_URL
) -> str:
    """The form-encoded body Slack POSTs for a slash command."""
    return urlencode(
        {
            "token": "fakeVerificationToken",
            "team_id": "T0TEST",
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0TEST",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"1000000000.1.{uuid.uuid4().hex[:12]}",  # unique per invocation, as Slack's
        }
    )


# Objects as the Web API returns them (files.info, users.info, conversations.info).
def file_object(
    file_id: str, name: str, filetype: str, mimetype: str, size: int, user: str, team_id: str, base_url: str
) -> JSON:
    base, quoted = f"{base_url}/files-pri/{team_id}-{file_id}", quote(name)
    return {
        **{"id": file_id, "created": 1700000000, "timestamp": 1700000000, "name": name, "title": name},
        **{"mimetype": mimetype, "filetype": filetype, "pretty_type": filetype.upper(), "user": user},
        **{"user_team": team_id, "editable": False, "size": size, "mode": "hosted", "is_external": False},
        **{"external_type": "", "is_public": False, "public_url_shared": False, "display_as_bot": False},
        "url_private": f"{base}/{quoted}",
        "url_private_download": f"{base}/download/{quoted}",
        "permalink": f"https://fake.slack.com/files/{user}/{file_id}/{quoted}",
        **{"username": "", "channels": [], "groups": [], "ims": [], "comments_count": 0},
    }


def user_object(
    user_id: str, team_id: str, name: str | None = None, email: str | None = None, is_bot: bool = False
) -> JSON:
    name = name or user_id.lower()
    profile = {"real_name": name, "display_name": name, "email": email or f"{user_id.lower()}@example.com"}
    return {
        **{"id": user_id, "team_id": team_id, "name": name, "real_name": name, "deleted": False},
        **{"tz": "Europe/London", "is_bot": is_bot, "is_admin": False, "is_restricted": False},
        "profile": {**profile, "team": team_id},
    }


def channel_object(
    channel_id: str, team_id: str, name: str | None = None, is_private: bool | None = None
) -> JSON:
    base = {"id": channel_id, "created": 1700000000, "is_archived": False, "is_org_shared": False}
    if channel_id.startswith("D"):
        return {**base, "is_im": True, "is_channel": False, "is_group": False, "is_private": True}
    private = channel_id.startswith("G") if is_private is None else is_private
    name = name or f"chan-{channel_id.lower()}"
    empty = {"value": "", "creator": "", "last_set": 0}
    return {
        **base,
        **{"name": name, "name_normalized": name, "is_channel": not private, "is_group": private},
        **{"is_im": False, "is_mpim": False, "is_private": private, "is_general": False},
        **{"is_member": True, "context_team_id": team_id, "topic": empty, "purpose": dict(empty)},
    }

"""Reading Teams activities: where a message came from, who sent it, what it says.

Pure functions over botbuilder's `Activity`, so the handler stays a short translation and
the rules (which id decides the access scope, what counts as a vote) are tested directly.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from adapters.text_input import valid_text
from bot.settings import TeamsSettings
from bot.types import VoteValue

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
FEEDBACK_INVOKE = "message/submitAction"
TEAMS_CHANNEL = "msteams"
CHANNEL_FILE = "Teams does not give bots files posted in channels; send it to me in a 1:1 chat instead."
_TAGS = re.compile(r"<[^>]+>")
_BREAKS = re.compile(r"<br\s*/?>|</(?:p|div|li|tr|h[1-6])>", re.IGNORECASE)


@dataclass(frozen=True)
class Where:
    """The access scope, the thread and the kind of conversation of an activity."""

    scope: str  # the id mapped in access.groups: the Teams channel, the chat, or the personal scope
    thread: str  # a channel thread, or the whole chat
    kind: str  # "channel", "groupChat" or "personal"
    conversation: str  # the conversation id without its thread suffix: where message ids are unique

    def is_root(self, activity: Activity) -> bool:
        """A new channel post (not a reply in a thread): its id is the thread's root id."""
        return self.kind == "channel" and self.thread.endswith(f";messageid={activity.id}")


def conversation_base(conversation_id: str) -> str:
    """`19:x@thread.tacv2;messageid=17...` names a channel thread; messages are unique per channel."""
    return conversation_id.split(";", 1)[0]


def where(activity: Activity, settings: TeamsSettings) -> Where:
    conversation = activity.conversation
    conversation_id = conversation.id if conversation else ""
    kind = (conversation.conversation_type if conversation else None) or "personal"
    base = conversation_base(conversation_id)
    if kind == "channel":
        data = activity.channel_data or {}
        channel = (data.get("channel") or {}).get("id") or data.get("teamsChannelId") or base
        return Where(channel, conversation_id, kind, base)
    if kind == "personal":
        return Where(settings.personal_scope_channel, conversation_id, kind, base)
    return Where(base, conversation_id, kind, base)  # group chats are mapped by conversation id


def tenant_of(activity: Activity) -> str:
    conversation = activity.conversation
    if conversation is not None and conversation.tenant_id:
        return str(conversation.tenant_id)
    return str(((activity.channel_data or {}).get("tenant") or {}).get("id") or "")


def foreign(activity: Activity, tenants: frozenset[str]) -> str:
    """Why an activity is not from Teams in one of our tenants ("" when it is)."""
    if activity.channel_id != TEAMS_CHANNEL:
        return f"channel {activity.channel_id!r} is not Teams"
    tenant = tenant_of(activity)
    if tenant.lower() not in {t.lower() for t in tenants}:
        return f"tenant {tenant or '(none)'} is not allowed"
    return ""


def text_of(activity: Activity) -> str:
    """The message as typed: the bot's @-mention removed, Teams' light HTML flattened."""
    text = TurnContext.remove_recipient_mention(activity) if activity.recipient else activity.text
    text = _BREAKS.sub("\n", text or "")
    return valid_text(html.unescape(_TAGS.sub("", text)).replace("\xa0", " ")).strip()


def user_ids(activity: Activity) -> tuple[str, ...]:
    """The sender's ids, the stable Entra object id first: posters may be listed by either."""
    sender = activity.from_property
    if sender is None:
        return ()
    return tuple(x for x in (sender.aad_object_id, sender.id) if x)


def asker_names(activity: Activity) -> tuple[str, ...]:
    """The sender's display name, which Teams sends with every message (for scrubbing later)."""
    sender = activity.from_property
    name = (sender.name or "").strip() if sender is not None else ""
    return (name,) if name else ()


def from_a_bot(activity: Activity) -> bool:
    sender, recipient = activity.from_property, activity.recipient
    if sender is None:
        return True
    return (sender.role or "").lower() == "bot" or (recipient is not None and sender.id == recipient.id)


def event_key(activity: Activity) -> str | None:
    """A key for deduplication: Bot Framework redelivers activities it thinks failed. Message
    ids are unique per conversation, not globally, so the conversation is part of it."""
    if not activity.id:
        return None
    conversation = conversation_base(activity.conversation.id) if activity.conversation else ""
    key = f"{conversation}|{activity.type}|{activity.id}"
    return key if len(key) <= 200 else hashlib.sha256(key.encode()).hexdigest()


def reaction_vote(reaction_type: str | None, settings: TeamsSettings) -> VoteValue | None:
    name = (reaction_type or "").lower()
    if name in {r.lower() for r in settings.up_reactions}:
        return VoteValue.UP
    if name in {r.lower() for r in settings.down_reactions}:
        return VoteValue.DOWN
    return None


@dataclass(frozen=True)
class Feedback:
    value: VoteValue
    comment: str


def feedback_of(activity: Activity) -> Feedback | None:
    """The Teams feedback loop's invoke: like or dislike, with the optional text the user typed."""
    if activity.name != FEEDBACK_INVOKE or not isinstance(activity.value, dict):
        return None
    if activity.value.get("actionName") != "feedback":
        return None
    action = activity.value.get("actionValue") or {}
    reaction = action.get("reaction")
    if reaction not in {"like", "dislike"}:
        return None
    comment = ""
    raw = action.get("feedback")
    if isinstance(raw, str) and raw:
        try:
            parsed: Any = json.loads(raw)
            comment = str(parsed.get("feedbackText", "")) if isinstance(parsed, dict) else raw
        except ValueError:
            comment = raw
    elif isinstance(raw, dict):
        comment = str(raw.get("feedbackText", ""))
    return Feedback(VoteValue.UP if reaction == "like" else VoteValue.DOWN, comment.strip())


@dataclass(frozen=True)
class PostedLink:
    name: str
    url: str
    file_type: str


def channel_files(activity: Activity) -> list[str]:
    """Names of files attached the way channel posts carry them: SharePoint `reference`
    links, which a bot cannot fetch without Graph permissions. (Pasted images are not files.)"""
    return [a.name or "a file" for a in activity.attachments or [] if a.content_type == "reference"]


def file_links(activity: Activity) -> list[PostedLink]:
    """Files attached to a message: Teams hands bots a pre-authenticated download URL."""
    links = []
    for attachment in activity.attachments or []:
        if attachment.content_type != FILE_DOWNLOAD_INFO or not isinstance(attachment.content, dict):
            continue
        content = attachment.content
        name = attachment.name or f"file.{content.get('fileType', 'bin')}"
        links.append(PostedLink(name, str(content.get("downloadUrl", "")), str(content.get("fileType", ""))))
    return links

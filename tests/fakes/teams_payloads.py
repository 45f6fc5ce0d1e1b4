"""Activities INTO the bot as the Teams channel sends them: plain dicts, ready for `json.dumps`.

Shapes follow botbuilder-schema's Activity / TeamsChannelData and Microsoft's documented payloads:
* channel: `conversation.id` is the reply chain, "<channel id>;messageid=<root message id>"; a new
  post's id is that root id. Replies in the thread keep the same conversation id and, as in Teams,
  usually carry no `replyToId` (pass `replyToId=...` if a test needs one). channelData has
  channel/team/tenant (+ the legacy teamsChannelId/teamsTeamId).
* personal (1:1): conversation "a:…", conversationType "personal", no isGroup, no mention.
* groupChat: conversation "19:…@thread.v2", isGroup, the bot is @mentioned.
* The user's text comes with the bot mention as `<at>supportbot</at>` in `text` plus a "mention"
  entity; Teams also sends an HTML copy of the message as a "text/html" attachment (not a file).
* Files in 1:1/group chats arrive as an attachment "application/vnd.microsoft.teams.file.download.info"
  whose `content.downloadUrl` needs no auth (serve one with FakeConnector.add_file). (In real
  channels files arrive as SharePoint links instead; `file_message(scope="channel")` is for tests.)
Every builder takes `service_url` (FakeConnector.service_url) and gives each activity a new `id`.
Extra keyword arguments are set on the activity's top level, replacing what the builder made.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import uuid
from typing import Any, Literal

JSON = dict[str, Any]
Scope = Literal["personal", "groupChat", "channel"]

__all__ = [
    "BOT_NAME",
    "FILE_DOWNLOAD_INFO",
    "TEAM_ID",
    "TENANT_ID",
    "channel_mention",
    "feedback_invoke",
    "file_message",
    "group_chat_message",
    "mention_entity",
    "new_activity_id",
    "personal_message",
    "reaction",
]

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
TENANT_ID = "72f988bf-0000-4000-8000-00000000c0de"
TEAM_ID = "19:team-general@thread.tacv2"  # a team's id is its General channel's thread id
CHANNEL_ID = "19:eng@thread.tacv2"
CHAT_ID = "19:chat-1@thread.v2"
BOT_NAME = "supportbot"
BOT_APP_ID = "00000000-0000-0000-0000-00000000b07a"
USER_ID = "29:user-1"
USER_AAD_ID = "00000000-0000-0000-0000-0000000000a1"
USER_NAME = "Alice Example"

# Teams message ids are millisecond timestamps; these stay in 2023, FakeConnector's in the present.
_ids = itertools.count(1_700_000_000_001)


def new_activity_id() -> str:
    return str(next(_ids))


def _now() -> tuple[str, str]:
    now = dt.datetime.now(dt.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z"), now.astimezone().isoformat(
        timespec="milliseconds"
    )


def mention_entity(account_id: str, name: str) -> JSON:
    return {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": account_id, "name": name}}


def _client_info() -> JSON:
    return {
        "type": "clientInfo",
        "locale": "en-US",
        "country": "US",
        "platform": "Web",
        "timezone": "Europe/Berlin",
    }


def _html_copy(text: str, bot_name: str) -> JSON:
    """The "text/html" attachment Teams adds to a message with formatting or mentions."""
    tag = f"<at>{bot_name}</at>"
    mention = f'<span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="0">{html.escape(bot_name)}</span>'
    body = html.escape(text).replace(html.escape(tag), mention)
    return {"contentType": "text/html", "content": f"<p>{body}</p>"}


def _activity(
    activity_type: str,
    scope: Scope,
    *,
    service_url: str,
    bot_app_id: str,
    bot_name: str,
    user_id: str,
    aad_id: str,
    user_name: str,
    tenant_id: str,
    activity_id: str | None,
    conversation_id: str | None,
    channel_id: str,
    team_id: str,
    chat_id: str,
    thread_root: str | None,
) -> JSON:
    """The envelope every Teams activity shares, for one conversation scope."""
    activity_id = activity_id or new_activity_id()
    timestamp, local = _now()
    conversation: JSON = {"conversationType": scope, "tenantId": tenant_id}
    channel_data: JSON = {"tenant": {"id": tenant_id}}
    if scope == "personal":
        conversation["id"] = (
            conversation_id or f"a:1{uuid.uuid5(uuid.NAMESPACE_URL, user_id + bot_app_id).hex}"
        )
    elif scope == "groupChat":
        conversation |= {"isGroup": True, "id": conversation_id or chat_id}
    else:
        root = thread_root or activity_id
        conversation |= {"isGroup": True, "id": conversation_id or f"{channel_id};messageid={root}"}
        channel_data = {
            "teamsChannelId": channel_id,
            "teamsTeamId": team_id,
            "channel": {"id": channel_id},
            "team": {"id": team_id},
            "tenant": {"id": tenant_id},
        }
    return {
        "type": activity_type,
        "id": activity_id,
        "timestamp": timestamp,
        "localTimestamp": local,
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": user_id, "name": user_name, "aadObjectId": aad_id},
        "conversation": conversation,
        "recipient": {"id": f"28:{bot_app_id}", "name": bot_name},
        "entities": [_client_info()],
        "channelData": channel_data,
        "locale": "en-US",
        "localTimezone": "Europe/Berlin",
    }


def _message(
    activity: JSON, text: str, *, bot_app_id: str, bot_name: str, mention: bool, html_copy: bool
) -> JSON:
    tag = f"<at>{bot_name}</at>"
    if mention and tag not in text:
        text = f"{tag} {text}".rstrip()
    activity |= {"text": text, "textFormat": "plain", "attachments": []}
    if mention:
        activity["entities"] = [mention_entity(f"28:{bot_app_id}", bot_name), *activity["entities"]]
    if html_copy and text:
        activity["attachments"].append(_html_copy(text, bot_name))
    return activity


def channel_mention(
    text: str,
    *,
    service_url: str,
    bot_app_id: str = BOT_APP_ID,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    user_id: str = USER_ID,
    aad_id: str = USER_AAD_ID,
    user_name: str = USER_NAME,
    activity_id: str | None = None,
    bot_name: str = BOT_NAME,
    tenant_id: str = TENANT_ID,
    reply_to_thread: str | None = None,
    html_copy: bool = True,
    **fields: Any,
) -> JSON:
    """A channel message @mentioning the bot: a new post, or (`reply_to_thread=<root id>`) a thread reply.

    `text` gets "<at>supportbot</at> " in front unless it already holds the mention.
    """
    activity = _activity(
        "message",
        "channel",
        service_url=service_url,
        bot_app_id=bot_app_id,
        bot_name=bot_name,
        user_id=user_id,
        aad_id=aad_id,
        user_name=user_name,
        tenant_id=tenant_id,
        activity_id=activity_id,
        conversation_id=None,
        channel_id=channel_id,
        team_id=team_id,
        chat_id=CHAT_ID,
        thread_root=reply_to_thread,
    )
    return (
        _message(activity, text, bot_app_id=bot_app_id, bot_name=bot_name, mention=True, html_copy=html_copy)
        | fields
    )


def personal_message(
    text: str,
    *,
    service_url: str,
    bot_app_id: str = BOT_APP_ID,
    user_id: str = USER_ID,
    aad_id: str = USER_AAD_ID,
    user_name: str = USER_NAME,
    conversation_id: str | None = None,
    activity_id: str | None = None,
    bot_name: str = BOT_NAME,
    tenant_id: str = TENANT_ID,
    **fields: Any,
) -> JSON:
    """A 1:1 chat message (no mention); the conversation id is stable per user and bot."""
    activity = _activity(
        "message",
        "personal",
        service_url=service_url,
        bot_app_id=bot_app_id,
        bot_name=bot_name,
        user_id=user_id,
        aad_id=aad_id,
        user_name=user_name,
        tenant_id=tenant_id,
        activity_id=activity_id,
        conversation_id=conversation_id,
        channel_id=CHANNEL_ID,
        team_id=TEAM_ID,
        chat_id=CHAT_ID,
        thread_root=None,
    )
    return (
        _message(activity, text, bot_app_id=bot_app_id, bot_name=bot_name, mention=False, html_copy=False)
        | fields
    )


def group_chat_message(
    text: str,
    *,
    service_url: str,
    bot_app_id: str = BOT_APP_ID,
    chat_id: str = CHAT_ID,
    user_id: str = USER_ID,
    aad_id: str = USER_AAD_ID,
    user_name: str = USER_NAME,
    activity_id: str | None = None,
    bot_name: str = BOT_NAME,
    tenant_id: str = TENANT_ID,
    mention: bool = True,
    html_copy: bool = True,
    **fields: Any,
) -> JSON:
    """A group chat message, @mentioning the bot unless `mention=False` (bots with RSC see those too)."""
    activity = _activity(
        "message",
        "groupChat",
        service_url=service_url,
        bot_app_id=bot_app_id,
        bot_name=bot_name,
        user_id=user_id,
        aad_id=aad_id,
        user_name=user_name,
        tenant_id=tenant_id,
        activity_id=activity_id,
        conversation_id=None,
        channel_id=CHANNEL_ID,
        team_id=TEAM_ID,
        chat_id=chat_id,
        thread_root=None,
    )
    return (
        _message(
            activity, text, bot_app_id=bot_app_id, bot_name=bot_name, mention=mention, html_copy=html_copy
        )
        | fields
    )


def file_message(
    name: str,
    download_url: str,
    *,
    service_url: str,
    text: str = "",
    scope: Scope = "personal",
    file_type: str | None = None,
    unique_id: str | None = None,
    bot_app_id: str = BOT_APP_ID,
    user_id: str = USER_ID,
    aad_id: str = USER_AAD_ID,
    user_name: str = USER_NAME,
    activity_id: str | None = None,
    bot_name: str = BOT_NAME,
    tenant_id: str = TENANT_ID,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    chat_id: str = CHAT_ID,
    reply_to_thread: str | None = None,
    **fields: Any,
) -> JSON:
    """A message carrying one uploaded file (`download_url`: e.g. FakeConnector.add_file's), with optional text."""
    activity = _activity(
        "message",
        scope,
        service_url=service_url,
        bot_app_id=bot_app_id,
        bot_name=bot_name,
        user_id=user_id,
        aad_id=aad_id,
        user_name=user_name,
        tenant_id=tenant_id,
        activity_id=activity_id,
        conversation_id=None,
        channel_id=channel_id,
        team_id=team_id,
        chat_id=chat_id,
        thread_root=reply_to_thread,
    )
    mention = scope != "personal"
    activity = _message(
        activity, text, bot_app_id=bot_app_id, bot_name=bot_name, mention=mention, html_copy=mention
    )
    owner = user_name.lower().replace(" ", "_")
    attachment = {
        "contentType": FILE_DOWNLOAD_INFO,
        "contentUrl": f"https://contoso.sharepoint.com/personal/{owner}_contoso_com/Documents/Microsoft Teams Chat Files/{name}",
        "name": name,
        "content": {
            "downloadUrl": download_url,
            "uniqueId": unique_id or str(uuid.uuid4()).upper(),
            "fileType": file_type or (name.rsplit(".", 1)[-1].lower() if "." in name else ""),
        },
    }
    activity["attachments"] = [attachment, *activity["attachments"]]
    return activity | fields


def reaction(
    added: bool = True,
    reaction_type: str = "like",
    *,
    reply_to_id: str,
    service_url: str,
    scope: Scope = "personal",
    conversation_id: str | None = None,
    bot_app_id: str = BOT_APP_ID,
    user_id: str = USER_ID,
    aad_id: str = USER_AAD_ID,
    user_name: str = USER_NAME,
    activity_id: str | None = None,
    bot_name: str = BOT_NAME,
    tenant_id: str = TENANT_ID,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    chat_id: str = CHAT_ID,
    **fields: Any,
) -> JSON:
    """A messageReaction on the bot's message `reply_to_id` (types: like, heart, laugh, surprised, sad, angry).

    Pass the conversation id the bot replied in as `conversation_id` (for a channel thread:
    "<channel>;messageid=<root>"); by default the scope's usual conversation.
    """
    activity = _activity(
        "messageReaction",
        scope,
        service_url=service_url,
        bot_app_id=bot_app_id,
        bot_name=bot_name,
        user_id=user_id,
        aad_id=aad_id,
        user_name=user_name,
        tenant_id=tenant_id,
        activity_id=activity_id or f"f:{uuid.uuid4().hex[:8]}",
        conversation_id=conversation_id or (channel_id if scope == "channel" else None),
        channel_id=channel_id,
        team_id=team_id,
        chat_id=chat_id,
        thread_root=None,
    )
    key = "reactionsAdded" if added else "reactionsRemoved"
    activity |= {key: [{"type": reaction_type}], "replyToId": reply_to_id}
    return activity | fields


def feedback_invoke(
    reaction: Literal["like", "dislike"] = "like",
    feedback_text: str | None = None,
    *,
    reply_to_id: str,
    service_url: str,
    scope: Scope = "personal",
    conversation_id: str | None = None,
    bot_app_id: str = BOT_APP_ID,
    user_id: str = USER_ID,
    aad_id: str = USER_AAD_ID,
    user_name: str = USER_NAME,
    activity_id: str | None = None,
    bot_name: str = BOT_NAME,
    tenant_id: str = TENANT_ID,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    chat_id: str = CHAT_ID,
    **fields: Any,
) -> JSON:
    """The feedback-loop invoke Teams sends when a user submits 👍/👎 on a bot message (`reply_to_id`).

    `conversation_id`: as for `reaction`. `value.actionValue.feedback` is a JSON *string*: {"feedbackText": "..."}. The bot must answer
    the invoke with HTTP 200 (an InvokeResponse), or Teams shows the user an error.
    """
    activity = _activity(
        "invoke",
        scope,
        service_url=service_url,
        bot_app_id=bot_app_id,
        bot_name=bot_name,
        user_id=user_id,
        aad_id=aad_id,
        user_name=user_name,
        tenant_id=tenant_id,
        activity_id=activity_id or f"f:{uuid.uuid4().hex[:8]}",
        conversation_id=conversation_id or (channel_id if scope == "channel" else None),
        channel_id=channel_id,
        team_id=team_id,
        chat_id=chat_id,
        thread_root=None,
    )
    feedback = json.dumps({"feedbackText": feedback_text or ""})
    value = {"actionName": "feedback", "actionValue": {"reaction": reaction, "feedback": feedback}}
    activity |= {"name": "message/submitAction", "value": value, "replyToId": reply_to_id}
    return activity | fields

"""The Teams fakes, checked through the real botbuilder/botframework/MSAL code with JWT validation on.

FakeIdentity plays login.botframework.com (inbound token keys) and login.microsoftonline.com (the
bot's outbound client-credentials tokens); FakeConnector plays the Bot Connector the bot replies to;
teams_payloads builds what Teams posts. A real CloudAdapter with ConfigurationBotFrameworkAuthentication
runs on aiohttp on loopback between them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
import msal
import pytest
import requests
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler, teams_get_channel_id, teams_get_team_info
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse, MessageReaction
from botbuilder.schema.teams import TeamsChannelData
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials, PasswordServiceClientCredentialFactory
from botframework.connector.models import ErrorResponseException
from jwt.algorithms import RSAAlgorithm

from tests.fakes import teams_payloads as teams
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.ms_identity import BOT_FRAMEWORK_SCOPE, FakeIdentity

APP_ID = "00000000-0000-0000-0000-00000000b07a"
PASSWORD = "s3cret~value"
ST_APP_ID = "00000000-0000-0000-0000-0000000057a1"  # a SingleTenant app
ST_PASSWORD = "single~tenant~secret"
ST_TENANT = "11111111-2222-3333-4444-555555555555"
SERVICE_URL = "https://smba.trafficmanager.net/emea/"  # for authenticate_request only: never called


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeIdentity]:
    with FakeIdentity(apps={APP_ID: PASSWORD, ST_APP_ID: ST_PASSWORD}) as server:
        yield server


@pytest.fixture(autouse=True)
def _trust_fake_identity(idp: FakeIdentity, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", idp.ca_bundle)


@pytest.fixture
def connector(idp: FakeIdentity) -> Iterator[FakeConnector]:
    with FakeConnector(identity=idp) as server:
        yield server


def authenticate(idp: FakeIdentity, activity: dict[str, Any], auth_header: str | None) -> Any:
    auth = ConfigurationBotFrameworkAuthentication(idp.config(APP_ID, PASSWORD))
    return asyncio.run(auth.authenticate_request(Activity().deserialize(activity), auth_header))


# The identity fake on its own.


def test_openid_metadata_and_jwks_are_shaped_like_login_botframework_com(idp: FakeIdentity) -> None:
    metadata = requests.get(idp.openid_metadata_url, timeout=5).json()
    assert metadata["issuer"] == "https://api.botframework.com"
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    [key] = requests.get(metadata["jwks_uri"], timeout=5).json()["keys"]
    assert (key["kty"], key["use"], key["kid"], key["endorsements"]) == ("RSA", "sig", idp.kid, ["msteams"])
    assert key["x5c"] and key["x5t"] and key["n"] and key["e"] == "AQAB"
    RSAAlgorithm.from_jwk(json.dumps(key))  # how botframework parses it (n/e; x5c is ignored)
    assert idp.unknown_kid != idp.kid


def test_token_endpoint_answers_like_aad(idp: FakeIdentity) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": APP_ID,
        "scope": "https://api.botframework.com/.default",
    }
    ok = requests.post(idp.token_url(), data=form | {"client_secret": PASSWORD}, timeout=5)
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 3599
    claims = idp.verify_access_token(ok.json()["access_token"])
    assert claims is not None and (claims["appid"], claims["tid"]) == (APP_ID, "botframework.com")

    wrong = requests.post(idp.token_url(), data=form | {"client_secret": "nope"}, timeout=5)
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client" and wrong.json()["error_codes"] == [7000215]
    unknown = requests.post(
        idp.token_url(), data=form | {"client_id": "nobody", "client_secret": "x"}, timeout=5
    )
    assert (unknown.status_code, unknown.json()["error"]) == (400, "unauthorized_client")
    scope = requests.post(idp.token_url(), data=form | {"client_secret": PASSWORD, "scope": "x"}, timeout=5)
    assert (scope.status_code, scope.json()["error"]) == (400, "invalid_scope")
    assert [(r.client_id, r.status, r.error) for r in idp.token_requests[-4:]] == [
        (APP_ID, 200, None),
        (APP_ID, 401, "invalid_client"),
        ("nobody", 400, "unauthorized_client"),
        (APP_ID, 400, "invalid_scope"),
    ]
    assert idp.verify_access_token(idp.channel_token(APP_ID, SERVICE_URL)) is None  # not an access token


def test_msal_gets_tokens_offline_from_the_login_url(idp: FakeIdentity) -> None:
    idp.register("app-msal", "pw")
    app = msal.ConfidentialClientApplication(
        "app-msal", client_credential="pw", authority=idp.login_url("t-1")
    )
    result = app.acquire_token_for_client(scopes=["https://api.botframework.com/.default"])
    assert "access_token" in result, result
    assert idp.token_requests[-1].tenant == "t-1"
    bad = msal.ConfidentialClientApplication(
        "app-msal", client_credential="x", authority=idp.login_url("t-1")
    )
    assert (
        bad.acquire_token_for_client(scopes=["https://api.botframework.com/.default"])["error"]
        == "invalid_client"
    )
    idp.fail_token_requests(status=503)
    flaky = msal.ConfidentialClientApplication(
        "app-msal", client_credential="pw", authority=idp.login_url("t-1")
    )
    with pytest.raises(msal.exceptions.MsalServiceError, match="503"):  # MSAL raises on 5xx, returns 4xx
        flaky.acquire_token_for_client(scopes=["https://api.botframework.com/.default"])
    assert idp.token_requests[-1].error == "temporarily_unavailable"
    # Tenant discovery and token requests only: no instance discovery (it would go to the internet).
    assert all("/discovery/instance" not in hit for hit in idp.hits)


# Inbound: ConfigurationBotFrameworkAuthentication.authenticate_request against the fake's keys.


def test_channel_token_is_accepted(idp: FakeIdentity) -> None:
    activity = teams.channel_mention("hi", service_url=SERVICE_URL, bot_app_id=APP_ID)
    result = authenticate(idp, activity, "Bearer " + idp.channel_token(APP_ID, SERVICE_URL))
    claims = result.claims_identity.claims
    assert (claims["aud"], claims["iss"], claims["serviceurl"]) == (
        APP_ID,
        "https://api.botframework.com",
        SERVICE_URL,
    )
    assert result.audience == BOT_FRAMEWORK_SCOPE
    assert result.caller_id == "urn:botframework:azure"


def test_expiry_within_five_minutes_of_clock_skew_is_still_accepted(idp: FakeIdentity) -> None:
    activity = teams.personal_message("hi", service_url=SERVICE_URL, bot_app_id=APP_ID)
    authenticate(idp, activity, "Bearer " + idp.channel_token(APP_ID, SERVICE_URL, expires_in=-60))


REJECTIONS = {
    # name: (token arguments, activity changes, exception type the SDK raises, message)
    "wrong audience": ({"audience": "someone-else"}, {}, PermissionError, "Invalid AppId"),
    "expired": ({"expires_in": -400}, {}, jwt.ExpiredSignatureError, "expired"),
    "wrong serviceurl": ({}, {"serviceUrl": "https://evil.example/"}, PermissionError, "serviceurl"),
    "wrong issuer": ({"issuer": "https://sts.example/"}, {}, PermissionError, "Identity missing"),
    "unknown kid": ({"unknown_key": True}, {}, IndexError, "list index out of range"),
    "forged signature": (
        {"unknown_key": True, "kid": "published"},
        {},
        jwt.InvalidSignatureError,
        "Signature",
    ),
    "channel not endorsed": ({}, {"channelId": "slack"}, Exception, "Could not validate endorsement key"),
}


@pytest.mark.parametrize("case", REJECTIONS, ids=list(REJECTIONS))
def test_bad_channel_tokens_are_refused(idp: FakeIdentity, case: str) -> None:
    token_args, changes, error, message = REJECTIONS[case]
    if token_args.get("kid") == "published":
        token_args = token_args | {"kid": idp.kid}
    activity = teams.channel_mention("hi", service_url=SERVICE_URL, bot_app_id=APP_ID) | changes
    token = idp.channel_token(APP_ID, SERVICE_URL, **token_args)
    with pytest.raises(Exception, match=message) as raised:
        authenticate(idp, activity, "Bearer " + token)
    assert type(raised.value) is error


# An empty header (what CloudAdapter passes when there is none) or a bare "Bearer" trips an SDK
# bug (`None.claims`): an AttributeError, not a PermissionError.
HEADERS = {"None": (None, PermissionError), "empty": ("", AttributeError)}
HEADERS |= {"bare Bearer": ("Bearer", AttributeError), "Basic": ("Basic abc", PermissionError)}


@pytest.mark.parametrize("case", HEADERS, ids=list(HEADERS))
def test_missing_or_malformed_header_is_refused(idp: FakeIdentity, case: str) -> None:
    header, error = HEADERS[case]
    activity = teams.personal_message("hi", service_url=SERVICE_URL, bot_app_id=APP_ID)
    with pytest.raises(Exception) as raised:
        authenticate(idp, activity, header)
    assert type(raised.value) is error


# The connector fake, through the real aio ConnectorClient.


async def connector_client(idp: FakeIdentity, connector: FakeConnector) -> ConnectorClient:
    credentials = await PasswordServiceClientCredentialFactory(APP_ID, PASSWORD).create_credentials(
        APP_ID, BOT_FRAMEWORK_SCOPE, idp.login_url(), False
    )
    return ConnectorClient(credentials, base_url=connector.service_url)


def test_connector_records_activity_calls_with_decoded_ids(
    idp: FakeIdentity, connector: FakeConnector
) -> None:
    thread = "19:abc@thread.tacv2;messageid=1700000000000"

    async def converse() -> list[Any]:
        client = await connector_client(idp, connector)
        async with client:
            typing = await client.conversations.reply_to_activity(
                thread, "1700000000000", Activity(type="typing")
            )
            reply = await client.conversations.reply_to_activity(
                thread, "1700000000000", Activity(type="message", text="first")
            )
            sent = await client.conversations.send_to_conversation(
                "a:1xyz", Activity(type="message", text="dm")
            )
            updated = await client.conversations.update_activity(
                thread, reply.id, Activity(type="message", id=reply.id, text="edited")
            )
            await client.conversations.delete_activity(thread, sent.id)
            return [typing, reply, sent, updated]

    typing, reply, sent, updated = asyncio.run(converse())
    assert int(typing.id) < int(reply.id) < int(sent.id) and updated.id == reply.id
    kinds = [c.kind for c in connector.calls]
    assert kinds == [
        "reply_to_activity",
        "reply_to_activity",
        "send_to_conversation",
        "update_activity",
        "delete_activity",
    ]
    first = connector.wait_for("reply_to_activity", count=2)[1]
    assert first.path == (
        "/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D1700000000000/activities/1700000000000"
    )
    assert (first.conversation_id, first.activity_id, first.status) == (thread, "1700000000000", 201)
    assert first.response == {"id": reply.id}
    assert first.authorization.startswith("Bearer ") and first.token_valid is True
    assert connector.calls[3].body["text"] == "edited" and connector.calls[4].activity_id == sent.id
    assert [a["type"] for a in connector.sent()] == ["typing", "message", "message"]
    assert [a["text"] for a in connector.replies()] == ["first", "dm"]
    assert len(connector.wait_for("replies", count=2)) == 2


def test_scripted_failures_and_rate_limits(idp: FakeIdentity, connector: FakeConnector) -> None:
    connector.fail("reply_to_activity", status=500)
    connector.rate_limit(times=1, retry_after=7)
    connector.fail(r";messageid=42", status=403, code="BotNotInConversationRoster")

    async def attempts() -> list[str]:
        client = await connector_client(idp, connector)
        outcomes = []
        async with client:
            for conversation in ("c-1", "c-2", "19:x@thread.tacv2;messageid=42", "c-4"):
                try:
                    await client.conversations.reply_to_activity(
                        conversation, "1", Activity(type="message", text="x")
                    )
                    outcomes.append("ok")
                except ErrorResponseException as error:
                    outcomes.append(f"{error.response.status_code} {error.error.error.code}")
        return outcomes

    # The SDK retries neither 5xx nor 429 on POST (urllib3 2 does not retry POSTs): each surfaces at once.
    assert asyncio.run(attempts()) == [
        "500 ServiceError",
        "429 TooManyRequests",
        "403 BotNotInConversationRoster",
        "ok",
    ]
    assert [c.status for c in connector.calls] == [500, 429, 403, 201]
    assert connector.pending() == 0
    assert [a["text"] for a in connector.replies()] == ["x"]  # only the accepted post


def test_connector_refuses_tokens_its_identity_did_not_issue(
    idp: FakeIdentity, connector: FakeConnector
) -> None:
    async def anonymous() -> None:
        async with ConnectorClient(MicrosoftAppCredentials.empty(), base_url=connector.service_url) as client:
            await client.conversations.send_to_conversation("a:1", Activity(type="message", text="x"))

    with pytest.raises(ErrorResponseException):
        asyncio.run(anonymous())
    [call] = connector.calls
    assert (call.status, call.authorization, call.token_valid) == (401, "", False)
    assert connector.sent() == []


def test_files_download_without_auth_and_members_resolve(idp: FakeIdentity, connector: FakeConnector) -> None:
    url = connector.add_file("Leave policy.pdf", b"%PDF-1.7 fake", "application/pdf")
    response = requests.get(url, timeout=5)
    assert (response.status_code, response.content) == (200, b"%PDF-1.7 fake")
    assert response.headers["content-type"] == "application/pdf"
    connector.remove_file(url)
    assert requests.get(url, timeout=5).status_code == 404
    assert [c.status for c in connector.calls_to("download")] == [200, 404]

    connector.add_member(teams.USER_ID, "Alice Example", email="alice@example.com", aad_id=teams.USER_AAD_ID)

    async def lookup() -> Any:
        client = await connector_client(idp, connector)
        async with client:
            return await client.conversations.get_conversation_member("19:x@thread.tacv2", teams.USER_ID)

    member = asyncio.run(lookup())
    assert (member.id, member.name, member.aad_object_id) == (
        teams.USER_ID,
        "Alice Example",
        teams.USER_AAD_ID,
    )
    assert member.additional_properties["email"] == "alice@example.com"


# End to end: a real CloudAdapter on aiohttp, JWT validation on, replies through the fakes.


class PongBot(TeamsActivityHandler):
    """Replies "pong" (after a typing indicator); answers feedback invokes; records what it handled."""

    def __init__(self, invoke_body: Any = None) -> None:
        self.handled: list[str] = []
        self.invoke_body = invoke_body

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        self.handled.append(f"message {turn_context.activity.conversation.conversation_type}")
        await turn_context.send_activity(Activity(type=ActivityTypes.typing))
        await turn_context.send_activity("pong")

    async def on_reactions_added(
        self, message_reactions: list[MessageReaction], turn_context: TurnContext
    ) -> None:
        self.handled.append(
            f"reactions added {message_reactions[0].type} {turn_context.activity.reply_to_id}"
        )

    async def on_reactions_removed(
        self, message_reactions: list[MessageReaction], turn_context: TurnContext
    ) -> None:
        self.handled.append(f"reactions removed {message_reactions[0].type}")

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        if turn_context.activity.name == "message/submitAction":
            self.handled.append(f"feedback {turn_context.activity.value['actionValue']['reaction']}")
            return InvokeResponse(status=200, body=self.invoke_body)
        return await super().on_invoke_activity(turn_context)


@asynccontextmanager
async def bot_server(config: Any, bot: ActivityHandler) -> AsyncIterator[TestClient]:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def deliver(
    config: Any, bot: ActivityHandler, activities: list[tuple[dict[str, Any], str | None]]
) -> list[tuple[int, str]]:
    """POSTs each (activity, token) to the bot like the channel does; returns (status, body) of each."""

    async def run() -> list[tuple[int, str]]:
        answers = []
        async with bot_server(config, bot) as client:
            for activity, token in activities:
                headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
                response = await client.post("/api/messages", json=activity, headers=headers)
                answers.append((response.status, await response.text()))
        return answers

    return asyncio.run(run())


def test_cloud_adapter_replies_through_the_fakes(idp: FakeIdentity, connector: FakeConnector) -> None:
    activity = teams.channel_mention("ping", service_url=connector.service_url, bot_app_id=APP_ID)
    token = idp.channel_token(APP_ID, connector.service_url)
    bot = PongBot()
    before = len(idp.token_requests)

    assert deliver(idp.config(APP_ID, PASSWORD), bot, [(activity, token)]) == [(201, "")]

    typing, pong = connector.wait_for("reply_to_activity", count=2)
    assert (pong.conversation_id, pong.activity_id) == (activity["conversation"]["id"], activity["id"])
    assert ";messageid=" in pong.conversation_id
    assert (pong.body["type"], pong.body["text"], pong.body["replyToId"]) == (
        "message",
        "pong",
        activity["id"],
    )
    assert pong.body["recipient"]["id"] == teams.USER_ID and pong.body["from"]["id"] == f"28:{APP_ID}"
    assert typing.body["type"] == "typing"
    assert pong.token_valid is True and typing.token_valid is True
    [request] = idp.token_requests[before:]
    assert (request.tenant, request.client_id, request.scope, request.status) == (
        "botframework.com",
        APP_ID,
        "https://api.botframework.com/.default",
        200,
    )
    assert [a["text"] for a in connector.replies()] == ["pong"]
    assert bot.handled == ["message channel"]


BAD_POSTS = {
    # name: (token arguments or None for no header, HTTP status CloudAdapter answers)
    "wrong audience": ({"audience": "someone-else"}, 401),
    "wrong issuer": ({"issuer": "https://sts.example/"}, 401),
    "wrong serviceurl": ({"service_url": "https://evil.example/"}, 401),
    # Not PermissionErrors (see above): CloudAdapter.process lets them escape, aiohttp answers 500.
    "no header": (None, 500),
    "expired": ({"expires_in": -400}, 500),
    "unknown kid": ({"unknown_key": True}, 500),
}


@pytest.mark.parametrize("case", BAD_POSTS, ids=list(BAD_POSTS))
def test_cloud_adapter_refuses_bad_tokens_and_sends_nothing(
    idp: FakeIdentity, connector: FakeConnector, case: str
) -> None:
    token_args, status = BAD_POSTS[case]
    activity = teams.personal_message("ping", service_url=connector.service_url, bot_app_id=APP_ID)
    if token_args is not None:
        token_args = {"service_url": connector.service_url} | token_args
    token = None if token_args is None else idp.channel_token(APP_ID, **token_args)
    bot = PongBot()
    [(answered, _)] = deliver(idp.config(APP_ID, PASSWORD), bot, [(activity, token)])
    assert answered == status
    assert connector.calls == [] and bot.handled == []


def test_wrong_app_password_surfaces_as_401_to_the_channel(
    idp: FakeIdentity, connector: FakeConnector
) -> None:
    # MSAL's invalid_client becomes a PermissionError at the first send, which CloudAdapter maps to 401.
    activity = teams.personal_message("ping", service_url=connector.service_url, bot_app_id=APP_ID)
    bot = PongBot()
    answers = deliver(
        idp.config(APP_ID, "wrong"), bot, [(activity, idp.channel_token(APP_ID, connector.service_url))]
    )
    assert answers == [(401, "401: Unauthorized")]
    assert bot.handled == ["message personal"]
    assert idp.token_requests[-1].error == "invalid_client"
    assert connector.calls == []


def test_single_tenant_bot_gets_its_token_from_its_tenant(
    idp: FakeIdentity, connector: FakeConnector
) -> None:
    config = idp.config(ST_APP_ID, ST_PASSWORD, app_type="SingleTenant", tenant_id=ST_TENANT)
    assert config.TO_CHANNEL_FROM_BOT_LOGIN_URL == idp.login_url(ST_TENANT)
    activity = teams.group_chat_message("ping", service_url=connector.service_url, bot_app_id=ST_APP_ID)
    token = idp.channel_token(ST_APP_ID, connector.service_url)
    assert deliver(config, PongBot(), [(activity, token)]) == [(201, "")]
    assert (idp.token_requests[-1].tenant, idp.token_requests[-1].client_id) == (ST_TENANT, ST_APP_ID)
    assert connector.replies()[0]["text"] == "pong"

    # With TO_CHANNEL_FROM_BOT_LOGIN_URL set the SDK uses it verbatim: APP_TENANTID is not inserted.
    config.TO_CHANNEL_FROM_BOT_LOGIN_URL = idp.login_url()
    assert deliver(config, PongBot(), [(activity | {"id": teams.new_activity_id()}, token)]) == [(201, "")]
    assert idp.token_requests[-1].tenant == "botframework.com"


def test_invokes_are_answered_in_the_http_response(idp: FakeIdentity, connector: FakeConnector) -> None:
    url = connector.service_url
    token = idp.channel_token(APP_ID, url)
    feedback = teams.feedback_invoke(
        "dislike", "Wrong policy", reply_to_id="1800000000001", service_url=url, bot_app_id=APP_ID
    )
    assert json.loads(feedback["value"]["actionValue"]["feedback"]) == {"feedbackText": "Wrong policy"}
    unknown_invoke = feedback | {"name": "some/otherInvoke", "id": "f:other"}
    answers = deliver(idp.config(APP_ID, PASSWORD), PongBot(), [(feedback, token), (unknown_invoke, token)])
    # InvokeResponse(status=200) with no body is serialized as JSON null; an unhandled invoke is 501.
    assert answers == [(200, "null"), (501, "null")]
    # A body must be an msrest Model (botbuilder.schema...): CloudAdapter fails on a plain dict.
    card = AdaptiveCardInvokeResponse(status_code=200, type="application/vnd.microsoft.activity.message")
    [(status, body)] = deliver(idp.config(APP_ID, PASSWORD), PongBot(card), [(feedback, token)])
    assert (status, json.loads(body)) == (
        200,
        {"statusCode": 200, "type": "application/vnd.microsoft.activity.message"},
    )
    assert deliver(idp.config(APP_ID, PASSWORD), PongBot({"ok": True}), [(feedback, token)])[0][0] == 500
    assert connector.calls == []  # invoke responses travel in the HTTP response, not via the connector


def test_every_payload_builder_routes_to_the_right_teams_handler(
    idp: FakeIdentity, connector: FakeConnector
) -> None:
    url = connector.service_url
    download = connector.add_file("vpn.txt", b"use the portal", "text/plain")
    payloads = [
        teams.channel_mention("ping", service_url=url, bot_app_id=APP_ID),
        teams.channel_mention("again", service_url=url, bot_app_id=APP_ID, reply_to_thread="1700000000000"),
        teams.personal_message("ping", service_url=url, bot_app_id=APP_ID),
        teams.group_chat_message("ping", service_url=url, bot_app_id=APP_ID),
        teams.file_message("vpn.txt", download, service_url=url, bot_app_id=APP_ID),
        teams.reaction(reply_to_id="1800000000001", service_url=url, bot_app_id=APP_ID),
        teams.reaction(False, "heart", reply_to_id="1800000000001", service_url=url, bot_app_id=APP_ID),
        teams.feedback_invoke("like", reply_to_id="1800000000001", service_url=url, bot_app_id=APP_ID),
    ]
    assert len({p["id"] for p in payloads}) == len(payloads)
    token = idp.channel_token(APP_ID, url)
    bot = PongBot()
    before = len(idp.token_requests)
    answers = deliver(idp.config(APP_ID, PASSWORD), bot, [(p, token) for p in payloads])
    assert [status for status, _ in answers] == [201, 201, 201, 201, 201, 201, 201, 200]
    assert bot.handled == [
        "message channel",
        "message channel",
        "message personal",
        "message groupChat",
        "message personal",
        "reactions added like 1800000000001",
        "reactions removed heart",
        "feedback like",
    ]
    # The SDK keeps no token between turns: each turn that sends fetches one (blocking the event loop).
    assert len(idp.token_requests) - before == 5
    replies = connector.calls_to("reply_to_activity")
    threads = [c.conversation_id for c in replies if c.body["type"] == "message"]
    assert threads[1] == "19:eng@thread.tacv2;messageid=1700000000000"
    assert threads[2].startswith("a:") and threads[3] == "19:chat-1@thread.v2"


def test_payloads_deserialize_into_the_sdk_models() -> None:
    url = "http://127.0.0.1:1/"
    channel = Activity().deserialize(
        teams.channel_mention("how do I reset MFA?", service_url=url, bot_app_id=APP_ID)
    )
    assert channel.text == "<at>supportbot</at> how do I reset MFA?"
    assert channel.conversation.conversation_type == "channel" and channel.conversation.is_group
    assert channel.conversation.id == f"19:eng@thread.tacv2;messageid={channel.id}"
    assert teams_get_channel_id(channel) == "19:eng@thread.tacv2"
    assert teams_get_team_info(channel).id == teams.TEAM_ID
    channel_data = TeamsChannelData().deserialize(channel.channel_data)
    assert channel_data.tenant.id == teams.TENANT_ID
    [mention] = TurnContext.get_mentions(channel)  # Entity objects: the fields are additional_properties
    assert mention.additional_properties["mentioned"] == {"id": f"28:{APP_ID}", "name": "supportbot"}
    assert mention.additional_properties["text"] == "<at>supportbot</at>"
    assert TurnContext.remove_recipient_mention(channel).strip() == "how do I reset MFA?"
    assert [a.content_type for a in channel.attachments] == ["text/html"]

    personal = Activity().deserialize(teams.personal_message("hi", service_url=url))
    assert personal.conversation.conversation_type == "personal" and personal.conversation.id.startswith("a:")
    assert personal.from_property.aad_object_id == teams.USER_AAD_ID and not personal.attachments

    file = Activity().deserialize(
        teams.file_message("Expenses Q3.xlsx", "http://127.0.0.1:1/d", service_url=url)
    )
    [attachment] = file.attachments
    assert attachment.content_type == teams.FILE_DOWNLOAD_INFO and attachment.name == "Expenses Q3.xlsx"
    assert (
        attachment.content["downloadUrl"] == "http://127.0.0.1:1/d"
        and attachment.content["fileType"] == "xlsx"
    )

    removed = Activity().deserialize(
        teams.reaction(False, "sad", reply_to_id="9", service_url=url, scope="channel")
    )
    assert removed.type == "messageReaction" and removed.reactions_removed[0].type == "sad"
    assert removed.reply_to_id == "9" and removed.conversation.id == "19:eng@thread.tacv2"

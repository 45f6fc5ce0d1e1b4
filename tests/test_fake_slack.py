"""The fake Slack Web API, checked through the real slack_sdk AsyncWebClient."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import ApiCall, FakeSlack
from tests.fakes.slack_payloads import (
    block_actions_payload,
    event_callback,
    mention_event,
    message_event,
    reaction_event,
    signed_headers,
    slash_command_form,
)
from tests.slack.harness import wait_until


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def client(fake: FakeSlack, token: str = "xoxb-test", **kw: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.api_url, **kw)


def test_auth_test_answers_like_slack(fake: FakeSlack) -> None:
    response = asyncio.run(client(fake).auth_test())
    assert response["ok"] is True
    assert (response["user_id"], response["bot_id"], response["team_id"]) == ("UBOT", "BBOT", "T0TEST")
    assert response["url"].startswith("https://")
    assert fake.calls == [ApiCall("auth.test", {}, "xoxb-test")]


def test_post_message_in_thread_gets_increasing_ts_and_is_recorded_with_blocks(fake: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Answer*"}}]

    async def post_twice() -> list[Any]:
        web = client(fake)
        first = await web.chat_postMessage(
            channel="C1", text="hi", thread_ts="1699999999.000001", blocks=blocks
        )
        second = await web.chat_postMessage(channel="C1", text="again")
        return [first, second]

    first, second = asyncio.run(post_twice())
    assert float(second["ts"]) > float(first["ts"])
    assert first["channel"] == "C1"
    message = first["message"]
    assert (message["ts"], message["thread_ts"], message["user"], message["bot_id"]) == (
        first["ts"],
        "1699999999.000001",
        "UBOT",
        "BBOT",
    )
    assert "thread_ts" not in second["message"]
    call = fake.calls_to("chat.postMessage")[0]
    assert call.params == {"channel": "C1", "text": "hi", "thread_ts": "1699999999.000001", "blocks": blocks}
    assert call.token == "xoxb-test"


def test_form_encoded_json_fields_are_recorded_parsed(fake: FakeSlack) -> None:
    blocks = [{"type": "divider"}]
    data = {"channel": "C1", "text": "x", "blocks": json.dumps(blocks), "token": "xoxb-test"}
    asyncio.run(AsyncWebClient(base_url=fake.api_url).api_call("chat.postMessage", data=data))
    assert fake.calls == [
        ApiCall("chat.postMessage", {"channel": "C1", "text": "x", "blocks": blocks}, "xoxb-test")
    ]


def test_query_string_arguments_and_reaction_state(fake: FakeSlack) -> None:
    async def react() -> str:
        web = client(fake)  # reactions.* send their arguments in the query string of a POST
        await web.reactions_add(channel="C1", timestamp="1.000100", name="eyes")
        try:
            await web.reactions_add(channel="C1", timestamp="1.000100", name="eyes")
        except SlackApiError as error:
            await web.reactions_remove(channel="C1", timestamp="1.000100", name="eyes")
            return str(error.response["error"])
        return "no error"

    assert asyncio.run(react()) == "already_reacted"
    assert fake.calls_to("reactions.remove")[0].params == {
        "channel": "C1",
        "timestamp": "1.000100",
        "name": "eyes",
    }


def test_wrong_or_missing_token_is_refused(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as wrong:
        asyncio.run(client(fake, token="xoxb-wrong").chat_postMessage(channel="C1", text="hi"))
    assert wrong.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as missing:
        asyncio.run(AsyncWebClient(base_url=fake.api_url).auth_test())
    assert missing.value.response["error"] == "not_authed"
    assert [c.token for c in fake.calls] == ["xoxb-wrong", ""]


def test_rate_limit_is_retried_by_the_sdk_handler(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    web = client(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    response = asyncio.run(web.chat_postMessage(channel="C1", text="hi"))
    assert response["ok"] is True
    assert time.monotonic() - started >= 1  # the SDK slept Retry-After (plus up to 1 s of jitter)
    assert len(fake.calls_to("chat.postMessage")) == 2


def test_rate_limit_without_retry_handler_raises(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        asyncio.run(client(fake).chat_postMessage(channel="C1", text="hi"))
    assert raised.value.response.status_code == 429
    assert raised.value.response["error"] == "ratelimited"
    assert raised.value.response.headers["Retry-After"] == "7"
    assert asyncio.run(client(fake).chat_postMessage(channel="C1", text="hi"))["ok"] is True


def test_fail_scripts_one_error(fake: FakeSlack) -> None:
    fake.fail("assistant.threads.setStatus", error="not_allowed_token_type")
    web = client(fake)
    with pytest.raises(SlackApiError) as raised:
        asyncio.run(web.assistant_threads_setStatus(channel_id="D1", thread_ts="1.000100", status="thinking"))
    assert raised.value.response["error"] == "not_allowed_token_type"
    asyncio.run(web.assistant_threads_setStatus(channel_id="D1", thread_ts="1.000100", status="thinking"))
    assert len(fake.calls_to("assistant.threads.setStatus")) == 2


def test_other_methods_answer_ok_and_are_recorded(fake: FakeSlack) -> None:
    async def calls() -> list[Any]:
        web = client(fake)
        return [
            await web.chat_postEphemeral(channel="C1", user="U1", text="only you"),
            await web.chat_update(channel="C1", ts="1.000100", text="edited"),
            await web.chat_delete(channel="C1", ts="1.000100"),
            await web.conversations_info(channel="D1"),
            await web.users_info(user="U1"),
            await web.api_call("bookmarks.list", params={"channel_id": "C1"}),
        ]

    ephemeral, update, delete, im, user, other = asyncio.run(calls())
    assert ephemeral["message_ts"]
    assert (update["ts"], update["text"]) == ("1.000100", "edited")
    assert delete["ts"] == "1.000100"
    assert im["channel"]["is_im"] is True
    assert user["user"]["id"] == "U1"
    assert other.data == {"ok": True}
    assert fake.calls_to("bookmarks.list") == [ApiCall("bookmarks.list", {"channel_id": "C1"}, "xoxb-test")]


def test_file_info_and_authenticated_download(fake: FakeSlack) -> None:
    content = b"%PDF-1.4 fake"
    fake.add_file("F1", "Leave policy.pdf", "pdf", content, "application/pdf")

    async def fetch() -> tuple[Any, tuple[int, str, bytes], tuple[int, str, bytes]]:
        info = await client(fake).files_info(file="F1")
        url = info["file"]["url_private_download"]
        async with aiohttp.ClientSession() as session:
            async with session.get(url, headers={"Authorization": "Bearer xoxb-test"}) as res:
                authed = (res.status, res.content_type, await res.read())
            async with session.get(url) as res:
                anonymous = (res.status, res.content_type, await res.read())
        return info, authed, anonymous

    info, authed, anonymous = asyncio.run(fetch())
    file = info["file"]
    assert (file["id"], file["name"], file["size"], file["mimetype"]) == (
        "F1",
        "Leave policy.pdf",
        13,
        "application/pdf",
    )
    assert file["url_private_download"] == f"{fake.base_url}/files-pri/T0TEST-F1/download/Leave%20policy.pdf"
    assert authed == (200, "application/pdf", content)
    assert anonymous[:2] == (200, "text/html")
    assert [c.token for c in fake.calls_to("files-pri")] == ["xoxb-test", ""]


def test_unknown_file_is_not_found(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as raised:
        asyncio.run(client(fake).files_info(file="F404"))
    assert raised.value.response["error"] == "file_not_found"


def test_signed_headers_validate() -> None:
    body = json.dumps(event_callback(mention_event("hello", "C1", "U1", "1700000000.000100"), "Ev1"))
    headers = signed_headers(body, "secret")
    verifier = SignatureVerifier("secret")
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not SignatureVerifier("other").is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert headers["Content-Type"] == "application/json"
    stale = signed_headers(body, "secret", timestamp=int(time.time()) - 600)
    assert not verifier.is_valid(body, stale["X-Slack-Request-Timestamp"], stale["X-Slack-Signature"])
    form = slash_command_form("/ask", "vpn?", "U1", "C1")
    assert signed_headers(form, "secret")["Content-Type"] == "application/x-www-form-urlencoded"


def test_payload_builders_look_like_slack() -> None:
    event = mention_event(
        "where is the policy?", "C1", "U1", "1700000000.000100", thread_ts="1699999999.000001"
    )
    assert event["text"] == "<@UBOT> where is the policy?"
    assert (event["type"], event["event_ts"], event["thread_ts"]) == (
        "app_mention",
        event["ts"],
        "1699999999.000001",
    )
    envelope = event_callback(event, "Ev1")
    assert (envelope["type"], envelope["team_id"], envelope["api_app_id"]) == (
        "event_callback",
        "T0TEST",
        "A0TEST",
    )
    assert envelope["authorizations"][0]["user_id"] == "UBOT"
    dm = message_event("hi", "D1", "U1", "1.000100")
    assert (dm["channel_type"], "subtype" in dm) == ("im", False)
    shared = message_event("", "C2", "U1", "2.000100", channel_type="channel", files=[{"id": "F1"}])
    assert shared["subtype"] == "file_share"
    reaction = reaction_event("reaction_added", "+1", "U1", "C1", "1.000100")
    assert reaction["item"] == {"type": "message", "channel": "C1", "ts": "1.000100"}
    form = dict(parse_qsl(block_actions_payload("feedback", "up", "U1", "C1", "1.000100")))
    payload = json.loads(form["payload"])
    assert payload["actions"][0]["action_id"] == "feedback"
    assert payload["container"]["message_ts"] == "1.000100"
    command = dict(parse_qsl(slash_command_form("/ask", "vpn?", "U1", "C1")))
    assert (command["command"], command["text"], command["user_id"]) == ("/ask", "vpn?", "U1")


def test_wait_for_returns_calls_made_in_the_background(fake: FakeSlack) -> None:
    async def scenario() -> list[ApiCall]:
        waiting = asyncio.create_task(fake.wait_for_async("chat.postMessage", timeout=60))
        await client(fake).auth_test()  # a round trip: the wait has begun, and found nothing
        assert not waiting.done()
        await client(fake).chat_postMessage(channel="C1", text="late")
        return await waiting

    assert [c.params["text"] for c in asyncio.run(scenario())] == ["late"]
    assert len(fake.wait_for("chat.postMessage")) == 1


def test_wait_for_times_out_with_the_calls_seen(fake: FakeSlack) -> None:
    asyncio.run(client(fake).auth_test())
    with pytest.raises(AssertionError) as raised:
        fake.wait_for("chat.postMessage", count=1, timeout=0.2)
    message = str(raised.value)
    assert "wanted 1 call(s) to chat.postMessage within 0.2s, got 0" in message
    assert "auth.test" in message


def test_bolt_app_runs_against_the_fake(fake: FakeSlack) -> None:
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.request.async_request import AsyncBoltRequest

    app = AsyncApp(signing_secret="secret", client=client(fake))

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], say: Any) -> None:
        await say(text=f"you said {event['text']}", thread_ts=event["ts"])

    @app.action("feedback")
    async def clicked(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        await ack()
        await respond(text=f"thanks for {body['actions'][0]['value']}")

    def signed(body: str) -> AsyncBoltRequest:
        headers: dict[str, str | Sequence[str]] = dict(signed_headers(body, "secret"))
        return AsyncBoltRequest(body=body, headers=headers)

    async def scenario() -> tuple[int, int]:
        event = json.dumps(event_callback(mention_event("vpn?", "C1", "U1", "1700000000.000100"), "Ev1"))
        mention = await app.async_dispatch(signed(event))
        click = block_actions_payload(
            "feedback", "up", "U1", "C1", "1.000100", response_url=fake.response_url
        )
        action = await app.async_dispatch(signed(click))
        await fake.wait_for_async("chat.postMessage")
        await fake.wait_for_async("response_url")
        return mention.status, action.status

    assert asyncio.run(scenario()) == (200, 200)
    posted = fake.calls_to("chat.postMessage")[0].params
    assert (posted["text"], posted["thread_ts"]) == ("you said <@UBOT> vpn?", "1700000000.000100")
    assert fake.calls_to("response_url")[0].params["text"] == "thanks for up"


def test_blocking_wait_for_sees_calls_from_another_thread(fake: FakeSlack) -> None:
    def react_later() -> None:
        # Once this test's thread waits on the fake's condition (its wait has begun).
        waiters = getattr(fake._cond, "_waiters")  # noqa: B009 - CPython's list of waiting threads
        wait_until(lambda: len(waiters) > 0)
        asyncio.run(client(fake).reactions_add(channel="C1", timestamp="1.1", name="eyes"))

    worker = threading.Thread(target=react_later)
    worker.start()
    assert fake.wait_for("reactions.add", timeout=60)[0].params["name"] == "eyes"
    worker.join()


def test_workspace_data_and_re_exports(fake: FakeSlack) -> None:
    from tests.fakes import slack_api

    assert slack_api.signed_headers is signed_headers and slack_api.mention_event is mention_event
    fake.add_user("U1", "Ada Lovelace", email="ada@example.com", tz="Europe/Paris")
    fake.add_channel("C9", "hr-policies", is_private=True)

    async def look() -> tuple[Any, Any, Any]:
        web = client(fake)
        return (
            await web.users_info(user="U1"),
            await web.conversations_info(channel="C9"),
            await web.users_info(user="U2"),
        )

    ada, hr, stranger = asyncio.run(look())
    assert (ada["user"]["real_name"], ada["user"]["profile"]["email"], ada["user"]["tz"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "Europe/Paris",
    )
    assert (hr["channel"]["name"], hr["channel"]["is_private"], hr["channel"]["is_channel"]) == (
        "hr-policies",
        True,
        False,
    )
    assert stranger["user"]["id"] == "U2"

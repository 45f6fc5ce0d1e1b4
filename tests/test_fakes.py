"""The test fakes themselves, driven by the real clients: the anthropic SDK and psycopg."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import pytest
import sqlalchemy as sa
from anthropic.types import Message

from tests.fakes.anthropic_api import FakeAnthropic, Reply
from tests.fakes.postgres_server import PostgresServer

MODEL = "claude-test"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def client(fake: FakeAnthropic, max_retries: int = 0, timeout: float = 5.0) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="test-key", base_url=fake.base_url, timeout=timeout, max_retries=max_retries
    )


def test_text_reply_is_parsed_and_request_recorded(fake: FakeAnthropic) -> None:
    fake.reply_text("Use the VPN portal.")
    message = client(fake).messages.create(model=MODEL, max_tokens=100, messages=HELLO, system="Be brief.")
    assert message.content[0].type == "text"
    assert message.content[0].text == "Use the VPN portal."
    assert (message.model, message.role, message.stop_reason) == (MODEL, "assistant", "end_turn")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.json["system"] == "Be brief." and request.json["messages"] == HELLO
    # This SDK sends the API key as a bearer token, not as x-api-key.
    assert request.headers["authorization"] == "Bearer test-key"
    assert "anthropic-version" in request.headers


def test_default_responder_answers_when_nothing_is_scripted(fake: FakeAnthropic) -> None:
    fake.responder = lambda body: Reply.text("echo: " + body["messages"][-1]["content"])
    message = client(fake).messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert message.content[0].text == "echo: hello"


def test_tool_use_reply_is_parsed(fake: FakeAnthropic) -> None:
    fake.reply_tool("search_docs", {"query": "vpn"})
    message = client(fake).messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HELLO,
        tools=[{"name": "search_docs", "input_schema": {"type": "object"}}],
    )
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("search_docs", {"query": "vpn"})
    assert block.id.startswith("toolu_")


def test_overloaded_raises_status_error_without_retries(fake: FakeAnthropic) -> None:
    fake.fail(529, "overloaded_error", "Overloaded")
    with pytest.raises(anthropic.APIStatusError) as caught:
        client(fake).messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    error = caught.value
    assert isinstance(error, anthropic.OverloadedError)
    assert error.status_code == 529
    assert error.body["error"]["type"] == "overloaded_error"
    assert error.request_id and error.request_id.startswith("req_")
    assert len(fake.requests) == 1


def test_retries_then_succeeds(fake: FakeAnthropic) -> None:
    # retry-after-ms keeps the SDK's backoff (0.5 s, then 1 s...) out of the test's time.
    fake.fail(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "10"})
    fake.reply_text("second time lucky")
    message = client(fake, max_retries=2).messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert message.content[0].text == "second time lucky"
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1"]
    # The same idempotency key on both attempts, so the API could deduplicate them.
    keys = {r.headers.get("idempotency-key") for r in fake.requests}
    assert len(keys) == 1


def test_x_should_retry_false_overrides_the_status(fake: FakeAnthropic) -> None:
    fake.fail(529, "overloaded_error", "Overloaded", headers={"x-should-retry": "false"})
    with pytest.raises(anthropic.OverloadedError):
        client(fake, max_retries=2).messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert len(fake.requests) == 1


def test_slow_reply_times_out(fake: FakeAnthropic) -> None:
    fake.delay(5.0)
    with pytest.raises(anthropic.APITimeoutError):
        client(fake, timeout=0.3).messages.create(model=MODEL, max_tokens=10, messages=HELLO)


def test_malformed_json_escapes_as_a_plain_json_error(fake: FakeAnthropic) -> None:
    # The SDK does not wrap a bad JSON body in an anthropic error: callers must expect ValueError.
    fake.raw(200, b'{"id": "msg_1", "content": [')
    with pytest.raises(json.JSONDecodeError):
        client(fake).messages.create(model=MODEL, max_tokens=10, messages=HELLO)


def test_non_json_and_wrong_shape_bodies_are_not_validated(fake: FakeAnthropic) -> None:
    fake.raw(200, b"upstream proxy says hi", content_type="text/plain")
    fake.raw(200, b'{"unexpected": true}')
    sdk = client(fake)
    # A non-JSON 200 comes back as the bare text, not a Message.
    assert sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO) == "upstream proxy says hi"
    # A JSON object of the wrong shape becomes a Message whose fields are all None.
    message = sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert isinstance(message, Message) and message.content is None


def test_missing_max_tokens_is_rejected(fake: FakeAnthropic) -> None:
    sdk = client(fake)
    with pytest.raises(TypeError):  # the SDK checks required arguments before sending
        sdk.messages.create(model=MODEL, messages=HELLO)  # type: ignore[call-overload]
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk.post("/v1/messages", body={"model": MODEL, "messages": HELLO}, cast_to=Message)
    assert caught.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


def test_roles_must_alternate_from_user(fake: FakeAnthropic) -> None:
    fake.reply_text("never sent")
    twice = [*HELLO, {"role": "user", "content": "again"}]
    with pytest.raises(anthropic.BadRequestError, match="alternate"):
        client(fake).messages.create(model=MODEL, max_tokens=10, messages=twice)
    assert fake.pending() == 1  # a rejected request does not consume the script


def test_cache_read_reported_for_a_repeated_cached_system(fake: FakeAnthropic) -> None:
    # Long enough to be cached (the API ignores breakpoints on prefixes under 1,024 tokens).
    system = [{"type": "text", "text": "Policy corpus " * 400, "cache_control": {"type": "ephemeral"}}]
    sdk = client(fake)
    first = sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO, system=system)
    second = sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO, system=system)
    assert first.usage.cache_creation_input_tokens and not first.usage.cache_read_input_tokens
    assert second.usage.cache_read_input_tokens and not second.usage.cache_creation_input_tokens
    plain = sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO, system="Policy corpus")
    assert not plain.usage.cache_read_input_tokens and not plain.usage.cache_creation_input_tokens
    short = [{"type": "text", "text": "Policy corpus", "cache_control": {"type": "ephemeral"}}]
    for _ in range(2):
        again = sdk.messages.create(model=MODEL, max_tokens=10, messages=HELLO, system=short)
        assert not again.usage.cache_read_input_tokens and not again.usage.cache_creation_input_tokens


def test_postgres_server_serves_a_fresh_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("test_fakes_check")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert "PostgreSQL" in conn.execute(sa.text("select version()")).scalar_one()
            assert conn.execute(sa.text("select current_database()")).scalar_one() == "test_fakes_check"
    finally:
        engine.dispose()

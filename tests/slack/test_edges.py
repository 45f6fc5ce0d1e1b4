"""Edges of the Slack front end (issue 19): malformed requests, invalid Unicode, replays,
request bodies kept out of the log, escaped text, and `docs` scoped to the channel."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.slack.listeners import APOLOGY
from adapters.slack.render import plain_text
from adapters.text_input import valid_text
from bot.store.models import Interaction
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import (
    event_callback,
    mention_event,
    message_event,
    signed_headers,
    slash_command_form,
)
from tests.slack.conftest import ServerFactory
from tests.slack.harness import REMOTE, SECRET, ingest_reply, texts, wait_until

pytestmark = pytest.mark.weaviate


def test_markup_and_escapes_become_what_a_person_reads() -> None:
    raw = "<@U0BOT> Q&amp;A for <#C0HR|hr-team>: is <https://intranet/leave|the leave page> &lt;current&gt;? <!here>"
    assert plain_text(raw) == "Q&A for #hr-team: is the leave page (https://intranet/leave) <current>? @here"
    assert plain_text("mail <mailto:jane@acme.com|jane@acme.com> or see <https://x.io>") == (
        "mail jane@acme.com or see https://x.io"
    )
    assert valid_text("remote \ud800 work\x00") == "remote \ufffd work"
    assert valid_text("Cafe\u0301") == "Caf\u00e9"  # one letter, one code point


def test_a_timestamp_that_is_no_number_is_401_and_a_malformed_signed_body_400(start: ServerFactory) -> None:
    server = start()
    body = json.dumps({"type": "event_callback", "event_id": "Ev1"})
    headers = signed_headers(body, SECRET)
    headers["X-Slack-Request-Timestamp"] = "soon"
    status, _ = server.post(body, headers)
    assert status == 401
    broken = '{"type": "event_callback", "event": '
    status, reply = server.post(broken, signed_headers(broken, SECRET))
    assert status == 400 and "malformed" in reply
    form = "payload=%7Bnot-json"
    status, _ = server.post(form, signed_headers(form, SECRET))
    assert status == 400


def test_a_lone_surrogate_is_answered_not_apologised_for(
    start: ServerFactory, fake: FakeSlack, engine: Any
) -> None:
    server = start()
    event = mention_event(
        "How many days per week can I work \ud800 remotely?", "C0ENG", "U1", "1700000101.000100"
    )
    body = json.dumps(event_callback(event, "EvSurrogate"))  # json escapes it as \ud800
    assert "\\ud800" in body
    status, _ = server.post(body)
    assert status == 200
    [post] = fake.wait_for("chat.postMessage")
    assert APOLOGY not in texts(post) and "three days per week" in texts(post)
    with Session(engine) as session:
        question = session.scalars(select(Interaction.question)).one()
    assert "\ufffd" in question


def test_escaped_text_reaches_the_core_unescaped(start: ServerFactory, fake: FakeSlack, engine: Any) -> None:
    server = start()
    server.event(
        mention_event("R&amp;D staff in <#C0ENG|engineering>: " + REMOTE, "C0ENG", "U1", "1700000102.000100"),
        "EvEsc",
    )
    fake.wait_for("chat.postMessage")
    wait_until(lambda: _questions(engine) != [])
    assert _questions(engine) == ["R&D staff in #engineering: " + REMOTE]


def test_a_replayed_slash_command_is_answered_once(
    start: ServerFactory, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    server = start()
    form = slash_command_form("/ask", REMOTE, "U2", "C0ENG")
    headers = signed_headers(form, SECRET)
    assert server.post(form, headers)[0] == 200
    fake.wait_for("chat.postEphemeral")
    with caplog.at_level(logging.WARNING, logger="adapters.slack.listeners"):
        assert server.post(form, headers)[0] == 200  # the same signed request, within five minutes
        wait_until(lambda: "replayed" in caplog.text, timeout=60)  # the replay was seen and dropped
    assert len(fake.calls_to("chat.postEphemeral")) == 1


def test_rejected_request_bodies_are_not_logged(
    start: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = start()
    body = json.dumps({"type": "event_callback", "event": {"text": "SECRET-MARKER " * 5000}})
    headers = signed_headers(body, "not-the-secret")
    with caplog.at_level(logging.DEBUG):
        status, _ = server.post(body, headers)
    assert status == 401
    assert "Invalid request signature" in caplog.text and "body not logged" in caplog.text
    assert "SECRET-MARKER" not in caplog.text


def test_docs_lists_only_what_the_asking_channel_may_see(start: ServerFactory, fake: FakeSlack) -> None:
    server = start()
    post = "audience: hr-team\ntitle: Salary bands\n\nBand C starts at 61,000 EUR a year."
    server.event(
        message_event(post, "C0INGEST", "U0HR1", "1700000110.000100", channel_type="channel"), "Ev110"
    )
    assert "salary-bands" in ingest_reply(fake, 1)
    server.event(mention_event("docs", "C0ENG", "U0HR1", "1700000111.000100"), "Ev111")
    [_, public] = fake.wait_for("chat.postMessage", 2)
    assert "Salary bands" not in texts(public) and "hr-team" not in texts(public)
    assert "remote-work" in texts(public)
    server.event(mention_event("docs", "C0HR", "U0HR1", "1700000112.000100"), "Ev112")
    [*_, hr] = fake.wait_for("chat.postMessage", 3)
    assert "salary-bands: Salary bands" in texts(hr)


def _questions(engine: Any) -> list[str]:
    with Session(engine) as session:
        return list(session.scalars(select(Interaction.question)))

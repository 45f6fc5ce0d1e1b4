"""The weekly digest posted to Slack through the real SDK and the fake Web API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import Engine

from adapters.slack import web_client
from tests.digest_helpers import publisher
from tests.fakes.slack_api import FakeSlack
from tests.test_digest_numbers import WEEK, seeded  # noqa: F401 (fixture)

HR_LEADS = {"name": "hr-leads", "platform": "slack", "channel": "C0LEADS", "covers": ["C0HR"]}


def test_the_digest_is_posted_with_its_charts_once(
    fake: FakeSlack,
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    client = web_client(fake.bot_token, fake.api_url)
    digests = publisher(
        engine, tmp_path, [HR_LEADS], slack=client, slack_workspace_url="https://acme.slack.com"
    )
    [target] = digests.targets()
    outcome = asyncio.run(digests.publish(WEEK, target))
    assert outcome.posted and outcome.detail.startswith("Slack C0LEADS")
    [post] = fake.calls_to("chat.postMessage")
    assert post.params["channel"] == "C0LEADS"
    blocks = post.params["blocks"]
    text = json.dumps(blocks)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Support bot weekly digest, 2026-W45, hr-leads"},
    }
    fields = {f["text"].split("\n")[0]: f["text"] for f in blocks[2]["fields"]}
    # The HR channel only: 6 of the week's 10 questions, against 4 the week before.
    assert fields["*Questions*"] == "*Questions*\n6\n_+2 (+50%) vs last week_" and "*Helpful*" in fields
    assert "Is there a company gym?" not in text  # asked in #eng, which these leads do not cover
    assert "&lt;https://acme.slack.com/archives/C0HR/p1762074000000200|How much can I claim" not in text
    assert (
        "<https://acme.slack.com/archives/C0HR/p1762074000000200|How much can I claim for a monitor?>" in text
    )
    assert "wrong amount" in text and "superseded" in text
    # The charts follow as uploaded images in the same channel.
    uploads = fake.uploads
    assert [u.filename for u in uploads] == ["questions.png", "votes.png", "latency.png", "documents.png"]
    assert {u.channel for u in uploads} == {"C0LEADS"} and uploads[0].initial_comment == "Charts for 2026-W45"
    for upload in uploads:
        assert upload.content == (outcome.digest.files.folder / upload.filename).read_bytes()  # type: ignore[union-attr]
        with Image.open(outcome.digest.files.folder / upload.filename) as image:  # type: ignore[union-attr]
            assert image.format == "PNG"
    # A second run (a restart, another replica) posts nothing more.
    again = asyncio.run(digests.publish(WEEK, target))
    assert not again.posted and again.detail.startswith("already posted")
    assert len(fake.calls_to("chat.postMessage")) == 1 and len(fake.uploads) == 4


def test_a_failed_post_can_be_retried(
    fake: FakeSlack,
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    digests = publisher(engine, tmp_path, [HR_LEADS], slack=web_client(fake.bot_token, fake.api_url))
    [target] = digests.targets()
    fake.fail("chat.postMessage", "not_in_channel")
    try:
        asyncio.run(digests.publish(WEEK, target))
        raise AssertionError("the post should have failed")
    except Exception as error:
        assert "not_in_channel" in str(error)
    elsewhere = tmp_path / "pages"  # digest --post --out DIR: the pages go there
    outcome = asyncio.run(digests.publish(WEEK, target, out=elsewhere))  # the claim was given back
    assert outcome.posted and len(fake.calls_to("chat.postMessage")) == 2
    assert (elsewhere / "2026-W45" / "hr-leads" / "index.html").is_file()

"""The weekly digest posted to a Teams channel: the real CloudAdapter creates the thread
through the fake Bot Connector, with a token from the fake identity service."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path
from typing import Any

from botbuilder.integration.aiohttp import CloudAdapter
from PIL import Image
from sqlalchemy import Engine

from adapters.digests import TeamsPoster
from adapters.teams.auth import BotAuthentication
from tests.digest_helpers import publisher
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.ms_identity import FakeIdentity
from tests.fakes.teams_payloads import BOT_APP_ID, TENANT_ID
from tests.teams.conftest import credentials
from tests.test_digest_numbers import WEEK, seeded  # noqa: F401 (fixture)

LEADS_CHANNEL = "19:leads@thread.tacv2"


def test_the_digest_starts_a_thread_in_the_leads_channel(
    identity: FakeIdentity,
    connector: FakeConnector,
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    poster = TeamsPoster(
        CloudAdapter(BotAuthentication(credentials(identity))), BOT_APP_ID, frozenset({TENANT_ID})
    )
    lead = {"name": "eng-leads", "platform": "teams", "channel": LEADS_CHANNEL, "covers": ["C0ENG"]}
    digests = publisher(engine, tmp_path, [lead], teams=poster, teams_service_url=connector.service_url)
    [target] = digests.targets()
    outcome = asyncio.run(digests.publish(WEEK, target))
    assert outcome.posted and outcome.detail.startswith(f"Teams {LEADS_CHANNEL} ({LEADS_CHANNEL};messageid=")
    [created] = connector.calls_to("create_conversation")
    assert created.token_valid is True  # a token the bot got from the identity service
    body = created.body
    assert body["isGroup"] is True and body["channelData"]["channel"]["id"] == LEADS_CHANNEL
    # botbuilder's schema spells it "tenantID"; Teams reads the channelData one.
    assert body["tenantID"] == TENANT_ID and body["channelData"]["tenant"]["id"] == TENANT_ID
    [attachment] = body["activity"]["attachments"]
    card = attachment["content"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive" and card["version"] == "1.5"
    facts = {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}
    # The eng channel only: 4 questions, 2 of them not found.
    assert facts["Questions"] == "4 (none last week)" and facts["Not found (abstained)"] == "50%"
    text = json.dumps(card)
    assert "Is there a company gym?" in text and "How much can I claim for a monitor?" not in text
    # One small chart rides inline; Teams caps a message at about 28 KB.
    [image] = [b for b in card["body"] if b["type"] == "Image"]
    png = base64.b64decode(image["url"].removeprefix("data:image/png;base64,"))
    with Image.open(io.BytesIO(png)) as decoded:
        assert decoded.format == "PNG" and decoded.width < 500
    assert len(json.dumps(body)) < 28_000
    again = asyncio.run(digests.publish(WEEK, target))
    assert not again.posted and len(connector.calls_to("create_conversation")) == 1

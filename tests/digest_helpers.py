"""Building a digest publisher for the tests, on the seeded log of tests/test_digest_numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from adapters.digest_schedule import DigestSchedule
from adapters.digests import DigestPublisher, TeamsPoster
from adapters.slack import web_client
from bot.settings import DigestSettings, FileConfig, Settings
from knowledge.service import KnowledgeSettings
from tests.fakes.slack_api import FakeSlack
from tests.test_digest_numbers import catalogue


def publisher(
    engine: Engine,
    tmp_path: Path,
    leads: list[dict[str, Any]],
    slack: Any = None,
    teams: TeamsPoster | None = None,
    **digest: Any,
) -> DigestPublisher:
    settings = Settings(
        file=FileConfig(digest=DigestSettings(leads=leads, **digest)),  # type: ignore[arg-type]
        knowledge=KnowledgeSettings(),
        data_dir=tmp_path,
        config_path=None,
    )
    return DigestPublisher(settings, engine, catalogue, None, None, slack, teams)


MONDAY_9_UTC = {"weekday": "mon", "time": "09:00", "timezone": "UTC"}


def slack_schedule(
    engine: Engine, tmp_path: Path, leads: list[dict[str, Any]], fake: FakeSlack, **digest: Any
) -> DigestSchedule:
    """serve's weekly schedule for `leads`, posting to Slack through `fake` (Mondays 09:00 UTC
    unless `digest` says otherwise)."""
    settings = {**MONDAY_9_UTC, **digest}
    return DigestSchedule(
        publisher(engine, tmp_path, leads, slack=web_client(fake.bot_token, fake.api_url), **settings),
        DigestSettings(leads=leads, **settings),  # type: ignore[arg-type]
    )

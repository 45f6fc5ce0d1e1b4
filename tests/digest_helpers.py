"""Building a digest publisher for the tests, on the seeded log of tests/test_digest_numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from adapters.digests import DigestPublisher, TeamsPoster
from bot.settings import DigestSettings, FileConfig, Settings
from knowledge.service import KnowledgeSettings
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

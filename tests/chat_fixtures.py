"""Database fixtures shared by the Slack and Teams tests (imported by their conftest files).

SQLite by default; a test parametrised indirectly on `database_url` with "postgresql" gets a
fresh database on the session's PostgreSQL. `replica_engine` gives another connection pool
on the same database, as a second bot process would have.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.store.database import create_db_engine, migrate
from tests.fakes.postgres_server import PostgresServer


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if getattr(request, "param", "sqlite") == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database(f"chat_{uuid.uuid4().hex[:10]}")
    return f"sqlite:///{tmp_path / 'log.db'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Any]:
    engine = create_db_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def replica_engine(engine: Any, opened: list[Any]) -> Any:
    """A pool of its own on `engine`'s database; added to `opened` for the caller to dispose."""
    other = create_db_engine(engine.url.render_as_string(hide_password=False))
    opened.append(other)
    return other

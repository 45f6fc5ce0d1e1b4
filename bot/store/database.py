"""Opening the database and bringing its schema up to date.

SQLite in the data directory by default (no server to run); `DATABASE_URL` points at
PostgreSQL in production. Migrations run at every start: Alembic is a no-op when the
schema is current, and on PostgreSQL an advisory lock keeps two replicas starting at
once from migrating twice.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from bot.errors import DatabaseError

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 7_240_311  # an arbitrary, fixed pg_advisory_lock key


def normalise_url(url: str) -> str:
    """Accept the URL forms people paste (`postgres://`, `postgresql://`) and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'supportbot.db').resolve()}"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's documented pysqlite recipe: take transactions away from the driver (which
    # never wraps DDL in one) and emit BEGIN ourselves, so a migration is all or nothing.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # first: the next pragma may already wait
    cursor.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite
    cursor.execute("PRAGMA journal_mode=WAL")  # readers don't wait for the writer
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front. A deferred transaction that reads and then
    # writes fails at once with "database is locked" when another connection committed in
    # between: the busy timeout does not cover that upgrade. Read-only work (an export, a
    # report) begins deferred instead, so it never holds the lock the bot writes under.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


READ_ONLY = "supportbot_read_only"


def read_only(engine: Engine) -> Engine:
    """The same database for reading only: on SQLite, transactions that take no write lock
    (with WAL, a long export and the bot's writes then run side by side)."""
    return engine.execution_options(**{READ_ONLY: True})


def create_db_engine(url: str) -> Engine:
    try:
        parsed = make_url(normalise_url(url))
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed)
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        # libpq waits for ever on a host that does not answer: an outage must fail, and be journalled.
        connect = {} if "connect_timeout" in parsed.query else {"connect_timeout": 5}
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect)
    except ArgumentError as error:
        raise DatabaseError(f"DATABASE_URL is not a database URL: {error}") from None
    except (ValueError, ImportError, NoSuchModuleError, OSError) as error:
        # A bad port, an unknown dialect or a driver we don't ship: say so, without the URL.
        raise DatabaseError(f"DATABASE_URL cannot be used: {type(error).__name__}: {error}") from None


def safe_url(engine: Engine) -> str:
    """The URL for logs: the password hidden, also when it is given as a query parameter."""
    url = engine.url
    if "password" in url.query:
        url = url.update_query_dict({"password": "***"})
    return url.render_as_string(hide_password=True)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Two processes starting on a fresh SQLite file must not both create the tables."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration."""
    config = alembic_config()
    try:
        with _migration_lock(engine), engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except Exception as error:
        raise DatabaseError(f"cannot prepare the database at {safe_url(engine)}: {error}") from error
    logger.info("database ready at %s", safe_url(engine))

"""The bot's errors that the command line maps to exit codes, in a module light enough to
import before parsing arguments (the modules raising them load pydantic-settings, SQLAlchemy
and Alembic)."""

from __future__ import annotations


class ConfigError(ValueError):
    """The settings file is missing, malformed, or names something unknown."""


class DatabaseError(RuntimeError):
    """The database URL is unusable or the database cannot be reached or migrated."""

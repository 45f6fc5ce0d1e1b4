"""The `journal:` section of the settings file (bot.journal, bot.journal_records)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class JournalSettings(BaseModel):
    """The local journal of writes the database could not take (`journal:` in the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    write_timeout_s: float = Field(
        5.0,
        gt=0,
        le=120,
        description="How long a write is retried before it goes to the journal (SQLite may wait its 10 s busy timeout once).",
    )
    replay_interval_s: float = Field(
        2.0, gt=0, le=600, description="How often `serve` tries to replay the journal while entries wait."
    )

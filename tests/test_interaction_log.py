"""The interaction and vote log on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.database import DatabaseError, alembic_config, create_db_engine, migrate, normalise_url
from bot.store.interactions import InteractionLog, InteractionRecord, RecordError
from bot.store.models import Base, Interaction, PromptText, Vote
from bot.store.retries import RetryPolicy
from bot.types import VoteSource, VoteStatus, VoteValue
from knowledge.weaviate_server import free_port
from tests.conftest import REPO
from tests.records import make_record


def test_migrations_create_the_schema_and_rerun_as_a_no_op(engine: Engine) -> None:
    migrate(engine)  # a second start must not fail or duplicate anything
    tables = set(inspect(engine).get_table_names())
    assert {
        "interactions",
        "interaction_passages",
        "votes",
        "prompt_texts",
        "processed_events",
        "answer_messages",
        "digest_runs",
        "change_notices",
        "conversation_refs",
        "handoffs",
        "alembic_version",
    } <= tables
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        assert (
            connection.execute(text("select version_num from alembic_version")).scalar_one() == head == "0007"
        )


def test_the_models_match_the_migrations(engine: Engine) -> None:
    # A column added to a model without a migration would only fail on an upgraded database.
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_recorded_interaction_keeps_everything(engine: Engine) -> None:
    log = InteractionLog(engine)
    first, second = make_record(), make_record(question="And for the second parent?")
    assert log.record(first) and log.record(second)
    stored = log.load(first.id)
    assert stored is not None
    assert (stored.platform, stored.channel, stored.user_id, stored.thread_id) == (
        "slack",
        "C0HR",
        "U1",
        "1700000000.000100",
    )
    assert stored.question == first.question and stored.answer_text == first.answer_text
    assert stored.scope_groups == ["everyone", "hr-team"]
    assert stored.kind == "generated" and stored.abstained is False and stored.model == "claude-sonnet-5-5"
    assert stored.latency_ms == pytest.approx(812.5)
    assert stored.created_at is not None
    assert stored.user_prompt == "<documents>...</documents>"
    assert [
        (p.rank, p.chunk_id, p.doc_id, p.version, p.cited, p.citation_marker) for p in stored.passages
    ] == [
        (1, "chunk-a", "parental-leave", "3", True, 1),
        (2, "chunk-b", "remote-work", "2", False, None),
    ]
    assert stored.passages[0].score == pytest.approx(0.91)
    assert stored.passages[0].text == "The birth parent receives 20 weeks."
    with Session(engine) as session:
        # The system prompt is stored once and referenced by both interactions.
        assert session.scalar(select(func.count()).select_from(PromptText)) == 1
        prompt = session.get(PromptText, stored.system_prompt_sha256)
        assert prompt is not None and prompt.text == "You answer from documents."


def test_recording_the_same_interaction_twice_is_idempotent(engine: Engine) -> None:
    # A retry after a commit whose acknowledgement was lost must not fail or duplicate.
    log = InteractionLog(engine)
    record = make_record()
    assert log.record(record) and log.record(record)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Interaction)) == 1


def test_votes_keep_one_current_vote_per_user_and_the_history(engine: Engine) -> None:
    log = InteractionLog(engine)
    record = make_record()
    log.record(record)
    rid = record.id
    assert log.vote(rid, "U2", VoteValue.UP, VoteSource.REACTION).status is VoteStatus.RECORDED
    assert log.vote(rid, "U2", VoteValue.UP, VoteSource.BUTTON).status is VoteStatus.UNCHANGED
    assert log.vote(rid, "U2", VoteValue.DOWN, VoteSource.REACTION, "outdated").status is VoteStatus.CHANGED
    assert log.vote(rid, "U3", VoteValue.UP, VoteSource.FEEDBACK_LOOP).status is VoteStatus.RECORDED
    # Removing a 👍 reaction must not retract the 👎 that replaced it.
    assert log.retract(rid, "U2", VoteValue.UP).status is VoteStatus.NOT_FOUND
    assert log.retract(rid, "U3").status is VoteStatus.RETRACTED
    assert log.retract(rid, "U3").status is VoteStatus.NOT_FOUND
    assert log.vote("no-such-answer", "U2", VoteValue.UP, VoteSource.CONSOLE).status is VoteStatus.NOT_FOUND
    stored = log.load(rid)
    assert stored is not None
    rows = [(v.user_id, v.value, v.source, v.comment, v.retracted_at is None) for v in stored.votes]
    assert rows == [
        ("U2", "up", "reaction", "", False),
        ("U2", "down", "reaction", "outdated", True),
        ("U3", "up", "feedback_loop", "", False),
    ]


def test_the_database_itself_refuses_two_current_votes(engine: Engine) -> None:
    log = InteractionLog(engine)
    record = make_record()
    log.record(record)
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        for _ in range(2):
            session.add(Vote(interaction_id=record.id, user_id="U9", value="up", source="button", comment=""))
            session.flush()


def test_a_vote_that_cannot_be_written_raises_after_retries(tmp_path: Path) -> None:
    down = create_db_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none?connect_timeout=2")
    with pytest.raises(RecordError, match="vote"):
        InteractionLog(down, RetryPolicy(attempts=2, backoff_s=0)).vote(
            "x", "U1", VoteValue.UP, VoteSource.BUTTON
        )


def test_database_urls() -> None:
    assert normalise_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgresql://h/db") == "postgresql+psycopg://h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(DatabaseError, match="not a database URL"):
        create_db_engine("not a url")
    broken = create_db_engine(f"postgresql+psycopg://app:s3cret@127.0.0.1:{free_port()}/x?connect_timeout=2")
    with pytest.raises(DatabaseError) as caught:
        migrate(broken)
    assert "s3cret" not in str(caught.value)  # the password never reaches logs or the terminal


def test_times_come_back_in_utc_on_every_database(engine: Engine) -> None:
    log = InteractionLog(engine)
    record = make_record(created_at="2026-03-02T09:30:00+01:00")
    log.record(record)
    log.vote(record.id, "U1", VoteValue.UP, VoteSource.BUTTON)
    log.vote(record.id, "U1", VoteValue.DOWN, VoteSource.BUTTON)
    stored = log.load(record.id)
    assert stored is not None
    assert stored.created_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert stored.created_at.tzinfo is not None
    retracted = stored.votes[0].retracted_at
    assert retracted is not None and retracted.tzinfo is not None
    assert datetime.now(UTC) - retracted < timedelta(minutes=5)  # aware arithmetic works


def test_constraint_errors_are_not_retried(engine: Engine) -> None:
    # A row the database will never accept fails at once (the journal then keeps it aside).
    bad = make_record(platform="x" * 100)  # longer than the column allows (PostgreSQL enforces it)
    log = InteractionLog(engine, RetryPolicy(attempts=3, backoff_s=5, give_up_s=60))
    started = time.monotonic()
    if engine.dialect.name == "postgresql":
        with pytest.raises(RecordError) as caught:
            log.record(bad)
        assert caught.value.transient is False
    else:
        assert log.record(bad) is True  # SQLite does not enforce VARCHAR lengths
    assert time.monotonic() - started < 5  # no backoff sleeps


def test_concurrent_first_starts_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code = "import sys; from bot.store.database import create_db_engine, migrate; migrate(create_db_engine(sys.argv[1]))"
    starts = [
        subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for start in starts:
        _, stderr = start.communicate(timeout=120)
        assert start.returncode == 0, stderr


def _as_json(record: InteractionRecord) -> str:
    return json.dumps(asdict(record))


def test_answers_storing_the_same_new_prompt_at_once_are_all_recorded(engine: Engine) -> None:
    # On PostgreSQL each transaction sees the prompt missing and inserts it: the loser's
    # IntegrityError is retried (the prompt is there by then), not sent to the journal.
    log = InteractionLog(engine, RetryPolicy(attempts=5, backoff_s=0.01, give_up_s=60))
    for round_ in range(5):
        prompt = f"a system prompt of round {round_}: {uuid.uuid4()}"
        start = threading.Barrier(6)

        def record(prompt: str = prompt, start: threading.Barrier = start) -> bool:
            start.wait()
            return log.record(make_record(system_prompt=prompt))

        with ThreadPoolExecutor(6) as pool:
            assert all(pool.map(lambda _: record(), range(6)))
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(PromptText)) == 5
        assert session.scalar(select(func.count()).select_from(Interaction)) == 30

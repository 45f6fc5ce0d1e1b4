"""Event dedupe, answer-message lookup and thread history, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from bot.store.conversations import ConversationStore
from bot.store.database import create_db_engine
from bot.store.interactions import InteractionLog
from bot.types import Turn
from tests.records import make_record


def test_an_event_is_claimed_once_across_processes(engine: Engine) -> None:
    # Two stores on two engines stand for two bot replicas sharing one database.
    replicas = [
        ConversationStore(engine),
        ConversationStore(create_db_engine(engine.url.render_as_string(hide_password=False))),
    ]
    with ThreadPoolExecutor(max_workers=10) as pool:
        claims = list(pool.map(lambda i: replicas[i % 2].claim_event("slack", "Ev001"), range(10)))
    assert claims.count(True) == 1
    assert replicas[0].claim_event("teams", "Ev001")  # ids are per platform
    assert not replicas[1].claim_event("slack", "Ev001")


def test_messages_map_to_their_answers(engine: Engine) -> None:
    log, store = InteractionLog(engine), ConversationStore(engine)
    record = make_record()
    log.record(record)
    store.attach_message("slack", "C0HR", "1700000000.000200", record.id)
    store.attach_message("slack", "C0HR", "1700000000.000200", record.id)  # a retry is harmless
    assert store.interaction_for_message("slack", "C0HR", "1700000000.000200") == record.id
    assert store.interaction_for_message("slack", "C0HR", "1700000000.999999") is None
    assert store.interaction_for_message("slack", "C0ENG", "1700000000.000200") is None


def test_thread_turns_are_the_last_answers_oldest_first(engine: Engine) -> None:
    log, store = InteractionLog(engine), ConversationStore(engine)
    start = datetime(2026, 5, 1, 9, tzinfo=UTC)
    for minute, (question, kind) in enumerate(
        [("q1", "generated"), ("q2", "abstained"), ("q3", "failed"), ("q4", "extracted")]
    ):
        log.record(
            make_record(
                question=question,
                answer_text=f"a{question[1]}",
                kind=kind,
                thread_id="T9",
                created_at=(start + timedelta(minutes=minute)).isoformat(),
            )
        )
    log.record(make_record(question="elsewhere", thread_id="T8"))
    assert store.thread_turns("slack", "C0HR", "T9", 10) == (
        Turn("q1", "a1"),
        Turn("q2", "a2"),
        Turn("q4", "a4"),
    )
    assert store.thread_turns("slack", "C0HR", "T9", 2) == (Turn("q2", "a2"), Turn("q4", "a4"))
    assert store.thread_turns("teams", "C0HR", "T9", 10) == ()
    assert store.thread_turns("slack", "C0HR", "", 10) == ()

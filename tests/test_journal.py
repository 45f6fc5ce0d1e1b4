"""The local journal on SQLite and a real PostgreSQL: what an unreachable database could not
take is kept, then replayed in order, idempotently and across a restart of the process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot import metrics
from bot.journal import EntryKind, Journal
from bot.journal_records import DurableRecords, Stored
from bot.store.conversations import ConversationStore
from bot.store.database import create_db_engine
from bot.store.interactions import InteractionLog
from bot.store.models import AnswerMessage, Interaction, ProcessedEvent, Vote
from bot.store.retries import RetryPolicy
from bot.types import VoteSource, VoteStatus, VoteValue
from knowledge.weaviate_server import free_port
from tests.records import make_record

QUICK = RetryPolicy(attempts=2, backoff_s=0)
MESSAGE = ("slack", "C0HR", "1700000000.000200")


def records(engine: Engine, journal: Journal) -> DurableRecords:
    return DurableRecords(InteractionLog(engine, QUICK), ConversationStore(engine, QUICK), journal)


@pytest.fixture
def down() -> Engine:
    """A PostgreSQL URL nobody listens on: every connection is refused, as in an outage."""
    return create_db_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none?connect_timeout=2")


def rows(engine: Engine) -> dict[str, object]:
    with Session(engine) as session:
        return {
            "claims": sorted(session.scalars(select(ProcessedEvent.event_id))),
            "interactions": sorted(session.scalars(select(Interaction.id))),
            "links": sorted(session.scalars(select(AnswerMessage.message_id))),
            "votes": [
                (v.user_id, v.value, v.retracted_at is None)
                for v in session.scalars(select(Vote).order_by(Vote.id))
            ],
        }


def replayed(kind: EntryKind) -> float:
    return metrics.REPLAYED.labels(kind.value)._value.get()


def test_an_outage_is_journalled_and_replayed_in_order_once_across_a_restart(
    engine: Engine, down: Engine, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal")
    outage = records(down, journal)
    answer = make_record()
    # A mention during the outage: claimed, answered, posted, then voted on twice and retracted.
    assert outage.claim_event("slack", "Ev1") is True
    assert outage.claim_event("slack", "Ev1") is False  # Slack's redelivery, caught by the journal
    assert outage.record(answer) is Stored.JOURNAL
    assert outage.attach_message(*MESSAGE, answer.id) is Stored.JOURNAL
    assert outage.interaction_for_message(*MESSAGE) == answer.id  # known before it is written
    up = outage.vote(MESSAGE, "U2", VoteValue.UP, VoteSource.REACTION)
    assert (up.status, up.interaction_id) == (VoteStatus.JOURNALLED, answer.id)
    assert outage.vote(MESSAGE, "U2", VoteValue.DOWN, VoteSource.REACTION).status is VoteStatus.JOURNALLED
    assert outage.vote(answer.id, "U3", VoteValue.UP, VoteSource.BUTTON).status is VoteStatus.JOURNALLED
    assert outage.retract(MESSAGE, "U3").status is VoteStatus.JOURNALLED
    kinds = [e.kind for e in journal.pending()]
    assert kinds == [
        EntryKind.CLAIM,
        EntryKind.INTERACTION,
        EntryKind.LINK,
        EntryKind.VOTE,
        EntryKind.VOTE,
        EntryKind.VOTE,
        EntryKind.RETRACT,
    ]
    assert [e.seq for e in journal.pending()] == list(range(1, 8))
    assert rows(engine)["interactions"] == []
    # The process stops; a new one (a fresh Journal on the same files) replays into the database.
    before, saved = replayed(EntryKind.VOTE), journal.path.read_bytes()
    back = records(engine, Journal(tmp_path / "journal"))
    assert back.replay() == 7
    expected = {
        "claims": ["Ev1"],
        "interactions": [answer.id],
        "links": [MESSAGE[2]],
        # U2's up was replaced by the later down; U3's vote was retracted.
        "votes": [("U2", "up", False), ("U2", "down", True), ("U3", "up", False)],
    }
    assert rows(engine) == expected
    assert replayed(EntryKind.VOTE) - before == 3
    assert not journal.has_pending() and journal.pending() == []
    # Replaying the same entries again (a crash before the marker moved) changes nothing.
    journal.marker.write_text("0")
    journal.path.write_bytes(saved)
    assert back.replay() == 7
    assert rows(engine) == expected
    assert back.claim_event("slack", "Ev1") is False  # the database now remembers the claim


def test_while_entries_wait_new_writes_queue_behind_them(
    engine: Engine, down: Engine, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal")
    answer = make_record()
    assert records(down, journal).record(answer) is Stored.JOURNAL
    live = records(engine, journal)
    # The database is back, but the answer is not written yet: its vote must not go first.
    assert live.vote(answer.id, "U1", VoteValue.UP, VoteSource.BUTTON).status is VoteStatus.JOURNALLED
    assert live.replay() == 2
    assert rows(engine)["votes"] == [("U1", "up", True)]
    # With nothing waiting, writes go straight to the database again.
    assert live.vote(answer.id, "U1", VoteValue.DOWN, VoteSource.BUTTON).status is VoteStatus.CHANGED
    assert not journal.has_pending()


def test_a_reaction_the_database_cannot_place_is_resolved_on_replay(
    engine: Engine, down: Engine, tmp_path: Path
) -> None:
    answer = make_record()
    live = records(engine, Journal(tmp_path / "journal"))
    live.record(answer)
    live.attach_message(*MESSAGE, answer.id)
    outage = records(down, Journal(tmp_path / "journal"))
    kept = outage.vote(MESSAGE, "U4", VoteValue.DOWN, VoteSource.REACTION)
    assert kept.status is VoteStatus.JOURNALLED and kept.interaction_id == ""  # looked up later
    stray = outage.vote(("slack", "C0HR", "1.2"), "U5", VoteValue.UP, VoteSource.REACTION)
    assert stray.status is VoteStatus.JOURNALLED
    assert live.replay() == 2
    assert rows(engine)["votes"] == [("U4", "down", True)]  # the stray reaction is dropped


def test_what_cannot_be_read_or_written_is_set_aside_not_lost(
    engine: Engine, down: Engine, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal")
    outage = records(down, journal)
    good = make_record()
    outage.record(good)
    with journal.path.open("ab") as handle:
        handle.write(b'{"seq": 2, "kind": "interac')  # a crash in the middle of a write
    bad = make_record(platform="x" * 100)  # PostgreSQL refuses it for good
    outage.record(bad)
    assert [e.seq for e in journal.pending()] == [1, 2]  # the torn line did not swallow the next
    assert records(engine, journal).replay() == (2 if engine.dialect.name == "sqlite" else 1)
    assert good.id in rows(engine)["interactions"]
    aside = journal.rejected.read_text().splitlines()
    assert '{"seq": 2, "kind": "interac' in aside
    if engine.dialect.name == "postgresql":
        assert any(json.loads(line)["data"]["id"] == bad.id for line in aside if line.endswith("}"))
    assert not journal.has_pending()


def test_a_full_disk_loses_the_write_and_says_so(down: Engine, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    outage = records(down, Journal(blocked / "journal"))
    lost = metrics.LOST_RECORDS.labels("vote")._value.get()
    assert outage.vote("x", "U1", VoteValue.UP, VoteSource.BUTTON).status is VoteStatus.FAILED
    assert metrics.LOST_RECORDS.labels("vote")._value.get() == lost + 1
    assert outage.claim_event("slack", "Ev9") is True  # answered rather than ignored


def test_the_old_spool_is_adopted(engine: Engine, tmp_path: Path) -> None:
    from dataclasses import asdict

    spool = tmp_path / "unrecorded-interactions.jsonl"
    old = make_record()
    spool.write_text(json.dumps(asdict(old)) + "\n{broken\n")
    live = records(engine, Journal(tmp_path / "journal"))
    live.adopt_spool(spool)
    assert live.replay() == 1 and rows(engine)["interactions"] == [old.id]
    assert not spool.exists() and Path(f"{spool}.bad").read_text() == "{broken\n"


def test_two_deliveries_racing_into_an_outage_get_one_claim(down: Engine, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    outage = records(down, Journal(tmp_path / "journal"))
    with ThreadPoolExecutor(4) as pool:
        firsts = list(pool.map(lambda _: outage.claim_event("slack", "EvTwice"), range(4)))
    assert sorted(firsts) == [False, False, False, True]

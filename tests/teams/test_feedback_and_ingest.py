"""Teams feedback (the feedback loop's invoke, reactions) and the knowledge desk (ingest, docs, forget)."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import VOTE_KEPT
from bot.journal import Journal
from bot.journal_records import DurableRecords
from bot.store.conversations import ConversationStore
from bot.store.interactions import InteractionLog
from bot.store.models import Vote
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.teams_payloads import (
    CHANNEL_ID,
    USER_AAD_ID,
    channel_mention,
    feedback_invoke,
    file_message,
    personal_message,
    reaction,
)
from tests.slack.harness import REMOTE, count, current_votes, wait_until
from tests.teams.conftest import INGEST, POSTER, POSTER_AAD, ServerFactory, TeamsServer
from tests.teams.helpers import answers, card_text, message_id

pytestmark = pytest.mark.weaviate
OTHER_AAD = "00000000-0000-0000-0000-0000000000a2"


def answered(server: TeamsServer, connector: FakeConnector, engine: Any) -> tuple[str, str]:
    """Ask in a channel; the bot's answer message id and the thread's conversation id."""
    mention = channel_mention(REMOTE, service_url=connector.service_url)
    server.send(mention)
    [reply] = answers(connector)
    wait_until(lambda: count(engine, Vote) == 0 and _linked(engine))
    return message_id(reply), reply.conversation_id or ""


def _linked(engine: Any) -> bool:
    from bot.store.models import AnswerMessage

    return count(engine, AnswerMessage) == 1


def test_the_feedback_loop_records_likes_and_dislikes_with_text(
    start: ServerFactory, connector: FakeConnector, engine: Any
) -> None:
    server = start()
    answer_id, thread = answered(server, connector, engine)
    like = feedback_invoke(
        "like",
        reply_to_id=answer_id,
        service_url=connector.service_url,
        scope="channel",
        conversation_id=thread,
    )
    status, body = server.send(like)
    assert status == 200 and json.loads(body) is None  # a valid invoke response, nothing for Teams to show
    dislike = feedback_invoke(
        "dislike",
        "It ignores the rule for new starters",
        reply_to_id=answer_id,
        service_url=connector.service_url,
        scope="channel",
        conversation_id=thread,
        **{"from": {"id": "29:user-2", "name": "Bob", "aadObjectId": OTHER_AAD}},
    )
    assert server.send(dislike)[0] == 200
    assert server.send(dislike)[0] == 200  # a redelivered invoke still gets its 200, and no second vote
    wait_until(lambda: len(current_votes(engine)) == 2)
    with Session(engine) as session:
        votes = [
            (v.user_id, v.value, v.source, v.comment) for v in session.scalars(select(Vote).order_by(Vote.id))
        ]
    assert votes == [
        (USER_AAD_ID, "up", "feedback_loop", ""),
        (OTHER_AAD, "down", "feedback_loop", "It ignores the rule for new starters"),
    ]
    # Feedback on a message that is not one of the bot's answers changes nothing but still gets 200.
    stray = feedback_invoke("like", reply_to_id="1699999999999", service_url=connector.service_url)
    assert server.send(stray)[0] == 200
    server.settle()
    assert count(engine, Vote) == 2


def test_reactions_vote_and_removing_them_retracts(
    start: ServerFactory, connector: FakeConnector, engine: Any
) -> None:
    server = start()
    answer_id, thread = answered(server, connector, engine)
    url = connector.service_url
    server.send(
        reaction(
            True, "like", reply_to_id=answer_id, service_url=url, scope="channel", conversation_id=thread
        )
    )
    wait_until(lambda: current_votes(engine) == [(USER_AAD_ID, "up", "reaction")])
    server.send(
        reaction(
            False, "like", reply_to_id=answer_id, service_url=url, scope="channel", conversation_id=thread
        )
    )
    wait_until(lambda: current_votes(engine) == [])
    server.send(
        reaction(True, "sad", reply_to_id=answer_id, service_url=url, scope="channel", conversation_id=thread)
    )
    wait_until(lambda: current_votes(engine) == [(USER_AAD_ID, "down", "reaction")])
    # A reaction that is no vote, and a vote on someone else's message, are ignored.
    server.send(
        reaction(
            True, "laugh", reply_to_id=answer_id, service_url=url, scope="channel", conversation_id=thread
        )
    )
    server.send(
        reaction(
            True,
            "like",
            reply_to_id="1699999999999",
            service_url=url,
            scope="channel",
            conversation_id=thread,
        )
    )
    server.settle()
    assert count(engine, Vote) == 2


def test_a_poster_indexes_a_post_in_the_ingest_channel(
    start: ServerFactory, connector: FakeConnector
) -> None:
    server = start()
    post = (
        "Bike to work scheme\naudience: everyone\nversion: 1\neffective: 2026-06-01\n\n"
        "Employees can lease a bicycle through payroll once every four years, up to 1,500 EUR."
    )
    mention = channel_mention(
        post, service_url=connector.service_url, channel_id=INGEST, user_id=POSTER, aad_id=POSTER_AAD
    )
    server.send(mention)
    [reply] = answers(connector)
    assert reply.activity_id == mention["id"]  # in the post's thread
    assert "✅ Indexed Bike to work scheme v1 (bike-to-work-scheme) for everyone: 1 chunks" in card_text(
        reply.body
    )
    server.send(channel_mention("How often can I lease a bicycle?", service_url=connector.service_url))
    answer = card_text(answers(connector, 2)[1].body)
    assert "once every four years" in answer and "Bike to work scheme" in answer


def test_others_are_refused_and_unknown_audiences_listed(
    start: ServerFactory, connector: FakeConnector
) -> None:
    server = start()
    url = connector.service_url
    server.send(channel_mention("Free lunch\n\nLunch is free every day.", service_url=url, channel_id=INGEST))
    refusal = card_text(answers(connector)[0].body)
    assert "only the people listed as knowledge-base posters" in refusal
    server.send(channel_mention("Free lunch", service_url=url))  # not a question the bot can answer
    answers(connector, 2)
    server.send(
        channel_mention(
            "Lunch\naudience: kitchen\n\nLunch is at noon.",
            service_url=url,
            channel_id=INGEST,
            aad_id=POSTER_AAD,
        )
    )
    unknown = card_text(answers(connector, 3)[2].body)
    assert "unknown audience kitchen" in unknown and "everyone" in unknown and "hr-team" in unknown
    server.send(channel_mention("Is lunch free?", service_url=url))
    assert "Lunch is free" not in card_text(answers(connector, 4)[3].body)


def test_files_sent_to_the_bot_are_indexed(start: ServerFactory, connector: FakeConnector) -> None:
    server = start()
    document = Document()
    document.add_heading("Visitor Policy", level=1)
    document.add_paragraph("Visitors sign in at reception and wear a badge at all times.")
    buffer = io.BytesIO()
    document.save(buffer)
    docx = connector.add_file("visitors.docx", buffer.getvalue(), "application/octet-stream")
    message = file_message(
        "visitors.docx", docx, service_url=connector.service_url, text="audience: everyone", aad_id=POSTER_AAD
    )
    server.send(message)
    reply = card_text(answers(connector)[0].body)
    assert "indexed visitor policy" in reply.lower(), reply
    assert len(connector.calls_to("download")) == 1
    # Someone else's file is refused before it is even downloaded.
    notes = connector.add_file("notes.txt", b"Notes\nCanteen opens at 8.", "text/plain")
    server.send(file_message("notes.txt", notes, service_url=connector.service_url))
    assert "only the people listed" in card_text(answers(connector, 2)[1].body)
    assert len(connector.calls_to("download")) == 1


def test_oversized_files_and_foreign_hosts_are_refused(
    start: ServerFactory, connector: FakeConnector
) -> None:
    server = start()
    big = connector.add_file("huge.txt", b"x" * (2 * 1024 * 1024), "text/plain")
    server.send(file_message("huge.txt", big, service_url=connector.service_url, aad_id=POSTER_AAD))
    assert "over the 1 MB limit" in card_text(answers(connector)[0].body)
    elsewhere = "https://attacker.example/files/steal.txt"
    server.send(file_message("steal.txt", elsewhere, service_url=connector.service_url, aad_id=POSTER_AAD))
    assert "downloads from attacker.example are not allowed" in card_text(answers(connector, 2)[1].body)


def test_docs_and_forget_for_posters_only(start: ServerFactory, connector: FakeConnector) -> None:
    server = start()
    url = connector.service_url
    server.send(
        channel_mention(
            "Desk booking\n\nDesks are booked in the app up to two weeks ahead.",
            service_url=url,
            channel_id=INGEST,
            aad_id=POSTER_AAD,
        )
    )
    answers(connector)
    server.send(personal_message("docs", service_url=url, aad_id=POSTER_AAD))
    assert "desk-booking: Desk booking v1 for everyone" in card_text(answers(connector, 2)[1].body)
    server.send(channel_mention("forget desk-booking", service_url=url, channel_id=CHANNEL_ID))
    assert "only the people listed" in card_text(answers(connector, 3)[2].body)
    server.send(
        channel_mention("forget desk-booking", service_url=url, channel_id=CHANNEL_ID, aad_id=POSTER_AAD)
    )
    assert "Forgot desk-booking" in card_text(answers(connector, 4)[3].body)


def test_replies_in_an_ingest_thread_are_questions_and_channel_files_are_explained(
    start: ServerFactory, connector: FakeConnector
) -> None:
    server = start()
    url = connector.service_url
    root = channel_mention(
        "Parking\n\nVisitors park on level -2.", service_url=url, channel_id=INGEST, aad_id=POSTER_AAD
    )
    server.send(root)
    assert "Indexed Parking" in card_text(answers(connector)[0].body)
    # Anyone may ask in the post's thread: a reply there is a question, not a new document.
    server.send(
        channel_mention(
            "Where do visitors park?", service_url=url, channel_id=INGEST, reply_to_thread=root["id"]
        )
    )
    assert "level -2" in card_text(answers(connector, 2)[1].body)
    # A file attached in a channel arrives as a SharePoint reference the bot cannot fetch.
    shared = {
        "contentType": "reference",
        "contentUrl": "https://contoso.sharepoint.com/sites/hr/Shared Documents/leave.pdf",
        "name": "leave.pdf",
    }
    post = channel_mention("audience: everyone", service_url=url, channel_id=INGEST, aad_id=POSTER_AAD)
    post["attachments"] = [shared, *post["attachments"]]
    server.send(post)
    reply = card_text(answers(connector, 3)[2].body)
    assert "Could not index leave.pdf" in reply and "1:1 chat" in reply
    assert connector.calls_to("download") == []


def test_feedback_while_the_database_is_locked_is_kept_and_the_voter_told(
    start: ServerFactory, connector: FakeConnector, engine: Any, tmp_path: Path
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the lock is SQLite's; tests/test_serve_database_outage.py stops PostgreSQL")
    journal = Journal(tmp_path / "journal")
    server = start(journal=journal)
    answer_id, thread = answered(server, connector, engine)
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock past every retry
        like = feedback_invoke(
            "like",
            reply_to_id=answer_id,
            service_url=connector.service_url,
            scope="channel",
            conversation_id=thread,
        )
        assert server.send(like)[0] == 200
        told = connector.wait_for("replies", count=2, timeout=120)[1]
        assert VOTE_KEPT in json.dumps(told.body)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert count(engine, Vote) == 0 and journal.has_pending()
    written = DurableRecords(InteractionLog(engine), ConversationStore(engine), journal).replay()
    assert written == 2  # the feedback's claim, then the vote
    assert current_votes(engine) == [(USER_AAD_ID, "up", "feedback_loop")]

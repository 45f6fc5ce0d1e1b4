"""The Slack ingest channel: posts, files, refusals, docs and forget."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfWriter
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.files import SlackFiles
from knowledge.service import WeaviateKnowledgeBase
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import (
    mention_event,
    message_event,
)
from tests.slack.conftest import ServerFactory
from tests.slack.harness import ingest_reply, texts

pytestmark = pytest.mark.weaviate


# -- the ingest channel ---------------------------------------------------------------------


def test_an_authorised_text_post_is_indexed_and_answers_at_once(
    start: ServerFactory, fake: FakeSlack
) -> None:
    server = start()
    post = (
        "Bike to work scheme\naudience: everyone\nversion: 1\neffective: 2026-06-01\n\n"
        "Employees can lease a bicycle through payroll once every four years, up to 1,500 EUR."
    )
    server.event(
        message_event(post, "C0INGEST", "U0HR1", "1700000020.000100", channel_type="channel"), "Ev20"
    )
    reply = ingest_reply(fake, 1)
    assert reply.startswith(
        ":white_check_mark: Indexed Bike to work scheme v1 (bike-to-work-scheme) for everyone: 1 chunks"
    )
    assert fake.calls_to("chat.postMessage")[0].params["thread_ts"] == "1700000020.000100"
    server.event(
        mention_event("How often can I lease a bicycle?", "C0ENG", "U1", "1700000021.000100"), "Ev21"
    )
    answer = texts(fake.wait_for("chat.postMessage", count=2)[1])
    assert "once every four years" in answer and "Bike to work scheme" in answer
    # A new version replaces the old one and says so.
    newer = "Bike to work scheme\nversion: 2\n\nEmployees can lease a bicycle once every three years."
    server.event(
        message_event(newer, "C0INGEST", "U0HR1", "1700000022.000100", channel_type="channel"), "Ev22"
    )
    assert "v2 (bike-to-work-scheme) for everyone: 1 chunks, replacing v1." in ingest_reply(fake, 3)


def test_others_cannot_change_the_knowledge_base(
    start: ServerFactory, fake: FakeSlack, kb: WeaviateKnowledgeBase
) -> None:
    server = start()
    before = {d.doc_id for d in kb.list_documents()}
    post = "Free lunch policy\n\nEveryone gets free lunch every day."
    server.event(message_event(post, "C0INGEST", "U9", "1700000023.000100", channel_type="channel"), "Ev23")
    assert "only the people listed as knowledge-base posters" in ingest_reply(fake, 1)
    server.event(mention_event("forget remote-work", "C0INGEST", "U9", "1700000024.000100"), "Ev24")
    assert "only the people listed" in ingest_reply(fake, 2)
    # An authorised poster naming an unknown audience is refused with the known groups.
    bad = "Secret plan\naudience: board\n\nThe board meets monthly."
    server.event(message_event(bad, "C0INGEST", "U0HR1", "1700000025.000100", channel_type="channel"), "Ev25")
    refused = ingest_reply(fake, 3)
    assert "unknown audience board" in refused and "hr-team" in refused and "security" in refused
    # Posts in other channels are not ingested at all.
    server.event(message_event(post, "C0ENG", "U0HR1", "1700000026.000100", channel_type="channel"), "Ev26")
    server.settle()
    assert len(fake.calls_to("chat.postMessage")) == 3
    assert {d.doc_id for d in kb.list_documents()} == before


def test_files_of_each_type_are_fetched_and_indexed(
    start: ServerFactory, fake: FakeSlack, tmp_path: Path
) -> None:
    server = start()
    document = Document()
    document.add_heading("Visitor Policy", level=1)
    document.add_paragraph("Visitors sign in at reception and wear a badge at all times.")
    docx = tmp_path / "visitors.docx"
    document.save(str(docx))
    files = [
        fake.add_file(
            "F1",
            "parking.md",
            "markdown",
            b"# Parking\n\nStaff park on level -2 after 9:00.",
            "text/markdown",
        ),
        fake.add_file(
            "F2", "lockers.txt", "text", b"Lockers\nLockers are emptied every Friday evening.", "text/plain"
        ),
        fake.add_file(
            "F3",
            "plants.html",
            "html",
            b"<h1>Plants</h1><p>Office plants are watered on Mondays.</p>",
            "text/html",
        ),
        fake.add_file(
            "F4",
            "visitors.docx",
            "docx",
            docx.read_bytes(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        fake.add_file("F5", "scan.pdf", "pdf", _tiny_pdf(), "application/pdf"),
    ]
    message = message_event(
        "audience: everyone", "C0INGEST", "U0HR1", "1700000030.000100", channel_type="channel", files=files
    )
    server.event(message, "Ev30")
    reply = ingest_reply(fake, 1)
    for title in ["Parking", "Lockers", "Plants", "Visitor Policy"]:
        assert f"indexed {title.lower()}" in reply.lower(), reply
    assert "Could not index" in reply and "scan.pdf" in reply  # an image-only PDF says why
    downloads = fake.calls_to("files-pri")
    assert len(downloads) == 5 and all(d.token == "xoxb-test" for d in downloads)


def test_oversized_and_corrupt_files_are_refused(start: ServerFactory, fake: FakeSlack) -> None:
    server = start()
    big = fake.add_file("F6", "huge.txt", "text", b"x" * (2 * 1024 * 1024), "text/plain")
    broken = fake.add_file("F7", "broken.pdf", "pdf", b"%PDF-1.4 not really", "application/pdf")
    message = message_event(
        "", "C0INGEST", "U0HR1", "1700000031.000100", channel_type="channel", files=[big, broken]
    )
    server.event(message, "Ev31")
    reply = ingest_reply(fake, 1)
    assert "huge.txt: the file is 2.0 MB, over the 1 MB limit" in reply
    assert "broken.pdf" in reply and "not a readable PDF" in reply
    assert len(fake.calls_to("files-pri")) == 1  # the oversized file is never downloaded


def test_the_token_only_goes_to_allowed_hosts(fake: FakeSlack) -> None:
    fake.add_file("F9", "notes.txt", "text", b"Notes\nSome text.", "text/plain")
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    files, problems = asyncio.run(
        SlackFiles(["files.slack.com"], 1).fetch(client, [{"id": "F9", "name": "notes.txt"}])
    )
    assert files == [] and problems == ["Could not index notes.txt: downloads from 127.0.0.1 are not allowed"]
    assert fake.calls_to("files-pri") == []


def test_docs_and_forget_for_posters(start: ServerFactory, fake: FakeSlack) -> None:
    server = start()
    post = "Desk booking\n\nDesks are booked in the app up to two weeks ahead."
    server.event(
        message_event(post, "C0INGEST", "U0HR1", "1700000040.000100", channel_type="channel"), "Ev40"
    )
    ingest_reply(fake, 1)
    server.event(mention_event("docs", "C0INGEST", "U0HR1", "1700000041.000100"), "Ev41")
    assert "desk-booking: Desk booking v1 for everyone" in ingest_reply(fake, 2)
    server.event(mention_event("forget desk-booking", "C0INGEST", "U0HR1", "1700000042.000100"), "Ev42")
    assert "Forgot desk-booking" in ingest_reply(fake, 3)
    server.event(mention_event("forget desk-booking", "C0INGEST", "U0HR1", "1700000043.000100"), "Ev43")
    assert "No document with id 'desk-booking'" in ingest_reply(fake, 4)


def _tiny_pdf() -> bytes:
    # A valid PDF whose only page has no text: what a scan without OCR looks like.
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()

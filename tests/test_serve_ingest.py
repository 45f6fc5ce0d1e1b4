"""Posts to the ingest channel through `python app.py serve`: heavy or hostile ones do not
hold up /health or answers, and a DOCX bomb is refused by name (issue 19, finding 3)."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from docx import Document

from tests.fakes.slack_api import ApiCall, FakeSlack
from tests.fakes.slack_payloads import event_callback, mention_event, message_event, signed_headers
from tests.slack.harness import REMOTE, SECRET
from tests.test_serve import serving

pytestmark = pytest.mark.weaviate

POSTER, INGEST = "U0HR1", "C0INGEST"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def docx_bomb(paragraphs: int) -> bytes:
    """A real DOCX whose body holds `paragraphs` empty paragraphs: a few KB zipped."""
    plain = io.BytesIO()
    Document().save(plain)
    bomb = io.BytesIO()
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + b"<w:p/>" * paragraphs, 1)
            out.writestr(item.filename, data)
    return bomb.getvalue()


def post(url: str, event: dict[str, Any], event_id: str) -> None:
    body = json.dumps(event_callback(event, event_id))
    request = urllib.request.Request(url + "/slack/events", body.encode(), signed_headers(body, SECRET))
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200


def replies(fake: FakeSlack, thread: str) -> list[ApiCall]:
    return [c for c in fake.calls_to("chat.postMessage") if c.params.get("thread_ts") == thread]


def wait_reply(fake: FakeSlack, thread: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while not (found := replies(fake, thread)):
        assert time.monotonic() < deadline, f"no reply in thread {thread}"
        time.sleep(0.1)
    [reply] = found
    return str(reply.params.get("text") or json.dumps(reply.params.get("blocks")))


def test_a_docx_bomb_is_refused_while_health_and_questions_are_answered(
    samples_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "files-from-the-fake.yaml"
    config.write_text(Path(samples_env["CFG"]).read_text() + "\nslack:\n  file_hosts: [127.0.0.1]\n")
    with FakeSlack(bot_token="xoxb-serve") as fake:
        environ = {
            **samples_env,
            "CFG": str(config),
            "SLACK_BOT_TOKEN": "xoxb-serve",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        with serving(environ) as (process, url):
            # A long post (40 chunks, a minute on a busy machine) keeps an ingest in flight ...
            section = "Travel is booked through the portal at least two weeks ahead of the trip. " * 12
            text = "Travel handbook\n\n" + "\n\n".join(f"## Part {n}\n\n{section}" for n in range(40))
            long_ts = "1700000100.000100"
            post(url, message_event(text, INGEST, POSTER, long_ts, channel_type="channel"), "EvLong")
            fake.wait_for("reactions.add")  # the post's ingest has begun
            # ... while /health answers, and the long post's outcome is still to come.
            with urllib.request.urlopen(url + "/health", timeout=30) as response:
                assert response.status == 200
            assert replies(fake, long_ts) == [], "the ingest ended before /health answered"
            # A DOCX bomb by a poster, and a question, meanwhile.
            data = docx_bomb(300_000)
            assert len(data) < 100_000  # far under loader.max_file_mb
            files = [fake.add_file("FBOMB", "bomb.docx", "docx", data, DOCX_TYPE)]
            bomb_ts = "1700000101.000100"
            event = message_event(
                "audience: everyone", INGEST, POSTER, bomb_ts, channel_type="channel", files=files
            )
            post(url, event, "EvBomb")
            question_ts = "1700000102.000100"
            post(url, mention_event(REMOTE, "C0ENG", "U1", question_ts), "EvQuestion")
            assert "three days per week" in wait_reply(fake, question_ts)
            refused = wait_reply(fake, bomb_ts)
            assert ":warning: Could not index bomb.docx: holds 31" in refused, refused  # and its styles
            assert "over the limit of 200,000 (loader.max_elements)" in refused, refused
            indexed = wait_reply(fake, long_ts)
            assert indexed.startswith(":white_check_mark: Indexed Travel handbook v1 (travel-handbook)"), (
                indexed
            )
            with urllib.request.urlopen(url + "/health", timeout=30) as response:
                assert response.status == 200
        output = process.communicate()[0] if process.stdout else ""
    assert "Traceback" not in output, output

"""`python app.py ask` as a user runs it: answers, batches, access control, and the Claude path.

Without ANTHROPIC_API_KEY the answers are extractive; with it, the real anthropic SDK in
the subprocess talks to `FakeAnthropic`, a real HTTP server in this test process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, selectinload

from bot.store.models import Interaction, PromptText
from tests.cli_runner import cli, json_lines
from tests.fakes.anthropic_api import FakeAnthropic, Reply

pytestmark = pytest.mark.weaviate

ANSWER_KEYS = {
    "id",
    "answer",
    "abstained",
    "kind",
    "notice",
    "model",
    "citations",
    "passages",
    "interaction_id",
    "recorded",
    "latency_ms",
}
CITATION_KEYS = {"marker", "doc_id", "title", "section", "version", "source"}
ABSTAIN_TEXT = "I couldn't find this in the documents visible to this channel."
REMOTE = "How many days per week can I work remotely?"
MODEL = "claude-test-answerer"  # set in the settings file, echoed by the fake
BREACH = "Within how many hours must personal data breaches be reported to the data protection officer?"


def ask(args: list[str], environ: dict[str, str]) -> list[dict]:  # type: ignore[type-arg]
    out = cli(["ask", *args], environ)
    assert out.returncode == 0, out.stderr
    return json_lines(out.stdout)


def load_interaction(environ: dict[str, str], interaction_id: str) -> Interaction:
    engine = create_engine(f"sqlite:///{Path(environ['SUPPORTBOT_DATA_DIR']) / 'supportbot.db'}")
    try:
        with Session(engine) as session:
            query = (
                select(Interaction)
                .where(Interaction.id == interaction_id)
                .options(selectinload(Interaction.passages))
            )
            row = session.scalars(query).one()
            session.expunge_all()
            return row
    finally:
        engine.dispose()


def test_single_question_as_json(samples_env: dict[str, str]) -> None:
    [row] = ask(["--channel", "C0ENG", "--user", "U7", "--json", REMOTE], samples_env)

    assert set(row) == ANSWER_KEYS
    assert row["id"] is None
    assert row["kind"] == "extracted" and row["abstained"] is False
    assert row["model"] == "" and row["notice"] == ""
    assert "All employees may work remotely up to three days per week" in row["answer"]
    assert "[1]" in row["answer"]
    first = row["citations"][0]
    assert set(first) == CITATION_KEYS
    assert first["marker"] == 1
    assert first["doc_id"] == "remote-work"
    assert first["title"] == "Remote Work Policy"
    assert "Eligibility" in first["section"]
    assert first["version"] == "2"
    assert first["source"].endswith("remote-work-v2.md")
    assert all(c["version"] == "2" for c in row["citations"] if c["doc_id"] == "remote-work")
    assert row["passages"], "the passages the answer was drawn from are returned too"
    assert row["recorded"] is True
    assert row["latency_ms"] > 0
    assert str(uuid.UUID(row["interaction_id"])) == row["interaction_id"]

    stored = load_interaction(samples_env, row["interaction_id"])
    assert (stored.platform, stored.channel, stored.user_id) == ("cli", "C0ENG", "U7")
    assert stored.question == REMOTE and stored.answer_text == row["answer"]
    assert [p.chunk_id for p in stored.passages if p.cited] != []


def test_batch_echoes_ids_in_order_and_abstains_off_topic(
    samples_env: dict[str, str], tmp_path: Path
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        f'{{"id": "remote", "question": "{REMOTE}"}}\n'
        '{"id": 2, "question": "What is the capital city of Mongolia?"}\n'
        "\n"
        '{"id": "abroad", "question": "How many days per year can I work from abroad?"}\n'
    )
    rows = ask(["--channel", "C0ENG", "--questions", str(questions), "--json"], samples_env)

    assert [r["id"] for r in rows] == ["remote", 2, "abroad"]
    assert all(set(r) == ANSWER_KEYS and r["recorded"] is True for r in rows)
    remote, off_topic, abroad = rows
    assert not remote["abstained"] and remote["citations"][0]["doc_id"] == "remote-work"
    assert off_topic["abstained"] is True and off_topic["kind"] == "abstained"
    assert off_topic["citations"] == []
    assert off_topic["answer"] == ABSTAIN_TEXT
    assert not abroad["abstained"] and "20 working days" in abroad["answer"]
    assert len({r["interaction_id"] for r in rows}) == 3


def test_a_channel_never_sees_documents_outside_its_groups(samples_env: dict[str, str]) -> None:
    [eng] = ask(["--channel", "C0ENG", "--json", BREACH], samples_env)
    assert all(c["doc_id"] != "incident-response" for c in eng["citations"])
    assert all(p["doc_id"] != "incident-response" for p in eng["passages"])
    assert "24 hours" not in eng["answer"]

    [sec] = ask(["--channel", "C0SEC", "--json", BREACH], samples_env)
    assert not sec["abstained"]
    assert sec["citations"][0]["doc_id"] == "incident-response"
    assert "24 hours" in sec["answer"]


def test_questions_file_needs_json(samples_env: dict[str, str], tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(f'{{"id": 1, "question": "{REMOTE}"}}\n')
    out = cli(["ask", "--channel", "C0ENG", "--questions", str(questions)], samples_env)
    assert out.returncode == 2
    assert "--questions writes JSON lines: add --json" in out.stderr
    assert out.stdout == ""


def test_malformed_line_names_its_number(samples_env: dict[str, str], tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(f'{{"id": 1, "question": "{REMOTE}"}}\n\n{{"id": 3, "question": \n')
    out = cli(["ask", "--channel", "C0ENG", "--questions", str(questions), "--json"], samples_env)
    assert out.returncode == 2
    assert f"{questions}:3:" in out.stderr.replace("\n", "")
    assert out.stdout == "", "nothing is answered when the file is malformed"


def test_usage_errors_come_before_the_slow_start(env: dict[str, str], tmp_path: Path) -> None:
    # No knowledge base, model or database is opened: the data directory stays empty.
    missing = tmp_path / "missing.jsonl"
    out = cli(["ask", "--channel", "C0ENG", "--questions", str(missing), "--json"], env)
    assert out.returncode == 2 and f"cannot read {missing}" in out.stderr.replace("\n", "")
    assert "Traceback" not in out.stderr
    out = cli(["ask", "--channel", "C0ENG"], env)
    assert out.returncode == 2 and "give a question" in out.stderr
    assert not Path(env["SUPPORTBOT_DATA_DIR"]).exists()


# -- with Claude (a fake Anthropic API) ---------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def claude_env(samples_env: dict[str, str], fake: FakeAnthropic, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "claude.yaml"
    config.write_text(
        Path(samples_env["CFG"]).read_text()
        + f"answers:\n  claude: {{max_retries: 0, timeout_s: 2, model: {MODEL}}}\n"
    )
    return {
        **samples_env,
        "CFG": str(config),
        "ANTHROPIC_API_KEY": "sk-ant-test-key",
        "ANTHROPIC_BASE_URL": fake.base_url,
    }


def test_claude_answer_cites_the_passage_it_names(
    samples_env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    fake.reply_tool(
        "submit_answer",
        {"answer": "You may work remotely up to three days per week [1].", "abstained": False},
    )
    [row] = ask(["--channel", "C0ENG", "--json", REMOTE], claude_env(samples_env, fake, tmp_path))

    assert row["kind"] == "generated" and row["abstained"] is False
    assert row["answer"] == "You may work remotely up to three days per week [1]."
    assert row["notice"] == ""
    [request] = fake.requests
    body = request.json
    assert row["model"] == body["model"] == MODEL
    passage = row["passages"][0]
    assert row["citations"] == [
        {"marker": 1, **{k: passage[k] for k in ("doc_id", "title", "section", "version", "source")}}
    ]
    credentials = request.headers.get("x-api-key", "") + request.headers.get("authorization", "")
    assert "sk-ant-test-key" in credentials

    # The fixed system prompt is cacheable and holds no document text; passages go in the user turn.
    assert isinstance(body["system"], list) and body["system"]
    assert all(block.get("cache_control") == {"type": "ephemeral"} for block in body["system"])
    system = " ".join(block["text"] for block in body["system"])
    user = body["messages"][0]["content"]
    assert [m["role"] for m in body["messages"]] == ["user"]
    for p in row["passages"]:
        first_line = next(line for line in p["text"].splitlines() if len(line.strip()) > 20).strip()
        assert first_line not in system
        assert first_line in user
    assert "three days per week" not in system
    assert body["tool_choice"] == {"type": "tool", "name": "submit_answer"}

    stored = load_interaction(samples_env, row["interaction_id"])
    assert (stored.answerer, stored.model, stored.kind) == ("claude", MODEL, "generated")
    assert stored.user_prompt == user, "the exact message sent is stored for replay"
    engine = create_engine(f"sqlite:///{Path(samples_env['SUPPORTBOT_DATA_DIR']) / 'supportbot.db'}")
    try:
        with Session(engine) as session:
            assert session.get(PromptText, stored.system_prompt_sha256).text == system  # type: ignore[union-attr]
    finally:
        engine.dispose()
    cited = [p for p in stored.passages if p.cited]
    assert [(p.rank, p.citation_marker) for p in cited] == [(1, 1)]


def test_claude_failure_falls_back_to_extracts_with_a_notice(
    samples_env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    fake.responder = lambda body: Reply.failure(500, "api_error", "Internal server error")
    out = cli(["ask", "--channel", "C0ENG", "--json", REMOTE], claude_env(samples_env, fake, tmp_path))

    assert out.returncode == 0, out.stderr
    [row] = json_lines(out.stdout)
    assert row["kind"] == "extracted" and row["abstained"] is False
    assert "HTTP 500" in row["notice"]
    assert "quoted from the documents" in row["notice"]
    assert "three days per week" in row["answer"]
    assert row["citations"][0]["doc_id"] == "remote-work"
    assert row["model"] == ""
    assert row["recorded"] is True
    assert len(fake.requests) == 1, "max_retries: 0 from the settings file reaches the SDK"

    stored = load_interaction(samples_env, row["interaction_id"])
    assert stored.answerer == "extractive" and stored.notice == row["notice"]

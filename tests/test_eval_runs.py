"""Golden runs on a real knowledge base holding policy-qa PDFs: the library without a judge,
then `app.py eval --judge claude --json OUT` as a user runs it, on the same collection
(Claude, answering and judging, is the fake Messages API)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import weaviate
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.answering.claude import ClaudeSettings
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followups import HeuristicRewriter
from bot.core import AnswerSettings, SupportBot
from bot.settings import DigestSettings, load_file_config
from bot.store.database import create_db_engine, default_url, migrate
from bot.store.interactions import InteractionLog
from bot.store.models import Interaction
from eval.digest.ragas_provider import GOLDEN_SET, WEEK_SAMPLE, DigestRagas, week_sample
from eval.digest.week import Week
from eval.golden import GoldenItem, load_golden, write_golden
from eval.golden_policyqa import group_of
from eval.ragas_eval import run_golden
from knowledge.access import AccessPolicy
from knowledge.connection import WeaviateSettings
from knowledge.embeddings import EmbeddingSettings
from knowledge.loaders import DocumentDefaults
from knowledge.schema import open_collection
from knowledge.service import KnowledgeSettings, WeaviateKnowledgeBase, schema_stamp
from tests.cli_runner import cli
from tests.conftest import POLICY_QA, REPO
from tests.fakes.anthropic_api import JSON, FakeAnthropic, RagasJudge, Reply
from tests.records import make_record
from tests.test_eval_judge import classify_by_words

pytestmark = pytest.mark.weaviate

GOLDEN = REPO / "eval" / "golden" / "policy-qa.jsonl"
# The two smallest PDFs (69 chunks: 10-16 s to parse and embed here). All eight take about
# two minutes on 2 cores (25 s parsing, 85 s embedding 1,302 chunks), too long for a test.
FOLDERS = ("Risk_Management_Policy", "Legal_Employment_Contract")
DOCS = {"risk-management-policy", "employment-contract"}


@pytest.fixture(scope="module")
def policy_kb(
    weaviate_client: weaviate.WeaviateClient,
    embed_model,  # type: ignore[no-untyped-def]
    embedding_settings: EmbeddingSettings,
) -> WeaviateKnowledgeBase:
    """Like conftest's make_kb, under an alias of our own: the CLI test opens it by name."""
    alias = f"Eval_{uuid.uuid4().hex[:12]}"
    settings = KnowledgeSettings(weaviate=WeaviateSettings(collection=alias), embedding=embedding_settings)
    name = open_collection(weaviate_client, alias, schema_stamp(settings))
    groups = load_file_config(REPO / "config" / "sample.yaml").access.groups
    kb = WeaviateKnowledgeBase(weaviate_client, name, embed_model, AccessPolicy(groups=groups), settings)
    started = time.perf_counter()
    for folder in FOLDERS:
        results = kb.ingest_paths(
            [POLICY_QA / folder], DocumentDefaults(audience=(group_of(POLICY_QA / folder),))
        )
        assert [r.ok for r in results] == [True], results
    print(f"ingested {', '.join(FOLDERS)} in {time.perf_counter() - started:.1f} s")
    return kb


@pytest.fixture
def bot(policy_kb: WeaviateKnowledgeBase, tmp_path: Path) -> SupportBot:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    settings = AnswerSettings()
    extractive = ExtractiveAnswerer(settings.extractive, policy_kb.embed)
    return SupportBot(
        policy_kb, extractive, extractive, HeuristicRewriter(), InteractionLog(engine), settings
    )


def shipped_items(prefix: str = "") -> list[GoldenItem]:
    return [
        item
        for item in load_golden(GOLDEN)
        if set(item.reference_doc_ids) <= DOCS and item.id.startswith(prefix)
    ]


def test_the_shipped_golden_set_covers_every_pdf_from_the_console_channel() -> None:
    items = load_golden(GOLDEN)
    assert len(items) == 40
    assert len({doc for item in items for doc in item.reference_doc_ids}) == 8
    assert {item.channel for item in items} == {"C0CONSOLE"}
    assert all(item.reference_contexts for item in items)


def cli_questions() -> float:
    """Questions counted in the Prometheus metrics for the command line, of every kind."""
    return sum(
        REGISTRY.get_sample_value("supportbot_questions_total", {"platform": "cli", "kind": kind}) or 0.0
        for kind in ("generated", "extracted", "abstained", "failed")
    )


def test_golden_run_without_a_judge(bot: SupportBot, policy_kb: WeaviateKnowledgeBase) -> None:
    items = shipped_items()
    assert len(items) == 10
    before = cli_questions()
    stages: list[str] = []
    report = run_golden(
        bot, items, top_k=policy_kb.settings.retrieval.top_k, progress=lambda s, d, t: stages.append(s)
    )
    assert len(report.rows) == len(items) and [r.row.id for r in report.rows] == [i.id for i in items]
    assert stages.count("answering") == len(items) and stages.count("scoring") == len(items)
    assert report.answerer == "extractive" and report.top_k == 5 and report.judge is None
    scores = report.scores()
    # Measured here (two documents in the index): recall@5, MRR and context recall 1.0,
    # ROUGE-L 0.34, similarity 0.31, 3 of 10 abstained (the extractive answerer).
    assert scores["recall_at_k"] >= 0.9
    assert 0.8 <= scores["mrr"] <= 1.0
    assert scores["non_llm_context_recall"] >= 0.7
    assert 0.15 < scores["rouge_score"] < 1.0 and 0.1 < scores["non_llm_string_similarity"] < 1.0
    assert "faithfulness" not in scores and "answer_relevancy" not in scores
    for result in report.rows:
        s = result.scores
        assert s.recall_at_k == s.id_based_context_recall  # top-k passages: the two must agree
        assert s.mrr is not None and 0.0 <= s.mrr <= 1.0
        assert s.id_based_context_precision is not None and 0.0 <= s.id_based_context_precision <= 1.0
        if not result.row.answered:
            assert s.rouge_score == 0.0 and s.non_llm_string_similarity == 0.0
    assert report.metric("rouge_score").rows == len(items)
    assert report.abstained == sum(r.row.kind == "abstained" for r in report.rows)
    # A golden run is not traffic: nothing lands in the bot's own log, nor in /metrics.
    with Session(bot.log.engine) as session:
        assert session.scalar(select(func.count()).select_from(Interaction)) == 0
    assert cli_questions() == before


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def bot_answers(body: JSON) -> Reply:
    """The bot's own Claude call (`submit_answer`): one sentence the passages hold, one they don't;
    and RAGAS answer correctness's classification of statements (test_eval_judge.classify_by_words)."""
    classified = classify_by_words(body)
    if classified is not None:
        return classified
    answer = "Risks are assessed on likelihood and impact [1]. The moon is made of cheese [1]."
    return Reply.tool("submit_answer", {"answer": answer, "abstained": False})


def test_eval_command_with_claude_as_judge(
    policy_kb: WeaviateKnowledgeBase, env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    fake.responder = RagasJudge(
        supported=lambda statement, context: "likelihood" in statement.lower(), fallback=bot_answers
    )
    config = tmp_path / "eval.yaml"
    config.write_text(
        (REPO / "config" / "sample.yaml").read_text()
        + f"weaviate:\n  collection: {policy_kb.settings.weaviate.collection}\n"
    )
    golden = tmp_path / "risk.jsonl"
    write_golden(golden, shipped_items("risk-"))
    out = tmp_path / "report.json"
    env = {**env, "CFG": str(config), "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": fake.base_url}
    result = cli(["eval", "--golden", str(golden), "--judge", "claude", "--json", str(out)], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["golden"] == str(golden) and report["questions"] == len(report["rows"]) == 5
    assert report["answerer"] == "claude" and report["judge"] == "claude-sonnet-5-5" and report["top_k"] == 5
    assert all(row["kind"] == "generated" for row in report["rows"])
    metrics = report["metrics"]
    assert metrics["recall_at_k"]["mean"] == 1.0 and metrics["non_llm_context_recall"]["rows"] == 5
    assert metrics["faithfulness"]["mean"] == 0.5 and metrics["faithfulness"]["rows"] == 5  # 1 of 2, each row
    assert metrics["answer_relevancy"]["rows"] == 5 and 0 <= metrics["answer_relevancy"]["mean"] <= 1
    # Answer correctness: the moon sentence is a false positive on every row, so the facts score
    # (0.75 of it) stays below 1; no judge needed for token F1 and numbers recall.
    assert metrics["answer_correctness"]["rows"] == 5 and 0 < metrics["answer_correctness"]["mean"] < 1
    assert metrics["token_f1"]["rows"] == 5 and 0 < metrics["token_f1"]["mean"] < 1
    row = report["rows"][0]
    assert row["reference_doc_ids"] == ["risk-management-policy"] and row["channel"] == "C0CONSOLE"
    assert row["retrieved_doc_ids"][0] == "risk-management-policy" and row["errors"] == {}
    # The terminal report: the summary table, the per-question table (ids whole at 80 columns).
    assert "RAGAS scores" in result.stdout and "faithfulness" in result.stdout
    assert "Per question" in result.stdout and "risk-management-policy-1" in result.stdout
    assert f"Wrote {out}" in result.stdout
    tools = [r.json["tool_choice"]["name"] for r in fake.requests]
    assert tools.count("submit_answer") == 5 and tools.count("AnswerRelevanceOutput") == 15
    assert tools.count("ClassificationWithReason") == 5
    assert all("temperature" not in r.json and "top_p" not in r.json for r in fake.requests)
    # The run recorded nothing in the bot's log (the data directory's database).
    engine = create_db_engine(default_url(Path(env["SUPPORTBOT_DATA_DIR"])))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM interactions").scalar() == 0
    engine.dispose()


# -- the digest's RAGAS section ----------------------------------------------------------

WEEK = Week(2026, 47)
FAITHFUL = "The birth parent receives 20 weeks [1]."  # make_record's passage says exactly this


def seed_week(bot: SupportBot) -> None:
    """Two answers in the console channel (one the passage bears out, one it does not), one
    in C0HR, one abstention, and one answer of the week before."""
    monday = WEEK.start
    for hours, channel, text, kind in [
        (1, "C0CONSOLE", FAITHFUL, "generated"),
        (2, "C0CONSOLE", "The birth parent receives 52 weeks [1].", "generated"),
        (3, "C0HR", FAITHFUL, "extracted"),
        (4, "C0CONSOLE", "I couldn't find this.", "abstained"),
        (-30, "C0CONSOLE", FAITHFUL, "generated"),
    ]:
        created = (monday + timedelta(hours=hours)).isoformat()
        bot.log.record(
            make_record(
                channel=channel,
                created_at=created,
                answer_text=text,
                kind=kind,
                abstained=kind == "abstained",
            )
        )


def test_the_digest_scores_the_golden_set_and_a_judged_sample_of_the_week(
    bot: SupportBot,
    fake: FakeAnthropic,
    embed_model,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from eval.judge import FastEmbedForRagas, claude_judge

    seed_week(bot)
    golden = tmp_path / "golden.jsonl"
    hr_question = GoldenItem(
        id="hr-1",
        question="How long is parental leave?",
        reference="20 weeks.",
        reference_doc_ids=["parental-leave"],  # not in this knowledge base
        channel="C0HR",
    )
    write_golden(golden, [*shipped_items("risk-")[:2], hr_question])
    fake.responder = RagasJudge()  # a statement is supported when its words are in the passages

    def judge():  # type: ignore[no-untyped-def]
        client = claude_judge("test-key", fake.base_url, ClaudeSettings(max_retries=0), model="judge")
        return client, FastEmbedForRagas(embed_model)

    provider = DigestRagas(bot, DigestSettings(golden=golden, sample_size=5), top_k=5, judge=judge)

    def statements() -> int:  # one StatementGenerator call per judged answer (faithfulness)
        return sum(r.json["tool_choice"]["name"] == "StatementGeneratorOutput" for r in fake.requests)

    scores, notes = provider(WEEK, ["C0CONSOLE"])
    assert set(scores) == {GOLDEN_SET, WEEK_SAMPLE}
    assert scores[GOLDEN_SET]["recall_at_k"] == 1.0
    # Extractive answers quote the passages, so the judge finds every statement in them.
    assert scores[GOLDEN_SET]["faithfulness"] == 1.0
    assert scores[WEEK_SAMPLE]["faithfulness"] == 0.5  # 20 weeks is in the passage, 52 is not
    assert "answer_relevancy" in scores[WEEK_SAMPLE] and "rouge_score" not in scores[WEEK_SAMPLE]
    assert any(n.startswith("golden set: 2 questions asked from these channels") for n in notes)
    assert "week's answers: 2 judged by judge" in notes
    golden_answered = statements() - 2

    # The HR leads' digest: the golden set is not asked again, their one answer is judged.
    scores, notes = provider(WEEK, ["C0HR"])
    assert statements() == golden_answered + 2 + 1
    assert scores[GOLDEN_SET]["recall_at_k"] == 0.0  # the parental-leave policy is not indexed
    assert scores[WEEK_SAMPLE]["faithfulness"] == 1.0

    # A DM this week: in a "*" lead's sample only when the lead names the DM scope.
    bot.log.record(make_record(channel="@dm", created_at=(WEEK.start + timedelta(hours=5)).isoformat()))
    assert len(week_sample(bot, WEEK, ["*"], 9, private=["@dm"])) == 3
    assert len(week_sample(bot, WEEK, ["*", "@dm"], 9, private=["@dm"])) == 4

    scores, notes = provider(WEEK, ["C0NOBODY"])
    assert scores == {} and "no golden question is asked from these channels" in notes
    # Neither the golden questions nor the judging wrote to the log: the five seeded rows only.
    with Session(bot.log.engine) as session:
        assert session.scalar(select(func.count()).select_from(Interaction)) == 6


def test_the_digest_scores_without_a_judge_and_survives_a_refused_one(
    bot: SupportBot, fake: FakeAnthropic, tmp_path: Path
) -> None:
    from eval.judge import claude_judge

    seed_week(bot)
    golden = tmp_path / "golden.jsonl"
    write_golden(golden, shipped_items("risk-")[:2])
    unjudged = DigestRagas(bot, DigestSettings(golden=golden), top_k=5)
    scores, notes = unjudged(WEEK, ["*"])
    assert set(scores) == {GOLDEN_SET} and "faithfulness" not in scores[GOLDEN_SET]
    assert scores[GOLDEN_SET]["mrr"] > 0.5
    assert any("only with Claude as judge" in n for n in notes)

    fake.responder = lambda body: Reply.failure(401, "authentication_error", "invalid x-api-key")
    refused = DigestRagas(
        bot,
        DigestSettings(golden=golden),
        top_k=5,
        judge=lambda: (claude_judge("bad", fake.base_url, ClaudeSettings(max_retries=0)), None),  # type: ignore[arg-type,return-value]
    )
    scores, notes = refused(WEEK, ["*"])
    assert scores[GOLDEN_SET]["recall_at_k"] == 1.0 and "faithfulness" not in scores[GOLDEN_SET]
    assert any("scored without the judge" in n and "AuthenticationError" in n for n in notes)
    assert any("the week's answers not evaluated" in n for n in notes)
    fake.responder = RagasJudge()  # the judge is back: the golden set is scored again, with it
    scores, notes = refused(WEEK, ["*"])
    assert scores[GOLDEN_SET]["faithfulness"] == 1.0
    assert scores[WEEK_SAMPLE]["faithfulness"] == pytest.approx(2 / 3)  # all three answers this time

    missing = DigestRagas(bot, DigestSettings(golden=tmp_path / "nope.jsonl"), top_k=5)
    scores, notes = missing(WEEK, ["*"])
    assert scores == {} and any("cannot read golden set" in n for n in notes)
    draw = [i.id for i in week_sample(bot, WEEK, ["*"], 2)]
    assert draw == [i.id for i in week_sample(bot, WEEK, ["*"], 2)]  # the same draw each time
    assert len(week_sample(bot, WEEK, ["*"], 2)) == 2 and len(week_sample(bot, WEEK, ["*"], 9)) == 3

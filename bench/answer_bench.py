"""Benchmark of answering on the policy-qa set (8 PDFs, simple + conditional questions).

In one run against a fresh embedded Weaviate and a SQLite interaction log it measures:
1. the overhead `SupportBot.answer` adds to retrieval, model time excluded: p50/p95 of the answer with
   the extractive answerer and with ClaudeAnswerer against a fake Anthropic API that replies at once
   (SDK, HTTP, parsing and recording counted), against `kb.retrieve` alone on the same questions
   (target: p95 overhead < 150 ms), plus the answerer and `log.record` steps timed directly;
2. extractive abstention calibration over `min_confidence`: answer rate and gold-document citation on
   the policy-qa questions, abstention on off-topic questions and on the policy-qa questions asked
   from a channel that cannot see the gold document (which must never be cited there).
Prints tables with PASS/MISS per target and one JSON summary line last; also writes bench/results/.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bench.off_topic import OFF_TOPIC
from bench.retrieval_bench import (
    CHANNEL,
    Question,
    embed_model_path,
    load_questions,
    parse_pdfs,
    pct,
    verdict,
    write_results,
)
from bot.answering.base import Draft
from bot.answering.citations import resolve_citations
from bot.answering.claude import ClaudeAnswerer, make_client
from bot.answering.extractive import ExtractiveAnswerer, ExtractiveSettings
from bot.answering.followups import HeuristicRewriter
from bot.core import AnswerSettings, SupportBot, interaction_record
from bot.store.database import create_db_engine, default_url, migrate
from bot.store.interactions import InteractionLog, InteractionRecord
from bot.types import Answer, Platform
from bot.types import Question as Ask
from knowledge.access import AccessPolicy
from knowledge.embeddings import EmbeddingSettings
from knowledge.service import KnowledgeSettings, WeaviateKnowledgeBase, open_knowledge
from knowledge.types import AccessScope, Passage
from tests.fakes.anthropic_api import FakeAnthropic, Reply

T = TypeVar("T")
LATENCY_QUESTIONS, WARMUP = 300, 20
OVERHEAD_TARGET_MS = 150.0
CONFIDENCES = (0.4, 0.5, 0.6, 0.7, 0.8)


def only(group: str) -> str:
    """The channel that sees `group` and nothing else."""
    return f"C0ONLY{group.upper()}"


def timed(call: Callable[..., T], *args: Any) -> tuple[T, float]:
    start = time.perf_counter()
    out = call(*args)
    return out, 1000 * (time.perf_counter() - start)


def ask(bot: SupportBot, text: str) -> Answer:
    return bot.answer(Ask(text, Platform.CLI, CHANNEL, "bench"))


def instant_answer(body: dict[str, Any]) -> Reply:
    return Reply.tool("submit_answer", {"answer": "The policy covers this case. [1]", "abstained": False})


def record_of(text: str, scope: AccessScope, passages: list[Passage], draft: Draft) -> InteractionRecord:
    """What the core records for this draft, built by the core's own function."""
    resolved = resolve_citations(draft.text, passages)
    answer = Answer(
        resolved.text,
        draft.kind,
        citations=resolved.citations,
        passages=tuple(passages),
        model=draft.model,
        interaction_id=str(uuid.uuid4()),
    )
    return interaction_record(Ask(text, Platform.CLI, scope.channel, "bench"), text, scope, answer, draft)


def bench_overhead(
    kb: WeaviateKnowledgeBase, bots: dict[str, SupportBot], log: InteractionLog, questions: list[Question]
) -> tuple[dict[str, float], dict[str, dict[str, int]], bool]:
    scope = kb.scope_for(CHANNEL)
    extractive, claude = bots["extractive"].answerer, bots["claude"].answerer
    calls: dict[str, Callable[[str], Any]] = {"retrieve": partial(kb.retrieve, scope=scope)}
    calls.update({name: partial(ask, bot) for name, bot in bots.items()})
    sample = random.Random(7).sample(questions, min(len(questions), LATENCY_QUESTIONS + WARMUP))
    series: dict[str, list[float]] = {
        name: [] for name in (*calls, "extractive step", "claude step", "record")
    }
    kinds: dict[str, Counter[str]] = {name: Counter() for name in bots}
    for i, q in enumerate(sample):
        order = list(calls.items())
        results: dict[str, Any] = {}
        for name, call in order[i % 3 :] + order[: i % 3]:  # rotate who goes first
            results[name], ms = timed(call, q.text)
            series[name].append(ms)
        # The steps alone, on the passages the baseline retrieved.
        passages: list[Passage] = results["retrieve"]
        draft, ms = timed(extractive.answer, q.text, passages)
        series["extractive step"].append(ms)
        series["claude step"].append(timed(claude.answer, q.text, passages)[1])
        record = record_of(q.text, scope, passages, draft)
        series["record"].append(timed(log.record, record)[1])
        if i >= WARMUP:
            for name in bots:
                answer: Answer = results[name]
                kinds[name].update([answer.kind.value] + (["recorded"] if answer.recorded else []))
    series = {name: values[WARMUP:] for name, values in series.items()}
    for name in bots:
        series[f"overhead {name}"] = [a - r for a, r in zip(series[name], series["retrieve"], strict=True)]
    out: dict[str, float] = {"n": float(len(series["retrieve"]))}
    for name, values in series.items():
        key = name.replace(" ", "_")
        out[f"{key}_p50_ms"], out[f"{key}_p95_ms"] = pct(values, 50), pct(values, 95)
    for name in bots:
        for p in (50, 95):
            out[f"{name}_p{p}_ratio"] = out[f"{name}_p{p}_ms"] / out[f"retrieve_p{p}_ms"]
    print(
        f"\n1. Answer overhead, model time excluded: {out['n']:.0f} questions after {WARMUP} warm-up, interleaved"
    )
    print(f"  {'':<50}{'p50 ms':>8}{'p95 ms':>8}")
    labels = {
        "retrieve": "kb.retrieve alone (baseline)",
        "extractive": "SupportBot.answer, extractive",
        "claude": "SupportBot.answer, Claude via fake API (0 s model)",
        "overhead extractive": "overhead extractive (answer - retrieve, per q.)",
        "overhead claude": "overhead Claude (answer - retrieve, per q.)",
        "extractive step": "  step: ExtractiveAnswerer.answer",
        "claude step": "  step: ClaudeAnswerer.answer (SDK+HTTP+parse)",
        "record": "  step: InteractionLog.record (SQLite)",
    }
    for name, label in labels.items():
        key = name.replace(" ", "_")
        print(f"  {label:<50}{out[f'{key}_p50_ms']:>8.2f}{out[f'{key}_p95_ms']:>8.2f}")
    for name in bots:
        ratios = f"p50 {out[f'{name}_p50_ratio']:.2f}, p95 {out[f'{name}_p95_ratio']:.2f}"
        print(f"  ratio answer/retrieve, {name}: {ratios}; outcomes {dict(kinds[name])}")
    worst = max(out["overhead_extractive_p95_ms"], out["overhead_claude_p95_ms"])
    ok = worst < OVERHEAD_TARGET_MS
    print(f"  worst p95 overhead {worst:.2f} ms (target < {OVERHEAD_TARGET_MS:.0f} ms) {verdict(ok)}")
    return out, {name: dict(counter) for name, counter in kinds.items()}, ok


def outcome(answerer: ExtractiveAnswerer, text: str, passages: list[Passage]) -> set[str] | None:
    """The cited documents, or None when the answer abstains (as the core decides it)."""
    draft = answerer.answer(text, passages) if passages else None
    if draft is None or draft.abstained:
        return None
    return {c.doc_id for c in resolve_citations(draft.text, passages).citations} or None


def bench_calibration(
    kb: WeaviateKnowledgeBase, questions: list[Question], owner: dict[str, str]
) -> tuple[dict[str, dict[str, float]], bool]:
    everything, groups = kb.scope_for(CHANNEL), sorted(set(owner.values()))
    rng = random.Random(11)
    policy = [(q, kb.retrieve(q.text, everything)) for q in questions]
    off_topic = [kb.retrieve(text, everything) for text in OFF_TOPIC]
    acl = [
        (q, kb.retrieve(q.text, kb.scope_for(only(rng.choice([g for g in groups if g != owner[q.gold]])))))
        for q in questions
        if q.gold in owner
    ]
    leaked = sum(q.gold in {p.doc_id for p in passages} for q, passages in acl)
    print(f"\n2. Extractive abstention: {len(policy)} policy-qa questions (channel {CHANNEL}),")
    print(
        f"   {len(OFF_TOPIC)} off-topic questions, {len(acl)} policy-qa asked from one other group's channel"
    )
    print(f"   (gold document retrieved under ACL: {leaked}, must be 0). Shares of each set: answered,")
    print(
        "   answered citing the gold document (of answered; of all), abstained off-topic, abstained under ACL,"
    )
    print("   citing the gold document under ACL (must be 0)")
    head = ("min_confidence", "answered", "gold|ans", "gold cited", "off-topic abst", "ACL abst", "ACL gold")
    print("  " + "".join(f"{h:>15}" for h in head))
    out: dict[str, dict[str, float]] = {}
    ok = leaked == 0
    for support in CONFIDENCES:
        answerer = ExtractiveAnswerer(ExtractiveSettings(min_confidence=support), kb.embed)
        cited = [(q.gold, outcome(answerer, q.text, passages)) for q, passages in policy]
        answered = [(gold, docs) for gold, docs in cited if docs is not None]
        acl_cited = [(q.gold, outcome(answerer, q.text, passages)) for q, passages in acl]
        row = out[f"{support:.1f}"] = {
            "answer_rate": len(answered) / len(cited),
            "gold_given_answered": sum(g in d for g, d in answered) / max(1, len(answered)),
            "gold_cited_rate": sum(g in d for g, d in answered) / len(cited),
            "offtopic_abstain_rate": sum(
                outcome(answerer, t, p) is None for t, p in zip(OFF_TOPIC, off_topic, strict=True)
            )
            / len(OFF_TOPIC),
            "acl_abstain_rate": sum(d is None for _, d in acl_cited) / len(acl_cited),
            "acl_gold_cited_rate": sum(d is not None and g in d for g, d in acl_cited) / len(acl_cited),
        }
        ok = ok and row["acl_gold_cited_rate"] == 0
        print(f"  {support:>15.1f}" + "".join(f"{v:>15.3f}" for v in row.values()))
    print(f"  gold document never cited from a channel that cannot see it: {verdict(ok)}")
    return out, ok


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    model_path = embed_model_path()
    started = time.perf_counter()
    docs, parse_s = parse_pdfs()
    questions = load_questions()
    owner = {d.doc_id: d.audience[0] for d in docs}
    groups = sorted(set(owner.values()))
    print(
        f"policy-qa: {len(docs)} PDFs (parsed in {parse_s:.1f} s), groups {', '.join(groups)}; "
        f"{len(questions)} questions; cpus {os.cpu_count()}"
    )
    settings = KnowledgeSettings(embedding=EmbeddingSettings(model_path=model_path))
    access = AccessPolicy(groups={g: [CHANNEL, only(g)] for g in groups})
    answers = AnswerSettings()
    with (
        tempfile.TemporaryDirectory(prefix="answer-bench-") as tmp,
        open_knowledge(settings, access, Path(tmp)) as kb,
        FakeAnthropic() as fake,
    ):
        results, ingest_ms = timed(kb.ingest_documents, docs)
        failed = [(r.source, r.error) for r in results if not r.ok]
        print(
            f"ingested {sum(r.chunks for r in results)} chunks in {ingest_ms / 1000:.1f} s; failed: {failed or 'none'}"
        )
        engine = create_db_engine(default_url(Path(tmp)))
        migrate(engine)
        log = InteractionLog(engine)
        fake.responder = instant_answer
        client = make_client("bench-key", fake.base_url, answers.claude)
        extractive, rewriter = ExtractiveAnswerer(answers.extractive, kb.embed), HeuristicRewriter()
        bots = {
            "extractive": SupportBot(kb, extractive, extractive, rewriter, log, answers),
            "claude": SupportBot(
                kb, ClaudeAnswerer(client, answers.claude), extractive, rewriter, log, answers
            ),
        }
        latency, kinds, ok_latency = bench_overhead(kb, bots, log, questions)
        calibration, ok_acl = bench_calibration(kb, questions, owner)
        engine.dispose()
    summary = {
        "bench": "answers",
        "questions": len(questions),
        "off_topic_questions": len(OFF_TOPIC),
        "latency": {k: round(v, 3) for k, v in latency.items()},
        "outcomes": kinds,
        "calibration": {m: {k: round(v, 4) for k, v in row.items()} for m, row in calibration.items()},
        "current_min_confidence": answers.extractive.min_confidence,
        "targets": dict(overhead=verdict(ok_latency), acl=verdict(ok_acl)),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    write_results("answer_bench", summary)


if __name__ == "__main__":
    main()

"""Benchmark of the Slack HTTP endpoint under 20 concurrent @-mentions (extractive answerer).

In one run against a fresh embedded Weaviate (samples/policies ingested with config/sample.yaml's
groups), a SQLite log and the fake Slack Web API, our HTTP server (Bolt + SlackFrontEnd, wired as in
tests/slack/harness.py) receives ROUNDS bursts of 20 signed `app_mention` events at once, and it measures:
1. ack latency: request sent -> HTTP 200 (target p99 < 50 ms);
2. end to end: request sent -> the fake receives the chat.postMessage in that thread, against
   `SupportBot.answer` called directly on the same questions, sequentially and from 20 threads at once.
   Overhead = end-to-end p95 - direct (20 threads) p95, a difference of p95s (target < 150 ms); the
   p50/p95 of per-mention differences (paired by round and question) are printed too.
Rounds interleave the three (rotating who goes first) after a warm-up round; every mention must be
answered exactly once. Prints tables with PASS/MISS per target and one JSON summary line last; also
writes bench/results/.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from adapters.http_server import build_web_app
from adapters.slack import build_slack_app
from adapters.slack.listeners import APOLOGY, SlackFrontEnd
from bench.retrieval_bench import REPO, embed_model_path, pct, verdict, write_results
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followups import HeuristicRewriter
from bot.core import SupportBot
from bot.desk import KnowledgeDesk
from bot.settings import SlackSettings, load_file_config
from bot.store.conversations import ConversationStore
from bot.store.database import create_db_engine, default_url, migrate
from bot.store.interactions import InteractionLog
from bot.types import Platform, Question
from knowledge.embeddings import EmbeddingSettings
from knowledge.loaders import DocumentDefaults
from knowledge.service import KnowledgeSettings, open_knowledge
from tests.fakes.slack_api import ApiCall, FakeSlack
from tests.fakes.slack_payloads import event_callback, mention_event, signed_headers

if TYPE_CHECKING:  # mypy would follow tests.test_slack into tests/conftest.py, which is not type-clean
    SECRET: str
    SlackServer: Any
else:
    from tests.slack.harness import SECRET, SlackServer

ROUNDS, WARMUP_ROUNDS = 30, 1
ACK_TARGET_MS, OVERHEAD_TARGET_MS = 50.0, 150.0
CHANNEL, USER = "C0CONSOLE", "U1"  # C0CONSOLE sees every group of the samples
QUESTIONS = [
    "How many days per week can I work remotely?",
    "Can new starters work from home in their first week?",
    "Does the company pay for a monitor and a chair for working at home?",
    "What are the core hours for remote employees?",
    "How many days a year can I work from another country?",
    "How many weeks of paid leave does the birth parent get?",
    "How much leave does the second parent get?",
    "Can I work part time at full pay after returning from parental leave?",
    "How early must I tell my manager before my parental leave starts?",
    "What is the daily limit for meals when travelling?",
    "Is alcohol reimbursed on business trips?",
    "When can I book premium economy flights?",
    "How long do I have to submit my expenses after a trip?",
    "How long must a password be?",
    "Who do I tell when my laptop is stolen?",
    "How do I request access to additional systems?",
    "What counts as a SEV1 security incident?",
    "What do I do in the first hour of a SEV2 incident?",
    "Within how many hours must a personal data breach be reported?",
    "How quickly must HR acknowledge a workplace complaint?",
]
CONCURRENCY = len(QUESTIONS)  # each burst asks every question once
T = TypeVar("T")


class TimedSlack(FakeSlack):
    """The fake Web API, noting when each chat.postMessage arrives (perf_counter), per thread_ts."""

    def __init__(self) -> None:
        self.posted: dict[str, list[float]] = defaultdict(list)
        super().__init__()

    def _record(self, call: ApiCall) -> None:
        arrived = time.perf_counter()
        with self._cond:  # re-entrant: the fake records under it too
            if call.method == "chat.postMessage":
                self.posted[str(call.params.get("thread_ts"))].append(arrived)
            super()._record(call)

    def __enter__(self) -> TimedSlack:
        return self


def ms(start: float, end: float) -> float:
    return 1000 * (end - start)


def stamp(n: int) -> str:
    """The ts of the n-th mention sent, which is also its thread_ts (a top-level message)."""
    return f"{1700100000 + n}.000100"


def burst(pool: ThreadPoolExecutor, task: Callable[[threading.Barrier, int], T]) -> list[T]:
    """`task(barrier, i)` for every question at once: each waits on the barrier before timing."""
    barrier = threading.Barrier(CONCURRENCY)
    return [f.result() for f in [pool.submit(task, barrier, i) for i in range(CONCURRENCY)]]


class Runner:
    def __init__(self, bot: SupportBot, server: Any, fake: TimedSlack, pool: ThreadPoolExecutor) -> None:
        self.bot, self.server, self.fake, self.pool = bot, server, fake, pool
        self.kinds: list[str] = []  # direct answers' outcomes (list.append is thread-safe)
        self.sent = 0  # mentions sent so far: event ids and message ts are numbered by it
        self.series: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[int] = Counter()
        self.threads: list[str] = []

    def direct(self, thread: str, i: int) -> float:
        start = time.perf_counter()
        answer = self.bot.answer(Question(QUESTIONS[i], Platform.SLACK, CHANNEL, USER, thread))
        self.kinds.append(answer.kind.value)
        return ms(start, time.perf_counter())

    def sequential(self, r: int) -> list[float]:
        return [self.direct(f"seq-{r}-{i}", i) for i in range(CONCURRENCY)]

    def threaded(self, r: int) -> list[float]:
        def task(barrier: threading.Barrier, i: int) -> float:
            barrier.wait()
            return self.direct(f"conc-{r}-{i}", i)

        return burst(self.pool, task)

    def slack(self, r: int) -> list[float]:
        first = self.sent

        def task(barrier: threading.Barrier, i: int) -> tuple[int, float, float]:
            event = mention_event(QUESTIONS[i], CHANNEL, USER, stamp(first + i))
            body = json.dumps(event_callback(event, f"EvB{first + i}"))
            headers = signed_headers(body, SECRET)  # signed before the clock starts
            barrier.wait()
            sent = time.perf_counter()
            status, _ = self.server.post(body, headers)
            return status, sent, time.perf_counter()

        acks = burst(self.pool, task)
        self.sent += CONCURRENCY
        self.fake.wait_for("chat.postMessage", count=self.sent, timeout=120)
        self.fake.wait_for("reactions.remove", count=self.sent, timeout=60)  # the burst is done
        threads = [stamp(first + i) for i in range(CONCURRENCY)]
        self.threads += threads
        self.statuses.update(status for status, _, _ in acks)
        self.series["ack"] += [ms(sent, acked) for _, sent, acked in acks]
        return [ms(sent, self.fake.posted[ts][0]) for (_, sent, _), ts in zip(acks, threads, strict=True)]

    def run(self) -> None:
        phases = {"sequential": self.sequential, "threaded": self.threaded, "slack": self.slack}
        order = list(phases)
        for r in range(WARMUP_ROUNDS + ROUNDS):
            for name in order[r % 3 :] + order[: r % 3]:  # rotate who goes first
                values = phases[name](r)
                if r >= WARMUP_ROUNDS:
                    self.series[name] += values
            if r < WARMUP_ROUNDS:
                self.series["ack"].clear()
                self.kinds.clear()


def report(runner: Runner) -> tuple[dict[str, float], dict[str, bool]]:
    s = runner.series
    s["paired threaded"] = [e - d for e, d in zip(s["slack"], s["threaded"], strict=True)]
    out: dict[str, float] = {"mentions": float(len(s["slack"]))}
    for name, values in s.items():
        key = name.replace(" ", "_")
        for q in (50, 95, 99):
            out[f"{key}_p{q}_ms"] = pct(values, q)
    out["overhead_p95_ms"] = out["slack_p95_ms"] - out["threaded_p95_ms"]
    out["overhead_vs_sequential_p95_ms"] = out["slack_p95_ms"] - out["sequential_p95_ms"]
    n = len(s["slack"])
    print(
        f"\n1. Ack, send -> HTTP 200: {n} mentions, {ROUNDS} rounds x {CONCURRENCY} at once, after a warm-up"
    )
    ok_ack = out["ack_p99_ms"] < ACK_TARGET_MS
    print(
        f"  p50 {out['ack_p50_ms']:.2f} ms, p95 {out['ack_p95_ms']:.2f} ms, p99 {out['ack_p99_ms']:.2f} ms "
        f"(target p99 < {ACK_TARGET_MS:.0f} ms) {verdict(ok_ack)}"
    )
    print(f"\n2. Answer end to end, {n} per row; direct outcomes {dict(Counter(runner.kinds))}")
    print(f"  {'':<62}{'p50 ms':>8}{'p95 ms':>8}")
    labels = {
        "sequential": "SupportBot.answer direct, sequential",
        "threaded": f"SupportBot.answer direct, {CONCURRENCY} threads at once",
        "slack": "Slack end to end (send -> chat.postMessage at the fake)",
        "paired threaded": f"  per mention: end to end - direct {CONCURRENCY} threads",
    }
    for name, label in labels.items():
        key = name.replace(" ", "_")
        print(f"  {label:<62}{out[f'{key}_p50_ms']:>8.2f}{out[f'{key}_p95_ms']:>8.2f}")
    print(f"  for reference, end-to-end p95 - sequential p95: {out['overhead_vs_sequential_p95_ms']:.2f} ms")
    # The pooled difference of two p95s swings with a burst or two on 2 cores; the median of
    # the per-round differences (each round: 20 mentions vs the same 20 questions threaded)
    # is steadier. Both are printed; the target is checked on the pooled figure.
    per_round = [
        pct(s["slack"][i : i + CONCURRENCY], 95) - pct(s["threaded"][i : i + CONCURRENCY], 95)
        for i in range(0, len(s["slack"]), CONCURRENCY)
    ]
    out["overhead_round_median_ms"] = statistics.median(per_round)
    spread = f"{min(per_round):.0f}..{max(per_round):.0f}"
    print(f"  per round, p95 difference: median {out['overhead_round_median_ms']:.2f} ms (range {spread} ms)")
    ok_overhead = out["overhead_p95_ms"] < OVERHEAD_TARGET_MS
    print(
        f"  overhead p95 = end-to-end p95 - direct {CONCURRENCY}-thread p95: {out['overhead_p95_ms']:.2f} ms "
        f"(target < {OVERHEAD_TARGET_MS:.0f} ms) {verdict(ok_overhead)}"
    )
    time.sleep(1.0)  # a late duplicate would show up here
    posts, posted, expected = runner.fake.calls_to("chat.postMessage"), runner.fake.posted, runner.threads
    once = sorted(posted) == sorted(expected) and {len(times) for times in posted.values()} == {1}
    once = once and APOLOGY not in {p.params.get("text") for p in posts}
    once = once and runner.statuses == Counter({200: len(expected)})  # warm-up included
    print(f"\n3. {len(posts)} posts for {len(expected)} mentions, statuses {dict(runner.statuses)}:")
    print(f"  each mention answered exactly once, no apology {verdict(once)}")
    return out, dict(ack=ok_ack, overhead=ok_overhead, exactly_once=once)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    config = load_file_config(REPO / "config" / "sample.yaml")
    settings = KnowledgeSettings(embedding=EmbeddingSettings(model_path=embed_model_path()))
    print(f"samples/policies, {len(QUESTIONS)} questions from channel {CHANNEL}; cpus {os.cpu_count()}")
    with (
        tempfile.TemporaryDirectory(prefix="slack-bench-") as tmp,
        open_knowledge(settings, config.access, Path(tmp)) as kb,
        TimedSlack() as fake,
        ThreadPoolExecutor(max_workers=CONCURRENCY) as pool,
    ):
        results = kb.ingest_paths([REPO / "samples" / "policies"], DocumentDefaults(audience=("everyone",)))
        failed = [(r.source, r.error) for r in results if not r.ok]
        print(f"ingested {sum(r.chunks for r in results)} chunks; failed: {failed or 'none'}")
        engine = create_db_engine(default_url(Path(tmp)))
        migrate(engine)
        log = InteractionLog(engine)
        extractive, conversations = (
            ExtractiveAnswerer(config.answers.extractive, kb.embed),
            ConversationStore(engine),
        )
        bot = SupportBot(kb, extractive, extractive, HeuristicRewriter(), log, config.answers, conversations)
        front = SlackFrontEnd(
            bot, conversations, SlackSettings(), KnowledgeDesk(kb, config.ingest, kb.settings.loader)
        )
        server = SlackServer(build_web_app(build_slack_app(front, fake.bot_token, SECRET, fake.api_url)))
        try:
            runner = Runner(bot, server, fake, pool)
            runner.run()
            figures, targets = report(runner)
        finally:
            server.close()
            engine.dispose()
    summary = {
        "bench": "slack",
        "rounds": ROUNDS,
        "concurrency": CONCURRENCY,
        "latency": {k: round(v, 3) for k, v in figures.items()},
        "direct_outcomes": dict(Counter(runner.kinds)),
        "overhead_definition": f"end-to-end p95 - direct {CONCURRENCY}-thread p95",
        "targets": {k: verdict(v) for k, v in targets.items()},
        "runtime_s": round(time.perf_counter() - started, 1),
    }

    write_results("slack_bench", summary)


if __name__ == "__main__":
    main()

"""Benchmark of answers while the embedded Weaviate is dead (issue 19, item 2: apology within 3 s).

In one run, on a fresh data directory with samples/policies ingested, the bot core answers
with serve's Weaviate supervisor watching (knowledge/weaviate_supervisor.py). It measures:
1. baseline: `SupportBot.answer` with the server up (QUESTIONS questions, after a warm-up);
2. down: `kill -9` of weaviate-server, then the same questions at once (the first ones
   race the supervisor's probe), each answered with the apology; the bench holds the
   data directory's start lock meanwhile, so the restart waits until it has measured;
3. recovery: lock released -> the first question answered from a restarted server.
Prints each figure, and the down latency as a ratio of the baseline. Target: apology p100
< 3 s (the client alone retried for 63 s). Writes bench/results/ and one JSON line last.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from bench.retrieval_bench import REPO, embed_model_path, verdict, write_results
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followups import HeuristicRewriter
from bot.core import SupportBot
from bot.settings import load_file_config
from bot.store.database import create_db_engine, default_url, migrate
from bot.store.interactions import InteractionLog
from bot.types import AnswerKind, Platform, Question
from knowledge.embeddings import EmbeddingSettings
from knowledge.loaders import DocumentDefaults
from knowledge.service import KnowledgeSettings, open_knowledge
from knowledge.weaviate_files import ServerFiles, flocked
from knowledge.weaviate_supervisor import start_supervisor

QUESTIONS = [
    "How many days per week can I work remotely?",
    "How much notice do I need to give before taking vacation?",
    "Who approves expense reports?",
    "Can I carry over unused vacation days?",
    "What is the per diem for travel?",
]
APOLOGY_TARGET_S = 3.0


def timed(bot: SupportBot, text: str) -> tuple[float, AnswerKind]:
    started = time.perf_counter()
    answer = bot.answer(Question(text, Platform.SLACK, "C0CONSOLE", "U1"))
    return time.perf_counter() - started, answer.kind


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    config = load_file_config(REPO / "config" / "sample.yaml")
    settings = KnowledgeSettings(embedding=EmbeddingSettings(model_path=embed_model_path()))
    with (
        tempfile.TemporaryDirectory(prefix="outage-bench-") as tmp,
        open_knowledge(settings, config.access, Path(tmp)) as kb,
    ):
        kb.ingest_paths([REPO / "samples" / "policies"], DocumentDefaults(audience=("everyone",)))
        engine = create_db_engine(default_url(Path(tmp)))
        migrate(engine)
        extractive = ExtractiveAnswerer(config.answers.extractive, kb.embed)
        log = InteractionLog(engine, spool=Path(tmp) / "spool.jsonl")
        bot = SupportBot(kb, extractive, extractive, HeuristicRewriter(), log, config.answers)
        supervisor = start_supervisor(kb, settings.weaviate, Path(tmp))
        files = ServerFiles.of(Path(tmp))
        try:
            timed(bot, QUESTIONS[0])  # warm-up
            up = [timed(bot, q)[0] for q in QUESTIONS]
            state = files.read_state()
            assert state is not None
            with flocked(files.start_lock, fcntl.LOCK_EX):
                os.kill(state.pid, signal.SIGKILL)
                down = [timed(bot, q) for q in QUESTIONS]
                detected = supervisor.down_reason() is not None
            released = time.perf_counter()
            while supervisor.down_reason() is not None or supervisor.outages == 0:
                time.sleep(0.05)
            restart_s = time.perf_counter() - released
            first_s, first_kind = timed(bot, QUESTIONS[0])
        finally:
            supervisor.stop()
            engine.dispose()
    apology = [s for s, kind in down if kind is AnswerKind.FAILED]
    base = statistics.median(up)
    worst = max(s for s, _ in down)
    ok = len(apology) == len(down) and worst < APOLOGY_TARGET_S and first_kind is not AnswerKind.FAILED
    print(f"cpus {os.cpu_count()}; {len(QUESTIONS)} questions each phase")
    print(f"1. up:       median {base:.3f} s per answer")
    print(
        f"2. down:     {len(apology)}/{len(down)} apologies, median {statistics.median(s for s, _ in down):.3f} s,"
    )
    print(
        f"             max {worst:.3f} s = {worst / base:.2f} x the up median (target < {APOLOGY_TARGET_S} s)"
    )
    print(f"3. recovery: restarted {restart_s:.1f} s after the lock was let go; first answer {first_s:.3f} s")
    print(f"             ({first_kind.value}); outage seen by the supervisor: {detected}  {verdict(ok)}")
    write_results(
        "outage_bench",
        {
            "bench": "outage",
            "up_median_s": round(base, 3),
            "down_max_s": round(worst, 3),
            "down_over_up": round(worst / base, 2),
            "apologies": f"{len(apology)}/{len(down)}",
            "restart_s": round(restart_s, 1),
            "first_after_recovery": first_kind.value,
            "target": verdict(ok),
        },
    )


if __name__ == "__main__":
    main()

"""Benchmark of `export-finetune` on 10k and 100k voted interactions, SQLite and PostgreSQL.

For each backend and size: a fresh database is seeded in bulk (questions from policy-qa,
with small variations so near-duplicates occur; 3 passages each, 1-3 votes, some retracted),
then two child processes run on it, one after the other:
- baseline: stream every voted interaction with its passages (the rows the export must read);
- export: `eval.finetune.export` to trl-kto (every voted answer written, scrubbed, validated).
Each child reports its wall time and peak RSS. Printed: time and peak memory per run, the
export/baseline time ratio, and the 100k/10k peak-memory ratio (flat memory: close to 1).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, selectinload

from bot.store.database import create_db_engine, migrate
from bot.store.models import Interaction, InteractionPassage, PromptText, Vote

SIZES = (10_000, 100_000)
SEED_BATCH = 5_000
SYSTEM = "You answer from the company's documents, citing them by number."
# Half the questions repeat (near-duplicates to collapse), half are one of a kind (a case
# number makes them distinct), so the output grows with the log as it would in real use.
VARIANTS = ("{q}", "{q_lower}", "{q} please", "quick question: {q}", "{q} thanks")
UNIQUE = "{q} (case {i})"
# 500 askers with a name each (the scrubber gets all of them); one question in ten signs off.
FIRST = ("Priya", "Tomasz", "Aisha", "Jonas", "Mei", "Carlos", "Fatima", "Oluwaseun", "Ingrid", "Rahul")
LAST = tuple(
    f"{stem}{suffix}"
    for stem in ("Kowal", "Okafor", "Lindqvist", "Tanaka", "Moreau")
    for suffix in "abcdefghij"
)
ASKERS = 500
PASSAGE = (
    "Employees may claim up to 1,500 EUR per year for home-office equipment. Claims need "
    "a receipt and approval within 30 days (section 4.2). Contact hr@example.com for help."
)


def seed(engine: Engine, n: int, questions: list[str]) -> None:
    rng = random.Random(n)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    sha = "0" * 64
    with Session(engine) as session, session.begin():
        session.add(PromptText(sha256=sha, text=SYSTEM))
    for start in range(0, n, SEED_BATCH):
        interactions, passages, votes = [], [], []
        for i in range(start, min(n, start + SEED_BATCH)):
            q = rng.choice(questions)
            pattern = UNIQUE if rng.random() < 0.5 else rng.choice(VARIANTS)
            text = pattern.format(q=q, q_lower=q.lower(), i=i)
            user = rng.randrange(ASKERS)
            name = f"{FIRST[user % len(FIRST)]} {LAST[user // len(FIRST) % len(LAST)]}"
            if rng.random() < 0.1:
                text = f"{name.split(maxsplit=1)[0]} here: {text}"
            iid = str(uuid.UUID(int=rng.getrandbits(128)))
            interactions.append(
                {
                    "id": iid,
                    "created_at": t0 + timedelta(seconds=i * 60),
                    "platform": "slack",
                    "channel": rng.choice(["C0HR", "C0ENG", "C0IT"]),
                    "user_id": f"U{user:04d}",
                    "asker_names": [name],
                    "thread_id": "",
                    "question": text,
                    "rewritten_question": "",
                    "scope_groups": ["everyone"],
                    "answer_text": f"Up to 1,500 EUR per year [1], approved within 30 days [2]. ({i})",
                    "kind": "generated",
                    "abstained": False,
                    "answerer": "claude",
                    "model": "claude-sonnet-5-5",
                    "notice": "",
                    "error": "",
                    "latency_ms": 900.0,
                    "system_prompt_sha256": sha,
                    "user_prompt": f"<documents>{PASSAGE * 3}</documents>\n<question>{text}</question>",
                    "prompt_version": 1,
                }
            )
            for rank in (1, 2, 3):
                passages.append(
                    {
                        "interaction_id": iid,
                        "rank": rank,
                        "chunk_id": f"chunk-{rank}",
                        "doc_id": f"doc-{rank}",
                        "title": "Home office",
                        "section": "Equipment",
                        "version": "1",
                        "source": "home-office.md",
                        "acl": ["everyone"],
                        "score": 0.5,
                        "text": PASSAGE,
                        "cited": rank < 3,
                        "citation_marker": rank if rank < 3 else None,
                    }
                )
            for v in range(rng.choice([1, 1, 2, 3])):
                votes.append(
                    {
                        "interaction_id": iid,
                        "user_id": f"U{v}",
                        "value": "up" if rng.random() < 0.7 else "down",
                        "source": "reaction",
                        "comment": "",
                        "created_at": t0 + timedelta(seconds=i * 60 + 30),
                        "retracted_at": None,
                    }
                )
        with Session(engine) as session, session.begin():
            session.execute(insert(Interaction), interactions)
            session.execute(insert(InteractionPassage), passages)
            session.execute(insert(Vote), votes)


def proc_mb(field: str) -> float:
    """From /proc/self/status. (getrusage's ru_maxrss would carry the parent's peak over
    fork and exec, hiding the child's own.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(mode: str, url: str, out: str) -> None:
    """Run in a fresh process: one measurement, printed as a JSON line."""
    from eval.finetune.export import ExportOptions, export
    from eval.finetune.select import SelectOptions

    engine = create_db_engine(url)
    before_mb = proc_mb("VmRSS")
    started = time.perf_counter()
    rows = 0
    if mode == "baseline":
        query = (
            select(Interaction)
            .where(Interaction.id.in_(select(Vote.interaction_id).where(Vote.retracted_at.is_(None))))
            .options(selectinload(Interaction.passages))
            .execution_options(yield_per=500)
        )
        with Session(engine) as session:
            for interaction in session.scalars(query):
                rows += len(interaction.passages)
                session.expunge(interaction)
    else:
        result = export(
            engine,
            ExportOptions("trl-kto", Path(out), SelectOptions(), eval_percent=10),
            frozenset({"everyone"}),
            {f"doc-{r}": "1" for r in (1, 2, 3)},
        )
        rows = result.counts.get("train", 0) + result.counts.get("eval", 0)
    seconds = time.perf_counter() - started
    peak_mb = proc_mb("VmHWM")
    print(
        json.dumps(
            {
                "mode": mode,
                "seconds": seconds,
                "peak_mb": peak_mb,
                "work_mb": peak_mb - before_mb,
                "rows": rows,
            }
        )
    )


def measure(mode: str, url: str, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.export_bench", "--child", mode, url, str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    # Imported here, not at the top: the children measure their memory and must not carry
    # the retrieval stack (llama-index, fastembed) that these helpers' module loads.
    from bench.retrieval_bench import load_questions, write_results

    questions = [q.text for q in load_questions()]
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        backends: list[tuple[str, Any]] = [("sqlite", None)]
        try:
            from tests.fakes.postgres_server import PostgresServer

            backends.append(("postgresql", PostgresServer()))
        except Exception as error:
            print(f"PostgreSQL not available: {error}")
        for backend, server in backends:
            if server is not None:
                server.start()
            try:
                for n in SIZES:
                    if server is None:
                        url = f"sqlite:///{tmp}/export-{n}.db"
                    else:
                        url = server.create_database(f"export_{n}")
                    engine = create_db_engine(url)
                    migrate(engine)
                    started = time.perf_counter()
                    seed(engine, n, questions)
                    engine.dispose()
                    seeded = time.perf_counter() - started
                    base = measure("baseline", url, Path(tmp) / "none")
                    run = measure("export", url, Path(tmp) / f"out-{backend}-{n}")
                    figures[f"{backend}_{n}"] = {"seed_s": seeded, "baseline": base, "export": run}
                    print(
                        f"{backend:<10} {n:>7} interactions: export {run['seconds']:6.1f} s, peak {run['peak_mb']:5.0f} MB "
                        f"(+{run['work_mb']:.0f} over start), {run['rows']} lines | baseline read {base['seconds']:5.1f} s, "
                        f"peak {base['peak_mb']:5.0f} MB (+{base['work_mb']:.0f}) | "
                        f"time ratio {run['seconds'] / base['seconds']:.2f}"
                    )
            finally:
                if server is not None:
                    server.stop()
    summary: dict[str, Any] = {"bench": "export", "cpus": os.cpu_count(), "runs": figures}
    for backend in ("sqlite", "postgresql"):
        small, large = figures.get(f"{backend}_{SIZES[0]}"), figures.get(f"{backend}_{SIZES[1]}")
        if small and large:
            ratio = large["export"]["peak_mb"] / small["export"]["peak_mb"]
            summary[f"{backend}_peak_ratio_100k_vs_10k"] = ratio
            print(f"{backend}: peak memory 100k / 10k = {ratio:.2f} (flat: close to 1)")
    write_results("export_bench", summary)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()

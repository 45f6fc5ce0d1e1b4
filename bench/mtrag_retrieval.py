"""Passage-level retrieval on mtrag-dev (../shared/data/mtrag-dev), measured through the CLI.

As a user would (the dataset's README): each passage becomes a small Markdown document (title
as heading, front matter `id:` so the document id maps back to the passage id) in a folder per
group; a settings file maps one channel per group; `app.py ingest FOLDER --audience GROUP` per
group, then `app.py retrieve --channel C --questions Q.jsonl --json --top-k 10` per group.

Scored by passage id: R@5, R@10 (share of gold passages among the first k distinct passages),
MRR@10, nDCG@10 (binary gains, ideal DCG over min(|gold|, 10)), doc R@5, and leaks (a passage
of the other group). Latency is measured in-process (`kb.retrieve` over the questions, top 10,
interleaved) for today's configuration (hybrid, alpha 0.5, relative-score fusion, no second
stage)
and for the configured one, on the same index in the same run, and printed as a ratio.

    .venv/bin/python -m bench.mtrag_retrieval [--data-dir DIR [--skip-ingest]] [--config YAML]

`--data-dir` with `--skip-ingest` reuses an index built by an earlier run (ingest takes a few
minutes on 2 cores). Prints a table with PASS/MISS per target and one JSON summary line last;
also writes bench/results/.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.retrieval_bench import embed_model_path, verdict, write_results
from knowledge.loaders import slugify
from knowledge.retrieval import RetrievalSettings

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MTRAG_DIR", REPO.parent / "shared" / "data" / "mtrag-dev"))
CHANNELS = {"clapnq": "C0CLAPNQ", "fiqa": "C0FIQA"}
TOP_K = 10
TARGETS = {"ndcg@10": 0.60, "r@5": 0.58}
LATENCY_TARGET = 1.5  # p95 of the configured retrieval over today's
WARMUP = 20
# Today's retrieval, the latency baseline: hybrid at alpha 0.5 with Weaviate's default fusion
# (relative score), no second stage.
TODAY = {"alpha": 0.5, "fusion": "relative_score", "rerank": False}


@dataclass(frozen=True)
class Query:
    qid: str
    group: str
    question: str
    gold: frozenset[str]
    gold_docs: frozenset[str]


@dataclass
class Scores:
    n: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    leaks: int = 0

    def add(self, name: str, value: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + value

    def mean(self, name: str) -> float:
        return self.sums.get(name, 0.0) / self.n if self.n else 0.0


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_queries() -> list[Query]:
    return [
        Query(
            str(q["id"]),
            q["group"],
            q["question"],
            frozenset(q["gold_passage_ids"]),
            frozenset(q["gold_doc_ids"]),
        )
        for q in load_jsonl(DATA / "queries.jsonl")
    ]


def write_documents(corpus: list[dict[str, Any]], root: Path) -> dict[str, str]:
    """One Markdown file per passage under root/GROUP/; returns doc id (slug) -> passage id."""
    by_doc: dict[str, str] = {}
    for n, passage in enumerate(corpus):
        slug = slugify(passage["id"])
        if slug in by_doc:
            raise SystemExit(f"passage ids {by_doc[slug]} and {passage['id']} map to one document id")
        by_doc[slug] = passage["id"]
        folder = root / passage["group"]
        folder.mkdir(parents=True, exist_ok=True)
        title = " ".join(str(passage["title"]).split()) or passage["id"]
        body = f"---\nid: {json.dumps(passage['id'])}\n---\n# {title}\n\n{passage['text'].strip()}\n"
        (folder / f"{n:05d}.md").write_text(body, encoding="utf-8")
    return by_doc


def write_settings(path: Path) -> None:
    """The shape of config/sample.yaml: one channel per group, its retrieval block as configured."""
    sample = yaml.safe_load((REPO / "config" / "sample.yaml").read_text(encoding="utf-8"))
    settings = {
        "access": {"groups": {group: [channel] for group, channel in CHANNELS.items()}},
        "ingest": {"channels": ["C0INGEST"], "posters": ["U0BENCH"], "default_audience": []},
        "retrieval": sample.get("retrieval", {}),
    }
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


def app(config: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EMBED_MODEL_PATH": str(embed_model_path())}
    env.pop("WEAVIATE_URL", None)  # each command runs the embedded server on data_dir
    command = [sys.executable, str(REPO / "app.py"), "--config", str(config), "--data-dir", str(data_dir)]
    done = subprocess.run([*command, *args], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"app.py {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def ingest(config: Path, data_dir: Path, docs: Path) -> float:
    start = time.perf_counter()
    for group in CHANNELS:
        print(f"  ingesting {group} ...", flush=True)
        app(config, data_dir, "ingest", str(docs / group), "--audience", group)
    return time.perf_counter() - start


def retrieve_cli(
    config: Path, data_dir: Path, work: Path, queries: list[Query]
) -> dict[str, list[dict[str, Any]]]:
    """Question id -> passages as the CLI prints them, each group's questions from its channel."""
    out: dict[str, list[dict[str, Any]]] = {}
    for group, channel in CHANNELS.items():
        path = work / f"questions-{group}.jsonl"
        path.write_text(
            "".join(
                json.dumps({"id": q.qid, "question": q.question}) + "\n" for q in queries if q.group == group
            ),
            encoding="utf-8",
        )
        done = app(
            config,
            data_dir,
            "retrieve",
            "--channel",
            channel,
            "--questions",
            str(path),
            "--json",
            "--top-k",
            str(TOP_K),
        )
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                out[str(row["id"])] = row["passages"]
    return out


def score(
    queries: list[Query],
    results: dict[str, list[dict[str, Any]]],
    passage_of: dict[str, str],
    corpus: dict[str, dict[str, Any]],
) -> dict[str, Scores]:
    by_group: dict[str, Scores] = {"all": Scores(), **{g: Scores() for g in CHANNELS}}
    for q in queries:
        ranked: list[str] = []  # distinct passage ids in rank order
        leaks = 0
        for hit in results.get(q.qid, []):
            pid = passage_of.get(str(hit["doc_id"]), "")
            if corpus.get(pid, {}).get("group") != q.group:
                leaks += 1
            if pid not in ranked:
                ranked.append(pid)
        gains = [1.0 if pid in q.gold else 0.0 for pid in ranked[:10]]
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(q.gold), 10)))
        first = next((i for i, g in enumerate(gains) if g), None)
        docs5 = {corpus[pid]["doc_id"] for pid in ranked[:5] if pid in corpus}
        figures = {
            "r@5": len(q.gold & set(ranked[:5])) / len(q.gold),
            "r@10": len(q.gold & set(ranked[:10])) / len(q.gold),
            "mrr@10": 0.0 if first is None else 1.0 / (first + 1),
            "ndcg@10": sum(g / math.log2(i + 2) for i, g in enumerate(gains)) / ideal,
            "doc_r@5": len(q.gold_docs & docs5) / len(q.gold_docs),
        }
        for name in ("all", q.group):
            s = by_group[name]
            s.n += 1
            s.leaks += leaks
            for key, value in figures.items():
                s.add(key, value)
    return by_group


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def today_settings(configured: RetrievalSettings) -> RetrievalSettings:
    fields = type(configured).model_fields
    return configured.model_copy(update={k: v for k, v in TODAY.items() if k in fields})


def measure_latency(config: Path, data_dir: Path, queries: list[Query]) -> dict[str, float]:
    """p50/p95 of kb.retrieve, today's configuration against the configured one, interleaved."""
    os.environ["EMBED_MODEL_PATH"] = str(embed_model_path())
    from bot.settings import load_settings
    from knowledge.service import WeaviateKnowledgeBase, open_knowledge

    settings = load_settings(config, data_dir)
    configured = settings.knowledge.retrieval
    with open_knowledge(settings.knowledge, settings.file.access, data_dir) as kb:
        old = settings.knowledge.model_copy(update={"retrieval": today_settings(configured)})
        today = WeaviateKnowledgeBase(kb.client, kb.collection_name, kb.embed_model, kb.access, old)
        calls: list[tuple[str, Callable[[str, Any], object]]] = [
            ("today", lambda text, scope: today.retrieve(text, scope, top_k=TOP_K)),
            ("new", lambda text, scope: kb.retrieve(text, scope, top_k=TOP_K)),
        ]
        order = random.Random(7).sample(queries, len(queries))
        timings: dict[str, list[float]] = {"today": [], "new": []}
        for i, q in enumerate(order[:WARMUP] + order):
            scope = kb.scope_for(CHANNELS[q.group])
            for name, call in calls if i % 2 == 0 else calls[::-1]:  # alternate who goes first
                start = time.perf_counter()
                call(q.question, scope)
                if i >= WARMUP:
                    timings[name].append(1000 * (time.perf_counter() - start))
    out: dict[str, float] = {"n": float(len(timings["new"]))}
    for name, values in timings.items():
        out[f"{name}_p50_ms"], out[f"{name}_p95_ms"] = pct(values, 50), pct(values, 95)
    out["p50_ratio"] = out["new_p50_ms"] / out["today_p50_ms"]
    out["p95_ratio"] = out["new_p95_ms"] / out["today_p95_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, help="the index's data directory (default: a temp dir)")
    parser.add_argument("--skip-ingest", action="store_true", help="reuse the index already in --data-dir")
    parser.add_argument("--config", type=Path, help="settings file to use instead of the generated one")
    parser.add_argument("--no-latency", action="store_true", help="skip the in-process latency run")
    args = parser.parse_args()
    if args.skip_ingest and not args.data_dir:
        parser.error("--skip-ingest needs --data-dir")
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    corpus_rows = load_jsonl(DATA / "corpus.jsonl")
    corpus = {p["id"]: p for p in corpus_rows}
    queries = load_queries()
    print(
        f"mtrag-dev: {len(corpus)} passages, {len(queries)} questions, groups {', '.join(CHANNELS)}; "
        f"cpus {os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory(prefix="mtrag-bench-") as tmp:
        work = Path(tmp)
        data_dir = args.data_dir or work / "data"
        passage_of = write_documents(corpus_rows, work / "docs")
        config = args.config or work / "settings.yaml"
        if not args.config:
            write_settings(config)
        ingest_s = None
        if not args.skip_ingest:
            ingest_s = ingest(config, data_dir, work / "docs")
            print(f"  ingested in {ingest_s:.0f} s")
        start = time.perf_counter()
        results = retrieve_cli(config, data_dir, work, queries)
        retrieve_s = time.perf_counter() - start
        scores = score(queries, results, passage_of, corpus)
        latency = None if args.no_latency else measure_latency(config, data_dir, queries)
        retrieval_block = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("retrieval")
    print(
        f"\nRetrieval through the CLI, top {TOP_K}, each group's questions from its own channel "
        f"({retrieve_s:.0f} s for both groups)"
    )
    names = ["r@5", "r@10", "mrr@10", "ndcg@10", "doc_r@5"]
    print(f"  {'group':<8}{'n':>5}" + "".join(f"{n:>9}" for n in names) + f"{'leaks':>7}")
    for group, s in scores.items():
        print(f"  {group:<8}{s.n:>5}" + "".join(f"{s.mean(n):>9.3f}" for n in names) + f"{s.leaks:>7}")
    total = scores["all"]
    checks: dict[str, bool] = {}
    print("\nTargets")
    for name, target in TARGETS.items():
        checks[name] = total.mean(name) >= target
        print(f"  {name:<10}{total.mean(name):>8.3f}  >= {target:<6}{verdict(checks[name])}")
    checks["leaks"] = total.leaks == 0
    print(f"  {'leaks':<10}{total.leaks:>8d}  == 0     {verdict(checks['leaks'])}")
    if latency is not None:
        checks["latency"] = latency["p95_ratio"] <= LATENCY_TARGET
        print(
            f"\nLatency of kb.retrieve (top {TOP_K}, {latency['n']:.0f} questions after {WARMUP} warm-up, "
            "interleaved)"
        )
        print(f"  {'':<34}{'p50 ms':>8}{'p95 ms':>8}")
        print(
            f"  {'today (hybrid 0.5, no 2nd stage)':<34}{latency['today_p50_ms']:>8.2f}"
            f"{latency['today_p95_ms']:>8.2f}"
        )
        print(f"  {'configured':<34}{latency['new_p50_ms']:>8.2f}{latency['new_p95_ms']:>8.2f}")
        print(
            f"  p95 ratio {latency['p95_ratio']:.3f} (p50 {latency['p50_ratio']:.3f}; target <= "
            f"{LATENCY_TARGET}) {verdict(checks['latency'])}"
        )
    summary = {
        "bench": "mtrag_retrieval",
        "questions": total.n,
        "retrieval": {
            g: {**{n: round(s.mean(n), 4) for n in names}, "leaks": s.leaks} for g, s in scores.items()
        },
        "latency": None if latency is None else {k: round(v, 3) for k, v in latency.items()},
        "ingest_s": None if ingest_s is None else round(ingest_s, 1),
        "config": retrieval_block,
        "targets": {k: verdict(v) for k, v in checks.items()},
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    write_results("mtrag_retrieval", summary)


if __name__ == "__main__":
    main()

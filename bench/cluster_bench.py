"""Retrieval latency on a three-node Weaviate cluster against a single node, same content.

The policy-qa PDFs are ingested through the project's code twice: into one embedded node,
and into three `weaviate-server` nodes on loopback (tests/weaviate_cluster.py) with
replication factor 3 at write consistency QUORUM. `kb.retrieve` (top_k 5, alpha 0.5) is then
timed over the same questions on the single node and on the cluster at read consistency
QUORUM and ONE, interleaved question by question (rotating who goes first), so that load
from elsewhere on the machine hits each setup alike. All four servers share the machine's
cores; the client talks to one cluster node, which holds a full replica (one shard).
Prints p50/p95 per setup with ratios to the single node, counts the questions where a setup
returned the single node's chunk ids in its order, and writes bench/results/cluster_bench_*.json.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.retrieval_bench import (
    CHANNEL,
    LATENCY_QUESTIONS,
    WARMUP,
    Question,
    embed_model_path,
    load_questions,
    parse_pdfs,
    pct,
    write_results,
)
from knowledge.access import AccessPolicy
from knowledge.connection import WeaviateSettings
from knowledge.embeddings import EmbeddingSettings
from knowledge.service import KnowledgeSettings, WeaviateKnowledgeBase, open_knowledge
from knowledge.types import SourceDocument
from knowledge.weaviate_server import default_binary_path
from tests.weaviate_cluster import WeaviateCluster

Retrieve = Callable[[str], list[str]]


def ingest(kb: WeaviateKnowledgeBase, docs: list[SourceDocument]) -> dict[str, float]:
    start = time.perf_counter()
    results = kb.ingest_documents(docs)
    seconds = time.perf_counter() - start
    failed = [(r.source, r.error) for r in results if not r.ok]
    if failed:
        raise SystemExit(f"ingestion failed: {failed}")
    return {"chunks": sum(r.chunks for r in results), "ingest_s": seconds}


def retriever(kb: WeaviateKnowledgeBase) -> Retrieve:
    scope = kb.scope_for(CHANNEL)
    return lambda q: [p.chunk_id for p in kb.retrieve(q, scope, top_k=5, alpha=0.5)]


def timed(
    setups: dict[str, Retrieve], sample: list[Question]
) -> tuple[dict[str, list[float]], dict[str, list[list[str]]]]:
    """Milliseconds per call after the warm-up, and the ids each setup returned, per question;
    the setups take turns going first."""
    timings: dict[str, list[float]] = {name: [] for name in setups}
    answers: dict[str, list[list[str]]] = {name: [] for name in setups}
    order = list(setups.items())
    for i, q in enumerate(sample):
        shift = i % len(order)
        for name, call in order[shift:] + order[:shift]:
            start = time.perf_counter()
            ids = call(q.text)
            if i >= WARMUP:
                timings[name].append(1000 * (time.perf_counter() - start))
                answers[name].append(ids)
    return timings, answers


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    model_path = embed_model_path()
    docs, _ = parse_pdfs()
    questions = load_questions()
    sample = random.Random(7).sample(questions, min(len(questions), LATENCY_QUESTIONS + WARMUP))
    groups = sorted({a for d in docs for a in d.audience})
    access = AccessPolicy(groups={g: [CHANNEL] for g in groups})
    embedding = EmbeddingSettings(model_path=model_path)
    print(f"policy-qa: {len(docs)} PDFs, {len(sample) - WARMUP} timed questions; cpus {os.cpu_count()}")

    ingests: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp,
        open_knowledge(KnowledgeSettings(embedding=embedding), access, Path(tmp) / "single") as single,
        # Weaviate's own async replication timings, as a deployment would run.
        WeaviateCluster(default_binary_path(), Path(tmp) / "cluster", fast_catch_up=False) as cluster,
    ):
        weaviate = WeaviateSettings(
            url=cluster.urls, grpc_url=cluster.grpc_urls, replication_factor=3, read_consistency="QUORUM"
        )
        quorum = KnowledgeSettings(weaviate=weaviate, embedding=embedding)
        one = quorum.model_copy(update={"weaviate": weaviate.model_copy(update={"read_consistency": "ONE"})})
        with open_knowledge(quorum, access, Path(tmp) / "client") as kb:
            ingests["single"] = ingest(single, docs)
            ingests["cluster"] = ingest(kb, docs)
            kb_one = WeaviateKnowledgeBase(kb.client, kb.collection_name, kb.embed_model, access, one)
            # Interleaved, so that load from elsewhere on the machine hits every setup alike.
            timings, answers = timed(
                {
                    "single": retriever(single),
                    "cluster_quorum": retriever(kb),
                    "cluster_one": retriever(kb_one),
                },
                sample,
            )

    base = timings["single"]
    latency: dict[str, dict[str, float]] = {}
    print(f"\nkb.retrieve latency, top_k=5 alpha=0.5, {len(base)} questions after {WARMUP} warm-up")
    print(f"  {'setup':<34}{'p50 ms':>8}{'p95 ms':>8}{'p50 x':>8}{'p95 x':>8}{'same ids':>10}")
    labels = {
        "single": "single node",
        "cluster_quorum": "3 nodes, factor 3, read QUORUM",
        "cluster_one": "3 nodes, factor 3, read ONE",
    }
    for name, values in timings.items():
        row = latency[name] = {"p50_ms": pct(values, 50), "p95_ms": pct(values, 95)}
        row["p50_ratio"] = row["p50_ms"] / pct(base, 50)
        row["p95_ratio"] = row["p95_ms"] / pct(base, 95)
        same = sum(a == b for a, b in zip(answers[name], answers["single"], strict=True))
        row["same_ids_share"] = same / len(base)
        print(
            f"  {labels[name]:<34}{row['p50_ms']:>8.2f}{row['p95_ms']:>8.2f}"
            f"{row['p50_ratio']:>8.2f}{row['p95_ratio']:>8.2f}{same:>6}/{len(base)}"
        )
    for name, figures in ingests.items():
        print(f"  ingestion, {name}: {figures['chunks']:.0f} chunks in {figures['ingest_s']:.1f} s")
    summary: dict[str, Any] = {
        "bench": "cluster",
        "cpus": os.cpu_count(),
        "questions": len(base),
        "latency": {k: {m: round(v, 3) for m, v in row.items()} for k, row in latency.items()},
        "ingest": {k: {m: round(v, 2) for m, v in row.items()} for k, row in ingests.items()},
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    write_results("cluster_bench", summary)


if __name__ == "__main__":
    main()

"""Benchmark of the knowledge base on the policy-qa set (8 PDFs, simple + conditional questions).

In one run against a fresh embedded Weaviate it measures:
1. ingestion throughput (chunk + embed + write; PDF parsing timed apart) against raw fastembed on the
   same chunk texts (target ratio >= 0.8);
2. gold-document recall@5 and MRR@10 for BM25, vector and hybrid retrieval (target: hybrid 0.5 at
   least as good as the best single mode on recall@5);
3. p50/p95 latency of `kb.retrieve` against query embedding + a raw weaviate-client hybrid call
   (target p95 ratio <= 1.2).
Prints tables with PASS/MISS per target and one JSON summary line last; also writes bench/results/.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastembed import TextEmbedding
from llama_index.core.schema import MetadataMode

from knowledge.access import AccessPolicy, acl_filter
from knowledge.chunking import Chunker, ChunkSettings
from knowledge.embeddings import EmbeddingSettings, EmbeddingWindow, embedding_window
from knowledge.ingest import content_hash
from knowledge.loaders import DocumentDefaults, LoaderSettings, load_file, slugify
from knowledge.model_files import model_files
from knowledge.schema import SEARCHABLE_PROPERTIES
from knowledge.service import KnowledgeSettings, WeaviateKnowledgeBase, open_knowledge
from knowledge.types import AccessScope, SourceDocument

REPO = Path(__file__).resolve().parents[1]


def embed_model_path() -> Path:
    """The offline embedding model: $EMBED_MODEL_PATH (set by the Makefile), else ../shared's copy."""
    configured = os.environ.get("EMBED_MODEL_PATH")
    path = Path(configured) if configured else REPO.parent / "shared" / "models" / "all-MiniLM-L6-v2-onnx"
    if not (path / "model.onnx").is_file():
        raise SystemExit(f"embedding model not found at {path}: run `make bench` or set EMBED_MODEL_PATH")
    return path


DATA = Path(os.environ.get("POLICY_QA_DIR", REPO.parent / "shared" / "data" / "policy-qa"))
RESULTS = REPO / "bench" / "results"
CHANNEL = "C0ALL"
QUESTION_TYPES = {"simple", "conditional"}
MODES = {"bm25": 0.0, "hybrid0.3": 0.3, "hybrid0.5": 0.5, "hybrid0.7": 0.7, "hybrid0.8": 0.8, "vector": 1.0}
LATENCY_QUESTIONS, WARMUP = 200, 20
INGEST_TARGET, LATENCY_TARGET = 0.8, 1.2


@dataclass(frozen=True)
class Question:
    text: str
    gold: str  # doc_id of the gold document


def write_results(name: str, summary: dict[str, Any]) -> None:
    """The run's figures: a timestamped JSON file in bench/results/, and one JSON line last."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}_{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(summary, indent=2))
    print()
    print(json.dumps(summary))


def group_of(folder: Path) -> str:
    """`Security_Cyber_Security_Policy` -> `security`: the folder prefix is the access group."""
    return folder.name.split("_", 1)[0].lower()


def folders() -> list[Path]:
    return sorted(p for p in DATA.iterdir() if p.is_dir())


def load_questions() -> list[Question]:
    questions: list[Question] = []
    for folder in folders():
        for path in sorted(folder.glob("question_type_*.csv")):
            with path.open(encoding="utf-8-sig", newline="") as handle:
                for row in csv.DictReader(handle):
                    qtype = (row.get("question_type") or "").strip().lower()
                    text = (row.get("question") or "").strip()
                    if qtype in QUESTION_TYPES and text:
                        gold = slugify(Path((row.get("filename") or "").strip()).stem)
                        questions.append(Question(text, gold))
    return questions


def parse_pdfs() -> tuple[list[SourceDocument], float]:
    docs: list[SourceDocument] = []
    start = time.perf_counter()
    for folder in folders():
        defaults = DocumentDefaults(audience=(group_of(folder),))
        docs.extend(load_file(pdf, defaults, LoaderSettings()) for pdf in sorted(folder.glob("*.pdf")))
    return docs, time.perf_counter() - start


def chunk_texts(docs: list[SourceDocument], window: EmbeddingWindow | None = None) -> list[str]:
    """The texts the ingestor embeds (only title and section metadata reach the embedding)."""
    chunker = Chunker(ChunkSettings(), window)
    texts: list[str] = []
    for doc in docs:
        metadata: dict[str, object] = {"title": doc.title, "acl": list(doc.audience), "version": "1"}
        for node in chunker.chunk(doc, metadata, content_hash(doc)):
            texts.append(node.get_content(metadata_mode=MetadataMode.EMBED))
    return texts


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def bench_ingest(
    kb: WeaviateKnowledgeBase, docs: list[SourceDocument], parse_s: float
) -> tuple[dict[str, float], bool]:
    texts = chunk_texts(docs, embedding_window(kb.embed_model))
    embedding = kb.settings.embedding  # same model files, same thread setting as the knowledge base
    files = model_files(embedding)
    raw = TextEmbedding(
        files.fastembed_name, specific_model_path=str(files.folder), threads=embedding.threads
    )
    list(raw.embed(texts[:64], batch_size=64))  # warm both models up with one full batch
    kb.embed_model.get_text_embedding_batch(texts[:64])
    start = time.perf_counter()
    list(raw.embed(texts, batch_size=64))
    raw_s = time.perf_counter() - start
    del raw
    start = time.perf_counter()
    results = kb.ingest_documents(docs)
    ingest_s = time.perf_counter() - start
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"  ! {len(failed)} document(s) failed: {[(r.source, r.error) for r in failed]}")
    chunks = sum(r.chunks for r in results)
    if chunks != len(texts):
        print(f"  ! ingested {chunks} chunks but the baseline embedded {len(texts)} texts")
    out = dict(chunks=chunks, ingest_s=ingest_s, ingest_cps=chunks / ingest_s, raw_embed_s=raw_s)
    out.update(raw_cps=len(texts) / raw_s, ratio=out["ingest_cps"] * raw_s / len(texts))
    print(f"\n1. Ingestion ({chunks} chunks; PDF parsing {parse_s:.2f} s, timed apart)")
    print(f"  {'raw fastembed (embed only)':<42}{raw_s:8.2f} s{out['raw_cps']:8.1f} chunks/s")
    print(
        f"  {'kb.ingest_documents (chunk+embed+write)':<42}{ingest_s:8.2f} s{out['ingest_cps']:8.1f} chunks/s"
    )
    ok = out["ratio"] >= INGEST_TARGET
    print(f"  ratio ingestion/raw {out['ratio']:.3f} (target >= {INGEST_TARGET}) {verdict(ok)}")
    return out, ok


def bench_quality(
    kb: WeaviateKnowledgeBase, questions: list[Question]
) -> tuple[dict[str, dict[str, float]], bool]:
    scope = kb.scope_for(CHANNEL)
    out: dict[str, dict[str, float]] = {}
    print(f"\n2. Gold-document retrieval, channel {CHANNEL}, {len(questions)} questions")
    print(f"  {'mode':<11}{'alpha':>6}{'recall@5':>10}{'MRR@10':>9}{'mean ms':>9}")
    for name, alpha in MODES.items():
        hits, rr_sum, elapsed = 0, 0.0, 0.0
        for q in questions:
            start = time.perf_counter()
            docs = [p.doc_id for p in kb.retrieve(q.text, scope, top_k=10, alpha=alpha)]
            elapsed += time.perf_counter() - start
            hits += q.gold in docs[:5]
            rr_sum += 1.0 / (docs.index(q.gold) + 1) if q.gold in docs[:10] else 0.0
        n = len(questions)
        row = out[name] = {
            "alpha": alpha,
            "recall@5": hits / n,
            "mrr@10": rr_sum / n,
            "ms": 1000 * elapsed / n,
        }
        print(f"  {name:<11}{alpha:>6.1f}{row['recall@5']:>10.3f}{row['mrr@10']:>9.3f}{row['ms']:>9.1f}")
    best_single = max(out["bm25"]["recall@5"], out["vector"]["recall@5"])
    ok = out["hybrid0.5"]["recall@5"] >= best_single  # target: hybrid at least as good as either
    hybrid = out["hybrid0.5"]["recall@5"]
    print(f"  hybrid0.5 recall@5 {hybrid:.3f} vs best single mode {best_single:.3f} {verdict(ok)}")
    return out, ok


def bench_latency(kb: WeaviateKnowledgeBase, questions: list[Question]) -> tuple[dict[str, float], bool]:
    scope = kb.scope_for(CHANNEL)
    collection = kb.client.collections.get(kb.collection_name)
    # acl_filter is annotated `Filter` but returns the `_Filters` that query calls take.
    where: Callable[[AccessScope], Any] = acl_filter

    def ours(q: str) -> object:
        return kb.retrieve(q, scope, top_k=5, alpha=0.5)

    def baseline(q: str) -> object:
        vec = kb.embed_model.get_query_embedding(q)
        return collection.query.hybrid(
            query=q,
            vector=vec,
            alpha=0.5,
            limit=5,
            filters=where(scope),
            query_properties=SEARCHABLE_PROPERTIES,
        )

    sample = random.Random(7).sample(questions, min(len(questions), LATENCY_QUESTIONS + WARMUP))
    timings: dict[str, list[float]] = {"retrieve": [], "baseline": []}
    for i, q in enumerate(sample):
        pair: list[tuple[str, Callable[[str], object]]] = [("retrieve", ours), ("baseline", baseline)]
        for name, call in pair if i % 2 == 0 else pair[::-1]:  # alternate who goes first
            start = time.perf_counter()
            call(q.text)
            if i >= WARMUP:
                timings[name].append(1000 * (time.perf_counter() - start))
    out = {"n": float(len(timings["retrieve"]))}
    for name, values in timings.items():
        out[f"{name}_p50_ms"], out[f"{name}_p95_ms"] = pct(values, 50), pct(values, 95)
    out["p50_ratio"] = out["retrieve_p50_ms"] / out["baseline_p50_ms"]
    out["p95_ratio"] = out["retrieve_p95_ms"] / out["baseline_p95_ms"]
    print(f"\n3. Latency, top_k=5 alpha=0.5, {out['n']:.0f} questions after {WARMUP} warm-up, interleaved")
    print(f"  {'':<30}{'p50 ms':>8}{'p95 ms':>8}")
    for name, label in (("retrieve", "kb.retrieve"), ("baseline", "query embedding + raw hybrid")):
        print(f"  {label:<30}{out[f'{name}_p50_ms']:>8.2f}{out[f'{name}_p95_ms']:>8.2f}")
    ok = out["p95_ratio"] <= LATENCY_TARGET
    ratios = f"p95 ratio {out['p95_ratio']:.3f} (p50 {out['p50_ratio']:.3f}; target <= {LATENCY_TARGET})"
    print(f"  {ratios} {verdict(ok)}")
    return out, ok


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    model_path = embed_model_path()
    started = time.perf_counter()
    docs, parse_s = parse_pdfs()
    questions = load_questions()
    groups = sorted({a for d in docs for a in d.audience})
    known = {d.doc_id for d in docs}
    unknown = sorted({q.gold for q in questions} - known)
    print(
        f"policy-qa: {len(docs)} PDFs, groups {', '.join(groups)}; {len(questions)} questions "
        f"({', '.join(sorted(QUESTION_TYPES))}); cpus {os.cpu_count()}"
    )
    if unknown:
        print(f"  ! questions whose gold document was not loaded (they count as misses): {unknown}")
    settings = KnowledgeSettings(embedding=EmbeddingSettings(model_path=model_path))
    access = AccessPolicy(groups={g: [CHANNEL] for g in groups})
    with (
        tempfile.TemporaryDirectory(prefix="retrieval-bench-") as tmp,
        open_knowledge(settings, access, Path(tmp)) as kb,
    ):
        ingest, ok_ingest = bench_ingest(kb, docs, parse_s)
        quality, ok_quality = bench_quality(kb, questions)
        latency, ok_latency = bench_latency(kb, questions)
    summary = {
        "bench": "retrieval",
        "questions": len(questions),
        "pdf_parse_s": round(parse_s, 3),
        "ingest": {k: round(v, 4) for k, v in ingest.items()},
        "quality": {m: {k: round(v, 4) for k, v in row.items()} for m, row in quality.items()},
        "latency": {k: round(v, 3) for k, v in latency.items()},
        "targets": dict(ingest=verdict(ok_ingest), recall=verdict(ok_quality), latency=verdict(ok_latency)),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    write_results("retrieval_bench", summary)


if __name__ == "__main__":
    main()

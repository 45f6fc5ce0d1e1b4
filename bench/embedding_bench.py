"""The embedding model in fp32 against its int8 variant, in one run (issue 18, item 3).

1. Raw embedding speed: fastembed on chunk texts of the policy-qa PDFs (an even sample of
   them, so that several rounds fit), both models alternated over the rounds (median
   time), chunks/s and the ratio int8/fp32; also how close the int8 vectors are to the
   fp32 ones (cosine).
2. policy-qa through the real pipeline, per model: ingest the 8 PDFs into a fresh data
   directory (ingest chunks/s, and its ratio to fp32's raw speed), then gold-document
   recall@5 and MRR@10 of `kb.retrieve` with the configured retrieval (config/sample.yaml).
3. mtrag-dev through the CLI, per model, with bench/mtrag_retrieval.py's own steps:
   nDCG@10 and R@5 by passage.

Each quality figure is printed for fp32 and int8 with the difference; int8 should be the
default only if every one is within 0.01 of fp32. The last check says whether the
shipped default agrees with this run.

    .venv/bin/python -m bench.embedding_bench [--skip-mtrag] [--rounds 3] [--speed-chunks 384]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from fastembed import TextEmbedding

from bench import mtrag_retrieval as mtrag
from bench.retrieval_bench import (
    REPO,
    Question,
    chunk_texts,
    embed_model_path,
    load_questions,
    parse_pdfs,
    verdict,
    write_results,
)
from bot.settings import load_settings
from knowledge.access import AccessPolicy
from knowledge.embeddings import FP32_MODEL, INT8_MODEL, EmbeddingSettings, embedding_window
from knowledge.model_files import model_files
from knowledge.service import KnowledgeSettings, open_knowledge
from knowledge.types import SourceDocument

MODELS = {"fp32": FP32_MODEL, "int8": INT8_MODEL}
TOLERANCE = 0.01
CHANNEL = "C0ALL"


@dataclass(frozen=True)
class PolicyQa:
    recall5: float
    mrr10: float
    vector_recall5: float  # alpha 1: the embedding alone, without BM25's help
    ingest_cps: float


def knowledge_settings(model_name: str) -> KnowledgeSettings:
    """The shipped settings (retrieval as configured), with the fp32 files found as the CLI finds them."""
    knowledge = load_settings(REPO / "config" / "sample.yaml").knowledge
    embedding = knowledge.embedding.model_copy(
        update={"model_name": model_name, "model_path": embed_model_path()}
    )
    return knowledge.model_copy(update={"embedding": embedding})


def raw_speed(settings: dict[str, EmbeddingSettings], texts: list[str], rounds: int) -> dict[str, float]:
    """Chunks/s of raw fastembed per model, alternating which goes first; also the vectors' cosine."""
    models = {}
    for label, embedding in settings.items():
        files = model_files(embedding)
        models[label] = TextEmbedding(
            files.fastembed_name, specific_model_path=str(files.folder), threads=embedding.threads
        )
        list(models[label].embed(texts[:64], batch_size=64))  # warm up with one full batch
    times: dict[str, list[float]] = {label: [] for label in models}
    vectors: dict[str, np.ndarray] = {}
    for n in range(rounds):
        for label in list(models) if n % 2 == 0 else list(models)[::-1]:
            start = time.perf_counter()
            vectors[label] = np.array(list(models[label].embed(texts, batch_size=64)))
            times[label].append(time.perf_counter() - start)
    out = {f"{label}_cps": len(texts) / statistics.median(t) for label, t in times.items()}
    cosines = np.sum(vectors["fp32"] * vectors["int8"], axis=1)  # both are normalised
    out.update(
        ratio=out["int8_cps"] / out["fp32_cps"], cos_mean=float(cosines.mean()), cos_min=float(cosines.min())
    )
    return out


def policy_qa(model_name: str, docs: list[SourceDocument], questions: list[Question]) -> PolicyQa:
    settings = knowledge_settings(model_name)
    groups = sorted({a for d in docs for a in d.audience})
    access = AccessPolicy(groups={g: [CHANNEL] for g in groups})
    with (
        tempfile.TemporaryDirectory(prefix="embedding-bench-") as tmp,
        open_knowledge(settings, access, Path(tmp)) as kb,
    ):
        start = time.perf_counter()
        results = kb.ingest_documents(docs)
        ingest_s = time.perf_counter() - start
        failed = [r.source for r in results if not r.ok]
        if failed:
            raise SystemExit(f"ingest failed for {failed}")
        scope = kb.scope_for(CHANNEL)
        hits = vector_hits = 0
        rr = 0.0
        for q in questions:
            ranked = [p.doc_id for p in kb.retrieve(q.text, scope, top_k=10)]
            hits += q.gold in ranked[:5]
            rr += 1.0 / (ranked.index(q.gold) + 1) if q.gold in ranked else 0.0
            vector_hits += q.gold in [p.doc_id for p in kb.retrieve(q.text, scope, top_k=5, alpha=1.0)]
    n = len(questions)
    chunks = sum(r.chunks for r in results)
    return PolicyQa(hits / n, rr / n, vector_hits / n, chunks / ingest_s)


def mtrag_scores(model_name: str, work: Path) -> dict[str, float]:
    """bench/mtrag_retrieval.py's ingest, retrieve and scoring, with the model set in its settings file."""
    corpus_rows = mtrag.load_jsonl(mtrag.DATA / "corpus.jsonl")
    corpus = {p["id"]: p for p in corpus_rows}
    queries = mtrag.load_queries()
    passage_of = mtrag.write_documents(corpus_rows, work / "docs")
    config = work / "settings.yaml"
    mtrag.write_settings(config)
    written = yaml.safe_load(config.read_text(encoding="utf-8"))
    written["embedding"] = {"model_name": model_name}
    config.write_text(yaml.safe_dump(written, sort_keys=False), encoding="utf-8")
    ingest_s = mtrag.ingest(config, work / "data", work / "docs")
    results = mtrag.retrieve_cli(config, work / "data", work, queries)
    total = mtrag.score(queries, results, passage_of, corpus)["all"]
    return {"ndcg@10": total.mean("ndcg@10"), "r@5": total.mean("r@5"), "ingest_s": ingest_s}


def row(name: str, fp32: float, int8: float) -> bool:
    ok = abs(int8 - fp32) <= TOLERANCE
    print(f"  {name:<30}{fp32:>8.3f}{int8:>8.3f}{int8 - fp32:>+9.3f}   {'yes' if ok else 'NO'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-mtrag", action="store_true", help="policy-qa and speed only (minutes faster)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of raw embedding per model")
    parser.add_argument("--speed-chunks", type=int, default=384, help="chunks embedded per timed round")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    embeddings = {label: knowledge_settings(name).embedding for label, name in MODELS.items()}
    for embedding in embeddings.values():
        model_files(embedding)  # make the int8 variant now if setup has not, outside every timing
    docs, _ = parse_pdfs()
    questions = load_questions()
    from knowledge.embeddings import load_embedding_model

    texts = chunk_texts(docs, embedding_window(load_embedding_model(embeddings["fp32"])))
    print(
        f"fp32 {FP32_MODEL} against int8 {INT8_MODEL}; {len(texts)} policy-qa chunks, {len(questions)} "
        f"questions; cpus {os.cpu_count()}"
    )
    sample = texts[:: max(1, len(texts) // args.speed_chunks)][: args.speed_chunks]
    print(
        f"\n1. Raw embedding of {len(sample)} chunks, {args.rounds} rounds each, alternated ...", flush=True
    )
    speed = raw_speed(embeddings, sample, args.rounds)
    print("2. policy-qa: ingest and retrieve per model ...", flush=True)
    qa = {label: policy_qa(name, docs, questions) for label, name in MODELS.items()}
    mt: dict[str, dict[str, float]] = {}
    if not args.skip_mtrag:
        print("3. mtrag-dev through the CLI per model ...", flush=True)
        for label, name in MODELS.items():
            with tempfile.TemporaryDirectory(prefix=f"embedding-bench-mtrag-{label}-") as tmp:
                mt[label] = mtrag_scores(name, Path(tmp))

    print(f"\n{'':<32}{'fp32':>8}{'int8':>8}{'int8-fp32':>10}  within {TOLERANCE}")
    checks = [
        row("policy-qa recall@5", qa["fp32"].recall5, qa["int8"].recall5),
        row("policy-qa MRR@10", qa["fp32"].mrr10, qa["int8"].mrr10),
    ]
    if mt:
        checks.append(row("mtrag-dev nDCG@10", mt["fp32"]["ndcg@10"], mt["int8"]["ndcg@10"]))
        checks.append(row("mtrag-dev R@5", mt["fp32"]["r@5"], mt["int8"]["r@5"]))
    print("  (not in the decision: the embedding alone, without BM25)")
    row("policy-qa vector-only recall@5", qa["fp32"].vector_recall5, qa["int8"].vector_recall5)
    print(f"\n{'':<32}{'fp32':>8}{'int8':>8}{'int8/fp32':>10}")
    print(
        f"  {'raw embedding chunks/s':<30}{speed['fp32_cps']:>8.1f}{speed['int8_cps']:>8.1f}{speed['ratio']:>10.2f}"
    )
    ingest_ratio = {label: qa[label].ingest_cps / speed["fp32_cps"] for label in MODELS}
    print(
        f"  {'policy-qa ingest chunks/s':<30}{qa['fp32'].ingest_cps:>8.1f}{qa['int8'].ingest_cps:>8.1f}"
        f"{qa['int8'].ingest_cps / qa['fp32'].ingest_cps:>10.2f}"
    )
    print(
        f"  ingest / fp32 raw embedding: fp32 {ingest_ratio['fp32']:.2f}x, int8 {ingest_ratio['int8']:.2f}x; "
        f"int8 vectors' cosine to fp32: mean {speed['cos_mean']:.4f}, min {speed['cos_min']:.4f}"
    )
    quality_holds = all(checks)
    wanted = INT8_MODEL if quality_holds else FP32_MODEL
    default = EmbeddingSettings().model_name
    print(
        f"\nint8 within {TOLERANCE} of fp32 on every quality figure: {'yes' if quality_holds else 'no'}"
        f"{'' if mt else ' (mtrag-dev skipped)'}; default should be {wanted}, is {default} "
        f"{verdict(default == wanted)}"
    )
    summary = {
        "bench": "embedding",
        "chunks": len(texts),
        "speed_chunks": len(sample),
        "questions": len(questions),
        "speed": {k: round(v, 4) for k, v in speed.items()},
        "policy_qa": {label: {k: round(v, 4) for k, v in vars(s).items()} for label, s in qa.items()},
        "mtrag": {label: {k: round(v, 4) for k, v in s.items()} for label, s in mt.items()},
        "ingest_over_fp32_raw": {k: round(v, 3) for k, v in ingest_ratio.items()},
        "quality_within_tolerance": quality_holds,
        "default": default,
        "targets": {"default_matches_figures": verdict(default == wanted)},
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    write_results("embedding_bench", summary)


if __name__ == "__main__":
    main()

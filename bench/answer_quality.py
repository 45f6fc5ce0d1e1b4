"""Answer quality on all 957 policy-qa questions plus off-topic ones, before and after, through the CLI.

    .venv/bin/python -m bench.answer_quality [--before REF] [--skip-before] [--limit N]
        [--data-dir-before DIR] [--data-dir-after DIR]

Every question goes through `app.py ask --channel C0CONSOLE --questions FILE --json`, as a user
would run it, with config/sample.yaml and no ANTHROPIC_API_KEY (extractive answers), on a data
directory that ingested samples/policies (their own front-matter audiences, `everyone` by default)
and the eight policy-qa PDFs (each for its folder's access group, as the Makefile's `make run` does).

"Before" is the code at commit REF (default 5289190, the last one before issue 17's work),
checked out into a temporary detached git worktree (removed at the end) and run with the same
interpreter; "after" is the working tree. Both see the same documents: this tree's
samples/policies and the PDFs, so that only the code differs. Ingested data directories are
cached in bench/results/cache/ (gitignored) and re-ingested only when a document, the
settings file or the code that ingests (knowledge/, app.py) changed; even then `ingest` skips
unchanged documents itself.

Figures (eval/answer_metrics.py defines them, as `app.py eval` reports them):
- answered: policy-qa questions not abstained (nor failed), of all 957;
- token F1: SQuAD token F1 against the CSV's reference answer, abstentions 0, over the 945
  questions the CSVs give an answer for; and over the answered ones of those only;
- numbers recall: share of the reference's numbers the answer states, over questions whose
  reference states one (abstentions 0);
- off-topic abstained: questions no document answers (bench/off_topic.py) that got no answer;
- latency: `latency_ms` of each JSON answer (retrieval + answering, in the bot core), p50/p95
  over every question asked. The answerer alone is not in the JSON: it is estimated per question
  as `latency_ms` minus the same question's retrieval time, measured by `app.py retrieve
  --questions --json` on the same data directory as the time between consecutive output lines
  (each line is flushed when its question is done). That difference is noisy (two processes)
  but its p95 is the figure for the target "extractive answer p95, excluding retrieval".

Targets (issue 17): token F1 >= 0.40, numbers recall >= 0.65, answered >= 85%, off-topic
abstained >= 95%, extractive answer p95 excluding retrieval <= 250 ms. Prints the table with
PASS/MISS for "after", writes bench/results/, and prints one JSON summary line last.

The bench imports nothing of the code under test (it runs it in subprocesses): the code it
measures may be mid-rewrite, or an older commit.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.answer_runs import (
    CHANNEL,
    Side,
    ask_all,
    ingest,
    log,
    retrieval_ms,
    stop_server,
    worktree,
)
from bench.off_topic import NEAR_SAMPLES, OFF_TOPIC
from eval.answer_metrics import score_answer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = Path(os.environ.get("POLICY_QA_DIR", SHARED / "data" / "policy-qa"))
RESULTS = REPO / "bench" / "results"
CACHE = RESULTS / "cache"
BEFORE_REF = "5289190"
ANSWERED_KINDS = frozenset({"generated", "extracted"})
TARGETS = {
    "token_f1": 0.40,
    "numbers_recall": 0.65,
    "answered_rate": 0.85,
    "off_topic_abstained_rate": 0.95,
    "answerer_p95_ms": 250.0,
}


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    reference: str | None  # None: off-topic, the bot should abstain; "": the CSV gives none
    kind: str  # policy-qa question type, or "off-topic"


def pct(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def write_results(name: str, summary: dict[str, Any]) -> None:
    """As bench/retrieval_bench.py's: a timestamped JSON file in bench/results/, one JSON line last.
    (Not imported from there: that module loads the knowledge code this bench must not import.)"""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}_{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(summary, indent=2))
    print()
    print(json.dumps(summary))


# -- the questions -----------------------------------------------------------------------


def policy_qa_items(data: Path) -> list[Item]:
    """Every row of every CSV (all question types), read by header name (column order differs).
    Twelve rows (Risk Management, multi-hop) have no answer: they are asked and count in the
    answered share, but have no reference to score against."""
    items: list[Item] = []
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("question_type_*.csv")):
            with path.open(encoding="utf-8-sig", newline="") as handle:  # some start with a BOM
                for row in csv.DictReader(handle):
                    question = (row.get("question") or "").strip()
                    answer = (row.get("answer") or "").strip()
                    if question:
                        kind = (row.get("question_type") or "").strip().lower() or "unknown"
                        items.append(Item(f"pqa-{len(items) + 1}", question, answer, kind))
    return items


def off_topic_items() -> list[Item]:
    questions = [q for q in OFF_TOPIC if q not in NEAR_SAMPLES]
    return [Item(f"off-{n}", q, None, "off-topic") for n, q in enumerate(questions, 1)]


def pdfs_by_group(data: Path) -> dict[str, list[Path]]:
    """As the Makefile: each PDF for the group its folder starts with (`HR_HR_Policy` -> `hr`)."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for pdf in sorted(data.glob("*/*.pdf")):
        groups[pdf.parent.name.split("_", 1)[0].lower()].append(pdf)
    return dict(groups)


# -- the figures -------------------------------------------------------------------------


def answered(answer: dict[str, Any]) -> bool:
    return answer.get("kind") in ANSWERED_KINDS and not answer.get("abstained")


def figures(
    items: Sequence[Item], answers: dict[str, dict[str, Any]], retrieve: dict[str, float]
) -> dict[str, Any]:
    policy = [i for i in items if i.reference is not None]
    referenced = [i for i in policy if i.reference]
    off_topic = [i for i in items if i.reference is None]
    missing = [i.id for i in items if i.id not in answers]
    if missing:
        raise SystemExit(f"no answer for {len(missing)} questions, e.g. {missing[:3]}")
    f1_all: list[float] = []
    f1_answered: list[float] = []
    recalls: list[float] = []
    by_type: dict[str, list[float]] = defaultdict(list)
    for item in referenced:
        assert item.reference is not None
        answer = answers[item.id]
        ok = answered(answer)
        scores = score_answer(answer.get("answer") or "", item.reference, ok)
        f1_all.append(scores.token_f1)
        by_type[item.kind].append(scores.token_f1)
        if ok:
            f1_answered.append(scores.token_f1)
        if scores.numbers_recall is not None:
            recalls.append(scores.numbers_recall)
    latencies = [float(answers[i.id].get("latency_ms") or 0.0) for i in items]
    answerer = [
        max(0.0, latency - retrieve[i.id])
        for i, latency in zip(items, latencies, strict=True)
        if i.id in retrieve
    ]
    abstained_off = sum(not answered(answers[i.id]) for i in off_topic)
    kinds: dict[str, int] = defaultdict(int)
    for item in items:
        kinds[str(answers[item.id].get("kind"))] += 1
    return {
        "questions": len(policy),
        "questions_with_reference": len(referenced),
        "answered": sum(answered(answers[i.id]) for i in policy),
        "answered_rate": sum(answered(answers[i.id]) for i in policy) / len(policy),
        "token_f1": statistics.fmean(f1_all),
        "token_f1_answered": statistics.fmean(f1_answered) if f1_answered else 0.0,
        "numbers_recall": statistics.fmean(recalls) if recalls else 0.0,
        "questions_with_numbers": len(recalls),
        "off_topic": len(off_topic),
        "off_topic_abstained": abstained_off,
        "off_topic_abstained_rate": abstained_off / len(off_topic) if off_topic else 1.0,
        "latency_p50_ms": pct(latencies, 50),
        "latency_p95_ms": pct(latencies, 95),
        "answerer_p50_ms": pct(answerer, 50) if answerer else None,
        "answerer_p95_ms": pct(answerer, 95) if answerer else None,
        "retrieve_p95_ms": pct(list(retrieve.values()), 95) if retrieve else None,
        "token_f1_by_type": {k: round(statistics.fmean(v), 4) for k, v in sorted(by_type.items())},
        "kinds": dict(kinds),
    }


def meets(name: str, value: float | None) -> bool:
    if value is None:
        return False
    return value <= TARGETS[name] if name.endswith("_ms") else value >= TARGETS[name]


ROWS: tuple[tuple[str, str], ...] = (
    ("answered_rate", "policy-qa answered (not abstained)"),
    ("token_f1", "token F1 vs reference, abstentions 0"),
    ("token_f1_answered", "token F1 over answered questions only"),
    ("numbers_recall", "numbers recall (references with numbers)"),
    ("off_topic_abstained_rate", "off-topic questions abstained"),
    ("latency_p50_ms", "answer latency p50 (retrieval + answer)"),
    ("latency_p95_ms", "answer latency p95 (retrieval + answer)"),
    ("answerer_p95_ms", "extractive answer p95, excluding retrieval"),
)


def cell(name: str, figs: dict[str, Any] | None) -> str:
    if figs is None:
        return "-"
    value = figs.get(name)
    if value is None:
        return "n/a"
    if name == "answered_rate":
        return f"{value:.1%}"
    if name == "off_topic_abstained_rate":
        return f"{figs['off_topic_abstained']} of {figs['off_topic']}"
    if name.endswith("_ms"):
        return f"{value:.0f} ms"
    return f"{value:.3f}"


def target_text(name: str) -> str:
    if name not in TARGETS:
        return ""
    value = TARGETS[name]
    if name.endswith("_ms"):
        return f"<= {value:.0f} ms"
    return f">= {value:.0%}" if name.endswith("_rate") else f">= {value:.2f}"


def print_table(before: dict[str, Any] | None, after: dict[str, Any], before_label: str) -> dict[str, str]:
    verdicts = {name: verdict(meets(name, after.get(name))) for name in TARGETS}
    print()
    print(f"Answer quality, extractive, no key, channel {CHANNEL}: {after['questions']} policy-qa questions")
    print(
        f"({after['questions_with_reference']} with a reference answer, {after['questions_with_numbers']}"
        f" with numbers in it) and {after['off_topic']} off-topic questions"
    )
    print(f"  {'figure':<46}{'before':>12}{'after':>12}{'target':>12}  after")
    print(f"  {'':<46}{before_label:>12}{'tree':>12}")
    for name, label in ROWS:
        row = f"  {label:<46}{cell(name, before):>12}{cell(name, after):>12}{target_text(name):>12}"
        print(row + (f"  {verdicts[name]}" if name in verdicts else ""))
    print(
        "  (answerer alone = latency_ms - the same question's `retrieve` time, per question;"
        f" retrieve p95 {cell('retrieve_p95_ms', after)} after)"
    )
    return verdicts


# -- main --------------------------------------------------------------------------------


def measure(
    side: Side, items: Sequence[Item], questions: Path, samples: Path
) -> tuple[dict[str, Any], float]:
    try:
        seconds = ingest(side, samples, pdfs_by_group(DATA))
        log(f"{side.name}: asking {len(items)} questions")
        answers = ask_all(side, questions, len(items))
        log(f"{side.name}: timing retrieval alone")
        retrieve = retrieval_ms(side, questions)
    finally:
        stop_server(side)  # commits before the shared server have none to stop
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / f"answer_quality_{side.name}_{stamp}.jsonl").open("w", encoding="utf-8") as out:
        for item in items:
            row = {"id": item.id, "kind": item.kind, "question": item.question, "reference": item.reference}
            out.write(json.dumps({**row, "answer": answers.get(item.id)}, ensure_ascii=False) + "\n")
    return figures(items, answers, retrieve), seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.answer_quality", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--before", default=BEFORE_REF, help="commit of the 'before' code")
    parser.add_argument("--skip-before", action="store_true", help="measure the working tree only")
    parser.add_argument("--data-dir-before", type=Path, help="default: bench/results/cache/before-COMMIT")
    parser.add_argument("--data-dir-after", type=Path, default=CACHE / "after")
    parser.add_argument("--limit", type=int, help="only the first N policy-qa questions (a quick look)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        raise SystemExit(f"policy-qa not found at {DATA}: set POLICY_QA_DIR")
    started = time.perf_counter()
    policy = policy_qa_items(DATA)[: args.limit] if args.limit else policy_qa_items(DATA)
    items = [*policy, *off_topic_items()]
    samples = REPO / "samples" / "policies"
    results: dict[str, dict[str, Any]] = {}
    ingest_s: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="answer-quality-q-") as tmp:
        questions = Path(tmp) / "questions.jsonl"
        questions.write_text("".join(json.dumps({"id": i.id, "question": i.question}) + "\n" for i in items))
        before_label = "-"
        if not args.skip_before:
            with worktree(args.before) as (tree, commit):
                before_label = commit
                data_dir = args.data_dir_before or CACHE / f"before-{commit}"
                side = Side("before", tree, data_dir.resolve(), commit)
                results["before"], ingest_s["before"] = measure(side, items, questions, samples)
        after = Side("after", REPO, args.data_dir_after.resolve(), "working tree")
        results["after"], ingest_s["after"] = measure(after, items, questions, samples)
    verdicts = print_table(results.get("before"), results["after"], before_label)
    summary = {
        "bench": "answer_quality",
        "channel": CHANNEL,
        "before_commit": None if args.skip_before else before_label,
        "limit": args.limit,
        "before": _rounded(results.get("before")),
        "after": _rounded(results["after"]),
        "targets": {name: {"target": TARGETS[name], "after": verdicts[name]} for name in TARGETS},
        "ingest_s": {k: round(v, 1) for k, v in ingest_s.items()},
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    write_results("answer_quality", summary)


def _rounded(figs: dict[str, Any] | None) -> dict[str, Any] | None:
    if figs is None:
        return None
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figs.items()}


if __name__ == "__main__":
    main()

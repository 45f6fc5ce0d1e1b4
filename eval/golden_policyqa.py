"""Build `eval/golden/policy-qa.jsonl` from the policy-qa sample set (../shared/data/policy-qa).

    python -m eval.golden_policyqa [--data DIR] [--out FILE] [--per-pdf N] [--seed S]

Per PDF, N questions (default 5, so 40 over the 8 PDFs) are drawn with a fixed seed from
the `simple` and `conditional` rows of its CSV whose reference answer is grounded in the
PDF: at least 80% of the answer's content words occur in one chunk of it, as chunked by
`knowledge.chunking` with default settings. That chunk becomes the reference context. The
CSV answers were written by a language model, and this keeps out the ones that say things
the document does not (the dataset's README warns of them).

The Risk Management Policy's CSV describes a different document (a university's policy;
the PDF is GAIN's), so none of its answers is grounded: its questions are written here
by hand, with answers taken from the PDF's text.

The doc id of each PDF is what ingestion gives it: the slugified file stem. The channel is
C0CONSOLE, which config/sample.yaml lets read every policy-qa group.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

from eval.finetune.select import question_group
from eval.golden import GoldenItem, write_golden
from knowledge.chunking import Chunker, ChunkSettings
from knowledge.ingest import content_hash
from knowledge.loaders import DocumentDefaults, LoaderSettings, load_file

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "policy-qa"
OUT = REPO / "eval" / "golden" / "policy-qa.jsonl"
CHANNEL = "C0CONSOLE"
QUESTION_TYPES = {"simple", "conditional"}
GROUNDED = 0.8  # share of the answer's content words found in its best chunk
MIN_WORDS = 5  # "Yes." cannot be located in a document, nor scored against one

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the is are was were be been am do does did can could should would will shall may might must "
    "i me my we our you your he she it its they them their this that these those what which who whom "
    "how when where why of to in on at for from by with about as and or but if then so than too very "
    "there here any some all per not no yes also into such other each only".split()
)

# (question, answer) for the Risk Management Policy, whose CSV is about another document.
HAND_WRITTEN = {
    "risk-management-policy": [
        (
            "Who is responsible for defining the risk appetite and risk tolerance?",
            "The Board is responsible for defining the risk appetite and risk tolerance, ensuring "
            "that a sound system of internal control is in place.",
        ),
        (
            "Who keeps the Strategic Risk List under review?",
            "The Strategic Risk List is kept under review by the Finance and Audit Committee, "
            "which meets regularly, and it is reported to the Board.",
        ),
        (
            "Which two parameters are used to assess risks?",
            "Risks are assessed on two parameters: likelihood, how likely it is to happen, and "
            "impact, how significant the consequences might be.",
        ),
        (
            "How often must a local Risk Register be sent to the CFO?",
            "A copy of the local Risk Register is forwarded annually to the CFO and Head of Finance.",
        ),
        (
            "Who reviews the effectiveness of the internal control system?",
            "GAIN contracts an external consultant to review and report the effectiveness and "
            "reliability of the internal control system.",
        ),
    ]
}


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def group_of(folder: Path) -> str:
    """`Security_Cyber_Security_Policy` -> `security` (as bench/retrieval_bench.py ingests them)."""
    return folder.name.split("_", 1)[0].lower()


def _best_chunk(answer: str, chunks: list[tuple[str, set[str]]]) -> tuple[float, str]:
    words = content_words(answer)
    if len(words) < MIN_WORDS:
        return 0.0, ""
    return max(((len(words & cw) / len(words), text) for text, cw in chunks), key=lambda s: s[0])


def _rows(folder: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for path in sorted(folder.glob("question_type_*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as handle:  # some files start with a BOM
            for row in csv.DictReader(handle):
                kind = (row.get("question_type") or "").strip().lower()
                question, answer = (row.get("question") or "").strip(), (row.get("answer") or "").strip()
                if kind in QUESTION_TYPES and question and answer:
                    rows.append((question, answer))
    return rows


def build(data: Path, per_pdf: int, seed: str) -> list[GoldenItem]:
    items: list[GoldenItem] = []
    chunker = Chunker(ChunkSettings())
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        for pdf in sorted(folder.glob("*.pdf")):
            doc = load_file(pdf, DocumentDefaults(audience=(group_of(folder),)), LoaderSettings())
            nodes = chunker.chunk(doc, {"title": doc.title}, content_hash(doc))
            chunks = [(n.get_content(), content_words(n.get_content())) for n in nodes]
            candidates = HAND_WRITTEN.get(doc.doc_id) or _rows(folder)
            grounded: dict[str, tuple[str, str, str]] = {}  # one question per near-duplicate group
            for question, answer in candidates:
                score, chunk = _best_chunk(answer, chunks)
                if score >= GROUNDED:
                    grounded.setdefault(question_group(question), (question, answer, chunk))
            picked = sorted(grounded.values())
            random.Random(f"{seed}/{doc.doc_id}").shuffle(picked)  # noqa: S311 - a reproducible draw
            for n, (question, answer, chunk) in enumerate(picked[:per_pdf], 1):
                items.append(
                    GoldenItem(
                        id=f"{doc.doc_id}-{n}",
                        question=question,
                        reference=answer,
                        reference_doc_ids=[doc.doc_id],
                        channel=CHANNEL,
                        reference_contexts=[chunk],
                    )
                )
            print(
                f"{doc.doc_id}: {len(grounded)} grounded of {len(candidates)}, kept {min(per_pdf, len(picked))}"
            )
    return items


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m eval.golden_policyqa", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the policy-qa folder")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--per-pdf", type=int, default=5, help="questions per PDF")
    parser.add_argument("--seed", default="policy-qa", help="seed of the draw")
    args = parser.parse_args(argv)
    items = build(args.data, args.per_pdf, args.seed)
    write_golden(args.out, items)
    print(f"wrote {len(items)} questions to {args.out}")


if __name__ == "__main__":
    main()
